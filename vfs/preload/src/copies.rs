//! The SQLite copies of this process, one slot each: its API (function
//! pointers into that copy's own object), the trampolines that call its
//! original `sqlite3_open*`, and its vfscope registrations.
//!
//! A slot is filled once, before any hook that leads to it is written, and
//! never changes; the handlers of slot N only ever call copy N.

use crate::owned::{Guard, OwnedMutex};
use crate::setup;
use crate::wrappers::{MutexApi, Route, UnregisterFn, Wrappers};
use std::ffi::{c_char, c_int, c_void, CStr};
use std::sync::atomic::{AtomicPtr, Ordering::*};
use vfscope_shim::{CopyAccess, CopyInfo, CopyStatus, SqliteApi};

pub use vfscope_shim::MAX_COPIES;

pub type OpenFn = unsafe extern "C" fn(*const c_char, *mut *mut c_void) -> c_int;
pub type OpenV2Fn =
    unsafe extern "C" fn(*const c_char, *mut *mut c_void, c_int, *const c_char) -> c_int;
pub type Open16Fn = unsafe extern "C" fn(*const c_void, *mut *mut c_void) -> c_int;
pub type CloseFn = unsafe extern "C" fn(*mut c_void) -> c_int;
pub type FileControlFn =
    unsafe extern "C" fn(*mut c_void, *const c_char, c_int, *mut c_void) -> c_int;
pub type ExecFn = unsafe extern "C" fn(
    *mut c_void,
    *const c_char,
    *const c_void,
    *mut c_void,
    *mut *mut c_char,
) -> c_int;

/// One SQLite copy vfscope can reach.
pub struct Copy {
    pub index: u16,
    pub api: SqliteApi,
    /// The originals (trampolines when hooked in place).
    pub open: Option<OpenFn>,
    pub open_v2: Option<OpenV2Fn>,
    pub open16: Option<Open16Fn>,
    pub close: Option<CloseFn>,
    /// The original `sqlite3_file_control` (a trampoline), when hooked.
    pub file_control: Option<FileControlFn>,
    pub info: CopyInfo,
    /// `sqlite3_exec`, for `sqlite3_open16` (see `open`).
    pub exec: Option<ExecFn>,
    /// The copy's vfscope wrappers and how opens reach them.
    route: Route,
}

/// The copies, by slot: leaked, so a `&'static Copy` stays good after its
/// slot is released (a released copy's object is unloaded: nothing calls
/// its handlers any more).
static SLOTS: [AtomicPtr<Copy>; MAX_COPIES] =
    [const { AtomicPtr::new(std::ptr::null_mut()) }; MAX_COPIES];

/// Who holds a slot: the loaded object it describes ((load address, name)
/// as the loader lists it), or `None` for a copy that is never released
/// (one that loaded vfscope as an extension).
type Holder = Option<(usize, Vec<u8>)>;

/// Slots handed out (filled or about to be).
static USED: OwnedMutex<[Option<Holder>; MAX_COPIES]> =
    OwnedMutex::new([const { None }; MAX_COPIES]);

/// Copy `index`, once its slot is filled.
pub fn get(index: usize) -> Option<&'static Copy> {
    // SAFETY: a non-NULL slot points at a leaked Copy (see `install`).
    SLOTS
        .get(index)
        .and_then(|s| unsafe { s.load(Acquire).as_ref() })
}

/// Every filled slot.
pub fn all() -> impl Iterator<Item = &'static Copy> {
    (0..MAX_COPIES).filter_map(get)
}

/// Held by the forking thread across fork: the slots, then every copy's
/// wrappers (a child must not find one locked by a thread that is not
/// there).
pub fn lock_for_fork() -> ForkGuards {
    let used = USED.lock();
    let wrappers = all().filter_map(|c| c.route.wrappers.lock()).collect();
    (used, wrappers)
}

pub type ForkGuards = (
    Option<Guard<'static, [Option<Holder>; MAX_COPIES]>>,
    Vec<Guard<'static, Vec<crate::wrappers::Wrapper>>>,
);

/// Claims a free slot for `holder`; `None` when all are taken.
pub fn claim(holder: Holder) -> Option<u16> {
    let mut used = USED.lock()?;
    let free = used.iter().position(Option::is_none)?;
    used[free] = Some(holder);
    Some(free as u16)
}

/// Releases the slots of objects no longer loaded (`present` lists those
/// that are), so that 16 load/unload cycles do not use them up and a new
/// object at an old address is never taken for the old one.
pub fn release_unloaded(present: &std::collections::HashSet<(usize, &[u8])>) {
    let Some(mut used) = USED.lock() else {
        return;
    };
    for (index, slot) in used.iter_mut().enumerate() {
        if let Some(Some((bias, name))) = slot {
            if !present.contains(&(*bias, name.as_slice())) {
                SLOTS[index].store(std::ptr::null_mut(), Release);
                *slot = None;
            }
        }
    }
}

/// The copy whose `sqlite3_vfs_find` is `vfs_find`, if known.
pub fn by_vfs_find(vfs_find: usize) -> Option<&'static Copy> {
    all().find(|c| c.api.vfs_find as usize == vfs_find)
}

impl Copy {
    pub fn new(index: u16, api: SqliteApi, info: CopyInfo) -> Copy {
        let names_with_prefix = at_least(&info.version, (3, 32));
        Copy {
            index,
            api,
            open: None,
            open_v2: None,
            open16: None,
            close: None,
            file_control: None,
            info,
            exec: None,
            route: Route {
                api,
                unregister: None,
                mutex: None,
                index,
                names_with_prefix,
                wrappers: Wrappers::default(),
            },
        }
    }

    /// The copy's `sqlite3_vfs_unregister` and mutex functions, when it
    /// has them.
    pub fn with_list_api(
        mut self,
        unregister: Option<UnregisterFn>,
        mutex: Option<MutexApi>,
    ) -> Copy {
        self.route.unregister = unregister;
        self.route.mutex = mutex;
        self
    }

    /// Fills slot `self.index` and describes the copy to the recorder.
    pub fn install(self) -> &'static Copy {
        let index = self.index as usize;
        let info = self.info.clone();
        let copy: &'static Copy = Box::leak(Box::new(self));
        SLOTS[index].store(copy as *const Copy as *mut Copy, Release);
        vfscope_shim::publish_copy(info);
        copy
    }

    /// The loadable extension's way in (it hooks no open): makes vfscope
    /// this copy's default VFS, over whatever the default is when the
    /// extension is loaded, as `.load libvfscope` promises. (The preload
    /// path leaves the default alone: see [`Copy::route`].) `false` when
    /// vfscope is not active.
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
        if !setup::recording(&self.info.version) {
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

    /// The vfscope wrapper an open runs through where the app's open would
    /// use the VFS `requested` (`None`: the default); see [`Route::route`].
    /// `None` when vfscope is not active or leaves the app's choice alone.
    pub fn route(&self, requested: Option<&CStr>) -> Option<&'static CStr> {
        self.route
            .route(requested, || setup::recording(&self.info.version))
    }
}

/// Whether a SQLite version ("3.40.1") is at least `(major, minor)`.
fn at_least(version: &str, (major, minor): (u32, u32)) -> bool {
    let mut parts = version.split('.').map(|p| p.parse::<u32>().ok());
    match (parts.next().flatten(), parts.next().flatten()) {
        (Some(a), Some(b)) => (a, b) >= (major, minor),
        _ => false,
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
