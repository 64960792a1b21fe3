//! The `sqlite3_vfs` vfscope registers: one per name, each wrapping a parent
//! VFS. Its methods forward to the parent and record; `x_open` wraps the
//! parent's file in a [`TracedFile`].

use crate::api::SqliteApi;
use crate::calls::guarded;
use crate::calls::{record_call, Timed};
use crate::calls::{timed, timed_modelled};
use crate::config::Error;
use crate::ffi::*;
use crate::file::DbPlace;
use crate::file::{FileState, TracedFile};
use crate::kinds::{kind_of, kind_of_path};
use crate::vfs_state::{Unseen, VfsState};
use crate::{recorder, tables};
use std::ffi::{CStr, CString};
use std::os::raw::{c_char, c_int, c_void};
use std::ptr::addr_of_mut;
use vfscope_segment::{FileKind, Layout, Op, DB_NONE};

/// The state behind one of vfscope's VFSes.
///
/// # Safety
/// `vfs` must be a VFS made by [`register`].
unsafe fn state<'a>(vfs: *mut sqlite3_vfs) -> &'a VfsState {
    // SAFETY: register() set pAppData to the leaked VfsState.
    unsafe { &*((*vfs).pAppData as *const VfsState) }
}

/// Where a file SQLite opens is recorded: its database row, and for a
/// database without a named row its catalog entry and path (SQLite keeps
/// the name it passes to xOpen valid until xClose). Journals and WAL files
/// share their database's; temp files have none.
fn db_of(layout: &Layout, name: *const c_char, kind: FileKind) -> DbPlace {
    if name.is_null() {
        return DbPlace::NONE;
    }
    // SAFETY: a non-NULL name from SQLite is NUL-terminated.
    let path = unsafe { CStr::from_ptr(name) }.to_bytes();
    match kind {
        FileKind::MainDb | FileKind::MainJournal | FileKind::Wal | FileKind::SuperJournal => {
            let path = kind_of_path(path).1;
            let (row, entry) = layout.resolve_db(path);
            DbPlace {
                row,
                entry,
                path: (path.as_ptr(), path.len()),
            }
        }
        _ => DbPlace::NONE,
    }
}

