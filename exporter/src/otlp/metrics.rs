//! The metric families of one process, as OTLP metrics with the OTel
//! names and units each family declares, and attribute keys for its
//! labels. Both exporters encode the same families
//! (`crate::family::Family`), so they cannot disagree on a number.
//!
//! Temporality is cumulative from the process's start: what the segment
//! holds. Histograms keep the exported bucket bounds (1 µs to 10 s).

use super::resource::{kv_str, process_resource, scope};
use super::OtlpConfig;
use crate::families::{family_list, Scrape};
use crate::family::{Family, Folded, Kind, Labels, ATTRIBUTES, BOUNDS};
use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest;
use opentelemetry_proto::tonic::common::v1::KeyValue;
use opentelemetry_proto::tonic::metrics::v1::{
    metric::Data, number_data_point, AggregationTemporality, Gauge, Histogram, HistogramDataPoint,
    Metric, NumberDataPoint, ResourceMetrics, ScopeMetrics, Sum,
};
use std::collections::BTreeMap;
use vfscope_segment::{ResultClass, Snapshot};

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
    family_list(&scrape)
        .iter()
        .filter_map(|family| encode(family, start_ns, now_ns))
        .collect()
}

/// One family as an OTLP metric; `None` for one not sent over OTLP, or
/// empty.
fn encode(family: &Family, start_ns: u64, now_ns: u64) -> Option<Metric> {
    let (name, unit) = family.otlp?;
    if family.is_empty() {
        return None;
    }
    let attributes = |values: &Labels| -> Vec<KeyValue> {
        let mut out = vec![kv_str("db.system.name", "sqlite")];
        for (&label, value) in family.labels.iter().zip(values) {
            if let Some(&(_, key)) = ATTRIBUTES.iter().find(|(l, _)| *l == label) {
                out.push(kv_str(key, value));
            }
            let failed = ResultClass::from_name(value).is_some_and(|c| c.is_error());
            if label == "result" && failed {
                out.push(kv_str("error.type", value));
            }
        }
        out
    };
    let numbers = || -> Vec<NumberDataPoint> {
        family
            .values
            .iter()
            .map(|(labels, &value)| NumberDataPoint {
                attributes: attributes(labels),
                start_time_unix_nano: start_ns,
                time_unix_nano: now_ns,
                // Seconds are fractional; everything else counts whole things.
                value: Some(if unit == "s" {
                    number_data_point::Value::AsDouble(value)
                } else {
                    number_data_point::Value::AsInt(value as i64)
                }),
                ..Default::default()
            })
            .collect()
    };
    let cumulative = AggregationTemporality::Cumulative as i32;
    let data = match family.kind {
        Kind::Counter => Data::Sum(Sum {
            data_points: numbers(),
            aggregation_temporality: cumulative,
            is_monotonic: true,
        }),
        Kind::Gauge => Data::Gauge(Gauge {
            data_points: numbers(),
        }),
        Kind::Histogram => Data::Histogram(Histogram {
            data_points: family
                .histograms
                .iter()
                .map(|(labels, folded)| {
                    histogram_point(folded, attributes(labels), start_ns, now_ns)
                })
                .collect(),
            aggregation_temporality: cumulative,
        }),
    };
    Some(Metric {
        name: name.to_string(),
        description: family.help.to_string(),
        unit: unit.to_string(),
        data: Some(data),
        ..Default::default()
    })
}

