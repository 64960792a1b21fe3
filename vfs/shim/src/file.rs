//! What vfscope keeps per open file, and what it learns from each call: the
//! lock state machine, WAL-index locks, the I/O shape and WAL frames.
//!
//! A `sqlite3_file` is used by one connection at a time (SQLite serialises
//! calls on it), so this state is plain fields; only the segment it reports
//! to is shared, through atomics.

use crate::ffi::*;
use crate::recorder;
use crate::vfs::VfsState;
use std::os::raw::c_void;
use vfscope_segment::{FileKind, Layout, LockLevel, Op, SlowCallRecord, DB_NONE};

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

/// Everything vfscope tracks for one open file.
pub struct FileState {
    pub vfs: *const VfsState,
    pub kind: FileKind,
    pub db: u16,
    /// Row in the segment's open-file table.
    open_row: Option<u16>,
    lock: LockLevel,
    level_since_ns: u64,
    /// When the first BUSY of a wait happened; 0 when not waiting.
    waiting_since_ns: u64,
    shm_shared: u8,
    shm_exclusive: u8,
    shm_since_ns: [u64; SQLITE_SHM_NLOCK as usize],
    last_read_end: u64,
    last_write_end: u64,
    /// The highest offset known to hold data (file size or written end).
    high_water: u64,
    wal_page_size: u32,
}

impl FileState {
    pub fn new(vfs: *const VfsState, kind: FileKind, db: u16) -> Self {
        FileState {
            vfs,
            kind,
            db,
            open_row: None,
            lock: LockLevel::None,
            level_since_ns: 0,
            waiting_since_ns: 0,
            shm_shared: 0,
            shm_exclusive: 0,
            shm_since_ns: [0; SQLITE_SHM_NLOCK as usize],
            last_read_end: 0,
            last_write_end: 0,
            high_water: 0,
            wal_page_size: 0,
        }
    }

    /// Records one call on this file.
    #[inline]
    pub fn record(&self, layout: &Layout, op: Op, call: Timed, bytes: u64, offset: u64, size: u32) {
        self.record_as(layout, op, self.kind, call, bytes, offset, size);
    }

    /// Records one call under another file kind (the shm methods).
    #[inline]
    #[allow(clippy::too_many_arguments)]
    pub fn record_as(
        &self,
        layout: &Layout,
        op: Op,
        kind: FileKind,
        call: Timed,
        bytes: u64,
        offset: u64,
        size: u32,
    ) {
        record_call(layout, op, kind, self.db, call, bytes, offset, size);
    }

    pub fn opened(&mut self, layout: &Layout, now_ns: u64) {
        layout.shape(self.kind, self.db).opens.fetch_add(1, Relaxed);
        self.open_row = layout.claim_open_file(self.kind, self.db, now_ns);
        self.level_since_ns = now_ns;
    }

