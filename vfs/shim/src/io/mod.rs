//! The `sqlite3_io_methods` trampolines: forward to the real file's method,
//! time it, record it. Each is named after the C slot it fills.
//!
//! The real call happens exactly once, whatever vfscope's own bookkeeping
//! does: what runs before it (the latency model's plan, the PRAGMA check)
//! is caught on its own and falls back to the plain call; the result is
//! kept before anything is recorded, and recording runs inside
//! `catch_unwind`. An internal fault switches vfscope to plain passthrough
//! and never changes a result or unwinds into SQLite.
//!
//! # What one recorded call does, in order
//!
//! Taking [`x_write`] (the longest path; the others leave steps out):
//! 1. `parts`: the traced file's own state (`file::FileState`), the real
//!    file and its real methods.
//! 2. Notes for the trace, only while tracing: a WAL frame header's page
//!    and commit (`FileState::wal_frame`, `calls::note_frame`), or one WAL
//!    page in 8, LZ4-compressed (`calls::note_wal_page`).
//! 3. `calls::timed_modelled`: clock ticks at the start; if a model is
//!    active or a reader asked for one (`latency::idle`, two loads), the
//!    model's plan (`latency::plan`: an injected fault replaces the real
//!    call, a delay is waited out after it); the real method, exactly
//!    once; ticks at the end.
//! 4. `FileState::record` (written out in `file.rs` for io methods and in
//!    `calls::record_in` for the VFS's own, measured cheaper than one
//!    shared function): the cell of (op, file kind, database) counts the
//!    call, its result, bytes and latency histogram. Rarely (a slow call,
//!    a modelled one, or every call while tracing) the detour: the trace
//!    queue (`trace_queue`), what the model did, the slow-call ring.
//! 5. `FileState::write_done` / `read_done` (`file/shape.rs`): the
//!    file's access pattern (append or random, block alignment, WAL
//!    frames and commits) and the transaction it belongs to (`txn`).
//!
//! Locks (`x_lock`, `x_unlock`, the shm methods) add the lock-state
//! transition and hold times (`file/locks.rs`) after step 4.

use crate::calls::{self, guarded};
use crate::calls::{timed, timed_modelled, Timed};
use crate::clock::now_ticks;
use crate::ffi::*;
use crate::file::{FileState, TracedFile};
use crate::{latency, recorder};

mod shm;
pub use shm::{x_shm_barrier, x_shm_lock, x_shm_map, x_shm_unmap};
use std::os::raw::{c_int, c_void};
use std::panic::{catch_unwind, AssertUnwindSafe};
use vfscope_segment::{Layout, LockLevel, Op};

/// The traced file's state, the real file, and its real methods.
///
/// # Safety
/// `file` must be a file that `x_open` opened and that SQLite has not closed
/// yet; then its real file was opened and has a non-NULL method table.
#[inline(always)]
pub(super) unsafe fn parts<'a>(
    file: *mut sqlite3_file,
) -> (&'a mut FileState, *mut sqlite3_file, &'a sqlite3_io_methods) {
    let traced = file.cast::<TracedFile>();
    // SAFETY: per the contract above: x_open set `state` to its own live
    // allocation (apart from the file's memory), which only this file's
    // calls use and SQLite serialises them; the real file's table outlives
    // the file.
    unsafe {
        let real = std::ptr::addr_of_mut!((*traced).real);
        (&mut *(*traced).state, real, &*(*real).pMethods)
    }
}

