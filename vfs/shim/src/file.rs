//! What vfscope keeps per open file, and what it learns from each call: the
//! lock state machine, WAL-index locks, the I/O shape and WAL frames.
//!
//! A `sqlite3_file` is used by one connection at a time (SQLite serialises
//! calls on it), so this state is plain fields; only the segment it reports
//! to is shared, through atomics.

mod shape;

use crate::calls::{self, Timed};
use crate::ffi::*;
use crate::recorder;
use crate::txn::TxnTracker;
use crate::vfs::VfsState;
use crate::wait::LockWait;
use vfscope_segment::layout::{Cell, OpenFile};
use vfscope_segment::{
    CellRef, FileKind, Layout, LockLevel, Op, ResultClass, DB_NONE, DB_OVERFLOW, NO_ENTRY,
};

/// The file SQLite allocates for vfscope: `szOsFile` is the offset of `real`
/// plus the parent's `szOsFile`, so the real file fits at the end.
#[repr(C)]
pub struct TracedFile {
    /// What SQLite sees; `pMethods` is vfscope's table.
    pub base: sqlite3_file,
    pub state: FileState,
    /// The parent VFS's file; it continues past the end of this struct.
    pub real: sqlite3_file,
}

/// Where a file's database is recorded: its row, and for a database without
/// a named row its catalog entry and path (SQLite keeps the name it passes
/// to xOpen valid until xClose; the path is part of it).
#[derive(Clone, Copy)]
pub struct DbPlace {
    pub row: u16,
    pub entry: u32,
    pub path: (*const u8, usize),
}

impl DbPlace {
    pub const NONE: DbPlace = DbPlace {
        row: DB_NONE,
        entry: NO_ENTRY,
        path: (std::ptr::null(), 0),
    };
}

/// Everything vfscope tracks for one open file.
pub struct FileState {
    pub vfs: *const VfsState,
    pub kind: FileKind,
    pub db: u16,
    /// For a file whose database is in "other" and may still get a row:
    /// its catalog entry (else `NO_ENTRY`) and the database's path (see
    /// [`DbPlace`]).
    pub catalog: u32,
    pub db_path: (*const u8, usize),
    /// Row in the open-file table of the segment it was claimed in (a
    /// forked child must not touch its parent's rows in its own segment).
    open_row: Option<(u16, *const Layout)>,
    lock: LockLevel,
    level_since_ns: u64,
    wait: LockWait,
    shm_shared: u8,
    shm_exclusive: u8,
    shm_since_ns: [u64; SQLITE_SHM_NLOCK as usize],
    /// Cells of this file's io ops, looked up once.
    cells: CellCache,
    last_read_end: u64,
    last_write_end: u64,
    /// The highest offset known to hold data (file size or written end).
    high_water: u64,
    wal_page_size: u32,
    pub txn: TxnTracker,
}

impl FileState {
    pub fn new(vfs: *const VfsState, kind: FileKind, db: u16) -> Self {
        FileState {
            vfs,
            kind,
            db,
            catalog: NO_ENTRY,
            db_path: (std::ptr::null(), 0),
            open_row: None,
            lock: LockLevel::None,
            level_since_ns: 0,
            wait: LockWait::default(),
            shm_shared: 0,
            shm_exclusive: 0,
            shm_since_ns: [0; SQLITE_SHM_NLOCK as usize],
            cells: CellCache::for_segment(std::ptr::null()),
            last_read_end: 0,
            last_write_end: 0,
            high_water: 0,
            wal_page_size: 0,
            txn: TxnTracker::default(),
        }
    }

    /// Records one call on this file.
    #[inline(always)]
    pub fn record(
        &mut self,
        layout: &'static Layout,
        op: Op,
        call: Timed,
        bytes: u64,
        offset: u64,
        size: u32,
    ) {
        self.record_as(layout, op, self.kind, call, bytes, offset, size);
    }

