//! The rules over a real segment's counters (no transaction ring: as
//! vfstop and the exporter read them).

use vfscope_doctor::evidence::Segment;
use vfscope_doctor::{diagnose, Evidence};
use vfscope_segment::{FileKind, Op, ProcessMeta, SegmentReader, SegmentWriter};

fn meta(pid: u32) -> ProcessMeta {
    ProcessMeta {
        pid,
        uid: 0,
        proc_start_ticks: 7,
        start_realtime_ns: 1,
        start_monotonic_ns: 0,
        cmdline: "ledger".into(),
        sqlite_version: "3.46.0".into(),
        slow_threshold_ns: 10_000_000,
        block_size: 4096,
    }
}

/// `commits` rollback-journal commits of one page, as autocommit inserts
/// make them; judged from counters alone, or with a transaction ring that
/// wrapped long ago (its entries are of other databases).
fn journal_commits(commits: u64) -> Vec<&'static str> {
    let counters = diagnosed(commits, false);
    assert_eq!(
        counters,
        diagnosed(commits, true),
        "a wrapped ring changes nothing"
    );
    counters
}

fn diagnosed(commits: u64, wrapped_ring: bool) -> Vec<&'static str> {
    let dir = tempfile::tempdir().unwrap();
    let w = SegmentWriter::create(&dir.path().join("segs"), &meta(4343)).unwrap();
    let l = w.layout();
    let db = l.db_index(b"/data/ledger.db");
    for _ in 0..commits {
        l.record_call(Op::Write, FileKind::MainJournal, db, 0, 512, 2_000);
        l.record_call(Op::Sync, FileKind::MainJournal, db, 0, 0, 400_000);
        l.record_call(Op::Sync, FileKind::MainJournal, db, 0, 0, 400_000);
        l.record_call(Op::Write, FileKind::MainDb, db, 4096, 4096, 2_000);
        l.record_call(Op::Sync, FileKind::MainDb, db, 0, 0, 300_000);
        l.record_call(Op::Delete, FileKind::MainJournal, db, 0, 0, 100_000);
    }
    let path = vfscope_segment::list_segments(&dir.path().join("segs")).unwrap();
    let snapshot = SegmentReader::open(&path[0]).unwrap().snapshot();
    let evidence = Evidence::from_segments(
        &[Segment {
            snapshot: &snapshot,
            transactions: wrapped_ring.then_some((&[][..], 5000)),
        }],
        "test",
    );
    let d = diagnose(&evidence);
    d.findings.iter().map(|f| f.id).collect()
}

#[test]
fn commits_are_counted_from_the_journal_s_ends() {
    assert_eq!(
        journal_commits(60),
        ["sync-per-row", "rollback-small-commits"]
    );
    // Under the thresholds: 19 commits is too few for either.
    assert!(journal_commits(19).is_empty());
}

/// A WAL database whose connections close while another is open: each
/// close's checkpoint asks EXCLUSIVE, gets BUSY and gives up quietly. No
/// statement failed.
#[test]
fn busy_checkpoints_at_close_are_not_failed_statements() {
    let dir = tempfile::tempdir().unwrap();
    let w = SegmentWriter::create(&dir.path().join("segs"), &meta(4444)).unwrap();
    let l = w.layout();
    let db = l.db_index(b"/data/queue.db");
    for _ in 0..50 {
        l.record_call(Op::Write, FileKind::Wal, db, 32, 4120, 2_000);
    }
    let stats = l.lock_stats(db);
    let relaxed = std::sync::atomic::Ordering::Relaxed;
    stats.busy[vfscope_segment::LockLevel::Exclusive.index()].fetch_add(15, relaxed);
    stats.waits_abandoned.fetch_add(15, relaxed);
    let path = vfscope_segment::list_segments(&dir.path().join("segs")).unwrap();
    let snapshot = SegmentReader::open(&path[0]).unwrap().snapshot();
    let evidence = Evidence::from_segments(
        &[Segment {
            snapshot: &snapshot,
            transactions: None,
        }],
        "test",
    );
    let d = diagnose(&evidence);
    assert!(
        d.findings.iter().all(|f| f.id != "busy-without-timeout"),
        "{d:#?}"
    );
}
