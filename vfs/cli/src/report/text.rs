//! The report as text, in the spirit of `strace -c`.

use super::Report;
use crate::format::{bytes, duration_ns};
use std::fmt::Write;
use vfscope_segment::{CopyStatus, FileKind, LockLevel, ShmSlot};

/// Renders the whole report.
pub fn render(report: &Report) -> String {
    let mut out = String::new();
    processes(&mut out, report);
    if let Some(note) = report.empty_note() {
        let _ = writeln!(out, "\n{note}");
    }
    for note in report.copy_notes() {
        let _ = writeln!(out, "note: {note}");
    }
    operations(&mut out, report);
    locks(&mut out, report);
    shape(&mut out, report);
    injected(&mut out, report);
    databases(&mut out, report);
    slowest(&mut out, report);
    problems(&mut out, report);
    out
}

fn processes(out: &mut String, report: &Report) {
    for p in &report.processes {
        let vfs: Vec<String> = p
            .vfs
            .iter()
            .map(|(n, parent)| format!("{n} over {parent}"))
            .collect();
        let _ = writeln!(
            out,
            "pid {} ({}), SQLite {}, {}: {}",
            p.pid,
            p.state.name(),
            if p.sqlite_version.is_empty() {
                "?"
            } else {
                &p.sqlite_version
            },
            if vfs.is_empty() {
                "no VFS registered".to_string()
            } else {
                vfs.join(", ")
            },
            p.command
        );
        for c in p.copies.iter().filter(|c| c.status == CopyStatus::Traced) {
            let _ = writeln!(
                out,
                "  SQLite {} in {} ({}): {} files opened, {} calls on the databases only it opened",
                if c.version.is_empty() {
                    "?"
                } else {
                    &c.version
                },
                c.object,
                c.access.name(),
                c.opens,
                c.calls
            );
        }
    }
}

/// What the latency model did: per process, then per op and file kind.
fn injected(out: &mut String, report: &Report) {
    for p in &report.processes {
        let Some(name) = &p.model.active else {
            continue;
        };
        let m = &p.model;
        let _ = write!(
            out,
            "\nlatency model {name} in pid {} (seed {}, {} mode)",
            p.pid,
            m.seed,
            if m.virtual_mode { "virtual" } else { "sleep" }
        );
        if m.cache_hits + m.cache_misses > 0 {
            let _ = write!(
                out,
                "; page cache {} hits, {} misses",
                m.cache_hits, m.cache_misses
            );
        }
        if m.lag.count() > 0 {
            let lag = m.lag.to_hdr();
            let _ = write!(
                out,
                "; replication lag p50 {} p99 {} over {} commits",
                duration_ns(lag.value_at_quantile(0.5)),
                duration_ns(lag.value_at_quantile(0.99)),
                m.lag.count()
            );
        }
        out.push('\n');
        if let Some(line) = crate::format::requests_line(&m.requests) {
            let _ = writeln!(out, "  {line}");
        }
    }
    let rows: Vec<_> = report
        .operations
        .iter()
        .filter(|r| r.totals.delayed + r.totals.faults_injected > 0)
        .collect();
    if rows.is_empty() {
        return;
    }
    let _ = writeln!(
        out,
        "{:<24} {:<14} {:>8} {:>12} {:>12} {:>10} {:>7}",
        "injected: op", "file_kind", "delayed", "modelled", "measured", "mean err", "faults"
    );
    for r in rows {
        let t = &r.totals;
        let error = if t.delay_actual_ns > 0 && t.delayed > 0 {
            duration_ns(t.delay_actual_ns.saturating_sub(t.delay_target_ns) / t.delayed)
        } else {
            "-".to_string()
        };
        let _ = writeln!(
            out,
            "{:<24} {:<14} {:>8} {:>12} {:>12} {:>10} {:>7}",
            r.op.name(),
            r.kind.name(),
            t.delayed,
            duration_ns(t.delay_target_ns),
            if t.delay_actual_ns > 0 {
                duration_ns(t.delay_actual_ns)
            } else {
                "-".to_string()
            },
            error,
            t.faults_injected
        );
    }
}

fn operations(out: &mut String, report: &Report) {
    if report.operations.is_empty() {
        return;
    }
    let total_ns = report.total_ns().max(1);
    let _ = writeln!(
        out,
        "\n{:<24} {:<13} {:>8} {:>6} {:>9} {:>9} {:>6} {:>8} {:>8} {:>8}",
        "op", "file_kind", "calls", "errors", "bytes", "time", "%time", "p50", "p99", "max"
    );
    for r in &report.operations {
        let q = |q| r.quantile(q).map_or("-".to_string(), duration_ns);
        let _ = writeln!(
            out,
            "{:<24} {:<13} {:>8} {:>6} {:>9} {:>9} {:>5.1}% {:>8} {:>8} {:>8}",
            r.op.name(),
            r.kind.name(),
            r.totals.calls,
            r.totals.errors,
            bytes(r.totals.bytes),
            duration_ns(r.totals.time_ns),
            100.0 * r.totals.time_ns as f64 / total_ns as f64,
            q(0.50),
            q(0.99),
            duration_ns(r.totals.max_ns),
        );
    }
    let _ = writeln!(
        out,
        "{:<24} {:<13} {:>8} calls, {} in the VFS",
        "total",
        "",
        report.calls(),
        duration_ns(report.total_ns())
    );
}

