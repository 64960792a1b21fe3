#!/usr/bin/env bash
# The whole test suite, exactly what CI runs (.ci/run calls this script).
# Installs what the tests need when it is missing, then checks formatting,
# lints, and runs every test in the workspace.
set -euo pipefail
cd "$(dirname "$0")/.."

# Programs the tests drive for real, and the Debian package of each: the
# sqlite3 CLI and Python (both on Debian's libsqlite3) run under vfscope;
# readelf and nm check the built libvfscope.so; tmux hosts vfstop; a real
# Prometheus server scrapes `vfscope serve` and promtool checks its output;
# cc and strip build C programs with their own SQLite (libsqlite3.a);
# node, npm, c++ and make build better-sqlite3 from source; dqlite-demo
# (go-dqlite, on libdqlite0) is a distributed SQLite run under vfscope.
declare -A packages=([sqlite3]=sqlite3 [python3]=python3 [readelf]=binutils [nm]=binutils [strip]=binutils [cc]=gcc [tmux]=tmux [prometheus]=prometheus [promtool]=prometheus [node]=nodejs [npm]=npm [c++]=g++ [make]=make [dqlite-demo]=go-dqlite)
missing=()
for program in "${!packages[@]}"; do
  command -v "$program" >/dev/null 2>&1 || missing+=("${packages[$program]}")
done
if ! python3 -c 'import sqlite3' >/dev/null 2>&1; then
  missing+=(python3)
fi
# A venv (with pip) holds pysqlite3-binary and apsw from PyPI.
if ! python3 -c 'import venv, ensurepip' >/dev/null 2>&1; then
  missing+=(python3-venv)
fi
# sqlite3ext.h (extension API slots) and libsqlite3.a (a statically linked
# C program).
if [ ! -f /usr/include/sqlite3ext.h ] || [ ! -f /usr/lib/x86_64-linux-gnu/libsqlite3.a ]; then
  missing+=(libsqlite3-dev)
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