unsafe extern "C" fn x_open(
    vfs: *mut sqlite3_vfs,
    name: *const c_char,
    file: *mut sqlite3_file,
    flags: c_int,
    out_flags: *mut c_int,
) -> c_int {
    let mut rc = SQLITE_CANTOPEN;
    guarded("xOpen", || {
        // SAFETY: SQLite calls xOpen on the VFS register() made.
        let st = unsafe { state(vfs) };
        // SAFETY: the parent outlives the connections opened through this
        // wrapper, as SQLite requires of any VFS a connection uses.
        let Some(open) = (unsafe { (*st.parent).xOpen }) else {
            return;
        };
        crate::clock::refine();
        let traced = file.cast::<TracedFile>();
        let kind = kind_of(flags);
        let state = FileState::allocate(FileState::new(st, kind, DB_NONE));
        // SAFETY: SQLite hands xOpen `szOsFile` writable bytes at `file`:
        // a TracedFile followed by room for the parent's file.
        let real = unsafe {
            addr_of_mut!((*traced).base.pMethods).write(std::ptr::null());
            addr_of_mut!((*traced).state).write(state);
            addr_of_mut!((*traced).real)
        };
        if state.is_null() {
            rc = SQLITE_NOMEM;
            return;
        }
        // Before the real open: a fault here must not keep it from running.
        let place = std::panic::catch_unwind(|| recorder::layout().map(|l| db_of(l, name, kind)))
            .unwrap_or_else(|_| {
                recorder::degrade("xOpen");
                None
            })
            .unwrap_or(DbPlace::NONE);
        let db = place.row;
        let name_copy = (st.unseen.is_some_and(|u| u.filename_copies)
            && flags & SQLITE_OPEN_MAIN_DB != 0
            && !name.is_null())
        // SAFETY: SQLite 3.32+ (the flag's contract) names a main
        // database with a filename block.
        .then(|| unsafe { crate::filename::without_own_vfs(name, &st.name) })
        .flatten();
        let open_name = name_copy.as_deref().map_or(name, crate::filename::name_in);
        // SAFETY: allocated above; nothing else uses the file yet.
        unsafe { (*state).name_copy = name_copy };
        let call = timed_modelled(
            |now| vfscope_model::Call {
                op: Op::Open,
                kind,
                db,
                offset: 0,
                amount: 0,
                page_size: 4096,
                lock: None,
                now_ns: now,
                frame: None,
            },
            // SAFETY: forwarding SQLite's own arguments, with the real
            // file's memory in place of `file` (and, for a main database
            // opened through an appended `vfs=`, a copy of its name that
            // lives as long as the file). An injected error skips it and
            // leaves `pMethods` NULL.
            || unsafe { open(st.parent, open_name, real, flags, out_flags) },
        );
        rc = call.rc;
        // SAFETY: `real` is the parent's file, just (maybe) opened. A NULL
        // real table means SQLite must not call any method: ours stays NULL.
        let real_methods = unsafe { (*real).pMethods };
        if !real_methods.is_null() {
            // SAFETY: as above; the real table lives as long as the file.
            unsafe { (*traced).base.pMethods = tables::wrapper_for(&*real_methods) };
        }
        if let Some(layout) = recorder::layout() {
            // SAFETY: allocated above; nothing else uses the file yet.
            let state = unsafe { &mut *state };
            state.db = db;
            state.catalog = place.entry;
            state.db_path = place.path;
            if !real_methods.is_null() {
                state.opened(layout, call.end);
                layout.count_copy_open(st.copy, db);
            }
            state.record(layout, Op::Open, call, 0, 0, 0);
        }
        if real_methods.is_null() {
            // No xClose will come for a file that did not open.
            // SAFETY: allocated above and not used again.
            unsafe {
                FileState::free(state);
                (*traced).state = std::ptr::null_mut();
            }
        }
    });
    rc
}

/// Records a VFS-level call that concerns a path.
fn record_path_call(op: Op, name: *const c_char, call: Timed) {
    if let Some(layout) = recorder::layout() {
        crate::paths::record(layout, op, name, call);
    }
}

/// Records a VFS-level call that concerns no file.
fn record_plain_call(op: Op, call: Timed, bytes: u64) {
    if let Some(layout) = recorder::layout() {
        record_call(layout, op, FileKind::None, DB_NONE, call, bytes, 0, 0);
    }
}

/// Forwards a VFS method that returns a value rather than a result code.
macro_rules! forward_value {
    ($what:literal, $op:expr, $vfs:ident, $slot:ident, $default:expr, ($($arg:expr),*)) => {{
        let mut out = $default;
        guarded($what, || {
            // SAFETY: SQLite calls this method on the VFS register() made,
            // whose parent stays registered; the method exists because
            // register() mirrored only the parent's non-NULL slots.
            let st = unsafe { state($vfs) };
            let Some(method) = (unsafe { (*st.parent).$slot }) else { return };
            let call = timed(|| {
                // SAFETY: forwarding SQLite's own arguments to the parent.
                out = unsafe { method(st.parent, $($arg),*) };
                SQLITE_OK
            });
            record_plain_call($op, call, 0);
        });
        out
    }};
}

