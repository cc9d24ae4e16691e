# What scripts/run.sh, test.sh and fuzz.sh share: installing the Debian 12 packages a fresh
# machine lacks, building, and building and running the fuzz targets. Source it; it defines
# functions and package lists only.
# shellcheck shell=bash disable=SC2034  # the package lists are used by the scripts sourcing this

PLEXI_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"

BUILD_PACKAGES=(g++ cmake ninja-build pkg-config ccache libboost-dev libpq-dev libmariadb-dev
  libsqlite3-dev libhiredis-dev libyaml-cpp-dev libspdlog-dev prometheus-cpp-dev libgtest-dev
  libgmock-dev libssl-dev libpg-query-dev libsystemd-dev)
TEST_PACKAGES=(postgresql postgresql-client pgbouncer python3 python3-psycopg python3-yaml systemd groff-base
  python3-matplotlib prometheus mariadb-server mariadb-client
  python3-pymysql python3-cryptography sysbench redis-server redis-sentinel redis-tools nutcracker
  python3-redis)
# The fuzz targets' compiler, libFuzzer and the sanitizers' runtimes.
FUZZ_PACKAGES=(clang libclang-rt-14-dev)

as_root() {
  if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi
}

is_installed() {
  dpkg -s "$1" 2>/dev/null | grep -q '^Status: install ok installed'
}

# install_missing_packages PACKAGE...: installs those not installed yet, with one apt-get
# update. Services the packages would start (PostgreSQL, PgBouncer, MariaDB on :3306,
# Prometheus on :9090, Redis on :6379, Sentinel on :26379, nutcracker) stay stopped: the tests
# run their own servers on their own ports.
install_missing_packages() {
  local missing=() package
  for package in "$@"; do
    is_installed "$package" || missing+=("$package")
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  echo "Installing missing packages: ${missing[*]}"
  # invoke-rc.d asks policy-rc.d before starting a service; 101 means "not allowed".
  local policy=/usr/sbin/policy-rc.d created=0 status=0
  if [ ! -e "$policy" ]; then
    printf '#!/bin/sh\nexit 101\n' | as_root tee "$policy" >/dev/null
    as_root chmod 755 "$policy"
    created=1
  fi
  as_root apt-get update -q || status=$?
  if [ "$status" -eq 0 ]; then
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends \
      "${missing[@]}" || status=$?
  fi
  if [ "$created" -eq 1 ]; then
    as_root rm -f "$policy"
  fi
  return "$status"
}

# configure_and_build DIR [CMAKE_OPTION...] [-- TARGET...]: a Ninja build in DIR.
configure_and_build() {
  local dir="$1" options=() targets=()
  shift
  while [ $# -gt 0 ] && [ "$1" != "--" ]; do options+=("$1"); shift; done
  [ $# -gt 0 ] && shift
  targets=("$@")
  cmake -S "$PLEXI_ROOT" -B "$dir" -G Ninja "${options[@]}"
  if [ ${#targets[@]} -gt 0 ]; then
    cmake --build "$dir" -j2 --target "${targets[@]}"
  else
    cmake --build "$dir" -j2
  fi
}

# build_release DIR: the optimized binary with debug info, as run.sh starts it (the daemon
# alone: no unit tests, so neither GoogleTest's binaries nor Python are needed for it).
build_release() {
  configure_and_build "$1" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DPLEXI_TESTS=OFF -- plexiproxy
}

# ---- fuzzing (scripts/test.sh runs every target briefly, scripts/fuzz.sh for long) ----

# fuzz_targets: the target of each tests/fuzz/*_fuzz.cc, one a line.
fuzz_targets() {
  local source
  for source in "$PLEXI_ROOT"/tests/fuzz/*_fuzz.cc; do
    [ -e "$source" ] && basename "$source" .cc
  done
}

# build_fuzzers TARGET...: the libFuzzer binaries, built by clang with ASan and UBSan in
# build/fuzz (the libraries they link are instrumented too).
build_fuzzers() {
  configure_and_build "$PLEXI_ROOT/build/fuzz" -DCMAKE_BUILD_TYPE=RelWithDebInfo \
    -DCMAKE_C_COMPILER=clang -DCMAKE_CXX_COMPILER=clang++ -DPLEXI_FUZZ=ON -- "$@"
}

# fuzz_binary TARGET, fuzz_seeds TARGET: its binary, and its seed corpus in the repo
# (tests/fuzz/corpus/<name without _fuzz>).
fuzz_binary() { echo "$PLEXI_ROOT/build/fuzz/tests/$1"; }
fuzz_seeds() { echo "$PLEXI_ROOT/tests/fuzz/corpus/${1%_fuzz}"; }

# run_fuzzer TARGET SECONDS LOG ARTIFACT_PREFIX ARGUMENT...: runs the target for SECONDS
# with its output in LOG and crash inputs named ARTIFACT_PREFIX...; the ARGUMENTs are corpus
# folders (the first receives new inputs) and further libFuzzer options. Returns its status.
run_fuzzer() {
  local target="$1" seconds="$2" log="$3" artifacts="$4"
  shift 4
  "$(fuzz_binary "$target")" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 \
    -artifact_prefix="$artifacts" "$@" >"$log" 2>&1
}

# fuzz_progress LOG: "N runs, cov: C, ft: F", the executions and the coverage (edges) and
# features the run reached, from the last status line libFuzzer wrote.
fuzz_progress() {
  local runs cov ft
  runs="$(grep -Eo '^Done [0-9]+ runs' "$1" | tail -n1 | tr -dc '0-9')"
  [ -n "$runs" ] || runs="$(grep -Eo '^#[0-9]+' "$1" | tail -n1 | tr -d '#')"
  cov="$(grep -Eo 'cov: [0-9]+' "$1" | tail -n1 | tr -dc '0-9')"
  ft="$(grep -Eo 'ft: [0-9]+' "$1" | tail -n1 | tr -dc '0-9')"
  echo "${runs:-0} runs, cov: ${cov:-?}, ft: ${ft:-?}"
}