    pub fn closed(&mut self, layout: &Layout, now_ns: u64) {
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
        if let Some(row) = self.open_row.take() {
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
        if rc == SQLITE_OK {
            if self.waiting_since_ns != 0 {
                layout.record_latency(&stats.wait_hist, call.end_ns - self.waiting_since_ns);
                self.waiting_since_ns = 0;
            }
            if target > self.lock {
                self.transition(layout, target, call.end_ns);
            }
            return;
        }
        if rc & 0xff == SQLITE_BUSY {
            stats.busy[target.index()].fetch_add(1, Relaxed);
            if self.waiting_since_ns == 0 {
                self.waiting_since_ns = call.start_ns.max(1);
            }
        }
        // unix VFSes keep the PENDING lock they took on the way to a refused
        // EXCLUSIVE (os_unix.c, unixLock), so new readers are held off.
        if unix_rules && target == LockLevel::Exclusive && self.lock == LockLevel::Reserved {
            self.transition(layout, LockLevel::Pending, call.end_ns);
        }
    }

    /// After `xUnlock(target)` returned `rc`.
    pub fn unlocked(&mut self, layout: &Layout, target: LockLevel, rc: i32, call: Timed) {
        if self.waiting_since_ns != 0 {
            layout
                .lock_stats(self.db)
                .waits_abandoned
                .fetch_add(1, Relaxed);
            self.waiting_since_ns = 0;
        }
        if rc == SQLITE_OK && target < self.lock {
            self.transition(layout, target, call.end_ns);
        }
    }

    fn transition(&mut self, layout: &Layout, to: LockLevel, now_ns: u64) {
        let stats = layout.lock_stats(self.db);
        stats.transitions[self.lock.index()][to.index()].fetch_add(1, Relaxed);
        if self.lock != LockLevel::None {
            layout.record_latency(
                &stats.hold_hist[self.lock.index()],
                now_ns.saturating_sub(self.level_since_ns),
            );
        }
        self.lock = to;
        self.level_since_ns = now_ns;
        if let Some(row) = self
            .open_row
            .and_then(|r| layout.open_files.get(r as usize))
        {
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
        let first = offset.clamp(0, SQLITE_SHM_NLOCK);
        let last = offset.saturating_add(n).clamp(first, SQLITE_SHM_NLOCK);
        let mask = (first..last).fold(0u8, |m, slot| m | 1 << slot);
        if mask == 0 {
            return;
        }
        let stats = layout.lock_stats(self.db);
        let exclusive = flags & SQLITE_SHM_EXCLUSIVE != 0;
        if flags & SQLITE_SHM_LOCK != 0 {
            for slot in first..last {
                let slot = slot as usize;
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
        } else if flags & SQLITE_SHM_UNLOCK != 0 && rc == SQLITE_OK {
            self.release_shm(layout, mask, now_ns);
        }
        self.publish_shm(layout);
    }

    /// Ends the hold of the WAL-index slots in `mask` (unlock, unmap, close).
    pub fn release_shm(&mut self, layout: &Layout, mask: u8, now_ns: u64) {
        let held = (self.shm_shared | self.shm_exclusive) & mask;
        if held == 0 {
            return;
        }
        let stats = layout.lock_stats(self.db);
        for slot in 0..SQLITE_SHM_NLOCK as usize {
            if held & (1 << slot) != 0 {
                layout.record_latency(
                    &stats.shm_hold_hist[slot],
                    now_ns.saturating_sub(self.shm_since_ns[slot]),
                );
            }
        }
        self.shm_shared &= !mask;
        self.shm_exclusive &= !mask;
        self.publish_shm(layout);
    }

    fn publish_shm(&self, layout: &Layout) {
        if let Some(row) = self
            .open_row
            .and_then(|r| layout.open_files.get(r as usize))
        {
            let held = self.shm_shared as u32 | (self.shm_exclusive as u32) << 8;
            row.shm_held.store(held, Relaxed);
        }
    }

    /// The page size to judge alignment by.
    fn page_size(&self, layout: &Layout) -> u64 {
        if self.kind == FileKind::Wal && self.wal_page_size != 0 {
            return self.wal_page_size as u64;
        }
        layout.page_size(self.db).unwrap_or(4096) as u64
    }

    /// Counts I/O not aligned to pages or blocks; returns the bytes beyond
    /// `amount` that a block store would move. Page and block sizes are
    /// powers of two, so masks replace divisions on this path.
    fn alignment(&self, layout: &Layout, offset: u64, amount: u64) -> u64 {
        let shape = layout.shape(self.kind, self.db);
        let page_mask = self.page_size(layout) - 1;
        if (offset | amount) & page_mask != 0 {
            shape.unaligned_page.fetch_add(1, Relaxed);
        }
        let block_mask = recorder::block_size() - 1;
        if (offset | amount) & block_mask == 0 {
            return 0;
        }
        shape.unaligned_block.fetch_add(1, Relaxed);
        let start = offset & !block_mask;
        let end = (offset + amount + block_mask) & !block_mask;
        end - start - amount
    }

    /// After a successful `xRead` of `buf[..amount]` at `offset`.
    pub fn read_done(&mut self, layout: &Layout, buf: *const c_void, amount: u64, offset: u64) {
        let shape = layout.shape(self.kind, self.db);
        if offset != self.last_read_end {
            shape.reads_random.fetch_add(1, Relaxed);
        }
        self.last_read_end = offset + amount;
        let extra = self.alignment(layout, offset, amount);
        if extra != 0 {
            shape.block_extra_read.fetch_add(extra, Relaxed);
        }
        if offset == 0 {
            // SAFETY: SQLite's buffer holds `amount` bytes, just filled.
            let head = unsafe { std::slice::from_raw_parts(buf as *const u8, amount as usize) };
            self.learn_page_size(layout, head);
        }
    }

    /// After a successful `xWrite` of `buf[..amount]` at `offset`.
    pub fn write_done(&mut self, layout: &Layout, buf: *const c_void, amount: u64, offset: u64) {
        let shape = layout.shape(self.kind, self.db);
        let end = offset + amount;
        if offset >= self.high_water {
            shape.writes_append.fetch_add(1, Relaxed);
        } else if offset != self.last_write_end {
            shape.writes_random.fetch_add(1, Relaxed);
        }
        self.last_write_end = end;
        self.high_water = self.high_water.max(end);
        let extra = self.alignment(layout, offset, amount);
        if extra != 0 {
            shape.block_extra_written.fetch_add(extra, Relaxed);
        }
        // SAFETY: SQLite's buffer holds `amount` bytes for the whole call.
        let data = unsafe { std::slice::from_raw_parts(buf as *const u8, amount as usize) };
        if offset == 0 {
            self.learn_page_size(layout, data);
        } else if self.kind == FileKind::Wal {
            self.count_wal_frame(layout, data, offset);
        }
    }

    /// A WAL frame is a 24-byte header then a page; SQLite writes the header
    /// by itself, some VFS users write both at once. Bytes 4..8 of the header
    /// hold the database size after a commit, 0 in other frames.
    fn count_wal_frame(&self, layout: &Layout, data: &[u8], offset: u64) {
        let page = self.page_size(layout);
        let frame = page + 24;
        let at_frame_start = offset >= 32 && (offset - 32) % frame == 0;
        if !at_frame_start || !(data.len() as u64 == 24 || data.len() as u64 == frame) {
            return;
        }
        let shape = layout.shape(self.kind, self.db);
        shape.wal_frames.fetch_add(1, Relaxed);
        shape.wal_frame_bytes.fetch_add(page, Relaxed);
        if be32(data, 4).is_some_and(|size| size != 0) {
            shape.wal_commits.fetch_add(1, Relaxed);
        }
    }

    /// Page size from a database header (bytes 16..18, 1 meaning 65536) or a
    /// WAL header (bytes 8..12).
    pub fn learn_page_size(&mut self, layout: &Layout, head: &[u8]) {
        let size = match self.kind {
            FileKind::Wal => be32(head, 8),
            FileKind::MainDb => head
                .get(16..18)
                .map(|b| match u16::from_be_bytes([b[0], b[1]]) {
                    1 => 65536,
                    n => n as u32,
                }),
            _ => None,
        };
        let Some(size) = size.filter(|s| s.is_power_of_two() && (512..=65536).contains(s)) else {
            return;
        };
        if self.kind == FileKind::Wal {
            self.wal_page_size = size;
        }
        if self.db != DB_NONE {
            layout.set_page_size(self.db, size);
        }
    }

    /// The file is now known to be `size` bytes long.
    pub fn sized(&mut self, size: u64) {
        self.high_water = size;
    }
}

fn be32(data: &[u8], at: usize) -> Option<u32> {
    data.get(at..at + 4)
        .map(|b| u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
}

use std::sync::atomic::Ordering::Relaxed;

/// Start and end of one forwarded call, and its result.
#[derive(Clone, Copy, Debug)]
pub struct Timed {
    pub start_ns: u64,
    pub end_ns: u64,
    pub rc: i32,
}

/// Records a call: its cell, and the slow-call ring when slow enough.
#[inline]
#[allow(clippy::too_many_arguments)]
pub fn record_call(
    layout: &Layout,
    op: Op,
    kind: FileKind,
    db: u16,
    call: Timed,
    bytes: u64,
    offset: u64,
    size: u32,
) {
    let latency = call.end_ns.saturating_sub(call.start_ns);
    layout.record_call(op, kind, db, call.rc, bytes, latency);
    if latency >= recorder::slow_threshold_ns() {
        layout.push_slow(&SlowCallRecord {
            op,
            kind,
            db,
            start_ns: call.start_ns,
            latency_ns: latency,
            offset,
            size,
            rc: call.rc,
        });
    }
}
