//! Shared harness of the end-to-end tests: vfscope registered once per test
//! process over several parents, connections opened with or without it, and
//! the process's own segment read back the way other processes read it.

pub mod moto;
mod otlp_receiver;
pub mod programs;
mod prometheus;
mod raw_file;
mod serve;
pub use otlp_receiver::{OtlpReceiver, Received};
pub use prometheus::Prometheus;
pub use raw_file::{RawFile, MAIN_DB_FLAGS};
pub use serve::{start_serve, Killed, Serve};

use rusqlite::{Connection, OpenFlags};
use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use vfscope_segment::{CellStats, FileKind, LockSnapshot, Op, ShapeStats, Snapshot};

/// Where this test process's segment goes.
pub fn segment_dir() -> &'static Path {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let dir = std::env::temp_dir().join(format!("vfscope-e2e-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        dir
    })
}

/// Registers `vfscope` over the default VFS (once) and returns its name.
pub fn vfscope() -> &'static str {
    registered(None)
}

/// Registers `vfscope-PARENT` over `parent` (once) and returns its name.
pub fn vfscope_over(parent: &'static str) -> &'static str {
    registered(Some(parent))
}

fn registered(parent: Option<&'static str>) -> &'static str {
    use std::collections::HashMap;
    use std::sync::Mutex;
    static NAMES: OnceLock<Mutex<HashMap<Option<&'static str>, &'static str>>> = OnceLock::new();
    let mut names = NAMES.get_or_init(Default::default).lock().unwrap();
    names.entry(parent).or_insert_with(|| {
        let name: &'static str = match parent {
            None => "vfscope",
            Some(p) => Box::leak(format!("vfscope-{p}").into_boxed_str()),
        };
        let mut builder = vfscope::Builder::new()
            .name(name)
            .dir(segment_dir())
            .slow_threshold(std::time::Duration::from_millis(50));
        if let Some(p) = parent {
            builder = builder.parent(p);
        }
        builder.register().expect("register vfscope");
        name
    })
}

/// Opens `path` read-write-create through `vfs` (`None`: SQLite's default),
/// with no busy timeout.
pub fn open(path: &Path, vfs: Option<&str>) -> Connection {
    let flags = OpenFlags::SQLITE_OPEN_READ_WRITE
        | OpenFlags::SQLITE_OPEN_CREATE
        | OpenFlags::SQLITE_OPEN_URI;
    match vfs {
        Some(vfs) => Connection::open_with_flags_and_vfs(path, flags, vfs),
        None => Connection::open_with_flags(path, flags),
    }
    .inspect(|conn| {
        // rusqlite waits 5 s on BUSY by default; the tests want to see BUSY.
        conn.busy_timeout(std::time::Duration::ZERO)
            .expect("busy_timeout");
    })
    .unwrap_or_else(|e| panic!("open {}: {e}", path.display()))
}

/// This process's segment, now.
pub fn snapshot() -> Snapshot {
    vfscope();
    let path = vfscope_shim_path();
    vfscope_segment::SegmentReader::open(&path)
        .expect("open own segment")
        .snapshot()
}

/// Transactions this process finished since `cursor` (the `next` of an
/// earlier read, or 0).
pub fn transactions_since(cursor: u64) -> vfscope_segment::RingRead<vfscope_segment::Transaction> {
    vfscope();
    vfscope_segment::SegmentReader::open(&vfscope_shim_path())
        .expect("open own segment")
        .transactions_since(cursor)
}

fn vfscope_shim_path() -> PathBuf {
    let segs = vfscope_segment::list_segments(segment_dir()).expect("list segments");
    let pid = std::process::id().to_string();
    segs.into_iter()
        .find(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.split('-').next() == Some(pid.as_str()))
        })
        .expect("this process has a segment")
}

/// What the segment knows about one database, by path.
pub struct DbView {
    pub index: u16,
    pub cells: Vec<CellStats>,
    pub locks: LockSnapshot,
    pub shapes: Vec<ShapeStats>,
}

impl DbView {
    /// Calls of `op` on files of `kind` of this database.
    pub fn calls(&self, op: Op, kind: FileKind) -> u64 {
        self.cell(op, kind).map_or(0, CellStats::calls)
    }

    pub fn cell(&self, op: Op, kind: FileKind) -> Option<&CellStats> {
        self.cells.iter().find(|c| c.op == op && c.kind == kind)
    }

