//! libvfscope.so and `vfscope run` around programs vfscope did not build:
//! Debian's sqlite3 CLI (SQLite 3.40, linked dynamically).

use std::process::Command;
use vfscope_segment::{list_segments, FileKind, Op, SegmentReader};
use vfscope_tests::{built, json_calls, json_shape, sqlite3, vfscope_run};

fn tool_output(tool: &str, args: &[&str]) -> String {
    let out = Command::new(tool)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("{tool}: {e}"));
    assert!(out.status.success(), "{tool} {args:?} failed");
    String::from_utf8(out.stdout).unwrap()
}

#[test]
fn library_contains_and_links_no_sqlite() {
    let lib = built("libvfscope.so");
    let lib = lib.to_str().unwrap();
    let dynamic = tool_output("readelf", &["-d", lib]);
    assert!(
        dynamic.contains("(NEEDED)"),
        "readelf shows the dependencies"
    );
    assert!(
        !dynamic.contains("libsqlite3"),
        "links a SQLite:\n{dynamic}"
    );
    // Exported, and local symbols too (a SQLite bundled into the cdylib
    // would show up in .symtab only).
    for args in [
        &["-D", "--defined-only", lib][..],
        &["--defined-only", lib][..],
    ] {
        let defined: Vec<String> = tool_output("nm", args)
            .lines()
            .filter_map(|l| l.split_whitespace().nth(2))
            .filter(|s| s.starts_with("sqlite3") || *s == "openDatabase")
            .map(String::from)
            .collect();
        assert_eq!(
            defined,
            ["sqlite3_vfscope_init"],
            "nm {args:?}: only the extension entry point"
        );
    }
    let exported = tool_output("nm", &["-D", "--defined-only", lib]);
    assert!(
        exported.lines().any(|l| l.ends_with(" T dlopen")),
        "dlopen is interposed"
    );
    // SQLite's own strings: the library's error table and its source id.
    let bytes = std::fs::read(lib).unwrap();
    for marker in [
        &b"database disk image is malformed"[..],
        b"sqlite_temp_master",
    ] {
        assert!(
            !bytes.windows(marker.len()).any(|w| w == marker),
            "{} holds SQLite's string {:?}",
            lib,
            String::from_utf8_lossy(marker)
        );
    }
}

#[test]
fn sqlite3_cli_wal_commits_are_synced_and_counted() {
    const INSERTS: usize = 25;
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("cli.db");
    let mut sql =
        String::from("PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL; CREATE TABLE t(v);");
    for i in 0..INSERTS {
        sql.push_str(&format!("INSERT INTO t VALUES ({i});"));
    }
    sql.push_str("SELECT count(*) FROM t;");
    let (code, stderr, report) = vfscope_run(&[sqlite3(), db.to_str().unwrap(), &sql], &[]);
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(report["schema"], "vfscope-report/1");
    let process = &report["processes"][0];
    assert!(
        process["sqlite_version"]
            .as_str()
            .unwrap()
            .starts_with("3."),
        "{process}"
    );
    assert_eq!(process["vfs"][0]["name"], "vfscope");
    let commits = INSERTS as u64 + 1; // the inserts and CREATE TABLE
    assert_eq!(json_shape(&report, "wal", "wal_commits"), commits);
    assert!(json_calls(&report, "sync", "wal") >= commits, "{report}");
    let transitions = report["locks"]["transitions"].as_array().unwrap();
    assert!(transitions
        .iter()
        .any(|t| t["from"] == "none" && t["to"] == "shared"));
    assert!(
        stderr.contains("vfscope: command exited with status 0"),
        "{stderr}"
    );
    assert!(stderr.contains("sync                     wal"), "{stderr}");
}

#[test]
fn cold_table_scan_reads_the_main_database() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("scan.db");
    let setup = rusqlite::Connection::open(&db).unwrap();
    setup
        .execute_batch(&format!(
            "CREATE TABLE t(v); INSERT INTO t SELECT randomblob(500) FROM {};",
            vfscope_tests::series(2000)
        ))
        .unwrap();
    drop(setup);
    let size = std::fs::metadata(&db).unwrap().len();
    let (code, stderr, report) = vfscope_run(
        &[
            sqlite3(),
            db.to_str().unwrap(),
            "SELECT count(*), sum(length(v)) FROM t;",
        ],
        &[],
    );
    assert_eq!(code, 0, "{stderr}");
    let read: u64 = report["operations"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|o| o["op"] == "read" && o["file_kind"] == "main_db")
        .map(|o| o["bytes"].as_u64().unwrap())
        .sum();
    assert!(
        read >= size * 9 / 10,
        "read {read} of a {size}-byte database"
    );
    assert_eq!(report["databases"][0]["name"], "scan.db");
}

