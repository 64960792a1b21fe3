//! What the findings read: per database, the calls by op and file kind,
//! its transactions as the locks show them, its WAL commits, its lock
//! waits and the processes that used it; summed over every process that
//! recorded, from their segments or from a recorded trace.

use std::collections::BTreeMap;
use vfscope_segment::trace::Trace;
use vfscope_segment::{
    FileKind, LockLevel, LockSnapshot, Op, ResultClass, ShapeStats, Snapshot, Transaction, DB_NONE,
    DB_OVERFLOW,
};

/// One process's segment: its snapshot, and (when read) the transactions
/// still in its ring with how many finished before those (overwritten).
pub struct Segment<'a> {
    pub snapshot: &'a Snapshot,
    pub transactions: Option<(&'a [Transaction], u64)>,
}

/// Calls of one op on one file kind.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Calls {
    pub calls: u64,
    pub time_ns: u64,
    pub bytes: u64,
}

/// A process that used a database.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Process {
    pub pid: u32,
    pub command: String,
    /// Its write transactions on this database (rollback commits or WAL
    /// write locks).
    pub writes: u64,
    /// BUSY answers it got from this database's locks, and of those to
    /// EXCLUSIVE requests.
    pub busy: u64,
    pub busy_exclusive: u64,
    /// xSleep calls it made (SQLite's busy handler sleeps between tries;
    /// none with no busy timeout).
    pub sleeps: u64,
}

/// One database (by path), or the temporary files (path empty).
#[derive(Clone, Debug, Default)]
pub struct Database {
    pub path: String,
    pub page_size: u32,
    pub calls: BTreeMap<(Op, FileKind), Calls>,
    /// Lock transitions into EXCLUSIVE on the database file: rollback-mode
    /// commits (and hot-journal rollbacks, rare).
    pub rollback_commits: u64,
    /// NONE -> SHARED on the database file: rollback-mode transactions.
    pub rollback_transactions: u64,
    /// Commit frames appended to the WAL (None: not known, from a trace).
    pub wal_commits: Option<u64>,
    pub wal_frames: Option<u64>,
    /// BUSY answers to xLock (and to the WAL-index write lock), and of
    /// those to EXCLUSIVE requests.
    pub busy: u64,
    pub busy_exclusive: u64,
    /// Waits given up without the lock (the statement failed).
    pub waits_abandoned: u64,
    /// Waits that ended with the lock, and their summed time.
    pub waits: u64,
    pub wait_ns: u64,
    pub processes: Vec<Process>,
    /// From the segments' transaction rings (None from a trace): every
    /// transaction, and the rollback-journal write transactions with the
    /// pages they wrote (scaled up when a ring lost its oldest entries).
    pub transactions: Option<Transactions>,
    /// The largest sizes the database file and its WAL reached (0:
    /// unknown).
    pub db_bytes: u64,
    pub wal_bytes: u64,
    /// The longest a WAL read mark was held (ns, at least), and by whom.
    pub read_mark_hold: Option<(u64, u32)>,
}

/// Transactions of one database, as the rings show them (WAL commits
/// come from the commit frames instead: a checkpoint at close also takes
/// the WAL write lock).
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Transactions {
    pub all: f64,
    pub rollback_writes: f64,
    pub rollback_pages: f64,
}

impl Database {
    pub fn name(&self) -> &str {
        if self.path.is_empty() {
            return "(temporary files)";
        }
        self.path.rsplit('/').next().unwrap_or(&self.path)
    }

    pub fn get(&self, op: Op, kind: FileKind) -> Calls {
        self.calls.get(&(op, kind)).copied().unwrap_or_default()
    }

    /// Time over the calls `keep` accepts.
    pub fn time(&self, keep: impl Fn(Op, FileKind) -> bool) -> u64 {
        self.calls
            .iter()
            .filter(|((op, kind), _)| keep(*op, *kind))
            .map(|(_, c)| c.time_ns)
            .sum()
    }

    /// Calls `keep` accepts.
    pub fn count(&self, keep: impl Fn(Op, FileKind) -> bool) -> u64 {
        self.calls
            .iter()
            .filter(|((op, kind), _)| keep(*op, *kind))
            .map(|(_, c)| c.calls)
            .sum()
    }