    pub fn shape(&self, kind: FileKind) -> ShapeStats {
        self.shapes
            .iter()
            .find(|s| s.kind == Some(kind))
            .cloned()
            .unwrap_or_default()
    }
}

/// The view of the database at `path` in `snapshot`.
pub fn db_view(snapshot: &Snapshot, path: &Path) -> DbView {
    let wanted = path.to_str().expect("utf-8 path");
    let info = snapshot
        .dbs
        .iter()
        .find(|d| d.path == wanted)
        .unwrap_or_else(|| panic!("{wanted} is not in the segment"));
    DbView {
        index: info.index,
        cells: snapshot
            .cells
            .iter()
            .filter(|c| c.db == info.index)
            .cloned()
            .collect(),
        locks: snapshot
            .locks
            .iter()
            .find(|l| l.db == info.index)
            .cloned()
            .unwrap_or_default(),
        shapes: snapshot
            .shapes
            .iter()
            .filter(|s| s.db == info.index)
            .cloned()
            .collect(),
    }
}

/// Runs statements one by one and writes down what each returned: rows as
/// text, or the extended error code. Paths are not part of it.
pub fn transcript<S: AsRef<str>>(conn: &Connection, statements: &[S]) -> Vec<String> {
    statements
        .iter()
        .map(|sql| sql.as_ref())
        .map(|sql| match run(conn, sql) {
            Ok(rows) => format!("{sql} => {}", rows.join("|")),
            Err(rusqlite::Error::SqliteFailure(e, _)) => {
                format!("{sql} => error {}", e.extended_code)
            }
            Err(e) => format!("{sql} => error {e}"),
        })
        .collect()
}

fn run(conn: &Connection, sql: &str) -> rusqlite::Result<Vec<String>> {
    let mut stmt = conn.prepare(sql)?;
    let columns = stmt.column_count();
    let mut rows = stmt.query([])?;
    let mut out = Vec::new();
    while let Some(row) = rows.next()? {
        let fields: Vec<String> = (0..columns)
            .map(|i| match row.get_ref(i) {
                Ok(rusqlite::types::ValueRef::Text(t)) => String::from_utf8_lossy(t).into_owned(),
                Ok(rusqlite::types::ValueRef::Blob(b)) => format!("blob of {} bytes", b.len()),
                Ok(v) => format!("{v:?}"),
                Err(e) => format!("<{e}>"),
            })
            .collect();
        out.push(fields.join(","));
    }
    Ok(out)
}

/// How many lines of a transcript are errors.
pub fn errors(transcript: &[String]) -> usize {
    transcript.iter().filter(|l| l.contains("=> error")).count()
}

/// A subquery yielding `value` 1..=n (the bundled SQLite has no
/// generate_series).
pub fn series(n: u32) -> String {
    format!("(WITH RECURSIVE s(value) AS (SELECT 1 UNION ALL SELECT value + 1 FROM s WHERE value < {n}) SELECT value FROM s)")
}

/// Runs the calling test in a fresh process of this test binary, so that
/// it has a segment of its own (the segment is per process, and tests in one
/// process would share its bounded tables). Returns true in that child, where
/// the test body should run; false in the parent, after the child passed.
pub fn in_own_process(test: &str) -> bool {
    const VAR: &str = "VFSCOPE_E2E_TEST";
    // module_path!() starts with the test crate's name; test names do not.
    let name = test.split_once("::").map_or(test, |(_, rest)| rest);
    if std::env::var(VAR).as_deref() == Ok(name) {
        return true;
    }
    let out = std::process::Command::new(std::env::current_exe().unwrap())
        .args([name, "--exact", "--nocapture", "--test-threads=1"])
        .env(VAR, name)
        .output()
        .expect("run the test in its own process");
    let stdout = String::from_utf8_lossy(&out.stdout);
    print!("{stdout}");
    eprint!("{}", String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success(), "{name} failed in its own process");
    // A name that matches no test (after a rename) would run nothing and
    // pass: the child must have run exactly this one test.
    assert!(
        stdout.contains("running 1 test") && stdout.contains("test result: ok. 1 passed;"),
        "the child process ran no test named {name}"
    );
    false
}

/// Runs the rest of the test in its own process (see [`in_own_process`]).
#[macro_export]
macro_rules! own_process {
    ($test:ident) => {
        if !$crate::in_own_process(concat!(module_path!(), "::", stringify!($test))) {
            return;
        }
    };
}

