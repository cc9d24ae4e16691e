#!/usr/bin/env bash
# Sets up and runs plexiproxy: installs what this machine lacks, builds the release binary
# and starts it. With no arguments it serves the embedded SQLite default on 127.0.0.1:6432
# (plexiproxy.db in the current directory); pass `--config FILE` for your own setup.
set -euo pipefail
# shellcheck source=scripts/lib.sh
source "$(dirname "$0")/lib.sh"

install_missing_packages "${BUILD_PACKAGES[@]}"
build_release "$PLEXI_ROOT/build/release" >&2
exec "$PLEXI_ROOT/build/release/plexiproxy" "$@"
