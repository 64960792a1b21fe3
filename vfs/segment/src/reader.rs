//! Mapping a segment read-only and copying it into a [`Snapshot`].
//!
//! The reader never stops or slows the writer: it loads the same atomics the
//! writer increments. Result counts are loaded first with acquire ordering,
//! so every call a snapshot counts has its latency and bytes in it too (a
//! histogram may hold a few calls more, from calls finishing meanwhile).
//! Indices read from the file are bounds-checked: a damaged segment yields
//! less data, never a panic.

use crate::dir::euid;
use crate::error::{Error, ErrorKind, Result};
use crate::histogram::{Buckets, BUCKETS};
use crate::ids::{FileKind, LockLevel, Op, TxnOutcome};
use crate::layout::*;
use crate::process::{monotonic_ns, ProcessMeta};
use crate::record::{load_words, DB_READY};
use crate::snapshot::*;
use memmap2::Mmap;
use std::fs::{File, OpenOptions};
use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
use std::os::unix::io::AsRawFd;
use std::path::{Path, PathBuf};
use std::sync::atomic::{fence, AtomicU32, AtomicU64, Ordering::*};

/// Whether the process behind a segment still runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Liveness {
    /// The writer holds its lock.
    Running,
    /// The writer ran its exit handlers.
    Exited,
    /// The writer is gone without exiting normally (killed, crashed).
    Dead,
}

impl Liveness {
    /// A lowercase word for display.
    pub fn name(self) -> &'static str {
        match self {
            Liveness::Running => "running",
            Liveness::Exited => "exited",
            Liveness::Dead => "dead",
        }
    }
}

/// A segment mapped read-only.
pub struct SegmentReader {
    map: Mmap,
    file: File,
    path: PathBuf,
}

