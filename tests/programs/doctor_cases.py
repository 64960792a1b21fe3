"""Programs with the problems `vfscope doctor` finds, and the same programs
with the change it names applied. Python's stdlib sqlite3 (the Debian
SQLite), or apsw (its own SQLite) for `--binding apsw`.

usage: doctor_cases.py CASE VARIANT DB [--binding sqlite3|apsw]
  CASE     autocommit | temp-spill | churn | busy | wal-batched |
           cache-rereads | wal-starved
  VARIANT  problem | fixed (the change the finding names) | batched
Prints {"elapsed_s": the workload's time, ...} as its last line.
"""

import json
import os
import subprocess
import sys
import time

case, variant, db = sys.argv[1], sys.argv[2], sys.argv[3]
binding = sys.argv[5] if len(sys.argv) > 5 and sys.argv[4] == "--binding" else "sqlite3"


class Con:
    """One connection through the chosen binding, in autocommit mode."""

    def __init__(self, path, timeout=0.0):
        if binding == "apsw":
            import apsw

            self.c = apsw.Connection(path)
            self.c.set_busy_timeout(int(timeout * 1000))
        else:
            import sqlite3

            self.c = sqlite3.connect(path, isolation_level=None, timeout=timeout)

    def run(self, sql, args=()):
        if binding == "apsw":
            return list(self.c.cursor().execute(sql, args))
        return self.c.execute(sql, args).fetchall()

    def close(self):
        self.c.close()


def autocommit(n=300):
    con = Con(db)
    fixed = variant == "fixed"
    con.run("PRAGMA journal_mode=" + ("WAL" if fixed else "DELETE"))
    if fixed:
        con.run("PRAGMA synchronous=NORMAL")
    con.run("CREATE TABLE IF NOT EXISTS t(id INTEGER PRIMARY KEY, v TEXT)")
    start = time.monotonic()
    if variant == "batched":
        for b in range(0, n, 100):
            con.run("BEGIN")
            for i in range(b, b + 100):
                con.run("INSERT INTO t(v) VALUES (?)", (f"row {i}",))
            con.run("COMMIT")
    else:
        for i in range(n):
            con.run("INSERT INTO t(v) VALUES (?)", (f"row {i}",))
    elapsed = time.monotonic() - start
    con.close()
    return elapsed


def temp_spill():
    con = Con(db)
    con.run("PRAGMA temp_store=" + ("MEMORY" if variant == "fixed" else "FILE"))
    con.run("PRAGMA cache_size=-256")
    con.run("CREATE TABLE IF NOT EXISTS t(id INTEGER PRIMARY KEY, v TEXT)")
    con.run("BEGIN")
    con.run("WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 30000) "
            "INSERT INTO t(v) SELECT hex(randomblob(40)) FROM n")
    con.run("COMMIT")
    start = time.monotonic()
    for _ in range(3):
        con.run("SELECT v FROM t ORDER BY v LIMIT 1 OFFSET 20000")
        con.run("SELECT count(*) FROM (SELECT DISTINCT substr(v, 1, 12) FROM t)")
    elapsed = time.monotonic() - start
    con.close()
    return elapsed


def churn(n=200):
    setup = Con(db)
    setup.run("PRAGMA journal_mode=WAL")
    setup.run("CREATE TABLE IF NOT EXISTS t(id INTEGER PRIMARY KEY, v TEXT)")
    setup.run("INSERT INTO t(v) SELECT hex(randomblob(16)) FROM (SELECT 1 UNION SELECT 2)")
    setup.close()
    start = time.monotonic()
    if variant == "fixed":
        con = Con(db)
        for i in range(n):
            con.run("SELECT count(*) FROM t WHERE id > ?", (i % 2,))
        con.close()
    else:
        for i in range(n):
            con = Con(db)
            con.run("SELECT count(*) FROM t WHERE id > ?", (i % 2,))
            con.close()
    return time.monotonic() - start


