//! OTLP: an OTLP/HTTP receiver in the test (decoding with the OpenTelemetry
//! project's own protobuf types) gets metrics and transaction spans whose
//! numbers match the segment, from the library and from `vfscope serve`.

use opentelemetry_proto::tonic::common::v1::{any_value::Value, KeyValue};
use opentelemetry_proto::tonic::metrics::v1::{metric::Data, number_data_point, Metric};
use opentelemetry_proto::tonic::trace::v1::Span;
use std::collections::HashMap;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};
use vfscope_segment::{list_segments, FileKind, Op, SegmentReader, Transaction};
use vfscope_tests::{
    built, first_line, free_port, have, http_get, open, own_process, segment_dir, start_serve,
    transactions_since, Killed, OtlpReceiver, Received, COMMITS_THEN_WAIT,
};

fn attr<'a>(attributes: &'a [KeyValue], key: &str) -> Option<&'a Value> {
    attributes
        .iter()
        .find(|a| a.key == key)
        .and_then(|a| a.value.as_ref()?.value.as_ref())
}

fn int(attributes: &[KeyValue], key: &str) -> i64 {
    match attr(attributes, key) {
        Some(Value::IntValue(n)) => *n,
        other => panic!("{key}: {other:?}"),
    }
}

fn text<'a>(attributes: &'a [KeyValue], key: &str) -> &'a str {
    match attr(attributes, key) {
        Some(Value::StringValue(s)) => s,
        other => panic!("{key}: {other:?}"),
    }
}

/// Spans of process `pid`, from every request received.
fn spans_of(received: &Received, pid: u32) -> Vec<Span> {
    received
        .traces
        .iter()
        .flat_map(|r| &r.resource_spans)
        .filter(|rs| {
            rs.resource
                .as_ref()
                .is_some_and(|r| int(&r.attributes, "process.pid") == pid as i64)
        })
        .flat_map(|rs| &rs.scope_spans)
        .flat_map(|ss| ss.spans.clone())
        .collect()
}

/// The last metrics received for process `pid`, by name.
fn metrics_of(received: &Received, pid: u32) -> HashMap<String, Metric> {
    let mut out = HashMap::new();
    for rm in received.metrics.iter().flat_map(|r| &r.resource_metrics) {
        let ours = rm
            .resource
            .as_ref()
            .is_some_and(|r| int(&r.attributes, "process.pid") == pid as i64);
        if ours {
            for m in rm.scope_metrics.iter().flat_map(|s| &s.metrics) {
                out.insert(m.name.clone(), m.clone());
            }
        }
    }
    out
}

/// The sum of a counter's points whose attributes include `with`.
fn counter(metrics: &HashMap<String, Metric>, name: &str, with: &[(&str, &str)]) -> i64 {
    let Some(Data::Sum(sum)) = metrics.get(name).and_then(|m| m.data.as_ref()) else {
        panic!("{name} missing or not a sum");
    };
    assert!(sum.is_monotonic);
    sum.data_points
        .iter()
        .filter(|p| with.iter().all(|(k, v)| text(&p.attributes, k) == *v))
        .map(|p| match p.value {
            Some(number_data_point::Value::AsInt(n)) => n,
            _ => panic!("{name}: not an int"),
        })
        .sum()
}

/// Every transaction has exactly one span with its numbers, and every slow
/// call inside a transaction is a child of that transaction's span.
fn assert_spans_match(spans: &[Span], txns: &[Transaction]) {
    let by_id: HashMap<i64, &Span> = spans
        .iter()
        .filter(|s| s.name.ends_with("transaction"))
        .map(|s| (int(&s.attributes, "vfscope.transaction.id"), s))
        .collect();
    assert_eq!(by_id.len(), txns.len(), "one span per transaction");
    for t in txns {
        let span = by_id[&(t.id as i64)];
        let a = &span.attributes;
        assert_eq!(text(a, "db.system.name"), "sqlite");
        assert_eq!(int(a, "vfscope.pages.written"), t.pages_written as i64);
        assert_eq!(int(a, "vfscope.pages.read"), t.pages_read as i64);
        assert_eq!(int(a, "vfscope.syncs"), t.syncs as i64);
        assert_eq!(int(a, "vfscope.io.written_bytes"), t.bytes_written as i64);
        assert_eq!(text(a, "vfscope.lock.max_level"), t.max_lock.name());
        assert_eq!(
            span.end_time_unix_nano - span.start_time_unix_nano,
            t.duration_ns
        );
        assert!(span.parent_span_id.is_empty());
    }
    let children: Vec<&Span> = spans
        .iter()
        .filter(|s| !s.parent_span_id.is_empty())
        .collect();
    assert!(!children.is_empty(), "slow calls inside transactions");
    for child in children {
        let parent = by_id
            .values()
            .find(|p| p.span_id == child.parent_span_id)
            .unwrap_or_else(|| panic!("{} has no parent span", child.name));
        assert_eq!(parent.trace_id, child.trace_id);
        assert!(child.start_time_unix_nano >= parent.start_time_unix_nano);
    }
}