impl SegmentReader {
    /// Opens and validates a segment: a regular file (not a symlink) of this
    /// user, with vfscope's magic, this layout version and its full size.
    pub fn open(path: &Path) -> Result<Self> {
        let file = OpenOptions::new()
            .read(true)
            .custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC | libc::O_NONBLOCK)
            .open(path)
            .map_err(|e| Error::io("cannot open segment", path, e))?;
        let meta = file
            .metadata()
            .map_err(|e| Error::io("cannot inspect segment", path, e))?;
        if !meta.is_file() {
            return Err(Error::new(
                ErrorKind::Foreign,
                format!("{} is not a regular file", path.display()),
            ));
        }
        if meta.uid() != euid() {
            return Err(Error::new(
                ErrorKind::NotOwned,
                format!(
                    "{} belongs to uid {}, not to this user",
                    path.display(),
                    meta.uid()
                ),
            ));
        }
        let header_size = std::mem::size_of::<Header>() as u64;
        if meta.len() < 16 {
            return Err(Error::new(
                ErrorKind::Truncated,
                format!(
                    "{} is {} bytes, too short for a segment",
                    path.display(),
                    meta.len()
                ),
            ));
        }
        // SAFETY: read-only shared mapping of a file we own. A writer never
        // shrinks its segment; a file shrunk by someone else after this check
        // is outside what vfscope defends against (it would raise SIGBUS).
        let map =
            unsafe { Mmap::map(&file) }.map_err(|e| Error::io("cannot map segment", path, e))?;
        if map[..8] != MAGIC {
            return Err(Error::new(
                ErrorKind::Foreign,
                format!("{} is not a vfscope segment (bad magic)", path.display()),
            ));
        }
        let version = u32::from_le_bytes(map[8..12].try_into().expect("4 bytes"));
        if version != LAYOUT_VERSION {
            return Err(Error::new(
                ErrorKind::WrongVersion,
                format!(
                    "{} has segment layout version {version}; this build reads version {LAYOUT_VERSION}",
                    path.display()
                ),
            ));
        }
        if meta.len() < header_size || (map.len() as u64) < SEGMENT_SIZE as u64 {
            return Err(Error::new(
                ErrorKind::Truncated,
                format!(
                    "{} is truncated: {} bytes, a version {LAYOUT_VERSION} segment has {SEGMENT_SIZE}",
                    path.display(),
                    meta.len()
                ),
            ));
        }
        Ok(SegmentReader {
            map,
            file,
            path: path.to_path_buf(),
        })
    }

    pub(crate) fn layout(&self) -> &Layout {
        // SAFETY: `open` checked the mapping holds at least SEGMENT_SIZE bytes;
        // it is page-aligned; Layout is integers, byte arrays and atomics,
        // valid for any bytes; only loads are done (atomic loads of read-only
        // memory are sound at these widths).
        unsafe { &*(self.map.as_ptr() as *const Layout) }
    }

    /// The file this reader maps.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The writer's pid.
    pub fn pid(&self) -> u32 {
        self.layout().header.pid
    }

    /// Whether the writer runs, exited, or died.
    pub fn liveness(&self) -> Liveness {
        if self.layout().header.state.load(Acquire) == STATE_EXITED {
            return Liveness::Exited;
        }
        let fd = self.file.as_raw_fd();
        // SAFETY: flock on a descriptor we own; no memory is involved.
        if unsafe { libc::flock(fd, libc::LOCK_SH | libc::LOCK_NB) } == 0 {
            // SAFETY: as above; releases the probe lock just taken.
            unsafe { libc::flock(fd, libc::LOCK_UN) };
            Liveness::Dead
        } else {
            Liveness::Running
        }
    }

    /// Removes the segment file if its writer is gone. Returns whether it
    /// was removed.
    pub fn remove_if_gone(&self) -> Result<bool> {
        if self.liveness() == Liveness::Running {
            return Ok(false);
        }
        std::fs::remove_file(&self.path)
            .map_err(|e| Error::io("cannot remove segment", &self.path, e))?;
        Ok(true)
    }

    /// The writer's identity and settings.
    pub fn meta(&self) -> ProcessMeta {
        let h = &self.layout().header;
        let text = |bytes: &[u8], len: u32| {
            String::from_utf8_lossy(&bytes[..(len as usize).min(bytes.len())]).into_owned()
        };
        ProcessMeta {
            pid: h.pid,
            uid: h.uid,
            proc_start_ticks: h.proc_start_ticks,
            start_realtime_ns: h.start_realtime_ns,
            start_monotonic_ns: h.start_monotonic_ns,
            cmdline: text(&h.cmdline, h.cmdline_len),
            sqlite_version: text(&h.sqlite_version, h.sqlite_version_len),
            slow_threshold_ns: h.slow_threshold_ns,
            block_size: h.block_size,
        }
    }

    /// Copies the segment's current contents.
    /// Slow calls recorded since `cursor` (0 for all still in the ring).
    pub fn slow_since(&self, cursor: u64) -> RingRead<SlowCall> {
        slow_calls(self.layout(), cursor)
    }

    /// Transactions finished since `cursor` (0 for all still in the ring).
    pub fn transactions_since(&self, cursor: u64) -> RingRead<Transaction> {
        transactions(self.layout(), cursor)
    }

    pub fn snapshot(&self) -> Snapshot {
        let l = self.layout();
        let h = &l.header;
        let cells = cells(l);
        let dbs = dbs(l);
        Snapshot {
            taken_monotonic_ns: monotonic_ns(),
            meta: self.meta(),
            registrations: registrations(l),
            copies: crate::copies::with_calls(l.copies(), &dbs, &cells),
            kind_latency: kind_latency(l, &cells),
            other_dbs: h.other_dbs.load(Relaxed),
            latency_enabled: l.control.latency_enabled.load(Relaxed) != 0,
            model: ModelState {
                active: l.active_model(),
                seed: l.control.seed.load(Relaxed),
                virtual_mode: l.control.mode.load(Relaxed) == 2,
                cache_hits: l.control.cache_hits.load(Relaxed),
                cache_misses: l.control.cache_misses.load(Relaxed),
                lag: buckets(l, &l.control.lag_hist).unwrap_or_default(),
                requests: l.request_counts(),
            },
            dbs,
            locks: locks(l),
            shapes: shapes(l, &cells),
            cells,
            slow: slow_calls(l, 0).entries,
            slow_total: l.slow_head.load(Acquire),
            open_files: open_files(l),
            overflow: Overflow {
                dbs: h.db_overflow.load(Relaxed),
                cells: h.cell_overflow.load(Relaxed),
                hists: h.hist_overflow.load(Relaxed),
                open_files: h.open_file_overflow.load(Relaxed),
                faults: h.faults.load(Relaxed),
            },
            trace_records: h.trace_records.load(Relaxed),
            trace_dropped: h.trace_dropped.load(Relaxed),
        }
    }
}

