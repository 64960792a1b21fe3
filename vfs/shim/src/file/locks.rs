//! A file's lock state machine: its level and how long each was held, waits
//! for a level across BUSY answers, WAL-index locks, and what they tell the
//! transaction tracker.
//!
//! Times are clock ticks (see `clock`), converted when a span is recorded.
//! The usual calls (a lock granted with no wait going on, an unlock) take a
//! short path; BUSY answers and waits take [`FileState::locked_otherwise`].

use super::FileState;
use crate::calls::Timed;
use crate::clock;
use crate::ffi::*;
use std::sync::atomic::Ordering::Relaxed;
use vfscope_segment::layout::OpenFile;
use vfscope_segment::{Layout, LockLevel};

impl FileState {
    /// After `xLock(target)` returned.
    #[inline(always)]
    pub fn locked(&mut self, layout: &Layout, target: LockLevel, call: Timed) {
        if call.rc == SQLITE_OK && self.wait.idle() {
            if target > self.lock {
                self.transition(layout, target, call.end, 0);
            }
            return;
        }
        let (at, model) = call.parts();
        self.locked_otherwise(layout, target, at, model);
    }

    /// A lock call that failed, or one made while a wait goes on.
    #[cold]
    #[inline(never)]
    fn locked_otherwise(
        &mut self,
        layout: &Layout,
        target: LockLevel,
        at: (u64, u64, i32),
        model: (u64, u8),
    ) {
        let call = Timed::from_parts(at, model);
        let stats = layout.lock_stats(self.db);
        if self.wait.attempt(call.start_ns()) {
            stats.waits_abandoned.fetch_add(1, Relaxed);
        }
        if call.rc == SQLITE_OK {
            let mut wait_ns = 0;
            if let Some(waited) = self.wait.granted(target, call.end_ns()) {
                wait_ns = waited;
                layout.record_latency(&stats.wait_hist, wait_ns);
            }
            if target > self.lock {
                self.transition(layout, target, call.end, wait_ns);
            }
            return;
        }
        if call.rc & 0xff == SQLITE_BUSY {
            stats.busy[target.index()].fetch_add(1, Relaxed);
            self.wait.busy(target, call.start_ns());
        }
        // unix VFSes keep the PENDING lock they took on the way to a refused
        // EXCLUSIVE (os_unix.c, unixLock), so new readers are held off.
        // SAFETY: every traced file points at its VfsState, which is leaked
        // at registration and so outlives every file.
        let unix_rules = unsafe { (*self.vfs).unix_lock_rules };
        if unix_rules && target == LockLevel::Exclusive && self.lock == LockLevel::Reserved {
            self.transition(layout, LockLevel::Pending, call.end, 0);
        }
    }

    /// After `xUnlock(target)` returned.
    #[inline(always)]
    pub fn unlocked(&mut self, layout: &Layout, target: LockLevel, call: Timed) {
        if self.wait.waiting() {
            self.released_while_waiting(layout, call.start);
        }
        if call.rc == SQLITE_OK && target < self.lock {
            self.transition(layout, target, call.end, 0);
        }
    }

    /// An unlock while a wait goes on: the attempt ended BUSY, whatever
    /// comes next.
    #[cold]
    #[inline(never)]
    fn released_while_waiting(&mut self, layout: &Layout, start: u64) {
        let now_ns = clock::ticks_to_time(start);
        if let Some(since_ns) = self.wait.released(now_ns) {
            self.txn
                .gave_up(layout, now_ns.saturating_sub(since_ns), start);
        }
    }

