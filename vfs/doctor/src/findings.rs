//! The findings: each a rule over one database's evidence, with its
//! threshold, its change and the formula of its expected gain (README,
//! "vfscope doctor", says each in words).

use crate::evidence::{Database, Process};
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
pub(crate) const CHECKPOINT_PAGES: f64 = 1000.0;

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

pub(crate) fn finding(
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
pub(crate) fn rollback_small_commits(db: &Database, d: &mut Diagnosis) {
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
pub(crate) fn sync_per_row(db: &Database, d: &mut Diagnosis) {
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

impl Diagnosis {
    /// Worst first: warnings, then by the time saved (failed statements
    /// and risks first among equals).
    pub fn sort(&mut self) {
        self.findings.sort_by_key(|f| std::cmp::Reverse(f.rank()));
    }
}
