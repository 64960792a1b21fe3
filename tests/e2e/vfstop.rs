//! vfstop in a real terminal (tmux): a live workload under `vfscope run`,
//! keys sent with send-keys, the screen read with capture-pane.

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};
use vfscope_tests::{built, first_line, have, vfscope_run_python};

const WORKLOAD: &str = r#"
import os, sqlite3, sys, time
c = sqlite3.connect(sys.argv[1])
c.execute("PRAGMA journal_mode=WAL")
c.execute("CREATE TABLE IF NOT EXISTS t(v)")
print(os.getpid(), flush=True)
end = time.time() + 60
while time.time() < end:
    c.execute("INSERT INTO t VALUES (randomblob(200))")
    c.commit()
    c.execute("SELECT count(*) FROM t").fetchone()
    time.sleep(0.002)
"#;

/// A private tmux server, killed on drop.
pub(crate) struct Tmux {
    socket: String,
}

impl Tmux {
    pub(crate) fn new() -> Self {
        assert!(have("tmux"), "tmux is missing (tests/run.sh installs it)");
        // One server per test: tests run in parallel and each kills its own.
        static NEXT: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
        let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        Tmux {
            socket: format!("vfscope-test-{}-{n}", std::process::id()),
        }
    }

    /// Starts session `t`, `width`×`height`, running `command`.
    pub(crate) fn start(&self, width: u16, height: u16, command: &str) {
        let (w, h) = (width.to_string(), height.to_string());
        self.run(&["new-session", "-d", "-s", "t", "-x", &w, "-y", &h, command]);
    }

