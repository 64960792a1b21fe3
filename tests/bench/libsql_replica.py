"""The libsql-replica preset against a real libSQL embedded replica (see
libsql_replica.sh for what, how and the ports). Usage:
    libsql_replica.py VFSCOPE WORKDIR [ONE_WAY_MS...]
"""
import asyncio
import http.client
import json
import os
import shutil
import statistics
import subprocess
import sys
import time
import urllib.request

SQLD_PORT, PROXY_PORT = 18400, 18410
os.environ.setdefault("RUST_LOG", "error")  # the client logs every handshake
REPS = int(os.environ.get("LIBSQL_BENCH_REPS", "5"))
INSERT = "INSERT INTO t(v) VALUES ('x')"
# name -> (statements, round trips per write transaction as measured)
WORKLOADS = {
    "20 autocommit INSERTs": ([INSERT] * 20, 3),
    "5 x (BEGIN, 5 INSERTs, COMMIT)": ((["BEGIN"] + [INSERT] * 5 + ["COMMIT"]) * 5, 21),
}


class DelayProxy:
    """TCP proxy holding every chunk `one_way` seconds in each direction,
    in order (what a link of that latency does to a request/response).
    Run in a process of its own (`libsql_replica.py proxy ONE_WAY_MS`):
    libsql_experimental keeps the GIL while it waits for the network, so
    a proxy thread in the client's process would never run."""

    def __init__(self, listen, target, one_way):
        self.listen, self.target, self.one_way = listen, target, one_way
        self.loop = asyncio.new_event_loop()

    def serve(self):
        asyncio.set_event_loop(self.loop)
        self.loop.run_until_complete(
            asyncio.start_server(self._client, "127.0.0.1", self.listen))
        print("listening", flush=True)
        self.loop.run_forever()

    async def _client(self, reader, writer):
        up_reader, up_writer = await asyncio.open_connection("127.0.0.1", self.target)
        await asyncio.gather(self._pump(reader, up_writer), self._pump(up_reader, writer))

    async def _pump(self, reader, writer):
        queue = asyncio.Queue()

        async def deliver():
            while True:
                due, data = await queue.get()
                if data is None:
                    break
                delay = due - self.loop.time()
                if delay > 0:
                    await asyncio.sleep(delay)
                writer.write(data)
                await writer.drain()
            writer.close()

        sender = asyncio.ensure_future(deliver())
        try:
            while data := await reader.read(65536):
                queue.put_nowait((self.loop.time() + self.one_way, data))
        except ConnectionError:
            pass
        queue.put_nowait((0, None))
        await sender


def primary(statements):
    """Statements run on the primary directly (Hrana over HTTP)."""
    requests = [{"type": "execute", "stmt": {"sql": s}} for s in statements]
    body = json.dumps({"requests": requests + [{"type": "close"}]}).encode()
    request = urllib.request.Request(
        f"http://127.0.0.1:{SQLD_PORT}/v2/pipeline", data=body,
        headers={"content-type": "application/json"})
    with urllib.request.urlopen(request, timeout=30) as answer:
        for result in json.loads(answer.read())["results"]:
            if result["type"] != "ok":
                raise RuntimeError(result)


def measured_round_trip():
    """Median time of one HTTP exchange through the proxy, in ms: the
    round trip the model gets (the link's delay and the proxy's own cost)."""
    conn = http.client.HTTPConnection("127.0.0.1", PROXY_PORT, timeout=30)
    times = []
    for _ in range(31):
        t0 = time.perf_counter()
        conn.request("GET", "/health")
        conn.getresponse().read()
        times.append(time.perf_counter() - t0)
    conn.close()
    return statistics.median(times[1:]) * 1e3


def real_run(work, statements):
    """The workload on a fresh embedded replica: wall time in ms."""
    import libsql_experimental

    d = os.path.join(work, "replica")
    shutil.rmtree(d, ignore_errors=True)
    os.makedirs(d)
    conn = libsql_experimental.connect(
        os.path.join(d, "replica.db"), sync_url=f"http://127.0.0.1:{PROXY_PORT}",
        auth_token="", isolation_level=None)
    conn.sync()
    t0 = time.perf_counter()
    for s in statements:
        conn.execute(s)
    elapsed = (time.perf_counter() - t0) * 1e3
    conn.close()
    return elapsed


