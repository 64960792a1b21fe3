#!/usr/bin/env bash
# `vfscope doctor`'s predicted gains against the measured ones (Python's
# sqlite3 and apsw programs with each problem, and with the change).
# Prints Markdown for BENCHMARKS.md.
set -euo pipefail
cd "$(dirname "$0")/../.."
venv=$PWD/target/bench-doctor-venv
if [ ! -x "$venv/bin/python" ] || ! "$venv/bin/python" -c 'import apsw' 2>/dev/null; then
    python3 -m venv "$venv"
    "$venv/bin/pip" install -q 'apsw==3.54.1.0'
fi
cargo build --release -q -p vfscope-cli -p vfscope-preload
timeout 3600 python3 tests/bench/doctor_gains.py "$PWD/target/release/vfscope" "$venv/bin/python"