fn set_env(vars: &[(&str, String)]) {
    for (k, v) in vars {
        std::env::set_var(k, v);
    }
}

#[test]
fn library_exporter_sends_spans_and_metrics_that_match_the_segment() {
    own_process!(library_exporter_sends_spans_and_metrics_that_match_the_segment);
    let receiver = OtlpReceiver::start();
    set_env(&[
        ("OTEL_EXPORTER_OTLP_ENDPOINT", receiver.endpoint()),
        // Long intervals: everything goes out in the final export.
        ("OTEL_METRIC_EXPORT_INTERVAL", "600000".into()),
        ("OTEL_BSP_SCHEDULE_DELAY", "600000".into()),
        ("OTEL_SERVICE_NAME", "otlp-e2e".into()),
        (
            "OTEL_RESOURCE_ATTRIBUTES",
            "deployment.environment=test".into(),
        ),
        ("OTEL_EXPORTER_OTLP_COMPRESSION", "gzip".into()),
        ("OTEL_EXPORTER_OTLP_HEADERS", "x-token=s3cret".into()),
    ]);
    // The first registration of the process sets the slow threshold: every
    // call is slow, so every call is also a span.
    let registration = vfscope::Builder::new()
        .name("vfscope-otlp")
        .dir(segment_dir())
        .slow_threshold(Duration::from_nanos(1))
        .register()
        .unwrap();
    let exporter = registration.export_otlp().unwrap().expect("enabled");
    let dir = tempfile::tempdir().unwrap();
    let conn = open(&dir.path().join("otlp.db"), Some("vfscope-otlp"));
    conn.execute_batch("PRAGMA journal_mode=WAL; CREATE TABLE t(k, v);")
        .unwrap();
    for i in 0..5 {
        conn.execute("INSERT INTO t VALUES (?1, randomblob(5000))", [i])
            .unwrap();
    }
    let _: i64 = conn
        .query_row("SELECT count(*) FROM t", [], |r| r.get(0))
        .unwrap();
    drop(conn);
    exporter.shutdown();

    let pid = std::process::id();
    let reader = SegmentReader::open(registration.segment_path().unwrap()).unwrap();
    let txns = transactions_since(0);
    let slow = reader.slow_since(0);
    assert_eq!((txns.lost, slow.lost), (0, 0), "the rings kept everything");
    receiver.with(|got| {
        let spans = spans_of(got, pid);
        assert_spans_match(&spans, &txns.entries);
        assert_eq!(spans.len(), txns.entries.len() + slow.entries.len());

        let metrics = metrics_of(got, pid);
        let snap = reader.snapshot();
        let syncs = counter(
            &metrics,
            "vfscope.vfs.operations",
            &[("vfscope.op", "sync"), ("vfscope.file_kind", "wal")],
        );
        assert_eq!(syncs as u64, snap.calls(Op::Sync, FileKind::Wal));
        assert!(syncs >= 5, "a WAL sync per commit: {syncs}");
        let written = counter(
            &metrics,
            "vfscope.vfs.io",
            &[("vfscope.file_kind", "wal"), ("disk.io.direction", "write")],
        );
        let wal_writes = snap
            .cells
            .iter()
            .filter(|c| c.op == Op::Write && c.kind == FileKind::Wal)
            .map(|c| c.bytes)
            .sum::<u64>();
        assert_eq!(written as u64, wal_writes);
        let duration = &metrics["vfscope.vfs.operation.duration"];
        assert_eq!(duration.unit, "s");
        let Some(Data::Histogram(h)) = &duration.data else {
            panic!("duration is a histogram")
        };
        for p in &h.data_points {
            assert_eq!(p.bucket_counts.len(), p.explicit_bounds.len() + 1);
            assert_eq!(p.bucket_counts.iter().sum::<u64>(), p.count);
        }
        assert_eq!(metrics["vfscope.vfs.io"].unit, "By");

        let resource = got.metrics[0].resource_metrics[0]
            .resource
            .as_ref()
            .unwrap();
        assert_eq!(text(&resource.attributes, "service.name"), "otlp-e2e");
        assert_eq!(text(&resource.attributes, "deployment.environment"), "test");
        assert!(got
            .headers
            .iter()
            .all(|h| h.iter().any(|(k, v)| k == "x-token" && v == "s3cret")
                && h.iter()
                    .any(|(k, v)| k == "content-encoding" && v == "gzip")));
    });
}

