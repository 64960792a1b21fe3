//! Owned, plain-data copies of a segment, as readers use them.

use crate::histogram::Buckets;
use crate::ids::{FileKind, LockLevel, Op, ResultClass, ShmSlot, TxnOutcome};
use crate::layout::{DB_NONE, DB_OVERFLOW};
use crate::process::ProcessMeta;

/// Everything a segment held at one moment.
#[derive(Clone, Debug)]
pub struct Snapshot {
    /// CLOCK_MONOTONIC when the snapshot was taken.
    pub taken_monotonic_ns: u64,
    pub meta: ProcessMeta,
    /// `(vfscope name, parent VFS name)` per registration.
    pub registrations: Vec<(String, String)>,
    /// The SQLite copies the process holds, reached or not.
    pub copies: Vec<crate::CopyInfo>,
    /// Latencies of the calls whose cell has no histogram of its own (the
    /// pool was full, or the cell table was), per op × kind: merged into
    /// [`Snapshot::op_totals`], so every op × kind row has percentiles.
    pub kind_latency: Vec<(Op, FileKind, Buckets)>,
    /// Databases without a named row, whose calls the overflow ("other")
    /// row sums.
    pub other_dbs: u64,
    pub latency_enabled: bool,
    pub model: ModelState,
    pub dbs: Vec<DbInfo>,
    pub cells: Vec<CellStats>,
    pub locks: Vec<LockSnapshot>,
    pub shapes: Vec<ShapeStats>,
    /// The slow-call ring, oldest first.
    pub slow: Vec<SlowCall>,
    /// Slow calls ever recorded (the ring keeps the latest ones).
    pub slow_total: u64,
    pub open_files: Vec<OpenFileInfo>,
    pub overflow: Overflow,
    /// Calls written to a trace file, and lost on the way (0 without one).
    pub trace_records: u64,
    pub trace_dropped: u64,
}

/// The latency model as the segment shows it.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ModelState {
    /// The active model's name (preset or file); `None` when off.
    pub active: Option<String>,
    pub seed: u64,
    /// Delays are only accounted, not waited.
    pub virtual_mode: bool,
    pub cache_hits: u64,
    pub cache_misses: u64,
    /// Replication lag of async commits.
    pub lag: Buckets,
    /// Requests a request-level scenario implied, by type.
    pub requests: Vec<RequestTally>,
}

/// Requests of one type a scenario implied, and their price.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct RequestTally {
    pub name: String,
    /// US dollars per 1,000 requests.
    pub price_per_1000: f64,
    pub count: u64,
}

impl RequestTally {
    /// What the requests cost at the price given, in US dollars.
    pub fn cost(&self) -> f64 {
        self.count as f64 * self.price_per_1000 / 1000.0
    }
}

/// One row of the database table.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DbInfo {
    pub index: u16,
    /// The path, or its tail when `truncated`.
    pub path: String,
    pub truncated: bool,
    /// 0 while unknown.
    pub page_size: u32,
    /// Bit `i`: SQLite copy `i` opened a file of this database.
    pub copies: u32,
}

impl DbInfo {
    /// The file name, the label exporters use.
    pub fn name(&self) -> &str {
        self.path.rsplit('/').next().unwrap_or(&self.path)
    }
}

/// Counters of one op × file kind × db.
#[derive(Clone, Debug)]
pub struct CellStats {
    pub op: Op,
    pub kind: FileKind,
    pub db: u16,
    pub results: [u64; ResultClass::COUNT],
    pub bytes: u64,
    pub total_ns: u64,
    pub max_ns: u64,
    pub last_ioerr: u32,
    /// Latency model: calls delayed, their modelled and measured latency
    /// (summed), and calls failed by injection.
    pub delayed: u64,
    pub delay_target_ns: u64,
    pub delay_actual_ns: u64,
    pub faults_injected: u64,
    /// `None` when the histogram pool was full and this cell shared the
    /// overflow histogram (its counts stay exact, its percentiles do not).
    pub latency: Option<Buckets>,
}

impl CellStats {
    /// Calls, whatever their result.
    pub fn calls(&self) -> u64 {
        self.results.iter().sum()
    }

    /// Calls whose result is an error (see [`ResultClass::is_error`]).
    pub fn errors(&self) -> u64 {
        ResultClass::ALL
            .iter()
            .filter(|c| c.is_error())
            .map(|c| self.results[c.index()])
            .sum()
    }

    /// Calls with one result class.
    pub fn result(&self, class: ResultClass) -> u64 {
        self.results[class.index()]
    }
}

/// Calls of one op × file kind summed over cells (databases) or processes.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct OpTotals {
    pub calls: u64,
    pub errors: u64,
    pub bytes: u64,
    pub time_ns: u64,
    pub max_ns: u64,
    /// Merged histograms of the cells that had their own.
    pub latency: Buckets,
    /// Latency model: see [`CellStats::delayed`].
    pub delayed: u64,
    pub delay_target_ns: u64,
    pub delay_actual_ns: u64,
    pub faults_injected: u64,
}

