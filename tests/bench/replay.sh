#!/usr/bin/env bash
# What-if replay against live runs, and the cost of recording. Prints
# Markdown for BENCHMARKS.md.
#
# For two workloads (read-heavy, commit-heavy) of Debian's sqlite3 CLI and
# three models (cross-az, s3-standard, litefs-halt): record the workload with no
# model, predict it under the model with `vfscope replay`, then run it live
# under the same model (same seed) and record that run too; the live run's
# length is read from its own trace the same way (process start to exit),
# so both sides measure the same span.
# usage: tests/bench/replay.sh [ROUNDS]   (rounds of the recording-cost part)
set -euo pipefail
cd "$(dirname "$0")/../.."
rounds=${1:-11}
command -v sqlite3 >/dev/null || { echo "replay.sh: the sqlite3 CLI is not installed" >&2; exit 2; }
cargo build --release -q -p vfscope-cli -p vfscope-preload
vfscope=$PWD/target/release/vfscope
scratch=$(mktemp -d "${TMPDIR:-/dev/shm}/vfscope-replay-bench.XXXXXX" 2>/dev/null || mktemp -d)
trap 'rm -rf "$scratch"' EXIT

python3 - "$scratch" <<'PY'
import sys, random
d = sys.argv[1]
random.seed(1)
with open(f"{d}/setup.sql", "w") as f:
    f.write("PRAGMA journal_mode=WAL;\nCREATE TABLE t(k INTEGER PRIMARY KEY, v BLOB);\nBEGIN;\n")
    for i in range(1, 2001):
        f.write(f"INSERT INTO t VALUES ({i}, randomblob(400));\n")
    f.write("COMMIT;\n")
with open(f"{d}/read-heavy.sql", "w") as f:
    for i in range(100):
        f.write(f"SELECT length(v) FROM t WHERE k = {random.randint(1, 2000)};\n")
    for i in range(3):
        f.write(f"INSERT INTO t(v) VALUES (randomblob(400));\n")
with open(f"{d}/commit-heavy.sql", "w") as f:
    f.write("PRAGMA synchronous=FULL;\n")
    for i in range(60):
        f.write(f"INSERT INTO t(v) VALUES (randomblob(300));\n")
    for i in range(10):
        f.write(f"SELECT count(*) FROM t WHERE k > {i * 100};\n")
PY

fresh_db() {
    rm -f "$scratch/db" "$scratch/db-wal" "$scratch/db-shm"
    sqlite3 "$scratch/db" < "$scratch/setup.sql" >/dev/null
}

# run WORKLOAD TRACE [MODEL]: the workload under vfscope, recorded.
run() {
    local latency=()
    [ $# -ge 3 ] && latency=(--latency "$3")
    fresh_db
    "$vfscope" run --quiet --dir "$scratch/segments" --record "$2" "${latency[@]}" -- \
        sqlite3 "$scratch/db" ".read $scratch/$1.sql" >/dev/null 2>&1
}

# field JSON KEY: one number of a replay JSON file.
field() { python3 -c "import json,sys; print(json.load(open(sys.argv[1]))[sys.argv[2]])" "$1" "$2"; }

echo "### Replay prediction against live runs"
echo
echo "| workload | model | recorded (no model) | predicted by replay | live run | live / predicted |"
echo "|---|---|---:|---:|---:|---:|"
for workload in read-heavy commit-heavy; do
    run "$workload" "$scratch/bare.trace"
    for preset in cross-az s3-standard litefs-halt; do
        # Same seed on both sides: the model draws the same delays for the
        # same sequence of calls.
        { echo "seed = 1"; "$vfscope" presets "$preset" | grep -v '^#'; } > "$scratch/$preset.toml"
        "$vfscope" replay "$scratch/bare.trace" --latency "$scratch/$preset.toml" --json "$scratch/predicted.json" >/dev/null
        run "$workload" "$scratch/live.trace" "$scratch/$preset.toml"
        "$vfscope" replay "$scratch/live.trace" --latency off --json "$scratch/live.json" >/dev/null
        python3 - "$workload" "$preset" "$scratch/predicted.json" "$scratch/live.json" <<'PY'
import json, sys
w, m, p, l = sys.argv[1:]
p, l = json.load(open(p)), json.load(open(l))
ms = lambda ns: f"{ns / 1e6:.1f} ms"
print(f"| {w} | {m} | {ms(p['recorded_ns'])} | {ms(p['predicted_ns'])} | {ms(l['recorded_ns'])} | {l['recorded_ns'] / p['predicted_ns']:.3f} |")
PY
    done
done

echo
echo "### Cost of recording (sqlite3 CLI, commit-heavy workload, $rounds rounds, medians)"
echo
: > "$scratch/times"
for i in $(seq "$rounds"); do
    for mode in plain record; do
        fresh_db
        extra=()
        [ "$mode" = record ] && extra=(--record "$scratch/cost.trace")
        start=$(date +%s%N)
        "$vfscope" run --quiet --dir "$scratch/segments" "${extra[@]}" -- \
            sqlite3 "$scratch/db" ".read $scratch/commit-heavy.sql" >/dev/null 2>&1
        echo "$mode $(( $(date +%s%N) - start ))" >> "$scratch/times"
    done
done
python3 - "$scratch/times" "$scratch/cost.trace" <<'PY'
import sys, statistics, os
t = {"plain": [], "record": []}
for line in open(sys.argv[1]):
    mode, ns = line.split()
    t[mode].append(int(ns))
plain, rec = statistics.median(t["plain"]), statistics.median(t["record"])
print("| under vfscope run | with --record | overhead | trace size |")
print("|---:|---:|---:|---:|")
print(f"| {plain / 1e6:.1f} ms | {rec / 1e6:.1f} ms | {(rec / plain - 1) * 100:+.1f} % | {os.path.getsize(sys.argv[2]) / 1024:.0f} KiB |")
PY