#[test]
fn serve_pushes_every_process_and_counts_an_unreachable_collector() {
    assert!(
        have("python3"),
        "python3 is missing (tests/run.sh installs it)"
    );
    let dir = tempfile::tempdir().unwrap();
    let segments = dir.path().join("segments");
    let receiver = OtlpReceiver::start();
    let fast = |endpoint: String| {
        vec![
            ("OTEL_EXPORTER_OTLP_ENDPOINT", endpoint),
            ("OTEL_METRIC_EXPORT_INTERVAL", "200".to_string()),
            ("OTEL_BSP_SCHEDULE_DELAY", "200".to_string()),
            ("VFSCOPE_SLOW", "1ns".to_string()),
        ]
    };
    let good = start_serve(&segments, &["--otlp"], &fast(receiver.endpoint()));
    let dead_end = format!("http://127.0.0.1:{}", free_port());
    let mut bad = start_serve(&segments, &["--otlp"], &fast(dead_end));

    let mut workload = Killed(
        Command::new("python3")
            .args(["-c", COMMITS_THEN_WAIT])
            .arg(dir.path().join("served.db"))
            .arg("10")
            .env("LD_PRELOAD", built("libvfscope.so"))
            .env("VFSCOPE_DIR", &segments)
            .env("VFSCOPE_SLOW", "1ns")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .unwrap(),
    );
    assert_eq!(first_line(&mut workload.0), "done");
    let pid = workload.0.id();
    let segment = list_segments(&segments)
        .unwrap()
        .into_iter()
        .find(|p| SegmentReader::open(p).is_ok_and(|r| r.pid() == pid))
        .expect("the workload's segment");
    let reader = SegmentReader::open(&segment).unwrap();
    let txns = reader.transactions_since(0);
    assert!(txns.entries.len() >= 11, "{}", txns.entries.len());
    receiver.wait_for("every transaction of the workload", |got| {
        spans_of(got, pid)
            .iter()
            .filter(|s| s.name.ends_with("transaction"))
            .count()
            >= txns.entries.len()
    });
    receiver.with(|got| assert_spans_match(&spans_of(got, pid), &txns.entries));
    let commits = reader.snapshot().calls(Op::Sync, FileKind::Wal);
    receiver.wait_for("the workload's WAL syncs", |got| {
        let metrics = metrics_of(got, pid);
        metrics.contains_key("vfscope.vfs.operations")
            && counter(
                &metrics,
                "vfscope.vfs.operations",
                &[("vfscope.op", "sync"), ("vfscope.file_kind", "wal")],
            ) as u64
                == commits
    });
    let (_, text) = http_get(good.port, "/metrics").unwrap();
    assert!(
        text.contains(r#"vfscope_otlp_exports_total{signal="traces",result="ok"}"#),
        "{text}"
    );

    // The other serve cannot reach its collector: counted, said once, and
    // it keeps serving.
    let deadline = Instant::now() + Duration::from_secs(60);
    let failed = |text: &str| {
        text.lines()
            .find(|l| {
                l.starts_with(r#"vfscope_otlp_exports_total{signal="metrics",result="failed"}"#)
            })
            .and_then(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    loop {
        let (status, text) = http_get(bad.port, "/metrics").unwrap();
        assert_eq!(status, 200);
        if failed(&text) >= 3.0 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "no failed exports counted:\n{text}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    drop(workload);
    let _ = bad.child.0.kill();
    let mut said = String::new();
    use std::io::Read;
    bad.stderr.read_to_string(&mut said).unwrap();
    for signal in ["metrics", "traces"] {
        let lines = said
            .lines()
            .filter(|l| l.contains("OTLP export failed") && l.contains(&format!("/v1/{signal}")))
            .count();
        assert_eq!(lines, 1, "one line per signal and error:\n{said}");
    }
}