/// Forwards a VFS method that returns a result code.
macro_rules! forward_rc {
    ($what:literal, $vfs:ident, $slot:ident, ($($arg:expr),*), |$call:ident| $record:expr) => {
        forward_rc!(@timed $what, $vfs, $slot, ($($arg),*), |real| timed(real), |$call| $record)
    };
    // A path call the latency model may delay or fail.
    ($what:literal, $vfs:ident, $slot:ident, ($($arg:expr),*), model($op:expr, $name:expr), |$call:ident| $record:expr) => {
        forward_rc!(
            @timed $what, $vfs, $slot, ($($arg),*),
            |real| timed_modelled(|now| path_model_call($op, $name, now), real),
            |$call| $record
        )
    };
    (@timed $what:literal, $vfs:ident, $slot:ident, ($($arg:expr),*), |$real:ident| $timer:expr, |$call:ident| $record:expr) => {{
        let mut rc = SQLITE_ERROR;
        guarded($what, || {
            // SAFETY: as in `forward_value`.
            let st = unsafe { state($vfs) };
            let Some(method) = (unsafe { (*st.parent).$slot }) else { return };
            // SAFETY: forwarding SQLite's own arguments to the parent.
            let $real = || unsafe { method(st.parent, $($arg),*) };
            let $call = $timer;
            rc = $call.rc;
            $record;
        });
        rc
    }};
}

/// A path call as the latency model sees it.
fn path_model_call(op: Op, name: *const c_char, now_ns: u64) -> vfscope_model::Call {
    let (kind, db) = recorder::layout().map_or((FileKind::Other, DB_NONE), |l| {
        crate::paths::kind_and_db(l, name)
    });
    vfscope_model::Call {
        op,
        kind,
        db,
        offset: 0,
        amount: 0,
        page_size: 4096,
        lock: None,
        now_ns,
        frame: None,
    }
}

unsafe extern "C" fn x_delete(
    vfs: *mut sqlite3_vfs,
    name: *const c_char,
    sync_dir: c_int,
) -> c_int {
    forward_rc!(
        "xDelete",
        vfs,
        xDelete,
        (name, sync_dir),
        model(Op::Delete, name),
        |call| { record_path_call(Op::Delete, name, call) }
    )
}

unsafe extern "C" fn x_access(
    vfs: *mut sqlite3_vfs,
    name: *const c_char,
    flags: c_int,
    out: *mut c_int,
) -> c_int {
    forward_rc!(
        "xAccess",
        vfs,
        xAccess,
        (name, flags, out),
        model(Op::Access, name),
        |call| { record_path_call(Op::Access, name, call) }
    )
}

unsafe extern "C" fn x_full_pathname(
    vfs: *mut sqlite3_vfs,
    name: *const c_char,
    n: c_int,
    out: *mut c_char,
) -> c_int {
    forward_rc!(
        "xFullPathname",
        vfs,
        xFullPathname,
        (name, n, out),
        |call| { record_path_call(Op::FullPathname, name, call) }
    )
}

unsafe extern "C" fn x_dl_open(vfs: *mut sqlite3_vfs, name: *const c_char) -> *mut c_void {
    forward_value!(
        "xDlOpen",
        Op::DlOpen,
        vfs,
        xDlOpen,
        std::ptr::null_mut(),
        (name)
    )
}

unsafe extern "C" fn x_dl_error(vfs: *mut sqlite3_vfs, n: c_int, out: *mut c_char) {
    forward_value!("xDlError", Op::DlError, vfs, xDlError, (), (n, out))
}

unsafe extern "C" fn x_dl_sym(
    vfs: *mut sqlite3_vfs,
    handle: *mut c_void,
    symbol: *const c_char,
) -> Option<unsafe extern "C" fn()> {
    forward_value!("xDlSym", Op::DlSym, vfs, xDlSym, None, (handle, symbol))
}

unsafe extern "C" fn x_dl_close(vfs: *mut sqlite3_vfs, handle: *mut c_void) {
    forward_value!("xDlClose", Op::DlClose, vfs, xDlClose, (), (handle))
}

unsafe extern "C" fn x_randomness(vfs: *mut sqlite3_vfs, n: c_int, out: *mut c_char) -> c_int {
    forward_value!("xRandomness", Op::Randomness, vfs, xRandomness, 0, (n, out))
}

unsafe extern "C" fn x_sleep(vfs: *mut sqlite3_vfs, micros: c_int) -> c_int {
    forward_value!("xSleep", Op::Sleep, vfs, xSleep, 0, (micros))
}