    /// Records one call under a given file kind (the shm methods use `Shm`).
    /// Each io op of a file always records into the same cell, so the cell
    /// is looked up once and kept, for the segment it belongs to; the
    /// straight path is that cell's counters and one compare for the
    /// detour.
    #[inline(always)]
    #[allow(clippy::too_many_arguments)]
    pub fn record_as(
        &mut self,
        layout: &'static Layout,
        op: Op,
        kind: FileKind,
        call: Timed,
        bytes: u64,
        offset: u64,
        size: u32,
    ) {
        match self.cells.get(layout, op) {
            Some(cell) => self.finish(layout, cell, op, kind, call, bytes, offset, size),
            None => self.record_uncached(layout, op, kind, call, bytes, offset, size),
        }
    }

    /// Counts the call in `cell`; failures and the detour off the straight
    /// path.
    #[inline(always)]
    #[allow(clippy::too_many_arguments)]
    fn finish(
        &mut self,
        layout: &Layout,
        cell: CellRef<'_>,
        op: Op,
        kind: FileKind,
        call: Timed,
        bytes: u64,
        offset: u64,
        size: u32,
    ) {
        let latency = call.latency_ns();
        cell.record(call.rc, bytes, latency);
        if call.rc != SQLITE_OK {
            self.note_failure(op, call.rc);
        }
        if latency >= recorder::detour_ns() || call.injected != 0 {
            self.detour(layout, cell.cell, op, kind, call, latency, offset, size);
        }
    }

    /// A call whose cell is not in the cache: the first call of an op, a
    /// file whose database has no named row yet (each call counts towards
    /// one), a new segment (forked child), or a full cell table (the
    /// shared cell's use is counted per call).
    #[cold]
    #[inline(never)]
    #[allow(clippy::too_many_arguments)]
    fn record_uncached(
        &mut self,
        layout: &'static Layout,
        op: Op,
        kind: FileKind,
        call: Timed,
        bytes: u64,
        offset: u64,
        size: u32,
    ) {
        if !std::ptr::eq(self.cells.segment, layout) {
            // Only a file in "other" that may still be given a row has an
            // entry.
            if self.catalog != NO_ENTRY {
                self.unnamed_call(layout);
            }
            if self.catalog == NO_ENTRY {
                self.cells = CellCache::for_segment(layout);
            }
        }
        let slot = op.index().wrapping_sub(Op::Close.index());
        let cached = std::ptr::eq(self.cells.segment, layout) && slot < IO_OPS;
        let cell = match cached
            .then(|| layout.cell_slot(op, kind, self.db))
            .flatten()
        {
            Some(handle) => {
                let cell = layout.cell_at(handle);
                self.cells.cells[slot] = Some(cell);
                cell
            }
            None => layout.cell_ref(op, kind, self.db),
        };
        self.finish(layout, cell, op, kind, call, bytes, offset, size);
    }

    /// What [`calls::detour`] does for any call, plus the transaction's
    /// share of an injected delay.
    #[cold]
    #[inline(never)]
    #[allow(clippy::too_many_arguments)]
    fn detour(
        &self,
        layout: &Layout,
        cell: &Cell,
        op: Op,
        kind: FileKind,
        call: Timed,
        latency: u64,
        offset: u64,
        size: u32,
    ) {
        if call.injected != 0 {
            self.txn.injected(call.delay_ns);
        }
        calls::detour(layout, cell, op, kind, self.db, call, latency, offset, size);
    }

    /// A file whose database had no named row: moves to the row the
    /// database has been given since (what it did before stays in "other").
    fn follow_promotion(&mut self, layout: &Layout) {
        let row = layout.entry_row(self.catalog);
        if row == DB_OVERFLOW {
            return;
        }
        self.db = row;
        self.catalog = NO_ENTRY;
        self.cells = CellCache::for_segment(layout);
        self.txn.moved_to(row);
        if let Some((open_row, segment)) = self.open_row {
            if std::ptr::eq(segment, layout) {
                layout.rekey_open_file(open_row, self.kind, row);
            }
        }
    }