#[test]
fn exit_status_is_the_commands_and_no_sqlite_is_explained() {
    let (code, stderr, report) = vfscope_run(&["sh", "-c", "exit 3"], &[]);
    assert_eq!(code, 3);
    assert!(stderr.contains("no SQLite connection was seen"), "{stderr}");
    assert!(stderr.contains("found no SQLite"), "{stderr}");
    assert!(report["notes"][0]
        .as_str()
        .unwrap()
        .contains("no SQLite connection"));
}

#[test]
fn bad_settings_give_one_line_and_sqlite_works_unchanged() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("bad.db");
    let out = Command::new(sqlite3())
        .args([
            db.to_str().unwrap(),
            "CREATE TABLE t(v); INSERT INTO t VALUES (7); SELECT v FROM t;",
        ])
        .env("LD_PRELOAD", built("libvfscope.so"))
        .env("VFSCOPE_DIR", dir.path().join("segments"))
        .env("VFSCOPE_SLOW", "soon")
        .output()
        .unwrap();
    assert!(out.status.success());
    assert_eq!(String::from_utf8_lossy(&out.stdout), "7\n");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(
        stderr.starts_with(r#"vfscope: VFSCOPE_SLOW="soon" is not valid"#)
            && stderr.contains("plain passthrough"),
        "{stderr}"
    );
    assert!(list_segments(&dir.path().join("segments"))
        .unwrap()
        .is_empty());
}

#[test]
fn loadable_extension_traces_connections_opened_after_it() {
    let dir = tempfile::tempdir().unwrap();
    let segments = dir.path().join("segments");
    let lib = built("libvfscope.so");
    let later = dir.path().join("later.db");
    let out = Command::new(sqlite3())
        .arg(dir.path().join("first.db"))
        .arg(format!(".load {}", lib.display()))
        .arg(format!(".open {}", later.display()))
        .arg("CREATE TABLE t(v); INSERT INTO t VALUES (1), (2); SELECT count(*) FROM t;")
        .env("VFSCOPE_DIR", &segments)
        .env_remove("LD_PRELOAD")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert_eq!(String::from_utf8_lossy(&out.stdout), "2\n", "{stderr}");
    let files = list_segments(&segments).unwrap();
    assert_eq!(files.len(), 1);
    let snapshot = SegmentReader::open(&files[0]).unwrap().snapshot();
    assert_eq!(
        snapshot.registrations,
        vec![("vfscope".to_string(), "unix".to_string())]
    );
    let later_db = snapshot
        .dbs
        .iter()
        .find(|d| d.name() == "later.db")
        .expect("later.db traced");
    let opens: u64 = snapshot
        .cells
        .iter()
        .filter(|c| c.op == Op::Open && c.kind == FileKind::MainDb && c.db == later_db.index)
        .map(|c| c.calls())
        .sum();
    assert_eq!(opens, 1);
    assert!(snapshot.calls(Op::Write, FileKind::MainDb) > 0);
}

#[test]
fn a_vfs_named_in_a_uri_is_wrapped_too() {
    let dir = tempfile::tempdir().unwrap();
    let uri = format!("file:{}?vfs=unix-excl", dir.path().join("uri.db").display());
    let (code, stderr, report) = vfscope_run(
        &[
            sqlite3(),
            &uri,
            "CREATE TABLE t(v); INSERT INTO t VALUES (1);",
        ],
        &[],
    );
    assert_eq!(code, 0, "{stderr}");
    let vfs = report["processes"][0]["vfs"].as_array().unwrap();
    assert!(
        vfs.iter()
            .any(|v| v["name"] == "vfscope-unix-excl" && v["parent"] == "unix-excl"),
        "{vfs:?}"
    );
    assert_eq!(report["databases"][0]["name"], "uri.db");
    assert_eq!(json_calls(&report, "open", "main_db"), 1);
    assert!(dir.path().join("uri.db").exists());
}

/// The current SQLite release (rusqlite's bundled one) loads the extension
/// too. In a process of its own: library mode must not have registered a
/// `vfscope` VFS there first.
#[test]
fn loadable_extension_works_on_the_current_sqlite() {
    vfscope_tests::own_process!(loadable_extension_works_on_the_current_sqlite);
    let dir = tempfile::tempdir().unwrap();
    let segments = dir.path().join("segments");
    std::env::set_var("VFSCOPE_DIR", &segments);
    let loader = rusqlite::Connection::open_in_memory().unwrap();
    // SAFETY: loading vfscope's own extension, built by this workspace.
    unsafe {
        let _guard = rusqlite::LoadExtensionGuard::new(&loader).unwrap();
        loader
            .load_extension(built("libvfscope.so"), None::<&str>)
            .unwrap();
    }
    let conn = rusqlite::Connection::open(dir.path().join("current.db")).unwrap();
    conn.execute_batch("PRAGMA journal_mode=WAL; CREATE TABLE t(v); INSERT INTO t VALUES (1);")
        .unwrap();
    let files = list_segments(&segments).unwrap();
    assert_eq!(files.len(), 1);
    let snapshot = SegmentReader::open(&files[0]).unwrap().snapshot();
    assert_eq!(snapshot.meta.sqlite_version, rusqlite::version());
    assert_eq!(
        snapshot.registrations,
        vec![("vfscope".to_string(), "unix".to_string())]
    );
    assert_eq!(
        snapshot.shape(FileKind::Wal).wal_commits,
        2,
        "CREATE TABLE, INSERT"
    );
}

