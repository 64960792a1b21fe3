//! A real Prometheus server scraping `vfscope serve` while a workload runs
//! under vfscope; the values it stores match what the workload did.

use std::io::Write;
use std::process::{Command, Stdio};
use vfscope_tests::{
    built, first_line, have, http_get, start_serve, Killed, Prometheus, COMMITS_THEN_WAIT,
};

const COMMITS: u64 = 30;

#[test]
fn prometheus_scrapes_what_the_workload_did() {
    assert!(
        have("prometheus"),
        "prometheus is missing (tests/run.sh installs it)"
    );
    let dir = tempfile::tempdir().unwrap();
    let segments = dir.path().join("segments");

    let db = dir.path().join("scraped.db");
    let mut workload = preloaded_python(
        COMMITS_THEN_WAIT,
        &[db.to_str().unwrap(), &COMMITS.to_string()],
        &segments,
    );
    assert_eq!(first_line(&mut workload.0), "done");

    let serve = start_serve(&segments, &[], &[]);
    let serve_port = serve.port;

    // The scraped text passes promtool too.
    let (status, metrics) = http_get(serve_port, "/metrics").unwrap();
    assert_eq!(status, 200);
    let (clean, said) = Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .output_with_stdin(metrics.as_bytes());
    assert!(clean, "promtool: {said}");
    let (index_status, index) = http_get(serve_port, "/").unwrap();
    assert!(index_status == 200 && index.contains("/metrics"));

    let prometheus = Prometheus::start(dir.path(), serve_port);
    let commits = r#"sum(vfscope_wal_commits_total{job="vfscope",db="scraped.db"})"#;
    let value = prometheus.wait_for(commits);
    assert_eq!(value as u64, COMMITS + 1, "the inserts and CREATE TABLE");
    let syncs = prometheus
        .value(r#"sum(vfscope_vfs_operations_total{op="sync",file_kind="wal"})"#)
        .unwrap();
    assert!(
        syncs as u64 > COMMITS,
        "synchronous=FULL syncs each commit: {syncs}"
    );
    let info = prometheus.value("count(vfscope_process_info)").unwrap();
    assert_eq!(info, 1.0);

    // When the process exits, its series go.
    drop(workload.0.stdin.take());
    workload.0.wait().unwrap();
    let (_, after) = http_get(serve_port, "/metrics").unwrap();
    assert!(!after.contains("vfscope_wal_commits_total"), "{after}");
    assert!(
        after.contains(r#"vfscope_segments{state="exited"} 1"#),
        "{after}"
    );
}

/// `python3 -c SCRIPT ARGS...` with libvfscope.so preloaded, recording into
/// `segments`; killed when dropped.
fn preloaded_python(script: &str, args: &[&str], segments: &std::path::Path) -> Killed {
    Killed(
        Command::new("python3")
            .args(["-c", script])
            .args(args)
            .env("LD_PRELOAD", built("libvfscope.so"))
            .env("VFSCOPE_DIR", segments)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .unwrap(),
    )
}

trait OutputWithStdin {
    fn output_with_stdin(&mut self, input: &[u8]) -> (bool, String);
}

impl OutputWithStdin for Command {
    fn output_with_stdin(&mut self, input: &[u8]) -> (bool, String) {
        let mut child = self
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn");
        child.stdin.take().unwrap().write_all(input).unwrap();
        let out = child.wait_with_output().unwrap();
        let said = String::from_utf8_lossy(&out.stdout) + String::from_utf8_lossy(&out.stderr);
        (
            out.status.success() && said.trim().is_empty(),
            said.into_owned(),
        )
    }
}

/// A process with thousands of databases: `/metrics` stays bounded (the
/// named rows and "other"), names the busy one, and passes promtool.
#[test]
fn thousands_of_databases_keep_the_db_label_bounded() {
    let dir = tempfile::tempdir().unwrap();
    let segments = dir.path().join("segments");
    let script = r#"
import sqlite3, sys
for i in range(3000):
    c = sqlite3.connect(f"{sys.argv[1]}/idle{i}.db")
    c.execute("create table t(x)")
    c.close()
busy = sqlite3.connect(f"{sys.argv[1]}/busy.db")
busy.execute("create table t(x)")
for i in range(300):
    with busy:
        busy.execute("insert into t values (?)", (i,))
print("done", flush=True)
sys.stdin.read()
"#;
    let mut workload = preloaded_python(script, &[dir.path().to_str().unwrap()], &segments);
    assert_eq!(first_line(&mut workload.0), "done");
    let serve = start_serve(&segments, &[], &[]);
    let (status, metrics) = http_get(serve.port, "/metrics").unwrap();
    assert_eq!(status, 200);
    let labels: std::collections::BTreeSet<&str> = metrics
        .lines()
        .filter(|l| l.starts_with("vfscope_vfs_operations_total{"))
        .filter_map(|l| l.split("db=\"").nth(1)?.split('"').next())
        .collect();
    assert!(labels.contains("busy.db"), "{labels:?}");
    assert!(labels.contains("(other)"), "{labels:?}");
    assert!(labels.len() <= 32 + 2, "{} db labels", labels.len());
    let (clean, said) = Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .output_with_stdin(metrics.as_bytes());
    assert!(clean, "promtool: {said}");
    drop(workload.0.stdin.take());
    workload.0.wait().unwrap();
}
