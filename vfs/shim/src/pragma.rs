//! `PRAGMA vfscope_latency` on any connection through vfscope, answered
//! from SQLITE_FCNTL_PRAGMA: without a value it returns the active latency
//! model (`off` when none); `PRAGMA vfscope_latency = 'cross-az'` (a
//! preset, a model file's path, TOML text, or `off`) switches the
//! process's model and returns the new one; a bad model is an SQL error
//! naming the file, line and field.

use crate::api::SqliteApi;
use crate::ffi::*;
use std::ffi::CStr;
use std::os::raw::{c_char, c_int};

/// Handles the pragma if `args` names it; `None` for any other pragma.
///
/// # Safety
/// `args` must be SQLite's `char *[3]` for SQLITE_FCNTL_PRAGMA: [0] the
/// result slot (NULL), [1] the pragma name, [2] its value or NULL.
pub unsafe fn handle(api: &SqliteApi, args: *mut *mut c_char) -> Option<c_int> {
    if args.is_null() {
        return None;
    }
    // SAFETY: per the contract, args[1] is a NUL-terminated name and args[2]
    // NULL or a NUL-terminated value.
    let (name, value) = unsafe { (*args.add(1), *args.add(2)) };
    if name.is_null() {
        return None;
    }
    // SAFETY: as above.
    let name = unsafe { CStr::from_ptr(name) }.to_string_lossy();
    if !name.eq_ignore_ascii_case("vfscope_latency") {
        return None;
    }
    let (rc, text) = if value.is_null() {
        (SQLITE_OK, active())
    } else {
        // SAFETY: as above.
        let value = unsafe { CStr::from_ptr(value) }.to_string_lossy();
        match crate::control::set(&value) {
            Ok(()) => (SQLITE_OK, active()),
            Err(e) => (SQLITE_ERROR, format!("vfscope_latency: {e}")),
        }
    };
    // SAFETY: args[0] is the result slot SQLite frees with sqlite3_free.
    unsafe { *args = sqlite_string(api, &text) };
    Some(rc)
}

fn active() -> String {
    crate::recorder::layout()
        .and_then(|l| l.active_model())
        .unwrap_or_else(|| "off".to_string())
}

/// A copy of `text` in SQLite's allocator (NULL if it fails).
fn sqlite_string(api: &SqliteApi, text: &str) -> *mut c_char {
    let bytes = text.as_bytes();
    // SAFETY: sqlite3_malloc64 has no preconditions.
    let out = unsafe { (api.malloc64)(bytes.len() as u64 + 1) }.cast::<u8>();
    if !out.is_null() {
        // SAFETY: `out` holds len + 1 bytes; the regions do not overlap.
        unsafe {
            std::ptr::copy_nonoverlapping(bytes.as_ptr(), out, bytes.len());
            *out.add(bytes.len()) = 0;
        }
    }
    out.cast()
}
