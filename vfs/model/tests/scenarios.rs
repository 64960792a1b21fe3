//! Each whole-system scenario charges exactly the calls it documents, on a
//! known workload replayed in virtual time.

use vfscope_model::replay::{replay, Prediction};
use vfscope_segment::trace::{Trace, TraceEnd, TraceHeader, TracedCall, WalFrame};
use vfscope_segment::{FileKind, LockLevel, Op};

fn call(start_ns: u64, op: Op, kind: FileKind, offset: u64, size: u32) -> TracedCall {
    TracedCall {
        start_ns,
        latency_ns: 1_000,
        offset,
        delay_ns: 0,
        size,
        rc: 0,
        tid: 1,
        op,
        kind,
        db: 0,
        frame: None,
        lz4_size: None,
    }
}

/// Two write transactions on a WAL database: lock up to EXCLUSIVE and
/// back, 10 page reads, 4 page writes and one partial write to the
/// database file, 3 WAL syncs, 2 file-size calls.
fn workload() -> Trace {
    let mut calls = Vec::new();
    let mut t = 10_000;
    let mut at = |op, kind, offset, size| {
        t += 10_000;
        calls.push(call(t, op, kind, offset, size));
    };
    use FileKind::*;
    for _ in 0..2 {
        for (op, to) in [
            (Op::Lock, LockLevel::Shared),
            (Op::Lock, LockLevel::Reserved),
            (Op::Lock, LockLevel::Exclusive),
            (Op::Unlock, LockLevel::None),
        ] {
            at(op, MainDb, to as u64, 0);
        }
    }
    for page in 0..10 {
        at(Op::Read, MainDb, page * 4096, 4096);
    }
    for page in 0..4 {
        at(Op::Write, MainDb, page * 4096, 4096);
    }
    at(Op::Write, MainDb, 24, 100);
    for _ in 0..3 {
        at(Op::Sync, Wal, 0, 0);
    }
    at(Op::FileSize, MainDb, 0, 0);
    at(Op::FileSize, Wal, 0, 0);
    Trace {
        header: TraceHeader {
            pid: 1,
            start_realtime_ns: 0,
            start_monotonic_ns: 0,
            sqlite_version: "3.40.1".into(),
        },
        calls,
        dbs: vec![(0, "/data/app.db".into())],
        end: Some(TraceEnd {
            end_ns: 10_000_000,
            written: 0,
            dropped: 0,
        }),
    }
}

fn run(preset: &str) -> Prediction {
    replay(&workload(), Some(vfscope_model::load(preset).unwrap()), 7)
}

/// Charged calls by op (all file kinds).
fn charged(p: &Prediction, op: Op) -> u64 {
    p.by_op
        .iter()
        .filter(|((o, _), _)| *o == op)
        .map(|(_, a)| a.charged)
        .sum()
}

/// Charged calls of every (op, file kind) but `key`.
fn charged_beside(p: &Prediction, key: (Op, FileKind)) -> u64 {
    p.by_op
        .iter()
        .filter(|(k, _)| **k != key)
        .map(|(_, a)| a.charged)
        .sum()
}

fn requests(p: &Prediction) -> Vec<(&str, u64)> {
    p.requests
        .iter()
        .map(|t| (t.name.as_str(), t.count))
        .collect()
}

#[test]
fn s3vfs_sends_a_get_per_block_read_a_put_per_block_written_and_lists_sizes() {
    let p = run("s3vfs");
    // 10 page reads; 4 whole-page writes and one partial (a GET first);
    // two file sizes (a LIST each); locks and syncs send nothing.
    assert_eq!(
        requests(&p),
        [
            ("get", 11),
            ("put", 5),
            ("list", 2),
            ("delete", 0),
            ("delete_one", 0)
        ]
    );
    assert_eq!(charged(&p, Op::Read), 10);
    assert_eq!(charged(&p, Op::Write), 5);
    assert_eq!(charged(&p, Op::FileSize), 2);
    assert_eq!(
        charged(&p, Op::Lock) + charged(&p, Op::Unlock) + charged(&p, Op::Sync),
        0,
        "no locking, no commit cost"
    );
    // S3 Standard us-east-1: GETs at $0.0004, PUTs and LISTs at $0.005 per 1,000.
    let bill: f64 = p.requests.iter().map(|t| t.cost()).sum();
    assert!((bill - (11.0 * 0.0004 + 7.0 * 0.005) / 1000.0).abs() < 1e-12);
}

/// One rollback-journal commit as SQLite makes it: the journal's header
/// and one record (4-byte page number, the page at an unaligned offset,
/// 4-byte checksum), the page written to the database, the hot-journal and
/// WAL checks, the journal deleted.
fn journal_commit() -> Trace {
    use FileKind::*;
    let mut t = workload();
    t.calls.clear();
    let mut at = 10_000;
    let mut push = |op, kind, offset, size| {
        at += 10_000;
        t.calls.push(call(at, op, kind, offset, size));
    };
    push(Op::Access, MainJournal, 0, 0);
    push(Op::Access, Wal, 0, 0);
    push(Op::FileSize, MainDb, 8192, 0);
    push(Op::Write, MainJournal, 0, 512);
    push(Op::Write, MainJournal, 512, 4);
    push(Op::Write, MainJournal, 516, 4096);
    push(Op::Write, MainJournal, 4612, 4);
    push(Op::Write, MainDb, 4096, 4096);
    push(Op::Delete, MainJournal, 0, 0);
    t
}

