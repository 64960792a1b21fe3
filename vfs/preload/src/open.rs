//! What runs in place of a copy's `sqlite3_open`, `sqlite3_open_v2` and
//! `sqlite3_open16` once they are hooked: make sure vfscope is that copy's
//! default VFS, map an explicitly named VFS (argument or URI `vfs=`) to
//! vfscope over that VFS, and call the copy's original function.
//!
//! Each slot of [`crate::copies`] has its own instances of these functions
//! (`N` is the slot), so a hooked function only ever reaches its own copy.
//! vfscope's part runs under `catch_unwind`: if it fails, the original runs
//! with the app's own arguments.

use crate::copies::{self, Copy, Open16Fn, OpenFn, OpenV2Fn, MAX_COPIES};
use std::ffi::{c_char, c_int, c_void, CStr, CString};
use std::panic::{catch_unwind, AssertUnwindSafe};

const SQLITE_ERROR: c_int = 1;
const SQLITE_OPEN_URI: c_int = 0x40;

/// The handlers of slot N, by function.
pub struct Handlers {
    pub open: OpenFn,
    pub open_v2: OpenV2Fn,
    pub open16: Open16Fn,
}

macro_rules! handlers {
    ($($n:literal)*) => {
        [$(Handlers {
            open: open::<$n>,
            open_v2: open_v2::<$n>,
            open16: open16::<$n>,
        }),*]
    };
}

/// The handlers of every slot.
pub static HANDLERS: [Handlers; MAX_COPIES] = handlers!(0 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15);

/// Runs vfscope's part of an open; a panic in it is reported once and the
/// open goes on as without vfscope.
fn prepare<T>(default: T, f: impl FnOnce() -> T) -> T {
    catch_unwind(AssertUnwindSafe(f)).unwrap_or_else(|_| {
        vfscope_shim::warn(
            "internal fault while preparing an open; this open runs without vfscope",
        );
        default
    })
}

/// `sqlite3_open` and `sqlite3_open16` of copy `N`: vfscope becomes the
/// default, then `call` runs the original (`original` picks it).
fn open_plain<F>(
    n: usize,
    original: impl FnOnce(&Copy) -> Option<F>,
    call: impl FnOnce(F) -> c_int,
) -> c_int {
    let Some(copy) = copies::get(n) else {
        return SQLITE_ERROR;
    };
    let Some(real) = original(copy) else {
        return SQLITE_ERROR;
    };
    prepare((), || {
        copy.ensure_default();
    });
    call(real)
}

unsafe extern "C" fn open<const N: usize>(filename: *const c_char, db: *mut *mut c_void) -> c_int {
    // SAFETY: the app's own arguments, passed on unchanged.
    open_plain(N, |c| c.open, |real| unsafe { real(filename, db) })
}

unsafe extern "C" fn open16<const N: usize>(
    filename: *const c_void,
    db: *mut *mut c_void,
) -> c_int {
    // SAFETY: the app's own arguments, passed on unchanged.
    open_plain(N, |c| c.open16, |real| unsafe { real(filename, db) })
}

unsafe extern "C" fn open_v2<const N: usize>(
    filename: *const c_char,
    db: *mut *mut c_void,
    flags: c_int,
    vfs: *const c_char,
) -> c_int {
    let Some(copy) = copies::get(N) else {
        return SQLITE_ERROR;
    };
    let Some(real) = copy.open_v2 else {
        return SQLITE_ERROR;
    };
    let (rewritten, vfs) = prepare((None, vfs), || {
        // SAFETY: the app's arguments, as SQLite would read them.
        unsafe { map_vfs(copy, real, filename, flags, vfs) }
    });
    let filename = rewritten.as_ref().map_or(filename, |f| f.as_ptr());
    // SAFETY: the app's arguments, with the VFS names swapped for vfscope's
    // wrappers of the same VFSes (names that live for the process).
    unsafe { real(filename, db, flags, vfs) }
}

/// Makes vfscope the copy's default and maps a named VFS to its vfscope
/// wrapper: the URI to open instead (if rewritten) and the VFS name to pass.
///
/// # Safety
/// `filename` and `vfs` are NULL or NUL-terminated, as SQLite requires.
unsafe fn map_vfs(
    copy: &Copy,
    real: OpenV2Fn,
    filename: *const c_char,
    flags: c_int,
    vfs: *const c_char,
) -> (Option<CString>, *const c_char) {
    if !copy.ensure_default() {
        return (None, vfs);
    }
    let vfs = if vfs.is_null() {
        vfs
    } else {
        // SAFETY: a non-NULL VFS name from the app is NUL-terminated.
        copy.wrapper_for(unsafe { CStr::from_ptr(vfs) })
            .map_or(vfs, CStr::as_ptr)
    };
    // SAFETY: a non-NULL filename is NUL-terminated.
    let name = (!filename.is_null()).then(|| unsafe { CStr::from_ptr(filename) });
    let is_uri = |name: &CStr| {
        flags & SQLITE_OPEN_URI != 0
            || (names_a_vfs(name.to_bytes()) && uris_enabled_globally(copy, real))
    };
    let rewritten = name.filter(|n| is_uri(n)).and_then(|name| {
        rewrite_uri_vfs(name.to_bytes(), |v| {
            CStr::from_bytes_with_nul(&[v, b"\0"].concat())
                .ok()
                .and_then(|v| copy.wrapper_for(v))
                .map(|w| w.to_bytes().to_vec())
        })
    });
    (rewritten, vfs)
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
fn uris_enabled_globally(copy: &Copy, open_v2: OpenV2Fn) -> bool {
    const SQLITE_OPEN_READONLY: c_int = 0x1;
    let Some(close) = copy.close else {
        return false;
    };
    let mut db: *mut c_void = std::ptr::null_mut();
    // SAFETY: a valid filename and out pointer; the handle SQLite returns
    // (even on failure) is closed right after.
    let rc = unsafe {
        let rc = open_v2(
            c"file:vfscope-uri-probe?vfs=vfscope-no-such-vfs".as_ptr(),
            &mut db,
            SQLITE_OPEN_READONLY,
            std::ptr::null(),
        );
        close(db);
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
