#!/usr/bin/env python3
"""Driver for tests/bench/dqlite.sh: the raft-wal scenario against real dqlite.

Subcommands:
  bench VFSCOPE RTT_MS...     the whole benchmark (needs root: network
                              namespaces, veth, netem); prints Markdown
  record VFSCOPE TRACE N_PUT N_GET
                              one 1-node dqlite-demo on 127.0.0.1 under
                              `vfscope run --record TRACE`, N_PUT PUTs then
                              N_GET GETs; prints the client's JSON
  client HOST PORT N_PUT N_GET [PREFIX]
                              the workload alone against a running node
  decode TRACE [FROM_NS TO_NS]
                              the trace's calls, one a line
  count TRACE                 the counts the fixture README states

Ports: 127.0.0.1:29001-29099 on the host; inside the vd* namespaces the
nodes listen on 10.229.0.N with ports from the same range. Every process
and namespace made here is removed on exit; every step has a time limit.
"""
import http.client
import json
import os
import shutil
import signal
import statistics
import struct
import subprocess
import sys
import tempfile
import time

OPS = ("open delete access full_pathname dl_open dl_error dl_sym dl_close "
       "randomness sleep current_time get_last_error current_time_int64 "
       "set_system_call get_system_call next_system_call close read write "
       "truncate sync file_size lock unlock check_reserved_lock file_control "
       "sector_size device_characteristics shm_map shm_lock shm_barrier "
       "shm_unmap fetch unfetch").split()
KINDS = ("none main_db main_journal wal temp_db temp_journal transient_db "
         "subjournal super_journal shm other").split()
SLOTS = "write checkpoint recover read0 read1 read2 read3 read4".split()
LOCKS = "none shared reserved pending exclusive".split()

NS_PREFIX = "vd"                # every namespace made here starts with it
SUBNET = "10.229.0"
DB_PORT = 29001                 # raft/dqlite port of every node
API_PORT = 29011                # demo HTTP API of every node
HOST_DB = "127.0.0.1:29002"     # the 1-node runs on the host
HOST_API = "127.0.0.1:29012"
STEP = 60                       # seconds any single step may take


# ---------------------------------------------------------------- trace ---

def read_trace(path):
    """(header dict, calls, dbs, end) of a vfscope trace (trace.rs, v1)."""
    with open(path, "rb") as f:
        b = f.read()
    if b[:8] != b"VFSTRACE":
        raise SystemExit(f"{path}: not a vfscope trace")
    hlen = struct.unpack_from("<I", b, 12)[0]
    header = {
        "pid": struct.unpack_from("<I", b, 16)[0],
        "start_monotonic_ns": struct.unpack_from("<Q", b, 32)[0],
        "sqlite": b[40:64].rstrip(b"\0").decode(),
    }
    calls, dbs, end, at = [], {}, None, hlen
    while at < len(b):
        tag = b[at]
        if tag == 1 and at + 49 <= len(b):
            (start, lat, off, delay, size, rc, tid, op, kind,
             db) = struct.unpack_from("<QQQQIiIBBH", b, at + 1)
            calls.append({"start": start, "lat": lat, "off": off,
                          "delay": delay, "size": size, "rc": rc, "tid": tid,
                          "op": OPS[op], "kind": KINDS[kind], "db": db})
            at += 49
        elif tag == 2 and at + 5 <= len(b):
            idx, n = struct.unpack_from("<HH", b, at + 1)
            dbs[idx] = b[at + 5:at + 5 + n].decode(errors="replace")
            at += 5 + n
        elif tag == 4 and at + 9 <= len(b):
            # Trace version 2: the WAL frame the next call's header write
            # starts (page, commit size); the counts here read the calls.
            at += 9
        elif tag == 3 and at + 25 <= len(b):
            end = dict(zip(("end_ns", "written", "dropped"),
                           struct.unpack_from("<QQQ", b, at + 1)))
            at += 25
        else:
            break
    return header, calls, dbs, end


