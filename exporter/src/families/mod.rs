//! Metric families built from snapshots at scrape time: constant metrics,
//! so the series of a process that exits disappear with it. One neutral
//! model (`family::Family`: name, help, kind, labels, values, and
//! what the family is in OTLP) feeds three encoders: Prometheus's text
//! format (the scrape path), prometheus protobuf (the `Collector`), OTLP
//! (the `otlp` module).
//!
//! Names follow DESIGN.md: prefix `vfscope_`, base units, `_total` on
//! counters. Labels are bounded: pid, op, file_kind, db (the file name,
//! never the path), result, lock level, WAL-index slot.
//!
//! The families by concern, in the order they are exported: the
//! directory's and each process's with its SQLite copies (`process.rs`),
//! VFS calls (`calls.rs`), file locks and WAL-index locks (`locks.rs`),
//! files, WAL and bounded tables (`files.rs`), what the latency model did
//! and its state (`model.rs`), the OTLP exporter's own (`process.rs`),
//! findings (the `findings` module).

mod calls;
mod files;
mod locks;
mod model;
mod process;

use crate::family::Family;
pub use crate::family::BOUNDS;
use prometheus::proto::MetricFamily;
use std::collections::BTreeMap;
use vfscope_segment::{bucket_midpoint, Buckets, Snapshot};

/// What the OTLP exporter did so far (a copy of its counters): one of the
/// inputs of the families, so the family model needs nothing from the
/// encoders that read it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ExportCounts {
    pub metric_exports: u64,
    pub metric_failures: u64,
    pub span_exports: u64,
    pub span_failures: u64,
    pub spans_sent: u64,
    pub spans_unsampled: u64,
    pub spans_dropped: u64,
}

/// Everything one scrape exports.
pub struct Scrape<'a> {
    /// Snapshots of the live processes.
    pub live: &'a [Snapshot],
    /// Segments by state: running, exited, dead.
    pub segments: BTreeMap<&'static str, u64>,
    /// Segments that could not be read.
    pub unreadable: u64,
    /// The OTLP exporter's counters, when one runs.
    pub otlp: Option<ExportCounts>,
}

/// The metric families of one scrape, as protobuf families (for the
/// prometheus crate's `Collector`).
pub fn families(scrape: &Scrape) -> Vec<MetricFamily> {
    family_list(scrape)
        .into_iter()
        .filter_map(Family::build)
        .collect()
}

/// The metric families of one scrape in Prometheus's text format, written
/// directly (this is the scrape path: no protobuf objects in between).
pub fn text(scrape: &Scrape) -> String {
    let mut out = String::with_capacity(1 << 16);
    for family in family_list(scrape) {
        family.write_text(&mut out);
    }
    out
}

/// Every family of one scrape, in export order.
pub(crate) fn family_list(scrape: &Scrape) -> Vec<Family> {
    let live = scrape.live;
    process::directory(scrape)
        .into_iter()
        .chain(process::processes(live))
        .chain(calls::calls(live))
        .chain(locks::locks(live))
        .chain(locks::shm_locks(live))
        .chain(files::files(live))
        .chain(model::injection(live))
        .chain(model::state(live))
        .chain(process::exporter(scrape.otlp.as_ref()))
        .chain(crate::findings::families(live))
        .collect()
}

/// Lock hold and wait times are kept as histograms only; their sum is
/// estimated from bucket midpoints (within 0.4 %).
fn approximate_sum(b: &Buckets) -> f64 {
    b.0.iter()
        .map(|&(i, n)| bucket_midpoint(i as usize) as f64 * n as f64)
        .sum::<f64>()
        / 1e9
}
