//! What runs in place of a copy's `sqlite3_file_control` once it is hooked:
//! the original, then the file and VFS pointers SQLite answers with
//! unwrapped to the app's own (`vfscope_shim::pointers`), so an extension
//! that recognises its files by their method table keeps working.
//!
//! Each slot of [`crate::copies`] has its own instance (`N` is the slot).
//! vfscope's part runs under `catch_unwind`: if it fails, the answer is
//! SQLite's.

use crate::copies::{self, FileControlFn, MAX_COPIES};
use std::ffi::{c_char, c_int, c_void};
use std::panic::{catch_unwind, AssertUnwindSafe};

const SQLITE_ERROR: c_int = 1;

macro_rules! handlers {
    ($($n:literal)*) => { [$(file_control::<$n> as FileControlFn),*] };
}

/// The handler of every slot.
pub static HANDLERS: [FileControlFn; MAX_COPIES] = handlers!(0 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15);

unsafe extern "C" fn file_control<const N: usize>(
    db: *mut c_void,
    name: *const c_char,
    op: c_int,
    arg: *mut c_void,
) -> c_int {
    let Some(original) = copies::get(N).and_then(|c| c.file_control) else {
        return SQLITE_ERROR;
    };
    // SAFETY: the app's own arguments to the copy's own function.
    let rc = unsafe { original(db, name, op, arg) };
    let unwrapped = catch_unwind(AssertUnwindSafe(|| {
        // SAFETY: `arg` is what the app passed and SQLite just answered
        // through.
        unsafe { vfscope_shim::pointers::unwrap_answer(op, arg, rc) }
    }));
    if unwrapped.is_err() {
        vfscope_shim::warn("internal fault in sqlite3_file_control; SQLite's answer is kept");
    }
    rc
}