def fmt_call(c, t0):
    arg = ""
    if c["op"] in ("read", "write", "truncate"):
        arg = f"off={c['off']} size={c['size']}"
    elif c["op"] == "shm_lock":
        n = c["size"]
        slots = ",".join(SLOTS[c["off"]:c["off"] + n])
        arg = f"slot={slots}"
    elif c["op"] in ("lock", "unlock"):
        arg = f"level={LOCKS[c['off']] if c['off'] < 5 else c['off']}"
    elif c["op"] == "shm_map":
        arg = f"region={c['off']} size={c['size']}"
    elif c["op"] == "file_control":
        arg = f"opcode={c['off']}"
    elif c["off"] or c["size"]:
        arg = f"off={c['off']} size={c['size']}"
    return (f"{(c['start'] - t0) / 1e3:12.1f}us tid={c['tid']:<7} "
            f"{c['op']:<22} {c['kind']:<12} {arg:<26} rc={c['rc']} "
            f"{c['lat']}ns")


def transactions(calls):
    """The leader connection's transactions, in order, each a dict: start
    and end ns, WAL frames written (24-byte frame-header writes: SQLite
    writes each frame as its 24-byte header then the page), pages, whether
    the WAL write lock (shm slot 0) was taken. A transaction runs from a
    read-mark lock (shm slots 3-7, n 1) to its unlock; the trace keeps
    xShmLock's offset and n but not its flags, so lock and unlock of a slot
    are told apart by alternation. Calls on the connection dqlite opens
    after every commit (fsm.c maybeCheckpoint: open, WAL size, close) are
    left out: a main_db open other than the first starts one, its close
    ends it."""
    txns, cur, held, opens, aside = [], None, {}, 0, False
    for c in calls:
        if c["kind"] == "main_db" and c["op"] == "open":
            opens += 1
            aside = opens > 1
            continue
        if aside:
            if c["kind"] == "main_db" and c["op"] == "close":
                aside = False
            continue
        if c["op"] == "shm_lock" and c["size"] == 1:
            slot = c["off"]
            held[slot] = not held.get(slot, False)
            if slot >= 3:
                if held[slot] and cur is None:
                    cur = {"start": c["start"], "slot": slot, "frames": 0,
                           "pages": 0, "write_lock": False}
                elif not held[slot] and cur is not None \
                        and cur["slot"] == slot:
                    cur["end"] = c["start"]
                    txns.append(cur)
                    cur = None
            elif slot == 0 and held[0] and cur is not None:
                cur["write_lock"] = True
        elif cur is not None and c["kind"] == "wal" and c["op"] == "write":
            if c["size"] == 24:
                cur["frames"] += 1
            elif c["size"] > 32:
                cur["pages"] += 1
    return txns


def counts(calls):
    txns = transactions(calls)
    writes = [t for t in txns if t["frames"]]
    last = writes[-1]["end"] if writes else 0
    after = [t for t in txns if t["start"] > last and not t["frames"]]
    return {
        "wal_commits": len(writes),
        "wal_frames": sum(t["frames"] for t in writes),
        "frames_per_commit": [t["frames"] for t in writes],
        "read_only_txns_after_last_commit": len(after),
        "main_db_opens": sum(c["op"] == "open" and c["kind"] == "main_db"
                             for c in calls),
        "syncs": sum(c["op"] == "sync" for c in calls),
        "threads": sorted({c["tid"] for c in calls}),
    }


# --------------------------------------------------------------- client ---

def workload(host, port, n_put, n_get, prefix="k"):
    """n_put sequential PUTs then n_get GETs over one keep-alive connection.
    Returns times and per-request (start, end) CLOCK_MONOTONIC ns."""
    conn = http.client.HTTPConnection(host, port, timeout=STEP)
    out = {"put_errors": 0, "get_errors": 0, "put_marks": [], "get_marks": []}

    def req(method, path, body=None):
        t = time.monotonic_ns()
        conn.request(method, path, body=body)
        r = conn.getresponse()
        data = r.read().decode()
        return t, time.monotonic_ns(), r.status, data

    t0 = time.monotonic()
    for i in range(n_put):
        s, e, st, d = req("PUT", f"/{prefix}{i}", f"value-{i}".encode())
        out["put_marks"].append((s, e))
        if st != 200 or d.strip() != "done":
            out["put_errors"] += 1
            out.setdefault("put_first_error", d.strip())
    t1 = time.monotonic()
    for i in range(n_get):
        s, e, st, d = req("GET", f"/{prefix}{i % max(n_put, 1)}")
        out["get_marks"].append((s, e))
        if st != 200 or d.strip() != f"value-{i % max(n_put, 1)}":
            out["get_errors"] += 1
            out.setdefault("get_first_error", d.strip())
    t2 = time.monotonic()
    conn.close()
    out.update(put_s=t1 - t0, get_s=t2 - t1, n_put=n_put, n_get=n_get)
    return out