fn registrations(l: &Layout) -> Vec<(String, String)> {
    let n = (l.header.registrations.load(Acquire) as usize).min(MAX_REGISTRATIONS);
    l.header.vfs_names[..n]
        .iter()
        .map(|words| {
            let bytes = load_words(words, VFS_NAME_BYTES * 2);
            let field = |b: &[u8]| {
                let end = b.iter().position(|&c| c == 0).unwrap_or(b.len());
                String::from_utf8_lossy(&b[..end]).into_owned()
            };
            (
                field(&bytes[..VFS_NAME_BYTES]),
                field(&bytes[VFS_NAME_BYTES..]),
            )
        })
        .collect()
}

fn dbs(l: &Layout) -> Vec<DbInfo> {
    (0..MAX_DBS as u16).filter_map(|i| l.db_info(i)).collect()
}

impl Layout {
    /// Row `index` of the database table, once it is written.
    pub fn db_info(&self, index: u16) -> Option<DbInfo> {
        let e = self.dbs.get(index as usize)?;
        if e.state.load(Acquire) != DB_READY {
            return None;
        }
        let len = e.path_len.load(Relaxed) as usize;
        let kept = len.min(DB_PATH_BYTES);
        Some(DbInfo {
            index,
            path: String::from_utf8_lossy(&load_words(&e.path, kept)).into_owned(),
            truncated: len > DB_PATH_BYTES,
            page_size: e.page_size.load(Relaxed),
            copies: e.copies.load(Relaxed),
        })
    }
}

/// A histogram ref's buckets: `None` for the shared overflow histogram.
fn buckets(l: &Layout, slot: &AtomicU32) -> Option<Buckets> {
    match slot.load(Acquire) {
        0 => Some(Buckets::default()),
        v if (v as usize) < MAX_HISTS => Some(hist_buckets(&l.hists[v as usize])),
        _ => None,
    }
}

/// A histogram's non-empty buckets, reading only its touched ranges.
fn hist_buckets(hist: &Hist) -> Buckets {
    let touched = hist.touched.load(Acquire);
    let mut out = Vec::new();
    for chunk in 0..BUCKETS.div_ceil(TOUCH_CHUNK) {
        if touched & 1 << chunk == 0 {
            continue;
        }
        let start = chunk * TOUCH_CHUNK;
        let end = (start + TOUCH_CHUNK).min(BUCKETS);
        for (i, c) in hist.counts[start..end].iter().enumerate() {
            let n = c.load(Relaxed);
            if n != 0 {
                out.push(((start + i) as u16, n));
            }
        }
    }
    Buckets(out)
}

fn cells(l: &Layout) -> Vec<CellStats> {
    let mut out = Vec::new();
    for (index, cell) in l.cells.iter().enumerate().skip(1) {
        let Some((op, kind, db)) = crate::layout::unpack_key(cell.key.load(Acquire)) else {
            continue;
        };
        let Some(op) = Op::from_index(op as usize) else {
            continue;
        };
        // Orphans (a lost claim race) are not in the directory; skip them.
        if l.directory[directory_index(op, kind, db)].load(Acquire) as usize != index {
            continue;
        }
        out.push(cell_stats(l, cell, op, kind, db));
    }
    // The op × kind fallback cells (cell table full): their calls count
    // for the "other" database row. Their latencies are in the op × kind
    // histograms (see `kind_latency`).
    for op in Op::ALL {
        for kind in FileKind::ALL {
            let cell = &l.kind_cells[kind_index(*op, *kind)];
            if cell.results.iter().any(|r| r.load(Relaxed) != 0) {
                let mut stats = cell_stats(l, cell, *op, *kind, DB_OVERFLOW);
                stats.latency = None;
                out.push(stats);
            }
        }
    }
    out
}

/// The op × kind histograms of the calls that cells without a histogram of
/// their own recorded, for the op × kinds that have such cells.
fn kind_latency(l: &Layout, cells: &[CellStats]) -> Vec<(Op, FileKind, Buckets)> {
    let mut wanted: Vec<(Op, FileKind)> = cells
        .iter()
        .filter(|c| c.latency.is_none())
        .map(|c| (c.op, c.kind))
        .collect();
    wanted.sort();
    wanted.dedup();
    wanted
        .into_iter()
        .map(|(op, kind)| {
            (
                op,
                kind,
                hist_buckets(&l.hists[KIND_HISTS + kind_index(op, kind)]),
            )
        })
        .collect()
}