    pub(crate) fn run(&self, args: &[&str]) -> String {
        let out = Command::new("tmux")
            .args(["-L", &self.socket])
            .args(args)
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    pub(crate) fn screen(&self) -> String {
        let out = Command::new("tmux")
            .args(["-L", &self.socket, "capture-pane", "-p", "-t", "t"])
            .output()
            .unwrap();
        if out.status.success() {
            String::from_utf8_lossy(&out.stdout).into_owned()
        } else {
            format!(
                "(tmux capture-pane failed: {})",
                String::from_utf8_lossy(&out.stderr).trim()
            )
        }
    }

    pub(crate) fn keys(&self, keys: &[&str]) {
        let mut args = vec!["send-keys", "-t", "t"];
        args.extend_from_slice(keys);
        self.run(&args);
    }

    /// Waits until the screen satisfies `ok`, up to 60 s (returns at once when
    /// it does; the limit only matters on a loaded machine).
    pub(crate) fn wait_for(&self, what: &str, ok: impl Fn(&str) -> bool) -> String {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let screen = self.screen();
            if ok(&screen) {
                return screen;
            }
            assert!(
                Instant::now() < deadline,
                "timed out waiting for {what}; screen:\n{screen}"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

impl Drop for Tmux {
    fn drop(&mut self) {
        self.run(&["kill-server"]);
    }
}

/// Waits for the shell in the pane to write `stty -a` after vfstop ended,
/// then checks the terminal modes vfstop must restore.
fn assert_terminal_left_sane(tmux: &Tmux, stty: &std::path::Path, what: &str) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while std::fs::read_to_string(stty).map_or(true, |s| s.is_empty()) {
        assert!(
            Instant::now() < deadline,
            "vfstop did not {what}:\n{}",
            tmux.screen()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    std::thread::sleep(Duration::from_millis(200));
    let modes = std::fs::read_to_string(stty).unwrap();
    let words: Vec<&str> = modes.split_whitespace().collect();
    for sane in ["icanon", "echo", "isig", "icrnl", "opost"] {
        assert!(
            words.contains(&sane),
            "terminal left without {sane}:\n{modes}"
        );
    }
}

/// `vfscope run` and the Python process it started (pid once known).
struct Workload(Child, Option<i32>);

impl Drop for Workload {
    fn drop(&mut self) {
        if let Some(pid) = self.1 {
            // SAFETY: signalling the workload process this test started.
            unsafe { libc::kill(pid, libc::SIGKILL) };
        }
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn vfstop_shows_a_live_workload_and_answers_keys() {
    let dir = tempfile::tempdir().unwrap();
    let segments = dir.path().join("segments");
    let (_workload, pid) = start_workload(dir.path());
    assert!(!pid.is_empty());

    let tmux = Tmux::new();
    let stty = dir.path().join("stty.txt");
    // A shell in the pane, so the terminal can be checked after vfstop quits.
    tmux.start(120, 35, "sh");
    let vfstop = format!(
        "{} --dir {} --interval 0.5; stty -a > {}",
        built("vfstop").display(),
        segments.display(),
        stty.display()
    );
    tmux.keys(&[&vfstop, "Enter"]);

    let screen = tmux.wait_for("the workload's pid and non-zero rates", |s| {
        s.contains(&pid)
            && s.lines().any(|l| {
                let f: Vec<&str> = l.split_whitespace().map(|w| w.trim_matches('│')).collect();
                f.len() > 3 && f.contains(&"write") && f.contains(&"wal") && f[3] != "0"
            })
    });
    assert!(screen.contains("running"), "{screen}");

    tmux.keys(&["s"]);
    tmux.wait_for("the sort marker on CALLS/s", |s| s.contains("CALLS/s▼"));
    tmux.keys(&["/", "w", "a", "l", "Enter"]);
    let filtered = tmux.wait_for("the filter in the title", |s| s.contains("/wal"));
    assert!(
        !filtered.contains("main_db      "),
        "rows of other kinds are filtered out:\n{filtered}"
    );
    tmux.keys(&["?"]);
    tmux.wait_for("the help overlay", |s| s.contains("vfstop keys"));
    tmux.keys(&["Escape"]);
    tmux.wait_for("the help to close", |s| !s.contains("vfstop keys"));
    tmux.keys(&["q"]);

    assert_terminal_left_sane(&tmux, &stty, "quit on q");
}

/// Starts the workload under `vfscope run`; returns it and its pid.
fn start_workload(dir: &std::path::Path) -> (Workload, String) {
    let mut workload = Workload(
        vfscope_run_python(&dir.join("segments"), WORKLOAD)
            .arg(dir.join("live.db"))
            .stdout(Stdio::piped())
            .spawn()
            .unwrap(),
        None,
    );
    let pid = first_line(&mut workload.0);
    workload.1 = pid.parse().ok();
    (workload, pid)
}

#[test]
fn once_json_reports_the_workload_for_scripts() {
    let dir = tempfile::tempdir().unwrap();
    let (_workload, pid) = start_workload(dir.path());
    let segments = dir.path().join("segments");
    let out = Command::new(built("vfstop"))
        .args([
            "--dir",
            segments.to_str().unwrap(),
            "--pid",
            &pid,
            "--once",
            "--json",
            "--interval",
            "0.5",
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(json["schema"], "vfstop/1");
    let processes = json["processes"].as_array().unwrap();
    assert_eq!(processes.len(), 1, "--pid shows one process");
    assert_eq!(processes[0]["pid"].to_string(), pid);
    assert!(processes[0]["ops_per_s"].as_f64().unwrap() > 0.0, "{json}");
    let ops = json["operations"].as_array().unwrap();
    assert!(
        ops.iter()
            .any(|o| o["op"] == "sync" && o["file_kind"] == "wal"),
        "{json}"
    );

    let bad = Command::new(built("vfstop"))
        .args(["--interval", "fast"])
        .output()
        .unwrap();
    assert_eq!(bad.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&bad.stderr).contains(r#"--interval "fast""#));
}

#[test]
fn sigterm_restores_the_terminal() {
    let dir = tempfile::tempdir().unwrap();
    let (_workload, _pid) = start_workload(dir.path());
    let tmux = Tmux::new();
    let stty = dir.path().join("stty.txt");
    let pidfile = dir.path().join("vfstop.pid");
    tmux.start(100, 30, "sh");
    let command = format!(
        "sh -c 'echo $$ > {}; exec {} --dir {}'; stty -a > {}",
        pidfile.display(),
        built("vfstop").display(),
        dir.path().join("segments").display(),
        stty.display()
    );
    tmux.keys(&[&command, "Enter"]);
    tmux.wait_for("vfstop to draw", |s| s.contains("processes"));
    let pid: i32 = std::fs::read_to_string(&pidfile)
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    // SAFETY: signalling the vfstop this test started.
    assert_eq!(unsafe { libc::kill(pid, libc::SIGTERM) }, 0);
    assert_terminal_left_sane(&tmux, &stty, "end on SIGTERM");
}

/// Regression: with its pane gone, vfstop used to spin forever on the
/// terminal's end-of-file (30 % of a core each) instead of ending.
#[test]
fn vfstop_ends_when_its_terminal_goes_away() {
    let dir = tempfile::tempdir().unwrap();
    let segments = dir.path().join("segments");
    std::fs::create_dir(&segments).unwrap();
    let tmux = Tmux::new();
    let command = format!("{} --dir {}", built("vfstop").display(), segments.display());
    tmux.start(100, 30, &command);
    tmux.wait_for("vfstop to draw", |s| s.contains("processes"));
    let pid: i32 = tmux
        .run(&["display", "-p", "-t", "t", "#{pane_pid}"])
        .trim()
        .parse()
        .unwrap();
    tmux.run(&["kill-server"]);
    let deadline = Instant::now() + Duration::from_secs(15);
    // SAFETY: signal 0 only asks whether the process exists.
    while unsafe { libc::kill(pid, 0) } == 0 {
        assert!(
            Instant::now() < deadline,
            "vfstop {pid} still runs without a terminal"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}
