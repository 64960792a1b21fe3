//! Scrape time of `vfscope serve` with 1, 10 and 50 live segments, each
//! filled like a busy process (two databases, every common op on each file
//! kind, lock and WAL-index activity). Prints Markdown for BENCHMARKS.md.
//! `cargo bench -p vfscope-exporter --bench scrape`; with `SPLIT=1` it also
//! prints the time of each stage (snapshots; families and their text).

use std::time::Instant;
use vfscope_exporter::SegmentCollector;
use vfscope_segment::{FileKind, Op, ProcessMeta, SegmentWriter};

fn busy_segment(dir: &std::path::Path, pid: u32) -> SegmentWriter {
    let mut meta = ProcessMeta::current("3.46.0", 10_000_000, 4096);
    meta.pid = pid;
    let w = SegmentWriter::create(dir, &meta).unwrap();
    let l = w.layout();
    for name in ["orders.db", "audit.db"] {
        let db = l.db_index(format!("/data/{name}").as_bytes());
        for kind in [
            FileKind::MainDb,
            FileKind::Wal,
            FileKind::Shm,
            FileKind::MainJournal,
        ] {
            for op in [
                Op::Read,
                Op::Write,
                Op::Sync,
                Op::FileSize,
                Op::Lock,
                Op::Unlock,
                Op::ShmLock,
                Op::FileControl,
            ] {
                for i in 0..200u64 {
                    l.record_call(
                        op,
                        kind,
                        db,
                        if i % 50 == 0 { 5 } else { 0 },
                        4096,
                        1_000 + i * 997 % 5_000_000,
                    );
                }
            }
        }
        let stats = l.lock_stats(db);
        for level in 0..5 {
            stats.transitions[level][(level + 1) % 5]
                .fetch_add(10, std::sync::atomic::Ordering::Relaxed);
            l.record_latency(&stats.hold_hist[level], 50_000);
        }
        for slot in 0..8 {
            stats.shm_acquired[slot][0].fetch_add(3, std::sync::atomic::Ordering::Relaxed);
            l.record_latency(&stats.shm_hold_hist[slot], 2_000);
        }
    }
    w
}

/// A `VmRSS`-family line of /proc/self/status, in MiB.
fn status_mib(field: &str) -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with(field))
                .and_then(|l| l.split_whitespace().nth(1)?.parse::<f64>().ok())
        })
        .map_or(0.0, |kib| kib / 1024.0)
}

/// One segment whose process opened `dbs` databases, each with a write,
/// a sync and a read on its file and its journal.
fn many_databases(dir: &std::path::Path, dbs: u32) -> SegmentWriter {
    let w = SegmentWriter::create(dir, &ProcessMeta::current("3.46.0", 10_000_000, 4096)).unwrap();
    let l = w.layout();
    for i in 0..dbs {
        let db = l.db_index(format!("/data/db{i}.sqlite").as_bytes());
        for kind in [FileKind::MainDb, FileKind::MainJournal] {
            for (op, ns) in [(Op::Write, 3_000), (Op::Sync, 200_000), (Op::Read, 1_500)] {
                l.record_call(op, kind, db, 0, 4096, ns + i as u64 % 997);
            }
        }
    }
    w
}

/// The text of a first scrape (which maps the segments), and the median
/// time of 21 more.
fn scrape(collector: &SegmentCollector) -> (String, f64) {
    let text = collector.render();
    let mut times: Vec<f64> = (0..21)
        .map(|_| {
            let start = Instant::now();
            std::hint::black_box(collector.render());
            start.elapsed().as_secs_f64() * 1e3
        })
        .collect();
    times.sort_by(f64::total_cmp);
    (text, times[times.len() / 2])
}

/// Scrape time of one segment by the number of databases it holds: the
/// series stay bounded (the named rows and "other").
fn by_databases() {
    println!("\n| databases in one segment | series in /metrics | scrape time, median of 21 |");
    println!("|---:|---:|---:|");
    for dbs in [1u32, 100, 10_000] {
        let dir = tempfile::tempdir().unwrap();
        let segs = dir.path().join("segs");
        let writer = many_databases(&segs, dbs);
        let (text, median_ms) = scrape(&SegmentCollector::new(&segs));
        let series = text.lines().filter(|l| !l.starts_with('#')).count();
        println!("| {dbs} | {series} | {median_ms:.2} ms |");
        drop(writer);
    }
}

fn main() {
    by_databases();
    println!("\n| live segments | series in /metrics | size of /metrics | scrape time, median of 21 | RSS after: heap (anon) | RSS after: mapped segments (file) |");
    println!("|---:|---:|---:|---:|---:|---:|");
    for n in [1u32, 10, 50] {
        let dir = tempfile::tempdir().unwrap();
        let segs = dir.path().join("segs");
        let writers: Vec<_> = (0..n).map(|i| busy_segment(&segs, 10_000 + i)).collect();
        let (text, median_ms) = scrape(&SegmentCollector::new(&segs));
        let series = text.lines().filter(|l| !l.starts_with('#')).count();
        if std::env::var_os("SPLIT").is_some() {
            let t = Instant::now();
            let readers: Vec<_> = vfscope_segment::list_segments(&segs)
                .unwrap()
                .iter()
                .map(|p| vfscope_segment::SegmentReader::open(p).unwrap())
                .collect();
            let snaps: Vec<_> = readers.iter().map(|r| r.snapshot()).collect();
            let a = t.elapsed().as_secs_f64() * 1e3;
            let t = Instant::now();
            let text = vfscope_exporter::families::text(&vfscope_exporter::families::Scrape {
                live: &snaps,
                segments: Default::default(),
                unreadable: 0,
                otlp: None,
            });
            std::hint::black_box(text);
            let b = t.elapsed().as_secs_f64() * 1e3;
            eprintln!("n={n} snapshots {a:.1} ms, families and text {b:.1} ms");
        }
        println!(
            "| {n} | {series} | {:.1} MiB | {:.1} ms | {:.0} MiB | {:.0} MiB |",
            text.len() as f64 / (1 << 20) as f64,
            median_ms,
            status_mib("RssAnon:"),
            status_mib("RssFile:") + status_mib("RssShmem:"),
        );
        drop(writers);
    }
}
