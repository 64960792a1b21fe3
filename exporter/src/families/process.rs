//! The families that are not about single calls: the segment directory,
//! each process and its SQLite copies, open files and bounded tables, the
//! latency model's state, and the OTLP exporter's own counters.

use super::{approximate_sum, ExportCounts, Scrape};
use crate::family::{Family, Kind};
use vfscope_segment::Snapshot;

/// vfscope itself and the segment directory.
pub(super) fn directory(scrape: &Scrape) -> [Family; 3] {
    let mut build_info = Family::new(
        "vfscope_build_info",
        "vfscope's version; always 1.",
        Kind::Gauge,
        &["version"],
    );
    build_info.add(vec![env!("CARGO_PKG_VERSION").to_string()], 1.0);
    let mut segments = Family::new(
        "vfscope_segments",
        "Segment files by the state of their process.",
        Kind::Gauge,
        &["state"],
    );
    for (state, n) in &scrape.segments {
        segments.add(vec![state.to_string()], *n as f64);
    }
    let mut errors = Family::new(
        "vfscope_segment_read_errors",
        "Segment files that could not be read at this scrape (damaged, foreign, other version).",
        Kind::Gauge,
        &[],
    );
    errors.add(vec![], scrape.unreadable as f64);
    [build_info, segments, errors]
}

/// Each process, its start, and the SQLite copies in it.
pub(super) fn processes(live: &[Snapshot]) -> [Family; 4] {
    let mut info = Family::new(
        "vfscope_process_info",
        "An instrumented process: its program and SQLite version; always 1.",
        Kind::Gauge,
        &["pid", "program", "sqlite_version"],
    );
    let mut copy_info = Family::new(
        "vfscope_sqlite_copy_info",
            "A SQLite copy in an instrumented process (copy is its index there): version, the file name of the object it lives in, how vfscope reaches it and whether it is traced; always 1.",
        Kind::Gauge,
        &["pid", "copy", "version", "object", "access", "status"],
    );
    let mut copy_opens = Family::new(
        "vfscope_sqlite_copy_opens_total",
            "Files opened through one SQLite copy (which databases each copy opened is the db label's business: see vfscope_sqlite_copy_info and the report).",
        Kind::Counter,
        &["pid", "copy"],
    )
    .otlp("vfscope.sqlite_copy.opens", "{file}");
    let mut start = Family::new(
        "vfscope_process_start_time_seconds",
        "When the process started recording, Unix time.",
        Kind::Gauge,
        &["pid"],
    );
    for s in live {
        let pid = s.meta.pid.to_string();
        let program = s.meta.program();
        info.add(
            vec![
                pid.clone(),
                program.to_string(),
                s.meta.sqlite_version.clone(),
            ],
            1.0,
        );
        start.add(vec![pid.clone()], s.meta.start_realtime_ns as f64 / 1e9);
        for c in &s.copies {
            let object = c.object.rsplit('/').next().unwrap_or_default();
            let status = match c.status {
                vfscope_segment::CopyStatus::Traced => "traced",
                vfscope_segment::CopyStatus::Unreachable => "unreachable",
            };
            let labels = vec![pid.clone(), c.index.to_string()];
            let info = [
                c.version.clone(),
                object.into(),
                c.access.name().into(),
                status.into(),
            ];
            copy_info.add([labels.clone(), info.to_vec()].concat(), 1.0);
            copy_opens.add(labels, c.opens as f64);
        }
    }
    [info, copy_info, copy_opens, start]
}

/// Open files, WAL frames and commits, slow calls, bounded tables'
/// overflow.
pub(super) fn files(live: &[Snapshot]) -> [Family; 5] {
    let mut open = Family::new(
        "vfscope_open_files",
        "Files open now, by kind.",
        Kind::Gauge,
        &["pid", "file_kind", "db"],
    )
    .otlp("vfscope.open_files", "{file}");
    let mut frames = Family::new(
        "vfscope_wal_frames_total",
        "WAL frames written.",
        Kind::Counter,
        &["pid", "db"],
    )
    .otlp("vfscope.wal.frames", "{frame}");
    let mut commits = Family::new(
        "vfscope_wal_commits_total",
        "WAL frames that commit a transaction.",
        Kind::Counter,
        &["pid", "db"],
    )
    .otlp("vfscope.wal.commits", "{commit}");
    let mut slow = Family::new(
        "vfscope_slow_calls_total",
        "Calls at or above the slow-call threshold.",
        Kind::Counter,
        &["pid"],
    )
    .otlp("vfscope.slow_calls", "{call}");
    let mut overflow = Family::new(
        "vfscope_table_overflow_total",
        "Uses of a bounded table's overflow row (dbs, cells, histograms, open_files) and internal faults.",
        Kind::Counter,
        &["pid", "table"],
    )
    .otlp("vfscope.table_overflow", "{use}");
    for s in live {
        let pid = s.meta.pid.to_string();
        for shape in &s.shapes {
            let db = s.db_label(shape.db);
            let kind = shape.kind.map_or("other", |k| k.name()).to_string();
            open.add(vec![pid.clone(), kind, db.clone()], shape.open_now() as f64);
            if shape.wal_frames > 0 {
                frames.add(vec![pid.clone(), db.clone()], shape.wal_frames as f64);
                commits.add(vec![pid.clone(), db.clone()], shape.wal_commits as f64);
            }
        }
        slow.add(vec![pid.clone()], s.slow_total as f64);
        let o = &s.overflow;
        for (table, n) in [
            ("dbs", o.dbs),
            ("cells", o.cells),
            ("histograms", o.hists),
            ("open_files", o.open_files),
            ("faults", o.faults),
        ] {
            overflow.add(vec![pid.clone(), table.to_string()], n as f64);
        }
    }
    [open, frames, commits, slow, overflow]
}

