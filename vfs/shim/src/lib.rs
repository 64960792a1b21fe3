//! # vfscope-shim
//!
//! The passthrough VFS at the heart of vfscope. [`register`] wraps any
//! registered `sqlite3_vfs` (the default one, `unix`, `unix-excl`,
//! `unix-dotfile`, `unix-none`, `memdb`, …) in a vfscope VFS that forwards
//! every method of `sqlite3_vfs` v1–v3 and `sqlite3_io_methods` v1–v3
//! unchanged and records each call into the process's stats segment.
//!
//! This crate has no link-time dependency on SQLite: the host's entry points
//! come in a [`SqliteApi`]. Rust apps use the `vfscope` crate, which fills it
//! from the SQLite they link; the LD_PRELOAD library fills it at run time.
//!
//! What the shim guarantees the host:
//! - the same results and error codes as the parent VFS: file method tables
//!   mirror the real file's `iVersion` and NULL slots (so WAL and mmap behave
//!   as without vfscope), `pMethods` stays NULL when the real open leaves it
//!   NULL, unknown file controls pass through, short reads keep SQLite's
//!   zero-fill semantics; only `SQLITE_FCNTL_VFSNAME` is answered
//!   differently, with vfscope's name in front ("vfscope/unix");
//! - no lock, allocation, log line or system call beyond the clock on the
//!   recording path;
//! - no panic crosses into C: an internal fault turns vfscope into a plain
//!   passthrough and says so once on stderr.
#![deny(unsafe_op_in_unsafe_fn)]

pub mod api;
mod calls;
mod clock;
mod config;
mod control;
pub mod ffi;
mod file;
mod filename;
mod fork;
mod io;
mod kinds;
mod latency;
mod lz4_sample;
mod paths;
pub mod pointers;
mod pragma;
mod recorder;
mod start;
mod tables;
mod trace;
mod trace_queue;
mod txn;
mod vfs;
mod vfs_name;
mod vfs_state;
mod wait;

pub use api::SqliteApi;
pub use config::{
    parse_block_size, parse_duration, Config, Error, DEFAULT_BLOCK_SIZE, DEFAULT_SLOW,
};
pub use control::{load as load_latency, set as set_latency};
pub use fork::{protect as protect_across_fork, ExtraLocks};
pub use recorder::{publish_copy, warn};
pub use start::start as start_recording;
pub use vfs::{is_vfscope, register, wrap};
pub use vfs_state::Unseen;
pub use vfscope_segment::{CopyAccess, CopyInfo, CopyStatus, MAX_COPIES};
