//! A plain Rust program with rusqlite's bundled SQLite, which knows nothing
//! of vfscope: its `sqlite3_*` functions are local symbols of the
//! executable, which `vfscope run` must find and hook.
//!
//! usage: vfscope-test-rusqlite-app DB ROWS

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    let [_, db, rows] = args.as_slice() else {
        return Err("usage: vfscope-test-rusqlite-app DB ROWS".into());
    };
    let rows: u32 = rows.parse()?;
    let conn = rusqlite::Connection::open(db)?;
    conn.pragma_update(None, "journal_mode", "wal")?;
    conn.execute("CREATE TABLE IF NOT EXISTS t(x)", [])?;
    for i in 0..rows {
        conn.execute("INSERT INTO t VALUES (?1)", [i])?;
    }
    let n: u32 = conn.query_row("SELECT count(*) FROM t", [], |r| r.get(0))?;
    println!("rows {n} sqlite {}", rusqlite::version());
    Ok(())
}
