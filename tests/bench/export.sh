#!/usr/bin/env bash
# `vfscope export` on a big recording: time and peak memory for a trace of
# about a million calls (Debian's sqlite3 CLI, autocommit inserts in WAL
# mode, recorded with `vfscope run --record`). Prints Markdown.
# usage: tests/bench/export.sh [INSERTS]   (default 80000: ~1M calls)
set -euo pipefail
cd "$(dirname "$0")/../.."
inserts=${1:-80000}
command -v sqlite3 >/dev/null || { echo "export.sh: the sqlite3 CLI is not installed" >&2; exit 2; }
cargo build --release -q -p vfscope-cli -p vfscope-preload
vfscope=$PWD/target/release/vfscope
out=$(mktemp -d "${TMPDIR:-/dev/shm}/vfscope-export.XXXXXX" 2>/dev/null || mktemp -d)
trap 'rm -rf "$out"' EXIT
python3 - "$out/work.sql" "$inserts" <<'PY'
import sys
with open(sys.argv[1], "w") as f:
    f.write("PRAGMA journal_mode=WAL;\nCREATE TABLE t(id INTEGER PRIMARY KEY, v TEXT);\n")
    for i in range(int(sys.argv[2])):
        f.write(f"INSERT INTO t(v) VALUES ('row-{i:08d}');\n")
PY
"$vfscope" run --quiet --dir "$out/seg" --record "$out/run.trace" -- sqlite3 "$out/db" < "$out/work.sql" >/dev/null
calls=$(python3 - "$out/run.trace" <<'PY'
import os, sys
# 49 bytes per call record; the header, database and end records are small.
print(os.path.getsize(sys.argv[1]) // 49)
PY
)
python3 - "$vfscope" "$out" "$calls" <<'PY'
import os, resource, subprocess, sys, time
vfscope, out, calls = sys.argv[1], sys.argv[2], int(sys.argv[3])
runs = []
for _ in range(3):
    t = time.monotonic()
    subprocess.run([vfscope, "export", f"{out}/run.trace", "--format", "chrome", "-o", f"{out}/run.json"],
                   check=True, stderr=subprocess.DEVNULL)
    runs.append(time.monotonic() - t)
peak_kib = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
trace_mib = os.path.getsize(f"{out}/run.trace") / 2**20
json_mib = os.path.getsize(f"{out}/run.json") / 2**20
runs.sort()
print("| calls (approx.) | trace | JSON written | export time (median of 3) | peak memory |")
print("|---:|---:|---:|---:|---:|")
print(f"| {calls:,} | {trace_mib:.0f} MiB | {json_mib:.0f} MiB | {runs[1]:.2f} s | {peak_kib / 1024:.1f} MiB |")
PY
