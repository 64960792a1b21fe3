#!/usr/bin/env bash
# Instructions of small-transaction workloads of Debian's sqlite3 CLI
# (SQLite linked dynamically), bare and with libvfscope.so preloaded,
# counted by callgrind (repeatable on a noisy machine).
#   read-mostly: 4,000 point SELECTs, each its own transaction (lock SHARED,
#     two xAccess, xFileSize, a 100-byte read of page 1, unlock), and an
#     UPDATE every 100th (rollback journal)
#   autocommit:  2,000 INSERTs, each its own transaction, in WAL mode
# Setup (loading the library, the segment, opening the database) is
# measured apart with a one-statement script and subtracted, so `per call`
# is the cost of the calls themselves. With --functions, the vfscope
# functions that cost the most (exclusive, inlined code included) in the
# read-mostly and autocommit runs. VFSCOPE_BASELINE_LIB=path/libvfscope.so
# adds another build's numbers side by side (e.g. a worktree of an older
# commit built with its own CARGO_TARGET_DIR).
# usage: tests/bench/callgrind_cli.sh [--functions]
set -euo pipefail
cd "$(dirname "$0")/../.."
command -v valgrind >/dev/null || { echo "callgrind_cli.sh: valgrind is not installed (apt-get install valgrind)" >&2; exit 2; }
command -v sqlite3 >/dev/null || { echo "callgrind_cli.sh: the sqlite3 CLI is not installed" >&2; exit 2; }
cargo build --release -q -p vfscope-cli -p vfscope-preload
lib=$PWD/target/release/libvfscope.so
vfscope=$PWD/target/release/vfscope
out=$(mktemp -d "${TMPDIR:-/dev/shm}/vfscope-callgrind.XXXXXX" 2>/dev/null || mktemp -d)
trap '[ -n "${KEEP:-}" ] || rm -rf "$out"' EXIT

python3 - "$out" <<'PY'
import sys
d = sys.argv[1]
with open(f"{d}/read-mostly.setup.sql", "w") as f:
    f.write("CREATE TABLE t(id INTEGER PRIMARY KEY, v TEXT);\nBEGIN;\n")
    for i in range(1, 2001):
        f.write(f"INSERT INTO t VALUES ({i}, 'value-{i:06d}');\n")
    f.write("COMMIT;\n")
with open(f"{d}/read-mostly.sql", "w") as f:
    for i in range(4000):
        k = i * 7919 % 2000 + 1
        f.write(f"SELECT v FROM t WHERE id = {k};\n")
        if i % 100 == 99:
            f.write(f"UPDATE t SET v = 'updated-{i}' WHERE id = {k};\n")
with open(f"{d}/autocommit.setup.sql", "w") as f:
    f.write("PRAGMA journal_mode=WAL;\nCREATE TABLE t(id INTEGER PRIMARY KEY, v TEXT);\n")
with open(f"{d}/autocommit.sql", "w") as f:
    for i in range(2000):
        f.write(f"INSERT INTO t(v) VALUES ('row-{i:06d}');\n")
for w in ("read-mostly", "autocommit"):
    with open(f"{d}/{w}.one.sql", "w") as f:
        f.write("SELECT count(*) FROM t WHERE id = 1;\n")
PY

fresh() { # fresh WORKLOAD: a new database with the workload's setup
    rm -f "$out/db" "$out/db-wal" "$out/db-shm" "$out/db-journal"
    sqlite3 "$out/db" < "$out/$1.setup.sql" >/dev/null
}
# count WORKLOAD SCRIPT bare|vfscope: instructions of one run
count() {
    fresh "$1"
    local pre=()
    [ "$3" = vfscope ] && pre=(env "LD_PRELOAD=$lib" "VFSCOPE_DIR=$out/seg")
    [ "$3" = baseline ] && pre=(env "LD_PRELOAD=$VFSCOPE_BASELINE_LIB" "VFSCOPE_DIR=$out/seg")
    "${pre[@]}" valgrind --tool=callgrind --callgrind-out-file="$out/$2.$3.out" \
        sqlite3 "$out/db" < "$out/$2" >/dev/null 2>"$out/cg.log"
    grep -E '^summary:|^totals:' "$out/$2.$3.out" | head -1 | awk '{print $2}'
}
calls() { # calls WORKLOAD SCRIPT: VFS calls vfscope records
    fresh "$1"
    "$vfscope" run --quiet --dir "$out/seg-count" --json "$out/r.json" -- sqlite3 "$out/db" < "$out/$2" >/dev/null
    python3 -c "import json,sys; print(sum(o['calls'] for o in json.load(open(sys.argv[1]))['operations']))" "$out/r.json"
}

builds=(vfscope)
[ -n "${VFSCOPE_BASELINE_LIB:-}" ] && builds=(baseline vfscope)
echo "| workload | build | VFS calls | bare, instructions | with vfscope | overhead | setup (once) | per traced call |"
echo "|---|---|---:|---:|---:|---:|---:|---:|"
for w in read-mostly autocommit; do
    bare=$(count $w $w.sql bare); bare1=$(count $w $w.one.sql bare)
    n=$(calls $w $w.sql); n1=$(calls $w $w.one.sql)
    for b in "${builds[@]}"; do
        traced=$(count $w $w.sql $b); traced1=$(count $w $w.one.sql $b)
        awk -v w=$w -v b=$b -v n=$n -v n1=$n1 -v p=$bare -v t=$traced -v p1=$bare1 -v t1=$traced1 'BEGIN {
            printf "| %s | %s | %d | %d | %d | %+.2f %% | %d | %.0f |\n", w, b, n, p, t, (t / p - 1) * 100, t1 - p1, ((t - p) - (t1 - p1)) / (n - n1) }'
    done
done
if [ "${1:-}" = --functions ]; then
    for w in read-mostly autocommit; do
        for b in "${builds[@]}"; do
            echo
            echo "$w, $b: vfscope functions, exclusive instructions (inlined code included)"
            callgrind_annotate --threshold=100 "$out/$w.sql.$b.out" 2>/dev/null | python3 -c '
import collections, re, sys
total = collections.Counter()
for line in sys.stdin:
    m = re.match(r"\s*([\d,]+) \([^)]*\)\s+\S+?:(\S.*?)( \[.*\])?$", line)
    if m and ("vfscope_shim" in m.group(2) or "vfscope_segment" in m.group(2)):
        total[m.group(2)] += int(m.group(1).replace(",", ""))
for name, n in total.most_common(12):
    print(f"  {n:>10,}  {name}")
'
        done
    done
fi
