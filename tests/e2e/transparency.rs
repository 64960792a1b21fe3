//! Same statements, same results and error codes, with and without vfscope.

use rusqlite::{backup::Backup, Connection};
use std::path::Path;
use vfscope_tests::{assert_intact, errors, open, series, transcript, vfscope};

/// Runs `scenario` in a fresh directory without and with vfscope and
/// compares what every statement returned. `expected_errors` is how many
/// statements fail by design, so a scenario cannot pass by failing alike.
fn same_with_and_without(
    expected_errors: usize,
    scenario: impl Fn(&Path, Option<&str>) -> Vec<String>,
) {
    let plain = tempfile::tempdir().unwrap();
    let traced = tempfile::tempdir().unwrap();
    let expected = scenario(plain.path(), None);
    let actual = scenario(traced.path(), Some(vfscope()));
    assert_eq!(errors(&expected), expected_errors, "{expected:#?}");
    assert_eq!(actual, expected);
}

fn workload_statements() -> Vec<String> {
    let head = [
        "CREATE TABLE t(id INTEGER PRIMARY KEY, k TEXT UNIQUE, v BLOB)".to_string(),
        format!(
            "INSERT INTO t(k, v) SELECT 'k' || value, randomblob(300) FROM {}",
            series(2000)
        ),
    ];
    head.into_iter()
        .chain(WORKLOAD.iter().map(|s| s.to_string()))
        .collect()
}

/// The workload after its first two statements; `INSERT ... 'k5'` violates
/// the UNIQUE constraint by design.
const WORKLOAD: &[&str] = &[
    "UPDATE t SET v = zeroblob(500) WHERE id % 3 = 0",
    "DELETE FROM t WHERE id % 7 = 0",
    "INSERT INTO t(k) VALUES ('k5')",
    "SELECT count(*), sum(length(v)), min(k), max(k) FROM t",
    "BEGIN",
    "INSERT INTO t(k) VALUES ('in-txn')",
    "ROLLBACK",
    "SELECT count(*) FROM t WHERE k = 'in-txn'",
    "CREATE INDEX t_v ON t(length(v))",
    "SELECT count(*) FROM t INDEXED BY t_v WHERE length(v) > 400",
];

fn workload(dir: &Path, vfs: Option<&str>, pragmas: &str) -> Vec<String> {
    let conn = open(&dir.join("main.db"), vfs);
    conn.execute_batch(pragmas).unwrap();
    let mut out = transcript(&conn, &workload_statements());
    assert_intact(&conn);
    out.push(
        conn.query_row("PRAGMA journal_mode", [], |r| r.get::<_, String>(0))
            .unwrap(),
    );
    out
}

#[test]
fn rollback_journal_mode() {
    same_with_and_without(1, |dir, vfs| {
        workload(dir, vfs, "PRAGMA journal_mode=DELETE")
    });
}

#[test]
fn wal_mode() {
    same_with_and_without(1, |dir, vfs| workload(dir, vfs, "PRAGMA journal_mode=WAL"));
}

#[test]
fn wal_mode_with_mmap() {
    same_with_and_without(1, |dir, vfs| {
        let mut out = workload(
            dir,
            vfs,
            "PRAGMA journal_mode=WAL; PRAGMA mmap_size=268435456",
        );
        let conn = open(&dir.join("main.db"), vfs);
        conn.execute_batch("PRAGMA mmap_size=268435456").unwrap();
        out.extend(transcript(
            &conn,
            &[
                "PRAGMA wal_checkpoint(TRUNCATE)",
                "SELECT sum(length(v)) FROM t",
            ],
        ));
        out
    });
}

#[test]
fn journal_mode_with_mmap_and_persist() {
    same_with_and_without(1, |dir, vfs| {
        workload(
            dir,
            vfs,
            "PRAGMA journal_mode=PERSIST; PRAGMA mmap_size=268435456",
        )
    });
}

