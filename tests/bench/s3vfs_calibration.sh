#!/usr/bin/env bash
# The s3vfs scenario against the real system it models: sqlite-s3vfs on
# moto_server behind a delay proxy, against `vfscope replay` of a local
# recording of the same workload with the argument `vfscope calibrate s3`
# printed through the same proxy; two workloads (the calibration one and a
# second of another shape). Prints Markdown for BENCHMARKS.md.
# Everything listens on 127.0.0.1; every step has a time limit.
# usage: tests/bench/s3vfs_calibration.sh [ROUND_TRIP_MS...]   (default 0 5 10)
set -euo pipefail
cd "$(dirname "$0")/../.."
rtts=("$@")
[ ${#rtts[@]} -gt 0 ] || rtts=(0 5 10)
venv=$PWD/target/bench-s3vfs-venv
if [ ! -x "$venv/bin/moto_server" ]; then
    python3 -m venv "$venv"
    "$venv/bin/pip" install -q 'sqlite-s3vfs==0.0.36' 'apsw==3.54.1.0' 'moto[server]==5.2.5' boto3
fi
cargo build --release -q -p vfscope-cli -p vfscope-preload
timeout 3600 "$venv/bin/python" tests/bench/s3vfs_calibration.py bench "$PWD/target/release/vfscope" "${rtts[@]}"