/// Runs `record` with the current segment, if recording.
#[inline(always)]
pub(super) fn with_layout(record: impl FnOnce(&'static Layout)) {
    if let Some(layout) = recorder::layout() {
        record(layout);
    }
}

fn level(level: c_int) -> LockLevel {
    LockLevel::from_index(level.clamp(0, 4) as usize).unwrap_or(LockLevel::None)
}

fn ok_bytes(call: Timed, amount: c_int) -> u64 {
    if call.rc == SQLITE_OK {
        amount.max(0) as u64
    } else {
        0
    }
}

/// # Safety
/// `file` is open (see [`parts`]); the rest as SQLite passes it.
pub unsafe extern "C" fn x_close(file: *mut sqlite3_file) -> c_int {
    let mut rc = SQLITE_IOERR;
    guarded("xClose", || {
        // SAFETY: SQLite closes only files x_open opened; see `parts`.
        let (state, real, methods) = unsafe { parts(file) };
        if let Some(close) = methods.xClose {
            // SAFETY: forwarding SQLite's own argument to the real method.
            let call = timed(|| unsafe { close(real) });
            rc = call.rc;
            with_layout(|layout| {
                state.record(layout, Op::Close, call, 0, 0, 0);
                state.closed(layout, call.end);
            });
        }
        // SAFETY: SQLite calls xClose once and no method after it; the state
        // came from FileState::allocate in x_open and `state` is not used
        // again.
        unsafe { FileState::free(state) };
    });
    rc
}

/// # Safety
/// `file` is open (see [`parts`]); the rest as SQLite passes it.
pub unsafe extern "C" fn x_read(
    file: *mut sqlite3_file,
    buf: *mut c_void,
    amount: c_int,
    offset: i64,
) -> c_int {
    let mut rc = SQLITE_IOERR;
    guarded("xRead", || {
        // SAFETY: see `parts`.
        let (state, real, methods) = unsafe { parts(file) };
        let Some(read) = methods.xRead else { return };
        // SAFETY: forwarding SQLite's own arguments; the real method keeps
        // the short-read contract (zero-fill) and vfscope does not touch it.
        let call = timed_modelled(
            |now| state.model_call(Op::Read, offset as u64, amount as u64, None, now),
            || unsafe { read(real, buf, amount, offset) },
        );
        rc = call.rc;
        with_layout(|layout| {
            let bytes = ok_bytes(call, amount);
            state.record(layout, Op::Read, call, bytes, offset as u64, amount as u32);
            if call.rc == SQLITE_OK {
                state.read_done(layout, buf, bytes, offset as u64);
            }
        });
    });
    rc
}

/// # Safety
/// `file` is open (see [`parts`]); the rest as SQLite passes it.
pub unsafe extern "C" fn x_write(
    file: *mut sqlite3_file,
    buf: *const c_void,
    amount: c_int,
    offset: i64,
) -> c_int {
    let mut rc = SQLITE_IOERR;
    guarded("xWrite", || {
        // SAFETY: see `parts`.
        let (state, real, methods) = unsafe { parts(file) };
        let Some(write) = methods.xWrite else { return };
        // SAFETY: SQLite's buffer holds `amount` bytes for the whole call.
        let frame = unsafe { state.wal_frame(buf, amount, offset) };
        if let Some(frame) = frame {
            calls::note_frame(frame);
        } else if calls::tracing() {
            // SAFETY: as above.
            if let Some(page) = unsafe { state.wal_page(buf, amount, offset) } {
                calls::note_wal_page(page);
            }
        }
        // SAFETY: forwarding SQLite's own arguments.
        let call = timed_modelled(
            |now| {
                let mut c = state.model_call(Op::Write, offset as u64, amount as u64, None, now);
                c.frame = frame;
                c
            },
            || unsafe { write(real, buf, amount, offset) },
        );
        rc = call.rc;
        with_layout(|layout| {
            let bytes = ok_bytes(call, amount);
            state.record(layout, Op::Write, call, bytes, offset as u64, amount as u32);
            if call.rc == SQLITE_OK {
                state.write_done(layout, buf, bytes, offset as u64);
            }
        });
    });
    rc
}

/// # Safety
/// `file` is open (see [`parts`]); the rest as SQLite passes it.
pub unsafe extern "C" fn x_truncate(file: *mut sqlite3_file, size: i64) -> c_int {
    let mut rc = SQLITE_IOERR;
    guarded("xTruncate", || {
        // SAFETY: see `parts`.
        let (state, real, methods) = unsafe { parts(file) };
        let Some(truncate) = methods.xTruncate else {
            return;
        };
        // SAFETY: forwarding SQLite's own arguments.
        let call = timed_modelled(
            |now| state.model_call(Op::Truncate, size as u64, 0, None, now),
            || unsafe { truncate(real, size) },
        );
        rc = call.rc;
        with_layout(|layout| {
            state.record(layout, Op::Truncate, call, 0, size as u64, 0);
            if call.rc == SQLITE_OK {
                state.sized(layout, size.max(0) as u64);
            }
        });
    });
    rc
}

/// # Safety
/// `file` is open (see [`parts`]); the rest as SQLite passes it.
pub unsafe extern "C" fn x_sync(file: *mut sqlite3_file, flags: c_int) -> c_int {
    let mut rc = SQLITE_IOERR;
    guarded("xSync", || {
        // SAFETY: see `parts`.
        let (state, real, methods) = unsafe { parts(file) };
        let Some(sync) = methods.xSync else { return };
        // SAFETY: forwarding SQLite's own arguments.
        let call = timed_modelled(
            |now| state.model_call(Op::Sync, 0, 0, None, now),
            || unsafe { sync(real, flags) },
        );
        rc = call.rc;
        with_layout(|layout| {
            state.record(layout, Op::Sync, call, 0, 0, 0);
            state.txn.synced();
        });
    });
    rc
}

/// # Safety
/// `file` is open (see [`parts`]); the rest as SQLite passes it.
pub unsafe extern "C" fn x_file_size(file: *mut sqlite3_file, size: *mut i64) -> c_int {
    let mut rc = SQLITE_IOERR;
    guarded("xFileSize", || {
        // SAFETY: see `parts`.
        let (state, real, methods) = unsafe { parts(file) };
        let Some(file_size) = methods.xFileSize else {
            return;
        };
        // SAFETY: forwarding SQLite's own arguments.
        let call = timed_modelled(
            |now| state.model_call(Op::FileSize, 0, 0, None, now),
            || unsafe { file_size(real, size) },
        );
        rc = call.rc;
        // SAFETY: the real method just stored the size through it.
        let known =
            (call.rc == SQLITE_OK && !size.is_null()).then(|| unsafe { *size }.max(0) as u64);
        if let Some(known) = known.filter(|_| call.injected & Timed::MODELLED != 0) {
            latency::observe_size(state.db, state.kind, known);
        }
        with_layout(|layout| {
            // The trace's offset of a file size is the size returned.
            state.record(layout, Op::FileSize, call, 0, known.unwrap_or(0), 0);
            if let Some(known) = known {
                state.sized(layout, known);
            }
        });
    });
    rc
}

/// # Safety
/// `file` is open (see [`parts`]); the rest as SQLite passes it.
pub unsafe extern "C" fn x_lock(file: *mut sqlite3_file, target: c_int) -> c_int {
    let mut rc = SQLITE_IOERR;
    guarded("xLock", || {
        // SAFETY: see `parts`.
        let (state, real, methods) = unsafe { parts(file) };
        let Some(lock) = methods.xLock else { return };
        // SAFETY: forwarding SQLite's own arguments.
        let levels = Some((state.lock_level(), level(target)));
        let call = timed_modelled(
            |now| state.model_call(Op::Lock, 0, 0, levels, now),
            || unsafe { lock(real, target) },
        );
        rc = call.rc;
        with_layout(|layout| {
            // The level asked for and the level before, where I/O calls
            // keep their offset and size (the trace and slow calls show them).
            let from = levels.map_or(0, |(from, _)| from as u32);
            state.record(layout, Op::Lock, call, 0, target.max(0) as u64, from);
            state.locked(layout, level(target), call);
        });
    });
    rc
}

/// # Safety
/// `file` is open (see [`parts`]); the rest as SQLite passes it.
pub unsafe extern "C" fn x_unlock(file: *mut sqlite3_file, target: c_int) -> c_int {
    let mut rc = SQLITE_IOERR;
    guarded("xUnlock", || {
        // SAFETY: see `parts`.
        let (state, real, methods) = unsafe { parts(file) };
        let Some(unlock) = methods.xUnlock else {
            return;
        };
        // SAFETY: forwarding SQLite's own arguments.
        let levels = Some((state.lock_level(), level(target)));
        let call = timed_modelled(
            |now| state.model_call(Op::Unlock, 0, 0, levels, now),
            || unsafe { unlock(real, target) },
        );
        rc = call.rc;
        with_layout(|layout| {
            // The level asked for and the level before, where I/O calls
            // keep their offset and size (the trace and slow calls show them).
            let from = levels.map_or(0, |(from, _)| from as u32);
            state.record(layout, Op::Unlock, call, 0, target.max(0) as u64, from);
            state.unlocked(layout, level(target), call);
        });
    });
    rc
}

/// # Safety
/// `file` is open (see [`parts`]); the rest as SQLite passes it.
pub unsafe extern "C" fn x_check_reserved_lock(file: *mut sqlite3_file, out: *mut c_int) -> c_int {
    let mut rc = SQLITE_IOERR;
    guarded("xCheckReservedLock", || {
        // SAFETY: see `parts`.
        let (state, real, methods) = unsafe { parts(file) };
        let Some(check) = methods.xCheckReservedLock else {
            return;
        };
        // SAFETY: forwarding SQLite's own arguments.
        let call = timed(|| unsafe { check(real, out) });
        rc = call.rc;
        with_layout(|layout| state.record(layout, Op::CheckReservedLock, call, 0, 0, 0));
    });
    rc
}

/// # Safety
/// `file` is open (see [`parts`]); the rest as SQLite passes it.
pub unsafe extern "C" fn x_file_control(
    file: *mut sqlite3_file,
    op: c_int,
    arg: *mut c_void,
) -> c_int {
    let mut rc = SQLITE_NOTFOUND;
    guarded("xFileControl", || {
        // SAFETY: see `parts`.
        let (state, real, methods) = unsafe { parts(file) };
        let Some(control) = methods.xFileControl else {
            return;
        };
        if op == SQLITE_FCNTL_PRAGMA {
            let start = now_ticks();
            // SAFETY: for this opcode `arg` is SQLite's `char *[3]`, and
            // `state.vfs` outlives the file (see x_lock). A fault in it
            // leaves the PRAGMA to the real method.
            let answer = catch_unwind(AssertUnwindSafe(|| unsafe {
                crate::pragma::handle(&(*state.vfs).api, arg.cast())
            }))
            .unwrap_or_else(|_| {
                recorder::degrade("PRAGMA vfscope_latency");
                None
            });
            if let Some(answer) = answer {
                rc = answer;
                let call = Timed {
                    start,
                    end: now_ticks(),
                    rc,
                    delay_ns: 0,
                    injected: 0,
                };
                with_layout(|layout| state.record(layout, Op::FileControl, call, 0, 0, 0));
                return;
            }
        }
        // SAFETY: forwarding SQLite's own arguments; unknown opcodes and
        // PRAGMAs pass through untouched.
        let call = timed(|| unsafe { control(real, op, arg) });
        rc = call.rc;
        if op == SQLITE_FCNTL_VFSNAME {
            // SAFETY: `state.vfs` outlives the file (see x_lock).
            let vfs = unsafe { &*state.vfs };
            // A wrapper the program did not ask for answers as its parent.
            if vfs.unseen.is_none() {
                // SAFETY: for this opcode `arg` is a `char **` (SQLite's
                // contract).
                rc = unsafe { crate::vfs_name::prefix(&vfs.api, &vfs.parent_name, arg.cast(), rc) };
            }
        }
        with_layout(|layout| state.record(layout, Op::FileControl, Timed { rc, ..call }, 0, 0, 0));
    });
    rc
}

/// # Safety
/// `file` is open (see [`parts`]); the rest as SQLite passes it.
pub unsafe extern "C" fn x_sector_size(file: *mut sqlite3_file) -> c_int {
    let mut size = 4096;
    guarded("xSectorSize", || {
        // SAFETY: see `parts`.
        let (state, real, methods) = unsafe { parts(file) };
        let Some(sector_size) = methods.xSectorSize else {
            return;
        };
        // SAFETY: forwarding SQLite's own argument.
        let call = timed(|| unsafe { sector_size(real) });
        size = call.rc;
        with_layout(|layout| {
            state.record(layout, Op::SectorSize, Timed { rc: 0, ..call }, 0, 0, 0)
        });
    });
    size
}

/// # Safety
/// `file` is open (see [`parts`]); the rest as SQLite passes it.
pub unsafe extern "C" fn x_device_characteristics(file: *mut sqlite3_file) -> c_int {
    let mut flags = 0;
    guarded("xDeviceCharacteristics", || {
        // SAFETY: see `parts`.
        let (state, real, methods) = unsafe { parts(file) };
        let Some(characteristics) = methods.xDeviceCharacteristics else {
            return;
        };
        // SAFETY: forwarding SQLite's own argument.
        let call = timed(|| unsafe { characteristics(real) });
        flags = call.rc;
        with_layout(|layout| {
            state.record(
                layout,
                Op::DeviceCharacteristics,
                Timed { rc: 0, ..call },
                0,
                0,
                0,
            )
        });
    });
    flags
}

/// # Safety
/// `file` is open (see [`parts`]); the rest as SQLite passes it.
pub unsafe extern "C" fn x_fetch(
    file: *mut sqlite3_file,
    offset: i64,
    amount: c_int,
    out: *mut *mut c_void,
) -> c_int {
    let mut rc = SQLITE_IOERR;
    guarded("xFetch", || {
        // SAFETY: see `parts`.
        let (state, real, methods) = unsafe { parts(file) };
        let Some(fetch) = methods.xFetch else { return };
        // SAFETY: forwarding SQLite's own arguments.
        let call = timed(|| unsafe { fetch(real, offset, amount, out) });
        rc = call.rc;
        with_layout(|layout| {
            // SAFETY: `out` is SQLite's `void **`; the real method set it.
            let page = if out.is_null() {
                std::ptr::null_mut()
            } else {
                unsafe { *out }
            };
            let mapped = call.rc == SQLITE_OK && !page.is_null();
            let bytes = if mapped { amount.max(0) as u64 } else { 0 };
            state.record(layout, Op::Fetch, call, bytes, offset as u64, amount as u32);
            if mapped {
                layout
                    .shape(state.kind, state.db)
                    .fetch_mapped
                    .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                if offset == 0 {
                    // SAFETY: a successful fetch maps `amount` readable bytes.
                    let head =
                        unsafe { std::slice::from_raw_parts(page as *const u8, amount as usize) };
                    state.learn_page_size(layout, head);
                }
            }
        });
    });
    rc
}

/// # Safety
/// `file` is open (see [`parts`]); the rest as SQLite passes it.
pub unsafe extern "C" fn x_unfetch(
    file: *mut sqlite3_file,
    offset: i64,
    page: *mut c_void,
) -> c_int {
    let mut rc = SQLITE_IOERR;
    guarded("xUnfetch", || {
        // SAFETY: see `parts`.
        let (state, real, methods) = unsafe { parts(file) };
        let Some(unfetch) = methods.xUnfetch else {
            return;
        };
        // SAFETY: forwarding SQLite's own arguments.
        let call = timed(|| unsafe { unfetch(real, offset, page) });
        rc = call.rc;
        with_layout(|layout| state.record(layout, Op::Unfetch, call, 0, offset as u64, 0));
    });
    rc
}
