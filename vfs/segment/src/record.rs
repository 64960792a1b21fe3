//! The writer's operations on a mapped [`Layout`]: lock-free claims of cells,
//! histograms, database rows and open-file rows, and the recording of calls.
//!
//! Everything here is atomics only. Claims happen once per new cell/db/file
//! and may lose a race, wasting an entry but never double-counting; the
//! per-call path (`record_call`) is a directory load and four or five relaxed
//! or release increments. Bounded tables overflow into a shared row whose use
//! is counted in the header.

use crate::histogram::bucket_of;
use crate::ids::{FileKind, Op, ResultClass};
use crate::layout::*;
use crate::snapshot::{SlowCall, Transaction};
use std::sync::atomic::{fence, AtomicU32, AtomicU64, Ordering::*};

impl Hist {
    /// Counts one value in `bucket`, marking its range touched when the
    /// bucket was empty (the increment returns the old count, so the usual
    /// case costs one test).
    #[inline(always)]
    pub fn count(&self, bucket: usize) {
        if self.counts[bucket].fetch_add(1, Relaxed) == 0 {
            self.touch(bucket);
        }
    }

    #[cold]
    fn touch(&self, bucket: usize) {
        self.touched
            .fetch_or(1u64 << (bucket / TOUCH_CHUNK), Relaxed);
    }
}

impl Cell {
    /// Counts a result other than `SQLITE_OK` by its class.
    #[cold]
    #[inline(never)]
    pub fn count_result(&self, rc: i32) {
        let class = ResultClass::of_rc(rc);
        if class == ResultClass::IoErr {
            self.last_ioerr.store(rc as u32, Relaxed);
        }
        self.results[class.index()].fetch_add(1, Release);
    }

    /// Records what the latency model did to one call: `target_ns` of
    /// modelled latency (0 if none), `actual_ns` measured (0 in virtual
    /// mode), or an injected error instead of the call.
    pub fn record_injection(&self, target_ns: u64, actual_ns: u64, faulted: bool) {
        if faulted {
            self.faults_injected.fetch_add(1, Relaxed);
        }
        if target_ns != 0 {
            self.delayed.fetch_add(1, Relaxed);
            self.delay_target_ns.fetch_add(target_ns, Relaxed);
            self.delay_actual_ns.fetch_add(actual_ns, Relaxed);
        }
    }
}

/// `Cell::hist`/`LockStats::*_hist` value of a ref whose pool was full.
pub(crate) const HIST_OVERFLOW: u32 = u32::MAX;
/// Directory value of a cell that did not fit.
const CELL_OVERFLOW: u32 = u32::MAX;

/// A cell and the histogram it records latencies into.
#[derive(Clone, Copy)]
pub struct CellRef<'a> {
    pub cell: &'a Cell,
    pub hist: &'a Hist,
}

impl CellRef<'_> {
    /// Records one finished call (see [`Layout::record_call`]).
    #[inline(always)]
    pub fn record(&self, rc: i32, bytes: u64, latency_ns: u64) {
        let cell = self.cell;
        self.hist.count(bucket_of(latency_ns));
        cell.total_ns.fetch_add(latency_ns, Relaxed);
        if bytes != 0 {
            cell.bytes.fetch_add(bytes, Relaxed);
        }
        if latency_ns > cell.max_ns.load(Relaxed) {
            cell.max_ns.fetch_max(latency_ns, Relaxed);
        }
        if rc == 0 {
            // The usual outcome, without classifying it.
            cell.results[ResultClass::Ok.index()].fetch_add(1, Release);
        } else {
            cell.count_result(rc);
        }
    }
}