    /// Every call's time.
    pub fn total_ns(&self) -> u64 {
        self.time(|_, _| true)
    }

    /// Rollback-journal commits and the database pages they wrote: from
    /// the transaction rings, else (a trace) EXCLUSIVE locks taken with a
    /// journal written (a WAL database takes EXCLUSIVE only to checkpoint
    /// at its last close) and the database writes.
    pub fn journal_commits(&self) -> (u64, u64) {
        // Counters, exact over the whole run (a transaction ring keeps only
        // each process's last 1,024). A rollback commit ends its journal:
        // deleted (DELETE mode) or truncated (TRUNCATE); in PERSIST mode
        // (header zeroed) the ring, else EXCLUSIVE locks with a journal
        // written, count them.
        let ended = self
            .get(Op::Delete, FileKind::MainJournal)
            .calls
            .max(self.get(Op::Truncate, FileKind::MainJournal).calls);
        let ring = self.transactions.filter(|t| t.rollback_writes > 0.0);
        let commits = if ended > 0 {
            ended
        } else if let Some(t) = ring {
            t.rollback_writes.round() as u64
        } else if self.get(Op::Write, FileKind::MainJournal).calls > 0 {
            self.rollback_commits
        } else {
            0
        };
        // In rollback mode every database write is a committed page; a WAL
        // database's own writes are checkpoints (the ring's pages then).
        let pages = if !self.is_wal() {
            self.get(Op::Write, FileKind::MainDb).calls
        } else {
            ring.map_or(0, |t| {
                (t.rollback_pages / t.rollback_writes * commits as f64).round() as u64
            })
        };
        (commits, pages)
    }

    /// Whether the database ran in WAL mode (its WAL was written).
    pub fn is_wal(&self) -> bool {
        self.get(Op::Write, FileKind::Wal).calls > 0
    }

    /// BUSY answers that a statement can get: in WAL mode an EXCLUSIVE
    /// lock on the database file is only a checkpoint at close, which
    /// gives up quietly.
    pub fn statement_busy(&self) -> u64 {
        if self.is_wal() {
            self.busy - self.busy_exclusive
        } else {
            self.busy
        }
    }

    /// WAL commits and the frames they wrote (None: not known): the commit
    /// frames the segment counted (a WAL write lock is also taken to
    /// checkpoint at close, which the transaction ring cannot tell apart).
    pub fn wal_commits(&self) -> Option<(u64, u64)> {
        Some((self.wal_commits?, self.wal_frames?))
    }

    /// Transactions in either mode (None: not known).
    pub fn transaction_count(&self) -> Option<u64> {
        match &self.transactions {
            Some(t) => Some(t.all.round() as u64),
            None => {
                (self.count(|_, k| k == FileKind::Wal) == 0).then_some(self.rollback_transactions)
            }
        }
    }

    fn add_transactions(&mut self, ring: &[&Transaction], scale: f64) {
        let t = self.transactions.get_or_insert_with(Transactions::default);
        for x in ring {
            t.all += scale;
            if x.wrote && !x.wal {
                t.rollback_writes += scale;
                t.rollback_pages += scale * x.pages_written as f64;
            }
        }
    }

    fn add_locks(&mut self, l: &LockSnapshot) {
        self.rollback_commits += (0..LockLevel::COUNT)
            .map(|from| l.transitions[from][LockLevel::Exclusive.index()])
            .sum::<u64>();
        self.rollback_transactions += l.transition(LockLevel::None, LockLevel::Shared);
        self.busy += l.busy.iter().sum::<u64>() + l.shm_busy[0];
        self.busy_exclusive += l.busy[LockLevel::Exclusive.index()];
        self.waits_abandoned += l.waits_abandoned;
        self.waits += l.wait.count();
        self.wait_ns += l
            .wait
            .0
            .iter()
            .map(|&(b, n)| vfscope_segment::bucket_midpoint(b as usize) * n)
            .sum::<u64>();
    }

