//! The tools meet each other: what `vfscope run` starts in one terminal is
//! seen, with no flag, by vfstop in another, switched by `vfscope latency`
//! and exported by `vfscope serve`, while each run's own report covers
//! only its processes.

use crate::vfstop::Tmux;
use std::path::{Path, PathBuf};

use std::process::Command;
use std::time::{Duration, Instant};
use vfscope_tests::{built, free_port, http_get};

/// A loop of transactions until STOP exists; writes its pid to PIDFILE.
/// usage: python3 -c WORKLOAD DB PIDFILE STOP
const WORKLOAD: &str = r#"
import os, sqlite3, sys, time
c = sqlite3.connect(sys.argv[1])
c.execute("PRAGMA journal_mode=WAL")
c.execute("CREATE TABLE IF NOT EXISTS t(v)")
with open(sys.argv[2] + ".tmp", "w") as f:
    f.write(str(os.getpid()))
os.rename(sys.argv[2] + ".tmp", sys.argv[2])
end = time.time() + 300
while time.time() < end and not os.path.exists(sys.argv[3]):
    c.execute("INSERT INTO t VALUES (randomblob(200))")
    c.commit()
    time.sleep(0.002)
"#;

/// Where the test's files go, and the runtime directory every command of
/// the test has (`XDG_RUNTIME_DIR`, with no `VFSCOPE_DIR`: the default
/// segment directory is `XDG_RUNTIME_DIR/vfscope`, as a user's would be).
struct Setup {
    root: tempfile::TempDir,
}

impl Setup {
    fn new() -> Self {
        let root = tempfile::tempdir().unwrap();
        // A runtime directory is the user's alone.
        std::fs::set_permissions(
            root.path(),
            std::os::unix::fs::PermissionsExt::from_mode(0o700),
        )
        .unwrap();
        Setup { root }
    }
    fn runtime(&self) -> PathBuf {
        self.root.path().to_path_buf()
    }
    fn file(&self, name: &str) -> PathBuf {
        self.root.path().join(name)
    }
    /// `vfscope ARGS`, with no flag for the segment directory.
    fn vfscope(&self, args: &[&str]) -> Command {
        let mut command = Command::new(built("vfscope"));
        command
            .args(args)
            .env_remove("VFSCOPE_DIR")
            .env("XDG_RUNTIME_DIR", self.runtime());
        command
    }

    /// The environment of the shell lines: no flag for the directory.
    fn env(&self) -> String {
        format!(
            "env -u VFSCOPE_DIR XDG_RUNTIME_DIR={}",
            self.runtime().display()
        )
    }
    /// A shell command line that runs the workload under `vfscope run`,
    /// writing its report to REPORT.json.
    fn run_line(&self, name: &str) -> String {
        format!(
            "{} {} run --json {} -- python3 -c '{}' {} {} {}",
            self.env(),
            built("vfscope").display(),
            self.file(&format!("{name}.json")).display(),
            WORKLOAD,
            self.file(&format!("{name}.db")).display(),
            self.file(&format!("{name}.pid")).display(),
            self.file("stop").display(),
        )
    }
}

fn wait_for_file(path: &Path) -> String {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        if let Ok(text) = std::fs::read_to_string(path) {
            if !text.is_empty() {
                return text;
            }
        }
        assert!(Instant::now() < deadline, "no {}", path.display());
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn report_pids(report: &serde_json::Value) -> Vec<String> {
    report["processes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["pid"].to_string())
        .collect()
}

#[test]
fn a_run_in_one_terminal_is_seen_switched_and_exported_from_another() {
    let setup = Setup::new();
    // Terminal 1: the run. Terminal 2: vfstop, with no flag.
    let tmux = Tmux::new();
    tmux.start(160, 40, "sh");
    tmux.keys(&[&setup.run_line("first"), "Enter"]);
    let pid = wait_for_file(&setup.file("first.pid"));
    // Another run at the same time, elsewhere.
    let mut second = Command::new("sh")
        .args(["-c", &setup.run_line("second")])
        .spawn()
        .unwrap();
    let second_pid = wait_for_file(&setup.file("second.pid"));
    tmux.run(&["new-window", "-t", "t"]);
    let vfstop = format!(
        "{} {} --interval 0.5",
        setup.env(),
        built("vfstop").display()
    );
    tmux.keys(&[&vfstop, "Enter"]);
    let screen = tmux.wait_for("the run's process and its operations", |s| {
        s.contains(&pid) && s.contains(&second_pid) && s.contains("wal")
    });
    assert!(screen.contains("running"), "{screen}");

    // Switched by pid, in each form --latency takes, as vfstop shows.
    for model in ["cross-az", "same-az:rtt=150us"] {
        let out = setup.vfscope(&["latency", &pid, model]).output().unwrap();
        assert!(
            out.status.success(),
            "vfscope latency {pid} {model}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let shown = model.split(':').next().unwrap();
        tmux.wait_for(&format!("the MODEL column to show {shown}"), |s| {
            s.lines().any(|l| l.contains(&pid) && l.contains(shown))
        });
    }

    // Exported by `vfscope serve`, with no flag.
    let port = free_port();
    let mut serve = setup
        .vfscope(&["serve", "--listen", &format!("127.0.0.1:{port}")])
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    let metrics = loop {
        if let Ok((200, body)) = http_get(port, "/metrics") {
            if body.contains(&format!("pid=\"{pid}\"")) {
                break body;
            }
        }
        assert!(Instant::now() < deadline, "/metrics never showed pid {pid}");
        std::thread::sleep(Duration::from_millis(200));
    };
    assert!(metrics.contains("vfscope_vfs_operations_total"));
    let _ = serve.kill();
    let _ = serve.wait();

    // Each run's own report covers its own process only.
    std::fs::write(setup.file("stop"), b"").unwrap();
    assert!(second.wait().unwrap().success());
    let first: serde_json::Value =
        serde_json::from_str(&wait_for_file(&setup.file("first.json"))).unwrap();
    let second: serde_json::Value =
        serde_json::from_str(&wait_for_file(&setup.file("second.json"))).unwrap();
    assert_eq!(report_pids(&first), vec![pid.clone()]);
    assert_eq!(report_pids(&second), vec![second_pid]);
    let model = first["processes"][0]["latency_model"].to_string();
    assert!(model.contains("same-az"), "{}", first["processes"][0]);
    tmux.keys(&["q"]);
}

/// `vfscope run --json F -- CMD 2>&1 | head -1`: the report is written
/// whole although the pipe closes before the text report is printed.
#[test]
fn the_json_report_is_written_when_stderr_is_closed() {
    let setup = Setup::new();
    let json = setup.file("r.json");
    let line = format!(
        "{} {} run --json {} -- sqlite3 {} 'CREATE TABLE t(x); INSERT INTO t VALUES (1);' 2>&1 | head -1",
        setup.env(),
        built("vfscope").display(),
        json.display(),
        setup.file("h.db").display()
    );
    let out = Command::new("sh").args(["-c", &line]).output().unwrap();
    assert!(out.status.success());
    let report: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&json).expect("the JSON report")).unwrap();
    assert_eq!(vfscope_tests::json_calls(&report, "open", "main_db"), 1);
}
