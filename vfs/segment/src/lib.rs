//! # vfscope-segment
//!
//! The stats segment is how vfscope's data leaves an instrumented process:
//! one fixed-size file per process in the segment directory, mapped shared.
//! The VFS shim records into it with atomics only (no lock, no allocation, no
//! system call beyond the clock); `vfstop`, `vfscope serve` and `vfscope run`
//! map it read-only and copy it into [`Snapshot`]s. This crate holds the
//! layout, the writer's lock-free operations and the reader; it has no FFI
//! and does not know SQLite.
//!
//! It also holds the two other formats a process and its readers share:
//! the control block's protocol (a reader asks for a latency model; a
//! futex wakes the process), which lives inside the segment, and the trace
//! file ([`trace`]: the same calls the segment counts, written out one by
//! one, read into the same [`Snapshot`]s by `vfstop --replay`). Decided
//! (issue 28): one crate, not three. The three are versioned together
//! (the layout test pins the segment, the trace has its own version), and
//! every reader needs all three; a split would make `vfscope-trace` depend
//! on this crate's snapshot types anyway. The name stays: the segment is
//! the data plane's centre, and the modules say what else is here.
//!
//! ```
//! use vfscope_segment::{FileKind, Op, ProcessMeta, SegmentReader, SegmentWriter};
//!
//! let dir = tempfile::tempdir().unwrap();
//! let dir = dir.path().join("segments");
//! let writer = SegmentWriter::create(&dir, &ProcessMeta::current("3.46.0", 1_000_000, 4096)).unwrap();
//! let db = writer.layout().db_index(b"/data/app.db");
//! writer.layout().record_call(Op::Read, FileKind::MainDb, db, 0, 4096, 12_000);
//!
//! let reader = SegmentReader::open(writer.path().unwrap()).unwrap();
//! let snapshot = reader.snapshot();
//! assert_eq!(snapshot.calls(Op::Read, FileKind::MainDb), 1);
//! assert_eq!(snapshot.db_label(db), "app.db");
//! ```

mod catalog;
mod control;
mod copies;
mod dir;
mod error;
mod futex;
mod histogram;
mod ids;
pub mod layout;
mod process;
mod reader;
mod record;
mod snapshot;
pub mod trace;
mod trace_view;
mod wal_frame;
mod writer;

pub use catalog::NO_ENTRY;
pub use control::RequestOutcome;
pub use copies::{CopyAccess, CopyInfo, CopyStatus};
pub use dir::{
    default_dir, ensure_dir, list_segments, run_dir, run_dirs, RUN_DIR_PREFIX, SEGMENT_SUFFIX,
};
pub use error::{Error, ErrorKind, Result};
pub use histogram::{bucket_midpoint, bucket_of, bucket_range, Buckets, BUCKETS};
pub use ids::{FileKind, LockLevel, Op, ResultClass, ShmSlot, TxnOutcome};
pub use layout::{
    Layout, DB_NONE, DB_OVERFLOW, MAX_COPIES, MAX_DBS, REQUEST_NAME_BYTES, REQUEST_TYPES,
    SEGMENT_SIZE,
};
pub use process::{monotonic_ns, proc_start_ticks, realtime_ns, ProcessMeta};
pub use reader::{Liveness, SegmentReader};
pub use record::CellRef;
pub use snapshot::*;
pub use writer::SegmentWriter;
