//! The rules on locks, temporary files, connections, the page cache and
//! the WAL, and the remote risk of a replayed trace (the commit rules are
//! in `findings.rs` with the types they share).

use crate::evidence::{Database, Process};
use crate::findings::*;
use serde_json::json;
use vfscope_segment::{FileKind, Op};

/// BUSY answers with no waiting (no busy timeout), or waits given up.
pub(crate) fn busy_without_timeout(db: &Database, d: &mut Diagnosis) {
    // SQLite's busy handler sleeps before each retry: a process with one
    // sleeps about once per BUSY answer. A process that got BUSY and slept
    // under a quarter as often has none (its few sleeps are the WAL's own
    // read retries): each BUSY failed a statement at once.
    // In WAL mode the database file's EXCLUSIVE lock is the checkpoint at
    // close, which gives up quietly: not a statement's.
    let wal = db.is_wal();
    let busy_of = |p: &Process| {
        if wal {
            p.busy - p.busy_exclusive
        } else {
            p.busy
        }
    };
    let victims: Vec<&Process> = db
        .processes
        .iter()
        .filter(|p| busy_of(p) >= p.sleeps + MIN_BUSY_AT_ONCE && p.sleeps * 4 < busy_of(p))
        .collect();
    let failed: u64 = victims.iter().map(|p| busy_of(p)).sum();
    let (failed, timeout_ran_out) = if failed >= MIN_BUSY_AT_ONCE {
        (failed, false)
    } else if !wal && db.waits_abandoned >= MIN_BUSY_AT_ONCE {
        (db.waits_abandoned, true)
    } else {
        if db.busy > 0 {
            d.notes.push(format!(
                "{}: {} BUSY answers; {failed} of them in processes that did not sleep between tries (busy-without-timeout needs {MIN_BUSY_AT_ONCE}){}; {} waits ended with the lock, {} in all",
                db.name(),
                db.busy,
                if wal {
                    "; in WAL mode the EXCLUSIVE requests (checkpoints at close, which give up quietly) and the waits given up are not counted"
                } else {
                    ""
                },
                db.waits,
                ms(db.wait_ns as f64)
            ));
        }
        return;
    };
    let who = |p: &Process| format!("pid {} ({})", p.pid, short(&p.command));
    let holders: Vec<String> = db
        .processes
        .iter()
        .filter(|p| p.writes > 0 && !victims.iter().any(|v| v.pid == p.pid))
        .map(|p| format!("{}, {} write transactions", who(p), p.writes))
        .collect();
    let text = format!(
        "{} BUSY answers to lock requests; {}; the lock was held by the writers: {}",
        db.statement_busy(),
        if timeout_ran_out {
            format!(
                "{} waits given up after the busy timeout ran out",
                db.waits_abandoned
            )
        } else {
            format!(
                "{} answered at once, with no wait (no busy timeout: under a quarter as many xSleep calls as BUSY answers): {}",
                failed,
                victims
                    .iter()
                    .map(|p| who(p))
                    .collect::<Vec<_>>()
                    .join(", ")
            )
        },
        if holders.is_empty() {
            "none recorded (a process not traced held it)".to_string()
        } else {
            holders.join("; ")
        }
    );
    d.findings.push(Finding {
        id: "busy-without-timeout",
        severity: Severity::Warn,
        database: db.name().to_string(),
        path: db.path.clone(),
        processes: db.processes.clone(),
        evidence: json!({
            "busy": db.statement_busy(),
            "failed_at_once": if timeout_ran_out { 0 } else { failed },
            "waits_abandoned": db.waits_abandoned,
            "waits": db.waits,
            "wait_ns": db.wait_ns,
            "without_timeout": victims.iter().map(|p| p.pid).collect::<Vec<_>>(),
            "writers": db.processes.iter().filter(|p| p.writes > 0).map(|p| json!({"pid": p.pid, "command": p.command, "writes": p.writes})).collect::<Vec<_>>(),
        }),
        evidence_text: text,
        change: if timeout_ran_out {
            "shorter write transactions in the writers named, or a longer busy_timeout".into()
        } else {
            "PRAGMA busy_timeout=5000; (Python: sqlite3.connect(..., timeout=5.0); apsw: con.set_busy_timeout(5000)) in the processes named, and short write transactions in the writers".into()
        },
        gain: None,
        avoids: Some(format!(
            "about {failed} statements that failed with SQLITE_BUSY would wait for the lock instead"
        )),
    });
}

