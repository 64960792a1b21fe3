//! The vfscope VFSes of one SQLite copy, and how an open reaches one.
//!
//! The app's view of its VFSes stays its own: `sqlite3_vfs_find` (named or
//! default) and the default are what they would be without vfscope, and
//! its own VFSes keep their order in the list. vfscope's wrappers are in
//! the list too (SQLite finds a connection's VFS by name again for ATTACH
//! and VACUUM, so a wrapper stays registered while its struct does), at
//! its end: `sqlite3_vfs_register` puts a VFS that is not the default
//! second, where unregistering the default would make it the default, so
//! a wrapper is moved to the end under SQLite's own list mutex. A wrapper
//! is never freed (connections keep its pointer).
//!
//! A wrapper serves one struct of the app's: the one registered under the
//! name (or as the default) when it was made, with the same contents. At
//! every open the struct registered under that name is compared with it; a
//! name registered again (a new struct, or the same memory filled anew)
//! gets a new wrapper, and a wrapper whose struct was unregistered is
//! unregistered too (at the next open of the copy: between the two only a
//! connection already using the freed struct, or a program calling the
//! methods of the wrappers it finds in the list, could reach it). Nothing
//! of an unregistered struct is read: its pointer is compared only with
//! what SQLite returns for the name, which is live.

use crate::owned::{Guard, OwnedMutex};
use std::ffi::{c_char, c_int, c_void, CStr, CString};
use vfscope_shim::ffi::sqlite3_vfs;
use vfscope_shim::SqliteApi;

pub type UnregisterFn = unsafe extern "C" fn(*mut sqlite3_vfs) -> c_int;

/// A copy's `sqlite3_mutex_alloc`, `sqlite3_mutex_enter` and
/// `sqlite3_mutex_leave`: the VFS list is guarded by its static main mutex.
#[derive(Clone, Copy)]
pub struct MutexApi {
    pub alloc: unsafe extern "C" fn(c_int) -> *mut c_void,
    pub enter: unsafe extern "C" fn(*mut c_void),
    pub leave: unsafe extern "C" fn(*mut c_void),
}

/// SQLITE_MUTEX_STATIC_MAIN (sqlite3.h), which `sqlite3_vfs_register`
/// holds while it changes the list.
const SQLITE_MUTEX_STATIC_MAIN: c_int = 2;

/// What a VFS struct held (all but `pNext`, which SQLite rewrites), to tell
/// a struct registered again at the same address from the one wrapped. The
/// slots of later versions only as far as its `iVersion` says it has them
/// (a version-1 struct may end before them).
#[derive(Clone, Copy, PartialEq, Eq)]
struct Contents([usize; 21]);

impl Contents {
    /// # Safety
    /// `vfs` is a live VFS struct of the version it gives.
    unsafe fn of(vfs: *const sqlite3_vfs) -> Contents {
        // SAFETY: per the contract, the fields up to `xGetLastError` exist
        // in every version; the later ones are read below only when
        // `iVersion` says they exist.
        let v = unsafe { &*vfs };
        let f = |p: Option<usize>| p.unwrap_or(0);
        let mut c = [0; 21];
        let base = [
            v.iVersion as usize,
            v.szOsFile as usize,
            v.mxPathname as usize,
            v.zName as usize,
            v.pAppData as usize,
            f(v.xOpen.map(|p| p as usize)),
            f(v.xDelete.map(|p| p as usize)),
            f(v.xAccess.map(|p| p as usize)),
            f(v.xFullPathname.map(|p| p as usize)),
            f(v.xDlOpen.map(|p| p as usize)),
            f(v.xDlError.map(|p| p as usize)),
            f(v.xDlSym.map(|p| p as usize)),
            f(v.xDlClose.map(|p| p as usize)),
            f(v.xRandomness.map(|p| p as usize)),
            f(v.xSleep.map(|p| p as usize)),
            f(v.xCurrentTime.map(|p| p as usize)),
            f(v.xGetLastError.map(|p| p as usize)),
        ];
        c[..base.len()].copy_from_slice(&base);
        if v.iVersion >= 2 {
            c[17] = f(v.xCurrentTimeInt64.map(|p| p as usize));
        }
        if v.iVersion >= 3 {
            c[18] = f(v.xSetSystemCall.map(|p| p as usize));
            c[19] = f(v.xGetSystemCall.map(|p| p as usize));
            c[20] = f(v.xNextSystemCall.map(|p| p as usize));
        }
        Contents(c)
    }
}

