//! The Prometheus families of one process, as OTLP metrics with OTel names,
//! units and attribute keys. Both exporters start from the same families,
//! so they cannot disagree on a number.
//!
//! Temporality is cumulative from the process's start: what the segment
//! holds. Histograms keep the exported bucket bounds (1 µs to 10 s).

use super::resource::{kv_str, process_resource, scope};
use super::OtlpConfig;
use crate::families::{families, Scrape};
use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest;
use opentelemetry_proto::tonic::common::v1::KeyValue;
use opentelemetry_proto::tonic::metrics::v1::{
    metric::Data, number_data_point, AggregationTemporality, Gauge, Histogram, HistogramDataPoint,
    Metric, NumberDataPoint, ResourceMetrics, ScopeMetrics, Sum,
};
use prometheus::proto::{MetricFamily, MetricType};
use std::collections::BTreeMap;
use vfscope_segment::{ResultClass, Snapshot};

/// Prometheus family → OTel name and unit. Families not listed are not
/// sent: the process-level ones (`vfscope_process_info`, start time) are
/// resource attributes in OTLP, the directory-level ones describe
/// `vfscope serve` itself.
pub const NAMES: &[(&str, &str, &str)] = &[
    (
        "vfscope_sqlite_copy_opens_total",
        "vfscope.sqlite_copy.opens",
        "{file}",
    ),
    (
        "vfscope_vfs_operations_total",
        "vfscope.vfs.operations",
        "{operation}",
    ),
    ("vfscope_vfs_io_bytes_total", "vfscope.vfs.io", "By"),
    (
        "vfscope_vfs_operation_duration_seconds",
        "vfscope.vfs.operation.duration",
        "s",
    ),
    (
        "vfscope_lock_transitions_total",
        "vfscope.lock.transitions",
        "{transition}",
    ),
    ("vfscope_lock_busy_total", "vfscope.lock.busy", "{call}"),
    (
        "vfscope_lock_hold_seconds",
        "vfscope.lock.hold.duration",
        "s",
    ),
    (
        "vfscope_lock_wait_seconds",
        "vfscope.lock.wait.duration",
        "s",
    ),
    (
        "vfscope_lock_waits_abandoned_total",
        "vfscope.lock.waits_abandoned",
        "{wait}",
    ),
    (
        "vfscope_shm_lock_acquisitions_total",
        "vfscope.shm_lock.acquisitions",
        "{acquisition}",
    ),
    (
        "vfscope_shm_lock_busy_total",
        "vfscope.shm_lock.busy",
        "{call}",
    ),
    (
        "vfscope_shm_lock_hold_seconds",
        "vfscope.shm_lock.hold.duration",
        "s",
    ),
    ("vfscope_open_files", "vfscope.open_files", "{file}"),
    ("vfscope_wal_frames_total", "vfscope.wal.frames", "{frame}"),
    (
        "vfscope_wal_commits_total",
        "vfscope.wal.commits",
        "{commit}",
    ),
    ("vfscope_slow_calls_total", "vfscope.slow_calls", "{call}"),
    (
        "vfscope_table_overflow_total",
        "vfscope.table_overflow",
        "{use}",
    ),
    (
        "vfscope_injected_delay_seconds_total",
        "vfscope.injected.delay",
        "s",
    ),
    (
        "vfscope_injected_delay_measured_seconds_total",
        "vfscope.injected.delay.measured",
        "s",
    ),
    (
        "vfscope_injected_delayed_calls_total",
        "vfscope.injected.delayed_calls",
        "{call}",
    ),
    (
        "vfscope_injected_faults_total",
        "vfscope.injected.faults",
        "{call}",
    ),
    (
        "vfscope_model_cache_reads_total",
        "vfscope.model.cache.reads",
        "{read}",
    ),
    (
        "vfscope_replication_lag_seconds",
        "vfscope.replication.lag",
        "s",
    ),
];

/// Prometheus label → OTel attribute key. `pid` is a resource attribute.
const ATTRIBUTES: &[(&str, &str)] = &[
    ("op", "vfscope.op"),
    ("file_kind", "vfscope.file_kind"),
    ("db", "db.namespace"),
    ("result", "vfscope.result"),
    ("direction", "disk.io.direction"),
    ("from", "vfscope.lock.from"),
    ("to", "vfscope.lock.to"),
    ("level", "vfscope.lock.level"),
    ("slot", "vfscope.shm.slot"),
    ("mode", "vfscope.shm.mode"),
    ("table", "vfscope.table"),
    ("copy", "vfscope.sqlite_copy"),
];

