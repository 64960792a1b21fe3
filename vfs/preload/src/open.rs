//! What runs in place of a copy's `sqlite3_open`, `sqlite3_open_v2` and
//! `sqlite3_open16` (or of its `openDatabase`, which all of them call) once
//! they are hooked: the open runs through vfscope's wrapper of the VFS it
//! would use (the default, the one named by argument, or by URI `vfs=`),
//! and everything the app can see stays as it would be without vfscope
//! (see `wrappers`).
//!
//! How each open reaches the wrapper:
//! - the default or a VFS named by argument: the wrapper's name is passed
//!   as the VFS argument of the copy's original `sqlite3_open_v2` (which is
//!   what `sqlite3_open` is, with READWRITE|CREATE: main.c);
//! - a URI's `vfs=NAME`: `&vfs=vfscope-NAME` is appended to the query.
//!   SQLite opens with the last `vfs=` of a URI and `sqlite3_uri_parameter`
//!   answers with the first (main.c, `sqlite3ParseUri` and
//!   `uriParameter`), so the app's VFS reads back its own name;
//! - `sqlite3_open16` hooked as an exported function: its UTF-16 name is
//!   converted and opened as `sqlite3_open` would be, then the connection
//!   is given the encoding `sqlite3_open16` gives it (UTF-16 native for a
//!   new database), with `PRAGMA encoding`, before anything reads the
//!   schema.
//!
//! Each slot of [`crate::copies`] has its own instances of these functions
//! (`N` is the slot), so a hooked function only ever reaches its own copy.
//! vfscope's part runs under `catch_unwind`: if it fails, the original runs
//! with the app's own arguments.

use crate::copies::{self, Copy, Open16Fn, OpenFn, OpenV2Fn, MAX_COPIES};
use std::ffi::{c_char, c_int, c_void, CStr, CString};
use std::panic::{catch_unwind, AssertUnwindSafe};

const SQLITE_OK: c_int = 0;
const SQLITE_ERROR: c_int = 1;
const SQLITE_OPEN_URI: c_int = 0x40;
/// What `sqlite3_open` and `sqlite3_open16` pass to `openDatabase`.
const SQLITE_OPEN_READWRITE_CREATE: c_int = 0x2 | 0x4;

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

unsafe extern "C" fn open<const N: usize>(filename: *const c_char, db: *mut *mut c_void) -> c_int {
    let Some(copy) = copies::get(N) else {
        return SQLITE_ERROR;
    };
    match (copy.open_v2, copy.open) {
        // SAFETY: the app's own arguments; sqlite3_open is exactly
        // sqlite3_open_v2 with these flags and no VFS (main.c).
        (Some(v2), _) => unsafe {
            open_through_vfscope(
                copy,
                v2,
                filename,
                db,
                SQLITE_OPEN_READWRITE_CREATE,
                std::ptr::null(),
            )
        },
        // SAFETY: the app's own arguments, passed on unchanged.
        (None, Some(real)) => unsafe { real(filename, db) },
        (None, None) => SQLITE_ERROR,
    }
}

unsafe extern "C" fn open16<const N: usize>(
    filename: *const c_void,
    db: *mut *mut c_void,
) -> c_int {
    let Some(copy) = copies::get(N) else {
        return SQLITE_ERROR;
    };
    // SAFETY: a NULL or NUL-terminated UTF-16 name, as SQLite requires.
    let name = prepare(None, || unsafe { utf8_of(filename.cast()) });
    match (name, copy.open_v2, copy.exec, copy.open16) {
        (Some(name), Some(v2), Some(exec), _) => {
            // SAFETY: the app's arguments, converted as sqlite3_open16 does.
            let rc = unsafe {
                open_through_vfscope(
                    copy,
                    v2,
                    name.as_ptr(),
                    db,
                    SQLITE_OPEN_READWRITE_CREATE,
                    std::ptr::null(),
                )
            };
            if rc == SQLITE_OK {
                // SAFETY: `*db` is the connection just opened; no schema
                // has been read, so this sets what sqlite3_open16 sets.
                unsafe {
                    exec(
                        *db,
                        c"PRAGMA encoding='UTF-16le'".as_ptr(),
                        std::ptr::null(),
                        std::ptr::null_mut(),
                        std::ptr::null_mut(),
                    )
                };
            }
            rc
        }
        // SAFETY: the app's own arguments, passed on unchanged.
        (_, _, _, Some(real)) => unsafe { real(filename, db) },
        _ => SQLITE_ERROR,
    }
}

