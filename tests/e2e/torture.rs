//! Torture: vfscope inside other people's processes must never be the
//! reason something breaks. Load, kills, a full disk, a panic inside the
//! shim, odd hosts, bad settings.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::Duration;
use vfscope_segment::trace::read_trace;
use vfscope_segment::{list_segments, LockLevel, LockSnapshot, SegmentReader, Snapshot};
use vfscope_tests::{built, have, sqlite3, vfscope_run_python};

/// `sqlite3 DB SQL` with libvfscope.so preloaded and `env` added.
fn preloaded_sqlite3(db: &Path, sql: &str, env: &[(&str, &str)]) -> Output {
    let mut command = Command::new(sqlite3());
    command
        .arg(db)
        .arg(sql)
        .env("LD_PRELOAD", built("libvfscope.so"));
    for (k, v) in env {
        command.env(k, v);
    }
    command.output().unwrap()
}

/// A database `name` in `dir` with a table of three rows (sum 6), made by
/// the sqlite3 CLI without vfscope.
fn three_rows(dir: &Path, name: &str) -> std::path::PathBuf {
    let db = dir.join(name);
    let setup = Command::new(sqlite3())
        .arg(&db)
        .arg("CREATE TABLE t(v); INSERT INTO t VALUES (1), (2), (3);")
        .output()
        .unwrap();
    assert!(setup.status.success());
    db
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

fn integrity(db: &Path) -> String {
    let out = Command::new(sqlite3())
        .arg(db)
        .arg("PRAGMA integrity_check;")
        .output()
        .unwrap();
    text(&out.stdout).trim().to_string()
}

fn snapshots(dir: &Path) -> Vec<(PathBuf, Snapshot)> {
    list_segments(dir)
        .unwrap()
        .into_iter()
        .map(|p| {
            let s = SegmentReader::open(&p).unwrap().snapshot();
            (p, s)
        })
        .collect()
}

/// Every level but NONE: entries = exits + files closed holding it.
fn assert_balanced(locks: &LockSnapshot, what: &str) {
    for level in &LockLevel::ALL[1..] {
        let into: u64 = LockLevel::ALL
            .iter()
            .map(|f| locks.transition(*f, *level))
            .sum();
        let out: u64 = LockLevel::ALL
            .iter()
            .map(|t| locks.transition(*level, *t))
            .sum();
        assert_eq!(
            into,
            out + locks.closed_holding[level.index()],
            "{what}: {level}"
        );
    }
}

#[test]
fn a_panic_inside_vfscope_never_reaches_the_host() {
    let dir = tempfile::tempdir().unwrap();
    let db = three_rows(dir.path(), "panic.db");
    let segments = dir.path().join("segments");
    let out = preloaded_sqlite3(
        &db,
        "SELECT sum(v) FROM t; INSERT INTO t VALUES (4); SELECT sum(v) FROM t;",
        &[
            ("VFSCOPE_TEST_PANIC", "read"),
            ("VFSCOPE_DIR", segments.to_str().unwrap()),
        ],
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(text(&out.stdout), "6\n10\n");
    assert!(
        text(&out.stderr).contains(
            "vfscope: internal fault in xRead; continuing as a plain passthrough without recording"
        ),
        "{}",
        text(&out.stderr)
    );
    let (_, snapshot) = snapshots(&segments).remove(0);
    assert_eq!(
        snapshot.overflow.faults, 1,
        "the fault is counted once, then recording stops"
    );
    assert_eq!(integrity(&db), "ok");
}

/// A fault before the real call (while the latency model plans it) must
/// not keep the call from running: the open, the reads and the writes all
/// happen once, with their real results.
#[test]
fn a_panic_before_the_real_call_still_makes_it_exactly_once() {
    for op in ["open", "read", "write", "lock"] {
        let dir = tempfile::tempdir().unwrap();
        let db = three_rows(dir.path(), "before.db");
        let segments = dir.path().join("segments");
        let hook = format!("{op}:before");
        let out = preloaded_sqlite3(
            &db,
            "SELECT sum(v) FROM t; INSERT INTO t VALUES (4); SELECT sum(v) FROM t;",
            &[
                ("VFSCOPE_TEST_PANIC", &hook),
                ("VFSCOPE_LATENCY", "local-nvme"),
                ("VFSCOPE_DIR", segments.to_str().unwrap()),
            ],
        );
        let stderr = text(&out.stderr);
        assert!(out.status.success(), "{op}: {stderr}");
        assert_eq!(text(&out.stdout), "6\n10\n", "{op}: {stderr}");
        assert_eq!(
            stderr.matches("vfscope: internal fault in").count(),
            1,
            "{op}: said once: {stderr}"
        );
        let (_, snapshot) = snapshots(&segments).remove(0);
        assert_eq!(snapshot.overflow.faults, 1, "{op}");
        assert_eq!(integrity(&db), "ok");
    }
}

const FORKS_EXECS_THREADS: &str = r#"
import os, sqlite3, subprocess, sys, threading
db = sys.argv[1]
c = sqlite3.connect(db, timeout=30)
c.execute("PRAGMA journal_mode=WAL")
c.execute("CREATE TABLE t(src, n)")
c.commit()
def work(name):
    k = sqlite3.connect(db, timeout=30)
    for i in range(100):
        k.execute("INSERT INTO t VALUES (?, ?)", (name, i))
        k.commit()
threads = [threading.Thread(target=work, args=(f"thread{i}",)) for i in range(4)]
for t in threads: t.start()
pid = os.fork()
if pid == 0:
    os.execvp("sqlite3", ["sqlite3", "-cmd", ".timeout 30000", db, "INSERT INTO t VALUES ('exec', 0);"])
for t in threads: t.join()
os.waitpid(pid, 0)
subprocess.run(["sqlite3", "-cmd", ".timeout 30000", db, "INSERT INTO t VALUES ('subprocess', 0);"], check=True)
print(c.execute("SELECT count(*), count(DISTINCT src || n) FROM t").fetchone())
"#;

#[test]
fn hosts_that_fork_exec_and_use_threads_keep_working() {
    let dir = tempfile::tempdir().unwrap();
    let segments = dir.path().join("segments");
    let db = dir.path().join("host.db");
    let out = vfscope_run_python(&segments, FORKS_EXECS_THREADS)
        .arg(&db)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(text(&out.stdout).trim(), "(402, 402)");
    assert_eq!(integrity(&db), "ok");
    // The Python process, the exec'd sqlite3 and the subprocess: each its
    // own segment.
    let pids: std::collections::BTreeSet<u32> = snapshots(&segments)
        .iter()
        .map(|(_, s)| s.meta.pid)
        .collect();
    assert!(pids.len() >= 3, "{pids:?}");
    for (path, s) in snapshots(&segments) {
        assert_balanced(&s.locks_total(), &path.display().to_string());
    }
}

const LOAD_WORKER: &str = r#"
import sqlite3, sys, threading, time
d, worker, seconds = sys.argv[1], sys.argv[2], float(sys.argv[3])
done = {}
def work(db, thread):
    c = sqlite3.connect(f"{d}/{db}", timeout=30, isolation_level=None)
    n, end = 0, time.time() + seconds
    while time.time() < end:
        c.execute("BEGIN IMMEDIATE")
        c.execute("INSERT INTO t VALUES (?, ?, ?)", (worker, thread, n))
        c.execute("COMMIT")
        n += 1
    done[(db, thread)] = n
threads = [threading.Thread(target=work, args=(db, f"{db}-{i}")) for db in ("wal.db", "rollback.db") for i in range(2)]
for t in threads: t.start()
for t in threads: t.join()
print(sum(n for (db, _), n in done.items() if db == "wal.db"), sum(n for (db, _), n in done.items() if db == "rollback.db"), flush=True)
"#;

const LOAD_MODEL: &str = "seed = 3\n[[rule]]\nops = [\"sync\"]\ndelay = { dist = \"uniform\", min = \"50us\", max = \"200us\" }\n[[rule]]\nops = [\"read\"]\nfiles = [\"main_db\"]\ndelay = { dist = \"fixed\", value = \"20us\" }\n";

#[test]
fn load_on_wal_and_rollback_databases_loses_nothing_and_counts_every_call() {
    let dir = tempfile::tempdir().unwrap();
    let segments = dir.path().join("segments");
    for (db, mode) in [("wal.db", "WAL"), ("rollback.db", "DELETE")] {
        let out = Command::new(sqlite3())
            .arg(dir.path().join(db))
            .arg(format!("PRAGMA journal_mode={mode}; CREATE TABLE t(worker, thread, n, PRIMARY KEY (worker, thread, n));"))
            .output()
            .unwrap();
        assert!(out.status.success());
    }
    let model = dir.path().join("load.toml");
    std::fs::write(&model, LOAD_MODEL).unwrap();
    // Three processes of two threads per database, for two seconds, all
    // under vfscope with recording and the latency model on.
    let workers: Vec<_> = (0..3)
        .map(|w| {
            Command::new(built("vfscope"))
                .args(["run", "--quiet", "--keep", "--dir"])
                .arg(&segments)
                .arg("--record")
                .arg(dir.path().join(format!("worker{w}.trace")))
                .arg("--latency")
                .arg(&model)
                .args(["--", "python3", "-c", LOAD_WORKER])
                .arg(dir.path())
                .arg(w.to_string())
                .arg("2")
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    let (mut wal_rows, mut rollback_rows) = (0u64, 0u64);
    for worker in workers {
        let out = worker.wait_with_output().unwrap();
        assert!(out.status.success(), "{}", text(&out.stderr));
        let said = text(&out.stdout);
        let counts: Vec<u64> = said
            .split_whitespace()
            .map(|n| n.parse().unwrap())
            .collect();
        wal_rows += counts[0];
        rollback_rows += counts[1];
    }
    assert!(wal_rows > 0 && rollback_rows > 0);
    for (db, expected) in [("wal.db", wal_rows), ("rollback.db", rollback_rows)] {
        let path = dir.path().join(db);
        assert_eq!(integrity(&path), "ok", "{db}");
        let out = Command::new(sqlite3())
            .arg(&path)
            .arg("SELECT count(*) FROM t;")
            .output()
            .unwrap();
        assert_eq!(
            text(&out.stdout).trim().parse::<u64>().unwrap(),
            expected,
            "{db}: every committed row, once"
        );
    }
    let snaps = snapshots(&segments);
    assert_eq!(snaps.len(), 3);
    let traces: Vec<_> = (0..3)
        .map(|w| read_trace(&dir.path().join(format!("worker{w}.trace"))).unwrap())
        .collect();
    for (path, s) in snaps {
        let what = path.display().to_string();
        let calls: u64 = s.cells.iter().map(|c| c.calls()).sum();
        let trace = traces
            .iter()
            .find(|t| t.header.pid == s.meta.pid)
            .expect("each process wrote its trace");
        let end = trace.end.expect("complete trace");
        assert_eq!(
            end.written + end.dropped,
            calls,
            "{what}: the trace and the segment count the same calls"
        );
        assert_eq!(trace.calls.len() as u64, end.written);
        assert_eq!(
            s.overflow,
            Default::default(),
            "{what}: no table overflowed"
        );
        assert!(
            s.cells.iter().any(|c| c.delayed > 0),
            "{what}: the model ran"
        );
        assert_balanced(&s.locks_total(), &what);
        assert!(
            s.open_files.is_empty(),
            "{what}: files stayed open: {:?}",
            s.open_files
        );
    }
}

const KILLED_WRITER: &str = r#"
import sqlite3, sys
c = sqlite3.connect(sys.argv[1], timeout=30, isolation_level=None)
n = 0
told = False
while True:
    try:
        c.execute("BEGIN IMMEDIATE")
        for i in range(20):
            c.execute("INSERT INTO t VALUES (?, randomblob(3000))", (n,))
        c.execute("COMMIT")
        if not told:
            # Killed only after something committed: the count below can
            # then not pass by being empty.
            print("committed", flush=True)
            told = True
    except sqlite3.Error:
        try:
            c.execute("ROLLBACK")
        except sqlite3.Error:
            pass
    n += 1
"#;

#[test]
fn sigkill_at_random_points_leaves_databases_intact_and_segments_dead() {
    let dir = tempfile::tempdir().unwrap();
    let segments = dir.path().join("segments");
    let delays = dir.path().join("delays.toml");
    std::fs::write(&delays, "[[rule]]\nops = [\"write\", \"sync\"]\ndelay = { dist = \"uniform\", min = \"10us\", max = \"300us\" }\n").unwrap();
    let faults = dir.path().join("faults.toml");
    std::fs::write(
        &faults,
        "[[rule]]\nops = [\"sync\"]\ndelay = { dist = \"fixed\", value = \"100us\" }\n\
         [[fault]]\nops = [\"write\"]\nerror = \"ioerr_write\"\nprobability = 0.01\n\
         [[fault]]\nops = [\"sync\"]\nerror = \"ioerr_fsync\"\nprobability = 0.02\n",
    )
    .unwrap();
    let mut seed = 0x9e37_79b9_u64;
    for round in 0..6 {
        let mode = if round % 2 == 0 { "WAL" } else { "DELETE" };
        let model = [None, Some(&delays), Some(&faults)][round % 3];
        let db = dir.path().join(format!("killed{round}.db"));
        // Made without vfscope: injected faults must not stop the setup.
        let setup = Command::new(sqlite3())
            .arg(&db)
            .arg(format!("PRAGMA journal_mode={mode}; CREATE TABLE t(n, v);"))
            .output()
            .unwrap();
        assert!(setup.status.success());
        let mut command = Command::new("python3");
        command
            .args(["-c", KILLED_WRITER])
            .arg(&db)
            .arg(mode)
            .env("LD_PRELOAD", built("libvfscope.so"))
            .env("VFSCOPE_DIR", &segments)
            .stdout(Stdio::piped())
            .stderr(Stdio::null());
        if let Some(model) = model {
            command.env("VFSCOPE_LATENCY", model);
        }
        let mut child = command.spawn().unwrap();
        let stdout = child.stdout.take().unwrap();
        let (said, heard) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let mut line = String::new();
            let _ = std::io::BufRead::read_line(&mut std::io::BufReader::new(stdout), &mut line);
            let _ = said.send(line);
        });
        // A liveness bound, not a timing claim: a writer that never
        // commits must fail the test, not hang it.
        let committed = heard.recv_timeout(Duration::from_secs(120));
        if committed.as_deref().map(str::trim) != Ok("committed") {
            child.kill().unwrap();
            child.wait().unwrap();
            panic!("round {round} ({mode}, model {model:?}): the writer committed nothing");
        }
        seed = seed
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        std::thread::sleep(Duration::from_millis(100 + (seed >> 33) % 300));
        child.kill().unwrap();
        child.wait().unwrap();
        assert_eq!(
            integrity(&db),
            "ok",
            "round {round} ({mode}, model {model:?})"
        );
        let out = Command::new(sqlite3())
            .arg(&db)
            .arg("SELECT count(*) FROM t;")
            .output()
            .unwrap();
        let rows: u64 = text(&out.stdout).trim().parse().unwrap();
        assert!(
            rows > 0,
            "round {round}: the first commit is in the database"
        );
        assert_eq!(rows % 20, 0, "round {round}: whole transactions only");
    }
    let segs = list_segments(&segments).unwrap();
    assert_eq!(segs.len(), 6);
    for path in &segs {
        assert_eq!(
            SegmentReader::open(path).unwrap().liveness(),
            vfscope_segment::Liveness::Dead
        );
    }
    // Readers clean up: `vfscope clean` removes what is gone.
    let out = Command::new(built("vfscope"))
        .args(["clean", "--dir"])
        .arg(&segments)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(
        text(&out.stdout).contains("6 segments removed"),
        "{}",
        text(&out.stdout)
    );
    assert!(list_segments(&segments).unwrap().is_empty());
}

#[test]
fn a_full_disk_is_sqlite_full_and_nothing_else_breaks() {
    assert!(have("mount"), "mount is missing");
    let dir = tempfile::tempdir().unwrap();
    let small = dir.path().join("small");
    std::fs::create_dir(&small).unwrap();
    let mounted = Command::new("mount")
        .args(["-t", "tmpfs", "-o", "size=256k", "tmpfs"])
        .arg(&small)
        .status()
        .unwrap();
    assert!(
        mounted.success(),
        "the test needs to mount a 256 KiB tmpfs (run as root)"
    );
    struct Unmount(PathBuf);
    impl Drop for Unmount {
        fn drop(&mut self) {
            let _ = Command::new("umount").arg(&self.0).status();
        }
    }
    let _unmount = Unmount(small.clone());
    let db = small.join("full.db");
    let segments = dir.path().join("segments");
    let mut sql = String::from("CREATE TABLE t(v);\n");
    for _ in 0..200 {
        sql.push_str("INSERT INTO t VALUES (randomblob(4000));\n");
    }
    sql.push_str("SELECT 'still answering', count(*) > 0 FROM t;\n");
    let mut child = Command::new(sqlite3())
        .arg(&db)
        .env("LD_PRELOAD", built("libvfscope.so"))
        .env("VFSCOPE_DIR", &segments)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(sql.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    let said = text(&out.stderr);
    assert!(said.contains("database or disk is full"), "{said}");
    assert!(
        text(&out.stdout).contains("still answering|1"),
        "{}",
        text(&out.stdout)
    );
    assert_eq!(integrity(&db), "ok");
    let (_, snapshot) = snapshots(&segments).remove(0);
    let full: u64 = snapshot
        .cells
        .iter()
        .map(|c| c.result(vfscope_segment::ResultClass::Full))
        .sum();
    assert!(full > 0, "the segment saw SQLITE_FULL");
    assert_eq!(snapshot.overflow.faults, 0, "vfscope itself kept working");
}

#[test]
fn bad_segment_directories_are_refused_with_one_line_and_sqlite_still_works() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("dirs.db");
    let a_file = dir.path().join("not-a-dir");
    std::fs::write(&a_file, "x").unwrap();
    let real = dir.path().join("real");
    std::fs::create_dir(&real).unwrap();
    let link = dir.path().join("link");
    std::os::unix::fs::symlink(&real, &link).unwrap();
    let theirs = dir.path().join("theirs");
    std::fs::create_dir(&theirs).unwrap();
    std::os::unix::fs::chown(&theirs, Some(65534), Some(65534)).unwrap();
    for (what, path) in [
        ("a file", &a_file),
        ("a symlink", &link),
        ("another user's", &theirs),
    ] {
        let out = preloaded_sqlite3(
            &db,
            "CREATE TABLE IF NOT EXISTS t(v); INSERT INTO t VALUES (1); SELECT count(*) > 0 FROM t;",
            &[("VFSCOPE_DIR", path.to_str().unwrap())],
        );
        assert!(out.status.success(), "{what}: {}", text(&out.stderr));
        assert_eq!(text(&out.stdout), "1\n", "{what}");
        let said = text(&out.stderr);
        assert_eq!(said.lines().count(), 1, "{what}: {said}");
        assert!(
            said.starts_with("vfscope: ") && said.contains(path.to_str().unwrap()),
            "{what}: {said}"
        );
    }
    assert!(
        std::fs::read_dir(&real).unwrap().next().is_none(),
        "nothing written through the symlink"
    );
    assert!(
        std::fs::read_dir(&theirs).unwrap().next().is_none(),
        "nothing written into another user's directory"
    );
    for (var, value) in [
        ("VFSCOPE_SLOW", "fast"),
        ("VFSCOPE_BLOCK_SIZE", "3000"),
        ("VFSCOPE_TRACE_BUFFER", "1000"),
        ("VFSCOPE_TEST_PANIC", "nope"),
    ] {
        let out = preloaded_sqlite3(
            &db,
            "SELECT count(*) > 0 FROM t;",
            &[(var, value), ("VFSCOPE_DIR", real.to_str().unwrap())],
        );
        assert!(out.status.success() && text(&out.stdout) == "1\n", "{var}");
        let said = text(&out.stderr);
        assert_eq!(said.lines().count(), 1, "{var}: {said}");
        assert!(said.contains(var) && said.contains(value), "{var}: {said}");
    }
}

#[test]
fn files_are_private_and_listeners_local() {
    let dir = tempfile::tempdir().unwrap();
    let segments = dir.path().join("segments");
    let trace = dir.path().join("private.trace");
    let out = preloaded_sqlite3(
        &dir.path().join("private.db"),
        "CREATE TABLE t(v);",
        &[
            ("VFSCOPE_DIR", segments.to_str().unwrap()),
            ("VFSCOPE_TRACE", trace.to_str().unwrap()),
        ],
    );
    assert!(out.status.success());
    use std::os::unix::fs::PermissionsExt;
    let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(&segments), 0o700);
    assert_eq!(mode(&trace), 0o600);
    for path in list_segments(&segments).unwrap() {
        assert_eq!(mode(&path), 0o600);
    }
    let help = Command::new(built("vfscope"))
        .arg("--help")
        .output()
        .unwrap();
    assert!(text(&help.stdout).contains("(default 127.0.0.1:9464)"));
    let serve = vfscope_tests::start_serve(&segments, &[], &[]);
    let listening = std::fs::read_to_string("/proc/net/tcp").unwrap();
    let port = format!(":{:04X} ", serve.port);
    let line = listening
        .lines()
        .find(|l| l.contains(&port))
        .expect("the listener");
    assert!(
        line.split_whitespace()
            .nth(1)
            .unwrap()
            .starts_with("0100007F:"),
        "bound to 127.0.0.1: {line}"
    );
}