#[test]
fn s3vfs_charges_unaligned_journal_records_checks_and_deletes() {
    let model = vfscope_model::load(
        "s3vfs:rtt=10ms,get=5ms,get_miss=9ms,put=6ms,list=4ms,list_key=100us,delete=3ms,client=1ms",
    )
    .unwrap();
    let p = replay(&journal_commit(), Some(model), 1);
    // Journal: header (GET+PUT), page number (GET+PUT), the page across
    // two blocks (2 GETs + 2 PUTs), checksum (GET+PUT in block 1); the
    // database page: one PUT. Two existence checks and one size: 3 LISTs;
    // the delete: a LIST and a batch DELETE of the journal's 2 blocks.
    // Two of the GETs are of blocks not stored yet (the header's, and the
    // second block the page reaches into): NoSuchKey, at get_miss.
    assert_eq!(
        requests(&p),
        [
            ("get", 5),
            ("put", 6),
            ("list", 4),
            ("delete", 1),
            ("delete_one", 0)
        ]
    );
    let ms = 1_000_000i64;
    let (get, get_miss, put, list, delete) = (16 * ms, 20 * ms, 27 * ms, 15 * ms, 14 * ms);
    let key = ms / 10;
    let added = |op, kind| p.by_op[&(op, kind)].added_ns + 1_000;
    assert_eq!(added(Op::Access, FileKind::MainJournal), list);
    // The size call saw 8192 bytes: 2 keys listed.
    assert_eq!(added(Op::FileSize, FileKind::MainDb), list + 2 * key);
    assert_eq!(added(Op::Write, FileKind::MainDb), put);
    assert_eq!(
        added(Op::Delete, FileKind::MainJournal),
        list + 2 * key + delete
    );
    assert_eq!(
        p.by_op[&(Op::Write, FileKind::MainJournal)].added_ns + 4 * 1_000,
        3 * get + 2 * get_miss + 5 * put
    );
}

#[test]
fn scenario_parameters_are_checked() {
    let e = vfscope_model::load("s3vfs:rtt=fast").unwrap_err();
    assert_eq!(e.field, "rtt");
    assert!(e.message.contains("expected a duration"), "{e}");
    let e = vfscope_model::load("s3vfs:latency=1ms").unwrap_err();
    assert!(e.message.contains("takes rtt, get, get_p99"), "{e}");
    // Every preset takes parameters, and the defaults are what it runs (a
    // default of ${name} runs that parameter's value).
    for preset in vfscope_model::PRESETS {
        let m = vfscope_model::load(preset.name).unwrap();
        assert!(!m.params.is_empty(), "{} takes no parameters", preset.name);
        for p in &m.params {
            let spec = format!("{}:{}={}", preset.name, p.name, p.value);
            let mut with = vfscope_model::load(&spec).unwrap();
            with.name = m.name.clone();
            assert_eq!(with, m, "{spec}");
        }
    }
    // A tail given makes a request's time a log-normal; its median stays.
    let tailed = vfscope_model::load("s3vfs:get=5ms,get_p99=50ms").unwrap();
    let get = &tailed.remote.as_ref().unwrap().requests[0];
    assert!(matches!(get.time, vfscope_model::Dist::LogNormal { .. }));
    assert_eq!(get.time.median_ns().round(), 5e6);
    assert_eq!(get.miss_time.as_ref().unwrap().median_ns().round(), 5e6);
    let e = vfscope_model::load("s3vfs:get=5ms,get_p99=4ms").unwrap_err();
    assert!(e.message.contains("p50 <= p99"), "{e}");
}

#[test]
fn litefs_ships_each_wal_commit_asynchronously_and_waits_for_nothing() {
    let model = vfscope_model::load("litefs:one_way=2ms,one_way_p99=2ms,bandwidth=1MB/s").unwrap();
    let p = replay(&wal_transactions(), Some(model), 7);
    assert_eq!(p.lag_ns.len(), 3, "one shipment per WAL commit");
    // Fixed one-way delay, then the transaction's frames at 1 MB/s.
    assert!(
        p.lag_ns.iter().all(|&lag| lag > 2_000_000),
        "{:?}",
        p.lag_ns
    );
    let charged: u64 = p.by_op.values().map(|a| a.charged).sum();
    assert_eq!(
        charged, 0,
        "the primary holds the lease; commits are not waited for"
    );
}

#[test]
fn litefs_halt_waits_for_the_primary_at_each_wal_commit() {
    let model = vfscope_model::load("litefs-halt:rtt=4ms,rtt_p99=4ms").unwrap();
    let p = replay(&wal_transactions(), Some(model), 7);
    let wal_writes = &p.by_op[&(Op::Write, FileKind::Wal)];
    assert_eq!(wal_writes.charged, 3, "one POST /tx per commit");
    let others = charged_beside(&p, (Op::Write, FileKind::Wal));
    assert_eq!(others, 0, "locks, reads and syncs stay local");
    assert!(p.lag_ns.is_empty());
}

