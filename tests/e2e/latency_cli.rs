//! The latency model from the command line, on the Debian `sqlite3` CLI and
//! Python through libvfscope.so: `vfscope run --latency`, `VFSCOPE_LATENCY`,
//! `vfscope latency PID`, `PRAGMA vfscope_latency`.

use std::io::Write;
use std::process::{Command, Stdio};
use vfscope_segment::{list_segments, SegmentReader};
use vfscope_tests::{built, sqlite3, vfscope_run_python, Killed};

/// `operations[]` entries of a JSON report for one op and file kind.
fn injected(report: &serde_json::Value, op: &str, kind: &str, field: &str) -> u64 {
    report["operations"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|o| o["op"] == op && o["file_kind"] == kind)
        .map(|o| o["injected"][field].as_u64().unwrap())
        .sum()
}

#[test]
fn run_with_a_model_file_delays_exactly_the_selected_calls() {
    let dir = tempfile::tempdir().unwrap();
    let model = dir.path().join("commit.toml");
    std::fs::write(
        &model,
        "seed = 1\n[[rule]]\nops = [\"sync\"]\nfiles = [\"wal\"]\ndelay = { dist = \"fixed\", value = \"3ms\" }\n",
    )
    .unwrap();
    let db = dir.path().join("model.db");
    let sql = "PRAGMA journal_mode=WAL; CREATE TABLE t(v); INSERT INTO t VALUES (1); INSERT INTO t VALUES (2);";
    let out = tempfile::tempdir().unwrap();
    let json = out.path().join("r.json");
    let run = Command::new(built("vfscope"))
        .args(["run", "--json", json.to_str().unwrap(), "--latency"])
        .arg(&model)
        .args(["--", sqlite3(), db.to_str().unwrap(), sql])
        .env_remove("VFSCOPE_DIR")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&run.stderr);
    assert!(run.status.success(), "{stderr}");
    assert!(
        stderr.contains("latency model") && stderr.contains("seed 1"),
        "{stderr}"
    );
    let report: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    let syncs = vfscope_tests::json_calls(&report, "sync", "wal");
    assert!(syncs >= 3, "{syncs}");
    assert_eq!(injected(&report, "sync", "wal", "delayed"), syncs);
    assert_eq!(
        injected(&report, "sync", "wal", "target_ns"),
        3_000_000 * syncs
    );
    assert!(injected(&report, "sync", "wal", "actual_ns") >= 3_000_000 * syncs);
    assert_eq!(
        injected(&report, "write", "wal", "delayed"),
        0,
        "other calls untouched"
    );
    assert!(report["processes"][0]["latency_model"]["name"]
        .as_str()
        .unwrap()
        .ends_with("commit.toml"));
}

/// raft-wal live: each WAL commit waits, on the write of its commit
/// frame's header (the frame SQLite's own header write says is a commit),
/// and nothing else does; journal-mode transactions are not charged.
#[test]
fn raft_wal_delays_each_wal_commit_live_and_nothing_else() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("raft.db");
    let sql = "PRAGMA journal_mode=WAL; CREATE TABLE t(v); INSERT INTO t VALUES (1); \
        BEGIN; INSERT INTO t VALUES (2); INSERT INTO t VALUES (3); COMMIT; \
        INSERT INTO t SELECT randomblob(9000) FROM t; SELECT count(*) FROM t;";
    let json = dir.path().join("r.json");
    let run = Command::new(built("vfscope"))
        .args([
            "run",
            "--quiet",
            "--json",
            json.to_str().unwrap(),
            "--latency",
        ])
        .arg("raft-wal:rtt=2ms,overhead=1ms")
        .args(["--", sqlite3(), db.to_str().unwrap(), sql])
        .output()
        .unwrap();
    assert!(
        run.status.success(),
        "{}",
        String::from_utf8_lossy(&run.stderr)
    );
    assert_eq!(String::from_utf8_lossy(&run.stdout).trim(), "wal\n6");
    let report: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    // The table's creation, three transactions: four commits, whatever
    // their frames (the last writes several pages, with overflow).
    assert_eq!(injected(&report, "write", "wal", "delayed"), 4);
    assert_eq!(
        injected(&report, "write", "wal", "target_ns"),
        4 * 3_000_000
    );
    let all: u64 = report["operations"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o["injected"]["delayed"].as_u64().unwrap())
        .sum();
    assert_eq!(all, 4, "no read, sync or other write waits");
}

#[test]
fn a_bad_model_stops_run_before_the_command_and_names_the_line() {
    let dir = tempfile::tempdir().unwrap();
    let model = dir.path().join("bad.toml");
    std::fs::write(&model, "[cache]\npages = -3\n").unwrap();
    let marker = dir.path().join("ran");
    let out = Command::new(built("vfscope"))
        .args(["run", "--latency"])
        .arg(&model)
        .args(["--", "touch"])
        .arg(&marker)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains(&format!("{}:2: cache.pages", model.display())),
        "{stderr}"
    );
    assert!(!marker.exists(), "the command must not run");
}

