//! The command-line conventions (help everywhere, completions, one-line
//! errors) and `vfscope export` of real recordings to Chrome trace JSON.

use serde_json::Value;
use std::collections::HashMap;
use std::path::Path;
use std::process::Command;
use vfscope_segment::trace::read_trace;
use vfscope_tests::{built, have, sqlite3, succeeds};

const SUBCOMMANDS: &[&str] = &[
    "run",
    "report",
    "serve",
    "clean",
    "replay",
    "compare",
    "export",
    "presets",
    "latency",
    "demo",
    "completions",
];

fn output(program: &str, args: &[&str]) -> (i32, String, String) {
    let out = Command::new(built(program)).args(args).output().unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn every_subcommand_answers_help_and_help_sub() {
    for sub in SUBCOMMANDS {
        let (code, help, _) = output("vfscope", &[sub, "--help"]);
        assert_eq!(code, 0, "vfscope {sub} --help");
        assert!(help.contains(&format!("Usage: vfscope {sub}")), "{help}");
        if *sub != "demo" {
            assert!(
                help.contains("Example"),
                "vfscope {sub} --help has no example:\n{help}"
            );
        }
        let (code, same, _) = output("vfscope", &["help", sub]);
        assert_eq!((code, &same), (0, &help), "vfscope help {sub}");
    }
    let (code, top, _) = output("vfscope", &["--help"]);
    assert_eq!(code, 0);
    for sub in SUBCOMMANDS {
        assert!(top.contains(sub), "{sub} missing from vfscope --help");
    }
    let (code, help, _) = output("vfstop", &["--help"]);
    assert_eq!(code, 0);
    assert!(
        help.contains("Usage: vfstop") && help.contains("--replay"),
        "{help}"
    );
}

#[test]
fn usage_errors_are_one_line_and_exit_2() {
    for (program, args, says) in [
        (
            "vfscope",
            &["replay", "x.trace"][..],
            "--latency <MODEL> (see vfscope replay --help)",
        ),
        ("vfscope", &["frob"][..], "unrecognized subcommand 'frob'"),
        (
            "vfscope",
            &["export", "x.trace", "--format", "svg", "-o", "x"][..],
            "invalid value 'svg'",
        ),
        (
            "vfstop",
            &["--interval", "0"][..],
            "is not a number of seconds",
        ),
    ] {
        let (code, _, stderr) = output(program, args);
        assert_eq!(code, 2, "{program} {args:?}: {stderr}");
        assert_eq!(stderr.trim().lines().count(), 1, "{stderr}");
        assert!(stderr.contains(says), "{stderr}");
    }
}

#[test]
fn completion_scripts_for_bash_zsh_and_fish() {
    for shell in ["bash", "zsh", "fish"] {
        let (code, script, stderr) = output("vfscope", &["completions", shell]);
        assert_eq!(code, 0, "{stderr}");
        assert!(
            script.contains("vfscope") && script.contains("replay"),
            "{shell}"
        );
        let (code, script, _) = output("vfstop", &["--completions", shell]);
        assert_eq!(code, 0);
        assert!(
            script.contains("vfstop") && script.contains("replay"),
            "{shell}"
        );
    }
    let (_, script, _) = output("vfscope", &["completions", "bash"]);
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("vfscope.bash");
    std::fs::write(&file, script).unwrap();
    let syntax = Command::new("bash").arg("-n").arg(&file).status().unwrap();
    assert!(
        syntax.success(),
        "the bash completion script does not parse"
    );
}

/// Records `command` under `vfscope run --record`; returns the trace path.
fn record(dir: &Path, command: &[&str]) -> std::path::PathBuf {
    let trace = dir.join("run.trace");
    succeeds(
        Command::new(built("vfscope"))
            .args(["run", "--quiet", "--dir"])
            .arg(dir.join("segments"))
            .arg("--record")
            .arg(&trace)
            .arg("--")
            .args(command),
    );
    trace
}

fn export(trace: &Path) -> Vec<Value> {
    let json = trace.with_extension("json");
    succeeds(
        Command::new(built("vfscope"))
            .arg("export")
            .arg(trace)
            .args(["--format", "chrome", "-o"])
            .arg(&json),
    );
    let doc: Value = serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    doc["traceEvents"].as_array().unwrap().clone()
}

/// A complete slice: start and end in µs, and its category.
type Slice = (f64, f64, String);

/// Complete slices of each (pid, tid), sorted so that an enclosing slice
/// comes first.
fn slices_by_thread(events: &[Value]) -> HashMap<(u64, u64), Vec<Slice>> {
    let mut by_thread: HashMap<(u64, u64), Vec<Slice>> = HashMap::new();
    for e in events.iter().filter(|e| e["ph"] == "X") {
        for field in ["ts", "dur", "pid", "tid"] {
            assert!(e[field].is_number(), "a slice without {field}: {e}");
        }
        let (ts, dur) = (e["ts"].as_f64().unwrap(), e["dur"].as_f64().unwrap());
        let key = (e["pid"].as_u64().unwrap(), e["tid"].as_u64().unwrap());
        by_thread.entry(key).or_default().push((
            ts,
            ts + dur,
            e["cat"].as_str().unwrap().to_string(),
        ));
    }
    for slices in by_thread.values_mut() {
        slices.sort_by(|a, b| a.0.total_cmp(&b.0).then(b.1.total_cmp(&a.1)));
    }
    by_thread
}

#[test]
fn export_writes_one_slice_per_call_nested_per_thread() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("app.db");
    let sql = "CREATE TABLE t(k, v); INSERT INTO t VALUES (1, 'a'); \
        BEGIN; INSERT INTO t VALUES (2, 'b'); INSERT INTO t VALUES (3, 'c'); COMMIT; \
        SELECT count(*) FROM t; PRAGMA journal_mode=WAL; INSERT INTO t VALUES (4, 'd');";
    let trace_path = record(dir.path(), &[sqlite3(), db.to_str().unwrap(), sql]);
    let trace = read_trace(&trace_path).unwrap();
    let events = export(&trace_path);
    let calls = events.iter().filter(|e| e["cat"] == "vfs").count();
    assert_eq!(calls, trace.calls.len(), "one slice per recorded call");
    // Every call slice says what it was.
    for (e, c) in events
        .iter()
        .filter(|e| e["cat"] == "vfs")
        .zip(&trace.calls)
    {
        assert_eq!(e["name"], format!("{} {}", c.op.name(), c.kind.name()));
        assert_eq!(e["args"]["rc"], c.rc);
        assert_eq!(e["tid"], c.tid);
    }
    let txns = events
        .iter()
        .filter(|e| e["cat"] == "txn" && e["name"] == "transaction")
        .count();
    assert!(txns >= 3, "{txns} transactions");
    assert!(
        events.iter().any(|e| e["name"] == "write"),
        "a write-lock span"
    );
    assert!(
        events
            .iter()
            .any(|e| e["ph"] == "C" && e["name"].as_str().unwrap().starts_with("WAL size")),
        "a WAL size counter"
    );
    assert!(events
        .iter()
        .any(|e| e["ph"] == "M" && e["name"] == "thread_name"));
    // Slices nest per thread: each lies inside the one open before it, or
    // after it.
    for (thread, slices) in slices_by_thread(&events) {
        let mut open: Vec<Slice> = Vec::new();
        for s in slices {
            while open.last().is_some_and(|o| o.1 <= s.0) {
                open.pop();
            }
            if let Some(o) = open.last() {
                assert!(
                    s.1 <= o.1 + 1e-9,
                    "{thread:?}: {s:?} crosses the end of {o:?}"
                );
            }
            open.push(s);
        }
    }
    // A transaction slice encloses the calls made in it.
    let by_thread = slices_by_thread(&events);
    let slices = by_thread.values().next().unwrap();
    for t in slices.iter().filter(|s| s.2 == "txn") {
        let inside = slices
            .iter()
            .filter(|s| s.2 == "vfs" && s.0 >= t.0 && s.1 <= t.1)
            .count();
        assert!(inside >= 2, "a transaction with {inside} calls");
    }
}

