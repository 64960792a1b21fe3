//! Python 3's sqlite3 module (which loads libsqlite3 with RTLD_LOCAL) under
//! `vfscope run`: forked workers, and a process killed mid-transaction.

use std::process::{Command, Stdio};
use vfscope_segment::{list_segments, FileKind, SegmentReader};
use vfscope_tests::{assert_intact, built, first_line, have, vfscope_run_python};

fn python3() -> &'static str {
    assert!(
        have("python3"),
        "python3 is missing (tests/run.sh installs it)"
    );
    "python3"
}

const WORKERS: &str = r#"
import multiprocessing as mp, sqlite3, sys
DB, N = sys.argv[1], int(sys.argv[2])

def work(i):
    c = sqlite3.connect(DB, timeout=30)
    for j in range(N):
        c.execute("INSERT INTO t VALUES (?, ?)", (i, j))
        c.commit()
    c.close()

if __name__ == "__main__":
    c = sqlite3.connect(DB)
    c.execute("PRAGMA journal_mode=WAL")
    c.execute("CREATE TABLE t(w, n)")
    c.commit()
    c.close()
    ctx = mp.get_context("fork")
    workers = [ctx.Process(target=work, args=(i,)) for i in range(3)]
    for w in workers: w.start()
    for w in workers: w.join()
    assert all(w.exitcode == 0 for w in workers), [w.exitcode for w in workers]
"#;

#[test]
fn forked_python_workers_each_record_and_lose_no_write() {
    const ROWS: u64 = 40;
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("workers.db");
    let segments = dir.path().join("segments");
    let out = vfscope_run_python(&segments, WORKERS)
        .args([db.to_str().unwrap(), &ROWS.to_string()])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    let check = rusqlite::Connection::open(&db).unwrap();
    let (rows, distinct): (i64, i64) = check
        .query_row(
            "SELECT count(*), count(DISTINCT w || '-' || n) FROM t",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .unwrap();
    assert_eq!(
        (rows as u64, distinct as u64),
        (3 * ROWS, 3 * ROWS),
        "no write lost or doubled"
    );
    assert_intact(&check);

    let snapshots: Vec<_> = list_segments(&segments)
        .unwrap()
        .iter()
        .map(|p| SegmentReader::open(p).unwrap().snapshot())
        .collect();
    assert_eq!(snapshots.len(), 4, "the parent and three forked workers");
    let mut per_process: Vec<u64> = snapshots
        .iter()
        .map(|s| s.shape(FileKind::Wal).wal_commits)
        .collect();
    per_process.sort();
    // The parent commits CREATE TABLE; each worker its own inserts.
    assert_eq!(per_process, vec![1, ROWS, ROWS, ROWS]);
    assert!(snapshots
        .iter()
        .all(|s| s.meta.sqlite_version.starts_with("3.")));
}

const KILLED: &str = r#"
import os, sqlite3, sys, time
c = sqlite3.connect(sys.argv[1], isolation_level=None)
c.execute("PRAGMA journal_mode=DELETE")
c.execute("PRAGMA cache_size=20")
c.execute("CREATE TABLE t(v)")
c.execute("INSERT INTO t VALUES (0)")
c.execute("BEGIN")
for i in range(3000):
    c.execute("INSERT INTO t VALUES (randomblob(300))")
print(os.getpid(), flush=True)
time.sleep(120)
"#;

#[test]
fn killed_mid_transaction_leaves_a_sound_database_and_a_readable_segment() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("killed.db");
    let segments = dir.path().join("segments");
    let mut run = vfscope_run_python(&segments, KILLED)
        .arg(&db)
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let line = first_line(&mut run);
    let pid: i32 = line
        .parse()
        .unwrap_or_else(|_| panic!("no pid in {line:?}"));
    // SAFETY: sending a signal to the child process we just started.
    assert_eq!(unsafe { libc::kill(pid, libc::SIGKILL) }, 0);
    let status = run.wait().unwrap();
    assert_eq!(
        status.code(),
        Some(128 + 9),
        "vfscope run passes the signal on as 128+9"
    );

    let report = Command::new(built("vfscope"))
        .args(["report", segments.to_str().unwrap()])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&report.stdout);
    assert!(
        report.status.success(),
        "{}",
        String::from_utf8_lossy(&report.stderr)
    );
    assert!(text.contains(&format!("pid {pid} (dead)")), "{text}");
    assert!(text.contains("write                    main_db"), "{text}");

    let check = rusqlite::Connection::open(&db).unwrap();
    assert_intact(&check);
    let rows: i64 = check
        .query_row("SELECT count(*) FROM t", [], |r| r.get(0))
        .unwrap();
    assert_eq!(rows, 1, "the unfinished transaction was rolled back");
}

const SLEEPER: &str = r#"
import os, sqlite3, sys, time
c = sqlite3.connect(sys.argv[1])
c.execute("CREATE TABLE t(v)")
c.commit()
print(os.getpid(), flush=True)
sys.stdin.read()
"#;

