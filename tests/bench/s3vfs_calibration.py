"""The s3vfs scenario against the real system it models, with costs from
`vfscope calibrate s3`.

The real system: sqlite-s3vfs (apsw) on moto_server (an S3-compatible
server), reached through a TCP proxy that delays each direction by half a
round trip (this kernel has no netem). Its requests are counted by type
with botocore's event hooks. The prediction: the same SQL with the stdlib
sqlite3 under `vfscope run --record`, replayed with exactly the argument
`vfscope calibrate s3` printed through the same proxy. The client's own
time per request comes once from a recording of the real system at 0 ms
(`--client-from`), and is stated (`--client`) at the other round trips.

Two workloads: `calibration` (the one the per-request costs were first
checked on: 4 KiB pages and blocks) and `second`, of another shape (3 KB
rows, cold-cache lookups, small updates, DELETE + VACUUM; 8 KiB pages and
blocks).

Subcommands (the bench runs them as separate processes):
  proxy LISTEN_PORT TARGET_PORT ONE_WAY_MS   the delay proxy
  real ENDPOINT WORKLOAD                    the workload on sqlite-s3vfs
  local DB WORKLOAD                         the workload on a local file
  bench VFSCOPE RTT_MS...                   all of it; prints Markdown
"""

import json
import os
import queue
import random
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid

TIMEOUT = 600  # seconds for any one step


def calibration(connect, execute):
    """1,200 rows in 6 transactions, an update, 40 point reads, a scan,
    reopen, 20 point reads, a scan. DELETE journal, 4 KiB pages."""
    rng = random.Random(1)
    con = connect()
    run = lambda sql, args=(): execute(con, sql, args)  # noqa: E731
    run("PRAGMA page_size=4096")
    run("PRAGMA journal_mode=DELETE")
    run("CREATE TABLE t(id INTEGER PRIMARY KEY, name TEXT, payload BLOB)")
    for batch in range(6):
        run("BEGIN")
        for i in range(200):
            run(
                "INSERT INTO t(name, payload) VALUES (?, ?)",
                (f"row-{batch * 200 + i}", bytes(rng.getrandbits(8) for _ in range(160))),
            )
        run("COMMIT")
    run("UPDATE t SET name = name || '-x' WHERE id % 10 = 0")
    for _ in range(40):
        run("SELECT name, length(payload) FROM t WHERE id = ?", (rng.randint(1, 1200),))
    run("SELECT count(*), sum(length(payload)) FROM t")
    con.close()
    con = connect()
    for _ in range(20):
        run("SELECT name FROM t WHERE id = ?", (rng.randint(1, 1200),))
    run("SELECT count(*), max(name) FROM t")
    con.close()


def second(connect, execute):
    """600 rows of 3,000 bytes (overflow pages) in 3 transactions; 10
    fresh connections (a cold cache each) with 10 point lookups each; 20
    single-row updates, each its own transaction; DELETE of half the rows;
    VACUUM; a scan. DELETE journal, 8 KiB pages."""
    rng = random.Random(2)
    con = connect()
    run = lambda sql, args=(): execute(con, sql, args)  # noqa: E731
    run("PRAGMA page_size=8192")
    run("PRAGMA journal_mode=DELETE")
    run("CREATE TABLE docs(id INTEGER PRIMARY KEY, kind TEXT, body BLOB)")
    for batch in range(3):
        run("BEGIN")
        for i in range(200):
            run(
                "INSERT INTO docs(kind, body) VALUES (?, ?)",
                (f"k{(batch * 200 + i) % 7}", bytes(rng.getrandbits(8) for _ in range(3000))),
            )
        run("COMMIT")
    con.close()
    for _ in range(10):
        con = connect()
        for _ in range(10):
            run("SELECT kind, length(body) FROM docs WHERE id = ?", (rng.randint(1, 600),))
        con.close()
    con = connect()
    for _ in range(20):
        run("UPDATE docs SET kind = ? WHERE id = ?", (f"u{rng.randint(0, 9)}", rng.randint(1, 600)))
    run("DELETE FROM docs WHERE id % 2 = 0")
    run("VACUUM")
    run("SELECT count(*), sum(length(body)) FROM docs")
    con.close()


WORKLOADS = {"calibration": (calibration, 4096), "second": (second, 8192)}


def apsw_execute(con, sql, args):
    return list(con.cursor().execute(sql, args))


def stdlib_execute(con, sql, args):
    return con.execute(sql, args).fetchall()


