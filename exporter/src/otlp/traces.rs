//! Transactions as spans, slow calls as their children.
//!
//! Ids are derived, not random: a transaction's trace and span id are a
//! hash of the process (pid and start) and the transaction id, so a slow
//! call read from the segment before or after its transaction still names
//! the right parent, and sampling decides the same for both.

use super::resource::{kv, kv_str};
use super::Sampler;
use opentelemetry_proto::tonic::common::v1::{any_value::Value, KeyValue};
use opentelemetry_proto::tonic::trace::v1::{span::SpanKind, status::StatusCode, Span, Status};
use vfscope_segment::{ProcessMeta, ResultClass, SlowCall, Transaction, TxnOutcome};

/// The trace and span id of transaction `txn` of a process.
pub fn transaction_ids(meta: &ProcessMeta, txn: u64) -> ([u8; 16], [u8; 8]) {
    let process = (meta.pid as u64) << 40 ^ meta.proc_start_ticks;
    let mut trace = [0u8; 16];
    trace[..8].copy_from_slice(&nonzero(mix(process, txn, 1)).to_be_bytes());
    trace[8..].copy_from_slice(&nonzero(mix(process, txn, 2)).to_be_bytes());
    (trace, nonzero(mix(process, txn, 3)).to_be_bytes())
}

/// Whether the trace with this id is exported (the TraceIdRatioBased rule:
/// the low 8 bytes of the id, compared with the ratio of 2^64).
pub fn sampled(sampler: Sampler, trace_id: &[u8; 16]) -> bool {
    match sampler {
        Sampler::AlwaysOn => true,
        Sampler::AlwaysOff => false,
        Sampler::Ratio(r) => {
            let low = u64::from_be_bytes(trace_id[8..].try_into().expect("8 bytes"));
            (low as f64) < r * 18_446_744_073_709_551_616.0
        }
    }
}

/// One transaction as a span; `db` is the database's label.
pub fn transaction_span(meta: &ProcessMeta, db: &str, t: &Transaction) -> Span {
    let (trace_id, span_id) = transaction_ids(meta, t.id);
    let seconds = |ns: u64| Value::DoubleValue(ns as f64 / 1e9);
    let int = |n: u64| Value::IntValue(n.min(i64::MAX as u64) as i64);
    let mut attributes: Vec<KeyValue> = vec![
        kv_str("db.system.name", "sqlite"),
        kv_str("db.namespace", db),
        kv("vfscope.transaction.id", int(t.id)),
        kv("vfscope.transaction.write", Value::BoolValue(t.wrote)),
        kv_str("vfscope.transaction.outcome", t.outcome.name()),
        kv_str(
            "vfscope.journal_mode",
            if t.wal { "wal" } else { "rollback" },
        ),
        kv_str("vfscope.lock.max_level", t.max_lock.name()),
        kv("vfscope.pages.read", int(t.pages_read as u64)),
        kv("vfscope.pages.written", int(t.pages_written as u64)),
        kv("vfscope.io.read_bytes", int(t.bytes_read)),
        kv("vfscope.io.written_bytes", int(t.bytes_written)),
        kv("vfscope.syncs", int(t.syncs as u64)),
        kv("vfscope.lock.wait", seconds(t.lock_wait_ns)),
        kv("vfscope.injected_delay", seconds(t.injected_ns)),
        kv("thread.id", int(t.tid as u64)),
    ];
    if t.outcome != TxnOutcome::Ok {
        attributes.push(kv_str("error.type", t.outcome.name()));
    }
    let start = meta.to_unix_ns(t.start_ns);
    Span {
        trace_id: trace_id.to_vec(),
        span_id: span_id.to_vec(),
        name: if t.wrote {
            "write transaction"
        } else {
            "read transaction"
        }
        .to_string(),
        kind: SpanKind::Internal as i32,
        start_time_unix_nano: start,
        end_time_unix_nano: start + t.duration_ns,
        attributes,
        status: (t.outcome != TxnOutcome::Ok).then(|| Status {
            message: t.outcome.name().to_string(),
            code: StatusCode::Error as i32,
        }),
        ..Default::default()
    }
}