/// `PRAGMA integrity_check` says ok.
pub fn assert_intact(conn: &Connection) {
    let result: String = conn
        .query_row("PRAGMA integrity_check", [], |r| r.get(0))
        .expect("integrity_check");
    assert_eq!(result, "ok");
}

/// The mixed workload the overhead benchmarks run with and without vfscope:
/// WAL and rollback-journal databases, batched and autocommit writes, index
/// lookups, a sort and a checkpoint. Deterministic (no random data), so
/// instruction counts repeat. Returns a checksum so runs can be compared.
pub fn mixed_workload(dir: &Path, vfs: Option<&str>, scale: u32) -> i64 {
    let wal = open(&dir.join("wal.db"), vfs);
    wal.execute_batch(
        "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;
         CREATE TABLE IF NOT EXISTS orders(id INTEGER PRIMARY KEY, customer INTEGER, amount REAL, note TEXT);
         CREATE INDEX IF NOT EXISTS orders_customer ON orders(customer);",
    )
    .expect("schema");
    for batch in 0..scale {
        wal.execute_batch(&format!(
            "BEGIN; INSERT INTO orders(customer, amount, note)
             SELECT (value * 31 + {batch}) % 97, value * 1.5,
                    printf('%040x', (value * 2654435761 + {batch}) % 4294967291) FROM {}; COMMIT;",
            series(100)
        ))
        .expect("batch insert");
        wal.execute(
            "UPDATE orders SET amount = amount + 1 WHERE id = ?1",
            [batch as i64 * 13 + 1],
        )
        .expect("update");
    }
    let mut checksum = 0i64;
    for customer in 0..97 {
        checksum += wal
            .query_row(
                "SELECT count(*) FROM orders WHERE customer = ?1",
                [customer],
                |r| r.get::<_, i64>(0),
            )
            .expect("lookup");
    }
    checksum += wal
        .query_row(
            "SELECT count(*) FROM (SELECT note FROM orders ORDER BY note)",
            [],
            |r| r.get::<_, i64>(0),
        )
        .expect("sort");
    wal.execute_batch("PRAGMA wal_checkpoint(TRUNCATE)")
        .expect("checkpoint");
    let journal = open(&dir.join("journal.db"), vfs);
    journal
        .execute_batch(
            "PRAGMA journal_mode=DELETE; PRAGMA synchronous=OFF; CREATE TABLE IF NOT EXISTS l(v);",
        )
        .expect("journal schema");
    for i in 0..scale {
        journal
            .execute("INSERT INTO l VALUES (?1)", [i])
            .expect("journal insert");
    }
    checksum
}

/// A binary or library of this workspace built next to the test binaries
/// (`cargo build --workspace` builds them; tests/run.sh does so first).
pub fn built(name: &str) -> PathBuf {
    let exe = std::env::current_exe().expect("test binary path");
    // target/<profile>/deps/<test> -> target/<profile>/<name>
    let path = exe
        .parent()
        .and_then(Path::parent)
        .expect("target/<profile>")
        .join(name);
    assert!(
        path.exists(),
        "{} is not built; run `cargo build --workspace` first",
        path.display()
    );
    path
}

