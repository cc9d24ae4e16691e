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

install_missing_packages "${BUILD_PACKAGES[@]}" "${TEST_PACKAGES[@]}"

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

# run_fuzzers: builds every tests/fuzz/*_fuzz.cc with clang and runs each on a copy of its
# corpus (tests/fuzz/corpus/<name without _fuzz>) for PLEXI_FUZZ_SECONDS.
run_fuzzers() {
  local sources=(tests/fuzz/*_fuzz.cc)
  [ -e "${sources[0]}" ] || { echo "no fuzz targets in tests/fuzz"; return; }
  local targets=() source
  for source in "${sources[@]}"; do targets+=("$(basename "$source" .cc)"); done
  if ! configure_and_build build/fuzz -DCMAKE_BUILD_TYPE=RelWithDebInfo \
      -DCMAKE_C_COMPILER=clang -DCMAKE_CXX_COMPILER=clang++ -DPLEXI_FUZZ=ON -- "${targets[@]}"; then
    echo "fuzz targets failed to build" >&2
    failed=$((failed + ${#targets[@]}))
    return
  fi
  local seconds="${PLEXI_FUZZ_SECONDS:-30}" target work binary corpus
  for target in "${targets[@]}"; do
    binary="$(find build/fuzz -type f -name "$target" -perm -u+x | head -n1)"
    work="$(mktemp -d)"
    mkdir -p "$work/corpus" "$work/artifacts"
    corpus="tests/fuzz/corpus/${target%_fuzz}"
    [ -d "$corpus" ] && cp -r "$corpus/." "$work/corpus/"
    if "$binary" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 \
        -artifact_prefix="$work/artifacts/" "$work/corpus" >"$work/log" 2>&1; then
      echo "fuzz $target: ok, $(grep -Eo '#[0-9]+' "$work/log" | tail -n1 | tr -d '#') runs in ${seconds}s"
      passed=$((passed + 1))
      rm -rf "$work"
    else
      mkdir -p build/fuzz/crashes
      cp -r "$work/artifacts/." build/fuzz/crashes/ 2>/dev/null || true
      tail -n 40 "$work/log"
      echo "fuzz $target: FAILED (inputs kept in build/fuzz/crashes, log in $work/log)"
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
