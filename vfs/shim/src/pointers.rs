//! The file and VFS pointers SQLite hands out of a connection, as the app
//! would see them without vfscope.
//!
//! `sqlite3_file_control` answers `SQLITE_FCNTL_FILE_POINTER`,
//! `SQLITE_FCNTL_JOURNAL_POINTER` and `SQLITE_FCNTL_VFS_POINTER` itself,
//! without asking the VFS (main.c): with the connection's top file and VFS,
//! which under vfscope are vfscope's. An extension that recognises its own
//! files by their method table (Litestream's VFS: `file->pMethods !=
//! &s3vfs_io_methods` fails its connection hook with SQLITE_MISUSE) or its
//! own VFS by address would no longer see them. Where vfscope hooks a
//! copy's `sqlite3_file_control` (the preload library), the answer is
//! unwrapped with these functions. A caller that then calls methods on
//! the real file directly bypasses vfscope, as it bypasses any VFS that
//! wraps another: those calls are not recorded.

use crate::ffi::{sqlite3_file, sqlite3_vfs};
use crate::file::TracedFile;
use crate::vfs::is_vfscope;
use crate::vfs_state::VfsState;

/// `sqlite3_file_control` opcodes SQLite answers itself (sqlite3.h).
pub const SQLITE_FCNTL_FILE_POINTER: i32 = 7;
pub const SQLITE_FCNTL_VFS_POINTER: i32 = 27;
pub const SQLITE_FCNTL_JOURNAL_POINTER: i32 = 28;

/// The file under a vfscope file; any other file as it is.
///
/// # Safety
/// `file` is NULL or a file SQLite handed out of an open connection
/// (`SQLITE_FCNTL_FILE_POINTER` or `SQLITE_FCNTL_JOURNAL_POINTER`), so its
/// method table, when set, is live.
pub unsafe fn unwrap_file(file: *mut sqlite3_file) -> *mut sqlite3_file {
    if file.is_null() {
        return file;
    }
    // SAFETY: per the contract, `file` is a live sqlite3_file.
    let methods = unsafe { (*file).pMethods };
    // SAFETY: a non-NULL method table of a live file is live.
    if methods.is_null() || !crate::tables::is_ours(unsafe { &*methods }) {
        return file;
    }
    // SAFETY: only vfscope's xOpen installs vfscope's tables, over a
    // TracedFile whose real file follows it in the same allocation.
    unsafe { std::ptr::addr_of_mut!((*file.cast::<TracedFile>()).real) }
}

/// The VFS a vfscope VFS wraps; any other VFS as it is.
///
/// # Safety
/// `vfs` is NULL or a live VFS (`SQLITE_FCNTL_VFS_POINTER`'s answer).
pub unsafe fn unwrap_vfs(vfs: *mut sqlite3_vfs) -> *mut sqlite3_vfs {
    // SAFETY: per the contract.
    if vfs.is_null() || !unsafe { is_vfscope(vfs) } {
        return vfs;
    }
    // SAFETY: vfscope's VFSes point pAppData at their leaked VfsState.
    unsafe { (*((*vfs).pAppData as *const VfsState)).parent }
}

/// What an app gets back from `sqlite3_file_control(db, name, op, arg)`
/// once the call returned `rc`: `arg`'s pointer unwrapped for the opcodes
/// SQLite answers with vfscope's objects.
///
/// # Safety
/// `arg` is the argument the app passed, after SQLite's answer (for the
/// three opcodes, a pointer to a pointer it filled).
pub unsafe fn unwrap_answer(op: i32, arg: *mut std::ffi::c_void, rc: i32) {
    if rc != 0 || arg.is_null() {
        return;
    }
    match op {
        SQLITE_FCNTL_FILE_POINTER | SQLITE_FCNTL_JOURNAL_POINTER => {
            let slot = arg.cast::<*mut sqlite3_file>();
            // SAFETY: for these opcodes SQLite wrote a file pointer there.
            unsafe { *slot = unwrap_file(*slot) };
        }
        SQLITE_FCNTL_VFS_POINTER => {
            let slot = arg.cast::<*mut sqlite3_vfs>();
            // SAFETY: for this opcode SQLite wrote a VFS pointer there.
            unsafe { *slot = unwrap_vfs(*slot) };
        }
        _ => {}
    }
}