#[test]
fn libsql_replica_pays_its_round_trips_once_per_write_transaction() {
    // Rollback journal: each write transaction ends at its unlock.
    let p = run("libsql-replica:rtt=10ms,rtt_p99=10ms");
    let unlocks = &p.by_op[&(Op::Unlock, FileKind::MainDb)];
    assert_eq!(unlocks.charged, 2, "two write transactions");
    assert_eq!(charged(&p, Op::Sync) + charged(&p, Op::Lock), 0);
    assert_eq!(
        charged(&p, Op::Read) + charged(&p, Op::Write) + charged(&p, Op::FileSize),
        0,
        "reads and writes local"
    );
    assert!(p.lag_ns.is_empty());
    // WAL: each commit frame, 3 round trips by default.
    let model = vfscope_model::load("libsql-replica:rtt=10ms,rtt_p99=10ms").unwrap();
    let p = replay(&wal_transactions(), Some(model), 7);
    let wal_writes = &p.by_op[&(Op::Write, FileKind::Wal)];
    assert_eq!(wal_writes.charged, 3);
    assert_eq!(wal_writes.added_ns, 3 * (30_000_000 - 1_000));
    // An explicit transaction of one INSERT: 9.
    let model = vfscope_model::load("libsql-replica:rtt=10ms,rtt_p99=10ms,round_trips=9").unwrap();
    let p = replay(&wal_transactions(), Some(model), 7);
    assert_eq!(
        p.by_op[&(Op::Write, FileKind::Wal)].added_ns,
        3 * (90_000_000 - 1_000)
    );
}

/// Three WAL transactions as SQLite writes them (each frame a 24-byte
/// header, then its page), the last two frames of each a commit; two
/// syncs and a journal sync that a Raft design does not pay.
fn wal_transactions() -> Trace {
    let mut trace = workload();
    trace.calls.clear();
    let mut t = 10_000;
    let mut at = |c: TracedCall| {
        t += 10_000;
        trace.calls.push(TracedCall { start_ns: t, ..c });
    };
    let mut offset = 32;
    for txn in 0..3u32 {
        for (page, commit_size) in [(2, 0), (5, 9 + txn)] {
            at(TracedCall {
                frame: Some(WalFrame { page, commit_size }),
                ..call(0, Op::Write, FileKind::Wal, offset, 24)
            });
            at(call(0, Op::Write, FileKind::Wal, offset + 24, 4096));
            offset += 24 + 4096;
        }
        at(call(0, Op::Read, FileKind::MainDb, 4096, 4096));
    }
    at(call(0, Op::Sync, FileKind::Wal, 0, 0));
    at(call(0, Op::Sync, FileKind::MainJournal, 0, 0));
    trace
}

#[test]
fn raft_wal_waits_at_every_wal_commit_only() {
    let model = vfscope_model::load("raft-wal:rtt=4ms,overhead=1ms").unwrap();
    let p = replay(&wal_transactions(), Some(model), 7);
    let wal_writes = &p.by_op[&(Op::Write, FileKind::Wal)];
    assert_eq!(wal_writes.charged, 3, "one charge per commit frame");
    // Fixed times: the faster of 2 round trips (4 ms) and the work (1 ms).
    assert_eq!(wal_writes.added_ns, 3 * (5_000_000 - 1_000));
    let others = charged_beside(&p, (Op::Write, FileKind::Wal));
    assert_eq!(others, 0, "no sync, read or journal is charged");
    let e = vfscope_model::load("quorum-wal").unwrap_err();
    assert!(e.message.contains("raft-wal"), "{e}");
}

/// `n` one-frame commits of page 2, 10 ms apart (WAL frames only).
fn commits(n: u32) -> Trace {
    let mut trace = workload();
    trace.calls = (0..n as u64)
        .map(|i| TracedCall {
            frame: Some(WalFrame {
                page: 2,
                commit_size: 2,
            }),
            ..call(
                10_000_000 * (i + 1),
                Op::Write,
                FileKind::Wal,
                32 + i * 4120,
                24,
            )
        })
        .collect();
    trace
}

/// Litestream checkpoints once the WAL holds 1,000 frames and uploads one
/// more file at once (the restarted WAL's first frame, seen at a proxy
/// in front of the real Litestream): 1,200 commits over 12 s cross it once.
#[test]
fn litestream_uploads_once_more_at_its_wal_checkpoint() {
    let uploads = |model: &str, n| {
        let p = replay(&commits(n), Some(vfscope_model::load(model).unwrap()), 3);
        p.uploads
    };
    let plain = uploads("litestream:checkpoint_frames=100000", 1200);
    assert!((12..=13).contains(&plain), "{plain}");
    assert_eq!(uploads("litestream", 1200), plain + 1);
    assert_eq!(uploads("litestream:checkpoint_frames=500", 1200), plain + 2);
    assert_eq!(
        uploads("litestream", 900),
        uploads("litestream:checkpoint_frames=100000", 900)
    );
}