/// A command line cut to fit a line.
pub fn short(command: &str) -> String {
    let one_line: String = command.split_whitespace().collect::<Vec<_>>().join(" ");
    if one_line.chars().count() <= 60 {
        one_line
    } else {
        one_line.chars().take(57).collect::<String>() + "..."
    }
}

/// Temporary files written: sorts, temp tables, statement journals.
pub(crate) fn temp_spill(db: &Database, all_ns: u64, d: &mut Diagnosis) {
    if !db.path.is_empty() {
        return;
    }
    let written = db
        .calls
        .iter()
        .filter(|((op, _), _)| *op == Op::Write)
        .map(|(_, c)| c.bytes)
        .sum::<u64>();
    let read = db
        .calls
        .iter()
        .filter(|((op, _), _)| *op == Op::Read)
        .map(|(_, c)| c.bytes)
        .sum::<u64>();
    let time = db.total_ns();
    if written < TEMP_MIN_BYTES {
        if written > 0 {
            d.notes.push(format!(
                "temporary files: {} KiB written: under the {} KiB temp-spill reports",
                written / 1024,
                TEMP_MIN_BYTES / 1024
            ));
        }
        return;
    }
    let kinds: Vec<String> = db
        .calls
        .iter()
        .filter(|((op, _), c)| *op == Op::Write && c.bytes > 0)
        .map(|((_, k), c)| format!("{} {} KiB", k.name(), c.bytes / 1024))
        .collect();
    let text = format!(
        "temporary files written to disk: {} KiB written and {} KiB read back ({}), {} in their calls",
        written / 1024,
        read / 1024,
        kinds.join(", "),
        ms(time as f64)
    );
    d.findings.push(finding(
        db,
        "temp-spill",
        json!({ "bytes_written": written, "bytes_read": read, "time_ns": time }),
        text,
        "PRAGMA temp_store=MEMORY; (sorts, temp tables, transient indexes and statement journals in memory), or a larger PRAGMA cache_size so sorts spill later",
        Gain {
            saved_ns: time,
            uncertainty: 0.25,
            bound: Bound::AtLeast,
            of_ns: all_ns,
            how: "every call on the temporary files; SQLite's own work on those pages comes on top".into(),
        },
    ));
}

/// A connection per transaction or statement.
pub(crate) fn connection_churn(db: &Database, d: &mut Diagnosis) {
    if db.path.is_empty() {
        return;
    }
    let opens = db.get(Op::Open, FileKind::MainDb).calls;
    let Some(transactions) = db.transaction_count().filter(|&t| t > 0) else {
        return;
    };
    if opens < MIN_OPENS {
        return;
    }
    let per = opens as f64 / transactions as f64;
    if per < CHURN_OPENS_PER_TRANSACTION {
        return;
    }
    let setup = |op: Op| {
        matches!(
            op,
            Op::Open
                | Op::Close
                | Op::Access
                | Op::FileSize
                | Op::ShmMap
                | Op::ShmUnmap
                | Op::FileControl
                | Op::SectorSize
                | Op::DeviceCharacteristics
        )
    };
    let setup_ns = db.time(|op, _| setup(op));
    let saved = setup_ns as f64 * (1.0 - 1.0 / opens as f64);
    let of = db.total_ns();
    let text = format!(
        "{opens} opens of the database for {transactions} transactions ({per:.2} per transaction); opening and closing (open, close, existence checks, sizes, WAL-index mapping) took {} of the {} in the VFS",
        ms(setup_ns as f64),
        ms(of as f64)
    );
    d.findings.push(finding(
        db,
        "connection-churn",
        json!({ "opens": opens, "transactions": transactions, "opens_per_transaction": per, "setup_ns": setup_ns, "vfs_ns": of }),
        text,
        "keep connections open and reuse them (one per thread, or a pool) instead of connecting per statement or transaction",
        Gain {
            saved_ns: saved as u64,
            uncertainty: 0.25,
            bound: Bound::AtLeast,
            of_ns: of,
            how: "the open-and-close calls of all opens but one; a kept connection also keeps its page cache and parsed schema, which a VFS does not see".into(),
        },
    ));
}

