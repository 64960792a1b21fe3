//! # libvfscope.so
//!
//! vfscope for programs you did not write, two ways:
//!
//! - `LD_PRELOAD=libvfscope.so app` (what `vfscope run` does): the library
//!   defines `sqlite3_open`, `sqlite3_open_v2` and `sqlite3_open16`, so the
//!   app's calls reach it first. On the first one it finds the app's SQLite
//!   (see `resolve`), registers `vfscope` as the default VFS over the one
//!   the app had, and wraps any VFS the app names (argument or URI `vfs=`)
//!   as `vfscope-NAME`.
//! - `.load libvfscope` / `load_extension`: `sqlite3_vfscope_init` does the
//!   same registration with the API table SQLite hands it.
//!
//! It never contains or links a SQLite, starts no thread, and on bad
//! settings says so in one stderr line and leaves SQLite as it was.
#![deny(unsafe_op_in_unsafe_fn)]

mod extension;
mod interpose;
mod resolve;
mod setup;
