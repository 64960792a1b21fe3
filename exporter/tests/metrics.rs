//! The exporter over real segment files, its output checked by promtool.

use std::io::Write;
use std::process::{Command, Stdio};
use vfscope_exporter::SegmentCollector;
use vfscope_segment::{FileKind, Op, ProcessMeta, SegmentWriter};

fn writer(dir: &std::path::Path, pid: u32) -> SegmentWriter {
    let meta = ProcessMeta {
        pid,
        uid: 0,
        proc_start_ticks: 7,
        start_realtime_ns: 1_700_000_000_000_000_000,
        start_monotonic_ns: 0,
        cmdline: "/usr/bin/orders-api --port 8080".into(),
        sqlite_version: "3.46.0".into(),
        slow_threshold_ns: 10_000_000,
        block_size: 4096,
    };
    // A directory of its own: the writer insists on mode 0700.
    SegmentWriter::create(&dir.join("segs"), &meta).unwrap()
}

fn record(w: &SegmentWriter, syncs: u64) {
    let l = w.layout();
    let db = l.db_index(b"/data/orders.db");
    for _ in 0..syncs {
        l.record_call(Op::Sync, FileKind::Wal, db, 0, 0, 2_000_000);
    }
    l.record_call(Op::Read, FileKind::MainDb, db, 0, 4096, 3_000);
    l.record_call(Op::Lock, FileKind::MainDb, db, 5, 0, 1_000);
    l.lock_stats(db).transitions[0][1].fetch_add(2, std::sync::atomic::Ordering::Relaxed);
}

fn value(text: &str, series: &str) -> f64 {
    text.lines()
        .find_map(|l| l.strip_prefix(series).and_then(|v| v.trim().parse().ok()))
        .unwrap_or_else(|| panic!("no series {series} in:\n{text}"))
}