/// The same database pages read again and again.
pub(crate) fn cache_rereads(db: &Database, d: &mut Diagnosis) {
    let reads = db.get(Op::Read, FileKind::MainDb);
    if db.path.is_empty() || db.db_bytes == 0 || reads.calls < MIN_REREADS {
        return;
    }
    let factor = reads.bytes as f64 / db.db_bytes as f64;
    if factor < REREAD_FACTOR {
        return;
    }
    let mib = |b: u64| b as f64 / (1 << 20) as f64;
    let saved = reads.time_ns as f64 * (1.0 - 1.0 / factor);
    let of = db.total_ns();
    let mean = reads.time_ns as f64 / reads.calls as f64;
    let fast = mean < PAGE_CACHE_READ_NS;
    let text = format!(
        "{} reads brought {:.1} MiB of a {:.1} MiB database file: each page about {factor:.0} times; the reads took {} of the {} in the VFS",
        reads.calls,
        mib(reads.bytes),
        mib(db.db_bytes),
        ms(reads.time_ns as f64),
        ms(of as f64)
    );
    let kib = db.db_bytes.div_ceil(1024);
    d.findings.push(finding(
        db,
        "cache-rereads",
        json!({ "reads": reads.calls, "bytes_read": reads.bytes, "database_bytes": db.db_bytes, "times_read": factor, "read_ns": reads.time_ns, "vfs_ns": of }),
        text,
        &format!("a page cache that holds the database: PRAGMA cache_size=-{kib} (KiB) on a kept connection, or PRAGMA mmap_size={} (pages read in place)", db.db_bytes.next_power_of_two()),
        Gain {
            saved_ns: saved as u64,
            uncertainty: 0.3,
            bound: if fast { Bound::AtMost } else { Bound::About },
            of_ns: of,
            how: if fast {
                format!("the reads' time x (1 - 1/times read), but the reads took {:.1} us each (the OS page cache), about what a hit in SQLite's own cache costs: the gain comes where reads are slow (disk, network storage, --latency)", mean / 1000.0)
            } else {
                "the reads' time x (1 - 1/times read): each page read once".into()
            },
        },
    ));
}

/// A WAL far past its checkpoint size: checkpoints cannot reset it.
pub(crate) fn wal_checkpoint_starved(db: &Database, d: &mut Diagnosis) {
    let page = if db.page_size > 0 {
        db.page_size as u64
    } else {
        4096
    };
    let normal = CHECKPOINT_PAGES as u64 * page;
    if db.wal_bytes < STARVED_WAL_FACTOR * normal {
        return;
    }
    let mib = |b: u64| b as f64 / (1 << 20) as f64;
    let pinned = match db.read_mark_hold {
        Some((ns, pid)) => {
            let who = db
                .processes
                .iter()
                .find(|p| p.pid == pid)
                .map_or(String::new(), |p| format!(" ({})", short(&p.command)));
            format!(
                "the longest read transaction held its WAL read mark at least {}: pid {pid}{who}",
                ms(ns as f64)
            )
        }
        None => {
            "no read mark hold was recorded (a reader outside vfscope, or a process gone)".into()
        }
    };
    let text = format!(
        "the WAL reached {:.1} MiB, {:.0}x the {:.1} MiB at which checkpoints reset it ({} pages of {} bytes): checkpoints could not finish; {pinned}",
        mib(db.wal_bytes),
        db.wal_bytes as f64 / normal as f64,
        mib(normal),
        CHECKPOINT_PAGES,
        page
    );
    d.findings.push(Finding {
        id: "wal-checkpoint-starved",
        severity: Severity::Warn,
        database: db.name().to_string(),
        path: db.path.clone(),
        processes: db.processes.clone(),
        evidence: json!({
            "wal_bytes": db.wal_bytes,
            "checkpoint_bytes": normal,
            "read_mark_hold_ns": db.read_mark_hold.map(|h| h.0),
            "read_mark_holder": db.read_mark_hold.map(|h| h.1),
        }),
        evidence_text: text,
        change: "end read transactions sooner in the process named (finish or reset statements; no BEGIN left open across work), then PRAGMA wal_checkpoint(TRUNCATE) when readers are idle; PRAGMA journal_size_limit shrinks the WAL after".into(),
        gain: None,
        avoids: Some(format!(
            "a WAL back near {:.1} MiB instead of {:.1} MiB (every reader walks the WAL index; the disk holds it)",
            mib(normal),
            mib(db.wal_bytes)
        )),
    });
}

