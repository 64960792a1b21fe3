"""The s3vfs scenario against the real system it models.

The real system: sqlite-s3vfs (apsw) on moto_server (an S3-compatible
server), reached through a TCP proxy that delays each direction by half a
round trip (this kernel has no netem). Its requests are counted by type
with botocore's event hooks. The prediction: the same SQL with the stdlib
sqlite3 under `vfscope run --record`, replayed with the s3vfs scenario at
the same round trip and the per-request times measured with no added delay.

Subcommands (the bench runs them as separate processes):
  proxy LISTEN_PORT TARGET_PORT ONE_WAY_MS   the delay proxy
  real ENDPOINT                             the workload on sqlite-s3vfs
  local DB                                  the workload on a local file
  times ENDPOINT                            per-request times, by type
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


def workload(connect, execute):
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
    "DeleteObject": "delete",
}


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


def real(endpoint):
    import apsw
    import sqlite_s3vfs

    s3 = s3_resource(endpoint)
    bucket = s3.create_bucket(Bucket=f"b-{uuid.uuid4().hex[:12]}")
    vfs = sqlite_s3vfs.S3VFS(bucket=bucket)
    counts = counted(s3)
    start = time.monotonic()
    workload(lambda: apsw.Connection("bench.db", vfs=vfs.name), apsw_execute)
    wall = time.monotonic() - start
    print(json.dumps({"wall_s": wall, "requests": counts, "cpu_s": time.process_time()}))


def local(path):
    import sqlite3

    start = time.monotonic()
    workload(lambda: sqlite3.connect(path, isolation_level=None), stdlib_execute)
    print(json.dumps({"wall_s": time.monotonic() - start}))


def times(endpoint, rounds=100):
    """Mean time of each request type as sqlite-s3vfs makes it (the same
    boto3 resource calls), with no added delay: what the scenario's get,
    put, list, list_key and delete are. The types take turns, so a machine
    that slows down mid-way slows them all alike."""
    s3 = s3_resource(endpoint)
    bucket = s3.create_bucket(Bucket=f"t-{uuid.uuid4().hex[:12]}")
    block = bytes(4096)
    for i in range(66):
        bucket.Object(f"full/{i:010d}").put(Body=block)
    keys = [{"Key": f"del/{i:010d}"} for i in range(3)]
    kinds = {
        "get": lambda: bucket.Object("full/0000000003").get()["Body"].read(),
        "put": lambda: bucket.Object("put/0000000000").put(Body=block),
        "list": lambda: any(bucket.objects.filter(Prefix="none/")),
        "full": lambda: sum(o.size for o in bucket.objects.filter(Prefix="full/")),
        "delete": lambda: bucket.delete_objects(Delete={"Objects": keys}),
    }
    total = dict.fromkeys(kinds, 0.0)
    for f in kinds.values():
        f()  # warm
    for _ in range(rounds):
        for name, f in kinds.items():
            t = time.perf_counter()
            f()
            total[name] += time.perf_counter() - t
    ms = {k: v / rounds * 1000 for k, v in total.items()}
    ms["list_key"] = max(ms.pop("full") - ms["list"], 0) / 66
    print(json.dumps(ms))


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


def child(*args, env=None):
    out = subprocess.run(
        [sys.executable, __file__, *args], capture_output=True, text=True,
        timeout=TIMEOUT, env=env,
    )
    if out.returncode != 0:
        sys.exit(f"s3vfs_calibration: {args[0]} failed:\n{out.stderr}")
    return json.loads(out.stdout.strip().splitlines()[-1])


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
            db, trace = f"{scratch}/bench.db", f"{scratch}/bench.trace"
            rec = subprocess.run(
                [vfscope, "run", "--quiet", "--dir", f"{scratch}/seg", "--record", trace, "--",
                 sys.executable, __file__, "local", db],
                capture_output=True, text=True, timeout=TIMEOUT,
            )
            if rec.returncode != 0:
                sys.exit(f"s3vfs_calibration: the local recording failed:\n{rec.stderr}")
            local_wall = json.loads(rec.stdout.strip().splitlines()[-1])["wall_s"]
            rows = []
            for rtt in rtts:
                # Per-request times are measured (with no added delay) right
                # before each real run, so both see the machine alike.
                runs, costs = [], []
                for _ in range(3):
                    costs.append(child("times", endpoints[0.0]))
                    runs.append(child("real", endpoints[rtt]))
                cost = {k: statistics.median(c[k] for c in costs) for k in costs[0]}
                params = ",".join(
                    [f"rtt={rtt}ms"] + [f"{k}={v:.4f}ms" for k, v in cost.items()]
                )
                out = f"{scratch}/replay.json"
                subprocess.run(
                    [vfscope, "replay", trace, "--latency", f"s3vfs:{params}", "--json", out],
                    check=True, capture_output=True, timeout=TIMEOUT,
                )
                replay = json.load(open(out))
                added_s = (replay["predicted_ns"] - replay["recorded_ns"]) / 1e9
                rows.append((rtt, runs, local_wall + added_s, replay["requests"], cost))
        report(local_wall, rows)
    finally:
        for p in procs:
            p.kill()


def report(local_wall, rows):
    print("### s3vfs scenario against sqlite-s3vfs on moto_server\n")
    print(f"Local recorded workload (stdlib sqlite3, no model): {local_wall * 1000:.0f} ms.\n")
    print("| round trip | real wall (median of 3) | predicted | predicted / real "
          "| real requests | predicted requests | exact | per-request times used (ms) |")
    print("|---|---|---|---|---|---|---|---|")
    types = ["get", "put", "list", "delete"]
    for rtt, runs, predicted, requests, cost in rows:
        wall = statistics.median(r["wall_s"] for r in runs)
        real_counts = [{t: r["requests"].get(t, 0) for t in types} for r in runs]
        same = all(c == real_counts[0] for c in real_counts)
        fmt = lambda c: " / ".join(str(c.get(t, 0)) for t in types)  # noqa: E731
        exact = same and all(real_counts[0][t] == requests.get(t, 0) for t in types)
        used = ", ".join(f"{k} {v:.2f}" for k, v in cost.items())
        print(f"| {rtt:g} ms | {wall:.2f} s | {predicted:.2f} s | {predicted / wall:.3f} "
              f"| {fmt(real_counts[0])}{'' if same else ' (runs differ)'} "
              f"| {fmt(requests)} | {'yes' if exact else 'no'} | {used} |")
    print("\nRequests are get / put / list / delete; per-request times are medians "
          "of three measurements with no added delay, one before each real run.")


if __name__ == "__main__":
    what, args = sys.argv[1], sys.argv[2:]
    if what == "proxy":
        proxy(int(args[0]), int(args[1]), float(args[2]))
    elif what == "real":
        real(args[0])
    elif what == "local":
        local(args[0])
    elif what == "times":
        times(args[0])
    elif what == "bench":
        bench(args[0], [float(a) for a in args[1:]])
    else:
        sys.exit(f"unknown subcommand {what!r}")