    /// A call on a file whose database has no named row: it counts towards
    /// the database getting one, and the file follows it there.
    #[cold]
    fn unnamed_call(&mut self, layout: &Layout) {
        let (ptr, len) = self.db_path;
        if ptr.is_null() || self.db != DB_OVERFLOW {
            self.catalog = NO_ENTRY;
            return;
        }
        // SAFETY: the path lies in the name SQLite passed to xOpen, valid
        // until xClose (`DbPlace`).
        let path = unsafe { std::slice::from_raw_parts(ptr, len) };
        if layout.note_unnamed_call(self.catalog, path) != DB_OVERFLOW {
            self.follow_promotion(layout);
        } else if layout.rows_full() {
            // No row can come any more: stop asking on every call.
            self.catalog = NO_ENTRY;
        }
    }

    /// The file's lock level as vfscope tracks it.
    pub fn lock_level(&self) -> LockLevel {
        self.lock
    }

    /// This file's call as the latency model sees it.
    pub fn model_call(
        &self,
        op: Op,
        offset: u64,
        amount: u64,
        lock: Option<(LockLevel, LockLevel)>,
        now_ns: u64,
    ) -> vfscope_model::Call {
        vfscope_model::Call {
            op,
            kind: self.kind,
            db: self.db,
            offset,
            amount,
            page_size: recorder::layout()
                .and_then(|l| l.page_size(self.db))
                .unwrap_or(4096),
            lock,
            now_ns,
        }
    }

    /// A call that did not return SQLITE_OK: an error marks the open
    /// transaction (BUSY is the lock machine's business; file controls
    /// answer NOTFOUND for opcodes they do not know).
    #[cold]
    #[inline(never)]
    fn note_failure(&self, op: Op, rc: i32) {
        if op != Op::FileControl && ResultClass::of_rc(rc).is_error() && rc & 0xff != SQLITE_BUSY {
            self.txn.failed();
        }
    }

    pub fn opened(&mut self, layout: &Layout, now_ns: u64) {
        self.txn = match self.kind {
            FileKind::MainDb => TxnTracker::for_database(self.db),
            FileKind::MainJournal => TxnTracker::for_companion(self.db, true),
            FileKind::Wal => TxnTracker::for_companion(self.db, false),
            _ => TxnTracker::default(),
        };
        layout.shape(self.kind, self.db).opens.fetch_add(1, Relaxed);
        self.open_row = layout
            .claim_open_file(self.kind, self.db, now_ns)
            .map(|row| (row, layout as *const Layout));
        self.level_since_ns = now_ns;
    }

    pub fn closed(&mut self, layout: &Layout, now_ns: u64) {
        self.txn.closed(layout, self.lock, now_ns);
        if self.wait.closed() {
            layout
                .lock_stats(self.db)
                .waits_abandoned
                .fetch_add(1, Relaxed);
        }
        layout
            .shape(self.kind, self.db)
            .closes
            .fetch_add(1, Relaxed);
        if self.lock != LockLevel::None {
            let stats = layout.lock_stats(self.db);
            stats.closed_holding[self.lock.index()].fetch_add(1, Relaxed);
            layout.record_latency(
                &stats.hold_hist[self.lock.index()],
                now_ns.saturating_sub(self.level_since_ns),
            );
        }
        self.release_shm(layout, 0xff, now_ns);
        if let Some(row) = self
            .open_row
            .take()
            .and_then(|(row, segment)| std::ptr::eq(segment, layout).then_some(row))
        {
            layout.release_open_file(row);
        }
    }

