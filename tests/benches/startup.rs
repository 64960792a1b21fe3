//! What `LD_PRELOAD=libvfscope.so` costs a program at start: loading the
//! library and scanning every loaded object's symbol tables for SQLite
//! copies (and hooking them). Each program is run bare and preloaded,
//! alternating, and the medians compared. Prints Markdown for
//! BENCHMARKS.md. `cargo bench -p vfscope-tests --bench startup`
//!
//! `VFSCOPE_BENCH_BASELINE_LIB=PATH` adds a column for another build of the
//! library (e.g. one from before copies were scanned for), to tell the
//! scan's share from the cost of loading any Rust library.

use std::process::{Command, Stdio};
use std::time::Instant;
use vfscope_tests::built;

const RUNS: usize = 41;

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

/// Milliseconds one run of `cmd` takes, with or without the library.
fn time(cmd: &[&str], preload: Option<&str>) -> f64 {
    let mut command = Command::new(cmd[0]);
    command
        .args(&cmd[1..])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .env_remove("LD_PRELOAD");
    let segments = tempfile::tempdir().unwrap();
    if let Some(lib) = preload {
        command
            .env("LD_PRELOAD", lib)
            .env("VFSCOPE_DIR", segments.path());
    }
    let start = Instant::now();
    let status = command.status().expect("run the program");
    let ms = start.elapsed().as_secs_f64() * 1e3;
    assert!(status.success(), "{cmd:?} failed");
    ms
}

fn symbols(path: &str) -> String {
    let out = Command::new("readelf")
        .args(["-S", "-W", path])
        .output()
        .expect("readelf");
    let text = String::from_utf8_lossy(&out.stdout);
    let size = |section: &str| {
        text.lines()
            .find(|l| l.contains(section))
            .and_then(|l| {
                let fields: Vec<&str> = l.split_whitespace().collect();
                let at = fields.iter().position(|f| f.starts_with(section))?;
                u64::from_str_radix(fields.get(at + 4)?, 16).ok()
            })
            .map_or(0, |bytes| bytes / 24)
    };
    format!("{} + {}", size(".symtab"), size(".dynsym"))
}

/// Nanoseconds per `sqlite3.connect(":memory:")` + close in Python, as the
/// script measures it: an open goes through the hooked `sqlite3_open_v2`
/// but opens no file, so the difference is the hook's own cost.
fn open_ns(preload: Option<&str>) -> f64 {
    const SCRIPT: &str = "import sqlite3, time\n\
        n = 20000\n\
        t = time.perf_counter()\n\
        for _ in range(n): sqlite3.connect(':memory:').close()\n\
        print((time.perf_counter() - t) / n * 1e9)";
    let mut command = Command::new("/usr/bin/python3");
    command.args(["-c", SCRIPT]).env_remove("LD_PRELOAD");
    let segments = tempfile::tempdir().unwrap();
    if let Some(lib) = preload {
        command
            .env("LD_PRELOAD", lib)
            .env("VFSCOPE_DIR", segments.path());
    }
    let out = command.output().expect("python3");
    assert!(out.status.success());
    String::from_utf8_lossy(&out.stdout).trim().parse().unwrap()
}

fn main() {
    let lib = built("libvfscope.so");
    let lib = lib.to_str().unwrap();
    let vfscope = built("vfscope");
    let app = built("vfscope-test-rusqlite-app");
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("startup.db");
    let baseline = std::env::var("VFSCOPE_BENCH_BASELINE_LIB").ok();
    let cases: Vec<(&str, Vec<&str>)> = vec![
        ("/bin/true (no SQLite)", vec!["/bin/true"]),
        (
            "vfscope --version (static SQLite, large .symtab)",
            vec![vfscope.to_str().unwrap(), "--version"],
        ),
        (
            "rusqlite app, 1 row (static SQLite, hooked)",
            vec![app.to_str().unwrap(), db.to_str().unwrap(), "1"],
        ),
        (
            "Debian python3, import sqlite3 (dlopen of libsqlite3)",
            vec![
                "/usr/bin/python3",
                "-c",
                "import sqlite3; sqlite3.connect(':memory:')",
            ],
        ),
    ];
    println!("### Start-up cost of the preloaded library ({RUNS} runs each way, alternating)\n");
    println!("| program | symbols (.symtab + .dynsym) | bare, median ms | preloaded, median ms | added ms | baseline library, added ms |");
    println!("|---|---:|---:|---:|---:|---:|");
    for (name, cmd) in &cases {
        let (mut bare, mut preloaded, mut base) = (Vec::new(), Vec::new(), Vec::new());
        for i in 0..RUNS {
            if i % 2 == 0 {
                bare.push(time(cmd, None));
                preloaded.push(time(cmd, Some(lib)));
            } else {
                preloaded.push(time(cmd, Some(lib)));
                bare.push(time(cmd, None));
            }
            if let Some(baseline) = &baseline {
                base.push(time(cmd, Some(baseline)));
            }
        }
        let (b, p) = (median(bare), median(preloaded));
        let base = if base.is_empty() {
            "-".to_string()
        } else {
            format!("{:+.2}", median(base) - b)
        };
        let program = if cmd[0].starts_with('/') {
            cmd[0].to_string()
        } else {
            String::from_utf8_lossy(
                &Command::new("sh")
                    .args(["-c", &format!("readlink -f \"$(command -v {})\"", cmd[0])])
                    .output()
                    .unwrap()
                    .stdout,
            )
            .trim()
            .to_string()
        };
        println!(
            "| {name} | {} | {b:.2} | {p:.2} | {:+.2} | {base} |",
            symbols(&program),
            p - b
        );
    }
    let (mut bare, mut hooked) = (Vec::new(), Vec::new());
    for _ in 0..11 {
        bare.push(open_ns(None));
        hooked.push(open_ns(Some(lib)));
    }
    let (b, h) = (median(bare), median(hooked));
    println!("\n### A hooked open (11 runs each way, alternating)\n");
    println!("| Debian python3, `sqlite3.connect(':memory:')` + close | bare, median ns | hooked, median ns | added ns |");
    println!("|---|---:|---:|---:|");
    println!("| 20,000 per run | {b:.0} | {h:.0} | {:+.0} |", h - b);
}
