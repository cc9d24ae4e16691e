# What scripts/run.sh and scripts/test.sh share: installing the Debian 12 packages a fresh
# machine lacks, and building. Source it; it defines functions and package lists only.
# shellcheck shell=bash disable=SC2034  # the package lists are used by the scripts sourcing this

PLEXI_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"

BUILD_PACKAGES=(g++ cmake ninja-build pkg-config ccache libboost-dev libpq-dev libmariadb-dev
  libsqlite3-dev libhiredis-dev libyaml-cpp-dev libspdlog-dev prometheus-cpp-dev libgtest-dev
  libgmock-dev libssl-dev libpg-query-dev libsystemd-dev)
TEST_PACKAGES=(postgresql postgresql-client pgbouncer python3 python3-psycopg python3-yaml
  python3-matplotlib clang libclang-rt-14-dev prometheus mariadb-server mariadb-client
  python3-pymysql python3-cryptography sysbench redis-server redis-sentinel redis-tools nutcracker
  python3-redis)

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