fn locks(out: &mut String, report: &Report) {
    let l = &report.locks;
    let mut transitions = Vec::new();
    for from in LockLevel::ALL {
        for to in LockLevel::ALL {
            let n = l.transition(*from, *to);
            if n > 0 {
                transitions.push(format!("{from}→{to} {n}"));
            }
        }
    }
    if transitions.is_empty() {
        return;
    }
    let _ = writeln!(out, "\nlock transitions: {}", transitions.join(", "));
    let busy: u64 = l.busy.iter().sum();
    let wait = l.wait.to_hdr();
    let _ = writeln!(
        out,
        "BUSY answers: {busy}; waits that got the lock: {} (p99 {}, max {}); waits given up: {}",
        wait.len(),
        duration_ns(wait.value_at_quantile(0.99)),
        duration_ns(wait.max()),
        l.waits_abandoned
    );
    let shm: Vec<String> = ShmSlot::ALL
        .iter()
        .filter(|s| l.shm_acquired[s.index()].iter().sum::<u64>() + l.shm_busy[s.index()] > 0)
        .map(|s| {
            let [shared, exclusive] = l.shm_acquired[s.index()];
            let busy = l.shm_busy[s.index()];
            if busy > 0 {
                format!("{s} {shared}s/{exclusive}x/{busy} busy")
            } else {
                format!("{s} {shared}s/{exclusive}x")
            }
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

fn shape(out: &mut String, report: &Report) {
    if let Some(wal) = report.shapes.iter().find(|s| s.kind == Some(FileKind::Wal)) {
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
    }
    for s in &report.shapes {
        let writes = s.writes_append + s.writes_sequential + s.writes_random;
        if writes == 0 {
            continue;
        }
        let written: u64 = report
            .operations
            .iter()
            .filter(|r| Some(r.kind) == s.kind && r.op == vfscope_segment::Op::Write)
            .map(|r| r.totals.bytes)
            .sum();
        let _ = writeln!(
            out,
            "{} writes: {} append, {} sequential, {} random; {} written, {} as {}-byte blocks",
            s.kind.map_or("?", |k| k.name()),
            s.writes_append,
            s.writes_sequential,
            s.writes_random,
            bytes(written),
            bytes(s.block_bytes_written),
            report.block_size
        );
    }
}

fn databases(out: &mut String, report: &Report) {
    if report.databases.is_empty() && report.other.calls == 0 {
        return;
    }
    let _ = writeln!(out, "\ntop databases:");
    let several_copies = report
        .databases
        .iter()
        .flat_map(|d| d.sqlite.iter())
        .collect::<std::collections::HashSet<_>>()
        .len()
        > 1;
    for d in report.databases.iter().take(5) {
        let _ = write!(
            out,
            "  {:<24} {:>8} calls {:>9} in the VFS, {} read, {} written",
            d.name,
            d.calls,
            duration_ns(d.total_ns),
            bytes(d.bytes_read),
            bytes(d.bytes_written)
        );
        if several_copies {
            let _ = write!(out, ", SQLite {}", d.sqlite.join(" and "));
        }
        let _ = writeln!(out);
    }
    let o = &report.other;
    if report.other_dbs > 0 || o.calls > 0 {
        let _ = writeln!(
            out,
            "  {:<24} {:>8} calls {:>9} in the VFS, {} read, {} written",
            format!("(other: {} databases)", report.other_dbs),
            o.calls,
            duration_ns(o.total_ns),
            bytes(o.bytes_read),
            bytes(o.bytes_written)
        );
    }
}

fn slowest(out: &mut String, report: &Report) {
    if report.slow_total == 0 {
        return;
    }
    let _ = writeln!(
        out,
        "\nslow calls (≥ {}): {} in all; slowest:",
        duration_ns(report.slow_threshold_ns),
        report.slow_total
    );
    for s in report.slowest.iter().take(5) {
        let c = &s.call;
        let _ = writeln!(
            out,
            "  {:>8} {} {} {} offset {} size {} rc {} (pid {})",
            duration_ns(c.latency_ns),
            c.op,
            c.kind,
            s.db,
            c.offset,
            c.size,
            c.rc,
            s.pid
        );
    }
}

fn problems(out: &mut String, report: &Report) {
    let o = &report.overflow;
    if o.dbs + o.cells + o.hists + o.open_files + o.faults > 0 {
        let _ = writeln!(
            out,
            "\nbounded tables overflowed: dbs {}, cells {}, histograms {}, open files {}; internal faults {}",
            o.dbs, o.cells, o.hists, o.open_files, o.faults
        );
    }
    if report.trace_dropped > 0 {
        let _ = writeln!(
            out,
            "\ntrace: {} calls recorded, {} dropped (the trace writer fell behind; VFSCOPE_TRACE_BUFFER holds more)",
            report.trace_records, report.trace_dropped
        );
    }
    for (path, why) in &report.unreadable {
        let _ = writeln!(out, "skipped {}: {why}", path.display());
    }
}