#[test]
fn a_bad_environment_value_is_one_line_and_no_injection() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("env.db");
    let out = Command::new(sqlite3())
        .arg(&db)
        .arg("CREATE TABLE t(v); INSERT INTO t VALUES (1); SELECT count(*) FROM t;")
        .env("LD_PRELOAD", built("libvfscope.so"))
        .env("VFSCOPE_DIR", dir.path().join("segments"))
        .env("VFSCOPE_LATENCY", "cross-continent")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "1");
    let lines: Vec<&str> = stderr.lines().collect();
    assert_eq!(lines.len(), 1, "{stderr}");
    assert!(
        lines[0].starts_with("vfscope: VFSCOPE_LATENCY") && lines[0].contains("cross-continent"),
        "{stderr}"
    );
    let segment = &list_segments(&dir.path().join("segments")).unwrap()[0];
    let snapshot = SegmentReader::open(segment).unwrap().snapshot();
    assert_eq!(snapshot.model.active, None);
    assert!(
        snapshot.calls(
            vfscope_segment::Op::Write,
            vfscope_segment::FileKind::MainDb
        ) > 0,
        "still recording"
    );
}

#[test]
fn pragma_reads_and_switches_the_model() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("pragma.db");
    let out = Command::new(sqlite3())
        .arg(&db)
        .arg("PRAGMA vfscope_latency; PRAGMA vfscope_latency = 'quorum-commit'; PRAGMA vfscope_latency; PRAGMA vfscope_latency = 'off'; PRAGMA vfscope_latency;")
        .env("LD_PRELOAD", built("libvfscope.so"))
        .env("VFSCOPE_DIR", dir.path().join("segments"))
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        stdout.lines().collect::<Vec<_>>(),
        ["off", "quorum-commit", "quorum-commit", "off", "off"]
    );
    let bad = Command::new(sqlite3())
        .arg(&db)
        .arg("PRAGMA vfscope_latency = 'mode = \"fast\"';")
        .env("LD_PRELOAD", built("libvfscope.so"))
        .env("VFSCOPE_DIR", dir.path().join("segments"))
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&bad.stderr);
    assert!(!bad.status.success());
    assert!(
        stderr.contains("vfscope_latency: (model text):1: mode"),
        "{stderr}"
    );
}

const WAITING: &str = r#"
import sqlite3, sys
c = sqlite3.connect(sys.argv[1])
c.execute("CREATE TABLE t(v)")
c.commit()
print("ready", flush=True)
for line in sys.stdin:
    c.execute("INSERT INTO t VALUES (1)")
    c.commit()
    print("ok", flush=True)
"#;

#[test]
fn vfscope_latency_switches_a_running_process() {
    let dir = tempfile::tempdir().unwrap();
    let segments = dir.path().join("segments");
    let mut app = Killed(
        vfscope_run_python(&segments, WAITING)
            .arg(dir.path().join("live.db"))
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .unwrap(),
    );
    let mut stdout = std::io::BufReader::new(app.0.stdout.take().unwrap());
    let mut line = String::new();
    std::io::BufRead::read_line(&mut stdout, &mut line).unwrap();
    assert_eq!(line.trim(), "ready");
    let segment = list_segments(&segments).unwrap().remove(0);
    let pid = SegmentReader::open(&segment).unwrap().pid().to_string();
    // A process nobody asked anything has no thread of vfscope's.
    let threads = || -> Vec<String> {
        std::fs::read_dir(format!("/proc/{pid}/task"))
            .unwrap()
            .map(|t| std::fs::read_to_string(t.unwrap().path().join("comm")).unwrap())
            .map(|c| c.trim().to_string())
            .collect()
    };
    assert!(
        !threads().iter().any(|t| t == "vfscope-control"),
        "{:?}",
        threads()
    );
    // The first request waits for the app's next call, which starts the
    // control thread: make one meanwhile.
    let mut stdin = app.0.stdin.take().unwrap();
    let switch = |model: &'static str| {
        let (segments, pid) = (segments.clone(), pid.clone());
        std::thread::spawn(move || {
            Command::new(built("vfscope"))
                .args(["latency", "--dir"])
                .arg(&segments)
                .args([&pid, model])
                .output()
                .unwrap()
        })
    };
    let first = switch("same-az");
    std::thread::sleep(std::time::Duration::from_millis(200));
    writeln!(stdin, "go").unwrap();
    let out = first.join().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        format!("process {pid}: latency model same-az")
    );
    line.clear();
    std::io::BufRead::read_line(&mut stdout, &mut line).unwrap();
    assert_eq!(line.trim(), "ok");
    assert!(
        threads().iter().any(|t| t == "vfscope-control"),
        "{:?}",
        threads()
    );
    // From then on the thread answers while the app is idle.
    let out = switch("off").join().unwrap();
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        format!("process {pid}: latency model off")
    );
    let out = switch("same-az").join().unwrap();
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        format!("process {pid}: latency model same-az")
    );
    let model = SegmentReader::open(&segment).unwrap().snapshot().model;
    assert_eq!(model.active.as_deref(), Some("same-az"));
    let bad = Command::new(built("vfscope"))
        .args(["latency", "--dir"])
        .arg(&segments)
        .args([&pid, "/nonexistent/model.toml"])
        .output()
        .unwrap();
    assert_eq!(bad.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&bad.stderr)
        .contains("/nonexistent/model.toml: (file): cannot read"));
    drop(stdin);
}
