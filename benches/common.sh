# Shared by benches/compare.sh, benches/pgo.sh and benches/rulecost.sh (sourced, not run). Each
# sets ROOT (the repository) and WORKDIR first; compare.sh and rulecost.sh also MB and SEED, pgo.sh MB.

# Makes WORKDIR absolute (creating it), and refuses one inside the repository: corpora and
# outputs are research data and build products, never part of the project. $1: the script's name.
resolve_workdir() {
  # Decided on the nearest directory that exists, before anything is created: a refused WORKDIR
  # leaves nothing behind in the repository.
  local probe=$WORKDIR
  while [[ ! -d $probe ]]; do probe=$(dirname "$probe"); done
  case "$(cd "$probe" && pwd -P)/" in
    "$(cd "$ROOT" && pwd -P)/"*) echo "$1: WORKDIR must be outside the repository" >&2; exit 2 ;;
  esac
  mkdir -p "$WORKDIR"
  WORKDIR=$(cd "$WORKDIR" && pwd -P)
}

# Cargo's target directory (CARGO_TARGET_DIR or the workspace setting), else ROOT/target.
target_dir() {
  local dir
  dir=$(cd "$ROOT" && cargo metadata --format-version 1 --no-deps 2>/dev/null |
    sed -n 's/.*"target_directory":"\([^"]*\)".*/\1/p')
  echo "${dir:-$ROOT/target}"
}

# gen_corpus's source arguments from FROM (space-separated dirs), into the array FROM_ARGS; empty
# (gen_corpus's default sources) when FROM is unset.
FROM_ARGS=()
if [[ -n ${FROM:-} ]]; then
  read -r -a _from_dirs <<<"$FROM"
  FROM_ARGS=(--from "${_from_dirs[@]}")
fi

# Builds the release binary and the corpus generator, and copies them to WORKDIR/bin, so that a
# rebuild in the repository during a run cannot change what is measured. Sets NM (the newsmend
# to time: NEWSMEND when set, else the release build) and GEN (gen_corpus).
snapshot_binaries() {
  (cd "$ROOT" && cargo build --release --quiet --bin newsmend --example gen_corpus)
  local target
  target=$(target_dir)
  NEWSMEND=${NEWSMEND:+$(cd "$(dirname "$NEWSMEND")" && pwd)/$(basename "$NEWSMEND")}
  mkdir -p "$WORKDIR/bin"
  cp "${NEWSMEND:-$target/release/newsmend}" "$WORKDIR/bin/newsmend"
  cp "$target/release/examples/gen_corpus" "$WORKDIR/bin/gen_corpus"
  NM="$WORKDIR/bin/newsmend"
  GEN="$WORKDIR/bin/gen_corpus"
}

# gen_corpus ENC DIR [OPTION…]: MB megabytes of pages in ENC, seed SEED, from FROM (see above),
# into DIR; further options go to gen_corpus as they are (`--force`).
gen_corpus() {
  "$GEN" ${FROM_ARGS[@]+"${FROM_ARGS[@]}"} --out "$2" --mb "$MB" --encoding "$1" --seed "$SEED" "${@:3}" >/dev/null
}

# The median of the numbers given as arguments.
median() { printf '%s\n' "$@" | sort -g | awk '{a[NR] = $1} END {print (NR % 2) ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2}'; }
