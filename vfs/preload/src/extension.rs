//! The SQLite loadable-extension entry point: `.load libvfscope` in the CLI,
//! `load_extension(...)` elsewhere. It registers vfscope as the default VFS
//! for connections opened afterwards and asks to stay loaded.

use crate::copies::{self, Copy};
use std::ffi::{c_char, c_int, c_void, CStr};
use std::panic::{catch_unwind, AssertUnwindSafe};
use vfscope_shim::ffi::sqlite3_vfs;
use vfscope_shim::{CopyAccess, CopyInfo, CopyStatus, SqliteApi};

const SQLITE_ERROR: c_int = 1;
const SQLITE_OK_LOAD_PERMANENTLY: c_int = 256;

/// Slots of `sqlite3_api_routines` (sqlite3ext.h), which only ever grows at
/// the end. Checked against the installed header by a test.
pub(crate) const SLOT_FREE: usize = 58;
pub(crate) const SLOT_LIBVERSION: usize = 66;
pub(crate) const SLOT_VFS_FIND: usize = 141;
pub(crate) const SLOT_VFS_REGISTER: usize = 142;
pub(crate) const SLOT_MALLOC64: usize = 197;
pub(crate) const SLOT_SOURCEID: usize = 169;

/// SQLite's entry point for `libvfscope.so` (`sqlite3_` + file name + `_init`).
///
/// # Safety
/// Called by SQLite with its own API table, per the extension contract.
#[no_mangle]
pub unsafe extern "C" fn sqlite3_vfscope_init(
    _db: *mut c_void,
    error: *mut *mut c_char,
    routines: *const *const c_void,
) -> c_int {
    let slot = |i: usize| {
        // SAFETY: `routines` is SQLite's sqlite3_api_routines, a table of
        // pointers at least SLOT_MALLOC64 + 1 long (malloc64 is from 3.8.7).
        let p = unsafe { *routines.add(i) };
        (!p.is_null()).then_some(p)
    };
    let (Some(free), Some(find), Some(register), Some(malloc64)) = (
        slot(SLOT_FREE),
        slot(SLOT_VFS_FIND),
        slot(SLOT_VFS_REGISTER),
        slot(SLOT_MALLOC64),
    ) else {
        return SQLITE_ERROR;
    };
    // SAFETY: the slots hold these functions with these C signatures.
    let api = unsafe {
        SqliteApi {
            vfs_find: std::mem::transmute::<
                *const c_void,
                unsafe extern "C" fn(*const c_char) -> *mut sqlite3_vfs,
            >(find),
            vfs_register: std::mem::transmute::<
                *const c_void,
                unsafe extern "C" fn(*mut sqlite3_vfs, c_int) -> c_int,
            >(register),
            malloc64: std::mem::transmute::<*const c_void, unsafe extern "C" fn(u64) -> *mut c_void>(
                malloc64,
            ),
            free: std::mem::transmute::<*const c_void, unsafe extern "C" fn(*mut c_void)>(free),
        }
    };
    let text_of = |i: usize| {
        slot(i).map_or_else(String::new, |f| {
            // SAFETY: libversion and sourceid take nothing and return static
            // NUL-terminated strings.
            let f = unsafe {
                std::mem::transmute::<*const c_void, extern "C" fn() -> *const c_char>(f)
            };
            // SAFETY: as above.
            unsafe { CStr::from_ptr(f()) }
                .to_string_lossy()
                .into_owned()
        })
    };
    let started = catch_unwind(AssertUnwindSafe(|| {
        let copy = match copies::by_vfs_find(find as usize) {
            Some(copy) => copy,
            None => {
                let index = copies::claim(None)?;
                let info = CopyInfo {
                    index,
                    status: CopyStatus::Traced,
                    access: CopyAccess::Extension,
                    object: object_of(find),
                    version: text_of(SLOT_LIBVERSION),
                    source_id: text_of(SLOT_SOURCEID),
                    note: String::new(),
                    calls: 0,
                    opens: 0,
                };
                Copy::new(index, api, info).install()
            }
        };
        Some(copy.ensure_default())
    }));
    if let Ok(Some(true)) = started {
        return SQLITE_OK_LOAD_PERMANENTLY;
    }
    set_error(
        &api,
        error,
        "vfscope could not start (see the line above on stderr)",
    );
    SQLITE_ERROR
}

/// The path of the object `code` lives in.
fn object_of(code: *const c_void) -> String {
    match crate::scan::object_of(code) {
        None => String::new(),
        Some((_, path)) if path.as_os_str().is_empty() => std::fs::read_link("/proc/self/exe")
            .map(|p| p.display().to_string())
            .unwrap_or_default(),
        Some((_, path)) => path.display().to_string(),
    }
}

/// Hands SQLite an error message it will free with sqlite3_free.
fn set_error(api: &SqliteApi, out: *mut *mut c_char, message: &str) {
    if out.is_null() {
        return;
    }
    // SAFETY: malloc64 has no preconditions; the copy stays in bounds.
    unsafe {
        let text = (api.malloc64)(message.len() as u64 + 1).cast::<u8>();
        if text.is_null() {
            return;
        }
        std::ptr::copy_nonoverlapping(message.as_ptr(), text, message.len());
        *text.add(message.len()) = 0;
        *out = text.cast();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The slot numbers match the installed sqlite3ext.h, if there is one.
    #[test]
    fn api_slots_match_the_header() {
        // tests/run.sh installs libsqlite3-dev, which has the header.
        let header = std::fs::read_to_string("/usr/include/sqlite3ext.h")
            .expect("/usr/include/sqlite3ext.h (Debian package libsqlite3-dev)");
        let body = &header[header.find("struct sqlite3_api_routines {").unwrap()..];
        let body = &body[body.find('{').unwrap() + 1..body.find("};").unwrap()];
        let names: Vec<String> = body
            .split(';')
            .map(|m| m.split_whitespace().collect::<String>())
            .filter(|m| !m.is_empty())
            .map(|m| match (m.find("(*"), m.find(")(")) {
                (Some(a), Some(b)) if a < b => m[a + 2..b].to_string(),
                _ => m,
            })
            .collect();
        let slot = |name: &str| names.iter().position(|n| n == name);
        assert_eq!(slot("free"), Some(SLOT_FREE));
        assert_eq!(slot("libversion"), Some(SLOT_LIBVERSION));
        assert_eq!(slot("vfs_find"), Some(SLOT_VFS_FIND));
        assert_eq!(slot("vfs_register"), Some(SLOT_VFS_REGISTER));
        assert_eq!(slot("malloc64"), Some(SLOT_MALLOC64));
        assert_eq!(slot("sourceid"), Some(SLOT_SOURCEID));
    }
}