#[test]
fn report_by_pid_reads_a_running_process() {
    let dir = tempfile::tempdir().unwrap();
    let segments = dir.path().join("segments");
    let mut app = Command::new(python3())
        .args(["-c", SLEEPER])
        .arg(dir.path().join("live.db"))
        .env("LD_PRELOAD", built("libvfscope.so"))
        .env("VFSCOPE_DIR", &segments)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let pid = first_line(&mut app);
    let report = Command::new(built("vfscope"))
        .args(["report", "--dir", segments.to_str().unwrap(), &pid])
        .output()
        .unwrap();
    drop(app.stdin.take()); // lets the app finish
    app.wait().unwrap();
    let text = String::from_utf8_lossy(&report.stdout);
    assert!(
        report.status.success(),
        "{}",
        String::from_utf8_lossy(&report.stderr)
    );
    assert!(text.contains(&format!("pid {pid} (running)")), "{text}");
    assert!(text.contains("live.db"), "{text}");

    let missing = Command::new(built("vfscope"))
        .args(["report", "--dir", segments.to_str().unwrap(), "999999999"])
        .output()
        .unwrap();
    assert_eq!(missing.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&missing.stderr).contains("no segment of pid 999999999"));
}

/// CPython's own sqlite3 test suite runs unchanged under `vfscope run`,
/// every connection it opens through vfscope.
#[test]
fn cpython_test_sqlite3_passes_under_vfscope() {
    let has_suite = std::process::Command::new("python3")
        .args(["-c", "import test.test_sqlite3"])
        .output()
        .is_ok_and(|o| o.status.success());
    assert!(
        has_suite,
        "python3 lacks its test package (Debian: libpython3-testsuite)"
    );
    let dir = tempfile::tempdir().unwrap();
    let json = dir.path().join("report.json");
    let out = std::process::Command::new(vfscope_tests::built("vfscope"))
        .current_dir(dir.path())
        .args(["run", "--json", json.to_str().unwrap(), "--"])
        .args(["python3", "-m", "test", "test_sqlite3"])
        .env_remove("VFSCOPE_DIR")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{stdout}");
    assert!(stdout.contains("Result: SUCCESS"), "{stdout}");
    let report: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    assert!(vfscope_tests::json_calls(&report, "open", "main_db") > 20);
}

const DOUBLE_FORK: &str = r#"
import os, sqlite3, sys, time
if os.fork() == 0:
    if os.fork() == 0:
        time.sleep(float(sys.argv[2]))
        c = sqlite3.connect(sys.argv[1])
        c.execute("create table if not exists t(x)")
        for i in range(10):
            with c:
                c.execute("insert into t values (?)", (i,))
        c.close()
        os._exit(0)
    os._exit(0)
os.wait()
print("parent done")
"#;

/// A worker that double-forks away from the command (reparented to init
/// without a subreaper) writes a second later: `vfscope run` waits for it
/// and reports its calls.
#[test]
fn run_waits_for_processes_the_command_left_behind() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("orphan.db");
    let (code, stderr, report) = vfscope_tests::vfscope_run(
        &[python3(), "-c", DOUBLE_FORK, db.to_str().unwrap(), "1"],
        &[],
    );
    assert_eq!(code, 0, "{stderr}");
    let rows: i64 = rusqlite::Connection::open(&db)
        .unwrap()
        .query_row("SELECT count(*) FROM t", [], |r| r.get(0))
        .unwrap();
    assert_eq!(rows, 10);
    let calls = report["databases"]
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["name"] == "orphan.db")
        .unwrap_or_else(|| panic!("the orphan's database is not in the report: {stderr}"))["calls"]
        .as_u64()
        .unwrap();
    assert!(calls > 30, "{calls} calls");
    assert!(!stderr.contains("still running"), "{stderr}");
}

/// The wait is bounded: a descendant still running `--wait` seconds after
/// the command is named, and the report comes without it.
#[test]
fn run_names_descendants_still_running_after_the_wait() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("late.db");
    let out = Command::new(built("vfscope"))
        .args(["run", "--quiet", "--wait", "0.2", "--"])
        .args([python3(), "-c", DOUBLE_FORK, db.to_str().unwrap(), "5"])
        .env_remove("VFSCOPE_DIR")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert!(
        stderr.contains("1 process started by the command still running 0.2 s after it exited"),
        "{stderr}"
    );
    let bad = Command::new(built("vfscope"))
        .args(["run", "--wait", "soon", "--", "true"])
        .output()
        .unwrap();
    assert_eq!(bad.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&bad.stderr).contains("--wait needs seconds"));
}

