#!/usr/bin/env bash
# The whole test suite, exactly what CI runs (.ci/run calls this script).
# Installs what the tests need when it is missing, then checks formatting,
# lints, and runs every test in the workspace.
set -euo pipefail
cd "$(dirname "$0")/.."

# Programs the tests drive for real, and the Debian package of each: the
# sqlite3 CLI and Python (both on Debian's libsqlite3) run under vfscope;
# readelf and nm check the built libvfscope.so; tmux hosts vfstop; a real
# Prometheus server scrapes `vfscope serve` and promtool checks its output.
declare -A packages=([sqlite3]=sqlite3 [python3]=python3 [readelf]=binutils [nm]=binutils [tmux]=tmux [prometheus]=prometheus [promtool]=prometheus)
missing=()
for program in "${!packages[@]}"; do
  command -v "$program" >/dev/null 2>&1 || missing+=("${packages[$program]}")
done
if ! python3 -c 'import sqlite3' >/dev/null 2>&1; then
  missing+=(python3)
fi
mapfile -t missing < <(printf '%s\n' "${missing[@]}" | sort -u | sed '/^$/d')
if [ ${#missing[@]} -gt 0 ]; then
  echo "tests/run.sh: installing ${missing[*]}"
  sudo_cmd=""
  [ "$(id -u)" -ne 0 ] && sudo_cmd="sudo"
  $sudo_cmd apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo_cmd apt-get install -y -qq "${missing[@]}"
fi

cargo fmt --all -- --check
cargo clippy --workspace --all-targets --locked -- -D warnings
# The end-to-end tests run the built vfscope and libvfscope.so.
cargo build --workspace --locked
cargo test --workspace --locked
