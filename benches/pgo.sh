#!/usr/bin/env bash
# Builds a profile-guided (PGO) release binary of newsmend: the fastest build for a long run.
#
#   benches/pgo.sh                  # writes target/pgo/release/newsmend
#   WORKDIR=/data/tmp benches/pgo.sh
#
# The binary is the same program as `cargo build --release` (same source, same output, byte for
# byte: the tests and `benches/compare.sh` check the outputs, this script checks them on the
# training pages); the compiler only lays out and inlines the code by what a real run executes.
# On the machine of the README's throughput table that made whole runs 3-4% faster (alternating
# runs on the 200 MB corpora of benches/compare.sh).
#
# Needs the LLVM tools that match the compiler: `rustup component add llvm-tools`.
#
# Steps:
#   1. an instrumented build (target/pgo-gen), which writes a profile of every run;
#   2. training runs on pages that are NOT the ones compare.sh times: corpora generated with seed
#      7 (compare.sh uses seed 1) from the same sources, 10 MB of GB18030 and 10 MB of UTF-8,
#      through `run --stdout`, `run -o` and `run --explain` (so that no mode is left cold);
#   3. the profiles merged (llvm-profdata) and the optimized build (target/pgo).
#
# Environment (all optional):
#   WORKDIR   where training corpora and profiles go. Default /tmp/newsmend-pgo. Never the repo.
#   MB        size of each training corpus in MB. Default 10.
#   FROM      source pages for the training corpora (space-separated dirs); gen_corpus's default
#             otherwise (samples/, ../shared/seed, ../shared/corpus/dev/raw, those that exist).

set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
WORKDIR=${WORKDIR:-/tmp/newsmend-pgo}
MB=${MB:-10}
# shellcheck source=benches/common.sh
source "$ROOT/benches/common.sh"
resolve_workdir pgo.sh
log() { printf '== %s\n' "$*" >&2; }

# The llvm-profdata of the compiler's own LLVM (a system one of another version cannot read the
# profiles).
SYSROOT=$(rustc --print sysroot)
HOST=$(rustc -vV | sed -n 's/^host: //p')
PROFDATA="$SYSROOT/lib/rustlib/$HOST/bin/llvm-profdata"
if [[ ! -x $PROFDATA ]]; then
  echo "pgo.sh: $PROFDATA not found; install it with: rustup component add llvm-tools" >&2
  exit 2
fi

PROFILES="$WORKDIR/profiles"
rm -rf "$PROFILES"
mkdir -p "$PROFILES"
cd "$ROOT"

log "instrumented build (target/pgo-gen)"
RUSTFLAGS="${RUSTFLAGS:-} -Cprofile-generate=$PROFILES" \
  cargo build --release --quiet --bin newsmend --target-dir target/pgo-gen
cargo build --release --quiet --example gen_corpus
GEN="$(target_dir)/release/examples/gen_corpus"

log "training corpora ($MB MB each, seed 7) in $WORKDIR"
for enc in gb18030 utf-8; do
  SEED=7 gen_corpus "$enc" "$WORKDIR/train-$enc" --force
done

log "training runs"
NM=target/pgo-gen/release/newsmend
for enc in gb18030 utf-8; do
  "$NM" run "$WORKDIR/train-$enc" --stdout --quiet >"$WORKDIR/out-$enc.jsonl"
done
rm -rf "$WORKDIR/out-dir"
"$NM" run "$WORKDIR/train-utf-8" -o "$WORKDIR/out-dir" --quiet
"$NM" run samples --stdout --explain --quiet >/dev/null
rm -rf "$WORKDIR/out-dir"

log "merging the profiles"
"$PROFDATA" merge -o "$WORKDIR/newsmend.profdata" "$PROFILES"

log "optimized build (target/pgo)"
RUSTFLAGS="${RUSTFLAGS:-} -Cprofile-use=$WORKDIR/newsmend.profdata" \
  cargo build --release --quiet --bin newsmend --target-dir target/pgo

log "checking: the optimized binary writes what the instrumented one wrote"
for enc in gb18030 utf-8; do
  target/pgo/release/newsmend run "$WORKDIR/train-$enc" --stdout --quiet | cmp -s - "$WORKDIR/out-$enc.jsonl" ||
    { echo "pgo.sh: the PGO binary's output differs on $WORKDIR/train-$enc" >&2; exit 1; }
done
rm -f "$WORKDIR"/out-*.jsonl
echo "$ROOT/target/pgo/release/newsmend"