# Run by the recorded process: the statements on a plain file, timed.
LOCAL = """
import sqlite3, sys, time, json
conn = sqlite3.connect(sys.argv[1], isolation_level=None)
statements = json.loads(sys.argv[2])
t0 = time.perf_counter()
for s in statements:
    conn.execute(s)
print((time.perf_counter() - t0) * 1e3)
"""


def predicted_run(vfscope, work, statements, model):
    """The same statements by Python's sqlite3 under `vfscope run
    --record`, replayed under `model`: (predicted ms, charges)."""
    db = os.path.join(work, "plain.db")
    trace = os.path.join(work, "plain.trace")
    for f in (db, db + "-journal", trace):
        if os.path.exists(f):
            os.remove(f)
    import sqlite3
    sqlite3.connect(db).execute("CREATE TABLE t(id INTEGER PRIMARY KEY, v TEXT)").connection.close()
    out = subprocess.run(
        [vfscope, "run", "--quiet", "--record", trace, "--", sys.executable, "-c", LOCAL,
         db, json.dumps(statements)],
        capture_output=True, text=True, timeout=120, check=True)
    local_ms = float(out.stdout.strip())
    answer = os.path.join(work, "replay.json")
    subprocess.run(
        [vfscope, "replay", trace, "--latency", model, "--json", answer],
        capture_output=True, text=True, timeout=120, check=True)
    with open(answer) as f:
        p = json.load(f)
    charges = sum(o["charged"] for o in p["operations"])
    return local_ms + (p["predicted_ns"] - p["recorded_ns"]) / 1e6, charges


def main(argv):
    vfscope, work = argv[1], argv[2]
    one_ways = [float(x) for x in argv[3:]] or [0.0, 5.0, 10.0]
    data = os.path.join(work, "data")
    shutil.rmtree(data, ignore_errors=True)
    os.makedirs(data)
    sqld = subprocess.Popen(
        [os.path.join(work, "package", "sqld"), "--no-welcome", "--db-path",
         os.path.join(data, "primary.sqld"), "--http-listen-addr", f"127.0.0.1:{SQLD_PORT}"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        env=dict(os.environ, RUST_LOG="error"))
    try:
        deadline = time.time() + 30
        while True:
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{SQLD_PORT}/health", timeout=2)
                break
            except OSError:
                if time.time() > deadline or sqld.poll() is not None:
                    raise SystemExit("sqld did not start")
                time.sleep(0.2)
        primary(["CREATE TABLE t(id INTEGER PRIMARY KEY, v TEXT)"])
        proxy = None
        print("| workload | one way | round trip through the proxy | real (median of %d) "
              "| predicted by replay | real / predicted | charged |" % REPS)
        print("|---|---:|---:|---:|---:|---:|---:|")
        for one_way in one_ways:
            if proxy:
                stop(proxy)
            proxy = subprocess.Popen(
                [sys.executable, __file__, "proxy", str(one_way)],
                stdout=subprocess.PIPE, text=True)
            proxy.stdout.readline()
            rtt = measured_round_trip()
            for name, (statements, round_trips) in WORKLOADS.items():
                model = (f"libsql-replica:rtt={rtt:.3f}ms,rtt_p99={rtt:.3f}ms,"
                         f"round_trips={round_trips}")
                real = statistics.median(real_run(work, statements) for _ in range(REPS))
                runs = [predicted_run(vfscope, work, statements, model) for _ in range(REPS)]
                predicted = statistics.median(r[0] for r in runs)
                charges = runs[0][1]
                print(f"| {name} | {one_way:g} ms | {rtt:.2f} ms | {real:.1f} ms "
                      f"| {predicted:.1f} ms | {real / predicted:.3f} | {charges} |", flush=True)
    finally:
        if proxy:
            stop(proxy)
        stop(sqld)


def stop(process):
    process.terminate()
    try:
        process.wait(10)
    except subprocess.TimeoutExpired:
        process.kill()


if __name__ == "__main__":
    if sys.argv[1:2] == ["proxy"]:
        DelayProxy(PROXY_PORT, SQLD_PORT, float(sys.argv[2]) / 1e3).serve()
    else:
        main(sys.argv)