def wait_http(host, port, deadline, ns=None):
    while time.monotonic() < deadline:
        try:
            if ns:
                r = run(["ip", "netns", "exec", ns, "curl", "-s", "-m", "2",
                         f"http://{host}:{port}/nokey"], check=False)
                if r.returncode == 0 and r.stdout:
                    return
            else:
                c = http.client.HTTPConnection(host, port, timeout=2)
                c.request("GET", "/nokey")
                c.getresponse().read()
                c.close()
                return
        except OSError:
            pass
        time.sleep(0.1)
    raise RuntimeError(f"{host}:{port} did not answer")


# ---------------------------------------------------------- processes -----

def run(cmd, check=True, timeout=STEP):
    return subprocess.run(cmd, check=check, timeout=timeout, text=True,
                          capture_output=True)


class World:
    """Processes, namespaces and directories made here, undone by close()."""

    def __init__(self):
        self.procs, self.namespaces = [], []
        # DQLITE_DATA_DIR: where the nodes keep their raft logs (default: the
        # system temp dir, i.e. a real disk here; /dev/shm takes fsync out)
        self.dir = tempfile.mkdtemp(prefix="vfscope-dqlite-",
                                    dir=os.environ.get("DQLITE_DATA_DIR"))

    def start(self, cmd, ns=None, log="node"):
        if ns:
            cmd = ["ip", "netns", "exec", ns] + cmd
        f = open(os.path.join(self.dir, log + ".log"), "w")
        p = subprocess.Popen(cmd, stdout=f, stderr=subprocess.STDOUT,
                             start_new_session=True)
        self.procs.append(p)
        return p

    def stop(self, p, wait=20):
        """SIGTERM to the process group (vfscope run, and the node it runs);
        vfscope run waits for the node, then writes its report."""
        if p.poll() is None:
            kids = []
            try:
                with open(f"/proc/{p.pid}/task/{p.pid}/children") as f:
                    kids = [int(k) for k in f.read().split()]
            except OSError:
                pass
            if kids and "vfscope" in " ".join(p.args[:1]):
                targets = kids  # vfscope run: end the node, vfscope reaps it
            else:
                targets = [-p.pid]
            for t in targets:
                try:
                    os.kill(t, signal.SIGTERM) if t > 0 else \
                        os.killpg(-t, signal.SIGTERM)
                except ProcessLookupError:
                    pass
            try:
                p.wait(wait)
            except subprocess.TimeoutExpired:
                os.killpg(p.pid, signal.SIGKILL)
                p.wait(5)
        if p in self.procs:
            self.procs.remove(p)

    def netns(self, name):
        assert name.startswith(NS_PREFIX)
        run(["ip", "netns", "add", name])
        self.namespaces.append(name)
        run(["ip", "-n", name, "link", "set", "lo", "up"])

    def close(self):
        for p in list(self.procs):
            self.stop(p, wait=10)
        for ns in reversed(self.namespaces):
            run(["ip", "netns", "del", ns], check=False)
        self.namespaces = []
        shutil.rmtree(self.dir, ignore_errors=True)


def node_cmd(api, db, data, join=None):
    cmd = ["dqlite-demo", "-a", api, "-d", db, "-D", data]
    if join:
        cmd += ["-j", join]
    return cmd


def one_node(world, vfscope, trace, n_put, n_get, tag):
    """A 1-node cluster on the host at RTT 0, bare (vfscope None) or under
    `vfscope run --record trace`. Returns the client's result."""
    data = os.path.join(world.dir, tag)
    cmd = node_cmd(HOST_API, HOST_DB, data)
    if vfscope:
        cmd = [vfscope, "run", "--quiet", "--wait", "5", "--record", trace,
               "--json", trace + ".report.json", "--"] + cmd
    p = world.start(cmd, log=tag)
    host, port = HOST_API.split(":")
    wait_http(host, int(port), time.monotonic() + STEP)
    res = workload(host, int(port), n_put, n_get)
    world.stop(p, wait=30)
    shutil.rmtree(data, ignore_errors=True)
    return res


