//! The findings: each a rule over one database's evidence, with its
//! threshold, its change and the formula of its expected gain (README,
//! "vfscope doctor", says each in words).

use crate::evidence::{Database, Evidence, Process};
use serde_json::{json, Value};
use vfscope_segment::{FileKind, Op};

/// Write transactions needed before the journal mode is judged.
pub const MIN_COMMITS: u64 = 20;
/// Pages per commit up to which a commit counts as small.
pub const SMALL_COMMIT_PAGES: f64 = 16.0;
/// Commits needed before "one row per commit" is judged.
pub const MIN_ROW_COMMITS: u64 = 50;
/// Pages per commit up to which a commit is about one row.
pub const ROW_COMMIT_PAGES: f64 = 3.0;
/// The batch size the sync-per-row gain assumes.
pub const BATCH_ROWS: f64 = 100.0;
/// Opens of a database needed before churn is judged.
pub const MIN_OPENS: u64 = 20;
/// Opens per transaction from which connections count as churned (a
/// connection per statement shows 0.3-0.5: each open adds a schema read,
/// and in WAL mode a checkpoint at close; a kept connection, far below).
pub const CHURN_OPENS_PER_TRANSACTION: f64 = 0.2;
/// Bytes written to temporary files from which a spill is reported.
pub const TEMP_MIN_BYTES: u64 = 1 << 20;
/// A finding whose gain is at least this share of the time in the VFS,
/// and at least `WARN_NS`, is a warning; below either, information.
pub const WARN_SHARE: f64 = 0.10;
pub const WARN_NS: u64 = 10_000_000;
/// Below this many commits a rule says nothing, not even a note.
const NOTE_COMMITS: u64 = 5;
/// BUSY answers without a wait needed to report them (a WAL checkpoint
/// at close answers BUSY quietly when another connection is busy).
pub const MIN_BUSY_AT_ONCE: u64 = 3;
/// Reads of the database file, as a multiple of its size, from which its
/// pages count as read again and again.
pub const REREAD_FACTOR: f64 = 4.0;
/// Database reads needed before re-reads are judged.
pub const MIN_REREADS: u64 = 1000;
/// A WAL this many times its checkpoint size (autocheckpoint pages x
/// page size) counts as starved of checkpoints.
pub const STARVED_WAL_FACTOR: u64 = 4;
/// Pages between WAL checkpoints (SQLite's default wal_autocheckpoint).
const CHECKPOINT_PAGES: f64 = 1000.0;

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Severity {
    Info,
    Warn,
}

impl Severity {
    pub fn name(self) -> &'static str {
        match self {
            Severity::Info => "info",
            Severity::Warn => "warn",
        }
    }
}

/// What the change is expected to save, from the recording.
#[derive(Clone, Debug, PartialEq)]
pub struct Gain {
    pub saved_ns: u64,
    /// Relative uncertainty (0.3: the gain is within ±30 %).
    pub uncertainty: f64,
    /// The time it is a share of (the database's time in the VFS).
    pub of_ns: u64,
    /// How it was computed, in words.
    pub how: String,
    /// Whether the gain is about this, at least this (the change also
    /// saves work a VFS cannot see: SQLite's own CPU on the same pages,
    /// parsing the schema) or at most this (the calls it removes are
    /// replaced by cheaper work a VFS cannot see).
    pub bound: Bound,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Bound {
    About,
    AtLeast,
    AtMost,
}

impl Bound {
    pub fn name(self) -> &'static str {
        match self {
            Bound::About => "about",
            Bound::AtLeast => "at least",
            Bound::AtMost => "at most",
        }
    }
}

/// A read below this mean latency came from the OS page cache: SQLite's
/// own cache saves little over it.
pub const PAGE_CACHE_READ_NS: f64 = 5_000.0;

#[derive(Clone, Debug, PartialEq)]
pub struct Finding {
    pub id: &'static str,
    pub severity: Severity,
    pub database: String,
    pub path: String,
    pub processes: Vec<Process>,
    /// The numbers, by name (JSON), and in words (text).
    pub evidence: Value,
    pub evidence_text: String,
    pub change: String,
    pub gain: Option<Gain>,
    /// What the change avoids when it is not time (failed statements).
    pub avoids: Option<String>,
}

