//! Programs that carry their own SQLite, run under `vfscope run` and
//! compared with a bare run: Python with the stdlib `sqlite3` (Debian's
//! libsqlite3) and `pysqlite3-binary` in one process, `apsw` (SQLite
//! compiled into the module, local symbols), a C program linked with
//! Debian's `libsqlite3.a` (PIE, non-PIE, stripped), a Rust program with
//! rusqlite's bundled SQLite. Each copy must be traced on its own, and
//! calls must never cross from one copy to another.

use serde_json::Value;
use std::path::Path;
use std::process::{Command, Output};
use vfscope_tests::programs::{python_with_bundled_sqlite, static_sqlite_program, Linked};
use vfscope_tests::{built, json_calls, json_shape};

/// `vfscope run --json` around `cmd` (run in `cwd`): its output and report.
pub(crate) fn under_vfscope(cwd: &Path, cmd: &[&str]) -> (Output, Value) {
    let json = cwd.join("report.json");
    let out = Command::new(built("vfscope"))
        .current_dir(cwd)
        .args(["run", "--json", json.to_str().unwrap(), "--"])
        .args(cmd)
        .env_remove("VFSCOPE_DIR")
        .output()
        .expect("run vfscope");
    let report = std::fs::read_to_string(&json)
        .unwrap_or_else(|e| panic!("no report ({e}): {}", String::from_utf8_lossy(&out.stderr)));
    (out, serde_json::from_str(&report).expect("JSON report"))
}

fn bare(cwd: &Path, cmd: &[&str]) -> Output {
    Command::new(cmd[0])
        .current_dir(cwd)
        .args(&cmd[1..])
        .output()
        .expect("run the program bare")
}

/// Runs `cmd` bare in one fresh directory and under vfscope in another:
/// both must succeed with the same output. Returns the report.
pub(crate) fn same_as_bare(cmd: &[&str]) -> Value {
    same_output_as_bare(cmd).1
}

/// As [`same_as_bare`], with the (common) standard output.
pub(crate) fn same_output_as_bare(cmd: &[&str]) -> (String, Value) {
    let (plain_dir, traced_dir) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let plain = bare(plain_dir.path(), cmd);
    let (traced, report) = under_vfscope(traced_dir.path(), cmd);
    let stderr = String::from_utf8_lossy(&traced.stderr);
    assert!(plain.status.success(), "bare run failed: {plain:?}");
    assert_eq!(traced.status.code(), Some(0), "{stderr}");
    let stdout = String::from_utf8_lossy(&plain.stdout).into_owned();
    assert_eq!(String::from_utf8_lossy(&traced.stdout), stdout, "{stderr}");
    (stdout, report)
}

fn copies(report: &Value) -> Vec<Value> {
    report["processes"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|p| p["copies"].as_array().unwrap().clone())
        .collect()
}

fn traced(report: &Value) -> Vec<Value> {
    copies(report)
        .into_iter()
        .filter(|c| c["status"] == "traced")
        .collect()
}

fn database<'a>(report: &'a Value, name: &str) -> &'a Value {
    report["databases"]
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["name"] == name)
        .unwrap_or_else(|| panic!("no database {name} in {}", report["databases"]))
}

const STDLIB_AND_PYSQLITE3: &str = r#"
import sys
first = sys.argv[1]
if first == "stdlib":
    import sqlite3 as a
    import pysqlite3.dbapi2 as b
else:
    import pysqlite3.dbapi2 as b
    import sqlite3 as a
for module, name in ((a, "stdlib.db"), (b, "bundled.db")):
    c = module.connect(name)
    c.execute("create table t(x)")
    for i in range(20):
        with c:
            c.execute("insert into t values (?)", (i,))
    print(name, module.sqlite_version, c.execute("select count(*), sum(x) from t").fetchone())
    c.close()
"#;

