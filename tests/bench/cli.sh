#!/usr/bin/env bash
# Debian's sqlite3 CLI running a sizeable SQL script: bare, with
# libvfscope.so preloaded, and under `vfscope run` (preload + the exit
# report), interleaved round by round on tmpfs. Prints Markdown.
# usage: tests/bench/cli.sh [ROUNDS]
set -euo pipefail
cd "$(dirname "$0")/../.."
rounds=${1:-11}
command -v sqlite3 >/dev/null || { echo "cli.sh: the sqlite3 CLI is not installed (apt-get install sqlite3)" >&2; exit 2; }
cargo build --release -q -p vfscope-cli -p vfscope-preload
vfscope=$PWD/target/release/vfscope
lib=$PWD/target/release/libvfscope.so
scratch=$(mktemp -d "${TMPDIR:-/dev/shm}/vfscope-cli-bench.XXXXXX" 2>/dev/null || mktemp -d)
trap 'rm -rf "$scratch"' EXIT

# The script: 40 transactions of 1000 inserts, an index, 4000 point
# lookups, 100 autocommit updates, an aggregate, a delete, a checkpoint.
python3 - "$scratch/script.sql" <<'PY'
import sys
with open(sys.argv[1], "w") as f:
    f.write("PRAGMA journal_mode=WAL;\nCREATE TABLE t(id INTEGER PRIMARY KEY, k INTEGER, v TEXT);\n")
    for b in range(40):
        f.write("BEGIN;\n")
        for i in range(1000):
            n = b * 1000 + i
            f.write(f"INSERT INTO t(k, v) VALUES ({n * 7919 % 100003}, '{'x' * (n % 97)}');\n")
        f.write("COMMIT;\n")
    f.write("CREATE INDEX t_k ON t(k);\n")
    for i in range(4000):
        f.write(f"SELECT count(*) FROM t WHERE k = {i * 31 % 100003};\n")
    for i in range(100):
        f.write(f"UPDATE t SET v = v || 'y' WHERE id = {i * 397 + 1};\n")
    f.write("SELECT count(*), sum(length(v)) FROM t;\nDELETE FROM t WHERE id % 10 = 0;\nPRAGMA wal_checkpoint(TRUNCATE);\n")
PY

python3 - "$rounds" "$scratch" "$vfscope" "$lib" <<'PY'
import os, statistics, subprocess, sys, time
rounds, scratch, vfscope, lib = int(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4]
script = open(os.path.join(scratch, "script.sql"), "rb").read()
modes = {
    "bare sqlite3": lambda db: ["sqlite3", db],
    "LD_PRELOAD=libvfscope.so": lambda db: ["env", f"LD_PRELOAD={lib}", f"VFSCOPE_DIR={scratch}/seg-preload", "sqlite3", db],
    "vfscope run (with its report)": lambda db: [vfscope, "run", "--quiet", "--dir", f"{scratch}/seg-run", "--", "sqlite3", db],
}
times = {m: [] for m in modes}
for r in range(rounds):
    order = list(modes) if r % 2 == 0 else list(reversed(modes))
    for m in order:
        db = os.path.join(scratch, "bench.db")
        for suffix in ("", "-wal", "-shm"):
            if os.path.exists(db + suffix):
                os.remove(db + suffix)
        t = time.perf_counter()
        subprocess.run(modes[m](db), input=script, stdout=subprocess.DEVNULL, check=True)
        times[m].append(time.perf_counter() - t)
# This machine switches between two speeds from run to run whatever runs,
# so each mode is compared with the bare run of the same round.
bare = times["bare sqlite3"]
print(f"| run ({rounds} interleaved rounds) | median s | fastest s | vs bare, median of per-round ratios |")
print("|---|---:|---:|---:|")
for m, ts in times.items():
    ratio = statistics.median(t / b for t, b in zip(ts, bare))
    print(f"| {m} | {statistics.median(ts):.3f} | {min(ts):.3f} | {(ratio - 1) * 100:+.2f} % |")
PY

# Instructions, which repeat exactly: callgrind, bare vs preloaded.
if command -v valgrind >/dev/null; then
  count() {
    rm -f "$scratch"/cg.db*
    env "$@" valgrind --tool=callgrind --callgrind-out-file="$scratch/cg.out" \
      sqlite3 "$scratch/cg.db" <"$scratch/script.sql" >/dev/null 2>"$scratch/cg.log"
    awk '/^summary:/ {print $2}' "$scratch/cg.out"
  }
  bare=$(count)
  traced=$(count LD_PRELOAD="$lib" VFSCOPE_DIR="$scratch/seg-cg")
  calls=$("$vfscope" report --json "$scratch/cg.json" "$scratch/seg-cg" >/dev/null && python3 -c \
    'import json,sys; print(json.load(open(sys.argv[1]))["totals"]["calls"])' "$scratch/cg.json")
  echo
  echo "| instructions (callgrind) | bare sqlite3 | LD_PRELOAD=libvfscope.so | overhead | traced VFS calls | per call |"
  echo "|---|---:|---:|---:|---:|---:|"
  awk -v b="$bare" -v t="$traced" -v c="$calls" \
    'BEGIN { printf "| the script | %d | %d | %+.2f %% | %d | %.0f |\n", b, t, (t / b - 1) * 100, c, (t - b) / c }'
fi
