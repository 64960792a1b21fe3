//! VFS calls: counts by result, bytes, latency.

use crate::family::{Family, Kind};
use vfscope_segment::{Op, ResultClass, Snapshot};

/// `vfscope_vfs_operations_total`, `..._io_bytes_total`,
/// `..._operation_duration_seconds`.
pub(super) fn calls(live: &[Snapshot]) -> [Family; 3] {
    let mut ops = Family::new(
        "vfscope_vfs_operations_total",
        "VFS calls by op, file kind, database and result.",
        Kind::Counter,
        &["pid", "op", "file_kind", "db", "result"],
    )
    .otlp("vfscope.vfs.operations", "{operation}");
    let mut bytes = Family::new(
        "vfscope_vfs_io_bytes_total",
        "Bytes read and written through the VFS.",
        Kind::Counter,
        &["pid", "file_kind", "db", "direction"],
    )
    .otlp("vfscope.vfs.io", "By");
    let mut duration = Family::new(
        "vfscope_vfs_operation_duration_seconds",
        "Latency of VFS calls.",
        Kind::Histogram,
        &["pid", "op", "file_kind", "db"],
    )
    .otlp("vfscope.vfs.operation.duration", "s");
    for s in live {
        let pid = s.meta.pid.to_string();
        // Time of the calls whose cell has no histogram of its own: the sum
        // of their op × kind's fallback histogram.
        let mut unhistogrammed_ns = std::collections::BTreeMap::new();
        for c in &s.cells {
            let db = s.db_label(c.db);
            if c.latency.is_none() {
                *unhistogrammed_ns.entry((c.op, c.kind)).or_insert(0) += c.total_ns;
            }
            let (op, kind) = (c.op.name().to_string(), c.kind.name().to_string());
            for class in ResultClass::ALL {
                let n = c.result(*class);
                if n > 0 {
                    ops.add(
                        vec![
                            pid.clone(),
                            op.clone(),
                            kind.clone(),
                            db.clone(),
                            class.name().to_string(),
                        ],
                        n as f64,
                    );
                }
            }
            let direction = match c.op {
                Op::Read | Op::Fetch => Some("read"),
                Op::Write => Some("write"),
                _ => None,
            };
            if let Some(direction) = direction {
                bytes.add(
                    vec![pid.clone(), kind.clone(), db.clone(), direction.to_string()],
                    c.bytes as f64,
                );
            }
            if let Some(latency) = &c.latency {
                duration.observe(
                    vec![pid.clone(), op, kind, db],
                    latency,
                    c.total_ns as f64 / 1e9,
                );
            }
        }
        // Those calls' latencies, under the overflow row's label: summed
        // over db, every op × kind's histogram counts all its calls.
        for (op, kind, latency) in &s.kind_latency {
            let ns = unhistogrammed_ns.get(&(*op, *kind)).copied().unwrap_or(0);
            duration.observe(
                vec![
                    pid.clone(),
                    op.name().to_string(),
                    kind.name().to_string(),
                    s.db_label(vfscope_segment::DB_OVERFLOW),
                ],
                latency,
                ns as f64 / 1e9,
            );
        }
    }
    [ops, bytes, duration]
}
