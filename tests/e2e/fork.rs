//! A forked child records into a segment of its own, and never inherits a
//! lock of vfscope's that another thread held at the fork.

use std::process::Command;
use vfscope_segment::{list_segments, FileKind, Liveness, Op, SegmentReader};
use vfscope_tests::{
    built, db_view, own_process, segment_dir, snapshot, vfscope, RawFile, MAIN_DB_FLAGS,
};

#[test]
fn forked_child_records_into_its_own_segment() {
    own_process!(forked_child_records_into_its_own_segment);
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("fork.db");
    let mut file = RawFile::open(vfscope(), &path, MAIN_DB_FLAGS);
    assert_eq!(file.write(&[1; 4096], 0), 0);
    let before = list_segments(segment_dir()).unwrap().len();

    // SAFETY: the child only writes through an already open file and exits.
    let child = unsafe { libc::fork() };
    if child == 0 {
        let ok = (0..10).all(|i| file.write(&[2; 4096], i * 4096) == 0);
        // A file of the child's own takes the first row of its open-file
        // table; closing the inherited file must not free that row.
        let own = RawFile::open(vfscope(), &dir.path().join("child.db"), MAIN_DB_FLAGS);
        drop(file);
        std::mem::forget(own); // still open when the child exits
        std::process::exit(if ok { 0 } else { 1 });
    }
    let mut status = 0;
    // SAFETY: waiting for the child just forked.
    assert_eq!(unsafe { libc::waitpid(child, &mut status, 0) }, child);
    assert!(libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0);

    let parent = db_view(&snapshot(), &path);
    assert_eq!(
        parent.calls(Op::Write, FileKind::MainDb),
        1,
        "the child's writes are not the parent's"
    );
    let segments = list_segments(segment_dir()).unwrap();
    assert_eq!(segments.len(), before + 1);
    let reader = segments
        .iter()
        .filter_map(|p| SegmentReader::open(p).ok())
        .find(|r| r.pid() == child as u32)
        .expect("the child's segment");
    assert_eq!(reader.liveness(), Liveness::Exited);
    let child_snapshot = reader.snapshot();
    let inherited = db_view(&child_snapshot, &path);
    assert_eq!(
        inherited.index, parent.index,
        "the inherited file keeps its database"
    );
    assert_eq!(inherited.calls(Op::Write, FileKind::MainDb), 10);
    assert_eq!(inherited.calls(Op::Close, FileKind::MainDb), 1);
    let own = db_view(&child_snapshot, &dir.path().join("child.db"));
    let open: Vec<u16> = child_snapshot.open_files.iter().map(|f| f.db).collect();
    assert_eq!(
        open,
        vec![own.index],
        "the child's own file is still listed as open"
    );
    assert_eq!(
        snapshot().open_files.len(),
        1,
        "the parent's file is open in the parent"
    );
    drop(file);
}

const FORK_DURING_MODELLED_CALLS: &str = r#"
import os, sqlite3, sys, threading, time
# The children use another SQLite copy than the busy threads: SQLite's own
# mutexes, held by those threads at fork, would hang them with or without
# vfscope. vfscope's locks are one per process, shared by both copies.
import pysqlite3.dbapi2 as child_sqlite
d = sys.argv[1]
stop = threading.Event()
def busy(n):
    c = sqlite3.connect(f"{d}/busy{n}.db", check_same_thread=False)
    c.execute("pragma synchronous=off")
    c.execute("create table t(x)")
    while not stop.is_set():
        with c:
            c.execute("insert into t values (1)")
threads = [threading.Thread(target=busy, args=(n,)) for n in range(3)]
for t in threads:
    t.start()
time.sleep(0.2)
hung = 0
for i in range(150):
    pid = os.fork()
    if pid == 0:
        c = child_sqlite.connect(f"{d}/child{i}.db")
        c.execute("create table t(x)")
        with c:
            c.execute("insert into t values (1)")
        c.close()
        os._exit(0)
    deadline = time.monotonic() + 20
    while os.waitpid(pid, os.WNOHANG) == (0, 0):
        if time.monotonic() > deadline:
            hung += 1
            os.kill(pid, 9)
            os.waitpid(pid, 0)
            break
        time.sleep(0.001)
stop.set()
for t in threads:
    t.join()
print("hung", hung)
"#;

/// Forks while other threads are inside modelled calls (which hold the
/// latency engine's lock for a moment each): no child may inherit a held
/// lock and hang at its first modelled call.
#[test]
fn forking_while_other_threads_are_in_modelled_calls_never_hangs_the_child() {
    let dir = tempfile::tempdir().unwrap();
    let model = "mode = \"virtual\"\n[[rule]]\ndelay = { dist = \"fixed\", value = \"1ms\" }\n";
    let json = dir.path().join("report.json");
    let python = vfscope_tests::programs::python_with_bundled_sqlite();
    let out = Command::new(built("vfscope"))
        .args(["run", "--quiet", "--json", json.to_str().unwrap(), "--"])
        .arg(python)
        .args(["-c", FORK_DURING_MODELLED_CALLS])
        .arg(dir.path())
        .env("VFSCOPE_LATENCY", model)
        .env_remove("VFSCOPE_DIR")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert_eq!(String::from_utf8_lossy(&out.stdout), "hung 0\n", "{stderr}");
    let report: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    let processes = report["processes"].as_array().unwrap().len();
    assert_eq!(processes, 151, "the parent and every child record");
}