    /// After `xLock(target)` returned `rc`.
    pub fn locked(
        &mut self,
        layout: &Layout,
        target: LockLevel,
        rc: i32,
        call: Timed,
        unix_rules: bool,
    ) {
        let stats = layout.lock_stats(self.db);
        if self.wait.attempt(call.start_ns()) {
            stats.waits_abandoned.fetch_add(1, Relaxed);
        }
        if rc == SQLITE_OK {
            let mut wait_ns = 0;
            if let Some(waited) = self.wait.granted(target, call.end_ns()) {
                wait_ns = waited;
                layout.record_latency(&stats.wait_hist, wait_ns);
            }
            if target > self.lock {
                self.transition(layout, target, call.end_ns(), wait_ns);
            }
            return;
        }
        if rc & 0xff == SQLITE_BUSY {
            stats.busy[target.index()].fetch_add(1, Relaxed);
            self.wait.busy(target, call.start_ns());
        }
        // unix VFSes keep the PENDING lock they took on the way to a refused
        // EXCLUSIVE (os_unix.c, unixLock), so new readers are held off.
        if unix_rules && target == LockLevel::Exclusive && self.lock == LockLevel::Reserved {
            self.transition(layout, LockLevel::Pending, call.end_ns(), 0);
        }
    }

    /// After `xUnlock(target)` returned `rc`.
    pub fn unlocked(&mut self, layout: &Layout, target: LockLevel, rc: i32, call: Timed) {
        if let Some(since) = self.wait.released(call.start_ns()) {
            self.txn.gave_up(layout, since, call.start_ns());
        }
        if rc == SQLITE_OK && target < self.lock {
            self.transition(layout, target, call.end_ns(), 0);
        }
    }

    /// The lock went to `to` at `now_ns`, after waiting `wait_ns` for it.
    fn transition(&mut self, layout: &Layout, to: LockLevel, now_ns: u64, wait_ns: u64) {
        let stats = layout.lock_stats(self.db);
        stats.transitions[self.lock.index()][to.index()].fetch_add(1, Relaxed);
        if self.lock != LockLevel::None {
            layout.record_latency(
                &stats.hold_hist[self.lock.index()],
                now_ns.saturating_sub(self.level_since_ns),
            );
        }
        self.txn
            .lock_changed(layout, self.lock, to, now_ns, wait_ns);
        self.lock = to;
        self.level_since_ns = now_ns;
        if let Some(row) = self.open_file_row(layout) {
            row.lock_level.store(to as u32, Relaxed);
            row.level_since_ns.store(now_ns, Relaxed);
        }
    }

    /// After `xShmLock(offset, n, flags)` returned `rc`.
    pub fn shm_locked(
        &mut self,
        layout: &Layout,
        offset: i32,
        n: i32,
        flags: i32,
        rc: i32,
        now_ns: u64,
    ) {
        let mask = slot_mask(offset, n);
        if mask == 0 {
            return;
        }
        let stats = layout.lock_stats(self.db);
        let exclusive = flags & SQLITE_SHM_EXCLUSIVE != 0;
        if flags & SQLITE_SHM_LOCK != 0 {
            for slot in slots(mask) {
                if rc == SQLITE_OK {
                    stats.shm_acquired[slot][exclusive as usize].fetch_add(1, Relaxed);
                    self.shm_since_ns[slot] = now_ns;
                } else if rc & 0xff == SQLITE_BUSY {
                    stats.shm_busy[slot].fetch_add(1, Relaxed);
                }
            }
            if rc == SQLITE_OK {
                if exclusive {
                    self.shm_exclusive |= mask;
                } else {
                    self.shm_shared |= mask;
                }
            }
        }
        let releases = flags & SQLITE_SHM_UNLOCK != 0 && rc == SQLITE_OK;
        if releases && (self.shm_shared | self.shm_exclusive) & mask != 0 {
            // Publishes what is still held.
            self.release_shm(layout, mask, now_ns);
        } else {
            self.publish_shm(layout, now_ns);
        }
    }

    /// Ends the hold of the WAL-index slots in `mask` (unlock, unmap, close).
    pub fn release_shm(&mut self, layout: &Layout, mask: u8, now_ns: u64) {
        let held = (self.shm_shared | self.shm_exclusive) & mask;
        if held == 0 {
            return;
        }
        let stats = layout.lock_stats(self.db);
        for slot in slots(held) {
            layout.record_latency(
                &stats.shm_hold_hist[slot],
                now_ns.saturating_sub(self.shm_since_ns[slot]),
            );
        }
        self.shm_shared &= !mask;
        self.shm_exclusive &= !mask;
        self.publish_shm(layout, now_ns);
    }