/// One request carrying the metrics of every process in `live`.
pub fn request(config: &OtlpConfig, live: &[Snapshot], now_ns: u64) -> ExportMetricsServiceRequest {
    ExportMetricsServiceRequest {
        resource_metrics: live
            .iter()
            .map(|s| ResourceMetrics {
                resource: Some(process_resource(config, &s.meta)),
                scope_metrics: vec![ScopeMetrics {
                    scope: Some(scope()),
                    metrics: metrics(s, now_ns),
                    schema_url: String::new(),
                }],
                schema_url: String::new(),
            })
            .collect(),
    }
}

/// The metrics of one process.
pub fn metrics(snapshot: &Snapshot, now_ns: u64) -> Vec<Metric> {
    let scrape = Scrape {
        live: std::slice::from_ref(snapshot),
        segments: BTreeMap::new(),
        unreadable: 0,
        otlp: None,
    };
    let start_ns = snapshot.meta.start_realtime_ns;
    families(&scrape)
        .iter()
        .filter_map(|family| convert(family, start_ns, now_ns))
        .collect()
}

fn convert(family: &MetricFamily, start_ns: u64, now_ns: u64) -> Option<Metric> {
    let &(_, name, unit) = NAMES.iter().find(|(prom, ..)| *prom == family.name())?;
    let attributes = |m: &prometheus::proto::Metric| -> Vec<KeyValue> {
        let mut out = vec![kv_str("db.system.name", "sqlite")];
        for pair in m.get_label() {
            if let Some(&(_, key)) = ATTRIBUTES.iter().find(|(l, _)| *l == pair.name()) {
                out.push(kv_str(key, pair.value()));
            }
            let failed = ResultClass::from_name(pair.value()).is_some_and(|c| c.is_error());
            if pair.name() == "result" && failed {
                out.push(kv_str("error.type", pair.value()));
            }
        }
        out
    };
    let number = |m: &prometheus::proto::Metric, value: f64| NumberDataPoint {
        attributes: attributes(m),
        start_time_unix_nano: start_ns,
        time_unix_nano: now_ns,
        // Seconds are fractional; everything else counts whole things.
        value: Some(if unit == "s" {
            number_data_point::Value::AsDouble(value)
        } else {
            number_data_point::Value::AsInt(value as i64)
        }),
        ..Default::default()
    };
    let cumulative = AggregationTemporality::Cumulative as i32;
    let data = match family.get_field_type() {
        MetricType::COUNTER => Data::Sum(Sum {
            data_points: family
                .get_metric()
                .iter()
                .map(|m| number(m, m.get_counter().get_value()))
                .collect(),
            aggregation_temporality: cumulative,
            is_monotonic: true,
        }),
        MetricType::GAUGE => Data::Gauge(Gauge {
            data_points: family
                .get_metric()
                .iter()
                .map(|m| number(m, m.get_gauge().get_value()))
                .collect(),
        }),
        MetricType::HISTOGRAM => Data::Histogram(Histogram {
            data_points: family
                .get_metric()
                .iter()
                .map(|m| histogram_point(m.get_histogram(), attributes(m), start_ns, now_ns))
                .collect(),
            aggregation_temporality: cumulative,
        }),
        _ => return None,
    };
    Some(Metric {
        name: name.to_string(),
        description: family.help().to_string(),
        unit: unit.to_string(),
        data: Some(data),
        ..Default::default()
    })
}

/// Prometheus buckets are cumulative with implicit +Inf; OTLP's are counts
/// per bucket with one more count than bounds.
fn histogram_point(
    h: &prometheus::proto::Histogram,
    attributes: Vec<KeyValue>,
    start_ns: u64,
    now_ns: u64,
) -> HistogramDataPoint {
    let mut counts = Vec::with_capacity(h.get_bucket().len() + 1);
    let mut below = 0;
    for b in h.get_bucket() {
        counts.push(b.cumulative_count() - below);
        below = b.cumulative_count();
    }
    counts.push(h.get_sample_count().saturating_sub(below));
    HistogramDataPoint {
        attributes,
        start_time_unix_nano: start_ns,
        time_unix_nano: now_ns,
        count: h.get_sample_count(),
        sum: Some(h.get_sample_sum()),
        bucket_counts: counts,
        explicit_bounds: h.get_bucket().iter().map(|b| b.upper_bound()).collect(),
        ..Default::default()
    }
}
