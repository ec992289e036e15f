#!/usr/bin/env bash
# Throughput of `newsmend run` against the cost of reading (`cat`) and of merely decoding
# (`iconv`) the same bytes, measured in the same run on the same files.
#
#   benches/compare.sh [MB]                 # default 200 MB per corpus
#   MB=50 RUNS=5 benches/compare.sh
#   GB_DIR=/data/gb UTF8_DIR=/data/u8 benches/compare.sh   # time existing corpora instead
#
# Environment (all optional):
#   MB        size of each generated corpus in MB (10^6 bytes); also the first argument. Default 200.
#   RUNS      timed rounds (every command once per round). Default 3.
#   SEED      corpus seed for examples/gen_corpus.rs. Default 1.
#   WORKDIR   where corpora, outputs and binaries go. Default /tmp/newsmend-bench. Never the repo.
#   FROM      source pages for the corpora (space-separated dirs). Default: gen_corpus's default
#             (samples/, ../shared/seed, ../shared/corpus/dev/raw).
#   GB_DIR, UTF8_DIR   use these directories as the GB18030 / UTF-8 corpus instead of generating;
#             set one to "skip" to leave that corpus out.
#   JOBS      thread count of the parallel run. Default: nproc.
#   FORCED=0  leave out the extra row `newsmend --encoding …` (detection skipped).
#   COMMIT    what to print as the commit measured (default: `git rev-parse --short HEAD`).
#   NEWSMEND  time this newsmend binary instead of the release build (e.g. the PGO build of
#             benches/pgo.sh: `NEWSMEND=target/pgo/release/newsmend benches/compare.sh`).
#
# What is timed, and why it is fair:
#   * Every command reads the same files from the page cache: the corpus is read once before
#     timing, and `cat` is the first row so that any cold-cache effect shows there.
#   * `cat`: `xargs -0 cat < LIST > /dev/null`: the cost of opening and reading the files.
#   * `iconv -f ENC -t UTF-8 FILES`: `xargs -0 iconv -f ENC -t UTF-8 < LIST > /dev/null`: iconv
#     opening and decoding the same files itself, a few processes with thousands of file
#     arguments each (one process per file would time 50,000 fork+exec, not decoding). This is
#     the like-for-like row: "iconv over the same corpus", reading what newsmend reads.
#   * `cat | iconv`: ONE iconv process decodes the concatenation of all files:
#     `xargs -0 cat < LIST | iconv -f ENC -t UTF-8 > /dev/null`.
#     Concatenated GB18030 (or UTF-8) files are still a valid stream, so iconv decodes exactly the
#     corpus bytes; the pipe lets cat and iconv overlap on two cores, which favours iconv.
#     GB18030 corpus: `-f GB18030` (the SPEC's baseline); UTF-8 corpus: `-f UTF-8` (validation
#     and copy), for reference. (glibc's iconv reads all of a pipe before converting, so cat and
#     iconv do not overlap much.)
#   * `iconv -f ENC -t UTF-8 ONE_FILE`: the same bytes concatenated into one file beforehand
#     (untimed): the cost of decoding alone, without opening the files. newsmend's ratio to all
#     three is shown: FILES is like for like (both open and read 50,000 files), `cat | iconv`
#     adds a pipe and a second process, ONE_FILE is the floor.
#   * `newsmend run DIR -o OUT --jobs N`: the whole job, including walking the tree, reading
#     every file, detecting its encoding, and writing one .jsonl per page plus the summary, into
#     a new directory. iconv and cat write to /dev/null, so newsmend is charged for output that
#     they do not produce.
#   * Wall time is measured by bash ($EPOCHREALTIME, microseconds). CPU time (user + sys of the
#     command and all its processes) and peak RSS (the largest resident set of any one of its
#     processes) come from GNU time (/usr/bin/time -f '%U %S %M'), or are n/a without it.
#   * Commands run round-robin, RUNS rounds; the table shows the best and the median wall time
#     and the median CPU time. On a machine shared with other work, CPU time (and "MB per CPU-s")
#     is the steadier figure; wall time and the parallel speed-up need a quiet machine.
#   * `newsmend run --stdout … > /dev/null`: the same work without creating one file per page,
#     which is what iconv and cat are spared too. Creating 50,000 files is kernel time that
#     depends on the filesystem and on what else uses it (on a shared VM it varied from 1.4 s to
#     12 s of sys time per 200 MB run), so both are shown.
#   * Before each timed command: `sync`, so that one run's writeback does not land in the next
#     run's time. Each `-o` run writes a fresh directory; they are all deleted at the end (needs
#     free space for 2 × RUNS outputs of each corpus, about twice the corpus size each: 4.5 GB
#     for two 200 MB corpora and RUNS=3).
#   * The binaries are copied to WORKDIR/bin before timing, so that a rebuild in the repository
#     during the run cannot change what is measured.
#   * Load average is printed before and after: a busy machine makes every row slower, and the
#     ratios (measured in the same run) are more trustworthy than the absolute figures.

