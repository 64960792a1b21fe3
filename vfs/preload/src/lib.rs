//! # libvfscope.so
//!
//! vfscope for programs you did not write, two ways:
//!
//! - `LD_PRELOAD=libvfscope.so app` (what `vfscope run` does): every SQLite
//!   copy in the process — a shared libsqlite3, a copy bundled into an
//!   extension module, one linked into the executable — is found through
//!   the ELF symbol tables (`scan`), at start and after every `dlopen`
//!   (`load`), and its `sqlite3_open*` functions are hooked in place
//!   (`hook`). Each open of that copy then runs through vfscope's wrapper
//!   of the VFS it would use (`open`), registered with that copy and
//!   following the life of the struct it wraps (`wrappers`); the program's
//!   default and `sqlite3_vfs_find` stay its own. Each copy has its own
//!   slot (`copies`): a call from one copy never reaches another. Its
//!   `sqlite3_file_control` is hooked too, so the file and VFS pointers it
//!   hands out are the app's own (`file_control`).
//! - `.load libvfscope` / `load_extension`: `sqlite3_vfscope_init`
//!   registers `vfscope` as the default VFS of the SQLite that loaded it,
//!   with the API table SQLite hands it.
//!
//! It never contains or links a SQLite, starts no thread unless a trace is
//! recorded (`VFSCOPE_TRACE`: one writer thread, started with the segment),
//! and on bad settings says so in one stderr line and leaves SQLite as it
//! was.
#![deny(unsafe_op_in_unsafe_fn)]

mod copies;
mod elf;
mod extension;
mod file_control;
mod hook;
mod load;
mod open;
mod owned;
mod scan;
mod search_path;
mod setup;
mod unreachable;
mod wrappers;
mod x86;
