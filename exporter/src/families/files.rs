//! Open files, WAL frames and commits, slow calls, bounded tables'
//! overflow.

use crate::family::{Family, Kind};
use vfscope_segment::Snapshot;

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