/// The preloaded library scans, finds no SQLite, and changes nothing.
#[test]
fn a_program_that_never_uses_sqlite_is_unchanged() {
    let dir = tempfile::tempdir().unwrap();
    let segments = dir.path().join("segments");
    let out = Command::new("sh")
        .args(["-c", "echo out; echo err >&2; exit 7"])
        .env("LD_PRELOAD", built("libvfscope.so"))
        .env("VFSCOPE_DIR", &segments)
        .output()
        .unwrap();
    assert_eq!(
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned()
        ),
        (Some(7), "out\n".into(), "err\n".into())
    );
    assert!(
        !segments.exists(),
        "nothing is created for a program that does not open a database"
    );
}

/// A host's captured stderr is its own output: test suites compare it
/// (apsw's runs SQLite's tools and fails when one printed anything). With
/// a trace and a model on, a process says nothing there; `vfscope run`
/// says it once itself.
#[test]
fn the_hosts_stderr_stays_its_own() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("quiet.db");
    let trace = dir.path().join("run.trace");
    let inner = dir.path().join("inner.err");
    let sql = "PRAGMA journal_mode=WAL; CREATE TABLE IF NOT EXISTS t(v); INSERT INTO t VALUES (1);";
    // Two processes under one run: the shell and sqlite3, whose stderr is
    // a file as under a test harness.
    let script = format!(
        "{} {} '{sql}' 2>{} >/dev/null",
        sqlite3(),
        db.display(),
        inner.display()
    );
    let run = Command::new(built("vfscope"))
        .args(["run", "--quiet", "--record"])
        .arg(&trace)
        .args(["--latency", "local-nvme", "--", "sh", "-c", &script])
        .env("VFSCOPE_DIR", dir.path().join("segments"))
        .output()
        .unwrap();
    assert!(run.status.success());
    assert_eq!(std::fs::read_to_string(&inner).unwrap(), "");
    let traces = std::fs::read_dir(dir.path())
        .unwrap()
        .filter(|e| {
            let name = e.as_ref().unwrap().file_name();
            name.to_string_lossy().starts_with("run.trace")
        })
        .count();
    assert!(traces >= 1, "the run was recorded");
    assert_eq!(String::from_utf8_lossy(&run.stderr), "", "--quiet");

    let run = Command::new(built("vfscope"))
        .args(["run", "--record"])
        .arg(&trace)
        .args(["--latency", "local-nvme", "--", "sh", "-c", &script])
        .env("VFSCOPE_DIR", dir.path().join("segments"))
        .output()
        .unwrap();
    let said = String::from_utf8_lossy(&run.stderr);
    assert_eq!(std::fs::read_to_string(&inner).unwrap(), "");
    assert_eq!(
        said.matches("recording every call into").count(),
        1,
        "{said}"
    );
    assert_eq!(said.matches("vfscope: latency model").count(), 1, "{said}");

    // Preloaded by hand, stderr a pipe: silent, and still recording.
    let by_hand = dir.path().join("hand.trace");
    let out = Command::new(sqlite3())
        .arg(&db)
        .arg("INSERT INTO t VALUES (2);")
        .env("LD_PRELOAD", built("libvfscope.so"))
        .env("VFSCOPE_DIR", dir.path().join("segments"))
        .env("VFSCOPE_TRACE", &by_hand)
        .env("VFSCOPE_LATENCY", "local-nvme")
        .output()
        .unwrap();
    assert!(out.status.success());
    assert_eq!(String::from_utf8_lossy(&out.stderr), "");
    assert!(std::fs::metadata(&by_hand).unwrap().len() > 0);
    // What does not go as asked is still said.
    let out = Command::new(sqlite3())
        .arg(&db)
        .arg("SELECT count(*) FROM t;")
        .env("LD_PRELOAD", built("libvfscope.so"))
        .env("VFSCOPE_DIR", dir.path().join("segments"))
        .env("VFSCOPE_LATENCY", "no-such-preset")
        .output()
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "3");
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("VFSCOPE_LATENCY"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}