/// Two connections on two threads: one holds the write lock while the
/// other's busy handler retries; the wait shows as one async slice, from
/// the first BUSY to the grant.
#[test]
fn export_shows_lock_waits() {
    assert!(
        have("python3"),
        "python3 is missing (tests/run.sh installs it)"
    );
    let dir = tempfile::tempdir().unwrap();
    let script = r#"
import sqlite3, sys, threading, time
path = sys.argv[1]
a = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
a.execute("create table t(x)")
a.execute("begin immediate")
a.execute("insert into t values (1)")
def writer():
    b = sqlite3.connect(path, isolation_level=None, timeout=5)
    b.execute("insert into t values (2)")
t = threading.Thread(target=writer)
t.start()
time.sleep(0.3)
a.execute("commit")
t.join()
print(a.execute("select count(*) from t").fetchone()[0])
"#;
    let db = dir.path().join("busy.db");
    let trace = record(dir.path(), &["python3", "-c", script, db.to_str().unwrap()]);
    let events = export(&trace);
    let begins: Vec<&Value> = events
        .iter()
        .filter(|e| e["cat"] == "lock_wait" && e["ph"] == "b")
        .collect();
    let ends = events
        .iter()
        .filter(|e| e["cat"] == "lock_wait" && e["ph"] == "e")
        .count();
    assert_eq!(begins.len(), 1, "one wait: {begins:?}");
    assert_eq!(ends, 1);
    assert_eq!(begins[0]["args"]["outcome"], "granted");
    let end = events
        .iter()
        .find(|e| e["cat"] == "lock_wait" && e["ph"] == "e")
        .unwrap();
    let waited_ms = (end["ts"].as_f64().unwrap() - begins[0]["ts"].as_f64().unwrap()) / 1000.0;
    assert!(
        (150.0..5000.0).contains(&waited_ms),
        "waited {waited_ms} ms"
    );
}