impl Layout {
    /// The cell of `op × kind × db`, claimed on first use. Once the table
    /// is full, new ones share their op × kind's fallback cell.
    #[inline]
    pub fn cell(&self, op: Op, kind: FileKind, db: u16) -> &Cell {
        let db = db.min(DB_NONE);
        let slot = &self.directory[directory_index(op, kind, db)];
        match slot.load(Acquire) {
            0 => self.claim_cell(slot, op, kind, db),
            CELL_OVERFLOW => {
                self.header.cell_overflow.fetch_add(1, Relaxed);
                &self.kind_cells[kind_index(op, kind)]
            }
            v => self
                .cells
                .get(v as usize)
                .unwrap_or(&self.kind_cells[kind_index(op, kind)]),
        }
    }

    /// The cell of `op × kind × db` and the histogram its latencies go to:
    /// its own, or (pool full, or a fallback cell) the op × kind's.
    #[inline]
    pub fn cell_ref(&self, op: Op, kind: FileKind, db: u16) -> CellRef<'_> {
        let cell = self.cell(op, kind, db);
        let kind_hist = &self.hists[KIND_HISTS + kind_index(op, kind)];
        if std::ptr::eq(cell, &self.kind_cells[kind_index(op, kind)]) {
            return CellRef {
                cell,
                hist: kind_hist,
            };
        }
        let mut slot = cell.hist.load(Acquire);
        if slot == 0 {
            self.claim_hist(&cell.hist);
            slot = cell.hist.load(Acquire);
        }
        let hist = match slot {
            HIST_OVERFLOW => kind_hist,
            v => self.hists.get(v as usize).unwrap_or(kind_hist),
        };
        CellRef { cell, hist }
    }

    #[cold]
    fn claim_cell(&self, slot: &AtomicU32, op: Op, kind: FileKind, db: u16) -> &Cell {
        let index = self.cells_used.fetch_add(1, Relaxed) as usize + 1;
        let value = if index < MAX_CELLS {
            self.cells[index]
                .key
                .store(pack_key(op as u8, kind, db), Relaxed);
            index as u32
        } else {
            CELL_OVERFLOW
        };
        // Release publishes the key; a loser of the race leaves an orphan cell
        // that readers skip because the directory does not point at it.
        let _ = slot.compare_exchange(0, value, Release, Acquire);
        self.cell(op, kind, db)
    }

    /// The histogram behind a ref, allocated from the pool on first use.
    /// Histogram 0 is shared by every lock-statistics ref that found the
    /// pool full (cells fall back to their op × kind's, see
    /// [`Layout::cell_ref`]).
    #[inline]
    pub fn hist(&self, slot: &AtomicU32) -> &Hist {
        match slot.load(Acquire) {
            0 => self.claim_hist(slot),
            v => self.hists.get(v as usize).unwrap_or(&self.hists[0]),
        }
    }

    #[cold]
    fn claim_hist(&self, slot: &AtomicU32) -> &Hist {
        let index = self.hists_used.fetch_add(1, Relaxed) as usize + 1;
        let value = if index < MAX_HISTS {
            index as u32
        } else {
            HIST_OVERFLOW
        };
        if slot.compare_exchange(0, value, AcqRel, Acquire).is_ok() && value == HIST_OVERFLOW {
            self.header.hist_overflow.fetch_add(1, Relaxed);
        }
        self.hist(slot)
    }

    /// Adds one latency to the histogram behind `slot`.
    #[inline]
    pub fn record_latency(&self, slot: &AtomicU32, latency_ns: u64) {
        self.hist(slot).count(bucket_of(latency_ns));
    }

    /// Records one finished call. The result count is incremented last with
    /// release ordering, so a reader that sees the count also sees its
    /// latency, bytes and time.
    #[inline]
    pub fn record_call(
        &self,
        op: Op,
        kind: FileKind,
        db: u16,
        rc: i32,
        bytes: u64,
        latency_ns: u64,
    ) {
        self.cell_ref(op, kind, db).record(rc, bytes, latency_ns);
    }

    /// A compact handle on the cell of `op × kind × db` and its histogram,
    /// for callers that keep it to skip the directory on later calls (see
    /// [`Layout::cell_at`]). `None` when the cell table is full: the shared
    /// overflow cell must be looked up per call so its use is counted.
    pub fn cell_slot(&self, op: Op, kind: FileKind, db: u16) -> Option<u32> {
        let cell = self.cell_ref(op, kind, db).cell;
        let index = self.directory[directory_index(op, kind, db.min(DB_NONE))].load(Acquire);
        if index == 0 || index == CELL_OVERFLOW {
            return None;
        }
        let hist = match cell.hist.load(Acquire) {
            HIST_OVERFLOW => (KIND_HISTS + kind_index(op, kind)) as u32,
            h => h,
        };
        Some(index | hist << 16)
    }

    /// The cell and histogram behind a handle from [`Layout::cell_slot`].
    #[inline]
    pub fn cell_at(&self, slot: u32) -> CellRef<'_> {
        CellRef {
            cell: &self.cells[(slot & 0xffff) as usize],
            hist: &self.hists[(slot >> 16) as usize],
        }
    }

    /// Appends a call to the slow-call ring, overwriting the oldest entry.
    pub fn push_slow(&self, call: &SlowCall) {
        let n = self.slow_head.fetch_add(1, Relaxed);
        let entry = &self.slow[(n % SLOW_RING as u64) as usize];
        entry.seq.store(2 * n + 1, Relaxed);
        fence(Release);
        entry.start_ns.store(call.start_ns, Relaxed);
        entry.latency_ns.store(call.latency_ns, Relaxed);
        entry.offset.store(call.offset, Relaxed);
        entry.size.store(call.size, Relaxed);
        entry.rc.store(call.rc as u32, Relaxed);
        entry
            .key
            .store(pack_key(call.op as u8, call.kind, call.db), Relaxed);
        entry.tid.store(call.tid, Relaxed);
        entry.txn.store(call.txn, Relaxed);
        entry.seq.store(2 * n + 2, Release);
    }

    /// A new transaction id, unique in this segment.
    pub fn next_txn_id(&self) -> u64 {
        self.header.txn_ids.fetch_add(1, Relaxed) + 1
    }

    /// Adds a finished transaction to the transaction ring.
    #[inline]
    pub fn push_txn(&self, txn: &Transaction) {
        let n = self.txn_head.fetch_add(1, Relaxed);
        let entry = &self.txns[(n % TXN_RING as u64) as usize];
        entry.seq.store(2 * n + 1, Relaxed);
        fence(Release);
        entry.id.store(txn.id, Relaxed);
        entry.start_ns.store(txn.start_ns, Relaxed);
        entry.duration_ns.store(txn.duration_ns, Relaxed);
        entry.bytes_read.store(txn.bytes_read, Relaxed);
        entry.bytes_written.store(txn.bytes_written, Relaxed);
        entry.lock_wait_ns.store(txn.lock_wait_ns, Relaxed);
        entry.injected_ns.store(txn.injected_ns, Relaxed);
        entry.pages_read.store(txn.pages_read, Relaxed);
        entry.pages_written.store(txn.pages_written, Relaxed);
        entry.syncs.store(txn.syncs, Relaxed);
        entry.tid.store(txn.tid, Relaxed);
        let key = txn.db as u32 | (txn.max_lock as u32) << 16 | (txn.outcome as u32) << 24;
        entry.key.store(key, Relaxed);
        entry
            .flags
            .store(txn.wrote as u32 | (txn.wal as u32) << 1, Relaxed);
        entry.seq.store(2 * n + 2, Release);
    }

    /// The row of the database at `path`, claimed on first use; the overflow
    /// row when the table is full. Called at open, never per I/O call.
    pub fn db_index(&self, path: &[u8]) -> u16 {
        self.resolve_db(path).0
    }

    /// The row holding `path` among the first `limit` rows, claiming a free
    /// one for it; `None` when they are all taken by other databases.
    pub(crate) fn claim_row(&self, path: &[u8], limit: usize) -> Option<u16> {
        for (i, entry) in self.dbs.iter().enumerate().take(limit) {
            loop {
                match entry.state.load(Acquire) {
                    DB_READY => {
                        if entry.holds(path) {
                            return Some(i as u16);
                        }
                        break;
                    }
                    DB_FREE => {
                        if entry
                            .state
                            .compare_exchange(DB_FREE, DB_WRITING, Acquire, Relaxed)
                            .is_ok()
                        {
                            entry.store_path(path);
                            entry.state.store(DB_READY, Release);
                            return Some(i as u16);
                        }
                    }
                    // Another thread is writing this row; it takes nanoseconds.
                    _ => std::thread::yield_now(),
                }
            }
        }
        None
    }

    /// Notes the page size of a database, once known.
    pub fn set_page_size(&self, db: u16, page_size: u32) {
        if let Some(entry) = self.dbs.get(db as usize) {
            entry.page_size.store(page_size, Relaxed);
        }
    }

    /// The page size noted for a database, if any.
    pub fn page_size(&self, db: u16) -> Option<u32> {
        let size = self.dbs.get(db as usize)?.page_size.load(Relaxed);
        (size != 0).then_some(size)
    }

    /// Takes a row of the open-file table; `None` (counted) when it is full.
    pub fn claim_open_file(&self, kind: FileKind, db: u16, now_ns: u64) -> Option<u16> {
        for (i, row) in self.open_files.iter().enumerate() {
            if row.state.load(Relaxed) == 0
                && row.state.compare_exchange(0, 2, Acquire, Relaxed).is_ok()
            {
                row.key.store(pack_key(0, kind, db), Relaxed);
                row.lock_level.store(0, Relaxed);
                row.shm_held.store(0, Relaxed);
                row.level_since_ns.store(now_ns, Relaxed);
                row.opened_ns.store(now_ns, Relaxed);
                row.state.store(1, Release);
                return Some(i as u16);
            }
        }
        self.header.open_file_overflow.fetch_add(1, Relaxed);
        None
    }

    /// An open file moved to database row `db` (its database got a named
    /// row).
    pub fn rekey_open_file(&self, row: u16, kind: FileKind, db: u16) {
        if let Some(row) = self.open_files.get(row as usize) {
            row.key.store(pack_key(0, kind, db), Relaxed);
        }
    }

    /// Gives an open-file row back.
    pub fn release_open_file(&self, row: u16) {
        if let Some(row) = self.open_files.get(row as usize) {
            row.state.store(0, Release);
        }
    }

    /// The shape counters of one file kind of one database.
    #[inline]
    pub fn shape(&self, kind: FileKind, db: u16) -> &Shape {
        &self.shapes[kind.index()][(db as usize).min(DB_SLOTS - 1)]
    }

    /// The lock counters of one database.
    #[inline]
    pub fn lock_stats(&self, db: u16) -> &LockStats {
        &self.locks[(db as usize).min(DB_SLOTS - 1)]
    }

    /// Adds a VFS registration (`name` over `parent`) to the header.
    pub fn note_registration(&self, name: &str, parent: &str) {
        let n = self.header.registrations.fetch_add(1, AcqRel) as usize;
        let Some(words) = self.header.vfs_names.get(n) else {
            return;
        };
        let mut bytes = [0u8; VFS_NAME_BYTES * 2];
        copy_truncated(&mut bytes[..VFS_NAME_BYTES - 1], name.as_bytes());
        copy_truncated(
            &mut bytes[VFS_NAME_BYTES..2 * VFS_NAME_BYTES - 1],
            parent.as_bytes(),
        );
        store_words(words, &bytes);
    }
}

