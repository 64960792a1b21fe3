//! Two processes writing one WAL database, each with its own segment.

use std::process::Command;
use vfscope_segment::{list_segments, FileKind, Liveness, Op, SegmentReader};
use vfscope_tests::assert_intact;

#[test]
fn two_processes_write_one_wal_database() {
    const ROWS: u32 = 200;
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("shared.db");
    let segments = dir.path().join("segments");
    let setup = rusqlite::Connection::open(&db).unwrap();
    setup
        .execute_batch("PRAGMA journal_mode=WAL; CREATE TABLE t(worker TEXT, n INTEGER);")
        .unwrap();
    let workers: Vec<_> = ["a", "b"]
        .iter()
        .map(|id| {
            Command::new(env!("CARGO_BIN_EXE_vfscope-test-worker"))
                .args([db.to_str().unwrap(), &ROWS.to_string(), id])
                .env("VFSCOPE_DIR", &segments)
                .spawn()
                .unwrap()
        })
        .collect();
    let pids: Vec<u32> = workers.iter().map(|w| w.id()).collect();
    for mut worker in workers {
        assert!(worker.wait().unwrap().success());
    }

    let (rows, distinct): (u32, u32) = setup
        .query_row(
            "SELECT count(*), count(DISTINCT worker || n) FROM t",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .unwrap();
    assert_eq!(
        (rows, distinct),
        (2 * ROWS, 2 * ROWS),
        "no row lost or duplicated"
    );
    assert_intact(&setup);

    let files = list_segments(&segments).unwrap();
    assert_eq!(files.len(), 2, "one segment per process");
    for path in files {
        let reader = SegmentReader::open(&path).unwrap();
        assert!(pids.contains(&reader.pid()));
        assert_eq!(reader.liveness(), Liveness::Exited);
        let snap = reader.snapshot();
        assert_eq!(
            snap.shape(FileKind::Wal).wal_commits,
            ROWS as u64,
            "{}",
            path.display()
        );
        assert!(snap.calls(Op::ShmLock, FileKind::Shm) > 0);
    }
}

/// Runs the worker with extra environment and returns (success, stderr).
fn worker_with_env(db: &std::path::Path, env: &[(&str, &std::ffi::OsStr)]) -> (bool, String) {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_vfscope-test-worker"));
    cmd.args([db.to_str().unwrap(), "1", "x"]);
    for (k, v) in env {
        cmd.env(k, v);
    }
    let out = cmd.output().unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn bad_settings_are_refused_by_name() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("bad.db");
    let segments = dir.path().join("segments");
    let (ok, err) = worker_with_env(
        &db,
        &[
            ("VFSCOPE_DIR", segments.as_os_str()),
            ("VFSCOPE_SLOW", "fast".as_ref()),
        ],
    );
    assert!(!ok);
    assert!(err.contains(r#"VFSCOPE_SLOW="fast" is not valid"#), "{err}");
    let (ok, err) = worker_with_env(
        &db,
        &[
            ("VFSCOPE_DIR", segments.as_os_str()),
            ("VFSCOPE_BLOCK_SIZE", "3000".as_ref()),
        ],
    );
    assert!(!ok);
    assert!(
        err.contains(r#"VFSCOPE_BLOCK_SIZE="3000" is not valid"#),
        "{err}"
    );
}

#[test]
fn unusable_segment_directory_is_named() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("dir.db");
    let file = dir.path().join("not-a-dir");
    std::fs::write(&file, b"").unwrap();
    let (ok, err) = worker_with_env(&db, &[("VFSCOPE_DIR", file.as_os_str())]);
    assert!(!ok);
    assert!(
        err.contains("not-a-dir") && err.contains("not a directory"),
        "{err}"
    );
}
