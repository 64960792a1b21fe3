//! Turning a process's snapshots into what the operations table shows: per
//! op × file kind, either over the history window (rates, window
//! percentiles) or since the process started (accumulated).

use std::collections::BTreeMap;
use vfscope_segment::{Buckets, FileKind, Op};

pub use vfscope_segment::OpTotals;

pub type Key = (Op, FileKind);

/// What happened between two totals of the same process.
pub fn since(
    newer: &BTreeMap<Key, OpTotals>,
    older: &BTreeMap<Key, OpTotals>,
) -> BTreeMap<Key, OpTotals> {
    newer
        .iter()
        .map(|(key, n)| {
            let o = older.get(key).cloned().unwrap_or_default();
            let latency = n.latency.since(&o.latency);
            // The window's max is its highest non-empty bucket's top.
            let max_ns = latency.0.last().map_or(0, |&(b, _)| {
                vfscope_segment::bucket_range(b as usize)
                    .1
                    .min(n.max_ns.max(1))
            });
            let d = OpTotals {
                calls: n.calls.saturating_sub(o.calls),
                errors: n.errors.saturating_sub(o.errors),
                bytes: n.bytes.saturating_sub(o.bytes),
                time_ns: n.time_ns.saturating_sub(o.time_ns),
                max_ns,
                latency,
                delayed: n.delayed.saturating_sub(o.delayed),
                delay_target_ns: n.delay_target_ns.saturating_sub(o.delay_target_ns),
                delay_actual_ns: n.delay_actual_ns.saturating_sub(o.delay_actual_ns),
                faults_injected: n.faults_injected.saturating_sub(o.faults_injected),
            };
            (*key, d)
        })
        .collect()
}

/// Adds one process's totals into a combined view.
pub fn add_into(total: &mut BTreeMap<Key, OpTotals>, more: &BTreeMap<Key, OpTotals>) {
    for (key, m) in more {
        total.entry(*key).or_default().add(m);
    }
}

/// A quantile of a histogram, capped at `max`.
pub fn quantile(b: &Buckets, q: f64, max: u64) -> Option<u64> {
    let h = b.to_hdr();
    (!h.is_empty()).then(|| h.value_at_quantile(q).min(max.max(1)))
}
