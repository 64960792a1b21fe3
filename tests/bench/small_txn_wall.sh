#!/usr/bin/env bash
# Wall time of the small-transaction workloads of callgrind_cli.sh (Debian's
# sqlite3 CLI on tmpfs), bare and with libvfscope.so preloaded, in paired
# runs that alternate so machine noise hits both alike. Prints Markdown:
# the median of the per-pair differences, and of the bare runs.
# usage: tests/bench/small_txn_wall.sh [PAIRS]   (default 21)
set -euo pipefail
cd "$(dirname "$0")/../.."
pairs=${1:-21}
command -v sqlite3 >/dev/null || { echo "small_txn_wall.sh: the sqlite3 CLI is not installed" >&2; exit 2; }
cargo build --release -q -p vfscope-preload
python3 - "$PWD/target/release/libvfscope.so" "$pairs" <<'PY'
import os, shutil, statistics, subprocess, sys, tempfile, time
lib, pairs = sys.argv[1], int(sys.argv[2])
d = tempfile.mkdtemp(dir="/dev/shm" if os.path.isdir("/dev/shm") else None)
setups = {
    "read-mostly": "CREATE TABLE t(id INTEGER PRIMARY KEY, v TEXT);\nBEGIN;\n"
    + "".join(f"INSERT INTO t VALUES ({i}, 'value-{i:06d}');\n" for i in range(1, 2001)) + "COMMIT;\n",
    "autocommit": "PRAGMA journal_mode=WAL;\nCREATE TABLE t(id INTEGER PRIMARY KEY, v TEXT);\n",
}
scripts = {
    "read-mostly": "".join(
        f"SELECT v FROM t WHERE id = {i * 7919 % 2000 + 1};\n"
        + (f"UPDATE t SET v = 'updated-{i}' WHERE id = {i * 7919 % 2000 + 1};\n" if i % 100 == 99 else "")
        for i in range(4000)),
    "autocommit": "".join(f"INSERT INTO t(v) VALUES ('row-{i:06d}');\n" for i in range(2000)),
}
def once(workload, env):
    db = f"{d}/db"
    for suffix in ("", "-wal", "-shm", "-journal"):
        if os.path.exists(db + suffix):
            os.remove(db + suffix)
    subprocess.run(["sqlite3", db], input=setups[workload], text=True, check=True, capture_output=True)
    t = time.perf_counter()
    subprocess.run(["sqlite3", db], input=scripts[workload], text=True, check=True,
                   stdout=subprocess.DEVNULL, env=env)
    return time.perf_counter() - t
bare_env = dict(os.environ)
traced_env = dict(os.environ, LD_PRELOAD=lib, VFSCOPE_DIR=f"{d}/seg")
print("| workload | bare (median) | added (median of paired differences) | added |")
print("|---|---:|---:|---:|")
for workload in scripts:
    bare, added = [], []
    for i in range(pairs):
        if i % 2:
            t = once(workload, traced_env); b = once(workload, bare_env)
        else:
            b = once(workload, bare_env); t = once(workload, traced_env)
        bare.append(b); added.append(t - b)
    m = statistics.median(bare)
    a = statistics.median(added)
    print(f"| {workload} | {m * 1000:.1f} ms | {a * 1000:+.2f} ms | {a / m * 100:+.1f} % |")
shutil.rmtree(d)
PY
