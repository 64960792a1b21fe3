//! `vfscope calibrate net`: round trips to a real TCP listener, printed as
//! the network presets' parameters, a model file and JSON; one-line errors.

use std::process::Command;
use vfscope_tests::{built, succeeds};

#[test]
fn calibrate_net_prints_the_latency_argument_and_writes_a_model() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let dir = tempfile::tempdir().unwrap();
    let (json, model) = (dir.path().join("net.json"), dir.path().join("net.toml"));
    let out = succeeds(
        Command::new(built("vfscope"))
            .args(["calibrate", "net", &format!("127.0.0.1:{port}")])
            .args(["--count", "30", "--interval", "0", "--json"])
            .arg(&json)
            .arg("-o")
            .arg(&model),
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    // The last line is a --latency argument with both parameters measured.
    let last = stdout.lines().last().unwrap();
    let (preset, params) = last.split_once(':').unwrap_or_else(|| panic!("{stdout}"));
    assert!(
        ["same-az", "cross-az", "cross-region"].contains(&preset),
        "{last}"
    );
    assert!(
        params.starts_with("rtt=") && params.contains(",rtt_p99="),
        "{last}"
    );
    vfscope_model::load(last).unwrap_or_else(|e| panic!("{last}: {e}"));
    // Every measurement in the JSON, positive.
    let report: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    assert_eq!(report["samples_ns"].as_array().unwrap().len(), 30);
    for field in ["p50_ns", "p90_ns", "p99_ns"] {
        assert!(report[field].as_u64().unwrap() > 0, "{field}: {report}");
    }
    assert!(report["p50_ns"].as_u64() <= report["p99_ns"].as_u64());
    assert_eq!(report["nearest"], last);
    // The model file is taken wherever a model is: by `vfscope run`.
    let db = dir.path().join("m.db");
    succeeds(
        Command::new(built("vfscope"))
            .args(["run", "--quiet", "--latency"])
            .arg(&model)
            .args(["--", "sqlite3"])
            .arg(&db)
            .arg("CREATE TABLE t(x); INSERT INTO t VALUES (1);")
            .env_remove("VFSCOPE_DIR"),
    );
    drop(listener);
}

#[test]
fn calibrate_net_errors_are_one_line_and_exit_2() {
    // A port nothing listens on: bound, then let go.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    for (endpoint, says) in [
        (format!("127.0.0.1:{port}"), "cannot connect to"),
        ("no-port-here".to_string(), "is not HOST:PORT"),
    ] {
        let out = Command::new(built("vfscope"))
            .args(["calibrate", "net", &endpoint, "--count", "3"])
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{stderr}");
        assert_eq!(stderr.lines().count(), 1, "{stderr}");
        assert!(stderr.contains(says), "{stderr}");
    }
}
