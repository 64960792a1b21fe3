//! The Grafana dashboards (grafana/dashboards): their structure, and every
//! query of every panel run against a real Prometheus scraping `vfscope
//! serve` while a workload exercises what the panels show.

use serde_json::Value;
use std::collections::BTreeSet;
use std::process::Stdio;
use std::time::{Duration, Instant};
use vfscope_tests::{first_line, http_get, start_serve, vfscope_run_python, Killed, Prometheus};

/// Metrics `vfscope serve` exports that no dashboard shows, on purpose
/// (also listed, with why, in grafana/README.md).
const LEFT_OUT: &[&str] = &["vfscope_otlp_exports_total", "vfscope_otlp_spans_total"];

fn dashboards() -> Vec<(String, Value)> {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../grafana/dashboards");
    let mut out: Vec<(String, Value)> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "json"))
        .map(|p| {
            let text = std::fs::read_to_string(&p).unwrap();
            assert!(
                !text.contains("${DS_"),
                "{}: ${{DS_...}} cannot be provisioned",
                p.display()
            );
            let json =
                serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
            (p.file_name().unwrap().to_string_lossy().into_owned(), json)
        })
        .collect();
    out.sort_by(|a, b| a.0.cmp(&b.0));
    assert_eq!(out.len(), 4, "overview, latency, locks, simulation");
    out
}

fn panels(board: &Value) -> &Vec<Value> {
    board["panels"].as_array().expect("panels")
}

/// Every (dashboard, panel title, PromQL) of every dashboard.
fn queries() -> Vec<(String, String, String)> {
    let mut out = Vec::new();
    for (name, board) in dashboards() {
        for panel in panels(&board) {
            for target in panel["targets"].as_array().unwrap() {
                out.push((
                    name.clone(),
                    panel["title"].as_str().unwrap().to_string(),
                    target["expr"].as_str().unwrap().to_string(),
                ));
            }
        }
    }
    out
}

#[test]
fn dashboards_are_well_formed() {
    let mut uids = BTreeSet::new();
    for (name, board) in dashboards() {
        assert!(board["schemaVersion"].as_u64().unwrap() >= 36, "{name}");
        assert!(
            uids.insert(board["uid"].as_str().unwrap().to_string()),
            "{name}: uid"
        );
        let vars = board["templating"]["list"].as_array().unwrap();
        let var = |n: &str| {
            vars.iter()
                .find(|v| v["name"] == n)
                .unwrap_or_else(|| panic!("{name}: ${n}"))
        };
        assert_eq!(
            (
                var("datasource")["type"].as_str(),
                var("datasource")["query"].as_str()
            ),
            (Some("datasource"), Some("prometheus"))
        );
        for n in ["job", "instance", "db"] {
            assert_eq!(var(n)["datasource"]["uid"], "${datasource}", "{name}: ${n}");
        }
        let mut ids = BTreeSet::new();
        for panel in panels(&board) {
            let title = panel["title"].as_str().unwrap();
            assert!(
                ids.insert(panel["id"].as_u64().unwrap()),
                "{name}: duplicate id at {title}"
            );
            assert_eq!(
                panel["datasource"]["uid"], "${datasource}",
                "{name}: {title}"
            );
            assert!(
                !panel["fieldConfig"]["defaults"]["unit"]
                    .as_str()
                    .unwrap_or("")
                    .is_empty(),
                "{name}: {title} has no unit"
            );
            assert!(
                !panel["description"].as_str().unwrap_or("").is_empty(),
                "{name}: {title} has no description"
            );
            for target in panel["targets"].as_array().unwrap() {
                let expr = target["expr"].as_str().unwrap();
                assert_eq!(
                    target["datasource"]["uid"], "${datasource}",
                    "{name}: {title}"
                );
                assert!(
                    expr.contains("$job") && expr.contains("$instance"),
                    "{name}: {title}: {expr}"
                );
                let windows = expr.matches('[').count();
                assert_eq!(
                    windows,
                    expr.matches("[$__rate_interval]").count(),
                    "{name}: {title}: {expr}"
                );
            }
        }
    }
}

/// The metric names an expression reads (histogram series as their family).
fn metrics_in(expr: &str) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    for (i, _) in expr.match_indices("vfscope_") {
        if i > 0 && expr.as_bytes()[i - 1].is_ascii_alphanumeric() {
            continue;
        }
        let name: String = expr[i..]
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
            .collect();
        let family = ["_bucket", "_sum", "_count"]
            .iter()
            .find_map(|s| {
                name.strip_suffix(s)
                    .filter(|base| base.ends_with("_seconds"))
            })
            .unwrap_or(&name);
        out.insert(family.to_string());
    }
    out
}

const WORKLOAD: &str = r#"
import sqlite3, sys, threading, time
d = sys.argv[1]
def attempt(f):
    try:
        f()
    except sqlite3.Error:
        pass
def connect(name, timeout=0):
    return sqlite3.connect(f"{d}/{name}", timeout=timeout, isolation_level=None, check_same_thread=False)
