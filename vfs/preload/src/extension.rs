//! The SQLite loadable-extension entry point: `.load libvfscope` in the CLI,
//! `load_extension(...)` elsewhere. It registers vfscope as the default VFS
//! for connections opened afterwards and asks to stay loaded.

use std::ffi::{c_char, c_int, c_void};
use vfscope_shim::ffi::sqlite3_vfs;
use vfscope_shim::SqliteApi;

const SQLITE_ERROR: c_int = 1;
const SQLITE_OK_LOAD_PERMANENTLY: c_int = 256;

/// Slots of `sqlite3_api_routines` (sqlite3ext.h), which only ever grows at
/// the end. Checked against the installed header by a test.
pub(crate) const SLOT_FREE: usize = 58;
pub(crate) const SLOT_LIBVERSION: usize = 66;
pub(crate) const SLOT_VFS_FIND: usize = 141;
pub(crate) const SLOT_VFS_REGISTER: usize = 142;
pub(crate) const SLOT_MALLOC64: usize = 197;

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
    let (Some(free), Some(libversion), Some(find), Some(register), Some(malloc64)) = (
        slot(SLOT_FREE),
        slot(SLOT_LIBVERSION),
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
            libversion: std::mem::transmute::<*const c_void, unsafe extern "C" fn() -> *const c_char>(
                libversion,
            ),
            malloc64: std::mem::transmute::<*const c_void, unsafe extern "C" fn(u64) -> *mut c_void>(
                malloc64,
            ),
            free: std::mem::transmute::<*const c_void, unsafe extern "C" fn(*mut c_void)>(free),
        }
    };
    if crate::setup::ensure(&api) {
        return SQLITE_OK_LOAD_PERMANENTLY;
    }
    set_error(
        &api,
        error,
        "vfscope could not start (see the line above on stderr)",
    );
    SQLITE_ERROR
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
        let Ok(header) = std::fs::read_to_string("/usr/include/sqlite3ext.h") else {
            eprintln!("skipped: /usr/include/sqlite3ext.h is not installed");
            return;
        };
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
    }
}
