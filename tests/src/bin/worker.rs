//! A separate process for multi-process tests: registers vfscope as the
//! default VFS (segment in `VFSCOPE_DIR`) and inserts rows into a WAL
//! database, one transaction each.
//!
//! usage: vfscope-test-worker DB ROWS WORKER_ID

use rusqlite::{params, Connection};
use std::process::ExitCode;
use std::time::Duration;

fn main() -> ExitCode {
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("vfscope-test-worker: {err}");
            ExitCode::FAILURE
        }
    }
}

fn run() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    let [_, db, rows, id] = args.as_slice() else {
        return Err("usage: vfscope-test-worker DB ROWS WORKER_ID".into());
    };
    let rows: u32 = rows.parse()?;
    vfscope::Builder::from_env()?
        .make_default(true)
        .register()?;
    let conn = Connection::open(db)?;
    conn.busy_timeout(Duration::from_secs(30))?;
    conn.execute_batch("PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL;")?;
    for i in 0..rows {
        conn.execute("INSERT INTO t(worker, n) VALUES (?1, ?2)", params![id, i])?;
    }
    Ok(())
}