#[test]
fn live_processes_are_exported_with_bounded_labels() {
    let dir = tempfile::tempdir().unwrap();
    let w = writer(dir.path(), 4242);
    record(&w, 10);
    let text = SegmentCollector::new(&dir.path().join("segs")).render();
    let sync = r#"vfscope_vfs_operations_total{pid="4242",op="sync",file_kind="wal",db="orders.db",result="ok"}"#;
    assert_eq!(value(&text, sync), 10.0);
    let busy = r#"vfscope_vfs_operations_total{pid="4242",op="lock",file_kind="main_db",db="orders.db",result="busy"}"#;
    assert_eq!(value(&text, busy), 1.0);
    assert_eq!(
        value(
            &text,
            r#"vfscope_vfs_io_bytes_total{pid="4242",file_kind="main_db",db="orders.db",direction="read"}"#
        ),
        4096.0
    );
    assert_eq!(
        value(
            &text,
            r#"vfscope_lock_transitions_total{pid="4242",db="orders.db",from="none",to="shared"}"#
        ),
        2.0
    );
    assert_eq!(
        value(
            &text,
            r#"vfscope_process_info{pid="4242",program="orders-api",sqlite_version="3.46.0"}"#
        ),
        1.0
    );
    assert_eq!(value(&text, r#"vfscope_build_info{version="0.1.0"}"#), 1.0);
    // The 2 ms syncs: under the 2.5 ms bound, not under 1 ms; sum exact.
    let bucket = |le: &str| {
        value(
            &text,
            &format!(
                r#"vfscope_vfs_operation_duration_seconds_bucket{{pid="4242",op="sync",file_kind="wal",db="orders.db",le="{le}"}}"#
            ),
        )
    };
    assert_eq!(
        (bucket("0.001"), bucket("0.0025"), bucket("+Inf")),
        (0.0, 10.0, 10.0)
    );
    let sum = value(
        &text,
        r#"vfscope_vfs_operation_duration_seconds_sum{pid="4242",op="sync",file_kind="wal",db="orders.db"}"#,
    );
    assert!((sum - 0.02).abs() < 1e-9, "{sum}");
    assert!(!text.contains("/data/"), "no path as a label value");
}

#[test]
fn output_passes_promtool() {
    let dir = tempfile::tempdir().unwrap();
    let (a, b) = (writer(dir.path(), 4242), writer(dir.path(), 4343));
    record(&a, 3);
    record(&b, 5);
    std::fs::write(dir.path().join("segs/9-9.seg"), b"damaged").unwrap();
    let text = SegmentCollector::new(&dir.path().join("segs")).render();
    assert_eq!(value(&text, "vfscope_segment_read_errors"), 1.0);
    let mut promtool = Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("promtool (Debian package prometheus; tests/run.sh installs it)");
    promtool
        .stdin
        .take()
        .unwrap()
        .write_all(text.as_bytes())
        .unwrap();
    let out = promtool.wait_with_output().unwrap();
    let said = String::from_utf8_lossy(&out.stdout) + String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success() && said.trim().is_empty(),
        "promtool: {said}"
    );
}

#[test]
fn counters_grow_and_exited_processes_disappear() {
    let dir = tempfile::tempdir().unwrap();
    let w = writer(dir.path(), 4242);
    let collector = SegmentCollector::new(&dir.path().join("segs"));
    let series = r#"vfscope_vfs_operations_total{pid="4242",op="sync",file_kind="wal",db="orders.db",result="ok"}"#;
    record(&w, 2);
    let first = value(&collector.render(), series);
    record(&w, 3);
    assert_eq!(value(&collector.render(), series), first + 3.0);
    w.mark_exited();
    let text = collector.render();
    assert!(!text.contains(r#"pid="4242""#), "{text}");
    assert_eq!(value(&text, r#"vfscope_segments{state="exited"}"#), 1.0);
}

/// Segments of `vfscope run` live in run directories, which the collector
/// lists; once it has deleted the last gone segment of one (retention), the
/// emptied run directory goes too.
#[test]
fn run_directories_are_read_and_emptied_ones_removed() {
    let dir = tempfile::tempdir().unwrap();
    let base = dir.path().join("segs");
    std::fs::create_dir(&base).unwrap();
    std::fs::set_permissions(&base, std::os::unix::fs::PermissionsExt::from_mode(0o700)).unwrap();
    // `writer` makes DIR/segs; moved to where `vfscope run` would have it.
    let w = writer(&dir.path().join("staging"), std::process::id());
    let run = vfscope_segment::run_dir(&base, 4243, 1_700_000_000);
    std::fs::rename(dir.path().join("staging/segs"), &run).unwrap();
    record(&w, 2);
    let collector = SegmentCollector::new(&base).retain_gone(std::time::Duration::ZERO);
    let text = collector.render();
    assert!(text.contains("vfscope_vfs_operations_total"), "{text}");
    w.mark_exited();
    drop(w);
    collector.render();
    collector.render();
    assert!(!run.exists(), "the emptied run directory is removed");
}

#[test]
fn a_live_process_s_findings_are_info_series_with_their_gain() {
    let dir = tempfile::tempdir().unwrap();
    let w = writer(dir.path(), 4343);
    let l = w.layout();
    let db = l.db_index(b"/data/ledger.db");
    // 60 rollback-journal commits of one page each, as autocommit inserts
    // make them: journal written, synced twice, deleted; a database page
    // written and synced.
    for _ in 0..60 {
        l.record_call(Op::Write, FileKind::MainJournal, db, 0, 512, 2_000);
        l.record_call(Op::Sync, FileKind::MainJournal, db, 0, 0, 400_000);
        l.record_call(Op::Sync, FileKind::MainJournal, db, 0, 0, 400_000);
        l.record_call(Op::Write, FileKind::MainDb, db, 4096, 4096, 2_000);
        l.record_call(Op::Sync, FileKind::MainDb, db, 0, 0, 300_000);
        l.record_call(Op::Delete, FileKind::MainJournal, db, 0, 0, 100_000);
    }
    let text = SegmentCollector::new(&dir.path().join("segs")).render();
    for finding in ["sync-per-row", "rollback-small-commits"] {
        let info = format!(
            r#"vfscope_finding_info{{pid="4343",finding="{finding}",severity="warn",db="ledger.db"}}"#
        );
        assert_eq!(value(&text, &info), 1.0, "{finding}");
        let gain = value(
            &text,
            &format!(
                r#"vfscope_finding_gain_seconds{{pid="4343",finding="{finding}",db="ledger.db"}}"#
            ),
        );
        // The journal's calls and the syncs: 60 x 1.2 ms, less the WAL's
        // appends and checkpoint syncs (rollback-small-commits) or x 0.99
        // (sync-per-row).
        assert!(gain > 0.06 && gain < 0.0733, "{finding}: {gain}");
    }
}