impl Layout {
    /// In a forked child's new segment: takes over the parent's database rows
    /// (at the same indices, so files inherited across the fork keep their
    /// db) and its VFS registrations.
    pub fn inherit_from(&self, parent: &Layout) {
        for (mine, theirs) in self.dbs.iter().zip(parent.dbs.iter()) {
            if theirs.state.load(Acquire) != DB_READY {
                continue;
            }
            for (m, t) in mine.path.iter().zip(theirs.path.iter()) {
                m.store(t.load(Relaxed), Relaxed);
            }
            mine.path_len.store(theirs.path_len.load(Relaxed), Relaxed);
            mine.page_size
                .store(theirs.page_size.load(Relaxed), Relaxed);
            mine.copies.store(theirs.copies.load(Relaxed), Relaxed);
            mine.state.store(DB_READY, Release);
        }
        let n = parent.header.registrations.load(Acquire);
        for (mine, theirs) in self
            .header
            .vfs_names
            .iter()
            .zip(parent.header.vfs_names.iter())
        {
            for (m, t) in mine.iter().zip(theirs.iter()) {
                m.store(t.load(Relaxed), Relaxed);
            }
        }
        self.header.registrations.store(n, Release);
        self.inherit_copies(parent);
        self.inherit_catalog(parent);
    }