unsafe extern "C" fn x_current_time(vfs: *mut sqlite3_vfs, out: *mut f64) -> c_int {
    forward_rc!("xCurrentTime", vfs, xCurrentTime, (out), |call| {
        record_plain_call(Op::CurrentTime, call, 0)
    })
}

unsafe extern "C" fn x_get_last_error(vfs: *mut sqlite3_vfs, n: c_int, out: *mut c_char) -> c_int {
    forward_value!(
        "xGetLastError",
        Op::GetLastError,
        vfs,
        xGetLastError,
        0,
        (n, out)
    )
}

unsafe extern "C" fn x_current_time_int64(vfs: *mut sqlite3_vfs, out: *mut i64) -> c_int {
    forward_rc!("xCurrentTimeInt64", vfs, xCurrentTimeInt64, (out), |call| {
        record_plain_call(Op::CurrentTimeInt64, call, 0)
    })
}

unsafe extern "C" fn x_set_system_call(
    vfs: *mut sqlite3_vfs,
    name: *const c_char,
    new: sqlite3_syscall_ptr,
) -> c_int {
    forward_rc!("xSetSystemCall", vfs, xSetSystemCall, (name, new), |call| {
        record_plain_call(Op::SetSystemCall, call, 0)
    })
}

unsafe extern "C" fn x_get_system_call(
    vfs: *mut sqlite3_vfs,
    name: *const c_char,
) -> sqlite3_syscall_ptr {
    forward_value!(
        "xGetSystemCall",
        Op::GetSystemCall,
        vfs,
        xGetSystemCall,
        None,
        (name)
    )
}

unsafe extern "C" fn x_next_system_call(
    vfs: *mut sqlite3_vfs,
    name: *const c_char,
) -> *const c_char {
    forward_value!(
        "xNextSystemCall",
        Op::NextSystemCall,
        vfs,
        xNextSystemCall,
        std::ptr::null(),
        (name)
    )
}

/// Registers a vfscope VFS named `name` over `parent` (the default VFS when
/// `None`). Registering the same name over the same parent again returns the
/// existing VFS (made default if asked).
///
/// # Safety
/// `api` must point into one initialised SQLite library, the one the
/// connections that should be traced use; `copy` is that library's row in
/// the segment's copy table (see [`crate::publish_copy`]).
pub unsafe fn register(
    api: SqliteApi,
    copy: u16,
    name: &str,
    parent: Option<&str>,
    make_default: bool,
) -> Result<*mut sqlite3_vfs, Error> {
    let c_name = CString::new(name)
        .ok()
        .filter(|n| (1..32).contains(&n.as_bytes().len()))
        .ok_or_else(|| Error::BadName(name.to_string()))?;
    let c_parent = parent
        .map(|p| CString::new(p).map_err(|_| Error::NoSuchVfs(p.to_string())))
        .transpose()?;
    // SAFETY (this block): `api` is valid per the contract; VFS pointers that
    // SQLite returns stay valid while registered, and what this function
    // registers is never unregistered (library mode and the extension).
    unsafe {
        let parent_vfs = (api.vfs_find)(c_parent.as_ref().map_or(std::ptr::null(), |p| p.as_ptr()));
        if parent_vfs.is_null() {
            return Err(Error::NoSuchVfs(parent.unwrap_or("(default)").to_string()));
        }
        let existing = (api.vfs_find)(c_name.as_ptr());
        if !existing.is_null() {
            let ours = is_vfscope(existing);
            if !ours || state(existing).parent != parent_vfs {
                return Err(Error::NameTaken(name.to_string()));
            }
            if make_default {
                (api.vfs_register)(existing, 1);
            }
            return Ok(existing);
        }
        let vfs = wrap(api, copy, c_name, parent_vfs, None);
        let rc = (api.vfs_register)(vfs, make_default as c_int);
        if rc != SQLITE_OK {
            return Err(Error::Register {
                name: name.to_string(),
                rc,
            });
        }
        Ok(vfs)
    }
}