fn cell_stats(l: &Layout, cell: &Cell, op: Op, kind: FileKind, db: u16) -> CellStats {
    let results = cell.results.each_ref().map(|r| r.load(Acquire));
    fence(Acquire);
    CellStats {
        op,
        kind,
        db,
        results,
        bytes: cell.bytes.load(Relaxed),
        total_ns: cell.total_ns.load(Relaxed),
        max_ns: cell.max_ns.load(Relaxed),
        last_ioerr: cell.last_ioerr.load(Relaxed),
        delayed: cell.delayed.load(Relaxed) as u64,
        delay_target_ns: cell.delay_target_ns.load(Relaxed),
        delay_actual_ns: cell.delay_actual_ns.load(Relaxed),
        faults_injected: cell.faults_injected.load(Relaxed) as u64,
        latency: buckets(l, &cell.hist),
    }
}

fn load_all<const N: usize>(a: &[AtomicU64; N]) -> [u64; N] {
    a.each_ref().map(|x| x.load(Relaxed))
}

fn locks(l: &Layout) -> Vec<LockSnapshot> {
    let hist = |slot: &AtomicU32| buckets(l, slot).unwrap_or_default();
    l.locks
        .iter()
        .enumerate()
        .map(|(db, s)| LockSnapshot {
            db: db as u16,
            transitions: s.transitions.each_ref().map(load_all),
            busy: load_all(&s.busy),
            closed_holding: load_all(&s.closed_holding),
            waits_abandoned: s.waits_abandoned.load(Relaxed),
            hold: s.hold_hist.each_ref().map(hist),
            wait: hist(&s.wait_hist),
            shm_acquired: s.shm_acquired.each_ref().map(load_all),
            shm_busy: load_all(&s.shm_busy),
            shm_hold: s.shm_hold_hist.each_ref().map(hist),
        })
        .filter(|s| !s.is_empty())
        .collect()
}

/// Shapes, with the counts the writer leaves implicit filled in from the
/// cells: sequential = successful calls − append − random, block bytes =
/// bytes + extra.
fn shapes(l: &Layout, cells: &[CellStats]) -> Vec<ShapeStats> {
    let mut out = Vec::new();
    for (kind, row) in l.shapes.iter().enumerate() {
        for (db, s) in row.iter().enumerate() {
            let n = |a: &AtomicU64| a.load(Relaxed);
            let cell = |op: Op| {
                cells
                    .iter()
                    .find(|c| c.op == op && c.kind.index() == kind && c.db as usize == db)
                    .map_or((0, 0), |c| (c.result(crate::ids::ResultClass::Ok), c.bytes))
            };
            let (reads, read_bytes) = cell(Op::Read);
            let (writes, written) = cell(Op::Write);
            let (append, random_writes, random_reads) =
                (n(&s.writes_append), n(&s.writes_random), n(&s.reads_random));
            let stats = ShapeStats {
                kind: FileKind::from_index(kind),
                db: db as u16,
                opens: n(&s.opens),
                closes: n(&s.closes),
                writes_append: append,
                writes_sequential: writes.saturating_sub(append + random_writes),
                writes_random: random_writes,
                reads_sequential: reads.saturating_sub(random_reads),
                reads_random: random_reads,
                unaligned_page: n(&s.unaligned_page),
                unaligned_block: n(&s.unaligned_block),
                block_bytes_written: written + n(&s.block_extra_written),
                block_bytes_read: read_bytes + n(&s.block_extra_read),
                wal_frames: n(&s.wal_frames),
                wal_commits: n(&s.wal_commits),
                wal_frame_bytes: n(&s.wal_frame_bytes),
                fetch_mapped: n(&s.fetch_mapped),
                size_high_water: n(&s.size_high_water),
            };
            if stats
                != (ShapeStats {
                    kind: stats.kind,
                    db: stats.db,
                    ..Default::default()
                })
            {
                out.push(stats);
            }
        }
    }
    out
}

/// A ring entry guarded by a sequence number: `2n + 1` while entry `n` is
/// being written, `2n + 2` once it is complete.
trait Guarded {
    fn seq(&self) -> &AtomicU64;
}

