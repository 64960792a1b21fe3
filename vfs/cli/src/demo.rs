//! `vfscope demo`: a built-in SQLite workload through vfscope, then the
//! per-op summary read back from the segment, as another process would.

use anyhow::{Context, Result};
use rusqlite::{params, Connection};
use std::path::Path;
use std::time::Instant;

/// Runs the demo; the segment goes to a temporary directory unless
/// `VFSCOPE_DIR` is set.
pub fn run() -> Result<()> {
    let work = tempfile::tempdir().context("cannot create a temporary directory")?;
    let mut builder = vfscope::Builder::from_env()?.make_default(true);
    if std::env::var_os("VFSCOPE_DIR").is_none() {
        builder = builder.dir(work.path().join("segments"));
    }
    let registration = builder.register().context("cannot register vfscope")?;
    let started = Instant::now();
    let counts = workload(work.path())?;
    let elapsed = started.elapsed();
    let snapshot = registration
        .snapshot()
        .context("vfscope has no segment file")?
        .context("cannot read the segment back")?;
    println!(
        "vfscope demo: {} through vfscope in {:.0?}\nsegment: {} (SQLite {}, vfscope over {})\n",
        counts,
        elapsed,
        registration
            .segment_path()
            .map_or("-".into(), |p| p.display().to_string()),
        snapshot.meta.sqlite_version,
        snapshot
            .registrations
            .first()
            .map_or("?", |(_, parent)| parent.as_str()),
    );
    let report = crate::report::Report::new(
        &[(snapshot, vfscope_segment::Liveness::Running)],
        Vec::new(),
    );
    print!("{}", crate::report::text::render(&report));
    if let Some(path) = registration.segment_path() {
        let (findings, _) =
            crate::doctor::of_run(&[path.to_path_buf()], &crate::segments::Filter::default());
        print!("\n{findings}");
    }
    Ok(())
}

/// A mixed workload: WAL and rollback-journal databases, batched and
/// autocommit writes, point reads through mmap, a temp-file sort, a
/// checkpoint and an integrity check.
fn workload(dir: &Path) -> Result<String> {
    let wal = Connection::open(dir.join("orders.db"))?;
    wal.execute_batch(
        "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; PRAGMA mmap_size=67108864;
         CREATE TABLE orders(id INTEGER PRIMARY KEY, customer INTEGER, amount REAL, note TEXT);
         CREATE INDEX orders_customer ON orders(customer);",
    )?;
    for batch in 0..20 {
        let tx = wal.unchecked_transaction()?;
        for i in 0..100 {
            tx.execute(
                "INSERT INTO orders(customer, amount, note) VALUES (?1, ?2, ?3)",
                params![(batch * 100 + i) % 97, i as f64 * 1.5, "x".repeat(100)],
            )?;
        }
        tx.commit()?;
    }
    for i in 0..200 {
        wal.execute(
            "UPDATE orders SET amount = amount + 1 WHERE id = ?1",
            [i * 7 + 1],
        )?;
    }
    let mut total = 0.0;
    for customer in 0..97 {
        total += wal.query_row(
            "SELECT coalesce(sum(amount), 0) FROM orders WHERE customer = ?1",
            [customer],
            |r| r.get::<_, f64>(0),
        )?;
    }
    let sorted: i64 = wal.query_row(
        "SELECT count(*) FROM (SELECT note || id AS k FROM orders ORDER BY k DESC)",
        [],
        |r| r.get(0),
    )?;
    wal.execute_batch("PRAGMA wal_checkpoint(TRUNCATE);")?;
    // A fresh reader after the checkpoint: pages now come from the database
    // file through mmap (xFetch) instead of xRead.
    let reader = Connection::open(dir.join("orders.db"))?;
    reader.execute_batch("PRAGMA mmap_size=67108864;")?;
    let scanned: f64 = reader.query_row("SELECT sum(amount) FROM orders", [], |r| r.get(0))?;

    let journal = Connection::open(dir.join("ledger.db"))?;
    journal.execute_batch(
        "PRAGMA journal_mode=DELETE; CREATE TABLE ledger(id INTEGER PRIMARY KEY, v BLOB);",
    )?;
    for i in 0..100 {
        journal.execute("INSERT INTO ledger(v) VALUES (randomblob(?1))", [200 + i])?;
    }
    let ok: String = journal.query_row("PRAGMA integrity_check", [], |r| r.get(0))?;
    anyhow::ensure!(
        ok == "ok" && sorted == 2000 && total > 0.0 && scanned >= total,
        "demo workload gave wrong results"
    );
    Ok(
        "2000 inserts in 20 transactions + 200 updates + 97 index lookups + a 2000-row sort \
        (WAL), a checkpoint and a full scan through mmap, then 100 autocommit inserts \
        (rollback journal)"
            .into(),
    )
}