impl OpTotals {
    /// Adds one cell.
    pub fn add_cell(&mut self, c: &CellStats) {
        self.calls += c.calls();
        self.errors += c.errors();
        self.bytes += c.bytes;
        self.time_ns += c.total_ns;
        self.max_ns = self.max_ns.max(c.max_ns);
        self.delayed += c.delayed;
        self.delay_target_ns += c.delay_target_ns;
        self.delay_actual_ns += c.delay_actual_ns;
        self.faults_injected += c.faults_injected;
        if let Some(latency) = &c.latency {
            self.latency.merge(latency);
        }
    }

    /// Adds other totals.
    pub fn add(&mut self, o: &OpTotals) {
        self.calls += o.calls;
        self.errors += o.errors;
        self.bytes += o.bytes;
        self.time_ns += o.time_ns;
        self.max_ns = self.max_ns.max(o.max_ns);
        self.latency.merge(&o.latency);
        self.delayed += o.delayed;
        self.delay_target_ns += o.delay_target_ns;
        self.delay_actual_ns += o.delay_actual_ns;
        self.faults_injected += o.faults_injected;
    }
}

/// Lock activity of one database's files.
#[derive(Clone, Debug, Default)]
pub struct LockSnapshot {
    pub db: u16,
    /// `transitions[from][to]`.
    pub transitions: [[u64; LockLevel::COUNT]; LockLevel::COUNT],
    pub busy: [u64; LockLevel::COUNT],
    pub closed_holding: [u64; LockLevel::COUNT],
    pub waits_abandoned: u64,
    pub hold: [Buckets; LockLevel::COUNT],
    pub wait: Buckets,
    /// `shm_acquired[slot] = [shared, exclusive]`.
    pub shm_acquired: [[u64; 2]; ShmSlot::COUNT],
    pub shm_busy: [u64; ShmSlot::COUNT],
    pub shm_hold: [Buckets; ShmSlot::COUNT],
}

impl LockSnapshot {
    /// Adds another database's lock activity to this one (db stays).
    pub fn add(&mut self, l: &LockSnapshot) {
        for (from, row) in l.transitions.iter().enumerate() {
            for (to, n) in row.iter().enumerate() {
                self.transitions[from][to] += n;
            }
        }
        for i in 0..LockLevel::COUNT {
            self.busy[i] += l.busy[i];
            self.closed_holding[i] += l.closed_holding[i];
            self.hold[i].merge(&l.hold[i]);
        }
        self.waits_abandoned += l.waits_abandoned;
        self.wait.merge(&l.wait);
        for s in 0..ShmSlot::COUNT {
            self.shm_acquired[s][0] += l.shm_acquired[s][0];
            self.shm_acquired[s][1] += l.shm_acquired[s][1];
            self.shm_busy[s] += l.shm_busy[s];
            self.shm_hold[s].merge(&l.shm_hold[s]);
        }
    }

    /// Transitions from one level to another.
    pub fn transition(&self, from: LockLevel, to: LockLevel) -> u64 {
        self.transitions[from.index()][to.index()]
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.transitions.iter().flatten().all(|&n| n == 0)
            && self.busy.iter().all(|&n| n == 0)
            && self.shm_acquired.iter().flatten().all(|&n| n == 0)
            && self.shm_busy.iter().all(|&n| n == 0)
    }
}

/// The shape of the I/O on one file kind of one database (see
/// [`crate::layout::Shape`] for each counter's meaning).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ShapeStats {
    pub kind: Option<FileKind>,
    pub db: u16,
    pub opens: u64,
    pub closes: u64,
    pub writes_append: u64,
    pub writes_sequential: u64,
    pub writes_random: u64,
    pub reads_sequential: u64,
    pub reads_random: u64,
    pub unaligned_page: u64,
    pub unaligned_block: u64,
    pub block_bytes_written: u64,
    pub block_bytes_read: u64,
    pub wal_frames: u64,
    pub wal_commits: u64,
    pub wal_frame_bytes: u64,
    pub fetch_mapped: u64,
    /// The largest size a file of this kind and database reached, bytes
    /// (0: unknown, or a segment older than this field).
    pub size_high_water: u64,
}

impl ShapeStats {
    /// Adds another row's counters to this one (kind and db stay).
    pub fn add(&mut self, s: &ShapeStats) {
        self.opens += s.opens;
        self.closes += s.closes;
        self.writes_append += s.writes_append;
        self.writes_sequential += s.writes_sequential;
        self.writes_random += s.writes_random;
        self.reads_sequential += s.reads_sequential;
        self.reads_random += s.reads_random;
        self.unaligned_page += s.unaligned_page;
        self.unaligned_block += s.unaligned_block;
        self.block_bytes_written += s.block_bytes_written;
        self.block_bytes_read += s.block_bytes_read;
        self.wal_frames += s.wal_frames;
        self.wal_commits += s.wal_commits;
        self.wal_frame_bytes += s.wal_frame_bytes;
        self.fetch_mapped += s.fetch_mapped;
        self.size_high_water = self.size_high_water.max(s.size_high_water);
    }

    /// Files of this kind open now.
    pub fn open_now(&self) -> u64 {
        self.opens.saturating_sub(self.closes)
    }
}