impl Guarded for SlowEntry {
    fn seq(&self) -> &AtomicU64 {
        &self.seq
    }
}

impl Guarded for TxnEntry {
    fn seq(&self) -> &AtomicU64 {
        &self.seq
    }
}

/// Reads the entries numbered `since..head` still in `ring`. `read` loads
/// an entry's fields; it is kept only if the sequence number did not change
/// meanwhile. An entry whose writer has not finished it ends the read
/// there (`next` points at it, so the next read takes it); one already
/// overwritten by a later lap, or changed while read, is lost.
fn read_ring<E: Guarded, T>(
    head: &AtomicU64,
    ring: &[E],
    since: u64,
    read: impl Fn(&E) -> Option<T>,
) -> RingRead<T> {
    let head = head.load(Acquire);
    let len = ring.len() as u64;
    let first = since.max(head.saturating_sub(len)).min(head);
    let mut out = RingRead {
        entries: Vec::new(),
        next: head,
        lost: first.saturating_sub(since),
    };
    for n in first..head {
        let entry = &ring[(n % len) as usize];
        let seq = entry.seq().load(Acquire);
        if seq < 2 * n + 2 {
            // Claimed (head moved past it) but not yet complete.
            out.next = n;
            break;
        }
        let value = if seq == 2 * n + 2 { read(entry) } else { None };
        fence(Acquire);
        match value.filter(|_| entry.seq().load(Relaxed) == seq) {
            Some(value) => out.entries.push(value),
            None => out.lost += 1,
        }
    }
    out
}

/// Slow calls numbered `since` and later.
fn slow_calls(l: &Layout, since: u64) -> RingRead<SlowCall> {
    read_ring(&l.slow_head, &l.slow, since, |e| {
        let (op, kind, db) = unpack_key(e.key.load(Relaxed))?;
        Some(SlowCall {
            op: Op::from_index(op as usize)?,
            kind,
            db,
            start_ns: e.start_ns.load(Relaxed),
            latency_ns: e.latency_ns.load(Relaxed),
            offset: e.offset.load(Relaxed),
            size: e.size.load(Relaxed),
            rc: e.rc.load(Relaxed) as i32,
            tid: e.tid.load(Relaxed),
            txn: e.txn.load(Relaxed),
        })
    })
}

/// Transactions numbered `since` and later.
fn transactions(l: &Layout, since: u64) -> RingRead<Transaction> {
    read_ring(&l.txn_head, &l.txns, since, |e| {
        let key = e.key.load(Relaxed);
        let flags = e.flags.load(Relaxed);
        let db = (key & 0xffff) as u16;
        Some(Transaction {
            id: e.id.load(Relaxed),
            db: ((db as usize) < DB_SLOTS).then_some(db)?,
            tid: e.tid.load(Relaxed),
            start_ns: e.start_ns.load(Relaxed),
            duration_ns: e.duration_ns.load(Relaxed),
            max_lock: LockLevel::from_index((key >> 16 & 0xff) as usize)?,
            wrote: flags & 1 != 0,
            wal: flags & 2 != 0,
            outcome: TxnOutcome::from_index((key >> 24) as usize)?,
            pages_read: e.pages_read.load(Relaxed),
            pages_written: e.pages_written.load(Relaxed),
            syncs: e.syncs.load(Relaxed),
            bytes_read: e.bytes_read.load(Relaxed),
            bytes_written: e.bytes_written.load(Relaxed),
            lock_wait_ns: e.lock_wait_ns.load(Relaxed),
            injected_ns: e.injected_ns.load(Relaxed),
        })
    })
}

fn open_files(l: &Layout) -> Vec<OpenFileInfo> {
    l.open_files
        .iter()
        .filter(|f| f.state.load(Acquire) == 1)
        .filter_map(|f| {
            let (_, kind, db) = unpack_key(f.key.load(Relaxed))?;
            let held = f.shm_held.load(Relaxed);
            Some(OpenFileInfo {
                kind,
                db,
                lock_level: LockLevel::from_index(f.lock_level.load(Relaxed) as usize)?,
                shm_shared: (held & 0xff) as u8,
                shm_exclusive: (held >> 8) as u8,
                level_since_ns: f.level_since_ns.load(Relaxed),
                opened_ns: f.opened_ns.load(Relaxed),
            })
        })
        .collect()
}
