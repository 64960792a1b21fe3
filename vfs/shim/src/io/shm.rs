//! The WAL-index (shm) methods: forward, time, record, as the other io
//! methods do (see the module above for the order of a recorded call), with
//! the WAL-index lock slots' own bookkeeping.

use super::{parts, with_layout};
use crate::calls::{guarded, timed};
use crate::ffi::*;
use std::os::raw::{c_int, c_void};
use vfscope_segment::{FileKind, Op};
/// # Safety
/// `file` is open (see [`parts`]); the rest as SQLite passes it.
pub unsafe extern "C" fn x_shm_map(
    file: *mut sqlite3_file,
    page: c_int,
    page_size: c_int,
    extend: c_int,
    out: *mut *mut c_void,
) -> c_int {
    let mut rc = SQLITE_IOERR;
    guarded("xShmMap", || {
        // SAFETY: see `parts`.
        let (state, real, methods) = unsafe { parts(file) };
        let Some(shm_map) = methods.xShmMap else {
            return;
        };
        // SAFETY: forwarding SQLite's own arguments.
        let call = timed(|| unsafe { shm_map(real, page, page_size, extend, out) });
        rc = call.rc;
        if rc == SQLITE_OK {
            state.txn.wal_mapped();
        }
        with_layout(|layout| {
            let offset = page.max(0) as u64 * page_size.max(0) as u64;
            state.record_as(
                layout,
                Op::ShmMap,
                FileKind::Shm,
                call,
                0,
                offset,
                page_size as u32,
            )
        });
    });
    rc
}

/// # Safety
/// `file` is open (see [`parts`]); the rest as SQLite passes it.
pub unsafe extern "C" fn x_shm_lock(
    file: *mut sqlite3_file,
    offset: c_int,
    n: c_int,
    flags: c_int,
) -> c_int {
    let mut rc = SQLITE_IOERR;
    guarded("xShmLock", || {
        // SAFETY: see `parts`.
        let (state, real, methods) = unsafe { parts(file) };
        let Some(shm_lock) = methods.xShmLock else {
            return;
        };
        // SAFETY: forwarding SQLite's own arguments.
        let call = timed(|| unsafe { shm_lock(real, offset, n, flags) });
        rc = call.rc;
        with_layout(|layout| {
            state.record_as(
                layout,
                Op::ShmLock,
                FileKind::Shm,
                call,
                0,
                offset as u64,
                n as u32,
            );
            state.shm_locked(layout, offset, n, flags, call.rc, call.end);
        });
    });
    rc
}

/// # Safety
/// `file` is open (see [`parts`]); the rest as SQLite passes it.
pub unsafe extern "C" fn x_shm_barrier(file: *mut sqlite3_file) {
    guarded("xShmBarrier", || {
        // SAFETY: see `parts`.
        let (state, real, methods) = unsafe { parts(file) };
        let Some(barrier) = methods.xShmBarrier else {
            return;
        };
        let call = timed(|| {
            // SAFETY: forwarding SQLite's own argument.
            unsafe { barrier(real) };
            SQLITE_OK
        });
        with_layout(|layout| state.record_as(layout, Op::ShmBarrier, FileKind::Shm, call, 0, 0, 0));
    });
}

/// # Safety
/// `file` is open (see [`parts`]); the rest as SQLite passes it.
pub unsafe extern "C" fn x_shm_unmap(file: *mut sqlite3_file, delete: c_int) -> c_int {
    let mut rc = SQLITE_IOERR;
    guarded("xShmUnmap", || {
        // SAFETY: see `parts`.
        let (state, real, methods) = unsafe { parts(file) };
        let Some(shm_unmap) = methods.xShmUnmap else {
            return;
        };
        // SAFETY: forwarding SQLite's own arguments.
        let call = timed(|| unsafe { shm_unmap(real, delete) });
        rc = call.rc;
        with_layout(|layout| {
            state.record_as(layout, Op::ShmUnmap, FileKind::Shm, call, 0, 0, 0);
            // Unmapping drops this connection's WAL-index locks.
            state.release_shm(layout, 0xff, call.end);
        });
    });
    rc
}
