#!/usr/bin/env bash
# Wall time of the small-transaction workloads of callgrind_cli.sh (Debian's
# sqlite3 CLI on tmpfs), bare and with libvfscope.so preloaded, in paired
# runs that alternate so machine noise hits both alike. Prints Markdown:
# the median of the per-pair differences, and of the bare runs.
# VFSCOPE_BASELINE_LIB=path/libvfscope.so adds another build, measured in
# the same rounds (each round: bare, this build, the baseline, in turn).
# usage: tests/bench/small_txn_wall.sh [PAIRS]   (default 21)
set -euo pipefail
cd "$(dirname "$0")/../.."
pairs=${1:-21}
command -v sqlite3 >/dev/null || { echo "small_txn_wall.sh: the sqlite3 CLI is not installed" >&2; exit 2; }
cargo build --release -q -p vfscope-preload
python3 - "$PWD/target/release/libvfscope.so" "$pairs" "${VFSCOPE_BASELINE_LIB:-}" <<'PY'
import os, shutil, statistics, subprocess, sys, tempfile, time
lib, pairs, baseline = sys.argv[1], int(sys.argv[2]), sys.argv[3]
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
builds = [("vfscope", lib)] + ([("baseline", baseline)] if baseline else [])
envs = {name: dict(os.environ, LD_PRELOAD=path, VFSCOPE_DIR=f"{d}/seg") for name, path in builds}
print("| workload | build | bare (median) | added (median of paired differences) | added |")
print("|---|---|---:|---:|---:|")
for workload in scripts:
    bare, added = [], {name: [] for name, _ in builds}
    for i in range(pairs):
        # Rotate the order so that no build always runs first.
        order = ["bare"] + [name for name, _ in builds]
        order = order[i % len(order):] + order[:i % len(order)]
        times = {name: once(workload, bare_env if name == "bare" else envs[name]) for name in order}
        bare.append(times["bare"])
        for name, _ in builds:
            added[name].append(times[name] - times["bare"])
    m = statistics.median(bare)
    for name, _ in builds:
        a = statistics.median(added[name])
        print(f"| {workload} | {name} | {m * 1000:.1f} ms | {a * 1000:+.2f} ms | {a / m * 100:+.1f} % |")
shutil.rmtree(d)
PY
