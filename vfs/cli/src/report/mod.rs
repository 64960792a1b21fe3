//! The report `vfscope run`, `vfscope report` and the demo print: every
//! segment of a run (all processes, forked children too) summed into one
//! picture, rendered as text (`text.rs`) or JSON (`json.rs`).
//!
//! Decided (issue 28): the report's model stays in the CLI. What vfstop,
//! the exporter and the report share is the data model under them, the
//! segment's [`Snapshot`] (op totals, latency buckets, lock and shape
//! statistics, copies, the model's state); each builds its own view from
//! it: vfstop rates over time per process, the exporter metric families,
//! the report sums over a run's processes. Only the CLI renders this view.

pub mod json;
pub mod text;

use std::path::PathBuf;
use vfscope_segment::{
    CopyInfo, CopyStatus, FileKind, Liveness, LockSnapshot, Op, OpTotals, Overflow, ShapeStats,
    SlowCall, Snapshot,
};

/// One process that recorded.
pub struct Process {
    pub pid: u32,
    pub command: String,
    pub sqlite_version: String,
    pub state: Liveness,
    /// `(vfscope VFS, parent VFS)`.
    pub vfs: Vec<(String, String)>,
    /// The SQLite copies in the process, reached or not.
    pub copies: Vec<CopyInfo>,
    pub model: vfscope_segment::ModelState,
}

/// One op on one file kind, summed over databases and processes.
pub struct OpRow {
    pub op: Op,
    pub kind: FileKind,
    pub totals: OpTotals,
}

impl OpRow {
    /// A latency quantile, never above the largest value seen (a bucket's
    /// midpoint can be).
    pub fn quantile(&self, q: f64) -> Option<u64> {
        let h = self.totals.latency.to_hdr();
        (!h.is_empty()).then(|| h.value_at_quantile(q).min(self.totals.max_ns))
    }
}

/// One database, summed over processes.
pub struct DbRow {
    pub name: String,
    pub path: String,
    pub calls: u64,
    pub total_ns: u64,
    pub bytes_read: u64,
    pub bytes_written: u64,
    /// Versions of the SQLite copies that opened it.
    pub sqlite: Vec<String>,
}

impl DbRow {
    fn add(&mut self, cell: &vfscope_segment::CellStats) {
        self.calls += cell.calls();
        self.total_ns += cell.total_ns;
        match cell.op {
            Op::Read | Op::Fetch => self.bytes_read += cell.bytes,
            Op::Write => self.bytes_written += cell.bytes,
            _ => {}
        }
    }
}

/// A slow call and where it happened.
pub struct Slow {
    pub pid: u32,
    pub db: String,
    pub call: SlowCall,
}

/// Everything a report shows.
pub struct Report {
    pub processes: Vec<Process>,
    pub operations: Vec<OpRow>,
    pub locks: LockSnapshot,
    pub databases: Vec<DbRow>,
    /// The databases without a named row, summed; `other_dbs` of them.
    pub other: DbRow,
    pub other_dbs: u64,
    pub shapes: Vec<ShapeStats>,
    pub slowest: Vec<Slow>,
    pub slow_total: u64,
    pub slow_threshold_ns: u64,
    pub block_size: u64,
    pub overflow: Overflow,
    /// Calls written to trace files (`--record`), and dropped on the way.
    pub trace_records: u64,
    pub trace_dropped: u64,
    /// Segments that could not be read, with why.
    pub unreadable: Vec<(PathBuf, String)>,
}

impl Report {
    /// Sums the snapshots of a run.
    pub fn new(snapshots: &[(Snapshot, Liveness)], unreadable: Vec<(PathBuf, String)>) -> Report {
        let mut report = Report {
            processes: Vec::new(),
            operations: Vec::new(),
            locks: LockSnapshot::default(),
            databases: Vec::new(),
            other: DbRow {
                name: "(other)".into(),
                path: String::new(),
                calls: 0,
                total_ns: 0,
                bytes_read: 0,
                bytes_written: 0,
                sqlite: Vec::new(),
            },
            other_dbs: 0,
            shapes: Vec::new(),
            slowest: Vec::new(),
            slow_total: 0,
            slow_threshold_ns: 0,
            block_size: 4096,
            overflow: Overflow::default(),
            trace_records: 0,
            trace_dropped: 0,
            unreadable,
        };
        for (snapshot, state) in snapshots {
            report.add(snapshot, *state);
        }
        report
            .operations
            .sort_by_key(|r| std::cmp::Reverse(r.totals.time_ns));
        report
            .databases
            .sort_by_key(|d| std::cmp::Reverse(d.total_ns));
        report
            .slowest
            .sort_by_key(|s| std::cmp::Reverse(s.call.latency_ns));
        report.slowest.truncate(10);
        report
    }

