//! The few SQLite library functions the shim calls, as function pointers.
//!
//! Library mode fills this from the SQLite the Rust app links; the LD_PRELOAD
//! library fills it from the host's SQLite found at run time. Either way the
//! shim itself has no link-time dependency on SQLite.

use crate::ffi::sqlite3_vfs;
use std::os::raw::{c_char, c_int, c_void};

/// Entry points of the host's SQLite.
#[derive(Clone, Copy, Debug)]
pub struct SqliteApi {
    /// `sqlite3_vfs_find`
    pub vfs_find: unsafe extern "C" fn(*const c_char) -> *mut sqlite3_vfs,
    /// `sqlite3_vfs_register`
    pub vfs_register: unsafe extern "C" fn(*mut sqlite3_vfs, c_int) -> c_int,
    /// `sqlite3_malloc64`: strings handed to SQLite must come from its
    /// allocator (SQLITE_FCNTL_VFSNAME).
    pub malloc64: unsafe extern "C" fn(u64) -> *mut c_void,
    /// `sqlite3_free`
    pub free: unsafe extern "C" fn(*mut c_void),
}
