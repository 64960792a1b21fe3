//! The `sqlite3_io_methods` tables handed to SQLite.
//!
//! SQLite decides what a file can do from its method table: WAL needs
//! `iVersion >= 2` and a non-NULL `xShmMap`, memory-mapped I/O needs
//! `iVersion >= 3`. So the table vfscope installs on a file mirrors the real
//! file's table exactly: the same `iVersion` and a trampoline where the real
//! table has a method, NULL where it has none. Tables are cached by that
//! signature (a process sees only a handful: 32 lock-free slots, then a
//! locked list for any further ones), built once and never freed.

use crate::ffi::sqlite3_io_methods;
use crate::io::*;
use std::cell::UnsafeCell;
use std::sync::atomic::{AtomicU32, AtomicU8, Ordering::*};
use std::sync::Mutex;

const FREE: u8 = 0;
const BUILDING: u8 = 1;
const READY: u8 = 2;

struct TableSlot {
    state: AtomicU8,
    signature: AtomicU32,
    table: UnsafeCell<sqlite3_io_methods>,
}

// SAFETY: `table` is written once, by the thread that moved `state` from
// FREE to BUILDING, and read only after `state` is READY (release/acquire).
unsafe impl Sync for TableSlot {}

static SLOTS: [TableSlot; 32] = [const {
    TableSlot {
        state: AtomicU8::new(FREE),
        signature: AtomicU32::new(0),
        table: UnsafeCell::new(sqlite3_io_methods::EMPTY),
    }
}; 32];

/// Tables of signatures beyond the 32 slots: still exact (a table that
/// offered `xShmMap` or `xFetch` the real file lacks would change what
/// SQLite does with the file), just found under a lock, at open.
static MORE: Mutex<Vec<(u32, &'static sqlite3_io_methods)>> = Mutex::new(Vec::new());

/// Whether `table` is one vfscope installs (every one closes through
/// vfscope's `x_close`).
pub fn is_ours(table: &sqlite3_io_methods) -> bool {
    table.xClose.map(|f| f as *const ()) == Some(x_close as *const ())
}

/// The table to install over a file whose real table is `real`.
pub fn wrapper_for(real: &sqlite3_io_methods) -> &'static sqlite3_io_methods {
    let signature = signature(real);
    for slot in &SLOTS {
        loop {
            match slot.state.load(Acquire) {
                READY if slot.signature.load(Relaxed) == signature => {
                    // SAFETY: READY tables are never written again.
                    return unsafe { &*slot.table.get() };
                }
                READY => break,
                FREE => {
                    if slot
                        .state
                        .compare_exchange(FREE, BUILDING, Acquire, Relaxed)
                        .is_ok()
                    {
                        // SAFETY: winning FREE -> BUILDING gives this thread
                        // the only access until READY is published.
                        unsafe { *slot.table.get() = build(signature) };
                        slot.signature.store(signature, Relaxed);
                        slot.state.store(READY, Release);
                    }
                }
                _ => std::hint::spin_loop(),
            }
        }
    }
    let mut more = MORE.lock().unwrap_or_else(|e| e.into_inner());
    if let Some(&(_, table)) = more.iter().find(|(s, _)| *s == signature) {
        return table;
    }
    let table: &'static sqlite3_io_methods = Box::leak(Box::new(build(signature)));
    more.push((signature, table));
    table
}

/// Bits 0..2: iVersion (1..=3); bit 2 + i: method i present.
fn signature(real: &sqlite3_io_methods) -> u32 {
    let version = real.iVersion.clamp(1, 3) as u32;
    let mut present = [
        real.xClose.is_some(),
        real.xRead.is_some(),
        real.xWrite.is_some(),
        real.xTruncate.is_some(),
        real.xSync.is_some(),
        real.xFileSize.is_some(),
        real.xLock.is_some(),
        real.xUnlock.is_some(),
        real.xCheckReservedLock.is_some(),
        real.xFileControl.is_some(),
        real.xSectorSize.is_some(),
        real.xDeviceCharacteristics.is_some(),
        real.xShmMap.is_some(),
        real.xShmLock.is_some(),
        real.xShmBarrier.is_some(),
        real.xShmUnmap.is_some(),
        real.xFetch.is_some(),
        real.xUnfetch.is_some(),
    ];
    // Slots past the table's version are not part of it, whatever they hold.
    let known = match version {
        1 => 12,
        2 => 16,
        _ => 18,
    };
    present[known..].fill(false);
    present
        .iter()
        .enumerate()
        .fold(version, |sig, (i, &p)| sig | (p as u32) << (2 + i))
}

