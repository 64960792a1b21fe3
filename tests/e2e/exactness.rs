//! Known workloads give exactly the counts they made.

use vfscope_segment::{FileKind, LockLevel, Op, ResultClass, ShmSlot};
use vfscope_tests::{
    db_view, open, own_process, series, snapshot, vfscope, RawFile, MAIN_DB_FLAGS,
};

#[test]
fn direct_calls_are_counted_exactly() {
    own_process!(direct_calls_are_counted_exactly);
    const WRITES: u64 = 300;
    const READS: u64 = 120;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("exact.db");
    {
        let mut f = RawFile::open(vfscope(), &path, MAIN_DB_FLAGS);
        for i in 0..WRITES {
            assert_eq!(f.write(&[i as u8; 4096], i as i64 * 4096), 0);
        }
        let mut buf = [1u8; 4096];
        for i in 0..READS {
            assert_eq!(f.read(&mut buf, (i % WRITES) as i64 * 4096), 0);
            assert_eq!(buf[0], i as u8);
        }
        // Reading past the end: a short read, zero-filled, as without vfscope.
        assert_eq!(
            f.read(&mut buf, 1 << 30),
            libsqlite3_sys::SQLITE_IOERR_SHORT_READ
        );
        assert!(buf.iter().all(|&b| b == 0));
        for _ in 0..3 {
            assert_eq!(f.sync(), 0);
        }
        assert_eq!(f.size(), WRITES as i64 * 4096);
    }
    let view = db_view(&snapshot(), &path);
    let write = view.cell(Op::Write, FileKind::MainDb).unwrap();
    assert_eq!(write.calls(), WRITES);
    assert_eq!(write.bytes, WRITES * 4096);
    assert_eq!(write.latency.as_ref().unwrap().count(), WRITES);
    let read = view.cell(Op::Read, FileKind::MainDb).unwrap();
    assert_eq!(read.result(ResultClass::Ok), READS);
    assert_eq!(read.result(ResultClass::ShortRead), 1);
    assert_eq!(read.errors(), 0, "a short read is not an error");
    assert_eq!(read.bytes, READS * 4096);
    assert_eq!(view.calls(Op::Sync, FileKind::MainDb), 3);
    assert_eq!(view.calls(Op::FileSize, FileKind::MainDb), 1);
    assert_eq!(view.calls(Op::Open, FileKind::MainDb), 1);
    assert_eq!(view.calls(Op::Close, FileKind::MainDb), 1);
    let shape = view.shape(FileKind::MainDb);
    assert_eq!(shape.writes_append, WRITES);
    assert_eq!(shape.writes_random + shape.writes_sequential, 0);
    assert_eq!(shape.reads_sequential, READS);
    assert_eq!(shape.unaligned_page + shape.unaligned_block, 0);
    assert_eq!(shape.block_bytes_written, WRITES * 4096);
    assert_eq!((shape.opens, shape.closes), (1, 1));
}

#[test]
fn concurrent_threads_are_counted_exactly() {
    own_process!(concurrent_threads_are_counted_exactly);
    const THREADS: usize = 4;
    const CALLS: u64 = 5_000;
    let dir = tempfile::tempdir().unwrap();
    let paths: Vec<_> = (0..THREADS)
        .map(|t| dir.path().join(format!("thread{t}.db")))
        .collect();
    vfscope();
    std::thread::scope(|s| {
        for path in &paths {
            s.spawn(move || {
                let mut f = RawFile::open(vfscope(), path, MAIN_DB_FLAGS);
                let mut buf = [0u8; 512];
                for i in 0..CALLS {
                    assert_eq!(f.write(&[7; 512], i as i64 * 512), 0);
                    assert_eq!(f.read(&mut buf, i as i64 * 512), 0);
                }
            });
        }
    });
    let snap = snapshot();
    for path in &paths {
        let view = db_view(&snap, path);
        assert_eq!(view.calls(Op::Write, FileKind::MainDb), CALLS);
        assert_eq!(view.calls(Op::Read, FileKind::MainDb), CALLS);
        assert_eq!(
            view.cell(Op::Write, FileKind::MainDb).unwrap().bytes,
            CALLS * 512
        );
        let shape = view.shape(FileKind::MainDb);
        // 512-byte I/O: never a whole 4 KiB page or block; each one costs a block.
        assert_eq!(shape.unaligned_page, 2 * CALLS);
        assert_eq!(shape.unaligned_block, 2 * CALLS);
        assert_eq!(shape.block_bytes_written, CALLS * 4096);
        assert_eq!(shape.writes_append, CALLS);
        assert_eq!(
            shape.reads_sequential, CALLS,
            "each read starts where the last one ended"
        );
    }
}

