//! Scenarios against counts measured once from the real systems they
//! model, kept as fixtures (tests/fixtures/*/README.md says how each was
//! recorded and counted): replaying the recording must charge exactly what
//! the real system did.

use std::path::PathBuf;
use vfscope_model::replay::replay;
use vfscope_segment::trace::{read_trace, Trace};
use vfscope_segment::{FileKind, Op};

fn fixture(path: &str) -> Trace {
    let at = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../tests/fixtures")
        .join(path);
    read_trace(&at).unwrap_or_else(|e| panic!("{}: {e}", at.display()))
}

/// dqlite, one node, 10 PUTs then 10 GETs: 11 WAL commits (the schema's
/// and one per PUT) of 23 frames, no sync. raft-wal charges each commit
/// once (the faster of 2 fixed round trips plus the work), nothing else.
#[test]
fn raft_wal_charges_each_dqlite_commit_once() {
    let trace = fixture("dqlite/put10_get10.trace");
    let frames: Vec<_> = trace.calls.iter().filter_map(|c| c.frame).collect();
    assert_eq!(frames.len(), 23);
    assert_eq!(frames.iter().filter(|f| f.is_commit()).count(), 11);
    let model = vfscope_model::load("raft-wal:rtt=2ms,overhead=1ms").unwrap();
    let p = replay(&trace, Some(model), 1);
    let commits = &p.by_op[&(Op::Write, FileKind::Wal)];
    assert_eq!(commits.charged, 11);
    let charged: u64 = p.by_op.values().map(|a| a.charged).sum();
    assert_eq!(charged, 11, "no read, sync or other write is charged");
    // Each commit waits 3 ms in all (its own local time is inside it).
    assert!(
        commits.added_ns > 11 * 2_900_000 && commits.added_ns <= 11 * 3_000_000,
        "{}",
        commits.added_ns
    );
    assert_eq!(
        p.predicted_ns as i64 - p.recorded_ns as i64,
        commits.added_ns
    );
}

/// Litestream's VFS reading a replica (tests/fixtures/litestream_vfs): the
/// proxy in front of S3 counted 625 range GETs (4 at the first open, 6 per
/// cold lookup on a fresh connection, 21 for 20 warm lookups, 480 for the
/// scan, none for the re-read) and 210 LISTs for 21 opens, plus the
/// polls of open connections (10 in that run: 2 LISTs a second). The
/// scenario, on the replica's calls only, counts the GETs and the opens'
/// LISTs exactly; its polls (one per full second each connection is open)
/// within one poll of the run's.
#[test]
fn litestream_vfs_sends_the_requests_litestreams_vfs_sent() {
    let trace = fixture("litestream_vfs/reader.trace")
        .only_database("replica.db")
        .unwrap();
    let model = vfscope_model::load("litestream-vfs:rtt=0ms,get=0ms,list=0ms").unwrap();
    let p = replay(&trace, Some(model), 1);
    let count = |name: &str| p.requests.iter().find(|r| r.name == name).unwrap().count;
    assert_eq!(count("get"), 625);
    let polls = count("list") - 210;
    assert!((8..=12).contains(&polls), "{polls} poll LISTs against 10");
}

/// Litestream replicating a writer's 50 commits (one a 100 ms) to S3
/// (tests/fixtures/litestream): the proxy counted 9 PUTs (the full copy,
/// the snapshot and the first level-1 compaction at start, then one LTX
/// file for each of the 6 seconds with commits) and 17 LISTs, and each
/// commit's lag under a second. The scenario, from the writer's trace
/// alone, counts the same PUTs and uploads, and the same LISTs or 2 more
/// (a 15 s retention check falls in the 6 s window or not: its phase, like
/// the sync's, is drawn from the seed); its lags lie in the same second.
#[test]
fn litestream_replicates_with_the_requests_litestream_made() {
    let trace = fixture("litestream/writer.trace");
    let model = vfscope_model::load("litestream:rtt=0ms,put=3ms").unwrap();
    let p = replay(&trace, Some(model), 1);
    let count = |name: &str| p.requests.iter().find(|r| r.name == name).unwrap().count;
    assert_eq!(count("put"), 9);
    assert!([17, 19].contains(&count("list")), "{}", count("list"));
    assert_eq!(p.uploads, 6);
    assert_eq!(p.lag_commits(), 50);
    assert!(p.lag_ns.iter().all(|&l| l > 3_000_000 && l < 1_010_000_000));
    // One page changed per second: each upload holds it once.
    // Recorded before traces sampled page sizes: each page counts whole.
    assert_eq!(p.lz4_samples, Some(0));
    assert_eq!(p.uploaded_bytes, 6 * (123 + 4096 + 31));
    assert_eq!(p.predicted_ns, p.recorded_ns, "the writer is not slowed");
}

/// Litestream 0.5.17 and the same 50-commit writer, recorded with trace
/// format 3 (one WAL page write in 8 carries its LZ4 size; see
/// tests/fixtures/litestream_lz4/README.md). The L0 files after the
/// start-up copy held 2,817 bytes (206 to 710 a file, the one page growing
/// as it filled): the scenario's bytes, from the sampled pages alone, come
/// within 5 %. The real run's p99 lag (0.947 s) lies in the range one run
/// can see by its ticker phase.
#[test]
fn litestream_bytes_come_from_what_the_pages_compress_to() {
    let trace = fixture("litestream_lz4/writer.trace");
    let page_writes = trace
        .calls
        .iter()
        .filter(|c| c.kind == FileKind::Wal && c.op == Op::Write && c.size == 4096)
        .count();
    let sampled = trace.calls.iter().filter(|c| c.lz4_size.is_some()).count();
    assert_eq!((page_writes, sampled), (50, 7));
    let model = vfscope_model::load("litestream:rtt=0ms,put=3ms").unwrap();
    let p = replay(&trace, Some(model), 1);
    assert_eq!(p.lz4_samples, Some(7));
    assert_eq!(p.uploads, 6);
    let real_l0_bytes = 206 + 326 + 426 + 525 + 624 + 710;
    let ratio = p.uploaded_bytes as f64 / real_l0_bytes as f64;
    assert!(
        (0.95..=1.05).contains(&ratio),
        "{} B: {ratio:.3}",
        p.uploaded_bytes
    );
    // Counted whole, as a size, the same pages were 9x.
    let whole = vfscope_model::load("litestream:rtt=0ms,put=3ms,page_bytes=4KiB").unwrap();
    let w = replay(&trace, Some(whole), 1);
    assert!(w.uploaded_bytes > 8 * real_l0_bytes, "{}", w.uploaded_bytes);
    let (lo, hi) = p.lag_p99_by_phase.unwrap();
    assert!(lo <= 947_000_000 && 947_000_000 <= hi, "{lo}..{hi}");
    // Requests: this run made no start-up L1 compaction (the fixture of
    // `litestream/` did; the scenario counts it): PUTs 8 and LISTs 15
    // against 9 and 17.
    let count = |name: &str| p.requests.iter().find(|r| r.name == name).unwrap().count;
    assert_eq!((count("put"), count("list")), (9, 17));
}
