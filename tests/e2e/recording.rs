//! Traces through the real shim: what `vfscope run --record` writes matches
//! the segment call for call, losses under a tiny queue are counted on both
//! sides, and replay with no model reproduces the recorded run.

use std::process::Command;
use std::time::Instant;
use vfscope_segment::trace::read_trace;
use vfscope_segment::{list_segments, SegmentReader};
use vfscope_tests::{built, sqlite3, succeeds};

const SQL: &str = "PRAGMA journal_mode=WAL; CREATE TABLE t(k, v); \
    WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 300) \
    INSERT INTO t SELECT i, randomblob(300) FROM n; \
    INSERT INTO t VALUES (1, 2); INSERT INTO t VALUES (3, 4); SELECT count(*) FROM t;";

/// `vfscope run --keep --dir DIR --record TRACE -- sqlite3 DB SQL`; returns
/// the run's wall time in ns.
fn record(dir: &std::path::Path, trace: &std::path::Path, env: &[(&str, &str)]) -> u64 {
    let mut command = Command::new(built("vfscope"));
    command
        .args(["run", "--quiet", "--keep", "--dir"])
        .arg(dir.join("segments"))
        .arg("--record")
        .arg(trace)
        .args(["--", sqlite3()])
        .arg(dir.join("traced.db"))
        .arg(SQL);
    for (k, v) in env {
        command.env(k, v);
    }
    let start = Instant::now();
    let out = command.output().unwrap();
    let wall = start.elapsed().as_nanos() as u64;
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "wal\n302");
    wall
}

fn segment(dir: &std::path::Path) -> vfscope_segment::Snapshot {
    let segments = list_segments(&dir.join("segments")).unwrap();
    assert_eq!(segments.len(), 1);
    SegmentReader::open(&segments[0]).unwrap().snapshot()
}

#[test]
fn a_recorded_trace_holds_every_call_the_segment_counted() {
    let dir = tempfile::tempdir().unwrap();
    let trace_path = dir.path().join("run.trace");
    let wall = record(dir.path(), &trace_path, &[]);
    let trace = read_trace(&trace_path).unwrap();
    let snapshot = segment(dir.path());
    let counted: u64 = snapshot.cells.iter().map(|c| c.calls()).sum();
    let end = trace.end.expect("a complete trace");
    assert_eq!((end.written, end.dropped), (trace.calls.len() as u64, 0));
    assert_eq!(
        trace.calls.len() as u64,
        counted,
        "one record per recorded call"
    );
    assert_eq!(
        (snapshot.trace_records, snapshot.trace_dropped),
        (counted, 0)
    );
    assert_eq!(trace.header.pid, snapshot.meta.pid);
    assert_eq!(trace.db_label(snapshot.dbs[0].index), "traced.db");
    // The trace and the segment agree op by op.
    let from_trace = trace.snapshot_until(u64::MAX, "trace");
    for cell in &snapshot.cells {
        assert_eq!(
            from_trace.calls(cell.op, cell.kind),
            snapshot.calls(cell.op, cell.kind),
            "{} on {}",
            cell.op,
            cell.kind
        );
    }
    // Every WAL frame header is in the trace with its page, and the
    // commit frames are the segment's commits (its own reading of them).
    let frames: Vec<_> = trace.calls.iter().filter_map(|c| c.frame).collect();
    let wal = snapshot.shape(vfscope_segment::FileKind::Wal);
    assert!(wal.wal_commits >= 3, "{wal:?}");
    assert_eq!(frames.len() as u64, wal.wal_frames);
    assert_eq!(
        frames.iter().filter(|f| f.is_commit()).count() as u64,
        wal.wal_commits
    );
    assert!(frames.iter().all(|f| f.page >= 1 && f.page <= 200));
    // One WAL page write in 8 (the first included) carries what its page
    // compresses to with LZ4; no other call does.
    let page_writes: Vec<_> = trace
        .calls
        .iter()
        .filter(|c| {
            c.kind == vfscope_segment::FileKind::Wal
                && c.op == vfscope_segment::Op::Write
                && c.size >= 512
        })
        .collect();
    let sampled: Vec<_> = page_writes
        .iter()
        .filter_map(|c| c.lz4_size.map(|s| (s, c.size)))
        .collect();
    assert_eq!(sampled.len(), page_writes.len().div_ceil(8));
    assert_eq!(
        trace.calls.iter().filter(|c| c.lz4_size.is_some()).count(),
        sampled.len()
    );
    assert!(sampled.iter().all(|&(lz4, size)| lz4 > 0 && lz4 <= size));
    // The sizes are the pages' own: the first (the schema page, mostly
    // zeros) shrinks to a fraction; pages of random blobs barely shrink.
    assert!(sampled[0].0 * 4 < sampled[0].1, "{sampled:?}");
    assert!(
        sampled.iter().any(|&(lz4, size)| lz4 * 4 >= size * 3),
        "{sampled:?}"
    );
    // Replay without a model is the recording itself.
    let p = vfscope_model::replay::replay(&trace, None, 1);
    assert_eq!(p.predicted_ns, p.recorded_ns);
    assert!(
        p.recorded_ns > 0 && p.recorded_ns <= wall,
        "{} within {wall}",
        p.recorded_ns
    );

    let report = Command::new(built("vfscope"))
        .arg("report")
        .arg(&trace_path)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&report.stdout);
    assert!(
        report.status.success() && text.contains("sync                     wal"),
        "{text}"
    );
    let json = dir.path().join("replay.json");
    let replayed = Command::new(built("vfscope"))
        .args(["replay"])
        .arg(&trace_path)
        .args(["--latency", "raft-wal", "--json"])
        .arg(&json)
        .output()
        .unwrap();
    assert!(
        replayed.status.success(),
        "{}",
        String::from_utf8_lossy(&replayed.stderr)
    );
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    assert_eq!(json["schema"], "vfscope-replay/1");
    assert_eq!(json["calls"].as_u64(), Some(counted));
    assert!(json["predicted_ns"].as_u64() > json["recorded_ns"].as_u64());
}

