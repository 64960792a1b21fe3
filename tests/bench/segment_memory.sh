#!/usr/bin/env bash
# Segment file size and the memory a process touches in it (allocated
# blocks of the sparse file: the pages it wrote), for a Python process that
# opens N databases (create a table, insert a row, close), N = 1, 100,
# 10000. Prints Markdown for BENCHMARKS.md.
# usage: tests/bench/segment_memory.sh [N ...]
set -euo pipefail
cd "$(dirname "$0")/../.."
cargo build --release -q -p vfscope-cli -p vfscope-preload
counts=("$@")
[ ${#counts[@]} -eq 0 ] && counts=(1 100 10000)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
echo "| databases | segment file | touched (allocated) | op × kind rows without percentiles |"
echo "|---:|---:|---:|---:|"
for n in "${counts[@]}"; do
  rm -rf "$work/dbs" "$work/segments"
  mkdir -p "$work/dbs"
  target/release/vfscope run --quiet --dir "$work/segments" --json "$work/report.json" -- \
    python3 -c '
import sqlite3, sys
for i in range(int(sys.argv[2])):
    c = sqlite3.connect(f"{sys.argv[1]}/db{i}.db")
    c.execute("create table t(x)")
    with c:
        c.execute("insert into t values (1)")
    c.close()
' "$work/dbs" "$n"
  seg=$(ls "$work"/segments/*.seg | head -1)
  read -r size blocks < <(stat -c '%s %b' "$seg")
  missing=$(python3 -c '
import json, sys
r = json.load(open(sys.argv[1]))
print(sum(1 for o in r["operations"] if o["calls"] and o["latency_ns"]["p50"] is None))
' "$work/report.json")
  awk -v n="$n" -v s="$size" -v b="$blocks" -v m="$missing" \
    'BEGIN { printf "| %d | %.1f MiB | %.2f MiB | %d |\n", n, s / 1048576, b * 512 / 1048576, m }'
done
