//! The `sqlite3_open*` functions this library defines to take the app's
//! place under LD_PRELOAD. Each makes sure vfscope is set up (it becomes the
//! default VFS), maps an explicitly named VFS — argument or URI `vfs=` — to
//! vfscope over that VFS, and calls the real function.

use crate::resolve::real;
use crate::setup::{ensure, wrapper_for};
use std::ffi::{c_char, c_int, c_void, CStr, CString};

const SQLITE_ERROR: c_int = 1;
const SQLITE_OPEN_URI: c_int = 0x40;

#[no_mangle]
pub unsafe extern "C" fn sqlite3_open(filename: *const c_char, db: *mut *mut c_void) -> c_int {
    let Some(real) = real() else {
        return SQLITE_ERROR;
    };
    ensure(&real.api);
    // SAFETY: the app's own arguments, passed on unchanged.
    unsafe { (real.open)(filename, db) }
}

#[no_mangle]
pub unsafe extern "C" fn sqlite3_open16(filename: *const c_void, db: *mut *mut c_void) -> c_int {
    let Some(real) = real() else {
        return SQLITE_ERROR;
    };
    ensure(&real.api);
    // SAFETY: the app's own arguments, passed on unchanged.
    unsafe { (real.open16)(filename, db) }
}

#[no_mangle]
pub unsafe extern "C" fn sqlite3_open_v2(
    filename: *const c_char,
    db: *mut *mut c_void,
    flags: c_int,
    vfs: *const c_char,
) -> c_int {
    let Some(real) = real() else {
        return SQLITE_ERROR;
    };
    ensure(&real.api);
    let vfs = if vfs.is_null() {
        vfs
    } else {
        // SAFETY: a non-NULL VFS name from the app is NUL-terminated.
        wrapper_for(&real.api, unsafe { CStr::from_ptr(vfs) }).map_or(vfs, CStr::as_ptr)
    };
    // SAFETY: a non-NULL filename is NUL-terminated.
    let name = (!filename.is_null()).then(|| unsafe { CStr::from_ptr(filename) });
    let is_uri = |name: &CStr| {
        flags & SQLITE_OPEN_URI != 0
            || (names_a_vfs(name.to_bytes()) && uris_enabled_globally(real))
    };
    let rewritten = if let Some(name) = name.filter(|n| is_uri(n)) {
        rewrite_uri_vfs(name.to_bytes(), |v| {
            CStr::from_bytes_with_nul(&[v, b"\0"].concat())
                .ok()
                .and_then(|v| wrapper_for(&real.api, v))
                .map(|w| w.to_bytes().to_vec())
        })
    } else {
        None
    };
    let filename = rewritten.as_ref().map_or(filename, |f| f.as_ptr());
    // SAFETY: the app's arguments, with the VFS names swapped for vfscope's
    // wrappers of the same VFSes (names that live for the process).
    unsafe { (real.open_v2)(filename, db, flags, vfs) }
}

/// Whether a name looks like a `file:` URI with a `vfs=` parameter.
fn names_a_vfs(name: &[u8]) -> bool {
    name.starts_with(b"file:") && name.windows(4).any(|w| w == b"vfs=")
}

/// Whether SQLite treats filenames as URIs without SQLITE_OPEN_URI (the app
/// called `sqlite3_config(SQLITE_CONFIG_URI, 1)`, as the sqlite3 CLI does).
/// There is no API to ask, so this opens, read-only, a URI naming a VFS that
/// does not exist: with URIs on that fails with SQLITE_ERROR ("no such
/// vfs"), with them off with SQLITE_CANTOPEN, creating nothing either way.
fn uris_enabled_globally(real: &crate::resolve::Real) -> bool {
    const SQLITE_OPEN_READONLY: c_int = 0x1;
    let mut db: *mut c_void = std::ptr::null_mut();
    // SAFETY: a valid filename and out pointer; the handle SQLite returns
    // (even on failure) is closed right after.
    let rc = unsafe {
        let rc = (real.open_v2)(
            c"file:vfscope-uri-probe?vfs=vfscope-no-such-vfs".as_ptr(),
            &mut db,
            SQLITE_OPEN_READONLY,
            std::ptr::null(),
        );
        (real.close)(db);
        rc
    };
    rc == SQLITE_ERROR
}

/// A `file:` URI with its `vfs=NAME` parameter replaced by `map(NAME)`, or
/// `None` when there is nothing to replace.
fn rewrite_uri_vfs(uri: &[u8], map: impl FnOnce(&[u8]) -> Option<Vec<u8>>) -> Option<CString> {
    if !uri.starts_with(b"file:") {
        return None;
    }
    let query_at = uri.iter().position(|&b| b == b'?')?;
    let end = uri[query_at..]
        .iter()
        .position(|&b| b == b'#')
        .map_or(uri.len(), |p| query_at + p);
    let mut start = query_at + 1;
    while start < end {
        let stop = uri[start..end]
            .iter()
            .position(|&b| b == b'&')
            .map_or(end, |p| start + p);
        if let Some(value) = uri[start..stop].strip_prefix(b"vfs=") {
            let replacement = map(value)?;
            let out = [&uri[..start + 4], &replacement[..], &uri[stop..]].concat();
            return CString::new(out).ok();
        }
        start = stop + 1;
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rewrite(uri: &str) -> Option<String> {
        rewrite_uri_vfs(uri.as_bytes(), |v| Some([b"vfscope-", v].concat()))
            .map(|c| c.into_string().unwrap())
    }

    #[test]
    fn uri_vfs_parameter_is_replaced() {
        assert_eq!(
            rewrite("file:app.db?mode=rwc&vfs=unix-excl&cache=shared").as_deref(),
            Some("file:app.db?mode=rwc&vfs=vfscope-unix-excl&cache=shared")
        );
        assert_eq!(
            rewrite("file:/x.db?vfs=memdb").as_deref(),
            Some("file:/x.db?vfs=vfscope-memdb")
        );
        assert_eq!(
            rewrite("file:/x.db?vfs=memdb#frag").as_deref(),
            Some("file:/x.db?vfs=vfscope-memdb#frag")
        );
        assert_eq!(rewrite("file:app.db?mode=ro"), None);
        assert_eq!(rewrite("app.db?vfs=unix"), None, "not a URI");
        assert_eq!(
            rewrite("file:app.db#vfs=unix"),
            None,
            "a fragment is not a query"
        );
    }
}
