//! A per-op summary of one snapshot, in the spirit of `strace -c`.

use crate::format::{bytes, duration_ns};
use std::fmt::Write;
use vfscope_segment::{CellStats, FileKind, LockLevel, Op, ShmSlot, Snapshot};

/// One row: an op on a file kind, summed over databases.
struct Row {
    op: Op,
    kind: FileKind,
    calls: u64,
    errors: u64,
    bytes: u64,
    total_ns: u64,
    max_ns: u64,
    latency: vfscope_segment::Buckets,
}

fn rows(snapshot: &Snapshot) -> Vec<Row> {
    let mut rows: Vec<Row> = Vec::new();
    for cell in &snapshot.cells {
        let row = match rows
            .iter_mut()
            .find(|r| r.op == cell.op && r.kind == cell.kind)
        {
            Some(row) => row,
            None => {
                rows.push(Row {
                    op: cell.op,
                    kind: cell.kind,
                    calls: 0,
                    errors: 0,
                    bytes: 0,
                    total_ns: 0,
                    max_ns: 0,
                    latency: Default::default(),
                });
                rows.last_mut().expect("just pushed")
            }
        };
        add(row, cell);
    }
    rows.sort_by_key(|r| std::cmp::Reverse(r.total_ns));
    rows
}

fn add(row: &mut Row, cell: &CellStats) {
    row.calls += cell.calls();
    row.errors += cell.errors();
    row.bytes += cell.bytes;
    row.total_ns += cell.total_ns;
    row.max_ns = row.max_ns.max(cell.max_ns);
    if let Some(latency) = &cell.latency {
        row.latency.merge(latency);
    }
}

/// Renders the summary as text.
pub fn render(snapshot: &Snapshot) -> String {
    let mut out = String::new();
    let rows = rows(snapshot);
    let total_ns: u64 = rows.iter().map(|r| r.total_ns).sum::<u64>().max(1);
    let _ = writeln!(
        out,
        "{:<24} {:<13} {:>8} {:>6} {:>9} {:>9} {:>6} {:>8} {:>8} {:>8}",
        "op", "file_kind", "calls", "errors", "bytes", "time", "%time", "p50", "p99", "max"
    );
    for r in &rows {
        let h = r.latency.to_hdr();
        let (p50, p99) = if h.is_empty() {
            ("-".to_string(), "-".to_string())
        } else {
            (
                // A bucket's midpoint can lie above the largest value seen.
                duration_ns(h.value_at_quantile(0.50).min(r.max_ns)),
                duration_ns(h.value_at_quantile(0.99).min(r.max_ns)),
            )
        };
        let _ = writeln!(
            out,
            "{:<24} {:<13} {:>8} {:>6} {:>9} {:>9} {:>5.1}% {:>8} {:>8} {:>8}",
            r.op.name(),
            r.kind.name(),
            r.calls,
            r.errors,
            bytes(r.bytes),
            duration_ns(r.total_ns),
            100.0 * r.total_ns as f64 / total_ns as f64,
            p50,
            p99,
            duration_ns(r.max_ns),
        );
    }
    let calls: u64 = rows.iter().map(|r| r.calls).sum();
    let _ = writeln!(
        out,
        "{:<24} {:<13} {:>8} calls, {} in the VFS",
        "total",
        "",
        calls,
        duration_ns(total_ns)
    );
    render_locks(&mut out, snapshot);
    render_shape(&mut out, snapshot);
    render_slow(&mut out, snapshot);
    render_overflow(&mut out, snapshot);
    out
}

fn render_locks(out: &mut String, snapshot: &Snapshot) {
    let locks = snapshot.locks_total();
    let mut transitions = Vec::new();
    for from in LockLevel::ALL {
        for to in LockLevel::ALL {
            let n = locks.transition(*from, *to);
            if n > 0 {
                transitions.push(format!("{from}→{to} {n}"));
            }
        }
    }
    if transitions.is_empty() {
        return;
    }
    let _ = writeln!(out, "\nlock transitions: {}", transitions.join(", "));
    let busy: u64 = locks.busy.iter().sum();
    let wait = locks.wait.to_hdr();
    let _ = writeln!(
        out,
        "busy answers: {busy}; waits that got the lock: {} (max {}); waits given up: {}",
        wait.len(),
        duration_ns(wait.max()),
        locks.waits_abandoned
    );
    let shm: Vec<String> = ShmSlot::ALL
        .iter()
        .filter(|s| locks.shm_acquired[s.index()].iter().sum::<u64>() > 0)
        .map(|s| {
            let [shared, exclusive] = locks.shm_acquired[s.index()];
            format!("{s} {shared}s/{exclusive}x")
        })
        .collect();
    if !shm.is_empty() {
        let _ = writeln!(
            out,
            "WAL-index locks (shared/exclusive): {}",
            shm.join(", ")
        );
    }
}

fn render_shape(out: &mut String, snapshot: &Snapshot) {
    let wal = snapshot.shape(FileKind::Wal);
    if wal.wal_frames > 0 {
        let commits = wal.wal_commits.max(1);
        let _ = writeln!(
            out,
            "WAL: {} frames in {} commits ({:.1} frames, {} per commit)",
            wal.wal_frames,
            wal.wal_commits,
            wal.wal_frames as f64 / commits as f64,
            bytes(wal.wal_frame_bytes / commits)
        );
    }
    for kind in [FileKind::MainDb, FileKind::Wal, FileKind::MainJournal] {
        let s = snapshot.shape(kind);
        let writes = s.writes_append + s.writes_sequential + s.writes_random;
        if writes == 0 {
            continue;
        }
        let written: u64 = snapshot
            .cells
            .iter()
            .filter(|c| c.kind == kind && c.op == Op::Write)
            .map(|c| c.bytes)
            .sum();
        let _ = writeln!(
            out,
            "{kind} writes: {} append, {} sequential, {} random; {} written, {} as {}-byte blocks",
            s.writes_append,
            s.writes_sequential,
            s.writes_random,
            bytes(written),
            bytes(s.block_bytes_written),
            snapshot.meta.block_size
        );
    }
}

fn render_slow(out: &mut String, snapshot: &Snapshot) {
    if snapshot.slow_total == 0 {
        return;
    }
    let mut slow = snapshot.slow.clone();
    slow.sort_by_key(|c| std::cmp::Reverse(c.latency_ns));
    let _ = writeln!(
        out,
        "\nslow calls (≥ {}): {} in all; slowest:",
        duration_ns(snapshot.meta.slow_threshold_ns),
        snapshot.slow_total
    );
    for call in slow.iter().take(5) {
        let _ = writeln!(
            out,
            "  {:>8} {} {} {} offset {} size {} rc {}",
            duration_ns(call.latency_ns),
            call.op,
            call.kind,
            snapshot.db_label(call.db),
            call.offset,
            call.size,
            call.rc
        );
    }
}

fn render_overflow(out: &mut String, snapshot: &Snapshot) {
    let o = &snapshot.overflow;
    if o.dbs + o.cells + o.hists + o.open_files + o.faults > 0 {
        let _ = writeln!(
            out,
            "\nbounded tables overflowed: dbs {}, cells {}, histograms {}, open files {}; faults {}",
            o.dbs, o.cells, o.hists, o.open_files, o.faults
        );
    }
}