/// A NUL-terminated UTF-16 (native order) name as UTF-8; NULL is the empty
/// name, as sqlite3_open16 takes it. `None` for a name that is not valid
/// UTF-16 (sqlite3_open16 itself then runs, unseen).
///
/// # Safety
/// `name` is NULL or NUL-terminated.
unsafe fn utf8_of(name: *const u16) -> Option<CString> {
    if name.is_null() {
        return Some(CString::default());
    }
    let mut len = 0;
    // SAFETY: per the contract, the terminator is reached before any
    // unreadable memory.
    while unsafe { *name.add(len) } != 0 {
        len += 1;
    }
    // SAFETY: `len` units were just read.
    let units = unsafe { std::slice::from_raw_parts(name, len) };
    CString::new(String::from_utf16(units).ok()?).ok()
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
    // SAFETY: the app's own arguments.
    unsafe { open_through_vfscope(copy, real, filename, db, flags, vfs) }
}

/// Runs the copy's original `sqlite3_open_v2` through vfscope's wrapper of
/// the VFS the open would use.
///
/// # Safety
/// The arguments are the app's, valid for `sqlite3_open_v2`.
unsafe fn open_through_vfscope(
    copy: &Copy,
    real: OpenV2Fn,
    filename: *const c_char,
    db: *mut *mut c_void,
    flags: c_int,
    vfs: *const c_char,
) -> c_int {
    let plan = prepare(Plan::default(), || {
        // SAFETY: the app's arguments, as SQLite would read them.
        unsafe { plan(copy, real, filename, flags, vfs) }
    });
    let filename = plan.uri.as_ref().map_or(filename, |f| f.as_ptr());
    let vfs = plan.vfs.map_or(vfs, CStr::as_ptr);
    // SAFETY: the app's arguments, with the VFS that SQLite would use
    // replaced by vfscope's wrapper of it (registered, living for the
    // process).
    unsafe { real(filename, db, flags, vfs) }
}

/// How one open reaches vfscope: the URI to open instead, or the wrapper
/// to name as the VFS argument.
#[derive(Default)]
struct Plan {
    uri: Option<CString>,
    vfs: Option<&'static CStr>,
}