OPERATIONS = {
    "GetObject": "get",
    "PutObject": "put",
    "ListObjects": "list",
    "ListObjectsV2": "list",
    "DeleteObjects": "delete",
    "DeleteObject": "delete_one",
}
TYPES = ["get", "put", "list", "delete", "delete_one"]


def s3_resource(endpoint):
    import boto3

    return boto3.resource(
        "s3",
        endpoint_url=endpoint,
        aws_access_key_id="test",
        aws_secret_access_key="test",
        region_name="us-east-1",
    )


def counted(s3):
    counts = {}

    def count(event_name, **_):
        op = event_name.rsplit(".", 1)[-1]
        name = OPERATIONS.get(op, op)
        counts[name] = counts.get(name, 0) + 1

    s3.meta.client.meta.events.register("before-send.s3.*", count)
    return counts


def real(endpoint, name):
    import apsw
    import sqlite_s3vfs

    workload, block = WORKLOADS[name]
    s3 = s3_resource(endpoint)
    bucket = s3.create_bucket(Bucket=f"b-{uuid.uuid4().hex[:12]}")
    vfs = sqlite_s3vfs.S3VFS(bucket=bucket, block_size=block)
    counts = counted(s3)
    start = time.monotonic()
    workload(lambda: apsw.Connection("bench.db", vfs=vfs.name), apsw_execute)
    wall = time.monotonic() - start
    print(json.dumps({"wall_s": wall, "requests": counts, "cpu_s": time.process_time()}))


def local(path, name):
    import sqlite3

    workload, _ = WORKLOADS[name]
    start = time.monotonic()
    workload(lambda: sqlite3.connect(path, isolation_level=None), stdlib_execute)
    print(json.dumps({"wall_s": time.monotonic() - start}))


def proxy(listen_port, target_port, one_way_ms):
    delay = one_way_ms / 1000

    def pump(src, dst):
        q = queue.Queue()

        def writer():
            while True:
                at, data = q.get()
                if data is None:
                    try:
                        dst.shutdown(socket.SHUT_WR)
                    except OSError:
                        pass
                    return
                wait = at + delay - time.monotonic()
                if wait > 0:
                    time.sleep(wait)
                try:
                    dst.sendall(data)
                except OSError:
                    return

        threading.Thread(target=writer, daemon=True).start()
        while True:
            try:
                data = src.recv(65536)
            except OSError:
                data = b""
            q.put((time.monotonic(), data or None))
            if not data:
                return

    server = socket.create_server(("127.0.0.1", listen_port))
    while True:
        client, _ = server.accept()
        upstream = socket.create_connection(("127.0.0.1", target_port))
        for s in (client, upstream):
            s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        threading.Thread(target=pump, args=(client, upstream), daemon=True).start()
        threading.Thread(target=pump, args=(upstream, client), daemon=True).start()


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for_port(port, what, deadline=30):
    end = time.monotonic() + deadline
    while time.monotonic() < end:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            time.sleep(0.1)
    sys.exit(f"s3vfs_calibration: {what} did not listen on 127.0.0.1:{port}")