    fn add_shape(&mut self, s: &ShapeStats) {
        match s.kind {
            Some(FileKind::Wal) => {
                *self.wal_commits.get_or_insert(0) += s.wal_commits;
                *self.wal_frames.get_or_insert(0) += s.wal_frames;
                self.wal_bytes = self.wal_bytes.max(s.size_high_water);
            }
            Some(FileKind::MainDb) => self.db_bytes = self.db_bytes.max(s.size_high_water),
            _ => {}
        }
    }

    /// The longest read-mark hold in `l` (the lower edge of its highest
    /// bucket), held by `pid`.
    fn add_read_marks(&mut self, l: &LockSnapshot, pid: u32) {
        let longest = (3..vfscope_segment::ShmSlot::COUNT)
            .filter_map(|slot| l.shm_hold[slot].0.iter().map(|&(b, _)| b).max())
            .max()
            .map(|b| vfscope_segment::bucket_range(b as usize).0);
        if let Some(ns) = longest {
            if self.read_mark_hold.is_none_or(|(old, _)| ns > old) {
                self.read_mark_hold = Some((ns, pid));
            }
        }
    }

    fn process(&mut self, pid: u32, command: &str) -> &mut Process {
        let i = match self.processes.iter().position(|p| p.pid == pid) {
            Some(i) => i,
            None => {
                self.processes.push(Process {
                    pid,
                    command: command.to_string(),
                    writes: 0,
                    busy: 0,
                    busy_exclusive: 0,
                    sleeps: 0,
                });
                self.processes.len() - 1
            }
        };
        &mut self.processes[i]
    }
}

/// Temporary files: SQLite's own (sorts, temp tables, statement journals).
pub fn is_temporary(kind: FileKind) -> bool {
    matches!(
        kind,
        FileKind::TempDb | FileKind::TempJournal | FileKind::TransientDb | FileKind::Subjournal
    )
}

/// Everything recorded, by database.
#[derive(Clone, Debug, Default)]
pub struct Evidence {
    pub databases: Vec<Database>,
    /// Where it came from, for the output's first line.
    pub source: String,
    /// Whether WAL commits are known (segments count them; traces do not).
    pub from_trace: bool,
}

impl Evidence {
    fn database(&mut self, path: &str) -> &mut Database {
        let i = match self.databases.iter().position(|d| d.path == path) {
            Some(i) => i,
            None => {
                self.databases.push(Database {
                    path: path.to_string(),
                    ..Database::default()
                });
                self.databases.len() - 1
            }
        };
        &mut self.databases[i]
    }

    /// The path a call of `kind` on db `index` counts under (temporary
    /// files together, whatever database opened them).
    fn path_of(dbs: &[(u16, String)], index: u16, kind: FileKind) -> Option<String> {
        if is_temporary(kind) {
            return Some(String::new());
        }
        if index == DB_NONE || index == DB_OVERFLOW {
            return None;
        }
        dbs.iter()
            .find(|(i, _)| *i == index)
            .map(|(_, p)| p.clone())
    }