/// One entry of the slow-call ring.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SlowCall {
    pub op: Op,
    pub kind: FileKind,
    pub db: u16,
    /// CLOCK_MONOTONIC at the start of the call.
    pub start_ns: u64,
    pub latency_ns: u64,
    pub offset: u64,
    pub size: u32,
    pub rc: i32,
    /// The calling thread (Linux tid).
    pub tid: u32,
    /// The transaction (see [`Transaction::id`]) open on the calling thread,
    /// 0 for none.
    pub txn: u64,
}

/// One transaction as the shim sees it: in rollback-journal mode from the
/// first lock above NONE on the database file back to NONE; in WAL mode
/// while a WAL-index read lock is held (the database file keeps SHARED for
/// the life of the connection there).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Transaction {
    /// Process-unique, from 1.
    pub id: u64,
    pub db: u16,
    pub tid: u32,
    /// CLOCK_MONOTONIC at the start (the first BUSY if it had to wait).
    pub start_ns: u64,
    pub duration_ns: u64,
    /// The highest lock level the database file reached.
    pub max_lock: LockLevel,
    /// A write lock was held (RESERVED or above, or the WAL write lock).
    pub wrote: bool,
    pub wal: bool,
    pub outcome: TxnOutcome,
    /// Reads of database pages (database file and WAL frames).
    pub pages_read: u32,
    /// Database pages written (database file and WAL frames).
    pub pages_written: u32,
    pub syncs: u32,
    /// Bytes over all files of the transaction (database, journal, WAL).
    pub bytes_read: u64,
    pub bytes_written: u64,
    pub lock_wait_ns: u64,
    pub injected_ns: u64,
}

/// Entries of a ring read after a cursor.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RingRead<T> {
    pub entries: Vec<T>,
    /// The cursor to pass next time.
    pub next: u64,
    /// Entries after the old cursor that were overwritten before this read.
    pub lost: u64,
}

impl<T> Default for RingRead<T> {
    fn default() -> Self {
        RingRead {
            entries: Vec::new(),
            next: 0,
            lost: 0,
        }
    }
}

/// A file open at snapshot time.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OpenFileInfo {
    pub kind: FileKind,
    pub db: u16,
    pub lock_level: LockLevel,
    /// WAL-index slots held shared (bit = [`ShmSlot`] index).
    pub shm_shared: u8,
    pub shm_exclusive: u8,
    pub level_since_ns: u64,
    pub opened_ns: u64,
}

/// How often bounded tables were full.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Overflow {
    pub dbs: u64,
    pub cells: u64,
    pub hists: u64,
    pub open_files: u64,
    pub faults: u64,
}

impl Snapshot {
    /// The label of a db index: the file name, `(other)` (the databases
    /// without a named row) or `(none)`.
    pub fn db_label(&self, db: u16) -> String {
        match db {
            DB_OVERFLOW => "(other)".to_string(),
            DB_NONE => "(none)".to_string(),
            _ => self
                .dbs
                .iter()
                .find(|d| d.index == db)
                .map(|d| d.name().to_string())
                .unwrap_or_else(|| format!("(db {db})")),
        }
    }

    /// Cells summed per op × file kind, keeping the cells `keep` accepts
    /// (given op, kind and database label).
    pub fn op_totals(
        &self,
        keep: impl Fn(Op, FileKind, &str) -> bool,
    ) -> std::collections::BTreeMap<(Op, FileKind), OpTotals> {
        let mut out = std::collections::BTreeMap::<(Op, FileKind), OpTotals>::new();
        let mut without_hist = Vec::new();
        for c in &self.cells {
            if keep(c.op, c.kind, &self.db_label(c.db)) {
                out.entry((c.op, c.kind)).or_default().add_cell(c);
                if c.latency.is_none() {
                    without_hist.push((c.op, c.kind));
                }
            }
        }
        // A kept cell without its own histogram: its op × kind's fallback
        // histogram holds its latencies (with those of the other such cells
        // of that op × kind, kept or not: exact when nothing is filtered).
        for (op, kind, latency) in &self.kind_latency {
            if without_hist.contains(&(*op, *kind)) {
                if let Some(totals) = out.get_mut(&(*op, *kind)) {
                    totals.latency.merge(latency);
                }
            }
        }
        out
    }

    /// The counters of one op × kind summed over databases.
    pub fn calls(&self, op: Op, kind: FileKind) -> u64 {
        self.cells
            .iter()
            .filter(|c| c.op == op && c.kind == kind)
            .map(CellStats::calls)
            .sum()
    }

    /// Shape counters of one kind summed over databases.
    pub fn shape(&self, kind: FileKind) -> ShapeStats {
        let mut total = ShapeStats {
            kind: Some(kind),
            ..ShapeStats::default()
        };
        for s in self.shapes.iter().filter(|s| s.kind == Some(kind)) {
            total.add(s);
        }
        total
    }

    /// Lock activity summed over databases.
    pub fn locks_total(&self) -> LockSnapshot {
        let mut total = LockSnapshot::default();
        for l in &self.locks {
            total.add(l);
        }
        total
    }
}