# ------------------------------------------------------------- network ----
#
# The kernel here has no netem (CONFIG_NET_SCH_NETEM unset; only htb and tbf
# qdiscs, no tc classifiers), so the links are delay proxies: namespaces vd1,
# vd2, vd3 each hold all three addresses 10.229.0.{1,2,3} on lo; node N
# listens on 10.229.0.N in vdN, and in every other namespace a proxy listens
# on 10.229.0.N (raft port and API port) and forwards into vdN (the proxy
# opens its outgoing socket inside vdN with setns). Each byte that crosses a
# link is delayed once by half the link's round trip, in both directions.
# No veth, no bridge: the only way between namespaces is the proxies.

CLONE_NEWNET = 0x40000000


def _setns(fd):
    import ctypes
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.setns(fd, CLONE_NEWNET) != 0:
        raise OSError(ctypes.get_errno(), "setns")


def proxy_main(spec):
    """spec: LISTEN_IP:PORT=TARGET_NS:TARGET_IP:PORT@ONE_WAY_MS,... Runs
    until killed. Threads: an acceptor per listener, two pumps per
    connection, each a reader and a writer that sends every chunk at its
    arrival time plus the one-way delay (order kept)."""
    import collections
    import socket
    import threading
    own = os.open("/proc/thread-self/ns/net", os.O_RDONLY)

    def pump(src, dst, delay):
        q, cv = collections.deque(), threading.Condition()

        def reader():
            while True:
                try:
                    data = src.recv(65536)
                except OSError:
                    data = b""
                with cv:
                    q.append((time.monotonic() + delay, data))
                    cv.notify()
                if not data:
                    return

        def writer():
            while True:
                with cv:
                    while not q:
                        cv.wait()
                    due, data = q.popleft()
                wait = due - time.monotonic()
                if wait > 0:
                    time.sleep(wait)
                try:
                    if not data:
                        dst.shutdown(socket.SHUT_WR)
                        return
                    dst.sendall(data)
                except OSError:
                    src.close()
                    return
        threading.Thread(target=reader, daemon=True).start()
        threading.Thread(target=writer, daemon=True).start()

    def serve(listen, target_ns, target, delay):
        ls = socket.socket()
        ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        ls.bind(listen)
        ls.listen(64)
        nsfd = os.open(f"/var/run/netns/{target_ns}", os.O_RDONLY)
        while True:
            c, _ = ls.accept()
            _setns(nsfd)
            try:
                o = socket.socket()
            finally:
                _setns(own)
            try:
                o.connect(target)
            except OSError:
                c.close()
                o.close()
                continue
            for x in (c, o):
                x.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            pump(c, o, delay)
            pump(o, c, delay)

    for item in spec.split(","):
        listen, rest = item.split("=")
        rest, ms_ = rest.split("@")
        tns, tip, tport = rest.split(":")
        lip, lport = listen.split(":")
        threading.Thread(target=serve, daemon=True,
                         args=((lip, int(lport)), tns, (tip, int(tport)),
                               float(ms_) / 2e3)).start()
    print("ready", flush=True)
    while True:
        time.sleep(3600)


def build_net(world):
    """Namespaces vd1 vd2 vd3, each with 10.229.0.{1,2,3}/32 on lo."""
    for i in (1, 2, 3):
        ns = f"vd{i}"
        world.netns(ns)
        for j in (1, 2, 3):
            run(["ip", "-n", ns, "addr", "add", f"{SUBNET}.{j}/32",
                 "dev", "lo"])


def start_links(world, rtt_ms, tag):
    """rtt_ms[(a, b)] (a < b): round trip between nodes a and b. One proxy
    process per namespace, for the raft and API ports of both peers."""
    procs = []
    for a in (1, 2, 3):
        items = []
        for b in (1, 2, 3):
            if a == b:
                continue
            rtt = rtt_ms[tuple(sorted((a, b)))]
            for port in (DB_PORT, API_PORT):
                items.append(f"{SUBNET}.{b}:{port}=vd{b}:{SUBNET}.{b}:"
                             f"{port}@{rtt}")
        p = world.start([sys.executable, __file__, "proxy", ",".join(items)],
                        ns=f"vd{a}", log=f"{tag}-proxy{a}")
        procs.append(p)
    deadline = time.monotonic() + 10
    for a in (1, 2, 3):
        log = os.path.join(world.dir, f"{tag}-proxy{a}.log")
        while "ready" not in open(log).read():
            if time.monotonic() > deadline:
                raise RuntimeError(f"proxy in vd{a} did not start")
            time.sleep(0.05)
    return procs


