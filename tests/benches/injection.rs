//! The latency model, measured. Prints Markdown for BENCHMARKS.md.
//! `cargo bench -p vfscope-tests --bench injection`
//!
//! 1. Accuracy: xFileSize (a ~0.4 µs call) with a fixed modelled latency of
//!    10 µs, 100 µs, 1 ms and 10 ms; the error is the call's latency as the
//!    caller measures it minus the target.
//! 2. Presets: one fixed SQLite workload under each preset. The prediction
//!    is the bare run's wall time plus the latency the preset's numbers
//!    model, which a virtual-mode run of the same workload (same seed)
//!    accounts without waiting, minus the local time of the calls it
//!    delayed (a modelled latency is a deadline from the call's start: the
//!    local I/O happens inside it); next to it, the live (sleep-mode) run.

use std::path::Path;
use std::time::{Duration, Instant};
use vfscope_segment::SegmentReader;
use vfscope_tests::{RawFile, MAIN_DB_FLAGS};

fn quantile(v: &mut [f64], q: f64) -> f64 {
    v.sort_by(f64::total_cmp);
    v[((v.len() - 1) as f64 * q).round() as usize]
}

fn accuracy(registration: &vfscope::Registration, dir: &Path) {
    println!("### Injection accuracy (xFileSize, fixed modelled latency, sleep mode)\n");
    println!("| target | calls | p50 error | p99 error | max error |");
    println!("|---:|---:|---:|---:|---:|");
    let mut file = RawFile::open("vfscope-bench", &dir.join("accuracy.db"), MAIN_DB_FLAGS);
    for (label, target_us, calls) in [
        ("10 µs", 10u64, 5000),
        ("100 µs", 100, 3000),
        ("1 ms", 1000, 1000),
        ("10 ms", 10_000, 200),
    ] {
        registration
            .set_latency(&format!(
                "seed = 1\n[[rule]]\nops = [\"file_size\"]\ndelay = {{ dist = \"fixed\", value = \"{target_us}us\" }}\n"
            ))
            .unwrap();
        let target = Duration::from_micros(target_us).as_secs_f64() * 1e6;
        let mut errors: Vec<f64> = (0..calls)
            .map(|_| {
                let start = Instant::now();
                std::hint::black_box(file.size());
                start.elapsed().as_secs_f64() * 1e6 - target
            })
            .collect();
        let p50 = quantile(&mut errors, 0.5);
        let p99 = quantile(&mut errors, 0.99);
        let max = quantile(&mut errors, 1.0);
        println!("| {label} | {calls} | {p50:.2} µs | {p99:.2} µs | {max:.1} µs |");
    }
    registration.set_latency("off").unwrap();
    println!();
}

/// A fixed workload: 40 write transactions of 5 rows, then 200 point reads
/// through a fresh connection (cold cache), on a WAL database.
fn workload(dir: &Path, vfs: &str) -> Duration {
    let path = dir.join("preset.db");
    for suffix in ["", "-wal", "-shm"] {
        let _ = std::fs::remove_file(format!("{}{suffix}", path.display()));
    }
    let setup = rusqlite::Connection::open(&path).unwrap();
    setup
        .execute_batch(
            "PRAGMA journal_mode=WAL; CREATE TABLE t(k INTEGER PRIMARY KEY, v BLOB);
             WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 2000)
             INSERT INTO t SELECT i, randomblob(400) FROM n;",
        )
        .unwrap();
    drop(setup);
    let start = Instant::now();
    let conn = rusqlite::Connection::open_with_flags_and_vfs(
        &path,
        rusqlite::OpenFlags::SQLITE_OPEN_READ_WRITE,
        vfs,
    )
    .unwrap();
    for tx in 0..40 {
        conn.execute_batch(&format!(
            "BEGIN; {} COMMIT;",
            (0..5)
                .map(|i| format!(
                    "INSERT INTO t(v) VALUES (randomblob({}));",
                    100 + tx * 5 + i
                ))
                .collect::<String>()
        ))
        .unwrap();
    }
    drop(conn);
    let conn = rusqlite::Connection::open_with_flags_and_vfs(
        &path,
        rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY,
        vfs,
    )
    .unwrap();
    for i in 0..200 {
        let _: Vec<u8> = conn
            .query_row(
                "SELECT v FROM t WHERE k = ?1",
                [(i * 7919) % 2000 + 1],
                |r| r.get(0),
            )
            .unwrap();
    }
    drop(conn);
    start.elapsed()
}

