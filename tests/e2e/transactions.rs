//! Transactions as the shim sees them: one record per lock-delimited
//! transaction, whose numbers add up to what the segment counted.

use rusqlite::Connection;
use std::path::Path;
use vfscope_segment::{FileKind, LockLevel, Op, Transaction, TxnOutcome};
use vfscope_tests::{db_view, open, own_process, snapshot, transactions_since, vfscope, DbView};

/// Runs `work` and returns the transactions of database `path` it made,
/// with the segment's counts before and after.
fn observe(path: &Path, work: impl FnOnce()) -> (Vec<Transaction>, DbView, DbView) {
    let cursor = transactions_since(0).next;
    let before = db_view(&snapshot(), path);
    work();
    let after = db_view(&snapshot(), path);
    let read = transactions_since(cursor);
    assert_eq!(read.lost, 0);
    let txns = read
        .entries
        .into_iter()
        .filter(|t| t.db == after.index)
        .collect();
    (txns, before, after)
}

fn delta(before: &DbView, after: &DbView, op: Op, kinds: &[FileKind]) -> (u64, u64) {
    let sum = |v: &DbView| {
        kinds.iter().fold((0, 0), |(calls, bytes), k| {
            let cell = v.cell(op, *k);
            (calls + v.calls(op, *k), bytes + cell.map_or(0, |c| c.bytes))
        })
    };
    let (a, b) = (sum(after), sum(before));
    (a.0 - b.0, a.1 - b.1)
}

/// The transactions' syncs and bytes add up to what the segment counted
/// on `files` meanwhile.
fn assert_sums(txns: &[Transaction], before: &DbView, after: &DbView, files: &[FileKind]) {
    let sum = |f: fn(&Transaction) -> u64| txns.iter().map(f).sum::<u64>();
    assert_eq!(
        sum(|t| t.syncs as u64),
        delta(before, after, Op::Sync, files).0
    );
    assert_eq!(
        sum(|t| t.bytes_written),
        delta(before, after, Op::Write, files).1
    );
    assert_eq!(
        sum(|t| t.bytes_read),
        delta(before, after, Op::Read, files).1
    );
}

fn write_and_read(conn: &Connection) {
    for i in 0..5 {
        conn.execute_batch(&format!(
            "BEGIN IMMEDIATE; INSERT INTO t VALUES ({i}, randomblob(3000)); COMMIT;"
        ))
        .unwrap();
    }
    for _ in 0..3 {
        let _: i64 = conn
            .query_row("SELECT count(*) FROM t", [], |r| r.get(0))
            .unwrap();
    }
}

#[test]
fn rollback_journal_transactions_add_up_to_the_segment() {
    own_process!(rollback_journal_transactions_add_up_to_the_segment);
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("txn.db");
    let conn = open(&path, Some(vfscope()));
    conn.execute_batch("PRAGMA journal_mode=DELETE; CREATE TABLE t(k, v);")
        .unwrap();
    let (txns, before, after) = observe(&path, || write_and_read(&conn));

    assert_eq!(txns.len(), 8, "{txns:#?}");
    let ids: Vec<u64> = txns.iter().map(|t| t.id).collect();
    assert!(
        ids.windows(2).all(|w| w[1] == w[0] + 1),
        "ids in order: {ids:?}"
    );
    let (writes, reads) = txns.split_at(5);
    for t in writes {
        assert!(t.wrote && !t.wal, "{t:?}");
        assert_eq!(t.max_lock, LockLevel::Exclusive);
        assert_eq!(t.outcome, TxnOutcome::Ok);
        assert!(t.pages_written >= 1 && t.syncs >= 2, "{t:?}");
        assert!(t.duration_ns > 0 && t.tid != 0);
    }
    for t in reads {
        assert!(!t.wrote && t.max_lock == LockLevel::Shared, "{t:?}");
        assert_eq!((t.pages_written, t.syncs, t.bytes_written), (0, 0, 0));
    }
    assert_sums(
        &txns,
        &before,
        &after,
        &[FileKind::MainDb, FileKind::MainJournal],
    );
}