def measured_rtt(a, b):
    """Median over 5 of (HTTP GET to node b's API from vd{a}, through the
    proxy) minus (the same GET from beside node b), in ms."""
    def median_get(ns):
        r = run(["ip", "netns", "exec", ns, sys.executable, __file__,
                 "probe", f"{SUBNET}.{b}", str(API_PORT)], check=False)
        try:
            return float(r.stdout)
        except ValueError:
            return float("nan")
    return median_get(f"vd{a}") - median_get(f"vd{b}")


def probe(host, port, n=9):
    """Median time in ms of one GET on a warm keep-alive connection (the
    request and the answer cross the link once each)."""
    times = []
    c = http.client.HTTPConnection(host, port, timeout=10)
    for k in range(n + 2):
        t = time.monotonic()
        c.request("GET", "/probe")
        c.getresponse().read()
        if k >= 2:
            times.append((time.monotonic() - t) * 1e3)
    c.close()
    return statistics.median(times)


def cluster_roles(ns, addr):
    r = run(["ip", "netns", "exec", ns, "dqlite", "-s", addr, "demo",
             ".cluster"], check=False, timeout=15)
    return r.stdout


def three_nodes(world, rtt_ms, n_put, n_get, tag):
    """A fresh 3-node cluster (node 1 bootstraps and leads; the client runs
    beside it in vd1), the given per-pair round trips; returns the client's
    result."""
    links = start_links(world, rtt_ms, tag)
    procs = []
    lead = f"{SUBNET}.1:{DB_PORT}"
    for i in (1, 2, 3):
        data = os.path.join(world.dir, f"{tag}-n{i}")
        cmd = node_cmd(f"{SUBNET}.{i}:{API_PORT}", f"{SUBNET}.{i}:{DB_PORT}",
                       data, join=None if i == 1 else lead)
        procs.append(world.start(cmd, ns=f"vd{i}", log=f"{tag}-n{i}"))
        wait_http(f"{SUBNET}.{i}", API_PORT, time.monotonic() + STEP,
                  ns=f"vd{i}")
    # go-dqlite's app promotes joiners to voters in the background
    deadline = time.monotonic() + STEP
    while True:
        roles = cluster_roles("vd1", lead)
        if roles.count("voter") >= 3:
            break
        if time.monotonic() > deadline:
            raise RuntimeError("cluster never had 3 voters:\n" + roles)
        time.sleep(0.2)
    rtts = {f"{a}-{b}": round(measured_rtt(a, b), 2)
            for a, b in ((1, 2), (1, 3))}
    r = run(["ip", "netns", "exec", "vd1", sys.executable, __file__,
             "client", f"{SUBNET}.1", str(API_PORT), str(n_put), str(n_get)],
            timeout=STEP * 10)
    res = json.loads(r.stdout)
    # the leader must still be node 1 (the client wrote to it throughout)
    after = cluster_roles("vd1", lead)
    res["roles"] = after
    res["measured_rtt_ms"] = rtts
    print(f"  {tag}: PUT {res['put_s']:.3f} s GET {res['get_s']:.3f} s, "
          f"measured RTT {rtts}", file=sys.stderr)
    for p in reversed(procs):
        world.stop(p)
    for p in links:
        world.stop(p)
    for i in (1, 2, 3):
        shutil.rmtree(os.path.join(world.dir, f"{tag}-n{i}"),
                      ignore_errors=True)
    return res


# -------------------------------------------------------------- replay ----

def replay(vfscope, trace, model, out):
    try:
        r = run([vfscope, "replay", trace, "--latency", model, "--json", out],
                check=False, timeout=STEP * 5)
    except subprocess.TimeoutExpired:
        return None, "replay timed out"
    if r.returncode != 0:
        return None, (r.stderr.strip().splitlines() or ["failed"])[-1]
    with open(out) as f:
        j = json.load(f)
    if isinstance(j, list):
        j = j[0]
    return j, None