/// `kill` of `vfscope run` alone (a service manager's SIGTERM) reaches the
/// command, as with `timeout`: the command ends, vfscope still reports and
/// exits as the command did; nothing is left running without it.
#[test]
fn a_sigterm_to_vfscope_run_is_passed_on_to_the_command() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("t.db");
    let json = dir.path().join("r.json");
    // The command: sqlite3 opens a database, then waits in a shell that
    // marks its own pid.
    let pidfile = dir.path().join("pid");
    let script = format!(
        "{} {} 'CREATE TABLE t(x);' && echo $$ > {} && exec sleep 60",
        sqlite3(),
        db.display(),
        pidfile.display()
    );
    let mut run = Command::new(built("vfscope"))
        .args(["run", "--quiet", "--wait", "1", "--json"])
        .arg(&json)
        .args(["--", "sh", "-c", &script])
        .spawn()
        .unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while !pidfile.exists() {
        assert!(
            std::time::Instant::now() < deadline,
            "the command did not start"
        );
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    let command: i32 = std::fs::read_to_string(&pidfile)
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    succeeds(Command::new("kill").args(["-TERM", &run.id().to_string()]));
    let status = run.wait().unwrap();
    assert_eq!(status.code(), Some(128 + 15), "exits as the command did");
    // The command is gone: signal 0 to its pid fails.
    let alive = Command::new("kill")
        .args(["-0", &command.to_string()])
        .output()
        .unwrap();
    assert!(!alive.status.success(), "the command is still running");
    let report: Value = serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    assert_eq!(vfscope_tests::json_calls(&report, "open", "main_db"), 1);
}