wal, rb = connect("wal.db"), connect("rollback.db")
wal.execute("PRAGMA journal_mode=WAL")
for c in (wal, rb):
    c.execute("CREATE TABLE IF NOT EXISTS t(k INTEGER PRIMARY KEY, v)")
for i in range(200):
    attempt(lambda: wal.execute("INSERT INTO t(v) VALUES (randomblob(500))"))
    attempt(lambda: rb.execute("INSERT INTO t(v) VALUES (randomblob(500))"))
for i in range(1, 150):
    attempt(lambda: connect("wal.db").execute("SELECT v FROM t WHERE k = ?", (i,)).fetchall())
# Rollback-journal contention: one waiter gives up, one waits and gets it.
holder = connect("rollback.db", timeout=5)
holder.execute("BEGIN IMMEDIATE")
holder.execute("INSERT INTO t(v) VALUES (1)")
attempt(lambda: rb.execute("INSERT INTO t(v) VALUES (2)"))
patient = connect("rollback.db", timeout=5)
waiter = threading.Thread(target=lambda: attempt(lambda: patient.execute("INSERT INTO t(v) VALUES (3)")))
waiter.start()
time.sleep(0.3)
holder.execute("COMMIT")
waiter.join()
# WAL-index contention: the write lock is taken.
wholder = connect("wal.db", timeout=5)
wholder.execute("BEGIN IMMEDIATE")
wholder.execute("INSERT INTO t(v) VALUES (1)")
attempt(lambda: wal.execute("INSERT INTO t(v) VALUES (2)"))
wholder.execute("COMMIT")
print("ready", flush=True)
sys.stdin.read()
"#;

const MODEL: &str = r#"seed = 1
[[rule]]
ops = ["read"]
files = ["main_db"]
delay = { dist = "fixed", value = "20us" }
[cache]
pages = 20
[commit]
rtt = { dist = "fixed", value = "50us" }
replication = "async"
[[fault]]
ops = ["write"]
files = ["main_journal"]
error = "ioerr_write"
nth = 5
[remote]
block = "4KiB"
rtt = "0ms"
[[remote.request]]
name = "get"
time = "1us"
price_per_1000 = 0.0004
[[remote.send]]
ops = ["read"]
requests = ["get per block"]
"#;

#[test]
fn every_query_returns_data_from_a_real_prometheus() {
    let dir = tempfile::tempdir().unwrap();
    let segments = dir.path().join("segments");
    let model = dir.path().join("model.toml");
    std::fs::write(&model, MODEL).unwrap();
    let serve = start_serve(&segments, &[], &[]);
    let mut workload = Killed(
        vfscope_run_python(&segments, WORKLOAD)
            .arg(dir.path())
            .env("VFSCOPE_LATENCY", &model)
            .env("VFSCOPE_SLOW", "1us")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    assert_eq!(first_line(&mut workload.0), "ready");
    let prometheus = Prometheus::start(dir.path(), serve.port);
    prometheus.wait_for("count(vfscope_process_info)");
    // Enough scrapes for rates over the window.
    let deadline = Instant::now() + Duration::from_secs(90);
    while prometheus
        .value("count_over_time(vfscope_build_info[1m])")
        .unwrap_or(0.0)
        < 4.0
    {
        assert!(Instant::now() < deadline, "Prometheus is not scraping");
        std::thread::sleep(Duration::from_millis(250));
    }

    let mut missing = Vec::new();
    for (board, title, expr) in queries() {
        let promql = expr
            .replace("$__rate_interval", "1m")
            .replace("$job", ".*")
            .replace("$instance", ".*")
            .replace("$db", ".*");
        let answer = loop {
            match prometheus.query(&promql) {
                Ok(result) if !result.is_empty() => break Ok(()),
                Err(e) if !e.starts_with("not reachable") => break Err(e),
                _ if Instant::now() > deadline => break Err("no data".to_string()),
                _ => std::thread::sleep(Duration::from_millis(500)),
            }
        };
        if let Err(why) = answer {
            missing.push(format!("{board} / {title}: {why}\n    {promql}"));
        }
    }
    assert!(
        missing.is_empty(),
        "queries without data:\n{}",
        missing.join("\n")
    );

    // Every metric a dashboard reads exists; every metric exported is shown
    // or deliberately left out.
    let (_, text) = http_get(serve.port, "/metrics").unwrap();
    let exported: BTreeSet<String> = text
        .lines()
        .filter_map(|l| l.strip_prefix("# TYPE "))
        .map(|l| l.split_whitespace().next().unwrap().to_string())
        .collect();
    let used: BTreeSet<String> = queries()
        .iter()
        .flat_map(|(_, _, e)| metrics_in(e))
        .collect();
    for metric in &used {
        assert!(
            exported.contains(metric),
            "a dashboard reads {metric}, which vfscope serve does not export"
        );
    }
    for metric in &exported {
        assert!(
            used.contains(metric) || LEFT_OUT.contains(&metric.as_str()),
            "{metric} is on no dashboard and not listed as left out"
        );
    }
    drop(workload);
}
