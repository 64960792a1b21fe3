//! The answer to SQLITE_FCNTL_VFSNAME for a VFS the program asked for
//! (library mode, the extension): vfscope's name in front of its parent's.

use crate::api::SqliteApi;
use crate::ffi::{SQLITE_NOMEM, SQLITE_OK};
use std::ffi::CStr;
use std::os::raw::{c_char, c_int};

/// Puts vfscope's name in front of the answer to SQLITE_FCNTL_VFSNAME, the
/// way SQLite's own shims do ("vfscope/unix", "vfscope/quota/unix").
///
/// `parent_name` answers when the parent did not; `api` is the SQLite the
/// string is allocated with.
///
/// # Safety
/// `out` must be SQLite's `char **` for SQLITE_FCNTL_VFSNAME: NULL-or-string
/// from `sqlite3_malloc` of `api`'s SQLite, owned by the caller.
pub unsafe fn prefix(
    api: &SqliteApi,
    parent_name: &CStr,
    out: *mut *mut c_char,
    rc: c_int,
) -> c_int {
    if out.is_null() {
        return rc;
    }
    // SAFETY: per the contract, `*out` is NULL or a NUL-terminated string.
    let theirs = unsafe { *out };
    let below: &[u8] = if rc == SQLITE_OK && !theirs.is_null() {
        // SAFETY: as above.
        unsafe { std::ffi::CStr::from_ptr(theirs) }.to_bytes()
    } else {
        parent_name.to_bytes()
    };
    // One name for vfscope in the stack, whatever its wrapper is
    // registered as (as SQLite's own shims do: "quota/unix").
    let ours = b"vfscope";
    let len = ours.len() + 1 + below.len() + 1;
    // SAFETY: sqlite3_malloc64 has no preconditions.
    let text = unsafe { (api.malloc64)(len as u64) }.cast::<u8>();
    if text.is_null() {
        return if rc == SQLITE_OK { rc } else { SQLITE_NOMEM };
    }
    // SAFETY: `text` has `len` bytes; the sources do not overlap it; the old
    // string came from SQLite's allocator and is freed after its last use.
    unsafe {
        std::ptr::copy_nonoverlapping(ours.as_ptr(), text, ours.len());
        *text.add(ours.len()) = b'/';
        std::ptr::copy_nonoverlapping(below.as_ptr(), text.add(ours.len() + 1), below.len());
        *text.add(len - 1) = 0;
        if rc == SQLITE_OK && !theirs.is_null() {
            (api.free)(theirs.cast());
        }
        *out = text.cast();
    }
    SQLITE_OK
}