#[test]
fn wal_index_locks_are_decoded_by_slot() {
    own_process!(wal_index_locks_are_decoded_by_slot);
    use libsqlite3_sys::{
        SQLITE_SHM_EXCLUSIVE, SQLITE_SHM_LOCK, SQLITE_SHM_SHARED, SQLITE_SHM_UNLOCK,
    };
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("shm.db");
    {
        let mut f = RawFile::open(vfscope(), &path, MAIN_DB_FLAGS);
        assert_eq!(f.shm_map(), 0);
        assert_eq!(f.shm_lock(0, 1, SQLITE_SHM_LOCK | SQLITE_SHM_EXCLUSIVE), 0);
        assert_eq!(
            f.shm_lock(0, 1, SQLITE_SHM_UNLOCK | SQLITE_SHM_EXCLUSIVE),
            0
        );
        assert_eq!(f.shm_lock(3, 1, SQLITE_SHM_LOCK | SQLITE_SHM_SHARED), 0);
        assert_eq!(f.shm_lock(1, 2, SQLITE_SHM_LOCK | SQLITE_SHM_EXCLUSIVE), 0);
        assert_eq!(
            f.shm_lock(1, 2, SQLITE_SHM_UNLOCK | SQLITE_SHM_EXCLUSIVE),
            0
        );
        // Unmapping while read0 is held ends that hold too.
        assert_eq!(f.shm_unmap(true), 0);
    }
    let view = db_view(&snapshot(), &path);
    assert_eq!(view.calls(Op::ShmMap, FileKind::Shm), 1);
    assert_eq!(view.calls(Op::ShmLock, FileKind::Shm), 5);
    assert_eq!(view.calls(Op::ShmUnmap, FileKind::Shm), 1);
    let l = &view.locks;
    assert_eq!(l.shm_acquired[ShmSlot::Write.index()], [0, 1]);
    assert_eq!(l.shm_acquired[ShmSlot::Read0.index()], [1, 0]);
    assert_eq!(l.shm_acquired[ShmSlot::Checkpoint.index()], [0, 1]);
    assert_eq!(l.shm_acquired[ShmSlot::Recover.index()], [0, 1]);
    assert_eq!(l.shm_acquired[ShmSlot::Read1.index()], [0, 0]);
    for slot in [
        ShmSlot::Write,
        ShmSlot::Checkpoint,
        ShmSlot::Recover,
        ShmSlot::Read0,
    ] {
        assert_eq!(l.shm_hold[slot.index()].count(), 1, "{slot} hold");
    }
}

#[test]
fn wal_commits_match_the_transactions() {
    own_process!(wal_commits_match_the_transactions);
    const INSERTS: u64 = 50;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("commits.db");
    let conn = open(&path, Some(vfscope()));
    conn.execute_batch("PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL; CREATE TABLE t(v);")
        .unwrap();
    for i in 0..INSERTS {
        conn.execute("INSERT INTO t VALUES (?1)", [i as i64])
            .unwrap();
    }
    conn.execute_batch(&format!(
        "BEGIN; INSERT INTO t SELECT value FROM {}; COMMIT;",
        series(1000)
    ))
    .unwrap();
    let view = db_view(&snapshot(), &path);
    let wal = view.shape(FileKind::Wal);
    let transactions = 1 + INSERTS + 1; // CREATE TABLE, the inserts, the batch
    assert_eq!(wal.wal_commits, transactions);
    // synchronous=FULL syncs each commit, and the header of a new WAL once
    // (sqlite3WalFrames syncs it unless the device is SEQUENTIAL).
    assert_eq!(view.calls(Op::Sync, FileKind::Wal), transactions + 1);
    assert!(
        wal.wal_frames > transactions,
        "the batch spans several pages"
    );
    let page: i64 = conn
        .query_row("PRAGMA page_size", [], |r| r.get(0))
        .unwrap();
    assert_eq!(wal.wal_frame_bytes, wal.wal_frames * page as u64);
    let levels = &view.locks;
    assert!(levels.transition(LockLevel::None, LockLevel::Shared) > 0);
}

#[test]
fn slow_calls_land_in_the_ring() {
    own_process!(slow_calls_land_in_the_ring);
    vfscope();
    let name = std::ffi::CString::new(vfscope()).unwrap();
    // SAFETY: a registered VFS; xSleep takes microseconds and has no other
    // precondition. 60 ms is above the harness's 50 ms threshold.
    let slept = unsafe {
        let vfs = libsqlite3_sys::sqlite3_vfs_find(name.as_ptr());
        (*vfs).xSleep.unwrap()(vfs, 60_000)
    };
    assert!(slept >= 60_000);
    let snap = snapshot();
    let sleeps: Vec<_> = snap.slow.iter().filter(|c| c.op == Op::Sleep).collect();
    assert_eq!(sleeps.len(), 1, "{:?}", snap.slow);
    assert_eq!(sleeps[0].kind, FileKind::None);
    // The sleep lasts at least 60 ms; the TSC ratio is good to ~1e-4.
    assert!(
        sleeps[0].latency_ns >= 59_950_000,
        "{}",
        sleeps[0].latency_ns
    );
    assert_eq!(snap.meta.slow_threshold_ns, 50_000_000);
    let cell = snap.cells.iter().find(|c| c.op == Op::Sleep).unwrap();
    assert_eq!(cell.calls(), 1);
    assert!(cell.max_ns >= 59_950_000);
}

#[test]
fn library_mode_serves_its_own_metrics() {
    own_process!(library_mode_serves_its_own_metrics);
    let registration = vfscope::Builder::new()
        .name("vfscope")
        .dir(vfscope_tests::segment_dir())
        .register()
        .unwrap();
    let address = registration.serve_metrics("127.0.0.1:0").unwrap();
    let dir = tempfile::tempdir().unwrap();
    let conn = open(&dir.path().join("served.db"), Some(vfscope()));
    conn.execute_batch("PRAGMA journal_mode=WAL; CREATE TABLE t(v); INSERT INTO t VALUES (1);")
        .unwrap();
    let (status, text) = vfscope_tests::http_get(address.port(), "/metrics").unwrap();
    assert_eq!(status, 200);
    let pid = std::process::id();
    let commits = format!(r#"vfscope_wal_commits_total{{pid="{pid}",db="served.db"}} 2"#);
    assert!(text.contains(&commits), "{text}");
    assert!(
        text.lines()
            .filter(|l| l.starts_with("vfscope_process_info"))
            .count()
            == 1
    );
}