# --------------------------------------------------------------- bench ----

def ms(s):
    return f"{s * 1e3:.0f} ms"


def bench(vfscope, rtts):
    n_put = int(os.environ.get("DQLITE_PUTS", "200"))
    n_get = int(os.environ.get("DQLITE_GETS", "200"))
    reps = int(os.environ.get("DQLITE_REPS", "3"))
    model_fmt = os.environ.get("DQLITE_MODEL", "raft-wal:rtt=%sms")
    keep = os.environ.get("DQLITE_KEEP")   # directory to keep the trace in
    world = World()
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    try:
        trace = os.path.join(keep or world.dir, "dqlite-1node.trace")
        print(f"dqlite-demo {n_put} PUTs then {n_get} GETs, one keep-alive "
              f"HTTP client beside the leader; median of {reps}",
              file=sys.stderr)
        bare = [one_node(world, None, None, n_put, n_get, f"bare{k}")
                for k in range(reps)]
        rec = one_node(world, vfscope, trace, n_put, n_get, "rec")
        for r in bare + [rec]:
            if r["put_errors"] or r["get_errors"]:
                raise RuntimeError(f"1-node errors: {r}")
        b_put = statistics.median(r["put_s"] for r in bare)
        b_get = statistics.median(r["get_s"] for r in bare)
        print(f"1-node bare: PUT {ms(b_put)} GET {ms(b_get)}; under vfscope "
              f"run --record: PUT {ms(rec['put_s'])} GET {ms(rec['get_s'])}",
              file=sys.stderr)
        build_net(world)
        rows, real, measured = [], {}, {}
        for rtt in rtts:
            pair = {k: float(rtt) for k in ((1, 2), (1, 3), (2, 3))}
            runs = [three_nodes(world, pair, n_put, n_get, f"r{rtt}-{k}")
                    for k in range(reps)]
            for r in runs:
                if r["put_errors"] or r["get_errors"]:
                    raise RuntimeError(f"RTT {rtt}: errors: {r}")
            put = statistics.median(r["put_s"] for r in runs)
            get = statistics.median(r["get_s"] for r in runs)
            tot = statistics.median(r["put_s"] + r["get_s"] for r in runs)
            real[rtt] = (put, get, tot)
            measured[rtt] = runs[len(runs) // 2]["measured_rtt_ms"]
            # The model gets the links' round trip as measured through the
            # delay proxies (a user would ping the real network), not the
            # nominal one: the proxies add 0.2-0.8 ms.
            link = statistics.median(measured[rtt].values())
            model = model_fmt.replace("%s", f"{link:g}")
            pred, why = replay(vfscope, trace, model,
                               os.path.join(world.dir, f"replay-{rtt}.json"))
            if pred:
                p = pred["predicted_ns"] / 1e9
                rows.append((rtt, put, get, tot, ms(p), f"{p / tot:.2f}"))
            else:
                print(f"RTT {rtt}: no prediction for {model!r}: {why} "
                      "(the model is missing?)", file=sys.stderr)
                rows.append((rtt, put, get, tot, "n/a", "n/a"))
            print(f"RTT {rtt} ms: PUT {ms(put)} GET {ms(get)} "
                  f"(runs: {[round(r['put_s'], 3) for r in runs]})",
                  file=sys.stderr)
        asym = None
        if os.environ.get("DQLITE_ASYM", "2,10"):
            fa, fb = (float(x) for x in
                      os.environ.get("DQLITE_ASYM", "2,10").split(","))
            pair = {(1, 2): fa, (1, 3): fb, (2, 3): max(fa, fb)}
            runs = [three_nodes(world, pair, n_put, n_get, f"asym-{k}")
                    for k in range(reps)]
            asym = (fa, fb, statistics.median(r["put_s"] for r in runs))
        print()
        print(f"Nodes' data in {os.path.dirname(world.dir)} "
              f"({fs_type(world.dir)}); links: delay proxies, measured round "
              "trips (median GET through the link minus beside the node): "
              + "; ".join(f"RTT {x}: {v}" for x, v in measured.items()))
        print()
        print(f"dqlite-demo (go-dqlite {pkg_version('go-dqlite')}, libdqlite0 "
              f"{pkg_version('libdqlite0')}, libraft2 "
              f"{pkg_version('libraft2')}, libsqlite3-0 "
              f"{pkg_version('libsqlite3-0')}): {n_put} sequential PUTs then "
              f"{n_get} GETs, 3 voters, client beside the leader; real: "
              f"median of {reps}; predicted: `vfscope replay` of a 1-node "
              f"recording with `--latency '{model_fmt}'`.")
        print()
        print("| RTT | real PUT phase | real GET phase | real total "
              "| predicted total | predicted/real |")
        print("|---|---|---|---|---|---|")
        for rtt, put, get, tot, p, ratio in rows:
            print(f"| {rtt} ms | {ms(put)} | {ms(get)} | {ms(tot)} | {p} "
                  f"| {ratio} |")
        print()
        print(f"1-node cluster, RTT 0: PUT phase {ms(b_put)} bare, "
              f"{ms(rec['put_s'])} recorded; GET phase {ms(b_get)} bare, "
              f"{ms(rec['get_s'])} recorded.")
        if 0 in real or 0.0 in real:
            r0 = real.get(0, real.get(0.0))
            print(f"Per write beyond one node at RTT 0: "
                  f"{(r0[0] - b_put) / n_put * 1e3:.3f} ms.")
        xs = sorted(real)
        if len(xs) >= 2:
            ys = [real[x][0] / n_put * 1e3 for x in xs]
            mx, my = statistics.mean(xs), statistics.mean(ys)
            sxx = sum((x - mx) ** 2 for x in xs)
            slope = sum((x - mx) * (y - my) for x, y in zip(xs, ys)) / sxx
            print(f"Per write vs RTT: {slope:.3f} ms per ms of RTT "
                  f"(least squares over RTT {xs}); per GET: "
                  + ", ".join(f"{real[x][1] / n_get * 1e3:.3f} ms at {x}"
                              for x in xs) + ".")
        if asym:
            fa, fb, put = asym
            print(f"Followers at RTT {fa} and {fb} ms: PUT phase {ms(put)}, "
                  f"{put / n_put * 1e3:.3f} ms per write.")
    finally:
        world.close()


def fs_type(path):
    r = run(["df", "--output=fstype", path], check=False)
    return (r.stdout.split() or ["?", "?"])[-1]


def pkg_version(name):
    r = run(["dpkg-query", "-W", "-f", "${Version}", name], check=False)
    return r.stdout.strip() or "?"


# ---------------------------------------------------------------- main ----

def main(argv):
    if not argv:
        raise SystemExit(__doc__)
    cmd, args = argv[0], argv[1:]
    if cmd == "bench":
        bench(args[0], [int(a) if a.isdigit() else float(a)
                        for a in args[1:]] or [0, 2, 5, 10])
    elif cmd == "client":
        res = workload(args[0], int(args[1]), int(args[2]), int(args[3]),
                       *(args[4:5]))
        print(json.dumps(res))
    elif cmd == "proxy":
        proxy_main(args[0])
    elif cmd == "probe":
        print(f"{probe(args[0], int(args[1])):.3f}")
    elif cmd == "record":
        world = World()
        try:
            res = one_node(world, args[0], os.path.abspath(args[1]),
                           int(args[2]), int(args[3]), "record")
        finally:
            world.close()
        print(json.dumps(res))
    elif cmd == "decode":
        _, calls, dbs, end = read_trace(args[0])
        lo = int(args[1]) if len(args) > 1 else 0
        hi = int(args[2]) if len(args) > 2 else 1 << 64
        t0 = lo or (calls[0]["start"] if calls else 0)
        for c in calls:
            if lo <= c["start"] <= hi:
                print(fmt_call(c, t0))
    elif cmd == "count":
        header, calls, dbs, end = read_trace(args[0])
        out = {"sqlite": header["sqlite"], "calls": len(calls),
               "dbs": dbs, "end_record": end is not None}
        out.update(counts(calls))
        print(json.dumps(out))
    else:
        raise SystemExit(__doc__)


if __name__ == "__main__":
    main(sys.argv[1:])