/// Under a latency model the user names: which calls dominate, and what
/// the recorded run would take there (a replay of its trace).
pub fn remote_risk(p: &vfscope_model::replay::Prediction, model: &str, d: &mut Diagnosis) {
    let added = p.predicted_ns as i64 - p.recorded_ns as i64;
    if added <= 0 {
        d.notes
            .push(format!("under {model} the recorded run takes no longer"));
        return;
    }
    let mut ops: Vec<_> = p.by_op.iter().filter(|(_, a)| a.added_ns > 0).collect();
    ops.sort_by_key(|(_, a)| std::cmp::Reverse(a.added_ns));
    let total_added: i64 = ops.iter().map(|(_, a)| a.added_ns).sum();
    let top: Vec<String> = ops
        .iter()
        .take(3)
        .map(|((op, kind), a)| {
            format!(
                "{} on {} {} ({} calls, {:.0}%)",
                op.name(),
                kind.name(),
                ms(a.added_ns as f64),
                a.charged,
                100.0 * a.added_ns as f64 / total_added.max(1) as f64
            )
        })
        .collect();
    let Some(((op, kind), _)) = ops.first() else {
        return;
    };
    let change = match (op, kind) {
        (Op::Read | Op::Fetch, _) => "reads dominate: a larger page cache (PRAGMA cache_size, mmap_size), fewer cold connections, or a read replica near the reader",
        (Op::Sync, _) | (Op::Write, FileKind::Wal | FileKind::MainJournal) => "commits dominate: fewer, larger transactions (batch rows), WAL with synchronous=NORMAL",
        (Op::Write, _) => "writes dominate: fewer, larger transactions, so each page is sent once per batch",
        (Op::Lock | Op::Unlock, _) => "locks dominate: fewer write transactions, and reads outside them",
        _ => "metadata calls dominate (opens, sizes, existence checks): keep connections open, avoid a connection per statement",
    };
    let ratio = p.predicted_ns as f64 / p.recorded_ns.max(1) as f64;
    d.findings.push(Finding {
        id: "remote-risk",
        severity: if ratio >= 2.0 { Severity::Warn } else { Severity::Info },
        database: "(all)".into(),
        path: String::new(),
        processes: Vec::new(),
        evidence: json!({
            "model": model,
            "recorded_ns": p.recorded_ns,
            "predicted_ns": p.predicted_ns,
            "top": ops.iter().take(3).map(|((op, kind), a)| json!({"op": op.name(), "file_kind": kind.name(), "calls": a.charged, "added_ns": a.added_ns})).collect::<Vec<_>>(),
        }),
        evidence_text: format!(
            "under {model} the recorded run would take {} instead of {} ({ratio:.1}x); the time it adds: {}",
            ms(p.predicted_ns as f64),
            ms(p.recorded_ns as f64),
            top.join(", ")
        ),
        change: change.into(),
        gain: None,
        avoids: Some(format!(
            "of the {} {model} adds, the change shortens the part of the calls it names",
            ms(added as f64)
        )),
    });
    d.sort();
}
