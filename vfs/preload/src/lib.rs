//! # libvfscope.so
//!
//! vfscope for programs you did not write, two ways:
//!
//! - `LD_PRELOAD=libvfscope.so app` (what `vfscope run` does): every SQLite
//!   copy in the process — a shared libsqlite3, a copy bundled into an
//!   extension module, one linked into the executable — is found through
//!   the ELF symbol tables (`scan`), at start and after every `dlopen`
//!   (`load`), and its `sqlite3_open*` functions are hooked in place
//!   (`hook`). At that copy's first open, `open` registers `vfscope` with
//!   it as the default VFS over the one it had, and wraps any VFS the app
//!   names (argument or URI `vfs=`) as `vfscope-NAME`. Each copy has its
//!   own slot (`copies`): a call from one copy never reaches another.
//! - `.load libvfscope` / `load_extension`: `sqlite3_vfscope_init` does the
//!   same registration with the API table SQLite hands it.
//!
//! It never contains or links a SQLite, starts no thread unless a trace is
//! recorded (`VFSCOPE_TRACE`: one writer thread, started with the segment),
//! and on bad settings says so in one stderr line and leaves SQLite as it
//! was.
#![deny(unsafe_op_in_unsafe_fn)]

mod copies;
mod elf;
mod extension;
mod hook;
mod load;
mod open;
mod owned;
mod scan;
mod search_path;
mod setup;
mod wrappers;
mod x86;
