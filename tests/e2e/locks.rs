//! Lock accounting: transitions add up, every acquire has its release, BUSY
//! waits are timed from the first BUSY to the lock.

use libsqlite3_sys::{SQLITE_BUSY, SQLITE_LOCK_NONE, SQLITE_LOCK_RESERVED, SQLITE_LOCK_SHARED};
use vfscope_segment::{LockLevel, LockSnapshot};
use vfscope_tests::{
    assert_intact, db_view, open, own_process, snapshot, vfscope, RawFile, MAIN_DB_FLAGS,
};

/// For every level but NONE: entries = exits + files closed while holding it.
fn assert_balanced(locks: &LockSnapshot) {
    for level in &LockLevel::ALL[1..] {
        let into: u64 = LockLevel::ALL
            .iter()
            .map(|from| locks.transition(*from, *level))
            .sum();
        let out: u64 = LockLevel::ALL
            .iter()
            .map(|to| locks.transition(*level, *to))
            .sum();
        let closed = locks.closed_holding[level.index()];
        assert_eq!(
            into,
            out + closed,
            "{level}: {into} in, {out} out, {closed} closed holding"
        );
        assert_eq!(
            locks.hold[level.index()].count(),
            out + closed,
            "{level}: one hold time per exit"
        );
    }
}

#[test]
fn busy_waits_and_abandoned_waits_are_told_apart() {
    own_process!(busy_waits_and_abandoned_waits_are_told_apart);
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("busy.db");
    let mut a = RawFile::open(vfscope(), &path, MAIN_DB_FLAGS);
    let mut b = RawFile::open(vfscope(), &path, MAIN_DB_FLAGS);
    // A reserves; B's attempt is refused, then granted after A lets go.
    assert_eq!(a.lock(SQLITE_LOCK_SHARED), 0);
    assert_eq!(a.lock(SQLITE_LOCK_RESERVED), 0);
    assert_eq!(b.lock(SQLITE_LOCK_SHARED), 0);
    assert_eq!(b.lock(SQLITE_LOCK_RESERVED), SQLITE_BUSY);
    assert_eq!(a.unlock(SQLITE_LOCK_NONE), 0);
    assert_eq!(b.lock(SQLITE_LOCK_RESERVED), 0);
    assert_eq!(b.unlock(SQLITE_LOCK_NONE), 0);
    // Again, but B gives up.
    assert_eq!(a.lock(SQLITE_LOCK_SHARED), 0);
    assert_eq!(a.lock(SQLITE_LOCK_RESERVED), 0);
    assert_eq!(b.lock(SQLITE_LOCK_SHARED), 0);
    assert_eq!(b.lock(SQLITE_LOCK_RESERVED), SQLITE_BUSY);
    assert_eq!(b.unlock(SQLITE_LOCK_NONE), 0);
    assert_eq!(a.unlock(SQLITE_LOCK_NONE), 0);
    drop((a, b));

    let locks = db_view(&snapshot(), &path).locks;
    assert_eq!(locks.transition(LockLevel::None, LockLevel::Shared), 4);
    assert_eq!(locks.transition(LockLevel::Shared, LockLevel::Reserved), 3);
    assert_eq!(locks.transition(LockLevel::Reserved, LockLevel::None), 3);
    assert_eq!(locks.transition(LockLevel::Shared, LockLevel::None), 1);
    assert_eq!(locks.busy[LockLevel::Reserved.index()], 2);
    assert_eq!(locks.wait.count(), 1, "one wait ended with the lock");
    assert_eq!(locks.waits_abandoned, 1);
    assert_balanced(&locks);
}

#[test]
fn sqlite_workload_releases_every_lock_it_takes() {
    own_process!(sqlite_workload_releases_every_lock_it_takes);
    for mode in ["DELETE", "WAL", "TRUNCATE"] {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("locks.db");
        {
            let a = open(&path, Some(vfscope()));
            let b = open(&path, Some(vfscope()));
            a.execute_batch(&format!("PRAGMA journal_mode={mode}; CREATE TABLE t(v);"))
                .unwrap();
            for i in 0..20 {
                a.execute("INSERT INTO t VALUES (?1)", [i]).unwrap();
                let _: i64 = b
                    .query_row("SELECT count(*) FROM t", [], |r| r.get(0))
                    .unwrap();
            }
            a.execute_batch("BEGIN IMMEDIATE; INSERT INTO t VALUES (-1);")
                .unwrap();
            assert!(
                b.execute("INSERT INTO t VALUES (-2)", []).is_err(),
                "b is kept out"
            );
            a.execute_batch("COMMIT").unwrap();
            assert_intact(&b);
        }
        let locks = db_view(&snapshot(), &path).locks;
        assert!(
            locks.busy.iter().sum::<u64>() >= 1,
            "{mode}: the refused insert was BUSY"
        );
        assert_balanced(&locks);
    }
}

#[test]
fn a_wait_through_the_busy_handler_is_one_granted_wait() {
    own_process!(a_wait_through_the_busy_handler_is_one_granted_wait);
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("patient.db");
    let a = open(&path, Some(vfscope()));
    a.execute_batch("CREATE TABLE t(v);").unwrap();
    let b = open(&path, Some(vfscope()));
    // SQLite's busy handler releases the locks between attempts and sleeps:
    // the wait must still read as one wait that got its lock.
    b.busy_timeout(std::time::Duration::from_secs(10)).unwrap();
    a.execute_batch("BEGIN IMMEDIATE; INSERT INTO t VALUES (1);")
        .unwrap();
    let waiter = std::thread::spawn(move || {
        b.execute("INSERT INTO t VALUES (2)", []).unwrap();
        b
    });
    std::thread::sleep(std::time::Duration::from_millis(300));
    a.execute_batch("COMMIT;").unwrap();
    drop(waiter.join().unwrap());
    drop(a);
    let locks = db_view(&snapshot(), &path).locks;
    assert!(
        locks.busy[LockLevel::Reserved.index()] >= 1,
        "it had to wait"
    );
    assert_eq!(locks.wait.count(), 1, "one wait, granted");
    assert_eq!(locks.waits_abandoned, 0);
    assert_balanced(&locks);
}