def child(*args, vfscope=None, record=None):
    """This script as a child process (under `vfscope run --record` when
    `record` is a trace path): its last line of JSON."""
    command = [sys.executable, __file__, *args]
    if record:
        command = [vfscope, "run", "--quiet", "--record", record, "--"] + command
    out = subprocess.run(command, capture_output=True, text=True, timeout=TIMEOUT)
    if out.returncode != 0:
        sys.exit(f"s3vfs_calibration: {args[0]} failed:\n{out.stderr}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def calibrate(vfscope, endpoint, block, client_args, scratch):
    """`vfscope calibrate s3`: its last line (the --latency argument) and
    its JSON."""
    out_json = f"{scratch}/calibrate.json"
    env = dict(os.environ, AWS_ACCESS_KEY_ID="test", AWS_SECRET_ACCESS_KEY="test")
    out = subprocess.run(
        [vfscope, "calibrate", "s3", "--endpoint", endpoint, "--block", str(block),
         "--json", out_json, *client_args],
        capture_output=True, text=True, timeout=TIMEOUT, env=env,
    )
    if out.returncode != 0:
        sys.exit(f"s3vfs_calibration: vfscope calibrate s3 failed:\n{out.stderr}")
    return out.stdout.strip().splitlines()[-1], json.load(open(out_json))


def predict(vfscope, trace, local_wall, spec, scratch):
    out = f"{scratch}/replay.json"
    subprocess.run(
        [vfscope, "replay", trace, "--latency", spec, "--json", out],
        check=True, capture_output=True, timeout=TIMEOUT,
    )
    replay = json.load(open(out))
    added_s = (replay["predicted_ns"] - replay["recorded_ns"]) / 1e9
    return local_wall + added_s, replay["requests"]


def bench(vfscope, rtts):
    bindir = os.path.dirname(sys.executable)
    procs = []
    try:
        moto_port = free_port()
        procs.append(subprocess.Popen(
            [os.path.join(bindir, "moto_server"), "-H", "127.0.0.1", "-p", str(moto_port)],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        ))
        wait_for_port(moto_port, "moto_server")
        endpoints = {}
        for rtt in sorted(set([0.0] + rtts)):
            port = free_port()
            procs.append(subprocess.Popen(
                [sys.executable, __file__, "proxy", str(port), str(moto_port), str(rtt / 2)],
            ))
            wait_for_port(port, f"the {rtt} ms proxy")
            endpoints[rtt] = f"http://127.0.0.1:{port}"
        with tempfile.TemporaryDirectory() as scratch:
            local = {}
            for name in WORKLOADS:
                db, trace = f"{scratch}/{name}.db", f"{scratch}/{name}.trace"
                rec = child("local", db, name, vfscope=vfscope, record=trace)
                local[name] = (trace, rec["wall_s"])
            # The client's own time per request: from a recording of the
            # real system at 0 ms, once.
            real_trace = f"{scratch}/real.trace"
            child("real", endpoints[0.0], "calibration", vfscope=vfscope, record=real_trace)
            _, cal = calibrate(vfscope, endpoints[0.0], 4096,
                               ["--client-from", real_trace], scratch)
            client = cal["parameters"]["client"]
            rows = []
            for rtt in rtts:
                specs = {}
                for name, (_, block) in WORKLOADS.items():
                    specs[name], _ = calibrate(vfscope, endpoints[rtt], block,
                                               ["--client", client], scratch)
                for name in WORKLOADS:
                    runs = [child("real", endpoints[rtt], name) for _ in range(3)]
                    trace, local_wall = local[name]
                    predicted, requests = predict(vfscope, trace, local_wall, specs[name], scratch)
                    rows.append((name, rtt, runs, predicted, requests, specs[name]))
        report(local, client, rows)
    finally:
        for p in procs:
            p.kill()


def report(local, client, rows):
    print("### s3vfs scenario against sqlite-s3vfs on moto_server, costs from `vfscope calibrate s3`\n")
    walls = ", ".join(f"{n} {w * 1000:.0f} ms" for n, (_, w) in local.items())
    print(f"Local recorded workloads (stdlib sqlite3, no model): {walls}. "
          f"Client time per request (from the real system at 0 ms): {client}.\n")
    print("| workload | round trip | real wall (median of 3) | predicted | predicted / real "
          "| real requests | predicted requests | exact |")
    print("|---|---|---|---|---|---|---|---|")
    for name, rtt, runs, predicted, requests, _ in rows:
        wall = statistics.median(r["wall_s"] for r in runs)
        real_counts = [{t: r["requests"].get(t, 0) for t in TYPES} for r in runs]
        same = all(c == real_counts[0] for c in real_counts)
        fmt = lambda c: " / ".join(str(c.get(t, 0)) for t in TYPES)  # noqa: E731
        exact = same and all(real_counts[0][t] == requests.get(t, 0) for t in TYPES)
        print(f"| {name} | {rtt:g} ms | {wall:.2f} s | {predicted:.2f} s | {predicted / wall:.3f} "
              f"| {fmt(real_counts[0])}{'' if same else ' (runs differ)'} "
              f"| {fmt(requests)} | {'yes' if exact else 'no'} |")
    print("\nRequests are " + " / ".join(TYPES) + ". The --latency arguments used:\n")
    for name, rtt, _, _, _, spec in rows:
        print(f"- {name}, {rtt:g} ms: `{spec}`")


if __name__ == "__main__":
    what, args = sys.argv[1], sys.argv[2:]
    if what == "proxy":
        proxy(int(args[0]), int(args[1]), float(args[2]))
    elif what == "real":
        real(args[0], args[1])
    elif what == "local":
        local(args[0], args[1])
    elif what == "bench":
        bench(args[0], [float(a) for a in args[1:]])
    else:
        sys.exit(f"unknown subcommand {what!r}")