/// Runs `command`, which must succeed (its stderr is the failure
/// message); its output.
pub fn succeeds(command: &mut std::process::Command) -> std::process::Output {
    let out = command.output().expect("the command starts");
    assert!(
        out.status.success(),
        "{command:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// The Debian `sqlite3` CLI (links the system SQLite dynamically).
pub fn sqlite3() -> &'static str {
    assert!(
        have("sqlite3"),
        "the sqlite3 CLI is missing (tests/run.sh installs it)"
    );
    "sqlite3"
}

/// A Python workload for `python3 -c`: opens `argv[1]` in WAL mode with
/// synchronous=FULL, commits `argv[2]` single-row inserts (plus the
/// CREATE TABLE), prints "done", then waits on stdin so its process stays
/// alive while a test looks at it.
pub const COMMITS_THEN_WAIT: &str = r#"
import sqlite3, sys
c = sqlite3.connect(sys.argv[1])
c.execute("PRAGMA journal_mode=WAL")
c.execute("PRAGMA synchronous=FULL")
c.execute("CREATE TABLE t(v)")
c.commit()
for i in range(int(sys.argv[2])):
    c.execute("INSERT INTO t VALUES (?)", (i,))
    c.commit()
print("done", flush=True)
sys.stdin.read()
"#;

/// Whether a program is on PATH.
pub fn have(program: &str) -> bool {
    std::process::Command::new("sh")
        .args(["-c", &format!("command -v {program}")])
        .output()
        .is_ok_and(|o| o.status.success())
}

/// Runs `vfscope run --json FILE -- CMD...` with VFSCOPE_DIR removed from the
/// environment; returns (exit code, stderr, parsed JSON report).
pub fn vfscope_run(cmd: &[&str], env: &[(&str, &str)]) -> (i32, String, serde_json::Value) {
    let out_dir = tempfile::tempdir().unwrap();
    let json = out_dir.path().join("report.json");
    let mut command = std::process::Command::new(built("vfscope"));
    command
        .args(["run", "--json", json.to_str().unwrap(), "--"])
        .args(cmd)
        .env_remove("VFSCOPE_DIR");
    for (k, v) in env {
        command.env(k, v);
    }
    let out = command.output().expect("run vfscope");
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    let report = std::fs::read_to_string(&json)
        .unwrap_or_else(|e| panic!("no JSON report ({e}); stderr:\n{stderr}"));
    (
        out.status.code().unwrap_or(-1),
        stderr,
        serde_json::from_str(&report).expect("valid JSON"),
    )
}

/// `operations[]` entries of a JSON report for one op and file kind:
/// their calls summed.
pub fn json_calls(report: &serde_json::Value, op: &str, kind: &str) -> u64 {
    report["operations"]
        .as_array()
        .expect("operations")
        .iter()
        .filter(|o| o["op"] == op && o["file_kind"] == kind)
        .map(|o| o["calls"].as_u64().unwrap())
        .sum()
}

/// One `io_shape[]` counter of a JSON report.
pub fn json_shape(report: &serde_json::Value, kind: &str, field: &str) -> u64 {
    report["io_shape"]
        .as_array()
        .expect("io_shape")
        .iter()
        .find(|s| s["file_kind"] == kind)
        .map_or(0, |s| s[field].as_u64().unwrap())
}

/// A plain HTTP/1.1 GET on 127.0.0.1; returns the status code and body.
pub fn http_get(port: u16, path: &str) -> std::io::Result<(u16, String)> {
    use std::io::{Read, Write};
    let mut stream = std::net::TcpStream::connect(("127.0.0.1", port))?;
    stream.set_read_timeout(Some(std::time::Duration::from_secs(10)))?;
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"
    )?;
    let mut response = String::new();
    stream.read_to_string(&mut response)?;
    let status = response
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let body = response.split_once("\r\n\r\n").map_or("", |(_, b)| b);
    // Prometheus may answer in chunks; the tests only need what is readable.
    Ok((status, dechunk(body)))
}

fn dechunk(body: &str) -> String {
    let mut out = String::new();
    let mut rest = body;
    loop {
        let Some((size, tail)) = rest.split_once("\r\n") else {
            return if out.is_empty() {
                body.to_string()
            } else {
                out
            };
        };
        let Ok(n) = usize::from_str_radix(size.trim(), 16) else {
            return body.to_string();
        };
        if n == 0 || tail.len() < n {
            return out;
        }
        out.push_str(&tail[..n]);
        rest = tail[n..].trim_start_matches("\r\n");
    }
}

/// Percent-encodes a URL query value.
pub fn url_encode(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// A free TCP port on 127.0.0.1 (bound, then released).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

/// The first line a child printed on its (piped) stdout, trimmed: how the
/// test workloads announce their pid or that they are ready.
pub fn first_line(child: &mut std::process::Child) -> String {
    use std::io::BufRead;
    let stdout = child.stdout.take().expect("the child's stdout is piped");
    let mut line = String::new();
    std::io::BufReader::new(stdout)
        .read_line(&mut line)
        .expect("read the child's first line");
    line.trim().to_string()
}

/// `vfscope run --quiet --dir SEGMENTS -- python3 -c SCRIPT`, ready for the
/// script's arguments.
pub fn vfscope_run_python(segments: &Path, script: &str) -> std::process::Command {
    assert!(
        have("python3"),
        "python3 is missing (tests/run.sh installs it)"
    );
    let mut command = std::process::Command::new(built("vfscope"));
    command
        .args(["run", "--quiet", "--dir"])
        .arg(segments)
        .args(["--", "python3", "-c", script]);
    command
}