/// Under `vfscope run`: `idle` databases in `dir`, each created (and
/// given a row when `insert`), then one in WAL mode with `busy` commits.
fn many_then_busy(
    dir: &std::path::Path,
    idle: u32,
    insert: bool,
    busy: u32,
) -> (i32, String, serde_json::Value) {
    let script = r#"
import sqlite3, sys
d, idle, insert, busy_commits = sys.argv[1], int(sys.argv[2]), sys.argv[3] == "1", int(sys.argv[4])
for i in range(idle):
    c = sqlite3.connect(f"{d}/idle{i}.db")
    c.execute("create table t(x)")
    if insert:
        with c:
            c.execute("insert into t values (1)")
    c.close()
busy = sqlite3.connect(f"{d}/busy.db")
busy.execute("pragma journal_mode=wal")
busy.execute("create table t(x)")
for i in range(busy_commits):
    with busy:
        busy.execute("insert into t values (?)", (i,))
"#;
    vfscope_tests::vfscope_run(
        &[
            python3(),
            "-c",
            script,
            dir.to_str().unwrap(),
            &idle.to_string(),
            if insert { "1" } else { "0" },
            &busy.to_string(),
        ],
        &[],
    )
}

/// More databases than the segment has histograms for: every op × file
/// kind row of the report keeps its percentiles, and the rows add up to
/// the totals.
#[test]
fn many_databases_keep_percentiles_for_every_row() {
    let dir = tempfile::tempdir().unwrap();
    let (code, stderr, report) = many_then_busy(dir.path(), 300, true, 200);
    assert_eq!(code, 0, "{stderr}");
    assert!(
        report["overflow"]["histograms"].as_u64().unwrap() > 0,
        "the workload must exhaust the histogram pool: {}",
        report["overflow"]
    );
    let rows = report["operations"].as_array().unwrap();
    for row in rows {
        if row["calls"].as_u64().unwrap() > 0 {
            assert!(
                row["latency_ns"]["p50"].is_u64() && row["latency_ns"]["p99"].is_u64(),
                "no percentiles: {row}"
            );
        }
    }
    let sum: u64 = rows.iter().map(|r| r["calls"].as_u64().unwrap()).sum();
    assert_eq!(sum, report["totals"]["calls"].as_u64().unwrap());
}

/// A thousand files open at once (more than the open-file table's 256
/// rows): no call is lost and every row keeps its percentiles; the files
/// beyond the table are counted as such.
#[test]
fn many_open_files_lose_no_count() {
    let dir = tempfile::tempdir().unwrap();
    let script = r#"
import sqlite3, sys
conns = [sqlite3.connect(f"{sys.argv[1]}/f{i}.db") for i in range(1000)]
for c in conns:
    c.execute("create table t(x)")
for c in conns:
    with c:
        c.execute("insert into t values (1)")
print(sum(c.execute("select count(*) from t").fetchone()[0] for c in conns))
"#;
    let (code, stderr, report) = vfscope_tests::vfscope_run(
        &[python3(), "-c", script, dir.path().to_str().unwrap()],
        &[],
    );
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(vfscope_tests::json_calls(&report, "open", "main_db"), 1000);
    assert!(report["overflow"]["open_files"].as_u64().unwrap() > 0);
    for row in report["operations"].as_array().unwrap() {
        if row["calls"].as_u64().unwrap() > 0 {
            assert!(row["latency_ns"]["p99"].is_u64(), "no percentiles: {row}");
        }
    }
}

/// 5,000 idle databases, then one that becomes busy after all of
/// them: it still gets a named row (and comes first), the idle ones are
/// summed in "other", which says how many it holds.
#[test]
fn a_database_busy_after_thousands_of_idle_ones_is_named() {
    let dir = tempfile::tempdir().unwrap();
    let (code, stderr, report) = many_then_busy(dir.path(), 5000, false, 400);
    assert_eq!(code, 0, "{stderr}");
    let dbs = report["databases"].as_array().unwrap();
    assert_eq!(dbs[0]["name"], "busy.db", "{dbs:?}");
    assert!(dbs[0]["calls"].as_u64().unwrap() > 2000, "{}", dbs[0]);
    let other = &report["other_databases"];
    // The first 16 databases opened got rows at once; the busy one was
    // promoted out of the rest.
    assert_eq!(other["databases"], 5000 - 16, "{other}");
    assert!(other["calls"].as_u64().unwrap() > 0);
    assert_eq!(report["overflow"]["dbs"], 0, "the catalog held them all");
    assert!(stderr.contains("(other: 4984 databases)"), "{stderr}");
    let rows = report["operations"].as_array().unwrap();
    for row in rows {
        if row["calls"].as_u64().unwrap() > 0 {
            assert!(row["latency_ns"]["p99"].is_u64(), "no percentiles: {row}");
        }
    }
    let sum: u64 = rows.iter().map(|r| r["calls"].as_u64().unwrap()).sum();
    assert_eq!(sum, report["totals"]["calls"].as_u64().unwrap());
    // Every call of a database is in its named row or in "other".
    let named: u64 = dbs.iter().map(|d| d["calls"].as_u64().unwrap()).sum();
    let in_dbs = named + other["calls"].as_u64().unwrap();
    assert!(in_dbs <= sum && in_dbs > sum * 9 / 10, "{in_dbs} of {sum}");
}