/// One wrapper and the struct it serves.
pub struct Wrapper {
    /// The app's struct (an address only: it may be freed by now).
    parent: usize,
    /// The name the app's struct was registered under.
    parent_name: CString,
    contents: Contents,
    /// vfscope's VFS (leaked, lives for the process).
    ours: usize,
    name: &'static CStr,
}

/// The wrappers of one copy (registered with it).
pub struct Wrappers {
    list: OwnedMutex<Vec<Wrapper>>,
}

/// What routing needs of a copy.
pub struct Route {
    pub api: SqliteApi,
    /// The copy's `sqlite3_vfs_unregister`; a copy linked without it (the
    /// app never unregisters a VFS then) keeps stale wrappers registered.
    pub unregister: Option<UnregisterFn>,
    /// Without it (a copy linked without these functions) a wrapper stays
    /// where `sqlite3_vfs_register` puts it.
    pub mutex: Option<MutexApi>,
    pub index: u16,
    /// The copy is SQLite 3.32 or later (its main database names have the
    /// layout `vfscope_shim`'s `filename` copies).
    pub names_with_prefix: bool,
    pub wrappers: Wrappers,
}

impl Default for Wrappers {
    fn default() -> Self {
        Wrappers {
            list: OwnedMutex::new(Vec::new()),
        }
    }
}

impl Wrappers {
    /// Also held by the forking thread across fork. `None` when this
    /// thread holds it already (see `owned`).
    pub fn lock(&self) -> Option<Guard<'_, Vec<Wrapper>>> {
        self.list.lock()
    }
}

impl Route {
    /// The vfscope VFS an open should use where the app's open would use
    /// the VFS `requested` (`None`: the default). `None` leaves the app's
    /// choice as it is: no such VFS (SQLite reports it as without
    /// vfscope), or one of vfscope's own (the extension, library mode).
    /// `active` starts recording, once a wrapper is wanted.
    pub fn route(
        &self,
        requested: Option<&CStr>,
        active: impl FnOnce() -> bool,
    ) -> Option<&'static CStr> {
        let find = self.api.vfs_find;
        // SAFETY: the copy's own vfs_find; NULL asks for the default.
        let parent = unsafe { find(requested.map_or(std::ptr::null(), CStr::as_ptr)) };
        if parent.is_null() {
            return None;
        }
        // SAFETY: SQLite returned a registered VFS, whose name is
        // NUL-terminated and lives while it is registered.
        let parent_name = unsafe { CStr::from_ptr((*parent).zName) };
        // SAFETY: as above.
        if parent_name.to_bytes().starts_with(b"vfscope")
            || unsafe { vfscope_shim::is_vfscope(parent) }
            || !active()
        {
            return None;
        }
        // SAFETY: as above; a registered VFS has the slots its iVersion
        // names (SQLite reads them by the same rule).
        let contents = unsafe { Contents::of(parent) };
        let mut list = self.wrappers.lock()?;
        self.forget_stale(&mut list);
        if let Some(w) = list
            .iter()
            .find(|w| w.parent == parent as usize && w.contents == contents)
        {
            // The program may have unregistered it (one that walks the list
            // and unregisters what it finds): registered again, at the end.
            // SAFETY: the copy's vfs_find with a NUL-terminated name.
            if unsafe { find(w.name.as_ptr()) } as usize != w.ours {
                // SAFETY: as for a new wrapper below.
                unsafe { self.link(w.ours as *mut sqlite3_vfs) }?;
            }
            return Some(w.name);
        }
        let name = free_name(find, requested.is_none(), parent_name)?;
        // SAFETY: this copy's API; `parent` is registered with it.
        let ours = unsafe {
            let unseen = vfscope_shim::Unseen {
                filename_copies: self.names_with_prefix,
            };
            vfscope_shim::wrap(self.api, self.index, name, parent, Some(unseen))
        };
        // SAFETY: a VFS made by `wrap` for this copy, living for the process.
        unsafe { self.link(ours) }?;
        // SAFETY: `wrap` leaks the VFS, name included.
        let name: &'static CStr = unsafe { CStr::from_ptr((*ours).zName) };
        list.push(Wrapper {
            parent: parent as usize,
            parent_name: parent_name.to_owned(),
            contents,
            ours: ours as usize,
            name,
        });
        Some(name)
    }

    /// Registers `ours` (not as the default) and moves it to the end of
    /// the list.
    ///
    /// # Safety
    /// `ours` is a VFS made by `wrap` for this copy.
    unsafe fn link(&self, ours: *mut sqlite3_vfs) -> Option<()> {
        // SAFETY: per the contract; it goes second in the list.
        if unsafe { (self.api.vfs_register)(ours, 0) } != 0 {
            return None;
        }
        if let Some(mutex) = self.mutex {
            // SAFETY: `ours` was just registered with this copy.
            unsafe { move_to_end(mutex, self.api, ours) };
        }
        Some(())
    }

    /// Unregisters the wrappers whose struct is no longer the one
    /// registered under its name, or was changed.
    fn forget_stale(&self, list: &mut Vec<Wrapper>) {
        list.retain(|w| {
            // SAFETY: the copy's vfs_find with a NUL-terminated name.
            let now = unsafe { (self.api.vfs_find)(w.parent_name.as_ptr()) };
            // SAFETY: read only when SQLite returned it: registered, live.
            let valid = now as usize == w.parent && unsafe { Contents::of(now) } == w.contents;
            if let (false, Some(unregister)) = (valid, self.unregister) {
                // SAFETY: registered by `route`; unregistering only unlinks
                // it (connections keep using it until they close).
                unsafe { unregister(w.ours as *mut sqlite3_vfs) };
            }
            valid
        });
    }
}