/// Per cell (op, kind, db): modelled delay, delayed calls and time spent.
fn cells(segment: &Path) -> std::collections::HashMap<(u8, u8, u16), (u64, u64, u64)> {
    let snapshot = SegmentReader::open(segment).unwrap().snapshot();
    snapshot
        .cells
        .iter()
        .map(|c| {
            (
                (c.op as u8, c.kind as u8, c.db),
                (c.delay_target_ns, c.delayed, c.total_ns),
            )
        })
        .collect()
}

/// What a virtual run accounted between two cell readings: the modelled
/// delay, and the local time of the cells whose calls it delayed (their own
/// I/O happens inside the modelled latency, which is a deadline).
fn accounted(
    before: &std::collections::HashMap<(u8, u8, u16), (u64, u64, u64)>,
    after: &std::collections::HashMap<(u8, u8, u16), (u64, u64, u64)>,
) -> (Duration, Duration) {
    let (mut modelled, mut local) = (0, 0);
    for (key, &(target, delayed, total)) in after {
        let (t0, d0, n0) = before.get(key).copied().unwrap_or_default();
        modelled += target - t0;
        if delayed > d0 {
            local += total - n0;
        }
    }
    (Duration::from_nanos(modelled), Duration::from_nanos(local))
}

fn presets(registration: &vfscope::Registration, dir: &Path) {
    let segment = registration.segment_path().unwrap().to_path_buf();
    println!("### Presets on a fixed workload (40 commits, 200 cold point reads)\n");
    println!("| preset | bare run | modelled delay (virtual run) | local time of delayed calls | predicted: bare + modelled − local | live run | live / predicted |");
    println!("|---|---:|---:|---:|---:|---:|---:|");
    for preset in vfscope_model::PRESETS.iter().map(|p| p.name) {
        registration.set_latency("off").unwrap();
        let bare = workload(dir, "vfscope-bench");
        let text = vfscope_model::PRESETS
            .iter()
            .find(|p| p.name == preset)
            .unwrap()
            .text;
        registration
            .set_latency(&format!("seed = 7\nmode = \"virtual\"\n{text}"))
            .unwrap();
        let before = cells(&segment);
        workload(dir, "vfscope-bench");
        let (modelled, local) = accounted(&before, &cells(&segment));
        registration
            .set_latency(&format!("seed = 7\n{text}"))
            .unwrap();
        let live = workload(dir, "vfscope-bench");
        let predicted = (bare + modelled).saturating_sub(local);
        println!(
            "| {preset} | {:.1} ms | {:.1} ms | {:.1} ms | {:.1} ms | {:.1} ms | {:.3} |",
            bare.as_secs_f64() * 1e3,
            modelled.as_secs_f64() * 1e3,
            local.as_secs_f64() * 1e3,
            predicted.as_secs_f64() * 1e3,
            live.as_secs_f64() * 1e3,
            live.as_secs_f64() / predicted.as_secs_f64()
        );
    }
    registration.set_latency("off").unwrap();
}

fn main() {
    let dir = tempfile::tempdir().unwrap();
    let registration = vfscope::Builder::new()
        .name("vfscope-bench")
        .parent("unix")
        .dir(dir.path().join("segments"))
        .register()
        .unwrap();
    accuracy(&registration, dir.path());
    presets(&registration, dir.path());
}