/// # Safety
/// `filename` and `vfs` are NULL or NUL-terminated, as SQLite requires.
unsafe fn plan(
    copy: &Copy,
    real: OpenV2Fn,
    filename: *const c_char,
    flags: c_int,
    vfs: *const c_char,
) -> Plan {
    // SAFETY: a non-NULL filename is NUL-terminated.
    let name = (!filename.is_null()).then(|| unsafe { CStr::from_ptr(filename) });
    let is_uri = |name: &CStr| {
        flags & SQLITE_OPEN_URI != 0
            || (names_a_vfs(name.to_bytes()) && uris_enabled_globally(copy, real))
    };
    if let Some((name, uri_vfs)) = name
        .filter(|n| names_a_vfs(n.to_bytes()) && is_uri(n))
        .and_then(|n| Some((n, uri_vfs_of(n.to_bytes())?)))
    {
        // The URI's VFS wins over the argument (sqlite3ParseUri).
        let wrapper = CString::new(uri_vfs)
            .ok()
            .and_then(|v| copy.route(Some(&v)));
        return Plan {
            uri: wrapper.and_then(|w| with_vfs(name.to_bytes(), w.to_bytes())),
            vfs: None,
        };
    }
    // SAFETY: a non-NULL VFS name from the app is NUL-terminated.
    let requested = (!vfs.is_null()).then(|| unsafe { CStr::from_ptr(vfs) });
    Plan {
        uri: None,
        vfs: copy.route(requested),
    }
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

/// The VFS a `file:` URI names: the value of its last `vfs=` parameter,
/// %-decoded, as `sqlite3ParseUri` takes it.
fn uri_vfs_of(uri: &[u8]) -> Option<Vec<u8>> {
    query_of(uri)?
        .split(|&b| b == b'&')
        .rev()
        .find_map(|p| p.strip_prefix(b"vfs="))
        .map(percent_decoded)
}

/// The query of a `file:` URI (between `?` and `#`).
fn query_of(uri: &[u8]) -> Option<&[u8]> {
    let uri = uri.strip_prefix(b"file:")?;
    let uri = &uri[..uri.iter().position(|&b| b == b'#').unwrap_or(uri.len())];
    let at = uri.iter().position(|&b| b == b'?')?;
    Some(&uri[at + 1..])
}

fn percent_decoded(value: &[u8]) -> Vec<u8> {
    let hex = |b: u8| (b as char).to_digit(16).map(|d| d as u8);
    let mut out = Vec::with_capacity(value.len());
    let mut i = 0;
    while i < value.len() {
        match (
            value[i],
            value.get(i + 1).copied().and_then(hex),
            value.get(i + 2).copied().and_then(hex),
        ) {
            (b'%', Some(h), Some(l)) => {
                out.push(h << 4 | l);
                i += 3;
            }
            (b, _, _) => {
                out.push(b);
                i += 1;
            }
        }
    }
    out
}

/// The URI with `&vfs=VFS` appended to its query (before any fragment),
/// so that SQLite opens with `vfs` while the app's own `vfs=` stays the
/// first (the one `sqlite3_uri_parameter` answers with).
fn with_vfs(uri: &[u8], vfs: &[u8]) -> Option<CString> {
    let end = uri.iter().position(|&b| b == b'#').unwrap_or(uri.len());
    let mut out = uri[..end].to_vec();
    out.extend_from_slice(b"&vfs=");
    for &b in vfs {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            out.push(b);
        } else {
            out.extend_from_slice(format!("%{b:02X}").as_bytes());
        }
    }
    out.extend_from_slice(&uri[end..]);
    CString::new(out).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn appended(uri: &str, vfs: &str) -> String {
        with_vfs(uri.as_bytes(), vfs.as_bytes())
            .unwrap()
            .into_string()
            .unwrap()
    }

    #[test]
    fn the_wrapper_is_appended_after_the_apps_vfs() {
        assert_eq!(
            appended(
                "file:app.db?mode=rwc&vfs=unix-excl&cache=shared",
                "vfscope-unix-excl"
            ),
            "file:app.db?mode=rwc&vfs=unix-excl&cache=shared&vfs=vfscope-unix-excl"
        );
        assert_eq!(
            appended("file:/x.db?vfs=memdb#frag", "vfscope-memdb"),
            "file:/x.db?vfs=memdb&vfs=vfscope-memdb#frag"
        );
        assert_eq!(
            appended("file:/x.db?vfs=a%26b", "vfscope-a&b"),
            "file:/x.db?vfs=a%26b&vfs=vfscope-a%26b",
            "characters that end a value are escaped"
        );
    }

    #[test]
    fn the_vfs_sqlite_opens_with_is_the_last_one_named() {
        let of = |u: &str| uri_vfs_of(u.as_bytes()).map(|v| String::from_utf8(v).unwrap());
        assert_eq!(
            of("file:app.db?mode=ro&vfs=unix-excl").as_deref(),
            Some("unix-excl")
        );
        assert_eq!(of("file:app.db?vfs=a&vfs=b").as_deref(), Some("b"));
        assert_eq!(of("file:app.db?vfs=my%20vfs").as_deref(), Some("my vfs"));
        assert_eq!(of("file:app.db?vfs=").as_deref(), Some(""));
        assert_eq!(of("file:app.db?mode=ro"), None);
        assert_eq!(of("app.db?vfs=unix"), None, "not a URI");
        assert_eq!(
            of("file:app.db#vfs=unix"),
            None,
            "a fragment is not a query"
        );
    }
}