set -euo pipefail

MB=${1:-${MB:-200}}
RUNS=${RUNS:-3}
SEED=${SEED:-1}
WORKDIR=${WORKDIR:-/tmp/newsmend-bench}
JOBS=${JOBS:-$(nproc)}
FORCED=${FORCED:-1}

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
# shellcheck source=benches/common.sh
source "$ROOT/benches/common.sh"
resolve_workdir compare.sh

log() { printf '%s\n' "$*" >&2; }

# ---- build, and snapshot the binaries --------------------------------------------------------
log "== building (release)"
snapshot_binaries

# ---- machine --------------------------------------------------------------------------------
DIRTY=''
if (cd "$ROOT" && git rev-parse --git-dir >/dev/null 2>&1); then
  (cd "$ROOT" && git diff --quiet HEAD -- src rules Cargo.toml) || DIRTY=' (+ uncommitted changes in src/, rules/ or Cargo.toml)'
fi
CPU=$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo 2>/dev/null | head -1)
echo "# newsmend throughput: $(date -u +%Y-%m-%dT%H:%M:%SZ)"
echo
echo "- machine: $(nproc) cores, ${CPU:-unknown CPU}, $(awk '/MemTotal/ {printf "%.0f GB RAM", $2/1048576}' /proc/meminfo 2>/dev/null), $(uname -sr)"
echo "- rustc: $(rustc --version 2>/dev/null || echo unknown); iconv: $(iconv --version 2>/dev/null | head -1)"
echo "- newsmend: $("$NM" --version 2>/dev/null || echo '?')${NEWSMEND:+ ($NEWSMEND)}, commit ${COMMIT:-$(cd "$ROOT" && git rev-parse --short HEAD 2>/dev/null || echo '? (not a git checkout; set COMMIT=…)')}$DIRTY"
echo "- rounds: $RUNS (every command once per round; best and median wall time, median CPU time); parallel runs: --jobs $JOBS"
echo "- load average before: $(cut -d' ' -f1-3 /proc/loadavg)"

HAVE_TIME=0
if /usr/bin/time -f %M -o /dev/null true 2>/dev/null; then HAVE_TIME=1; fi

# ---- corpora --------------------------------------------------------------------------------
GB_DIR=${GB_DIR:-}
UTF8_DIR=${UTF8_DIR:-}
if [[ -z $GB_DIR ]]; then GB_DIR="$WORKDIR/corpus-gb18030-${MB}mb-s$SEED"; log "== corpus $GB_DIR"; gen_corpus gb18030 "$GB_DIR"; fi
if [[ -z $UTF8_DIR ]]; then UTF8_DIR="$WORKDIR/corpus-utf-8-${MB}mb-s$SEED"; log "== corpus $UTF8_DIR"; gen_corpus utf-8 "$UTF8_DIR"; fi

# ---- timing ---------------------------------------------------------------------------------
# Commands of one corpus are run round-robin (round 1: every command once, round 2: …), so that a
# change in machine load during the run hits every command alike rather than one row.

# measure CMD: runs CMD (a bash string) once; sets WALL (s), CPU (user+sys s of the command and
# its children, or empty) and RSS_KB (or empty).
measure() {
  local t0 t1
  t0=$EPOCHREALTIME
  if ((HAVE_TIME)); then
    /usr/bin/time -f '%U %S %M' -o "$WORKDIR/time.out" bash -c "$1" || { log "compare.sh: failed: $1"; exit 1; }
  else
    bash -c "$1" || { log "compare.sh: failed: $1"; exit 1; }
  fi
  t1=$EPOCHREALTIME
  WALL=$(awk -v a="$t0" -v b="$t1" 'BEGIN {printf "%.6f", b - a}')
  CPU='' RSS_KB=''
  if ((HAVE_TIME)); then
    read -r u sy RSS_KB < <(tail -1 "$WORKDIR/time.out")
    CPU=$(awk -v u="$u" -v s="$sy" 'BEGIN {printf "%.2f", u + s}')
  fi
}