#[test]
fn stdlib_sqlite3_and_pysqlite3_in_one_process_each_trace_their_own_calls() {
    let python = python_with_bundled_sqlite();
    let python = python.to_str().unwrap();
    for first in ["stdlib", "bundled"] {
        let report = same_as_bare(&[python, "-c", STDLIB_AND_PYSQLITE3, first]);
        let copies = traced(&report);
        assert_eq!(copies.len(), 2, "{first} first: {copies:?}");
        let version = |object: &str| {
            copies
                .iter()
                .find(|c| c["object"].as_str().unwrap().contains(object))
                .unwrap_or_else(|| panic!("no copy in {object}: {copies:?}"))["version"]
                .as_str()
                .unwrap()
                .to_string()
        };
        let system = version("libsqlite3.so");
        let bundled = version("pysqlite3");
        assert_ne!(system, bundled);
        assert_eq!(
            database(&report, "stdlib.db")["sqlite"],
            serde_json::json!([system])
        );
        assert_eq!(
            database(&report, "bundled.db")["sqlite"],
            serde_json::json!([bundled])
        );
        for name in ["stdlib.db", "bundled.db"] {
            assert!(database(&report, name)["calls"].as_u64().unwrap() > 40);
        }
        // Each copy's calls are those of the one database it opened.
        for (object, name) in [("libsqlite3.so", "stdlib.db"), ("pysqlite3", "bundled.db")] {
            let copy = copies
                .iter()
                .find(|c| c["object"].as_str().unwrap().contains(object))
                .unwrap();
            assert_eq!(copy["calls"], database(&report, name)["calls"]);
            assert!(copy["opens"].as_u64().unwrap() >= 2, "{copy}");
        }
    }
}

#[test]
fn apsw_with_sqlite_compiled_into_the_module_is_traced() {
    let python = python_with_bundled_sqlite();
    let script = r#"
import apsw
c = apsw.Connection("apsw.db")
print(c.execute("pragma journal_mode=wal").fetchall())
c.execute("create table t(x)")
for i in range(30):
    with c:
        c.execute("insert into t values (?)", (i,))
print(c.execute("select count(*) from t").fetchall(), apsw.sqlite_lib_version() > "3")
"#;
    let report = same_as_bare(&[python.to_str().unwrap(), "-c", script]);
    let copies = traced(&report);
    assert_eq!(copies.len(), 1, "{copies:?}");
    assert_eq!(copies[0]["access"], "hooked (symbol table)");
    assert!(copies[0]["object"].as_str().unwrap().contains("apsw"));
    // 30 inserts and the CREATE TABLE, each one WAL commit.
    assert_eq!(json_shape(&report, "wal", "wal_commits"), 31);
    assert!(json_calls(&report, "sync", "wal") >= 31);
    let transitions = report["locks"]["transitions"].as_array().unwrap();
    assert!(transitions
        .iter()
        .any(|t| t["from"] == "none" && t["to"] == "shared"));
    assert!(database(&report, "apsw.db")["calls"].as_u64().unwrap() > 100);
}

#[test]
fn c_programs_linked_with_libsqlite3_a_are_traced_pie_or_not() {
    for linked in [Linked::Pie, Linked::NoPie] {
        let program = static_sqlite_program(linked);
        let report = same_as_bare(&[program.to_str().unwrap(), "c.db", "12"]);
        let copies = traced(&report);
        assert_eq!(copies.len(), 1, "{linked:?}: {copies:?}");
        assert_eq!(copies[0]["access"], "hooked (symbol table)");
        assert!(copies[0]["version"].as_str().unwrap().starts_with("3."));
        assert_eq!(json_shape(&report, "wal", "wal_commits"), 13, "{linked:?}");
        assert!(report["notes"].as_array().unwrap().is_empty(), "{report}");
    }
}

