//! Each whole-system scenario charges exactly the calls it documents, on a
//! known workload replayed in virtual time.

use vfscope_model::replay::{replay, Prediction};
use vfscope_segment::trace::{Trace, TraceEnd, TraceHeader, TracedCall};
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

#[test]
fn s3vfs_charges_a_get_per_read_a_put_per_write_and_a_list_per_size() {
    let p = run("s3vfs");
    assert_eq!(charged(&p, Op::Read), 10, "one GET per page read");
    assert_eq!(charged(&p, Op::Write), 5, "one PUT per write");
    assert_eq!(charged(&p, Op::FileSize), 2, "one LIST per file size");
    assert_eq!(
        charged(&p, Op::Lock) + charged(&p, Op::Unlock) + charged(&p, Op::Sync),
        0,
        "no locking, no commit cost"
    );
    // The partial write pays a GET before its PUT: more than any whole one.
    let model = vfscope_model::parse(
        "fixed-s3",
        "[[rule]]\nops = [\"write\"]\ndelay = { dist = \"fixed\", value = \"60ms\" }\n\
         partial_block = { block = \"4KiB\", extra = { dist = \"fixed\", value = \"30ms\" } }\n",
    )
    .unwrap();
    let fixed = replay(&workload(), Some(model), 1);
    let writes = &fixed.by_op[&(Op::Write, FileKind::MainDb)];
    assert_eq!(writes.added_ns, 5 * (60_000_000 - 1_000) + 30_000_000);
}

#[test]
fn litefs_ships_commits_asynchronously_and_leases_writes() {
    let p = run("litefs");
    assert_eq!(p.lag_ns.len(), 3, "one shipment per commit");
    assert_eq!(charged(&p, Op::Sync), 0, "commits are not waited for");
    assert_eq!(charged(&p, Op::Lock), 2, "one lease per write transaction");
    assert_eq!(
        charged(&p, Op::Read) + charged(&p, Op::Write),
        0,
        "local I/O"
    );
}

#[test]
fn libsql_replica_pays_the_primary_at_write_start_and_commit() {
    let p = run("libsql-replica");
    assert_eq!(charged(&p, Op::Lock), 2);
    assert_eq!(charged(&p, Op::Sync), 3);
    assert_eq!(
        charged(&p, Op::Read) + charged(&p, Op::Write) + charged(&p, Op::FileSize),
        0
    );
    assert!(p.lag_ns.is_empty());
}

#[test]
fn quorum_wal_waits_at_every_commit_only() {
    let p = run("quorum-wal");
    assert_eq!(charged(&p, Op::Sync), 3);
    let others: u64 = p
        .by_op
        .iter()
        .filter(|((op, _), _)| *op != Op::Sync)
        .map(|(_, a)| a.charged)
        .sum();
    assert_eq!(others, 0);
}
