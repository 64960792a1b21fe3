//! Programs that register, unregister, free and re-register their own
//! VFSes (as SQLite's test suite and apsw do) run under `vfscope run`
//! exactly as bare: what they see of their VFSes is unchanged, nothing
//! reaches a freed VFS, and every open is recorded once.

use crate::copies::same_output_as_bare;
use vfscope_tests::json_calls;
use vfscope_tests::programs::{
    dlopen_race_program, own_file_pointer_program, vfs_lifecycle_program,
};

/// The program prints what it sees (the default VFS and the VFS list after
/// each step, what its VFSes were asked, the `vfs=` its VFS reads back from
/// a URI) and, last, how many main databases it opened.
fn lifecycle_is_transparent(shared: bool) {
    let program = vfs_lifecycle_program(shared);
    let (stdout, report) = same_output_as_bare(&[program.to_str().unwrap(), "."]);
    for seen in [
        "default freed: default unix;",
        "second tvfs opens 3",
        "uri vfs seen by tvfs: tvfs",
        "stacked over unix",
    ] {
        assert!(stdout.contains(seen), "{seen:?} not in\n{stdout}");
    }
    let opened: u64 = stdout
        .lines()
        .last()
        .and_then(|l| l.strip_prefix("main databases opened "))
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("{stdout}"));
    assert!(opened > 1000, "{stdout}");
    // Each main database opened once, through one wrapper: recorded once.
    assert_eq!(json_calls(&report, "open", "main_db"), opened);
}

#[test]
fn a_program_freeing_and_reregistering_its_vfses_runs_as_bare_on_libsqlite3_so() {
    lifecycle_is_transparent(true);
}

#[test]
fn a_program_freeing_and_reregistering_its_vfses_runs_as_bare_on_libsqlite3_a() {
    lifecycle_is_transparent(false);
}

/// A VFS that recognises its files by their method table, as Litestream's
/// does from a connection hook: under vfscope, `sqlite3_file_control`
/// still hands it its own file (its table, its id), its own VFS and the
/// journal's file, so its connections open and read back their ids as
/// bare; and its files are still recorded through vfscope's wrapper.
fn own_file_pointers_are_seen(shared: bool) {
    let program = own_file_pointer_program(shared);
    let (stdout, report) = same_output_as_bare(&[program.to_str().unwrap(), "."]);
    for seen in [
        "db 0: file id 42",
        "db 2: file id 44",
        "db 2: journal the default VFS's",
        "db 2: 1 row",
        "plain: ok",
    ] {
        assert!(stdout.contains(seen), "{seen:?} not in\n{stdout}");
    }
    assert_eq!(json_calls(&report, "open", "main_db"), 4);
}

#[test]
fn an_extension_checking_its_own_file_pointers_sees_them_on_libsqlite3_so() {
    own_file_pointers_are_seen(true);
}

#[test]
fn an_extension_checking_its_own_file_pointers_sees_them_on_libsqlite3_a() {
    own_file_pointers_are_seen(false);
}

/// Sixteen threads dlopen Debian's libsqlite3 at once (the program does
/// not link it), then each opens a database with it: whichever thread
/// loads it, no dlopen returns before its hooks are in place, so every
/// open is recorded. Ten rounds, each in a fresh process.
#[test]
fn threads_dlopening_one_library_at_once_all_get_it_hooked() {
    let program = dlopen_race_program();
    for _ in 0..10 {
        let (stdout, report) =
            same_output_as_bare(&[program.to_str().unwrap(), "libsqlite3.so.0", "16"]);
        assert_eq!(stdout.trim(), "opened 16");
        assert_eq!(json_calls(&report, "open", "main_db"), 16);
    }
}

