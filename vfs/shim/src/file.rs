//! What vfscope keeps per open file, and what it learns from each call: the
//! lock state machine, WAL-index locks, the I/O shape and WAL frames.
//!
//! A `sqlite3_file` is used by one connection at a time (SQLite serialises
//! calls on it), so this state is plain fields; only the segment it reports
//! to is shared, through atomics.

mod locks;
mod pool;
mod shape;

use crate::calls::{self, Timed};
use crate::ffi::*;
use crate::txn::TxnTracker;
use crate::vfs_state::VfsState;
use crate::wait::LockWait;
use crate::{clock, recorder};
use std::os::raw::{c_int, c_void};
use vfscope_segment::layout::{Cell, Hist};
use vfscope_segment::trace::WalFrame;
use vfscope_segment::{
    CellRef, FileKind, Layout, LockLevel, Op, ResultClass, DB_NONE, DB_OVERFLOW, NO_ENTRY,
};

/// The file SQLite allocates for vfscope: `szOsFile` is the offset of `real`
/// plus the parent's `szOsFile`, so the real file fits at the end.
///
/// vfscope's own state lives in an allocation of its own (made at xOpen,
/// freed at xClose), not here: SQLite counts three `szOsFile` per pager in
/// its memory statistics (SQLITE_DBSTATUS_CACHE_USED) and zero-fills them
/// per connection, so the file adds only 16 bytes to the parent's.
#[repr(C)]
pub struct TracedFile {
    /// What SQLite sees; `pMethods` is vfscope's table.
    pub base: sqlite3_file,
    /// Valid from a successful xOpen to xClose; NULL otherwise.
    pub state: *mut FileState,
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
    /// When the lock went to its level (ticks).
    level_since: u64,
    wait: LockWait,
    shm_shared: u8,
    shm_exclusive: u8,
    /// When each WAL-index slot held was taken (ticks).
    shm_since: [u64; SQLITE_SHM_NLOCK as usize],
    /// Cells of this file's io ops, looked up once.
    cells: CellCache,
    last_read_end: u64,
    last_write_end: u64,
    /// The highest offset known to hold data (file size or written end).
    high_water: u64,
    wal_page_size: u32,
    pub txn: TxnTracker,
    /// The name the parent VFS opened a main database with, when it is a
    /// copy of SQLite's (see `filename`): it must live until xClose.
    pub name_copy: Option<Box<[u8]>>,
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
            level_since: 0,
            wait: LockWait::default(),
            shm_shared: 0,
            shm_exclusive: 0,
            shm_since: [0; SQLITE_SHM_NLOCK as usize],
            cells: CellCache::for_segment(std::ptr::null()),
            last_read_end: 0,
            last_write_end: 0,
            high_water: 0,
            wal_page_size: 0,
            txn: TxnTracker::default(),
            name_copy: None,
        }
    }

    /// `state` in memory of its own (a slot of `pool`); NULL when memory
    /// is short (the open then fails with SQLITE_NOMEM before anything is
    /// opened).
    pub fn allocate(state: FileState) -> *mut FileState {
        let at = pool::take();
        if !at.is_null() {
            // SAFETY: room in a free slot: FileState's size and alignment,
            // unused.
            unsafe { at.write(state) };
        }
        at
    }

    /// Drops and frees what [`FileState::allocate`] returned.
    ///
    /// # Safety
    /// `at` came from `allocate`, is not NULL, and is not used afterwards.
    pub unsafe fn free(at: *mut FileState) {
        // SAFETY: per the contract, `at` holds a live FileState in a slot
        // of the pool, which gets it back once it is dropped.
        unsafe {
            at.drop_in_place();
            pool::give_back(at);
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
        let cell = match self.cells.get(layout, op) {
            Some(cell) => cell,
            None => self.find_cell(layout, op, kind),
        };
        // `calls::record_in` with the file's own bookkeeping; written out
        // rather than shared, because sharing it (the transaction passed
        // down to the detour) cost 1-6 instructions a call (measured).
        let latency = call.latency_ns();
        cell.record(call.rc, bytes, latency);
        if call.rc != SQLITE_OK {
            self.note_failure(op, call.rc);
        }
        if latency >= recorder::detour_ns() || call.injected != 0 {
            let (at, model) = call.parts();
            self.detour(
                layout,
                cell.cell,
                (op, kind),
                at,
                model,
                latency,
                offset,
                size,
            );
        }
    }

    /// The cell of a call not in the cache: the first call of an op, a
    /// file whose database has no named row yet (each call counts towards
    /// one), a new segment (forked child), or a full cell table (the
    /// shared cell's use is counted per call).
    #[cold]
    #[inline(never)]
    fn find_cell(&mut self, layout: &'static Layout, op: Op, kind: FileKind) -> CellRef<'static> {
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
        match cached
            .then(|| layout.cell_slot(op, kind, self.db))
            .flatten()
        {
            Some(handle) => {
                let cell = layout.cell_at(handle);
                self.cells.put(slot, cell);
                cell
            }
            None => layout.cell_ref(op, kind, self.db),
        }
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
        (op, kind): (Op, FileKind),
        at: (u64, u64, i32),
        model: (u64, u8),
        latency: u64,
        offset: u64,
        size: u32,
    ) {
        if model.1 != 0 {
            self.txn.injected(model.0);
        }
        let place = (op, kind, self.db);
        calls::detour(layout, cell, place, at, model, latency, offset, size);
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

    /// The WAL frame a write starts, when it is a frame's 24-byte header.
    ///
    /// # Safety
    /// `buf` holds `amount` bytes.
    #[inline(always)]
    pub unsafe fn wal_frame(
        &self,
        buf: *const c_void,
        amount: c_int,
        offset: i64,
    ) -> Option<WalFrame> {
        if self.kind != FileKind::Wal || amount != 24 || offset < 32 {
            return None;
        }
        // SAFETY: the caller's promise: 24 bytes.
        WalFrame::from_header(unsafe { std::slice::from_raw_parts(buf as *const u8, 24) })
    }

    /// The page a write carries, when it writes a WAL frame's page (after
    /// the WAL header and a frame header; frame headers are 24 bytes).
    ///
    /// # Safety
    /// `buf` holds `amount` bytes.
    #[inline(always)]
    pub unsafe fn wal_page(&self, buf: *const c_void, amount: c_int, offset: i64) -> Option<&[u8]> {
        if self.kind != FileKind::Wal || amount < 512 || offset < 32 + 24 {
            return None;
        }
        // SAFETY: the caller's promise: `amount` (at least 512) bytes.
        Some(unsafe { std::slice::from_raw_parts(buf as *const u8, amount as usize) })
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
            frame: None,
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

    /// The file was opened at `now` (ticks).
    pub fn opened(&mut self, layout: &'static Layout, now: u64) {
        self.txn = match self.kind {
            FileKind::MainDb => TxnTracker::for_database(self.db),
            FileKind::MainJournal => TxnTracker::for_companion(self.db, true),
            FileKind::Wal => TxnTracker::for_companion(self.db, false),
            _ => TxnTracker::default(),
        };
        layout.shape(self.kind, self.db).opens.fetch_add(1, Relaxed);
        self.open_row = layout
            .claim_open_file(self.kind, self.db, clock::ticks_to_time(now))
            .map(|row| (row, layout as *const Layout));
        self.level_since = now;
    }

    /// The file was closed at `now` (ticks).
    pub fn closed(&mut self, layout: &Layout, now: u64) {
        self.txn.closed(layout, self.lock, now);
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
                clock::ticks_to_ns(now.saturating_sub(self.level_since)),
            );
        }
        self.release_shm(layout, 0xff, now);
        if let Some(row) = self
            .open_row
            .take()
            .and_then(|(row, segment)| std::ptr::eq(segment, layout).then_some(row))
        {
            layout.release_open_file(row);
        }
    }
}

use std::sync::atomic::Ordering::Relaxed;

/// The cells a file's io ops record into, each looked up at its op's first
/// call, for one segment (a forked child records into a new one).
/// `segment` is null while every call must take the uncached path: not
/// recording yet, or a database in "other" that may still get a row.
///
/// Each op keeps its cell and histogram as two 32-bit offsets into the
/// segment (0: not looked up): half the size of two pointers, since SQLite
/// zero-fills every file's bytes (three per pager), and one add each.
struct CellCache {
    segment: *const Layout,
    cells: [u64; IO_OPS],
}

/// `sqlite3_io_methods` ops: `Close` ..= `Unfetch`.
const IO_OPS: usize = Op::Unfetch.index() - Op::Close.index() + 1;

impl CellCache {
    fn for_segment(segment: *const Layout) -> Self {
        CellCache {
            segment,
            cells: [0; IO_OPS],
        }
    }

    /// The cached cell of `op`, when it was looked up in `layout`.
    #[inline(always)]
    fn get(&self, layout: &'static Layout, op: Op) -> Option<CellRef<'static>> {
        let packed = *self.cells.get(op.index().wrapping_sub(Op::Close.index()))?;
        if packed == 0 || !std::ptr::eq(self.segment, layout) {
            return None;
        }
        let base = (layout as *const Layout).cast::<u8>();
        // SAFETY: `packed` holds the offsets of a cell and a histogram of
        // this very segment (`put`), which stays mapped for good.
        unsafe {
            Some(CellRef {
                cell: &*base.add(packed as u32 as usize).cast::<Cell>(),
                hist: &*base.add((packed >> 32) as usize).cast::<Hist>(),
            })
        }
    }

    /// Keeps `cell` (of the segment this cache is for) for op slot `slot`.
    fn put(&mut self, slot: usize, cell: CellRef<'static>) {
        let base = self.segment as usize;
        let offset = |p: usize| p.checked_sub(base).and_then(|d| u32::try_from(d).ok());
        let (Some(c), Some(h)) = (
            offset(cell.cell as *const Cell as usize),
            offset(cell.hist as *const Hist as usize),
        ) else {
            return;
        };
        if let Some(entry) = self.cells.get_mut(slot) {
            *entry = c as u64 | (h as u64) << 32;
        }
    }
}