    /// The row of an already known database, without claiming one.
    pub fn find_db(&self, path: &[u8]) -> Option<u16> {
        self.dbs
            .iter()
            .position(|e| e.state.load(Acquire) == DB_READY && e.holds(path))
            .map(|i| i as u16)
    }
}

pub(crate) const DB_FREE: u32 = 0;
pub(crate) const DB_WRITING: u32 = 1;
pub(crate) const DB_READY: u32 = 2;

impl DbEntry {
    fn store_path(&self, path: &[u8]) {
        let tail = &path[path.len().saturating_sub(DB_PATH_BYTES)..];
        let mut bytes = [0u8; DB_PATH_BYTES];
        bytes[..tail.len()].copy_from_slice(tail);
        store_words(&self.path, &bytes);
        self.path_len.store(path.len() as u32, Relaxed);
    }

    fn holds(&self, path: &[u8]) -> bool {
        if self.path_len.load(Relaxed) as usize != path.len() {
            return false;
        }
        let tail = &path[path.len().saturating_sub(DB_PATH_BYTES)..];
        // Whole words compare without copying; the last, partial one is
        // zero-padded as `store_path` wrote it.
        let mut words = tail.chunks_exact(8);
        for (word, part) in self.path.iter().zip(&mut words) {
            let part: [u8; 8] = part.try_into().expect("chunks_exact");
            if word.load(Relaxed) != u64::from_le_bytes(part) {
                return false;
            }
        }
        let rest = words.remainder();
        if rest.is_empty() {
            return true;
        }
        let mut last = [0u8; 8];
        last[..rest.len()].copy_from_slice(rest);
        self.path
            .get(tail.len() / 8)
            .is_some_and(|word| word.load(Relaxed) == u64::from_le_bytes(last))
    }
}

fn copy_truncated(dst: &mut [u8], src: &[u8]) {
    let n = dst.len().min(src.len());
    dst[..n].copy_from_slice(&src[..n]);
}

/// Stores bytes into atomic words, little-endian, zero-padded.
pub(crate) fn store_words(words: &[AtomicU64], bytes: &[u8]) {
    for (word, chunk) in words.iter().zip(bytes.chunks(8)) {
        let mut buf = [0u8; 8];
        buf[..chunk.len()].copy_from_slice(chunk);
        word.store(u64::from_le_bytes(buf), Relaxed);
    }
}

/// Loads `len` bytes back out of atomic words.
pub(crate) fn load_words(words: &[AtomicU64], len: usize) -> Vec<u8> {
    let mut out: Vec<u8> = words
        .iter()
        .flat_map(|w| w.load(Relaxed).to_le_bytes())
        .collect();
    out.truncate(len);
    out
}
