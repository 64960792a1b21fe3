//! The SQLite copies of this process, one slot each: its API (function
//! pointers into that copy's own object), the trampolines that call its
//! original `sqlite3_open*`, and its vfscope registrations.
//!
//! A slot is filled once, before any hook that leads to it is written, and
//! never changes; the handlers of slot N only ever call copy N.

use crate::setup;
use std::ffi::{c_char, c_int, c_void, CStr, CString};
use std::sync::{Mutex, OnceLock};
use vfscope_shim::{CopyAccess, CopyInfo, CopyStatus, SqliteApi};

pub use vfscope_shim::MAX_COPIES;

pub type OpenFn = unsafe extern "C" fn(*const c_char, *mut *mut c_void) -> c_int;
pub type OpenV2Fn =
    unsafe extern "C" fn(*const c_char, *mut *mut c_void, c_int, *const c_char) -> c_int;
pub type Open16Fn = unsafe extern "C" fn(*const c_void, *mut *mut c_void) -> c_int;
pub type CloseFn = unsafe extern "C" fn(*mut c_void) -> c_int;

/// One SQLite copy vfscope can reach.
pub struct Copy {
    pub index: u16,
    pub api: SqliteApi,
    /// The originals (trampolines when hooked in place).
    pub open: Option<OpenFn>,
    pub open_v2: Option<OpenV2Fn>,
    pub open16: Option<Open16Fn>,
    pub close: Option<CloseFn>,
    pub info: CopyInfo,
    /// `vfscope-NAME` VFSes registered with this copy, by the name asked.
    wrappers: Mutex<Vec<(CString, &'static CStr)>>,
}

static SLOTS: [OnceLock<Copy>; MAX_COPIES] = [const { OnceLock::new() }; MAX_COPIES];
/// Slots handed out (filled or about to be).
static USED: Mutex<usize> = Mutex::new(0);

/// Copy `index`, once its slot is filled.
pub fn get(index: usize) -> Option<&'static Copy> {
    SLOTS.get(index)?.get()
}

/// Every filled slot.
pub fn all() -> impl Iterator<Item = &'static Copy> {
    SLOTS.iter().filter_map(|s| s.get())
}

/// Held by the forking thread across fork.
pub fn lock_for_fork() -> std::sync::MutexGuard<'static, usize> {
    USED.lock().unwrap_or_else(|e| e.into_inner())
}

/// Claims the next slot; `None` when all are taken.
pub fn claim() -> Option<u16> {
    let mut used = USED.lock().unwrap_or_else(|e| e.into_inner());
    (*used < MAX_COPIES).then(|| {
        *used += 1;
        (*used - 1) as u16
    })
}

/// The copy whose `sqlite3_vfs_find` is `vfs_find`, if known.
pub fn by_vfs_find(vfs_find: usize) -> Option<&'static Copy> {
    all().find(|c| c.api.vfs_find as usize == vfs_find)
}

impl Copy {
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        index: u16,
        api: SqliteApi,
        open: Option<OpenFn>,
        open_v2: Option<OpenV2Fn>,
        open16: Option<Open16Fn>,
        close: Option<CloseFn>,
        info: CopyInfo,
    ) -> Copy {
        Copy {
            index,
            api,
            open,
            open_v2,
            open16,
            close,
            info,
            wrappers: Mutex::new(Vec::new()),
        }
    }

    /// Fills slot `self.index` and describes the copy to the recorder.
    pub fn install(self) -> &'static Copy {
        let index = self.index as usize;
        let info = self.info.clone();
        let copy = SLOTS[index].get_or_init(|| self);
        vfscope_shim::publish_copy(info);
        copy
    }

    /// Makes vfscope this copy's default VFS, over whatever the default is
    /// now: at its first open, and again after the app made another VFS the
    /// default (or `sqlite3_shutdown` and a new initialisation made `unix`
    /// the default again). `false` when vfscope is not active.
    pub fn ensure_default(&self) -> bool {
        // SAFETY: the copy's own vfs_find; NULL asks for the default.
        let default = unsafe { (self.api.vfs_find)(std::ptr::null()) };
        if default.is_null() {
            return false;
        }
        // SAFETY: a registered VFS's name is NUL-terminated and lives while
        // it is registered.
        let parent = unsafe { CStr::from_ptr((*default).zName) }
            .to_string_lossy()
            .into_owned();
        // A vfscope VFS already (this library's, or one a Rust app
        // registered in library mode): never a second layer.
        // SAFETY: a VFS the copy has registered.
        if parent.starts_with("vfscope") || unsafe { vfscope_shim::is_vfscope(default) } {
            return true;
        }
        if !setup::active(self) {
            return false;
        }
        let register = |name: &str| {
            // SAFETY: the API of this copy, which is initialised (its
            // vfs_find just ran).
            unsafe { vfscope_shim::register(self.api, self.index, name, Some(&parent), true) }
        };
        if let Err(first) = register("vfscope").or_else(|_| register(&format!("vfscope-{parent}")))
        {
            vfscope_shim::warn(&format!(
                "{first}; SQLite {} in {} runs without vfscope",
                self.info.version, self.info.object
            ));
            return false;
        }
        true
    }

    /// The vfscope VFS to use where the app asked for the VFS `requested`:
    /// `vfscope-NAME` over it, registered on first use. `None` keeps the
    /// app's choice (vfscope inactive, already a vfscope VFS, or no such
    /// VFS, which SQLite then reports as it would without vfscope).
    pub fn wrapper_for(&self, requested: &CStr) -> Option<&'static CStr> {
        if !setup::active(self) || requested.to_bytes().starts_with(b"vfscope") {
            return None;
        }
        let mut wrappers = self.wrappers.lock().unwrap_or_else(|e| e.into_inner());
        if let Some((_, ours)) = wrappers.iter().find(|(r, _)| r.as_c_str() == requested) {
            return Some(ours);
        }
        let parent = requested.to_str().ok()?;
        let name = format!("vfscope-{parent}");
        // SAFETY: this copy's API; the app is opening a connection with it.
        let vfs =
            unsafe { vfscope_shim::register(self.api, self.index, &name, Some(parent), false) }
                .ok()?;
        // SAFETY: register returns a VFS whose zName lives for the process.
        let ours: &'static CStr = unsafe { CStr::from_ptr((*vfs).zName) };
        wrappers.push((requested.to_owned(), ours));
        Some(ours)
    }
}

/// Describes a copy that vfscope found but cannot reach.
pub fn unreachable(object: &str, version: String, note: String) -> CopyInfo {
    CopyInfo {
        index: 0,
        status: CopyStatus::Unreachable,
        access: CopyAccess::None,
        object: object.to_string(),
        version,
        source_id: String::new(),
        note,
        calls: 0,
        opens: 0,
    }
}