/// Moves `ours` from where `sqlite3_vfs_register` put it (second) to the
/// end of the copy's VFS list, holding the mutex SQLite holds for every
/// change of that list (so no list operation sees it half done).
///
/// # Safety
/// `ours` is registered with the copy whose functions `mutex` and `api` are.
unsafe fn move_to_end(mutex: MutexApi, api: SqliteApi, ours: *mut sqlite3_vfs) {
    // The head, asked before the mutex is taken (sqlite3_vfs_find takes it
    // too, and it is not recursive). Were it unregistered in between, its
    // `pNext` still leads into the list: only a program freeing its
    // default VFS while another thread opens a connection could see the
    // difference, and such a program races in SQLite itself.
    // SAFETY: the copy's own vfs_find; NULL asks for the default.
    let head = unsafe { (api.vfs_find)(std::ptr::null()) };
    if head.is_null() || head == ours {
        return;
    }
    // SAFETY: the static mutex exists once SQLite is initialised, which
    // registering `ours` made sure of; NULL (SQLITE_THREADSAFE=0, or no
    // mutex system) means there is no other thread to exclude.
    let lock = unsafe { (mutex.alloc)(SQLITE_MUTEX_STATIC_MAIN) };
    // SAFETY (this block): under the list mutex, every `pNext` from the
    // head on is a registered, live VFS, `ours` among them. The writes
    // unlink `ours` and link it after the last one, as vfsUnlink and
    // sqlite3_vfs_register do.
    unsafe {
        if !lock.is_null() {
            (mutex.enter)(lock);
        }
        let mut at = head;
        while !(*at).pNext.is_null() && (*at).pNext != ours {
            at = (*at).pNext;
        }
        if (*at).pNext == ours && !(*ours).pNext.is_null() {
            (*at).pNext = (*ours).pNext;
            let mut last = (*at).pNext;
            while !(*last).pNext.is_null() {
                last = (*last).pNext;
            }
            (*last).pNext = ours;
            (*ours).pNext = std::ptr::null_mut();
        }
        if !lock.is_null() {
            (mutex.leave)(lock);
        }
    }
}

/// A name for a new wrapper over `parent`: `vfscope` over the default (as
/// the extension and library mode name theirs), else `vfscope-NAME`, with a
/// number when the app has that name.
fn free_name(
    find: unsafe extern "C" fn(*const c_char) -> *mut sqlite3_vfs,
    default: bool,
    parent: &CStr,
) -> Option<CString> {
    let parent = parent.to_string_lossy();
    let base = format!("vfscope-{parent}");
    let first = if default {
        "vfscope".to_string()
    } else {
        base.clone()
    };
    std::iter::once(first)
        .chain((2..).map(|n| format!("{base}~{n}")))
        .take(1000)
        .filter_map(|n| CString::new(n).ok())
        .find(|n| {
            // SAFETY: the copy's vfs_find with a NUL-terminated name.
            let taken = !unsafe { find(n.as_ptr()) }.is_null();
            !taken
        })
}