#[test]
fn a_tiny_queue_drops_calls_and_counts_every_one() {
    let dir = tempfile::tempdir().unwrap();
    let trace_path = dir.path().join("tiny.trace");
    record(dir.path(), &trace_path, &[("VFSCOPE_TRACE_BUFFER", "2")]);
    let trace = read_trace(&trace_path).unwrap();
    let snapshot = segment(dir.path());
    let counted: u64 = snapshot.cells.iter().map(|c| c.calls()).sum();
    let end = trace.end.expect("a complete trace");
    assert!(end.dropped > 0, "a 2-call queue cannot keep up");
    assert_eq!(end.written + end.dropped, counted, "nothing lost silently");
    assert_eq!(trace.calls.len() as u64, end.written);
    assert_eq!(snapshot.trace_dropped, end.dropped);
    let said = Command::new(built("vfscope"))
        .arg("report")
        .arg(&trace_path)
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&said.stderr).contains("calls dropped while recording"));
}

const FORKING: &str = r#"
import os, sqlite3, sys
db = sys.argv[1]
c = sqlite3.connect(db)
c.execute("CREATE TABLE t(v)")
c.commit()
pid = os.fork()
if pid == 0:
    k = sqlite3.connect(db)
    for i in range(20):
        k.execute("INSERT INTO t VALUES (?)", (i,))
        k.commit()
    k.close()
    sys.exit(0)
os.waitpid(pid, 0)
print(pid, c.execute("SELECT count(*) FROM t").fetchone()[0], flush=True)
"#;

#[test]
fn a_forked_child_records_its_own_trace() {
    let dir = tempfile::tempdir().unwrap();
    let trace = dir.path().join("fork.trace");
    let out = vfscope_tests::vfscope_run_python(&dir.path().join("segments"), FORKING)
        .arg(dir.path().join("fork.db"))
        .env("VFSCOPE_TRACE", &trace)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let said = String::from_utf8_lossy(&out.stdout);
    let (child, rows) = said.trim().split_once(' ').unwrap();
    assert_eq!(rows, "20");
    let parent = read_trace(&trace).unwrap();
    let child_trace = read_trace(&dir.path().join(format!("fork.trace.{child}"))).unwrap();
    assert_eq!(child_trace.header.pid.to_string(), child);
    assert_ne!(parent.header.pid, child_trace.header.pid);
    // sys.exit in a forked Python child skips atexit handlers only with
    // os._exit; this child exits normally, so its trace is whole.
    assert!(child_trace.end.is_some(), "the child's trace is complete");
    let syncs = child_trace
        .calls
        .iter()
        .filter(|c| c.op == vfscope_segment::Op::Sync)
        .count();
    assert!(
        syncs >= 20,
        "the child's commits are in its own trace: {syncs}"
    );
}

/// A request-level scenario live: the segment counts the requests it
/// implied by type, the report shows them with the bill, and replaying the
/// run's own trace through the same scenario predicts the same requests.
#[test]
fn a_live_scenario_counts_the_requests_replay_predicts() {
    let dir = tempfile::tempdir().unwrap();
    let trace_path = dir.path().join("run.trace");
    let scenario = "s3vfs:rtt=0ms,get=0ms,put=0ms,list=0ms,list_key=0us,delete=0ms,client=0ms";
    let sql = "PRAGMA journal_mode=DELETE; CREATE TABLE t(k, v); \
        WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 200) \
        INSERT INTO t SELECT i, randomblob(300) FROM n; \
        INSERT INTO t VALUES (1, 2); INSERT INTO t VALUES (3, 4); \
        UPDATE t SET v = randomblob(10) WHERE k < 50; SELECT count(*) FROM t;";
    let out = succeeds(
        Command::new(built("vfscope"))
            .args(["run", "--quiet", "--keep", "--dir"])
            .arg(dir.path().join("segments"))
            .arg("--record")
            .arg(&trace_path)
            .args(["--latency", scenario, "--", sqlite3()])
            .arg(dir.path().join("s3.db"))
            .arg(sql),
    );
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "delete\n202");
    let live = segment(dir.path()).model.requests;
    let names: Vec<&str> = live.iter().map(|t| t.name.as_str()).collect();
    assert_eq!(names, ["get", "put", "list", "delete", "delete_one"]);
    // Every type but single-object deletes (a truncate's; none here).
    assert!(live[..4].iter().all(|t| t.count > 0), "{live:?}");
    assert_eq!(live[4].count, 0, "{live:?}");

    let json = dir.path().join("replay.json");
    let replayed = Command::new(built("vfscope"))
        .arg("replay")
        .arg(&trace_path)
        .args(["--latency", scenario, "--json"])
        .arg(&json)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&replayed.stdout);
    assert!(
        replayed.status.success() && text.contains("requests: get "),
        "{text}"
    );
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    for t in &live {
        assert_eq!(
            json["requests"][&t.name].as_u64(),
            Some(t.count),
            "{}",
            t.name
        );
    }
    assert!(json["bill_usd"]["total"].as_f64().unwrap() > 0.0);

    let report = Command::new(built("vfscope"))
        .arg("report")
        .arg(dir.path().join("segments"))
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&report.stdout);
    let line = format!(
        "requests: get {}, put {}, list {}, delete {}",
        live[0].count, live[1].count, live[2].count, live[3].count
    );
    assert!(text.contains(&line), "{line} in\n{text}");
}