/// The family's buckets are cumulative with an implicit +Inf; OTLP's are
/// counts per bucket with one more count than bounds.
fn histogram_point(
    folded: &Folded,
    attributes: Vec<KeyValue>,
    start_ns: u64,
    now_ns: u64,
) -> HistogramDataPoint {
    let mut counts = Vec::with_capacity(BOUNDS.len() + 1);
    let mut below = 0;
    for &cumulative in &folded.cumulative {
        counts.push(cumulative - below);
        below = cumulative;
    }
    counts.push(folded.count.saturating_sub(below));
    HistogramDataPoint {
        attributes,
        start_time_unix_nano: start_ns,
        time_unix_nano: now_ns,
        count: folded.count,
        sum: Some(folded.sum),
        bucket_counts: counts,
        explicit_bounds: BOUNDS.to_vec(),
        ..Default::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::families::{text, Scrape};
    use std::sync::atomic::Ordering::Relaxed;
    use vfscope_segment::{FileKind, Op, ProcessMeta, SegmentReader, SegmentWriter};

    /// A process with calls, locks, WAL frames, an active model with
    /// injected delays and faults, cache reads and replication lag.
    fn busy(dir: &std::path::Path) -> Snapshot {
        let meta = ProcessMeta {
            pid: 4242,
            start_realtime_ns: 1_700_000_000_000_000_000,
            cmdline: "/usr/bin/orders-api".into(),
            sqlite_version: "3.46.0".into(),
            slow_threshold_ns: 10_000_000,
            block_size: 4096,
            ..ProcessMeta::current("3.46.0", 10_000_000, 4096)
        };
        let w = SegmentWriter::create(&dir.join("segs"), &meta).unwrap();
        let l = w.layout();
        let db = l.db_index(b"/data/orders.db");
        for i in 0..20u64 {
            l.record_call(Op::Sync, FileKind::Wal, db, 0, 0, 2_000_000 + i * 1000);
            l.record_call(Op::Read, FileKind::MainDb, db, 0, 4096, 3_000 + i);
        }
        l.record_call(Op::Read, FileKind::MainDb, db, 10, 0, 1_000);
        let locks = l.lock_stats(db);
        locks.transitions[0][1].fetch_add(2, Relaxed);
        l.record_latency(&locks.hold_hist[1], 50_000);
        l.shape(FileKind::Wal, db).wal_frames.fetch_add(20, Relaxed);
        l.cell_ref(Op::Sync, FileKind::Wal, db)
            .cell
            .record_injection(1_000_000, 1_100_000, false);
        l.set_active_model(Some(("cross-az", 7, false)));
        l.record_latency(&l.control.lag_hist, 400_000_000);
        SegmentReader::open(w.path().unwrap()).unwrap().snapshot()
    }

    /// Every family in export order and what it is in OTLP (the table the
    /// OTLP encoder once renamed families by): a name or unit changed, a
    /// family added or left out of OTLP, shows here.
    const OTLP: &[(&str, Option<(&str, &str)>)] = &[
        ("vfscope_build_info", None),
        ("vfscope_segments", None),
        ("vfscope_segment_read_errors", None),
        ("vfscope_process_info", None),
        ("vfscope_sqlite_copy_info", None),
        (
            "vfscope_sqlite_copy_opens_total",
            Some(("vfscope.sqlite_copy.opens", "{file}")),
        ),
        ("vfscope_process_start_time_seconds", None),
        (
            "vfscope_vfs_operations_total",
            Some(("vfscope.vfs.operations", "{operation}")),
        ),
        ("vfscope_vfs_io_bytes_total", Some(("vfscope.vfs.io", "By"))),
        (
            "vfscope_vfs_operation_duration_seconds",
            Some(("vfscope.vfs.operation.duration", "s")),
        ),
        (
            "vfscope_lock_transitions_total",
            Some(("vfscope.lock.transitions", "{transition}")),
        ),
        (
            "vfscope_lock_busy_total",
            Some(("vfscope.lock.busy", "{call}")),
        ),
        (
            "vfscope_lock_hold_seconds",
            Some(("vfscope.lock.hold.duration", "s")),
        ),
        (
            "vfscope_lock_wait_seconds",
            Some(("vfscope.lock.wait.duration", "s")),
        ),
        (
            "vfscope_lock_waits_abandoned_total",
            Some(("vfscope.lock.waits_abandoned", "{wait}")),
        ),
        (
            "vfscope_shm_lock_acquisitions_total",
            Some(("vfscope.shm_lock.acquisitions", "{acquisition}")),
        ),
        (
            "vfscope_shm_lock_busy_total",
            Some(("vfscope.shm_lock.busy", "{call}")),
        ),
        (
            "vfscope_shm_lock_hold_seconds",
            Some(("vfscope.shm_lock.hold.duration", "s")),
        ),
        ("vfscope_open_files", Some(("vfscope.open_files", "{file}"))),
        (
            "vfscope_wal_frames_total",
            Some(("vfscope.wal.frames", "{frame}")),
        ),
        (
            "vfscope_wal_commits_total",
            Some(("vfscope.wal.commits", "{commit}")),
        ),
        (
            "vfscope_slow_calls_total",
            Some(("vfscope.slow_calls", "{call}")),
        ),
        (
            "vfscope_table_overflow_total",
            Some(("vfscope.table_overflow", "{use}")),
        ),
        (
            "vfscope_injected_delay_seconds_total",
            Some(("vfscope.injected.delay", "s")),
        ),
        (
            "vfscope_injected_delay_measured_seconds_total",
            Some(("vfscope.injected.delay.measured", "s")),
        ),
        (
            "vfscope_injected_delayed_calls_total",
            Some(("vfscope.injected.delayed_calls", "{call}")),
        ),
        (
            "vfscope_injected_faults_total",
            Some(("vfscope.injected.faults", "{call}")),
        ),
        ("vfscope_latency_model_info", None),
        (
            "vfscope_model_cache_reads_total",
            Some(("vfscope.model.cache.reads", "{read}")),
        ),
        ("vfscope_model_requests_total", None),
        ("vfscope_model_request_cost_dollars_total", None),
        (
            "vfscope_replication_lag_seconds",
            Some(("vfscope.replication.lag", "s")),
        ),
        ("vfscope_otlp_exports_total", None),
        ("vfscope_otlp_spans_total", None),
        ("vfscope_finding_info", None),
        ("vfscope_finding_gain_seconds", None),
    ];

    #[test]
    fn every_family_declares_its_otel_name_and_unit() {
        let scrape = Scrape {
            live: &[],
            segments: Default::default(),
            unreadable: 0,
            otlp: None,
        };
        let families = family_list(&scrape);
        for (f, want) in families.iter().zip(OTLP) {
            assert_eq!(&(f.name, f.otlp), want);
        }
        assert_eq!(families.len(), OTLP.len());
        // Seconds go out as doubles, everything else as integers: the unit
        // must say which, and histograms are of seconds.
        for f in &families {
            if let Some((_, unit)) = f.otlp {
                let seconds = f.name.contains("_seconds");
                assert_eq!(unit == "s", seconds, "{}: {unit}", f.name);
                assert!(f.kind != Kind::Histogram || seconds, "{}", f.name);
            }
        }
    }

    /// Every family a process has is sent under its declared OTel name and
    /// unit, or not at all (process- and directory-level ones), and the
    /// numbers are the Prometheus families' own.
    #[test]
    fn families_go_out_under_their_otel_names_with_the_same_numbers() {
        let dir = tempfile::tempdir().unwrap();
        let s = busy(dir.path());
        let metrics = metrics(&s, 1_700_000_001_000_000_000);
        let names: Vec<(&str, &str)> = metrics
            .iter()
            .map(|m| (m.name.as_str(), m.unit.as_str()))
            .collect();
        for expected in [
            ("vfscope.vfs.operations", "{operation}"),
            ("vfscope.vfs.io", "By"),
            ("vfscope.vfs.operation.duration", "s"),
            ("vfscope.lock.transitions", "{transition}"),
            ("vfscope.lock.hold.duration", "s"),
            ("vfscope.wal.frames", "{frame}"),
            ("vfscope.injected.delay", "s"),
            ("vfscope.model.cache.reads", "{read}"),
            ("vfscope.replication.lag", "s"),
        ] {
            assert!(names.contains(&expected), "{expected:?} not in {names:?}");
        }
        assert!(!names
            .iter()
            .any(|(n, _)| n.contains("process") || n.contains("build")));
        let text = text(&Scrape {
            live: std::slice::from_ref(&s),
            segments: Default::default(),
            unreadable: 0,
            otlp: None,
        });
        assert!(text.contains("vfscope_process_info{"), "{text}");
        // The same count both ways: 21 reads, one failed (rc 10).
        let ops = metrics
            .iter()
            .find(|m| m.name == "vfscope.vfs.operations")
            .unwrap();
        let Some(Data::Sum(sum)) = &ops.data else {
            panic!("{ops:?}")
        };
        let ioerr = sum
            .data_points
            .iter()
            .find(|p| p.attributes.iter().any(|a| a.key == "error.type"))
            .unwrap();
        assert_eq!(ioerr.value, Some(number_data_point::Value::AsInt(1)));
        assert!(text.contains("result=\"ioerr\"} 1"), "{text}");
        let hold = metrics
            .iter()
            .find(|m| m.name == "vfscope.lock.hold.duration")
            .unwrap();
        let Some(Data::Histogram(h)) = &hold.data else {
            panic!("{hold:?}")
        };
        let p = &h.data_points[0];
        assert_eq!((p.count, p.bucket_counts.len()), (1, BOUNDS.len() + 1));
        assert_eq!(p.bucket_counts.iter().sum::<u64>(), 1);
    }
}