/// A vfscope VFS named `name` over `parent`, not registered: the caller
/// registers it. Leaked: connections keep using their VFS until they close,
/// which may be after the caller has unregistered it.
///
/// # Safety
/// `api` and `copy` as for [`register`]; `parent` is a VFS registered with
/// that copy, which the wrapper forwards to for as long as it is used;
/// `filename_copies` only for SQLite 3.32 or later.
pub unsafe fn wrap(
    api: SqliteApi,
    copy: u16,
    name: CString,
    parent: *mut sqlite3_vfs,
    unseen: Option<Unseen>,
) -> *mut sqlite3_vfs {
    // SAFETY: per the contract, `parent` is a live registered VFS, whose
    // name is NUL-terminated.
    let (vfs, parent_name) = unsafe { (build_vfs(&*parent), CStr::from_ptr((*parent).zName)) };
    let state = Box::leak(Box::new(VfsState {
        vfs,
        parent,
        api,
        name,
        parent_name: parent_name.to_owned(),
        copy,
        unix_lock_rules: parent_name.to_bytes().starts_with(b"unix"),
        unseen,
    }));
    state.vfs.zName = state.name.as_ptr();
    state.vfs.pAppData = (state as *mut VfsState).cast();
    recorder::note_registration(
        &state.name.to_string_lossy(),
        &state.parent_name.to_string_lossy(),
    );
    &mut state.vfs
}

/// Whether `vfs` is a VFS [`register`] made (with this library's code).
///
/// # Safety
/// `vfs` must be a registered VFS.
pub unsafe fn is_vfscope(vfs: *const sqlite3_vfs) -> bool {
    // SAFETY: per the contract.
    unsafe { (*vfs).xOpen }.map(|f| f as *const ()) == Some(x_open as *const ())
}

/// A VFS struct mirroring the parent's version and NULL slots.
fn build_vfs(parent: &sqlite3_vfs) -> sqlite3_vfs {
    let version = parent.iVersion.clamp(1, 3);
    macro_rules! mirror {
        ($slot:ident, $ours:expr, $min:expr) => {
            // The version first: a version-1 struct may end before the
            // later slots.
            if version >= $min && parent.$slot.is_some() {
                Some($ours)
            } else {
                None
            }
        };
    }
    sqlite3_vfs {
        iVersion: version,
        szOsFile: (std::mem::offset_of!(TracedFile, real) as c_int).saturating_add(parent.szOsFile),
        mxPathname: parent.mxPathname,
        pNext: std::ptr::null_mut(),
        zName: std::ptr::null(),
        pAppData: std::ptr::null_mut(),
        xOpen: mirror!(xOpen, x_open, 1),
        xDelete: mirror!(xDelete, x_delete, 1),
        xAccess: mirror!(xAccess, x_access, 1),
        xFullPathname: mirror!(xFullPathname, x_full_pathname, 1),
        xDlOpen: mirror!(xDlOpen, x_dl_open, 1),
        xDlError: mirror!(xDlError, x_dl_error, 1),
        xDlSym: mirror!(xDlSym, x_dl_sym, 1),
        xDlClose: mirror!(xDlClose, x_dl_close, 1),
        xRandomness: mirror!(xRandomness, x_randomness, 1),
        xSleep: mirror!(xSleep, x_sleep, 1),
        xCurrentTime: mirror!(xCurrentTime, x_current_time, 1),
        xGetLastError: mirror!(xGetLastError, x_get_last_error, 1),
        xCurrentTimeInt64: mirror!(xCurrentTimeInt64, x_current_time_int64, 2),
        xSetSystemCall: mirror!(xSetSystemCall, x_set_system_call, 3),
        xGetSystemCall: mirror!(xGetSystemCall, x_get_system_call, 3),
        xNextSystemCall: mirror!(xNextSystemCall, x_next_system_call, 3),
    }
}
