//! vfscope over each parent VFS behaves as that parent does.

use vfscope_tests::{errors, open, series, snapshot, transcript, vfscope_over};

fn statements() -> Vec<String> {
    [
        "PRAGMA journal_mode=WAL".to_string(),
        "CREATE TABLE t(id INTEGER PRIMARY KEY, v)".to_string(),
        format!(
            "INSERT INTO t(v) SELECT randomblob(100) FROM {}",
            series(500)
        ),
        "BEGIN".to_string(),
        "DELETE FROM t WHERE id > 250".to_string(),
        "COMMIT".to_string(),
        "SELECT count(*), sum(length(v)) FROM t".to_string(),
        "PRAGMA integrity_check".to_string(),
    ]
    .to_vec()
}

#[test]
fn every_unix_variant_behaves_like_itself() {
    for parent in ["unix", "unix-excl", "unix-dotfile", "unix-none"] {
        let plain = tempfile::tempdir().unwrap();
        let traced = tempfile::tempdir().unwrap();
        let expected = transcript(
            &open(&plain.path().join("p.db"), Some(parent)),
            &statements(),
        );
        let actual = transcript(
            &open(&traced.path().join("p.db"), Some(vfscope_over(parent))),
            &statements(),
        );
        assert_eq!(errors(&expected), 0, "{expected:#?}");
        assert_eq!(actual, expected, "over {parent}");
    }
    let snap = snapshot();
    assert!(snap.registrations.contains(&(
        "vfscope-unix-dotfile".to_string(),
        "unix-dotfile".to_string()
    )));
}

#[test]
fn memdb_behaves_like_itself() {
    let run = |vfs: &str, name: &str| {
        let conn = rusqlite::Connection::open_with_flags_and_vfs(
            name,
            rusqlite::OpenFlags::SQLITE_OPEN_READ_WRITE | rusqlite::OpenFlags::SQLITE_OPEN_CREATE,
            vfs,
        )
        .unwrap();
        transcript(&conn, &statements())
    };
    let expected = run("memdb", "/plain-memdb");
    let actual = run(vfscope_over("memdb"), "/traced-memdb");
    assert_eq!(errors(&expected), 0, "{expected:#?}");
    assert_eq!(actual, expected);
    assert!(expected
        .iter()
        .any(|l| l.ends_with("integrity_check => ok")));
}
