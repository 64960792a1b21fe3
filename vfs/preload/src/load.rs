//! When SQLite copies are looked for: once at start (this library's
//! constructor, when it was preloaded) and after every `dlopen` (this
//! library's `dlopen` takes the app's place under LD_PRELOAD, calls the
//! real one and then looks at what it loaded, before returning to the app).
//!
//! Loaded as a SQLite extension instead, the library scans nothing: it
//! serves the copy that loaded it (see `extension`).

use crate::{scan, setup};
use std::ffi::{c_char, c_int, c_void, CStr};
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::panic::catch_unwind;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering::*};

/// Set when this library was preloaded: only then does it hook anything.
static PRELOADED: AtomicBool = AtomicBool::new(false);

#[used]
#[link_section = ".init_array"]
static AT_LOAD: extern "C" fn() = at_load;

extern "C" fn at_load() {
    let _ = catch_unwind(|| {
        if !named_in_ld_preload() {
            return;
        }
        PRELOADED.store(true, Release);
        vfscope_shim::protect_across_fork(Some(vfscope_shim::ExtraLocks {
            lock: lock_for_fork,
            unlock: unlock_after_fork,
        }));
        look_for_copies();
    });
}

type ForkGuards = (
    Option<crate::owned::Guard<'static, Option<bool>>>,
    Option<crate::owned::Guard<'static, Option<crate::scan::Seen>>>,
    crate::copies::ForkGuards,
);

thread_local! {
    static HELD: std::cell::RefCell<Option<ForkGuards>> = const { std::cell::RefCell::new(None) };
}

/// Takes this library's locks before fork, in their nesting order (none
/// is held while another of them is taken, and all nest outside the
/// recorder's).
fn lock_for_fork() {
    let guards = (
        crate::setup::lock_for_fork(),
        crate::scan::lock_for_fork(),
        crate::copies::lock_for_fork(),
    );
    HELD.with(|held| *held.borrow_mut() = Some(guards));
}

fn unlock_after_fork() {
    HELD.with(|held| drop(held.borrow_mut().take()));
}

/// Scans the objects loaded since the last look; a copy that cannot be
/// reached starts recording, so that the segment (and the report) says so.
fn look_for_copies() {
    if scan::scan_new_objects() {
        let version = crate::copies::all().next().map(|c| c.info.version.clone());
        setup::recording(&version.unwrap_or_default());
    }
}

/// Whether `LD_PRELOAD` names this library (by path, or by file name for
/// an entry without a slash).
fn named_in_ld_preload() -> bool {
    let Some(list) = std::env::var_os("LD_PRELOAD") else {
        return false;
    };
    let Some(own) = own_path() else {
        return false;
    };
    let own_canonical = std::fs::canonicalize(&own).ok();
    let own_name = own.file_name();
    let list = list.to_string_lossy().into_owned();
    list.split([':', ' '])
        .filter(|e| !e.is_empty())
        .any(|entry| {
            let entry = std::path::Path::new(entry);
            if entry.components().count() == 1 {
                return Some(entry.as_os_str()) == own_name;
            }
            entry == own || std::fs::canonicalize(entry).ok() == own_canonical
        })
}

fn own_path() -> Option<std::path::PathBuf> {
    crate::scan::object_of(at_load as *const c_void).map(|(_, path)| path)
}

type DlopenFn = unsafe extern "C" fn(*const c_char, c_int) -> *mut c_void;
type DlcloseFn = unsafe extern "C" fn(*mut c_void) -> c_int;

/// The next definition of `name` after this library (libc's), cached.
fn next_symbol(name: &CStr, cache: &AtomicUsize) -> usize {
    let mut p = cache.load(Acquire);
    if p == 0 {
        // SAFETY: RTLD_NEXT is a valid pseudo-handle; the name is
        // NUL-terminated.
        p = unsafe { libc::dlsym(libc::RTLD_NEXT, name.as_ptr()) } as usize;
        cache.store(p, Release);
    }
    p
}

/// The `dlopen` the app would have called.
fn real_dlopen() -> Option<DlopenFn> {
    static REAL: AtomicUsize = AtomicUsize::new(0);
    let p = next_symbol(c"dlopen", &REAL);
    // SAFETY: libc's dlopen has this signature.
    (p != 0).then(|| unsafe { std::mem::transmute::<usize, DlopenFn>(p) })
}

/// `dlclose`, then forgetting what it unloaded (see
/// `scan::forget_unloaded`).
///
/// # Safety
/// As `dlclose(3)`.
#[no_mangle]
pub unsafe extern "C" fn dlclose(handle: *mut c_void) -> c_int {
    static REAL: AtomicUsize = AtomicUsize::new(0);
    let p = next_symbol(c"dlclose", &REAL);
    if p == 0 {
        return -1;
    }
    // SAFETY: libc's dlclose has this signature; the app's own handle.
    let rc = unsafe { std::mem::transmute::<usize, DlcloseFn>(p)(handle) };
    if PRELOADED.load(Acquire) {
        let _ = catch_unwind(crate::scan::forget_unloaded);
    }
    rc
}

/// `dlopen`, then a look at the objects it loaded. A naked stub: it hands
/// the caller's return address to [`dlopen_from`], which needs it to
/// search the caller's library path as the real `dlopen` would have.
///
/// # Safety
/// As `dlopen(3)`.
#[unsafe(naked)]
#[no_mangle]
pub unsafe extern "C" fn dlopen(file: *const c_char, mode: c_int) -> *mut c_void {
    core::arch::naked_asm!("mov rdx, qword ptr [rsp]", "jmp {}", sym dlopen_from)
}

/// The real `dlopen` sees this library as its caller, so for a bare file
/// name it searches this library's path, not the caller's `DT_RPATH` /
/// `DT_RUNPATH` (a known trap of `dlopen` interposers). When that fails,
/// the caller's own search path (`dlinfo` `RTLD_DI_SERINFO` on its link
/// map: its RPATH or RUNPATH with `$ORIGIN` expanded, `LD_LIBRARY_PATH`,
/// the system directories) is tried in order.
unsafe extern "C" fn dlopen_from(file: *const c_char, mode: c_int, caller: usize) -> *mut c_void {
    let Some(real) = real_dlopen() else {
        return std::ptr::null_mut();
    };
    // SAFETY: the app's own arguments, passed on unchanged.
    let mut handle = unsafe { real(file, mode) };
    // SAFETY: a non-NULL file name is NUL-terminated.
    let bare = !file.is_null() && !unsafe { CStr::from_ptr(file) }.to_bytes().contains(&b'/');
    if handle.is_null() && bare {
        let found = catch_unwind(|| {
            // SAFETY: as above.
            let name = unsafe { CStr::from_ptr(file) };
            crate::search_path::of_caller(caller)
                .into_iter()
                .map(|dir| dir.join(std::ffi::OsStr::from_bytes(name.to_bytes())))
                .find(|path| path.exists())
        });
        if let Ok(Some(path)) = found {
            if let Ok(path) = std::ffi::CString::new(path.into_os_string().into_vec()) {
                // SAFETY: a NUL-terminated path and the app's mode.
                handle = unsafe { real(path.as_ptr(), mode) };
            }
        }
        if handle.is_null() {
            // Leave the app the error of its own request.
            // SAFETY: as the first call.
            handle = unsafe { real(file, mode) };
        }
    }
    if !handle.is_null() && PRELOADED.load(Acquire) {
        let _ = catch_unwind(look_for_copies);
    }
    handle
}