#[test]
fn wal_transactions_follow_the_read_lock_and_count_frames() {
    own_process!(wal_transactions_follow_the_read_lock_and_count_frames);
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("wal.db");
    let conn = open(&path, Some(vfscope()));
    conn.execute_batch("PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL; CREATE TABLE t(k, v);")
        .unwrap();
    let (txns, before, after) = observe(&path, || write_and_read(&conn));

    assert_eq!(txns.len(), 8, "{txns:#?}");
    let (writes, reads) = txns.split_at(5);
    for t in writes {
        assert!(t.wrote && t.wal, "{t:?}");
        assert_eq!(
            t.max_lock,
            LockLevel::Shared,
            "the database file stays SHARED in WAL mode"
        );
        assert_eq!(t.syncs, 1, "one WAL sync per commit: {t:?}");
        assert!(t.pages_written >= 1);
    }
    for t in reads {
        assert!(!t.wrote && t.wal, "{t:?}");
        assert_eq!((t.pages_written, t.syncs), (0, 0));
    }
    let frames = after.shape(FileKind::Wal).wal_frames - before.shape(FileKind::Wal).wal_frames;
    let sum = |f: fn(&Transaction) -> u64| txns.iter().map(f).sum::<u64>();
    assert_eq!(sum(|t| t.pages_written as u64), frames);
    assert_sums(&txns, &before, &after, &[FileKind::MainDb, FileKind::Wal]);
}

#[test]
fn a_refused_transaction_ends_busy() {
    own_process!(a_refused_transaction_ends_busy);
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("busy.db");
    let a = open(&path, Some(vfscope()));
    let b = open(&path, Some(vfscope()));
    a.execute_batch("CREATE TABLE t(v);").unwrap();
    let (txns, _, _) = observe(&path, || {
        a.execute_batch("BEGIN IMMEDIATE; INSERT INTO t VALUES (1);")
            .unwrap();
        let refused = b.execute_batch("BEGIN IMMEDIATE;").unwrap_err();
        assert_eq!(
            refused.sqlite_error_code(),
            Some(rusqlite::ErrorCode::DatabaseBusy)
        );
        a.execute_batch("COMMIT;").unwrap();
    });
    let outcomes: Vec<TxnOutcome> = txns.iter().map(|t| t.outcome).collect();
    assert_eq!(outcomes, [TxnOutcome::Busy, TxnOutcome::Ok], "{txns:#?}");
    assert!(txns[0].lock_wait_ns > 0 && !txns[0].wrote);
    assert!(txns[1].wrote);
}

/// Two connections to one database on one thread: the writer's journal
/// I/O belongs to the writer's transaction, not to the read transaction
/// the other connection began after it.
#[test]
fn two_connections_on_one_thread_keep_their_own_io() {
    own_process!(two_connections_on_one_thread_keep_their_own_io);
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("two.db");
    let writer = open(&path, Some(vfscope()));
    writer
        .execute_batch(
            "PRAGMA journal_mode=DELETE; CREATE TABLE t(k, v); INSERT INTO t VALUES (0, 'x');",
        )
        .unwrap();
    let reader = open(&path, Some(vfscope()));
    let (txns, before, after) = observe(&path, || {
        writer.execute_batch("BEGIN IMMEDIATE").unwrap();
        reader.execute_batch("BEGIN").unwrap();
        let _: i64 = reader
            .query_row("SELECT count(*) FROM t", [], |r| r.get(0))
            .unwrap();
        // The writer's first change opens its journal now, while the
        // reader's transaction is the one most recently begun.
        writer
            .execute("INSERT INTO t VALUES (1, randomblob(3000))", [])
            .unwrap();
        reader.execute_batch("COMMIT").unwrap();
        writer.execute_batch("COMMIT").unwrap();
    });
    // The reader's transactions (its schema load, then its BEGIN ... COMMIT)
    // and the writer's one.
    let (writes, reads): (Vec<&Transaction>, Vec<&Transaction>) =
        txns.iter().partition(|t| t.wrote);
    assert_eq!(writes.len(), 1, "{txns:#?}");
    assert!(!reads.is_empty(), "{txns:#?}");
    for read in &reads {
        assert_eq!((read.bytes_written, read.syncs), (0, 0), "{read:#?}");
    }
    assert!(
        writes[0].syncs >= 2,
        "journal and database synced: {txns:#?}"
    );
    assert_sums(
        &txns,
        &before,
        &after,
        &[FileKind::MainDb, FileKind::MainJournal],
    );
}
