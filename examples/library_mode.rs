//! Library mode: register vfscope over the SQLite this program links, use
//! rusqlite as usual, and read what the VFS saw from the segment.
//!
//! cargo run -p vfscope-examples --example library_mode

use rusqlite::Connection;
use vfscope_segment::{FileKind, Op};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let dir = tempfile::tempdir()?;
    // Settings come from VFSCOPE_* variables; the segment goes to a
    // throwaway directory here so the example leaves nothing behind.
    let registration = vfscope::Builder::from_env()?
        .dir(dir.path().join("segments"))
        .make_default(true)
        .register()?;

    let conn = Connection::open(dir.path().join("app.db"))?;
    conn.execute_batch("PRAGMA journal_mode=WAL; CREATE TABLE notes(body TEXT);")?;
    for i in 0..100 {
        conn.execute("INSERT INTO notes VALUES (?1)", [format!("note {i}")])?;
    }
    let count: i64 = conn.query_row("SELECT count(*) FROM notes", [], |r| r.get(0))?;

    let snapshot = registration.snapshot().expect("a segment file")?;
    let wal = snapshot.shape(FileKind::Wal);
    println!(
        "{count} rows; segment {}",
        registration.segment_path().unwrap().display()
    );
    println!(
        "WAL: {} writes, {} syncs, {} frames in {} commits",
        snapshot.calls(Op::Write, FileKind::Wal),
        snapshot.calls(Op::Sync, FileKind::Wal),
        wal.wal_frames,
        wal.wal_commits,
    );
    for db in &snapshot.dbs {
        println!("database {} ({}-byte pages)", db.name(), db.page_size);
    }
    Ok(())
}