/// The files of SQLite's own TCL suite (3.40.1, Debian's source package,
/// built as `testfixture`) that crashed or failed with the library
/// preloaded before wrappers followed the VFSes they wrap, dbstatus (memory
/// per open file), and two that skipped their tests while vfscope made
/// itself the default: each gives the same result as bare. The whole
/// veryquick comparison is `tests/bench/sqlite_tcl_suite.sh` (BENCHMARKS.md).
#[test]
fn sqlite_tcl_suite_files_run_as_bare_with_the_library_preloaded() {
    let script = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("bench/sqlite_tcl_suite.sh");
    let lib = vfscope_tests::built("libvfscope.so");
    let files = [
        "e_uri",
        "multiplex",
        "pager2",
        "quota",
        "sort5",
        "uri",
        "wal3",
        "walro2",
        "e_walckpt",
        "incrblob3",
        "pager1",
        "tkt-313723c356",
        "wal2",
        "wal4",
        "walro",
        "withM",
        "dbstatus",
        // Skipped most of their tests while vfscope was the default VFS.
        "mmap2",
        "syscall",
    ];
    let out = std::process::Command::new("bash")
        .arg(&script)
        .arg("--lib")
        .arg(&lib)
        .args(files.iter().map(|f| format!("{f}.test")))
        .output()
        .expect("run tests/bench/sqlite_tcl_suite.sh");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    let summary = stdout
        .lines()
        .find(|l| l.starts_with("files: "))
        .unwrap_or_else(|| panic!("no summary:\n{stdout}\n{stderr}"));
    assert!(
        summary.starts_with(&format!(
            "files: {} run, {} the same, 0 differing",
            files.len(),
            files.len()
        )),
        "{stdout}\n{stderr}"
    );
    assert!(out.status.success(), "{stdout}\n{stderr}");
}

/// apsw's own test suite (SQLite compiled into the module, VFSes made,
/// freed and registered again from Python) under `vfscope run`: the same
/// result as bare, and what it opened recorded.
#[test]
fn apsw_own_test_suite_passes_under_vfscope_run() {
    let python = vfscope_tests::programs::python_with_bundled_sqlite();
    let args = [python.to_str().unwrap(), "-m", "apsw.tests"];
    let ran = |out: &std::process::Output| {
        let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
        let ran = stderr
            .lines()
            .find_map(|l| {
                l.strip_prefix("Ran ")?
                    .split(' ')
                    .next()?
                    .parse::<u32>()
                    .ok()
            })
            .unwrap_or_else(|| panic!("no result line:\n{stderr}"));
        (ran, out.status.code(), stderr)
    };
    let bare_dir = tempfile::tempdir().unwrap();
    let bare = std::process::Command::new(args[0])
        .current_dir(bare_dir.path())
        .args(&args[1..])
        .output()
        .unwrap();
    let (bare_ran, bare_code, bare_err) = ran(&bare);
    assert_eq!(bare_code, Some(0), "bare: {bare_err}");
    let traced_dir = tempfile::tempdir().unwrap();
    let (traced, report) = crate::copies::under_vfscope(traced_dir.path(), &args);
    let (traced_ran, traced_code, traced_err) = ran(&traced);
    assert_eq!(traced_code, Some(0), "{traced_err}");
    assert_eq!(traced_ran, bare_ran);
    assert!(json_calls(&report, "open", "main_db") > 1000);
}

/// `sqlite3_open16` of Debian's libsqlite3 (hooked as an exported function:
/// vfscope converts the name and opens as `sqlite3_open` does, then gives
/// the connection the encoding `sqlite3_open16` gives it): the database is
/// UTF-16 as without vfscope, a non-ASCII name is kept, the open recorded.
#[test]
fn sqlite3_open16_keeps_its_encoding_and_its_name() {
    let script = r#"
import ctypes, os, sys
lib = ctypes.CDLL("libsqlite3.so.0")
db = ctypes.c_void_p()
name = ("été.db" + "\0").encode("utf-16-le")
assert lib.sqlite3_open16(ctypes.create_string_buffer(name, len(name)), ctypes.byref(db)) == 0
assert lib.sqlite3_exec(db, b"CREATE TABLE t(x); INSERT INTO t VALUES (1);", None, None, None) == 0
stmt = ctypes.c_void_p()
lib.sqlite3_prepare_v2(db, b"PRAGMA encoding", -1, ctypes.byref(stmt), None)
lib.sqlite3_step(stmt)
lib.sqlite3_column_text.restype = ctypes.c_char_p
print(lib.sqlite3_column_text(stmt, 0).decode(), os.path.exists("été.db"))
lib.sqlite3_finalize(stmt)
lib.sqlite3_close(db)
"#;
    let (stdout, report) = same_output_as_bare(&["python3", "-c", script]);
    assert_eq!(stdout.trim(), "UTF-16le True");
    assert_eq!(json_calls(&report, "open", "main_db"), 1);
}
