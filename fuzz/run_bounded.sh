#!/bin/sh
# Runs every fuzz target for a bounded time (default 600 s each; fork mode, so a crash is kept in
# artifacts/TARGET/ and the run goes on; AddressSanitizer for `decode` and `pipeline`, which reach all
# of the crate's unsafe code (the GB18030 decoder's writes, the line scan's SIMD loads), none for
# `rules`, which runs ten times faster without it) from seeds built out of the samples and the
# built-in rules. Needs nightly and cargo-fuzz:
#   cargo install cargo-fuzz && cd fuzz && ./run_bounded.sh [SECONDS]
set -eu
cd "$(dirname "$0")"
secs="${1:-600}"
mkdir -p corpus/decode corpus/pipeline corpus/rules artifacts
for f in ../samples/*/*.txt ../tests/regressions/*; do
  [ -f "$f" ] && cp "$f" corpus/pipeline/ && cp "$f" corpus/decode/
done
cp ../rules/*.toml corpus/rules/
for t in decode pipeline rules; do
  dict=dict/pipeline.dict
  [ "$t" = rules ] && dict=dict/rules.dict
  san=none
  [ "$t" = rules ] || san=address
  cargo +nightly fuzz run -O -s "$san" "$t" "corpus/$t" -- -max_total_time="$secs" -max_len=16384 \
    -timeout=10 -rss_limit_mb=2048 -fork=1 -ignore_crashes=1 -ignore_timeouts=1 -ignore_ooms=1 -dict="$dict" -print_final_stats=1 2>&1 | tee "artifacts/$t.log" | tail -25
done