    fn add(&mut self, s: &Snapshot, state: Liveness) {
        self.processes.push(Process {
            pid: s.meta.pid,
            command: s.meta.cmdline.clone(),
            sqlite_version: s.meta.sqlite_version.clone(),
            state,
            vfs: s.registrations.clone(),
            copies: s.copies.clone(),
            model: s.model.clone(),
        });
        self.slow_threshold_ns = s.meta.slow_threshold_ns;
        self.block_size = s.meta.block_size;
        for ((op, kind), totals) in s.op_totals(|_, _, _| true) {
            match self
                .operations
                .iter_mut()
                .find(|r| r.op == op && r.kind == kind)
            {
                Some(row) => row.totals.add(&totals),
                None => self.operations.push(OpRow { op, kind, totals }),
            }
        }
        for cell in &s.cells {
            self.add_db_call(s, cell);
        }
        self.other_dbs += s.other_dbs;
        self.locks.add(&s.locks_total());
        for kind in FileKind::ALL {
            let shape = s.shape(*kind);
            if shape
                == (ShapeStats {
                    kind: Some(*kind),
                    ..Default::default()
                })
            {
                continue;
            }
            match self.shapes.iter_mut().find(|x| x.kind == Some(*kind)) {
                Some(total) => total.add(&shape),
                None => self.shapes.push(shape),
            }
        }
        self.slow_total += s.slow_total;
        self.slowest.extend(s.slow.iter().map(|call| Slow {
            pid: s.meta.pid,
            db: s.db_label(call.db),
            call: call.clone(),
        }));
        let o = &s.overflow;
        self.overflow.dbs += o.dbs;
        self.overflow.cells += o.cells;
        self.overflow.hists += o.hists;
        self.overflow.open_files += o.open_files;
        self.overflow.faults += o.faults;
        self.trace_records += s.trace_records;
        self.trace_dropped += s.trace_dropped;
    }

    fn add_db_call(&mut self, s: &Snapshot, cell: &vfscope_segment::CellStats) {
        if cell.db == vfscope_segment::DB_OVERFLOW {
            self.other.add(cell);
            return;
        }
        let Some(info) = s.dbs.iter().find(|d| d.index == cell.db) else {
            return;
        };
        let row = match self.databases.iter().position(|d| d.path == info.path) {
            Some(i) => &mut self.databases[i],
            None => {
                self.databases.push(DbRow {
                    name: info.name().to_string(),
                    path: info.path.clone(),
                    calls: 0,
                    total_ns: 0,
                    bytes_read: 0,
                    bytes_written: 0,
                    sqlite: Vec::new(),
                });
                self.databases.last_mut().expect("just pushed")
            }
        };
        for copy in s
            .copies
            .iter()
            .filter(|c| info.copies & (1 << c.index) != 0)
        {
            if !row.sqlite.contains(&copy.version) {
                row.sqlite.push(copy.version.clone());
            }
        }
        row.add(cell);
    }

    /// All traced calls.
    pub fn calls(&self) -> u64 {
        self.operations.iter().map(|r| r.totals.calls).sum()
    }

    /// Time spent in the VFS, summed.
    pub fn total_ns(&self) -> u64 {
        self.operations.iter().map(|r| r.totals.time_ns).sum()
    }

    /// One line per SQLite copy that vfscope found but could not reach.
    pub fn copy_notes(&self) -> Vec<String> {
        self.processes
            .iter()
            .flat_map(|p| {
                p.copies
                    .iter()
                    .filter(|c| c.status == CopyStatus::Unreachable)
                    .map(move |c| {
                        format!(
                            "pid {}: SQLite {}in {} is not traced: {}",
                            p.pid,
                            if c.version.is_empty() {
                                String::new()
                            } else {
                                format!("{} ", c.version)
                            },
                            c.object,
                            c.note
                        )
                    })
            })
            .collect()
    }

    /// Why the report is empty, if it is, and what to try.
    pub fn empty_note(&self) -> Option<String> {
        let opened: u64 = self
            .operations
            .iter()
            .filter(|r| r.op == Op::Open)
            .map(|r| r.totals.calls)
            .sum();
        if opened > 0 {
            return None;
        }
        Some(if self.processes.is_empty() {
            "no SQLite connection was seen: no process opened a database, and vfscope \
             found no SQLite in the programs it ran (none in their symbol tables or \
             read-only data). If the program reaches SQLite some other way, load \
             libvfscope as a SQLite extension (.load /path/to/libvfscope), or use library \
             mode."
                .to_string()
        } else if !self.copy_notes().is_empty() {
            "no database file was opened through vfscope: the SQLite copies it found \
             cannot be reached (see the notes)"
                .to_string()
        } else {
            "vfscope was loaded but no database file was opened through it".to_string()
        })
    }
}
