//! What one of vfscope's VFSes holds: the struct SQLite sees, its parent,
//! and how it was made. Files point back at it (`FileState::vfs`).

use crate::api::SqliteApi;
use crate::ffi::sqlite3_vfs;
use std::ffi::CString;

/// One registered vfscope VFS. Leaked at registration: SQLite may use a VFS
/// until the process ends.
#[repr(C)]
pub struct VfsState {
    /// What SQLite sees; `pAppData` points back at this struct.
    pub vfs: sqlite3_vfs,
    pub parent: *mut sqlite3_vfs,
    pub api: SqliteApi,
    pub name: CString,
    pub parent_name: CString,
    /// The SQLite copy this VFS is registered with (its row in the
    /// segment's copy table).
    pub copy: u16,
    /// The parent follows os_unix.c's locking (see `FileState::locked`).
    pub unix_lock_rules: bool,
    /// Set for a wrapper made for a program that did not ask for vfscope
    /// (the LD_PRELOAD library's): see [`Unseen`].
    pub unseen: Option<Unseen>,
}

/// How a wrapper made for a program that did not ask for vfscope stays out
/// of its sight: SQLITE_FCNTL_VFSNAME answers as the parent does (library
/// mode and the extension put "vfscope/" in front), and the parent never
/// sees the URI `vfs=` the wrapper was reached by.
#[derive(Clone, Copy, Debug)]
pub struct Unseen {
    /// SQLite 3.32 or later: a main database opened through an appended
    /// URI `vfs=` is opened below with a copy of its filename without it
    /// (see `filename`; older layouts are left alone).
    pub filename_copies: bool,
}