#[test]
fn a_stripped_program_runs_unchanged_and_the_report_says_why_it_is_not_traced() {
    let program = static_sqlite_program(Linked::Stripped);
    let report = same_as_bare(&[program.to_str().unwrap(), "c.db", "5"]);
    assert!(traced(&report).is_empty());
    let all = copies(&report);
    assert_eq!(all.len(), 1, "{all:?}");
    assert_eq!(all[0]["status"], "unreachable");
    let notes: Vec<&str> = report["notes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n.as_str().unwrap())
        .collect();
    let note = notes
        .iter()
        .find(|n| n.contains("stripped"))
        .unwrap_or_else(|| panic!("no note on the stripped copy: {notes:?}"));
    assert!(note.contains(program.to_str().unwrap()), "{note}");
    assert!(note.contains("extension"), "{note}");
}

#[test]
fn sqlite3_shutdown_then_initialize_keeps_every_open_traced() {
    let program = static_sqlite_program(Linked::Pie);
    let report = same_as_bare(&[program.to_str().unwrap(), "s.db", "4", "shutdown"]);
    for name in ["s.db", "s.db-again"] {
        let calls = database(&report, name)["calls"].as_u64().unwrap();
        assert!(calls > 20, "{name}: {calls} calls");
    }
}

#[test]
fn a_rust_program_with_rusqlite_bundled_is_traced() {
    let program = built("vfscope-test-rusqlite-app");
    let report = same_as_bare(&[program.to_str().unwrap(), "r.db", "9"]);
    let copies = traced(&report);
    assert_eq!(copies.len(), 1, "{copies:?}");
    assert!(copies[0]["object"]
        .as_str()
        .unwrap()
        .ends_with("vfscope-test-rusqlite-app"));
    assert_eq!(json_shape(&report, "wal", "wal_commits"), 10);
}

/// Threads opening through the stdlib copy (hooked at start) while the
/// main thread loads and hooks two more copies: no open of any copy is
/// lost. (Nothing is patched under these threads: hooking code other
/// threads are running is `hook::tests::hooks_land_whole_under_threads_
/// running_the_function`, and threads loading one library at once is
/// `lifecycle::threads_dlopening_one_library_at_once_all_get_it_hooked`.)
#[test]
fn threads_opening_while_other_copies_are_hooked_lose_no_open() {
    let python = python_with_bundled_sqlite();
    let script = r#"
import sqlite3, threading
opened = [0] * 4
stop = threading.Event()
def opener(n):
    while not stop.is_set() or opened[n] < 20:
        c = sqlite3.connect(f"t{n}-{opened[n]}.db")
        c.execute("create table t(x)")
        c.close()
        opened[n] += 1
threads = [threading.Thread(target=opener, args=(n,)) for n in range(4)]
for t in threads:
    t.start()
import pysqlite3.dbapi2 as p
import apsw
p.connect("p.db").execute("create table t(x)")
apsw.Connection("a.db").execute("create table t(x)")
stop.set()
for t in threads:
    t.join()
print("main_db opens", sum(opened) + 2)
"#;
    let dir = tempfile::tempdir().unwrap();
    let (out, report) = under_vfscope(dir.path(), &[python.to_str().unwrap(), "-c", script]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let opened: u64 = stdout
        .trim()
        .rsplit(' ')
        .next()
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("{stdout}"));
    assert_eq!(json_calls(&report, "open", "main_db"), opened, "{stdout}");
    assert_eq!(traced(&report).len(), 3);
}

/// vfscope's `dlopen` stands between the app and the real one, which then
/// sees vfscope as its caller: a plugin found only through the caller's own
/// RUNPATH must still load, and a missing one still leaves its error.
#[test]
fn dlopen_by_bare_name_still_searches_the_callers_runpath() {
    let host = vfscope_tests::programs::runpath_host();
    same_as_bare(&[host.to_str().unwrap()]);
}

/// A Rust app that registers vfscope itself (library mode) and is also run
/// under `vfscope run`: its copy already has vfscope as the default, so the
/// preloaded library adds no second layer and no second segment.
#[test]
fn a_rust_app_in_library_mode_is_not_wrapped_a_second_time() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("w.db");
    rusqlite::Connection::open(&db)
        .unwrap()
        .execute_batch("PRAGMA journal_mode=WAL; CREATE TABLE t(worker, n);")
        .unwrap();
    let worker = built("vfscope-test-worker");
    let (out, report) = under_vfscope(
        dir.path(),
        &[worker.to_str().unwrap(), db.to_str().unwrap(), "7", "1"],
    );
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let processes = report["processes"].as_array().unwrap();
    assert_eq!(processes.len(), 1, "{processes:?}");
    let copies = traced(&report);
    assert_eq!(copies.len(), 1, "{copies:?}");
    assert_eq!(copies[0]["access"], "library mode");
    assert_eq!(json_shape(&report, "wal", "wal_commits"), 7);
    assert_eq!(json_calls(&report, "open", "main_db"), 1);
}