const fn build(signature: u32) -> sqlite3_io_methods {
    const fn present(signature: u32, i: u32) -> bool {
        signature & (1 << (2 + i)) != 0
    }
    let version = signature & 3;
    let mut t = sqlite3_io_methods::EMPTY;
    t.iVersion = version as i32;
    if present(signature, 0) {
        t.xClose = Some(x_close);
    }
    if present(signature, 1) {
        t.xRead = Some(x_read);
    }
    if present(signature, 2) {
        t.xWrite = Some(x_write);
    }
    if present(signature, 3) {
        t.xTruncate = Some(x_truncate);
    }
    if present(signature, 4) {
        t.xSync = Some(x_sync);
    }
    if present(signature, 5) {
        t.xFileSize = Some(x_file_size);
    }
    if present(signature, 6) {
        t.xLock = Some(x_lock);
    }
    if present(signature, 7) {
        t.xUnlock = Some(x_unlock);
    }
    if present(signature, 8) {
        t.xCheckReservedLock = Some(x_check_reserved_lock);
    }
    if present(signature, 9) {
        t.xFileControl = Some(x_file_control);
    }
    if present(signature, 10) {
        t.xSectorSize = Some(x_sector_size);
    }
    if present(signature, 11) {
        t.xDeviceCharacteristics = Some(x_device_characteristics);
    }
    if present(signature, 12) {
        t.xShmMap = Some(x_shm_map);
    }
    if present(signature, 13) {
        t.xShmLock = Some(x_shm_lock);
    }
    if present(signature, 14) {
        t.xShmBarrier = Some(x_shm_barrier);
    }
    if present(signature, 15) {
        t.xShmUnmap = Some(x_shm_unmap);
    }
    if present(signature, 16) {
        t.xFetch = Some(x_fetch);
    }
    if present(signature, 17) {
        t.xUnfetch = Some(x_unfetch);
    }
    t
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wrapper_mirrors_version_and_null_slots() {
        let mut real = sqlite3_io_methods::EMPTY;
        real.iVersion = 2;
        real.xClose = Some(x_close);
        real.xRead = Some(x_read);
        real.xShmMap = Some(x_shm_map);
        real.xFetch = Some(x_fetch); // beyond version 2: not part of the table
        let w = wrapper_for(&real);
        assert_eq!(w.iVersion, 2);
        assert!(w.xClose.is_some() && w.xRead.is_some() && w.xShmMap.is_some());
        assert!(w.xWrite.is_none() && w.xShmLock.is_none() && w.xFetch.is_none());
        assert!(std::ptr::eq(w, wrapper_for(&real)), "tables are cached");

        real.iVersion = 3;
        let v3 = wrapper_for(&real);
        assert_eq!(v3.iVersion, 3);
        assert!(v3.xFetch.is_some() && v3.xUnfetch.is_none());
        assert!(!std::ptr::eq(w, v3));
    }

    /// Past the 32 cached slots, tables still mirror the real one exactly.
    #[test]
    fn more_signatures_than_slots_stay_exact() {
        let mut tables = Vec::new();
        for n in 0..48u32 {
            let mut real = sqlite3_io_methods::EMPTY;
            real.iVersion = 1;
            real.xClose = Some(x_close);
            // 48 distinct subsets of the version-1 methods.
            if n & 1 != 0 {
                real.xRead = Some(x_read);
            }
            if n & 2 != 0 {
                real.xWrite = Some(x_write);
            }
            if n & 4 != 0 {
                real.xTruncate = Some(x_truncate);
            }
            if n & 8 != 0 {
                real.xSync = Some(x_sync);
            }
            if n & 16 != 0 {
                real.xFileSize = Some(x_file_size);
            }
            if n & 32 != 0 {
                real.xSectorSize = Some(x_sector_size);
            }
            let w = wrapper_for(&real);
            assert_eq!(w.iVersion, 1);
            assert_eq!(w.xRead.is_some(), real.xRead.is_some(), "{n}");
            assert_eq!(w.xSectorSize.is_some(), real.xSectorSize.is_some(), "{n}");
            assert!(w.xShmMap.is_none() && w.xFetch.is_none(), "{n}");
            tables.push(w as *const _);
        }
        tables.sort();
        tables.dedup();
        assert_eq!(tables.len(), 48, "one table per signature");
    }
}
