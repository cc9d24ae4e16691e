#!/usr/bin/env bash
# Long fuzzing runs for developers: builds the libFuzzer targets (in build/fuzz, as test.sh
# does) and runs each chosen one for a while on a working corpus that persists between runs
# (build/fuzz/work/<target>), together with its seeds in tests/fuzz/corpus/<name>.
#
#   scripts/fuzz.sh [--seconds N] [--jobs N] [--update-corpus] [TARGET...]
#
#   --seconds N       how long each target runs (default 600)
#   --jobs N          fuzzing processes per target (libFuzzer's -fork=N, whose cov: counts
#                     differently; default 1)
#   --update-corpus   afterwards, add to tests/fuzz/corpus/<name> only the inputs that reach
#                     edges its seeds do not (libFuzzer's -merge=1 -use_counters=0)
#   TARGET            config_loader_fuzz or config_loader (default: every target)
# For each target it prints the executions, the cov: (edges) and ft: (features) reached and
# any crash input, kept in build/fuzz/crashes/<target>/. Exits 1 when a target failed.
set -euo pipefail
# shellcheck source=scripts/lib.sh
source "$(dirname "$0")/lib.sh"
cd "$PLEXI_ROOT"

seconds=600
jobs=1
update=0
targets=()
while [ $# -gt 0 ]; do
  case "$1" in
    --seconds) seconds="${2:?--seconds needs a number}"; shift ;;
    --jobs) jobs="${2:?--jobs needs a number}"; shift ;;
    --update-corpus) update=1 ;;
    -h|--help) sed -n '2,15s/^# \{0,1\}//p' "$0"; exit 0 ;;
    -*) echo "unknown option: $1 (see --help)" >&2; exit 2 ;;
    *) targets+=("${1%_fuzz}_fuzz") ;;
  esac
  shift
done
for number in "$seconds" "$jobs"; do
  [[ "$number" =~ ^[1-9][0-9]*$ ]] || { echo "not a positive number: $number" >&2; exit 2; }
done

known=()
mapfile -t known < <(fuzz_targets)
[ ${#targets[@]} -gt 0 ] || targets=("${known[@]}")
for target in "${targets[@]}"; do
  if [[ " ${known[*]} " != *" $target "* ]]; then
    echo "no fuzz target $target (there are: ${known[*]})" >&2
    exit 2
  fi
done

install_missing_packages "${BUILD_PACKAGES[@]}" "${FUZZ_PACKAGES[@]}"
build_fuzzers "${targets[@]}"

failures=0
for target in "${targets[@]}"; do
  work="build/fuzz/work/$target"
  crashes="build/fuzz/crashes/$target"
  seeds="$(fuzz_seeds "$target")"
  [ -d "$seeds" ] || seeds=""
  mkdir -p "$work" "$crashes"
  log="build/fuzz/work/$target.log"
  started="$(mktemp)"
  options=()
  [ "$jobs" -gt 1 ] && options+=("-fork=$jobs")
  echo "fuzz $target: ${seconds}s on $work ($(find "$work" -type f | wc -l) inputs)${seeds:+ and $seeds}"
  status=0
  run_fuzzer "$target" "$seconds" "$log" "$crashes/" "${options[@]}" "$work" ${seeds:+"$seeds"} ||
    status=$?
  new_crashes="$(find "$crashes" -type f -newer "$started")"
  rm -f "$started"
  if [ "$status" -eq 0 ] && [ -z "$new_crashes" ]; then
    echo "fuzz $target: ok, $(fuzz_progress "$log"), corpus $(find "$work" -type f | wc -l) inputs"
  else
    tail -n 30 "$log"
    echo "fuzz $target: FAILED after $(fuzz_progress "$log") (log in $log)"
    failures=$((failures + 1))
  fi
  for crash in $new_crashes; do echo "  crash input: $crash"; done
  if [ "$update" -eq 1 ] && [ -n "$seeds" ]; then
    # -merge=1 adds to the first folder only the inputs of the others that reach what it does
    # not; -use_counters=0 counts new edges only, not new hit counts of known ones, which
    # nearly every input of a long run has.
    before="$(find "$seeds" -type f | wc -l)"
    "$(fuzz_binary "$target")" -merge=1 -use_counters=0 -timeout=10 -rss_limit_mb=2048 \
      "$seeds" "$work" \
      >"$log.merge" 2>&1 || { tail -n 20 "$log.merge"; failures=$((failures + 1)); continue; }
    echo "fuzz $target: $(($(find "$seeds" -type f | wc -l) - before)) inputs added to $seeds"
  fi
done
[ "$failures" -eq 0 ]
