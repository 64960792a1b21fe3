//! The latency/fault model applied to real SQLite: injected errors reach
//! the app as SQLite errors and leave the database intact, partitions fail
//! remote-modelled calls and then recover, delays are recorded, and the
//! model switches at run time.

use rusqlite::{Connection, ErrorCode};
use std::time::Duration;
use vfscope_segment::{FileKind, Op, RequestOutcome, SegmentReader};
use vfscope_tests::{assert_intact, db_view, open, own_process, segment_dir, snapshot};

/// Registers `vfscope-model` as this process's first registration, so its
/// model is the one in force.
fn register(model: &str) -> vfscope::Registration {
    vfscope::Builder::new()
        .name("vfscope-model")
        .dir(segment_dir())
        .latency(model)
        .register()
        .unwrap()
}

fn code(e: &rusqlite::Error) -> Option<i32> {
    match e {
        rusqlite::Error::SqliteFailure(f, _) => Some(f.extended_code),
        _ => None,
    }
}

fn insert(conn: &Connection, i: i64) -> rusqlite::Result<usize> {
    conn.execute("INSERT INTO t VALUES (?1, randomblob(2000))", [i])
}

#[test]
fn an_injected_error_reaches_the_app_and_the_database_stays_intact() {
    own_process!(an_injected_error_reaches_the_app_and_the_database_stays_intact);
    // The 6th WAL write fails: inside the third insert's commit.
    register("[[fault]]\nops = [\"write\"]\nfiles = [\"wal\"]\nerror = \"ioerr_write\"\nnth = 6\n");
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("fault.db");
    let conn = open(&path, Some("vfscope-model"));
    conn.execute_batch("PRAGMA journal_mode=WAL; CREATE TABLE t(k, v);")
        .unwrap();
    let results: Vec<Option<i32>> = (0..6)
        .map(|i| insert(&conn, i).err().as_ref().and_then(code))
        .collect();
    let failed: Vec<usize> = results
        .iter()
        .enumerate()
        .filter_map(|(i, r)| r.map(|_| i))
        .collect();
    assert_eq!(failed.len(), 1, "exactly one insert failed: {results:?}");
    assert_eq!(results[failed[0]], Some(778), "SQLITE_IOERR_WRITE");
    drop(conn);
    let conn = open(&path, None);
    assert_intact(&conn);
    let rows: i64 = conn
        .query_row("SELECT count(*) FROM t", [], |r| r.get(0))
        .unwrap();
    assert_eq!(rows, 5, "the failed insert rolled back, the others stayed");
    let view = db_view(&snapshot(), &path);
    let cell = view.cell(Op::Write, FileKind::Wal).unwrap();
    assert_eq!(cell.faults_injected, 1);
}

#[test]
fn a_partition_makes_locks_busy_and_reads_fail_then_recovers() {
    own_process!(a_partition_makes_locks_busy_and_reads_fail_then_recovers);
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("partition.db");
    {
        let conn = open(&path, None);
        conn.execute_batch("CREATE TABLE t(k, v); INSERT INTO t VALUES (1, 'x');")
            .unwrap();
    }
    let registration = register("off");
    let conn = open(&path, Some("vfscope-model"));
    // Virtual mode: nothing waits. Reads of the database are remote
    // fetches, writes need the lease; the partition starts at once and
    // lasts until the model is switched (the time-window form is covered
    // by the engine's tests, in virtual time).
    let reads = "[[rule]]\nops = [\"read\"]\nfiles = [\"main_db\"]\ndelay = { dist = \"fixed\", value = \"1ms\" }\n";
    let lease = "[lease]\nrtt = { dist = \"fixed\", value = \"1ms\" }\n";
    let cut = "[[partition]]\nstart = \"0s\"\n";
    let remote = format!("mode = \"virtual\"\n{reads}{lease}");
    // Only the lease is remote: reads stay local, the write lock is BUSY.
    registration
        .set_latency(&format!("mode = \"virtual\"\n{lease}{cut}"))
        .unwrap();
    let rows = conn.query_row("SELECT count(*) FROM t", [], |r| r.get::<_, i64>(0));
    assert_eq!(rows.unwrap(), 1);
    let write = conn
        .execute("INSERT INTO t VALUES (2, 'y')", [])
        .unwrap_err();
    assert_eq!(
        write.sqlite_error_code(),
        Some(ErrorCode::DatabaseBusy),
        "lease lost: {write:?}"
    );
    // Pages are remote too: the read fails as a failed fetch.
    registration.set_latency(&format!("{remote}{cut}")).unwrap();
    let read = conn.query_row("SELECT count(*) FROM t", [], |r| r.get::<_, i64>(0));
    assert_eq!(
        read.as_ref().err().and_then(code),
        Some(266),
        "fetch failed: SQLITE_IOERR_READ, got {read:?}"
    );
    // The partition is lifted: the same system, reachable again.
    registration.set_latency(&remote).unwrap();
    let rows = conn.query_row("SELECT count(*) FROM t", [], |r| r.get::<_, i64>(0));
    assert_eq!(rows.unwrap(), 1);
    conn.execute("INSERT INTO t VALUES (2, 'y')", []).unwrap();
    assert_intact(&conn);
}

