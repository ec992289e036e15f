# Shared by benches/compare.sh, benches/pgo.sh and benches/rulecost.sh (sourced, not run). Each
# sets ROOT (the repository) and WORKDIR first.

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