#[test]
fn temp_tables_and_temp_files() {
    same_with_and_without(0, |dir, vfs| {
        let conn = open(&dir.join("temp.db"), vfs);
        conn.execute_batch("PRAGMA temp_store=FILE; PRAGMA cache_size=10")
            .unwrap();
        transcript(
            &conn,
            &[
                "CREATE TEMP TABLE scratch(a, b)".to_string(),
                format!(
                    "INSERT INTO scratch SELECT value, hex(randomblob(50)) FROM {}",
                    series(5000)
                ),
                "SELECT count(*), count(DISTINCT b) FROM scratch".to_string(),
                "SELECT a FROM scratch ORDER BY b LIMIT 1 OFFSET 4000".to_string(),
                "CREATE TABLE kept AS SELECT * FROM scratch WHERE a % 10 = 0".to_string(),
                "SELECT count(*) FROM kept".to_string(),
            ],
        )
        .into_iter()
        .map(|line| {
            if line.contains("ORDER BY b") {
                "sorted".to_string()
            } else {
                line
            }
        })
        .collect()
    });
}

#[test]
fn attach_and_cross_database_commit() {
    same_with_and_without(0, |dir, vfs| {
        let conn = open(&dir.join("a.db"), vfs);
        let b = dir.join("b.db");
        let mut out = transcript(
            &conn,
            &[
                &format!("ATTACH '{}' AS b", b.display()),
                "CREATE TABLE main.x(v)",
                "CREATE TABLE b.y(v)",
                "BEGIN",
                "INSERT INTO main.x VALUES (1), (2)",
                "INSERT INTO b.y SELECT v * 10 FROM main.x",
                "COMMIT",
                "SELECT (SELECT sum(v) FROM main.x), (SELECT sum(v) FROM b.y)",
                "DETACH b",
            ],
        );
        out.retain(|l| !l.starts_with("ATTACH"));
        assert_intact(&conn);
        out
    });
}

#[test]
fn vacuum_and_vacuum_into() {
    same_with_and_without(1, |dir, vfs| {
        let mut out = workload(dir, vfs, "PRAGMA journal_mode=DELETE");
        let conn = open(&dir.join("main.db"), vfs);
        let copy = dir.join("copy.db");
        out.extend(transcript(&conn, &["VACUUM", "SELECT count(*) FROM t"]));
        conn.execute(&format!("VACUUM INTO '{}'", copy.display()), [])
            .unwrap();
        let copy = open(&copy, vfs);
        assert_intact(&copy);
        out.extend(transcript(
            &copy,
            &["SELECT count(*), sum(length(v)) FROM t"],
        ));
        out
    });
}

#[test]
fn backup_api_both_ways() {
    same_with_and_without(0, |dir, vfs| {
        let source = open(&dir.join("src.db"), vfs);
        source
            .execute_batch(&format!(
                "CREATE TABLE t(v); INSERT INTO t SELECT randomblob(1000) FROM {};",
                series(300)
            ))
            .unwrap();
        // Into a plain connection and back into one through the same VFS.
        let mut plain = Connection::open(dir.join("plain-copy.db")).unwrap();
        Backup::new(&source, &mut plain).unwrap().step(-1).unwrap();
        let mut back = open(&dir.join("back.db"), vfs);
        Backup::new(&plain, &mut back).unwrap().step(5).unwrap();
        Backup::new(&plain, &mut back)
            .unwrap()
            .run_to_completion(50, std::time::Duration::ZERO, None)
            .unwrap();
        assert_intact(&back);
        transcript(&back, &["SELECT count(*), sum(length(v)) FROM t"])
    });
}

#[test]
fn exclusive_locking_mode_keeps_others_out() {
    same_with_and_without(2, |dir, vfs| {
        let path = dir.join("excl.db");
        let owner = open(&path, vfs);
        let mut out = transcript(
            &owner,
            &[
                "PRAGMA locking_mode=EXCLUSIVE",
                "CREATE TABLE t(v)",
                "INSERT INTO t VALUES (1)",
                "SELECT count(*) FROM t",
            ],
        );
        let other = open(&path, vfs);
        out.extend(transcript(
            &other,
            &["SELECT count(*) FROM t", "INSERT INTO t VALUES (2)"],
        ));
        drop(owner);
        out.extend(transcript(
            &other,
            &["INSERT INTO t VALUES (2)", "SELECT count(*) FROM t"],
        ));
        out
    });
}

