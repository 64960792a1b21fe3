#!/usr/bin/env bash
# The raft-wal scenario against the real system it models: Debian's dqlite
# (go-dqlite's dqlite-demo on libdqlite0/libraft2, linking the system
# libsqlite3). Records a 1-node cluster doing the workload under
# `vfscope run --record`, then for each round trip runs a real 3-voter
# cluster (three network namespaces vd1 vd2 vd3 joined by delay proxies
# that hold every byte RTT/2 per direction; the client beside the leader)
# and `vfscope replay`s the recording with --latency "$DQLITE_MODEL".
# Workload: 200 sequential PUTs then 200 GETs over one keep-alive HTTP
# connection to the leader; real times are the median of 3 fresh clusters.
# Prints Markdown for BENCHMARKS.md. Needs root (namespaces). Every process
# and namespace it makes is removed on exit; every step has a time limit.
#
# usage: tests/bench/dqlite.sh [ROUND_TRIP_MS...]        (default 0 2 5 10)
# env:   VFSCOPE        the vfscope binary (default target/release/vfscope)
#        DQLITE_MODEL   printf format of the model (default raft-wal:rtt=%sms)
#        DQLITE_PUTS DQLITE_GETS DQLITE_REPS   (default 200 200 3)
#        DQLITE_ASYM    "FAST,SLOW" follower round trips for the check that
#                       the leader waits for the faster follower (default
#                       2,10; empty: skip)
#        DQLITE_DATA_DIR  where the nodes keep their raft logs (default the
#                       temp dir; /dev/shm takes the disk's fsync out)
#        DQLITE_KEEP    a directory to keep the 1-node trace in
set -euo pipefail
cd "$(dirname "$0")/../.."
rtts=("$@")
[ ${#rtts[@]} -gt 0 ] || rtts=(0 2 5 10)
VFSCOPE=${VFSCOPE:-$PWD/target/release/vfscope}
export DQLITE_MODEL=${DQLITE_MODEL:-raft-wal:rtt=%sms}   # %s: the measured link round trip, ms

if [ "$(id -u)" != 0 ]; then
    echo "dqlite.sh: needs root (network namespaces)" >&2
    exit 2
fi
if ! command -v dqlite-demo >/dev/null || ! command -v dqlite >/dev/null; then
    timeout 600 apt-get install -y -q go-dqlite >&2
fi
if [ ! -x "$VFSCOPE" ]; then
    timeout 1800 cargo build --release -q -p vfscope-cli -p vfscope-preload
fi
for n in vd1 vd2 vd3; do
    if ip netns list | grep -qw "$n"; then
        echo "dqlite.sh: namespace $n exists (another run?); not touching it" >&2
        exit 2
    fi
done

driver=
cleanup() {
    # the driver removes what it made; this is the backstop if it was killed
    if [ -n "$driver" ] && kill -0 "$driver" 2>/dev/null; then
        kill -TERM "$driver" 2>/dev/null || true
        wait "$driver" 2>/dev/null || true
    fi
    for n in vd1 vd2 vd3; do
        for pid in $(ip netns pids "$n" 2>/dev/null); do
            kill -TERM "$pid" 2>/dev/null || true
        done
        ip netns del "$n" 2>/dev/null || true
    done
}
trap cleanup EXIT
trap 'exit 130' INT TERM

timeout 3600 python3 tests/bench/dqlite.py bench "$VFSCOPE" "${rtts[@]}" &
driver=$!
wait "$driver"