#[test]
fn delays_are_recorded_per_op_and_in_transactions() {
    own_process!(delays_are_recorded_per_op_and_in_transactions);
    let registration = register(
        "[[rule]]\nops = [\"sync\"]\nfiles = [\"wal\"]\ndelay = { dist = \"fixed\", value = \"2ms\" }\n",
    );
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("delay.db");
    let conn = open(&path, Some("vfscope-model"));
    conn.execute_batch("PRAGMA journal_mode=WAL; CREATE TABLE t(k, v);")
        .unwrap();
    for i in 0..5 {
        insert(&conn, i).unwrap();
    }
    let view = db_view(&snapshot(), &path);
    let sync = view.cell(Op::Sync, FileKind::Wal).unwrap();
    assert_eq!(sync.delayed, sync.calls());
    assert_eq!(sync.delay_target_ns, 2_000_000 * sync.calls());
    // Deadline-based: a call never returns before its modelled latency.
    assert!(sync.delay_actual_ns >= sync.delay_target_ns);
    assert!(sync.total_ns >= sync.delay_target_ns, "the app felt it");
    let reader = SegmentReader::open(registration.segment_path().unwrap()).unwrap();
    let injected: u64 = reader
        .transactions_since(0)
        .entries
        .iter()
        .filter(|t| t.db == view.index)
        .map(|t| t.injected_ns)
        .sum();
    assert_eq!(
        injected, sync.delay_target_ns,
        "every sync ran in a transaction"
    );
    let model = reader.snapshot().model;
    assert!(model
        .active
        .as_deref()
        .is_some_and(|n| n.contains("model text")));
    assert!(!model.virtual_mode);
}

#[test]
fn the_model_switches_at_run_time() {
    own_process!(the_model_switches_at_run_time);
    let registration = register("off");
    let dir = tempfile::tempdir().unwrap();
    let conn = open(&dir.path().join("switch.db"), Some("vfscope-model"));
    conn.execute_batch("CREATE TABLE t(k, v);").unwrap();
    insert(&conn, 1).unwrap();

    // In process (what PRAGMA vfscope_latency and the builder use).
    registration
        .set_latency("[[fault]]\nops = [\"sync\"]\nerror = \"ioerr_fsync\"\nprobability = 1.0\n")
        .unwrap();
    let err = insert(&conn, 2).unwrap_err();
    assert_eq!(code(&err), Some(1034), "SQLITE_IOERR_FSYNC: {err:?}");
    registration.set_latency("off").unwrap();
    insert(&conn, 3).unwrap();

    // From another process's point of view: a request in the segment's
    // control block, applied at the next call.
    let path = registration.segment_path().unwrap().to_path_buf();
    let fail_syncs = "[[fault]]\nops = [\"sync\"]\nerror = \"ioerr_fsync\"\nprobability = 1.0\n";
    assert_eq!(request(&path, fail_syncs, &conn), RequestOutcome::Applied);
    assert_eq!(code(&insert(&conn, 4).unwrap_err()), Some(1034));
    // A model that does not parse is rejected; the active one stays.
    assert_eq!(
        request(&path, "[[rule]]\nops = [\"nope\"]\n", &conn),
        RequestOutcome::Rejected
    );
    assert_eq!(code(&insert(&conn, 5).unwrap_err()), Some(1034));
    assert_eq!(request(&path, "off", &conn), RequestOutcome::Applied);
    insert(&conn, 6).unwrap();
    assert_intact(&conn);
}

/// Asks through the control block while this thread keeps making calls
/// (the process applies a request at its next call).
fn request(segment: &std::path::Path, model: &str, conn: &Connection) -> RequestOutcome {
    let reader = SegmentReader::open(segment).unwrap();
    let model = model.to_string();
    let asking = std::thread::spawn(move || {
        reader
            .request_model(&model, Duration::from_secs(30))
            .unwrap()
    });
    while !asking.is_finished() {
        let _ = conn.query_row("SELECT count(*) FROM t", [], |r| r.get::<_, i64>(0));
        std::thread::sleep(Duration::from_millis(2));
    }
    asking.join().unwrap()
}

#[test]
fn a_bad_model_is_an_error_naming_file_line_and_field() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("bad.toml");
    std::fs::write(
        &file,
        "[[rule]]\nops = [\"read\"]\ndelay = { dist = \"fixed\", value = \"fast\" }\n",
    )
    .unwrap();
    let err = vfscope::Builder::new()
        .name("vfscope-bad-model")
        .dir(segment_dir())
        .latency(file.to_str().unwrap())
        .register()
        .unwrap_err()
        .to_string();
    assert!(
        err.contains(&format!("{}:3: rule.delay.value", file.display())),
        "{err}"
    );
}