    /// From the segments of a run (one per process).
    pub fn from_segments(segments: &[Segment<'_>], source: &str) -> Evidence {
        let mut e = Evidence {
            source: source.to_string(),
            ..Evidence::default()
        };
        for segment in segments {
            let s = segment.snapshot;
            let scale = match &segment.transactions {
                Some((kept, lost)) if !kept.is_empty() => {
                    (kept.len() as f64 + *lost as f64) / kept.len() as f64
                }
                _ => 1.0,
            };
            let dbs: Vec<(u16, String)> = s.dbs.iter().map(|d| (d.index, d.path.clone())).collect();
            for c in &s.cells {
                let Some(path) = Self::path_of(&dbs, c.db, c.kind) else {
                    continue;
                };
                let db = e.database(&path);
                let entry = db.calls.entry((c.op, c.kind)).or_default();
                entry.calls += c.calls();
                entry.time_ns += c.total_ns;
                entry.bytes += c.bytes;
                db.process(s.meta.pid, &s.meta.cmdline);
            }
            let sleeps = s.calls(Op::Sleep, FileKind::None);
            for info in &s.dbs {
                let db = e.database(&info.path);
                db.page_size = db.page_size.max(info.page_size);
                if let Some(l) = s.locks.iter().find(|l| l.db == info.index) {
                    let (commits, busy) = (db.rollback_commits, db.busy);
                    db.add_locks(l);
                    let writes = db.rollback_commits - commits + l.shm_acquired[0][1];
                    let busy = db.busy - busy;
                    let p = db.process(s.meta.pid, &s.meta.cmdline);
                    p.writes += writes;
                    p.busy += busy;
                    p.busy_exclusive += l.busy[LockLevel::Exclusive.index()];
                    db.add_read_marks(l, s.meta.pid);
                }
                if db.processes.iter().any(|p| p.pid == s.meta.pid) {
                    db.process(s.meta.pid, &s.meta.cmdline).sleeps = sleeps;
                }
                for shape in s.shapes.iter().filter(|x| x.db == info.index) {
                    db.add_shape(shape);
                }
                if let Some((kept, _)) = &segment.transactions {
                    let ring: Vec<&Transaction> =
                        kept.iter().filter(|t| t.db == info.index).collect();
                    db.add_transactions(&ring, scale);
                }
            }
        }
        e.databases.retain(|d| !d.calls.is_empty());
        e
    }

    /// From a recorded trace: its calls, and lock transitions from its
    /// xLock calls. WAL commits are not in a trace (they are counted from
    /// the frames' contents), so those stay unknown.
    pub fn from_trace(trace: &Trace, source: &str) -> Evidence {
        let mut e = Evidence {
            source: source.to_string(),
            from_trace: true,
            ..Evidence::default()
        };
        let command = "recorded in the trace".to_string();
        // Lock level per thread and database.
        let mut levels: BTreeMap<(u32, u16), LockLevel> = BTreeMap::new();
        for c in &trace.calls {
            let Some(path) = Self::path_of(&trace.dbs, c.db, c.kind) else {
                continue;
            };
            let db = e.database(&path);
            let entry = db.calls.entry((c.op, c.kind)).or_default();
            entry.calls += 1;
            entry.time_ns += c.latency_ns;
            if c.rc == 0 && matches!(c.op, Op::Read | Op::Write) {
                entry.bytes += c.size as u64;
            }
            let busy = ResultClass::of_rc(c.rc) == ResultClass::Busy;
            if c.rc == 0 {
                let size = match c.op {
                    Op::Write => c.offset + c.size as u64,
                    Op::FileSize => c.offset,
                    _ => 0,
                };
                match c.kind {
                    FileKind::MainDb => db.db_bytes = db.db_bytes.max(size),
                    FileKind::Wal => db.wal_bytes = db.wal_bytes.max(size),
                    _ => {}
                }
            }
            if c.kind == FileKind::MainDb && matches!(c.op, Op::Lock | Op::Unlock) {
                let to = LockLevel::from_index(c.offset as usize).unwrap_or(LockLevel::None);
                let level = levels.entry((c.tid, c.db)).or_insert(LockLevel::None);
                if busy {
                    db.busy += 1;
                    db.busy_exclusive += (to == LockLevel::Exclusive) as u64;
                } else if c.rc == 0 {
                    if to == LockLevel::Exclusive && *level != LockLevel::Exclusive {
                        db.rollback_commits += 1;
                    }
                    if *level == LockLevel::None && to == LockLevel::Shared {
                        db.rollback_transactions += 1;
                    }
                    *level = to;
                }
            }
            if db.processes.is_empty() {
                db.process(trace.header.pid, &command);
            }
        }
        let sleeps = trace.calls.iter().filter(|c| c.op == Op::Sleep).count() as u64;
        for db in &mut e.databases {
            let (writes, busy, exclusive) = (db.rollback_commits, db.busy, db.busy_exclusive);
            let p = &mut db.processes[0];
            p.writes = writes;
            p.busy = busy;
            p.busy_exclusive = exclusive;
            p.sleeps = sleeps;
        }
        e
    }

    /// Every call's time, over the databases.
    pub fn total_ns(&self) -> u64 {
        self.databases.iter().map(Database::total_ns).sum()
    }
}