/// The active latency model: which, its simulated cache, the requests a
/// scenario implied and their bill, replication lag.
pub(super) fn model(live: &[Snapshot]) -> [Family; 5] {
    let mut model = Family::new(
        "vfscope_latency_model_info",
        "The active latency model of a process; always 1.",
        Kind::Gauge,
        &["pid", "model", "mode"],
    );
    let mut cache = Family::new(
        "vfscope_model_cache_reads_total",
        "Reads through the latency model's simulated page cache, by result.",
        Kind::Counter,
        &["pid", "result"],
    )
    .otlp("vfscope.model.cache.reads", "{read}");
    let mut requests = Family::new(
        "vfscope_model_requests_total",
        "Requests a request-level scenario (s3vfs) implied, by type.",
        Kind::Counter,
        &["pid", "request"],
    );
    let mut bill = Family::new(
        "vfscope_model_request_cost_dollars_total",
        "What those requests cost at the model's prices, in US dollars.",
        Kind::Counter,
        &["pid", "request"],
    );
    let mut lag = Family::new(
        "vfscope_replication_lag_seconds",
        "Replication lag after each commit under async replication.",
        Kind::Histogram,
        &["pid"],
    )
    .otlp("vfscope.replication.lag", "s");
    for s in live {
        let pid = s.meta.pid.to_string();
        let Some(name) = &s.model.active else {
            continue;
        };
        let mode = if s.model.virtual_mode {
            "virtual"
        } else {
            "sleep"
        };
        model.add(vec![pid.clone(), name.clone(), mode.into()], 1.0);
        cache.add(vec![pid.clone(), "hit".into()], s.model.cache_hits as f64);
        cache.add(
            vec![pid.clone(), "miss".into()],
            s.model.cache_misses as f64,
        );
        for t in &s.model.requests {
            requests.add(vec![pid.clone(), t.name.clone()], t.count as f64);
            bill.add(vec![pid.clone(), t.name.clone()], t.cost());
        }
        if s.model.lag.count() > 0 {
            lag.observe(
                vec![pid.clone()],
                &s.model.lag,
                approximate_sum(&s.model.lag),
            );
        }
    }
    [model, cache, requests, bill, lag]
}

/// The OTLP exporter's own counters, when one runs.
pub(super) fn exporter(counts: Option<&ExportCounts>) -> [Family; 2] {
    let mut otlp_exports = Family::new(
        "vfscope_otlp_exports_total",
        "OTLP export requests by signal and result (failed: collector unreachable or refused).",
        Kind::Counter,
        &["signal", "result"],
    );
    let mut otlp_spans = Family::new(
        "vfscope_otlp_spans_total",
        "Spans by fate: sent, unsampled, dropped (queue full, refused, or overwritten in the segment before export).",
        Kind::Counter,
        &["outcome"],
    );
    if let Some(o) = counts {
        for (signal, ok, failed) in [
            ("metrics", o.metric_exports, o.metric_failures),
            ("traces", o.span_exports, o.span_failures),
        ] {
            otlp_exports.add(vec![signal.into(), "ok".into()], ok as f64);
            otlp_exports.add(vec![signal.into(), "failed".into()], failed as f64);
        }
        for (outcome, n) in [
            ("sent", o.spans_sent),
            ("unsampled", o.spans_unsampled),
            ("dropped", o.spans_dropped),
        ] {
            otlp_spans.add(vec![outcome.into()], n as f64);
        }
    }
    [otlp_exports, otlp_spans]
}
