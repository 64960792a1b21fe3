//! Finding the host's SQLite at run time.
//!
//! Under LD_PRELOAD this library comes before libsqlite3 in the global
//! symbol scope, so `dlsym(RTLD_NEXT, …)` finds a SQLite the program linked.
//! Python loads libsqlite3 with RTLD_LOCAL: it is in no global scope, so the
//! loaded objects are walked (`dl_iterate_phdr`) and each one that is not
//! this library is asked, through `dlopen(path, RTLD_NOLOAD)`, whether it
//! defines `sqlite3_open_v2`.

use std::ffi::{c_char, c_int, c_void, CStr, CString};
use std::sync::OnceLock;
use vfscope_shim::ffi::sqlite3_vfs;
use vfscope_shim::SqliteApi;

pub type OpenFn = unsafe extern "C" fn(*const c_char, *mut *mut c_void) -> c_int;
pub type OpenV2Fn =
    unsafe extern "C" fn(*const c_char, *mut *mut c_void, c_int, *const c_char) -> c_int;
pub type Open16Fn = unsafe extern "C" fn(*const c_void, *mut *mut c_void) -> c_int;
pub type CloseFn = unsafe extern "C" fn(*mut c_void) -> c_int;

/// The host SQLite's entry points.
pub struct Real {
    pub api: SqliteApi,
    pub open: OpenFn,
    pub open_v2: OpenV2Fn,
    pub open16: Open16Fn,
    pub close: CloseFn,
}

/// The host's SQLite, found once.
pub fn real() -> Option<&'static Real> {
    static REAL: OnceLock<Option<Real>> = OnceLock::new();
    REAL.get_or_init(find).as_ref()
}

fn find() -> Option<Real> {
    // SAFETY: RTLD_NEXT is a valid pseudo-handle for dlsym.
    if let Some(real) = unsafe { from_handle(libc::RTLD_NEXT) } {
        return Some(real);
    }
    loaded_objects().into_iter().find_map(|path| {
        // SAFETY: RTLD_NOLOAD only returns a handle to an object that is
        // already loaded (taking a reference that is never dropped, so it
        // stays loaded, as it was anyway); no constructor runs.
        let handle = unsafe { libc::dlopen(path.as_ptr(), libc::RTLD_NOLOAD | libc::RTLD_LAZY) };
        if handle.is_null() {
            return None;
        }
        // SAFETY: a handle dlopen just returned.
        unsafe { from_handle(handle) }
    })
}

/// Paths of every loaded object, in load order.
fn loaded_objects() -> Vec<CString> {
    unsafe extern "C" fn each(
        info: *mut libc::dl_phdr_info,
        _size: usize,
        data: *mut c_void,
    ) -> c_int {
        // SAFETY: dl_iterate_phdr passes a valid info struct and our `data`.
        let (info, paths) = unsafe { (&*info, &mut *(data as *mut Vec<CString>)) };
        if !info.dlpi_name.is_null() {
            // SAFETY: dlpi_name is a NUL-terminated path while we run.
            let name = unsafe { CStr::from_ptr(info.dlpi_name) };
            if !name.to_bytes().is_empty() {
                paths.push(name.to_owned());
            }
        }
        0
    }
    let mut paths: Vec<CString> = Vec::new();
    // SAFETY: the callback only reads what it is given and pushes to `paths`.
    unsafe { libc::dl_iterate_phdr(Some(each), (&mut paths as *mut Vec<CString>).cast()) };
    paths
}

/// The SQLite entry points `handle` defines, unless they are this library's
/// own interposers.
///
/// # Safety
/// `handle` must be RTLD_NEXT or a live dlopen handle.
unsafe fn from_handle(handle: *mut c_void) -> Option<Real> {
    let symbol = |name: &CStr| {
        // SAFETY: per the contract; the name is NUL-terminated.
        let p = unsafe { libc::dlsym(handle, name.as_ptr()) };
        (!p.is_null()).then_some(p)
    };
    let open_v2 = symbol(c"sqlite3_open_v2")?;
    if open_v2 == crate::interpose::sqlite3_open_v2 as *mut c_void {
        return None;
    }
    // SAFETY: these symbols of a SQLite library have these C signatures
    // (sqlite3.h); the transmutes only give the pointers their types.
    unsafe {
        Some(Real {
            api: SqliteApi {
                vfs_find: std::mem::transmute::<
                    *mut c_void,
                    unsafe extern "C" fn(*const c_char) -> *mut sqlite3_vfs,
                >(symbol(c"sqlite3_vfs_find")?),
                vfs_register: std::mem::transmute::<
                    *mut c_void,
                    unsafe extern "C" fn(*mut sqlite3_vfs, c_int) -> c_int,
                >(symbol(c"sqlite3_vfs_register")?),
                libversion: std::mem::transmute::<
                    *mut c_void,
                    unsafe extern "C" fn() -> *const c_char,
                >(symbol(c"sqlite3_libversion")?),
                malloc64: std::mem::transmute::<
                    *mut c_void,
                    unsafe extern "C" fn(u64) -> *mut c_void,
                >(symbol(c"sqlite3_malloc64")?),
                free: std::mem::transmute::<*mut c_void, unsafe extern "C" fn(*mut c_void)>(
                    symbol(c"sqlite3_free")?,
                ),
            },
            open: std::mem::transmute::<*mut c_void, OpenFn>(symbol(c"sqlite3_open")?),
            open_v2: std::mem::transmute::<*mut c_void, OpenV2Fn>(open_v2),
            open16: std::mem::transmute::<*mut c_void, Open16Fn>(symbol(c"sqlite3_open16")?),
            close: std::mem::transmute::<*mut c_void, CloseFn>(symbol(c"sqlite3_close")?),
        })
    }
}