def busy(n=20):
    """A writer holds the write lock in bursts; this process writes too."""
    setup = Con(db)
    setup.run("PRAGMA journal_mode=WAL")
    setup.run("CREATE TABLE IF NOT EXISTS t(id INTEGER PRIMARY KEY, v TEXT)")
    setup.close()
    holder = subprocess.Popen(
        [sys.executable, "-c", (
            "import sqlite3, sys, time\n"
            "con = sqlite3.connect(sys.argv[1], isolation_level=None, timeout=10)\n"
            "print('ready', flush=True)\n"
            "for i in range(15):\n"
            "    con.execute('BEGIN IMMEDIATE'); con.execute(\"INSERT INTO t(v) VALUES ('h')\")\n"
            "    time.sleep(0.1); con.execute('COMMIT'); time.sleep(0.02)\n"
        ), db],
        stdout=subprocess.PIPE, text=True,
    )
    holder.stdout.readline()
    con = Con(db, timeout=5.0 if variant == "fixed" else 0.0)
    failed = 0
    start = time.monotonic()
    for i in range(n):
        try:
            con.run("INSERT INTO t(v) VALUES (?)", (f"w{i}",))
        except Exception as e:  # sqlite3.OperationalError / apsw.BusyError
            if "locked" not in str(e) and "Busy" not in type(e).__name__:
                raise
            failed += 1
        time.sleep(0.05)
    elapsed = time.monotonic() - start
    con.close()
    holder.wait(timeout=60)
    return elapsed, failed


def cache_rereads(scans=20):
    """Full scans of a 4 MiB table through a 10-page cache; the change:
    a cache that holds the database."""
    con = Con(db)
    con.run("PRAGMA journal_mode=WAL")
    con.run("CREATE TABLE IF NOT EXISTS t(id INTEGER PRIMARY KEY, v BLOB)")
    con.run("BEGIN")
    con.run("WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 1000) "
            "INSERT INTO t(v) SELECT randomblob(3500) FROM n")
    con.run("COMMIT")
    con.run("PRAGMA cache_size=" + ("-65536" if variant == "fixed" else "10"))
    start = time.monotonic()
    for _ in range(scans):
        con.run("SELECT sum(length(v)) FROM t")
    elapsed = time.monotonic() - start
    con.close()
    return elapsed


def wal_starved(rows=6000):
    """A reader keeps a read transaction open while a writer commits 24 MiB
    in small transactions: checkpoints cannot reset the WAL. The change:
    the reader ends its read transaction at once."""
    setup = Con(db)
    setup.run("PRAGMA journal_mode=WAL")
    setup.run("CREATE TABLE IF NOT EXISTS t(id INTEGER PRIMARY KEY, v BLOB)")
    setup.run("INSERT INTO t(v) VALUES (x'00')")
    setup.close()
    reader = Con(db)
    reader.run("BEGIN")
    reader.run("SELECT count(*) FROM t")
    if variant == "fixed":
        reader.run("COMMIT")
    writer = Con(db)
    start = time.monotonic()
    for b in range(0, rows, 100):
        writer.run("BEGIN")
        for _ in range(100):
            writer.run("INSERT INTO t(v) VALUES (randomblob(3900))")
        writer.run("COMMIT")
    elapsed = time.monotonic() - start
    if variant != "fixed":
        reader.run("COMMIT")
    reader.close()
    writer.close()
    return elapsed


def wal_batched(n=3000):
    con = Con(db)
    con.run("PRAGMA journal_mode=WAL")
    con.run("PRAGMA synchronous=NORMAL")
    con.run("CREATE TABLE IF NOT EXISTS t(id INTEGER PRIMARY KEY, v TEXT)")
    start = time.monotonic()
    for b in range(0, n, 500):
        con.run("BEGIN")
        for i in range(b, b + 500):
            con.run("INSERT INTO t(v) VALUES (?)", (f"row {i}",))
        con.run("COMMIT")
    for i in range(200):
        con.run("SELECT v FROM t WHERE id = ?", (i * 7 + 1,))
    elapsed = time.monotonic() - start
    con.close()
    return elapsed


out = {"case": case, "variant": variant, "binding": binding}
if case == "autocommit":
    out["elapsed_s"] = autocommit()
elif case == "temp-spill":
    out["elapsed_s"] = temp_spill()
elif case == "churn":
    out["elapsed_s"] = churn()
elif case == "busy":
    out["elapsed_s"], out["failed"] = busy()
elif case == "wal-batched":
    out["elapsed_s"] = wal_batched()
elif case == "cache-rereads":
    out["elapsed_s"] = cache_rereads()
elif case == "wal-starved":
    out["elapsed_s"] = wal_starved()
else:
    sys.exit(f"unknown case {case!r}")
print(json.dumps(out))
