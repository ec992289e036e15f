#!/usr/bin/env bash
# What each family of rules costs: the time of `newsmend run --stdout` with the rules of one rule
# file turned off (through a `--rules` directory of `disabled = true` entries), against the full
# rule set, on one corpus.
#
#   benches/rulecost.sh                       # a 100 MB GB18030 corpus, 5 rounds
#   ENC=utf-8 MB=100 RUNS=7 benches/rulecost.sh
#   DIR=/data/pages benches/rulecost.sh       # time an existing directory of pages instead
#
# A row is the cost of matching those rules and of all that their matches lead to: with the
# dateline rules off no item opens at a dateline, so no byline is looked for after one either.
# The rows of one run therefore overlap and do not add up to the whole. The records differ from
# the full rule set's (that is the point); the last column says how many bytes of output a page
# makes on average. layout.toml is taken rule by rule (its rules are separate mechanisms); the
# join rules cannot be turned off (every join is attributed to one).
#
# Environment (all optional):
#   ENC       encoding of the generated corpus: gb18030 or utf-8. Default gb18030.
#   MB        size of the generated corpus in MB (10^6 bytes). Default 100.
#   RUNS      rounds (every configuration once per round, round-robin). Default 5.
#   SEED      corpus seed for examples/gen_corpus.rs. Default 1.
#   DIR       time this directory of pages instead of generating a corpus.
#   WORKDIR   where the corpus, binaries and rule directories go. Default /tmp/newsmend-rulecost.
#             Never the repository.
#   FROM      source pages for the corpus (space-separated dirs); gen_corpus's default otherwise.
#   NEWSMEND  time this newsmend binary instead of the release build.
#
# The figure is the median wall time of a run on one worker (bash's $EPOCHREALTIME, in
# microseconds: GNU time's CPU times come in hundredths of a second, too coarse for runs of a
# second). Differences of a percent or two are within the noise of a shared machine.

set -euo pipefail

ENC=${ENC:-gb18030}
MB=${MB:-100}
RUNS=${RUNS:-5}
SEED=${SEED:-1}
WORKDIR=${WORKDIR:-/tmp/newsmend-rulecost}

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
# shellcheck source=benches/common.sh
source "$ROOT/benches/common.sh"
resolve_workdir rulecost.sh
log() { printf '== %s\n' "$*" >&2; }

log "building (release)"
snapshot_binaries

if [[ -z ${DIR:-} ]]; then
  DIR="$WORKDIR/corpus-$ENC-${MB}mb-s$SEED"
  if [[ ! -d $DIR ]]; then
    log "corpus $DIR"
    gen_corpus "$ENC" "$DIR"
  fi
fi
BYTES=$(find "$DIR" -type f -name '*.txt' -printf '%s\n' | awk '{s += $1} END {print s + 0}')
PAGES=$(find "$DIR" -type f -name '*.txt' | wc -l)

# ---- one rule directory per family ------------------------------------------------------------
# `stubs FILE [ID]`: a `disabled = true` entry for every rule of FILE (or only rule ID), with the
# id and type the loader asks for.
stubs() {
  awk -v only="${2:-}" '
    function flush() {
      if (id != "" && type != "join" && (only == "" || id == only))
        printf "[[rule]]\nid = \"%s\"\ntype = \"%s\"\ndescription = \"off\"\ndisabled = true\n\n", id, type
      id = ""; type = ""
    }
    /^\[\[rule\]\]/ { flush() }
    /^id = "/ { id = $0; sub(/^id = "/, "", id); sub(/".*/, "", id) }
    /^type = "/ { type = $0; sub(/^type = "/, "", type); sub(/".*/, "", type) }
    END { flush() }
  ' "$1"
}
ids() { sed -n 's/^id = "\([^"]*\)".*/\1/p' "$1"; }

RULESETS="$WORKDIR/rulesets"
rm -rf "$RULESETS"
NAMES=(all)
ARGS=("")
add() { # NAME TOML-TEXT
  [[ -n $2 ]] || return 0
  mkdir -p "$RULESETS/$1"
  printf '%s' "$2" >"$RULESETS/$1/off.toml"
  NAMES+=("$1")
  ARGS+=("--rules $RULESETS/$1")
}
for f in "$ROOT"/rules/*.toml; do
  base=$(basename "$f" .toml)
  if [[ $base == layout ]]; then
    for id in $(ids "$f"); do add "$base:$id" "$(stubs "$f" "$id")"; done
  else
    add "$base" "$(stubs "$f")"
  fi
done
for i in "${!NAMES[@]}"; do
  # shellcheck disable=SC2086 # ARGS holds option words
  "$NM" rules list ${ARGS[$i]} >/dev/null || { echo "rulecost.sh: rule set ${NAMES[$i]} does not load" >&2; exit 1; }
done

# ---- timing ---------------------------------------------------------------------------------
CPU=$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo 2>/dev/null | head -1)
echo "# newsmend: what each rule family costs ($(date -u +%Y-%m-%dT%H:%M:%SZ))"
echo
echo "- machine: $(nproc) cores, ${CPU:-unknown CPU}; newsmend $("$NM" --version | cut -d' ' -f2), commit $(cd "$ROOT" && git rev-parse --short HEAD 2>/dev/null || echo '?')"
echo "- corpus: $DIR ($PAGES pages, $BYTES bytes); \`run --stdout --jobs 1\`, $RUNS rounds, median wall time"
echo
declare -A TIMES OUT
for ((r = 1; r <= RUNS; r++)); do
  log "round $r of $RUNS"
  for i in "${!NAMES[@]}"; do
    t0=$EPOCHREALTIME
    # shellcheck disable=SC2086
    "$NM" run "$DIR" --stdout -q --jobs 1 ${ARGS[$i]} >"$WORKDIR/out.jsonl"
    TIMES[$i]+="$(awk -v a="$t0" -v b="$EPOCHREALTIME" 'BEGIN {printf "%.4f", b - a}') "
    OUT[$i]=$(stat -c %s "$WORKDIR/out.jsonl")
  done
done
rm -f "$WORKDIR/out.jsonl"

# shellcheck disable=SC2086 # the times are words
BASE=$(median ${TIMES[0]})
echo "| rules turned off | seconds | MB/s | change | output bytes a page |"
echo "|---|--:|--:|--:|--:|"
for i in "${!NAMES[@]}"; do
  # shellcheck disable=SC2086
  m=$(median ${TIMES[$i]})
  awk -v n="${NAMES[$i]}" -v m="$m" -v b="$BASE" -v bytes="$BYTES" -v out="${OUT[$i]}" -v pages="$PAGES" 'BEGIN {
    name = (n == "all") ? "none (all rules)" : n
    change = (n == "all") ? "" : sprintf("%+.1f%%", 100 * (m - b) / b)
    printf "| %s | %.3f | %.1f | %s | %.0f |\n", name, m, bytes / 1e6 / m, change, out / pages
  }'
done