/// One slow call: a child of its transaction, or a trace of its own when
/// it ran outside one.
pub fn slow_span(meta: &ProcessMeta, db: &str, c: &SlowCall) -> Span {
    let process = (meta.pid as u64) << 40 ^ meta.proc_start_ticks;
    let call = c.start_ns ^ (c.tid as u64) << 32 ^ c.offset.rotate_left(17) ^ c.op as u64;
    let span_id = nonzero(mix(process, call, 4)).to_be_bytes();
    let (trace_id, parent) = if c.txn != 0 {
        let (trace, parent) = transaction_ids(meta, c.txn);
        (trace, parent.to_vec())
    } else {
        let mut trace = [0u8; 16];
        trace[..8].copy_from_slice(&nonzero(mix(process, call, 5)).to_be_bytes());
        trace[8..].copy_from_slice(&nonzero(mix(process, call, 6)).to_be_bytes());
        (trace, Vec::new())
    };
    let int = |n: u64| Value::IntValue(n as i64);
    let class = ResultClass::of_rc(c.rc);
    let start = meta.to_unix_ns(c.start_ns);
    let mut attributes = vec![
        kv_str("db.system.name", "sqlite"),
        kv_str("db.namespace", db),
        kv_str("vfscope.op", c.op.name()),
        kv_str("vfscope.file_kind", c.kind.name()),
        kv_str("vfscope.result", class.name()),
        kv("vfscope.io.offset", int(c.offset)),
        kv("vfscope.io.size", int(c.size as u64)),
        kv("thread.id", int(c.tid as u64)),
    ];
    if class.is_error() {
        attributes.push(kv_str("error.type", class.name()));
    }
    Span {
        trace_id: trace_id.to_vec(),
        span_id: span_id.to_vec(),
        parent_span_id: parent,
        name: format!("vfs {}", c.op.name()),
        kind: SpanKind::Internal as i32,
        start_time_unix_nano: start,
        end_time_unix_nano: start + c.latency_ns,
        attributes,
        status: class.is_error().then(|| Status {
            message: format!("rc {}", c.rc),
            code: StatusCode::Error as i32,
        }),
        ..Default::default()
    }
}

/// splitmix64 over a few words: well spread, cheap, reproducible.
fn mix(a: u64, b: u64, salt: u64) -> u64 {
    let mut z = a
        .wrapping_mul(0x9e37_79b9_7f4a_7c15)
        .wrapping_add(b.rotate_left(29))
        .wrapping_add(salt.wrapping_mul(0xbf58_476d_1ce4_e5b9));
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// All-zero ids are invalid in OTLP.
fn nonzero(x: u64) -> u64 {
    x.max(1)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn meta(pid: u32) -> ProcessMeta {
        ProcessMeta {
            pid,
            uid: 0,
            proc_start_ticks: 123,
            start_realtime_ns: 1_700_000_000_000_000_000,
            start_monotonic_ns: 5_000,
            cmdline: "/usr/bin/app --flag".into(),
            sqlite_version: "3.40.1".into(),
            slow_threshold_ns: 0,
            block_size: 4096,
        }
    }

    #[test]
    fn ids_are_stable_and_distinct() {
        let a = transaction_ids(&meta(1), 7);
        assert_eq!(a, transaction_ids(&meta(1), 7));
        assert_ne!(a, transaction_ids(&meta(1), 8));
        assert_ne!(a, transaction_ids(&meta(2), 7));
    }

    #[test]
    fn ratio_sampling_keeps_about_the_ratio() {
        let kept = (1..=10_000)
            .filter(|&id| sampled(Sampler::Ratio(0.25), &transaction_ids(&meta(9), id).0))
            .count();
        assert!((2250..=2750).contains(&kept), "{kept}");
        let id = transaction_ids(&meta(9), 1).0;
        assert!(sampled(Sampler::AlwaysOn, &id) && !sampled(Sampler::AlwaysOff, &id));
        assert!(sampled(Sampler::Ratio(1.0), &id) && !sampled(Sampler::Ratio(0.0), &id));
    }
}
