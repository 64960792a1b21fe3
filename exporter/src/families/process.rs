//! vfscope itself: the segment directory, each process and the SQLite
//! copies in it, and the OTLP exporter's own counters.

use super::{ExportCounts, Scrape};
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