    /// This file's row in the open-file table of `layout`, if it has one
    /// there.
    fn open_file_row<'a>(&self, layout: &'a Layout) -> Option<&'a OpenFile> {
        let (row, segment) = self.open_row?;
        std::ptr::eq(segment, layout)
            .then(|| layout.open_files.get(row as usize))
            .flatten()
    }

    /// Shows the WAL-index locks held in the open-file table and tells the
    /// transaction tracker.
    fn publish_shm(&mut self, layout: &Layout, now_ns: u64) {
        if let Some(row) = self.open_file_row(layout) {
            let held = self.shm_shared as u32 | (self.shm_exclusive as u32) << 8;
            row.shm_held.store(held, Relaxed);
        }
        let reading = self.shm_shared & SHM_READ_SLOTS != 0;
        let writing = self.shm_exclusive & SHM_WRITE_SLOT != 0;
        self.txn
            .shm_changed(layout, self.lock, reading, writing, now_ns);
    }
}

/// WAL-index slots READ0..READ4 (wal.c, WAL_READ_LOCK).
const SHM_READ_SLOTS: u8 = 0b1111_1000;
/// WAL-index slot of the write lock (wal.c, WAL_WRITE_LOCK).
const SHM_WRITE_SLOT: u8 = 0b1;

/// The WAL-index slots `offset .. offset + n` as a bit mask (out-of-range
/// slots dropped).
fn slot_mask(offset: i32, n: i32) -> u8 {
    if !(0..SQLITE_SHM_NLOCK).contains(&offset) || n <= 0 {
        return 0;
    }
    let ones = if n >= 8 { 0xffu32 } else { (1u32 << n) - 1 };
    ((ones << offset) & 0xff) as u8
}

/// The slot numbers set in `mask`, lowest first.
fn slots(mut mask: u8) -> impl Iterator<Item = usize> {
    std::iter::from_fn(move || {
        (mask != 0).then(|| {
            let slot = mask.trailing_zeros() as usize;
            mask &= mask - 1;
            slot
        })
    })
}

use std::sync::atomic::Ordering::Relaxed;

/// The cells a file's io ops record into, each looked up at its op's first
/// call, for one segment (a forked child records into a new one).
/// `segment` is null while every call must take the uncached path: not
/// recording yet, or a database in "other" that may still get a row.
struct CellCache {
    segment: *const Layout,
    cells: [Option<CellRef<'static>>; IO_OPS],
}

/// `sqlite3_io_methods` ops: `Close` ..= `Unfetch`.
const IO_OPS: usize = Op::Unfetch.index() - Op::Close.index() + 1;

impl CellCache {
    fn for_segment(segment: *const Layout) -> Self {
        CellCache {
            segment,
            cells: [None; IO_OPS],
        }
    }

    /// The cached cell of `op`, when it was looked up in `layout`.
    #[inline(always)]
    fn get(&self, layout: &Layout, op: Op) -> Option<CellRef<'static>> {
        let cell = *self.cells.get(op.index().wrapping_sub(Op::Close.index()))?;
        cell.filter(|_| std::ptr::eq(self.segment, layout))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slot_masks_cover_the_requested_range() {
        assert_eq!(slot_mask(0, 1), 0b1);
        assert_eq!(slot_mask(3, 5), 0b1111_1000);
        assert_eq!(slot_mask(1, 2), 0b110);
        assert_eq!(slot_mask(6, 9), 0b1100_0000);
        assert_eq!(slot_mask(8, 1), 0);
        assert_eq!(slot_mask(-1, 3), 0);
        assert_eq!(slot_mask(2, 0), 0);
        assert_eq!(slots(0b1010_0001).collect::<Vec<_>>(), vec![0, 5, 7]);
    }
}