#[test]
fn several_connections_see_busy_the_same_way() {
    for mode in ["DELETE", "WAL"] {
        same_with_and_without(2, |dir, vfs| {
            let path = dir.join("busy.db");
            let a = open(&path, vfs);
            a.execute_batch(&format!(
                "PRAGMA journal_mode={mode}; CREATE TABLE t(v); INSERT INTO t VALUES (0);"
            ))
            .unwrap();
            let b = open(&path, vfs);
            let mut out = transcript(&a, &["BEGIN IMMEDIATE", "INSERT INTO t VALUES (1)"]);
            out.extend(transcript(
                &b,
                &[
                    "SELECT count(*) FROM t",
                    "INSERT INTO t VALUES (2)",
                    "BEGIN IMMEDIATE",
                ],
            ));
            out.extend(transcript(&a, &["COMMIT"]));
            out.extend(transcript(
                &b,
                &["INSERT INTO t VALUES (2)", "SELECT count(*) FROM t"],
            ));
            assert_intact(&b);
            out
        });
    }
}

#[test]
fn open_errors_are_the_same() {
    same_with_and_without(0, |dir, vfs| {
        let missing = dir.join("no/such/dir/x.db");
        let flags =
            rusqlite::OpenFlags::SQLITE_OPEN_READ_WRITE | rusqlite::OpenFlags::SQLITE_OPEN_CREATE;
        let result = match vfs {
            Some(vfs) => Connection::open_with_flags_and_vfs(&missing, flags, vfs),
            None => Connection::open_with_flags(&missing, flags),
        };
        let readonly = dir.join("absent.db");
        let ro = match vfs {
            Some(vfs) => Connection::open_with_flags_and_vfs(
                &readonly,
                rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY,
                vfs,
            ),
            None => {
                Connection::open_with_flags(&readonly, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)
            }
        };
        let code = |r: rusqlite::Result<Connection>| match r {
            Ok(_) => "opened".to_string(),
            Err(rusqlite::Error::SqliteFailure(e, _)) => format!("error {}", e.extended_code),
            Err(e) => format!("{e}"),
        };
        vec![code(result), code(ro)]
    });
}

#[test]
fn vfsname_file_control_names_vfscope_first() {
    let dir = tempfile::tempdir().unwrap();
    let conn = open(&dir.path().join("name.db"), Some(vfscope()));
    conn.execute_batch("CREATE TABLE t(v)").unwrap();
    let mut name: *mut std::os::raw::c_char = std::ptr::null_mut();
    // SAFETY: a live connection handle, the "main" schema, and a char** for
    // SQLITE_FCNTL_VFSNAME, whose result is freed with sqlite3_free below.
    let text = unsafe {
        let rc = libsqlite3_sys::sqlite3_file_control(
            conn.handle(),
            c"main".as_ptr(),
            libsqlite3_sys::SQLITE_FCNTL_VFSNAME,
            (&mut name as *mut *mut std::os::raw::c_char).cast(),
        );
        assert_eq!(rc, 0);
        let text = std::ffi::CStr::from_ptr(name)
            .to_string_lossy()
            .into_owned();
        libsqlite3_sys::sqlite3_free(name.cast());
        text
    };
    assert_eq!(text, "vfscope/unix");
}

#[test]
fn unknown_pragmas_and_file_controls_pass_through() {
    same_with_and_without(0, |dir, vfs| {
        let conn = open(&dir.join("p.db"), vfs);
        let mut out = transcript(
            &conn,
            &[
                "PRAGMA no_such_pragma",
                "PRAGMA page_size=8192",
                "CREATE TABLE t(v)",
                "PRAGMA page_size",
            ],
        );
        let mut value: i64 = 0;
        // SAFETY: a live handle; opcode 9999 is unknown to every VFS and
        // takes no meaningful argument.
        let rc = unsafe {
            libsqlite3_sys::sqlite3_file_control(
                conn.handle(),
                c"main".as_ptr(),
                9999,
                (&mut value as *mut i64).cast(),
            )
        };
        out.push(format!("fcntl 9999 => {rc}"));
        out
    });
}