impl Finding {
    /// Order: warnings first, then by the time saved.
    fn rank(&self) -> (Severity, u64) {
        (
            self.severity,
            self.gain.as_ref().map_or(u64::MAX, |g| g.saved_ns),
        )
    }
}

/// The findings, worst first, and what was looked at but too weak to say.
#[derive(Clone, Debug, Default)]
pub struct Diagnosis {
    pub findings: Vec<Finding>,
    pub notes: Vec<String>,
}

pub fn ms(ns: f64) -> String {
    if ns >= 1e9 {
        format!("{:.2} s", ns / 1e9)
    } else {
        format!("{:.1} ms", ns / 1e6)
    }
}

fn severity(saved: u64, of: u64) -> Severity {
    if of > 0 && saved as f64 >= WARN_SHARE * of as f64 && saved >= WARN_NS {
        Severity::Warn
    } else {
        Severity::Info
    }
}

fn finding(
    db: &Database,
    id: &'static str,
    evidence: Value,
    text: String,
    change: &str,
    gain: Gain,
) -> Finding {
    Finding {
        id,
        // A gain that is at most this is information.
        severity: if gain.bound == Bound::AtMost {
            Severity::Info
        } else {
            severity(gain.saved_ns, gain.of_ns)
        },
        database: db.name().to_string(),
        path: db.path.clone(),
        processes: db.processes.clone(),
        evidence,
        evidence_text: text,
        change: change.to_string(),
        gain: Some(gain),
        avoids: None,
    }
}

/// Rollback-journal mode with many small write transactions.
fn rollback_small_commits(db: &Database, d: &mut Diagnosis) {
    let (commits, committed_pages) = db.journal_commits();
    if commits == 0 {
        return;
    }
    let pages = db.get(Op::Write, FileKind::MainDb);
    let per_commit = committed_pages as f64 / commits as f64;
    if commits < MIN_COMMITS {
        if commits < NOTE_COMMITS {
            return;
        }
        d.notes.push(format!(
            "{}: {commits} rollback-journal commits: too few to judge the journal mode (rollback-small-commits needs {MIN_COMMITS})",
            db.name()
        ));
        return;
    }
    if per_commit > SMALL_COMMIT_PAGES {
        return;
    }
    let journal_ns = db.time(|_, k| k == FileKind::MainJournal);
    let journal_calls = db.count(|_, k| k == FileKind::MainJournal);
    let syncs = db.get(Op::Sync, FileKind::MainDb);
    let mean_sync = if syncs.calls > 0 {
        syncs.time_ns as f64 / syncs.calls as f64
    } else {
        0.0
    };
    let checkpoints = (pages.calls as f64 / CHECKPOINT_PAGES).ceil();
    let saved = journal_ns as f64 + syncs.time_ns as f64
        - pages.time_ns as f64
        - checkpoints * 2.0 * mean_sync;
    if saved <= 0.0 {
        return;
    }
    let of = db.total_ns();
    let text = format!(
        "{commits} write transactions in rollback-journal mode, {per_commit:.1} pages each; per commit {:.1} journal calls and {:.1} database syncs; the journal and the database syncs took {} of the {} in the VFS ({:.0}%)",
        journal_calls as f64 / commits as f64,
        syncs.calls as f64 / commits as f64,
        ms((journal_ns + syncs.time_ns) as f64),
        ms(of as f64),
        100.0 * (journal_ns + syncs.time_ns) as f64 / of.max(1) as f64
    );
    d.findings.push(finding(
        db,
        "rollback-small-commits",
        json!({
            "commits": commits,
            "pages_per_commit": per_commit,
            "journal_calls": journal_calls,
            "journal_ns": journal_ns,
            "database_syncs": syncs.calls,
            "database_sync_ns": syncs.time_ns,
            "database_write_ns": pages.time_ns,
            "vfs_ns": of,
        }),
        text,
        "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; (the journal mode stays with the database file; synchronous is set per connection)",
        Gain {
            saved_ns: saved as u64,
            uncertainty: 0.3,
            bound: Bound::About,
            of_ns: of,
            how: format!(
                "the journal's calls and the database syncs, less the WAL's own appends (taken as the database writes' {}) and a WAL and database sync per {CHECKPOINT_PAGES} pages at checkpoints",
                ms(pages.time_ns as f64)
            ),
        },
    ));
}

