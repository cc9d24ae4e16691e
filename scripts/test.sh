#!/usr/bin/env bash
# Sets up and tests plexiproxy: installs what this machine lacks, builds, runs the unit and
# integration tests with ctest, then every fuzz target for a bounded time. The last line
# printed is the total: "N passed, N failed".
#
#   scripts/test.sh            build/test (RelWithDebInfo): unit + integration, then fuzzing
#   scripts/test.sh --asan     the same tests in build/asan, built with ASan and UBSan
#   scripts/test.sh --tsan     the unit and concurrency tests in build/tsan, built with TSan
#   scripts/test.sh --quick    skip fuzzing
# PLEXI_FUZZ_SECONDS (default 30) is how long each fuzz target runs.
set -euo pipefail
# shellcheck source=scripts/lib.sh
source "$(dirname "$0")/lib.sh"
cd "$PLEXI_ROOT"

variant="test"
fuzz=1
for arg in "$@"; do
  case "$arg" in
    --asan) variant=asan ;;
    --tsan) variant=tsan ;;
    --quick) fuzz=0 ;;
    -h|--help) sed -n '2,10s/^# \{0,1\}//p' "$0"; exit 0 ;;
    *) echo "unknown option: $arg (see --help)" >&2; exit 2 ;;
  esac
done

passed=0
failed=0

install_missing_packages "${BUILD_PACKAGES[@]}" "${TEST_PACKAGES[@]}" "${FUZZ_PACKAGES[@]}"

# run_ctest DIR [CTEST_OPTION...]: runs ctest, adds its counts to the totals.
run_ctest() {
  local dir="$1" log status=0
  shift
  log="$(mktemp)"
  (cd "$dir" && ctest --output-on-failure -j2 "$@") 2>&1 | tee "$log" || status=$?
  local summary
  summary="$(grep -E '^[0-9]+% tests passed, [0-9]+ tests? failed out of [0-9]+' "$log" | tail -n1 || true)"
  rm -f "$log"
  if [ -z "$summary" ]; then
    echo "ctest in $dir ran no tests" >&2
    failed=$((failed + 1))
    return
  fi
  local bad total
  bad="$(sed -E 's/^[0-9]+% tests passed, ([0-9]+) tests? failed out of ([0-9]+).*/\1/' <<<"$summary")"
  total="$(sed -E 's/.* out of ([0-9]+).*/\1/' <<<"$summary")"
  passed=$((passed + total - bad))
  failed=$((failed + bad))
  if [ "$status" -ne 0 ] && [ "$bad" -eq 0 ]; then
    failed=$((failed + 1))  # ctest itself failed (timeout of the whole run, bad setup)
  fi
}

# run_fuzzers: builds every tests/fuzz/*_fuzz.cc with clang and runs each for
# PLEXI_FUZZ_SECONDS on its seeds (new inputs go to a scratch folder, not the repo), as many
# at once as there are cores, then prints each one's executions and the coverage reached.
run_fuzzers() {
  local targets=()
  mapfile -t targets < <(fuzz_targets)
  [ ${#targets[@]} -gt 0 ] || { echo "no fuzz targets in tests/fuzz"; return; }
  if ! build_fuzzers "${targets[@]}"; then
    echo "fuzz targets failed to build" >&2
    failed=$((failed + ${#targets[@]}))
    return
  fi
  local seconds="${PLEXI_FUZZ_SECONDS:-30}" at_once target work seeds works=()
  at_once="$(nproc)"
  for target in "${targets[@]}"; do
    while [ "$(jobs -rp | wc -l)" -ge "$at_once" ]; do wait -n || true; done
    work="$(mktemp -d)"
    works+=("$work")
    mkdir -p "$work/corpus" "$work/artifacts"
    seeds="$(fuzz_seeds "$target")"
    [ -d "$seeds" ] || seeds=""
    (
      status=0
      run_fuzzer "$target" "$seconds" "$work/log" "$work/artifacts/" "$work/corpus" \
        ${seeds:+"$seeds"} || status=$?
      echo "$status" >"$work/status"
    ) &
  done
  wait
  local i
  for i in "${!targets[@]}"; do
    target="${targets[$i]}"
    work="${works[$i]}"
    if [ "$(cat "$work/status" 2>/dev/null)" = "0" ]; then
      echo "fuzz $target: ok, $(fuzz_progress "$work/log") in ${seconds}s"
      passed=$((passed + 1))
      rm -rf "$work"
    else
      mkdir -p build/fuzz/crashes
      cp -r "$work/artifacts/." build/fuzz/crashes/ 2>/dev/null || true
      tail -n 40 "$work/log"
      echo "fuzz $target: FAILED after $(fuzz_progress "$work/log") (inputs kept in build/fuzz/crashes, log in $work/log)"
      failed=$((failed + 1))
    fi
  done
}

# build_and_test DIR CTEST_OPTIONS -- CMAKE_OPTIONS: a build that fails counts as a failure.
build_and_test() {
  local dir="$1" ctest_options=()
  shift
  while [ $# -gt 0 ] && [ "$1" != "--" ]; do ctest_options+=("$1"); shift; done
  shift
  if configure_and_build "$dir" "$@"; then
    run_ctest "$dir" "${ctest_options[@]}"
  else
    echo "build in $dir failed" >&2
    failed=$((failed + 1))
  fi
}

case "$variant" in
  test) build_and_test build/test -- -DCMAKE_BUILD_TYPE=RelWithDebInfo ;;
  asan) build_and_test build/asan -- -DCMAKE_BUILD_TYPE=Debug -DPLEXI_SANITIZE=address,undefined ;;
  tsan) build_and_test build/tsan -L 'unit|concurrency' -- -DCMAKE_BUILD_TYPE=RelWithDebInfo \
          -DPLEXI_SANITIZE=thread ;;
esac

if [ "$fuzz" -eq 1 ]; then
  run_fuzzers
fi

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