#[test]
fn node_better_sqlite3_is_traced() {
    let dir = vfscope_tests::programs::node_with_better_sqlite3();
    let script = format!(
        r#"
const Database = require({:?});
const db = new Database(process.argv[1]);
db.pragma("journal_mode = WAL");
db.exec("create table t(x)");
const insert = db.prepare("insert into t values (?)");
for (let i = 0; i < 15; i++) insert.run(i);
console.log(db.prepare("select count(*) as n from t").get().n);
"#,
        dir.join("node_modules/better-sqlite3").to_str().unwrap()
    );
    let report = same_as_bare(&["node", "-e", &script, "b.db"]);
    let copies = traced(&report);
    assert_eq!(copies.len(), 1, "{copies:?}");
    assert!(copies[0]["object"]
        .as_str()
        .unwrap()
        .ends_with("better_sqlite3.node"));
    // CREATE TABLE and 15 inserts, one WAL commit each.
    assert_eq!(json_shape(&report, "wal", "wal_commits"), 16);
}

/// A SQLite library unloaded (`dlclose`) and loaded again, even at the same
/// address, is hooked again: both databases are traced.
#[test]
fn a_sqlite_library_loaded_again_after_dlclose_is_hooked_again() {
    // More load/unload cycles than there are copy slots: an unloaded
    // copy's slot is released at dlclose.
    let script = r#"
import ctypes, _ctypes
def use(path):
    lib = ctypes.CDLL("libsqlite3.so.0")
    db = ctypes.c_void_p()
    assert lib.sqlite3_open(path, ctypes.byref(db)) == 0
    assert lib.sqlite3_exec(db, b"create table t(x); insert into t values (1)", None, None, None) == 0
    lib.sqlite3_close(db)
    _ctypes.dlclose(lib._handle)
for n in range(20):
    use(b"load-%d.db" % n)
print("ok")
"#;
    let report = same_as_bare(&["python3", "-c", script]);
    assert_eq!(json_calls(&report, "open", "main_db"), 20);
    assert!(!traced(&report).is_empty());
}

/// A program's own global function named `openDatabase` beside the static
/// one of the SQLite it links: SQLite's is hooked, the program's is left
/// alone, and the copy is traced (it was reported as two copies in one
/// object before).
#[test]
fn a_programs_own_open_database_function_is_not_taken_for_sqlites() {
    let program = vfscope_tests::programs::own_open_database_program();
    let (stdout, report) = same_output_as_bare(&[program.to_str().unwrap(), "o.db"]);
    assert_eq!(stdout.trim(), "own openDatabase 588");
    assert_eq!(traced(&report).len(), 1, "{}", report["processes"]);
    assert_eq!(json_calls(&report, "open", "main_db"), 1);
}

/// apsw's own SQLite shell links `libsqlite3_tool.so`, whose
/// `openDatabase` begins across a 16-byte boundary (no single store can
/// hook it): its public open functions are hooked instead.
#[test]
fn a_copy_whose_open_database_cannot_be_hooked_is_reached_by_its_public_opens() {
    let python = python_with_bundled_sqlite();
    let site = std::process::Command::new(&python)
        .args([
            "-c",
            "import apsw, os; print(os.path.dirname(apsw.__file__))",
        ])
        .output()
        .unwrap();
    let shell = std::path::Path::new(String::from_utf8_lossy(&site.stdout).trim())
        .join("sqlite_extra_binaries/sqlite3_shell");
    assert!(shell.exists(), "{}", shell.display());
    let (stdout, report) = same_output_as_bare(&[
        shell.to_str().unwrap(),
        "s.db",
        "CREATE TABLE t(x); INSERT INTO t VALUES (1); SELECT count(*) FROM t;",
    ]);
    assert_eq!(stdout.trim(), "1");
    let copies = traced(&report);
    assert_eq!(copies.len(), 1, "{copies:?}");
    assert!(copies[0]["object"]
        .as_str()
        .unwrap()
        .ends_with("libsqlite3_tool.so"));
    assert_eq!(json_calls(&report, "open", "main_db"), 1);
}