/// About one row per transaction (autocommit statements).
fn sync_per_row(db: &Database, d: &mut Diagnosis) {
    // The journal mode most commits were made in.
    let rollback = db.journal_commits();
    let (commits, pages) = match db.wal_commits() {
        Some(wal) if wal.0 > rollback.0 => wal,
        _ => rollback,
    };
    if commits == 0 {
        return;
    }
    let per_commit = pages as f64 / commits as f64;
    if per_commit > ROW_COMMIT_PAGES {
        return;
    }
    if commits < MIN_ROW_COMMITS {
        if commits < NOTE_COMMITS {
            return;
        }
        d.notes.push(format!(
            "{}: {commits} commits of {per_commit:.1} pages: too few to call it one row per commit (sync-per-row needs {MIN_ROW_COMMITS})",
            db.name()
        ));
        return;
    }
    // What every commit pays: all but the reads (and temporary files).
    let commit_ns = db.time(|op, k| {
        !(matches!(op, Op::Read | Op::Fetch) && matches!(k, FileKind::MainDb | FileKind::Wal))
    });
    let saved = commit_ns as f64 * (1.0 - 1.0 / BATCH_ROWS);
    let of = db.total_ns();
    let text = format!(
        "{commits} commits of {per_commit:.1} pages each: about one row per transaction; the calls every commit makes (writes, syncs, journal, locks) took {} of the {} in the VFS",
        ms(commit_ns as f64),
        ms(of as f64)
    );
    d.findings.push(finding(
        db,
        "sync-per-row",
        json!({
            "commits": commits,
            "pages_per_commit": per_commit,
            "commit_path_ns": commit_ns,
            "vfs_ns": of,
        }),
        text,
        "batch the rows into transactions: BEGIN; ... a hundred rows or more ...; COMMIT (Python: executemany inside `with con:`; a connection in autocommit mode commits each statement)",
        Gain {
            saved_ns: saved as u64,
            uncertainty: 0.25,
            bound: Bound::About,
            of_ns: of,
            how: format!("the commit path's time x (1 - 1/{BATCH_ROWS}): commits of {BATCH_ROWS} rows"),
        },
    ));
}

/// BUSY answers with no waiting (no busy timeout), or waits given up.
fn busy_without_timeout(db: &Database, d: &mut Diagnosis) {
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
fn temp_spill(db: &Database, all_ns: u64, d: &mut Diagnosis) {
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
fn connection_churn(db: &Database, d: &mut Diagnosis) {
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
fn cache_rereads(db: &Database, d: &mut Diagnosis) {
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
fn wal_checkpoint_starved(db: &Database, d: &mut Diagnosis) {
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

/// Runs every rule over every database.
pub fn diagnose(e: &Evidence) -> Diagnosis {
    let mut d = Diagnosis::default();
    let all_ns = e.total_ns();
    for db in &e.databases {
        rollback_small_commits(db, &mut d);
        sync_per_row(db, &mut d);
        busy_without_timeout(db, &mut d);
        temp_spill(db, all_ns, &mut d);
        connection_churn(db, &mut d);
        cache_rereads(db, &mut d);
        wal_checkpoint_starved(db, &mut d);
        if e.from_trace && db.count(|_, k| k == FileKind::Wal) > 0 {
            d.notes.push(format!(
                "{}: WAL commits and transactions are not in a trace (the segment counts them): sync-per-row and connection-churn were judged on rollback mode only",
                db.name()
            ));
        }
    }
    d.sort();
    d
}

impl Diagnosis {
    /// Worst first: warnings, then by the time saved (failed statements
    /// and risks first among equals).
    pub fn sort(&mut self) {
        self.findings.sort_by_key(|f| std::cmp::Reverse(f.rank()));
    }
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