min() { printf '%s\n' "$@" | sort -g | head -1; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN {if (a == "" || b == "" || b == 0) print "–"; else printf "%.2f×", a / b}'; }

ROWS=()
run_corpus() { # LABEL DIR ICONV_ENC NEWSMEND_ENC
  local label=$1 dir=$2 enc=$3 nmenc=$4 list stats=() i r
  [[ $dir == skip ]] && return 0
  list="$WORKDIR/list-$label"
  find "$dir" -type f -name '*.txt' -print0 | sort -z >"$list"
  local files; files=$(tr -cd '\0' <"$list" | wc -c)
  BYTES=$(find "$dir" -type f -name '*.txt' -printf '%s\n' | awk '{s += $1} END {print s + 0}')
  log "== $label: $dir ($files files, $BYTES bytes); warming the page cache"
  xargs -0 cat <"$list" >/dev/null
  # The same bytes in one file, for iconv alone (decoding without opening 50,000 files).
  local concat="$WORKDIR/concat-$label"
  xargs -0 cat <"$list" >"$concat"
  CORPORA+=("- $label corpus: \`$dir\`: $files files, $(awk -v b="$BYTES" 'BEGIN {printf "%.1f", b / 1e6}') MB")
  if "$NM" run --help 2>/dev/null | grep -q -- '--stats'; then stats=(--stats); fi

  # name | setup (untimed) | command
  local names=() setups=() cmds=()
  names+=("cat") setups+=("sync") cmds+=("xargs -0 cat < '$list' > /dev/null")
  names+=("iconv -f $enc -t UTF-8 FILES") setups+=("sync") cmds+=("xargs -0 iconv -f $enc -t UTF-8 < '$list' > /dev/null")
  names+=("cat | iconv -f $enc -t UTF-8") setups+=("sync") cmds+=("xargs -0 cat < '$list' | iconv -f $enc -t UTF-8 > /dev/null")
  names+=("iconv -f $enc -t UTF-8 ONE_FILE") setups+=("sync") cmds+=("iconv -f $enc -t UTF-8 '$concat' > /dev/null")
  names+=("newsmend run -o OUT --jobs 1") setups+=("sync")
  cmds+=("'$NM' run '$dir' -o '@OUT@' --jobs 1 ${stats[*]:-} 2> '$WORKDIR/stderr-$label-j1'")
  if ((JOBS > 1)); then
    names+=("newsmend run -o OUT --jobs $JOBS") setups+=("sync")
    cmds+=("'$NM' run '$dir' -o '@OUT@' --jobs $JOBS 2> /dev/null")
  fi
  names+=("newsmend run --stdout --jobs 1 > /dev/null") setups+=("sync")
  cmds+=("'$NM' run '$dir' --stdout --jobs 1 ${stats[*]:-} > /dev/null 2> '$WORKDIR/stderr-$label-stdout-j1'")
  if ((JOBS > 1)); then
    names+=("newsmend run --stdout --jobs $JOBS > /dev/null") setups+=("sync")
    cmds+=("'$NM' run '$dir' --stdout --jobs $JOBS > /dev/null 2> /dev/null")
  fi
  if ((FORCED)); then
    names+=("newsmend run --stdout --jobs 1 --encoding $nmenc > /dev/null") setups+=("sync")
    cmds+=("'$NM' run '$dir' --stdout --jobs 1 --encoding $nmenc > /dev/null 2> /dev/null")
  fi
  local walls=() cpus=() rss=()
  for ((r = 1; r <= RUNS; r++)); do
    for i in "${!names[@]}"; do
      eval "${setups[i]}"
      measure "${cmds[i]//@OUT@/$OUTS/$label-r$r-c$i}"
      walls[i]+="$WALL " cpus[i]+="${CPU:+$CPU }"
      if [[ -n $RSS_KB ]] && ((RSS_KB > ${rss[i]:-0})); then rss[i]=$RSS_KB; fi
      log "   round $r: ${names[i]}: ${WALL}s wall, ${CPU:-?}s cpu, ${RSS_KB:-?} KB"
    done
  done

  local best=() med=() cpu=()
  for i in "${!names[@]}"; do
    # shellcheck disable=SC2086
    best[i]=$(min ${walls[i]}) med[i]=$(median ${walls[i]})
    # shellcheck disable=SC2086
    if [[ -n ${cpus[i]} ]]; then cpu[i]=$(printf '%.2f' "$(median ${cpus[i]})"); else cpu[i]=''; fi
  done
  # Reference rows, by name.
  local j1_out=0 j1_stdout=0 iconv_pipe=0 iconv_file=0 iconv_files=0
  for i in "${!names[@]}"; do
    case ${names[i]} in
      "newsmend run -o OUT --jobs 1") j1_out=$i ;;
      "newsmend run --stdout --jobs 1 > /dev/null") j1_stdout=$i ;;
      "cat | iconv"*) iconv_pipe=$i ;;
      "iconv "*ONE_FILE) iconv_file=$i ;;
      "iconv "*FILES) iconv_files=$i ;;
    esac
  done
  for i in "${!names[@]}"; do
    local mbs mbcpu speedup='–' rssmb=n/a
    mbs=$(awk -v b="$BYTES" -v t="${best[i]}" 'BEGIN {printf "%.1f", b / 1e6 / t}')
    mbcpu=$(awk -v b="$BYTES" -v t="${cpu[i]}" 'BEGIN {if (t == "" || t == 0) print "–"; else printf "%.1f", b / 1e6 / t}')
    # Speed-up: each newsmend row against the --jobs 1 row of the same output mode.
    case ${names[i]} in
      *"-o OUT --jobs $JOBS"*) speedup=$(ratio "${best[$j1_out]}" "${best[i]}") ;;
      *"--stdout --jobs $JOBS >"*) speedup=$(ratio "${best[$j1_stdout]}" "${best[i]}") ;;
    esac
    if [[ -n ${rss[i]:-} ]]; then rssmb=$(awk -v k="${rss[i]}" 'BEGIN {printf "%.0f", k / 1024}'); fi
    ROWS+=("| $label | \`${names[i]//|/\\|}\` | $(printf '%.2f' "${best[i]}") | $(printf '%.2f' "${med[i]}") | $mbs | ${cpu[i]:-n/a} | $mbcpu | $(ratio "${best[i]}" "${best[$iconv_files]}") | $(ratio "${best[i]}" "${best[$iconv_pipe]}") | $(ratio "${best[i]}" "${best[$iconv_file]}") | $(ratio "${cpu[i]}" "${cpu[$iconv_pipe]}") | $speedup | $rssmb |")
  done
  rm -f "$concat"
  if ((${#stats[@]})); then
    STATS+=("$label, -o OUT --jobs 1 (last round):" "$(sed -n '/^stage/,$p' "$WORKDIR/stderr-$label-j1" | grep -v '^newsmend: ')")
    STATS+=("$label, --stdout --jobs 1 (last round):" "$(sed -n '/^stage/,$p' "$WORKDIR/stderr-$label-stdout-j1" | grep -v '^newsmend: ')")
  fi
}

# Every `-o` run writes to a directory of its own, all deleted only after the last timing, and
# outputs an earlier run left behind (an interrupted one) are moved aside and deleted then too:
# nothing is deleted on the output's filesystem while runs are timed. On ext4 without a journal
# (this VM's root filesystem), the inode allocator passes over every inode freed in the last
# 60 s (up to 6 min while its inode-table block is dirty), reading that block for each
# (`find_inode_bit` → `recently_deleted` in `perf`): the first `-o` run after 220,000 outputs
# were deleted took 42 s, 34 s of them in the kernel, against 5–9 s. A run started within a few
# minutes of deleting a large output on the same filesystem still pays for it: wait, or set
# WORKDIR to a tmpfs.
OUTS="$WORKDIR/out"
OLD_OUTS=''
if [[ -e $OUTS ]]; then OLD_OUTS="$WORKDIR/out.old.$$"; mv "$OUTS" "$OLD_OUTS"; fi
mkdir -p "$OUTS"
CORPORA=() STATS=()
run_corpus gb18030 "$GB_DIR" GB18030 gb18030
run_corpus utf-8 "$UTF8_DIR" UTF-8 utf-8

echo "- load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
printf '%s\n' "${CORPORA[@]}"
echo
echo "| corpus | command | wall s (best) | wall s (median) | MB/s (best wall) | CPU s (median) | MB per CPU-s | wall ÷ iconv FILES | wall ÷ \`cat \| iconv\` | wall ÷ iconv one file | CPU ÷ \`cat \| iconv\` | speed-up vs \`--jobs 1\` | peak RSS MB |"
echo "|---|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|"
printf '%s\n' "${ROWS[@]}"
if ((${#STATS[@]})); then
  echo
  echo "Per-stage times reported by \`newsmend run --stats\`:"
  echo
  echo '```'
  printf '%s\n' "${STATS[@]}"
  echo '```'
fi
log "== removing the outputs ($(du -sh "$OUTS" 2>/dev/null | cut -f1))"
rm -rf "$OUTS" ${OLD_OUTS:+"$OLD_OUTS"}