    /// The lock went to `to` at `now` (ticks), after waiting `wait_ns` for
    /// it.
    #[inline(always)]
    fn transition(&mut self, layout: &Layout, to: LockLevel, now: u64, wait_ns: u64) {
        let from = self.lock;
        let stats = layout.lock_stats(self.db);
        stats.transitions[from.index()][to.index()].fetch_add(1, Relaxed);
        if from != LockLevel::None {
            layout.record_latency(
                &stats.hold_hist[from.index()],
                clock::ticks_to_ns(now.saturating_sub(self.level_since)),
            );
        }
        self.txn.lock_changed(layout, from, to, now, wait_ns);
        self.lock = to;
        self.level_since = now;
        if let Some(row) = self.open_file_row(layout) {
            row.lock_level.store(to as u32, Relaxed);
            row.level_since_ns.store(clock::ticks_to_time(now), Relaxed);
        }
    }

    /// After `xShmLock(offset, n, flags)` returned `rc` at `now` (ticks).
    /// Only a change of what is held is published: a refused lock, or an
    /// unlock of slots not held, leaves the state as it was.
    #[inline(always)]
    pub fn shm_locked(
        &mut self,
        layout: &Layout,
        offset: i32,
        n: i32,
        flags: i32,
        rc: i32,
        now: u64,
    ) {
        let mask = slot_mask(offset, n);
        if mask == 0 {
            return;
        }
        if rc != SQLITE_OK {
            if flags & SQLITE_SHM_LOCK != 0 && rc & 0xff == SQLITE_BUSY {
                self.shm_refused(layout, mask);
            }
            return;
        }
        if flags & SQLITE_SHM_LOCK != 0 {
            let exclusive = flags & SQLITE_SHM_EXCLUSIVE != 0;
            let stats = layout.lock_stats(self.db);
            for slot in slots(mask) {
                stats.shm_acquired[slot][exclusive as usize].fetch_add(1, Relaxed);
                self.shm_since[slot] = now;
            }
            if exclusive {
                self.shm_exclusive |= mask;
            } else {
                self.shm_shared |= mask;
            }
            self.publish_shm(layout, now);
        } else {
            self.release_shm(layout, mask, now);
        }
    }

    /// A WAL-index lock answered BUSY.
    #[cold]
    #[inline(never)]
    fn shm_refused(&self, layout: &Layout, mask: u8) {
        let stats = layout.lock_stats(self.db);
        for slot in slots(mask) {
            stats.shm_busy[slot].fetch_add(1, Relaxed);
        }
    }

    /// Ends the hold of the WAL-index slots in `mask` at `now` (ticks):
    /// unlock, unmap, close.
    #[inline(always)]
    pub fn release_shm(&mut self, layout: &Layout, mask: u8, now: u64) {
        let held = (self.shm_shared | self.shm_exclusive) & mask;
        if held == 0 {
            return;
        }
        let stats = layout.lock_stats(self.db);
        for slot in slots(held) {
            layout.record_latency(
                &stats.shm_hold_hist[slot],
                clock::ticks_to_ns(now.saturating_sub(self.shm_since[slot])),
            );
        }
        self.shm_shared &= !mask;
        self.shm_exclusive &= !mask;
        self.publish_shm(layout, now);
    }

    /// This file's row in the open-file table of `layout`, if it has one
    /// there.
    #[inline(always)]
    fn open_file_row<'a>(&self, layout: &'a Layout) -> Option<&'a OpenFile> {
        let (row, segment) = self.open_row?;
        std::ptr::eq(segment, layout)
            .then(|| layout.open_files.get(row as usize))
            .flatten()
    }

    /// Shows the WAL-index locks held in the open-file table and tells the
    /// transaction tracker.
    #[inline(always)]
    fn publish_shm(&mut self, layout: &Layout, now: u64) {
        if let Some(row) = self.open_file_row(layout) {
            let held = self.shm_shared as u32 | (self.shm_exclusive as u32) << 8;
            row.shm_held.store(held, Relaxed);
        }
        let reading = self.shm_shared & SHM_READ_SLOTS != 0;
        let writing = self.shm_exclusive & SHM_WRITE_SLOT != 0;
        self.txn
            .shm_changed(layout, self.lock, reading, writing, now);
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
