//! The byte layout of a stats segment.
//!
//! A segment is one fixed-size file, mapped shared by the process that writes
//! it and read-only by any number of readers. Every field that changes after
//! the file is published is an atomic; the rest of the header is written once
//! before the file is renamed into place. An all-zero `Layout` is valid, which
//! is what a freshly truncated file holds.
//!
//! Any change of size or offset must bump [`LAYOUT_VERSION`]; the test
//! `layout_is_pinned` fails otherwise.

use crate::histogram::BUCKETS;
use crate::ids::{FileKind, LockLevel, Op, ResultClass, ShmSlot};
use std::sync::atomic::{AtomicU32, AtomicU64};

/// First eight bytes of every segment.
pub const MAGIC: [u8; 8] = *b"VFSCOPE\0";
/// Bumped on every change of the layout.
pub const LAYOUT_VERSION: u32 = 8;

/// Databases with their own row; the others share the overflow row.
pub const MAX_DBS: usize = 32;
/// Rows given to databases when they are first opened; the rest go to
/// databases that prove busy (see [`CatalogEntry`]).
pub const ROWS_AT_OPEN: usize = MAX_DBS / 2;
/// Databases without a row of their own, known by path hash.
pub const CATALOG: usize = 16384;
/// Calls after which a database without a row gets one, if any is free.
pub const PROMOTE_AFTER: u64 = 1000;
/// The db index for databases beyond [`MAX_DBS`].
pub const DB_OVERFLOW: u16 = MAX_DBS as u16;
/// The db index for calls that belong to no database (the clock, temp files).
pub const DB_NONE: u16 = MAX_DBS as u16 + 1;
/// Rows in every per-db table.
pub const DB_SLOTS: usize = MAX_DBS + 2;
/// Cells (op × file kind × db with at least one call).
pub const MAX_CELLS: usize = 1024;
/// Latency histograms shared by cells and lock statistics.
pub const MAX_HISTS: usize = 256;
/// Entries in the slow-call ring.
pub const SLOW_RING: usize = 1024;
/// Entries in the transaction ring.
pub const TXN_RING: usize = 1024;
/// Open files tracked individually (lock level, shm locks held).
pub const MAX_OPEN_FILES: usize = 256;
/// Bytes of the command line kept in the header.
pub const CMDLINE_BYTES: usize = 1024;
/// Bytes of a database path kept (the tail, where the file name is).
pub const DB_PATH_BYTES: usize = 488;
/// VFS registrations recorded in the header.
pub const MAX_REGISTRATIONS: usize = 8;
/// Bytes of a VFS name in the header.
pub const VFS_NAME_BYTES: usize = 32;
/// SQLite copies (libraries, bundled or static copies) one process can hold.
pub const MAX_COPIES: usize = 16;
/// Request types a scenario may count (sqlite-s3vfs sends four).
pub const REQUEST_TYPES: usize = 8;
/// Bytes of a request type's name, NUL included.
pub const REQUEST_NAME_BYTES: usize = 16;
/// Bytes of a copy's object path kept (the tail, where the file name is).
pub const COPY_OBJECT_BYTES: usize = 256;
/// Bytes of a copy's `sqlite3_sourceid()`.
pub const COPY_SOURCE_ID_BYTES: usize = 96;
/// Bytes of a copy's note (why it could not be reached).
pub const COPY_NOTE_BYTES: usize = 192;

/// Op × file kind pairs: each has a fallback cell and histogram of its own.
pub const OP_KINDS: usize = Op::COUNT * FileKind::COUNT;

/// Index of an op × file kind pair in [`Layout::kind_cells`] (its
/// histogram is `hists[KIND_HISTS + kind_index]`).
pub const fn kind_index(op: Op, kind: FileKind) -> usize {
    op.index() * FileKind::COUNT + kind.index()
}

/// Index of the cell directory for one op × kind × db.
pub const fn directory_index(op: Op, kind: FileKind, db: u16) -> usize {
    (op.index() * FileKind::COUNT + kind.index()) * DB_SLOTS + db as usize
}
/// Entries in the cell directory.
pub const DIRECTORY_LEN: usize = Op::COUNT * FileKind::COUNT * DB_SLOTS;

/// Header `state`: the writer is (as far as it knows) running.
pub const STATE_RUNNING: u32 = 1;
/// Header `state`: the process ran its exit handlers.
pub const STATE_EXITED: u32 = 2;

/// Written once at creation, except the atomics.
#[repr(C)]
pub struct Header {
    pub magic: [u8; 8],
    pub layout_version: u32,
    pub header_size: u32,
    pub total_size: u64,
    pub pid: u32,
    pub uid: u32,
    /// Process start time in clock ticks since boot (/proc/PID/stat field
    /// 22), so a reused pid is not mistaken for the writer.
    pub proc_start_ticks: u64,
    pub start_realtime_ns: u64,
    pub start_monotonic_ns: u64,
    pub slow_threshold_ns: u64,
    pub block_size: u64,
    pub cmdline_len: u32,
    pub sqlite_version_len: u32,
    pub cmdline: [u8; CMDLINE_BYTES],
    pub sqlite_version: [u8; 32],
    pub state: AtomicU32,
    pub registrations: AtomicU32,
    /// `name\0parent\0` pairs, one per registered vfscope VFS.
    pub vfs_names: [[AtomicU64; VFS_NAME_BYTES * 2 / 8]; MAX_REGISTRATIONS],
    /// Database lookups (file opens) that found the table full.
    pub db_overflow: AtomicU64,
    /// Calls recorded without a cell of their own (cell table full).
    pub cell_overflow: AtomicU64,
    /// Histograms that could not be allocated (pool full).
    pub hist_overflow: AtomicU64,
    /// Opens not tracked in the open-file table.
    pub open_file_overflow: AtomicU64,
    /// Internal faults (a caught panic); recording stops after the first.
    pub faults: AtomicU64,
    /// Transaction ids handed out (the next id is this plus one).
    pub txn_ids: AtomicU64,
    /// Calls written to the trace file (VFSCOPE_TRACE), and lost because
    /// its writer could not keep up.
    pub trace_records: AtomicU64,
    pub trace_dropped: AtomicU64,
    /// Databases in the catalog without a named row (the "other" row's).
    pub other_dbs: AtomicU64,
    /// Catalog entries ever written.
    pub catalog_entries: AtomicU64,
    /// 1 once every named row is taken: no more promotions, so files in
    /// "other" stop counting their calls.
    pub rows_full: AtomicU64,
    pub reserved: [AtomicU64; 2],
}

/// Bytes of a latency-model request in the control block.
pub const MODEL_REQUEST_BYTES: usize = 8192;
/// Bytes of the active model's name.
pub const MODEL_NAME_BYTES: usize = 256;

/// The latency model: what is active, requests to change it (`vfscope
/// latency`, vfstop), and what it did.
#[repr(C)]
pub struct Control {
    /// 1 while a model is active (written by the process).
    pub latency_enabled: AtomicU32,
    /// Bumped by a reader after writing a request.
    pub generation: AtomicU32,
    /// The generation the process last handled.
    pub applied: AtomicU32,
    /// 0 applied, 1 rejected (the model did not parse).
    pub status: AtomicU32,
    pub request_len: AtomicU32,
    /// 1: sleep, 2: virtual.
    pub mode: AtomicU32,
    pub seed: AtomicU64,
    /// `off`, a preset name, or TOML text.
    pub request: [AtomicU64; MODEL_REQUEST_BYTES / 8],
    /// The active model's name (preset or file), NUL-padded.
    pub active: [AtomicU64; MODEL_NAME_BYTES / 8],
    /// Simulated page cache.
    pub cache_hits: AtomicU64,
    pub cache_misses: AtomicU64,
    /// Histogram ref (see [`Cell::hist`]): replication lag of async commits.
    pub lag_hist: AtomicU32,
    pub _pad: u32,
    pub reserved: [AtomicU64; 8],
    /// Requests the active scenario implied, by type (`[remote]` models).
    pub requests: [RequestCounter; REQUEST_TYPES],
}

/// One request type of the active scenario and how many it sent.
#[repr(C)]
pub struct RequestCounter {
    /// The type's name, NUL-padded; empty for an unused slot.
    pub name: [AtomicU64; REQUEST_NAME_BYTES / 8],
    /// US dollars per 1,000 requests, as f64 bits.
    pub price_per_1000: AtomicU64,
    pub count: AtomicU64,
}

/// One row of the database table.
#[repr(C)]
pub struct DbEntry {
    /// 0 free, 1 being written, 2 ready.
    pub state: AtomicU32,
    /// The real path length; more than [`DB_PATH_BYTES`] means the head of the
    /// path was cut.
    pub path_len: AtomicU32,
    /// The database page size once seen in a header, else 0.
    pub page_size: AtomicU32,
    /// Bit `i`: SQLite copy `i` (see [`CopyEntry`]) opened a file of this
    /// database.
    pub copies: AtomicU32,
    pub path: [AtomicU64; DB_PATH_BYTES / 8],
}

/// Counters of one op × file kind × db. Cache-line aligned, with everything
/// a successful call touches in the first 64 bytes.
#[repr(C, align(64))]
pub struct Cell {
    /// `op | kind << 8 | db << 16`, written before the cell is published.
    pub key: AtomicU32,
    /// Histogram index, 0 while none is assigned, `u32::MAX` when the pool
    /// was full.
    pub hist: AtomicU32,
    pub total_ns: AtomicU64,
    pub bytes: AtomicU64,
    pub max_ns: AtomicU64,
    /// Calls by [`ResultClass`]; `Ok` first, in the first cache line.
    pub results: [AtomicU64; ResultClass::COUNT],
    /// The last extended `SQLITE_IOERR_*` code seen.
    pub last_ioerr: AtomicU32,
    /// Calls the latency model delayed (or would have, in virtual mode).
    pub delayed: AtomicU32,
    /// Their modelled latency, summed.
    pub delay_target_ns: AtomicU64,
    /// Their measured latency (call start to return), summed; 0 in
    /// virtual mode.
    pub delay_actual_ns: AtomicU64,
    /// Calls that returned an injected error instead of running.
    pub faults_injected: AtomicU32,
    pub _pad: u32,
}

/// Counts per latency bucket.
#[repr(C)]
pub struct Hist {
    /// Bit `i` set: some bucket in `64 i .. 64 i + 64` has counts, so
    /// readers skip the untouched ranges of the 3,840 buckets.
    pub touched: AtomicU64,
    pub counts: [AtomicU64; BUCKETS],
}

/// Buckets per bit of [`Hist::touched`].
pub const TOUCH_CHUNK: usize = 64;
const _: () = assert!(BUCKETS.div_ceil(TOUCH_CHUNK) <= 64);

/// Lock activity of one database's files.
#[repr(C)]
pub struct LockStats {
    pub transitions: [[AtomicU64; LockLevel::COUNT]; LockLevel::COUNT],
    /// `xLock` calls answered BUSY, by requested level.
    pub busy: [AtomicU64; LockLevel::COUNT],
    /// Files closed while still holding a level.
    pub closed_holding: [AtomicU64; LockLevel::COUNT],
    /// Waits (first BUSY onwards) that ended in a release, not the lock.
    pub waits_abandoned: AtomicU64,
    /// Histogram refs (see [`Cell::hist`]): time held at each level.
    pub hold_hist: [AtomicU32; LockLevel::COUNT],
    /// Histogram ref: time from the first BUSY to the granted lock.
    pub wait_hist: AtomicU32,
    pub _pad: [u32; 2],
    /// WAL-index lock acquisitions per slot: `[shared, exclusive]`.
    pub shm_acquired: [[AtomicU64; 2]; ShmSlot::COUNT],
    pub shm_busy: [AtomicU64; ShmSlot::COUNT],
    /// Histogram refs: how long each WAL-index slot was held.
    pub shm_hold_hist: [AtomicU32; ShmSlot::COUNT],
}

/// The shape of the I/O on one file kind of one database. Cache-line
/// aligned; the counters reads and writes touch most come first.
#[repr(C, align(64))]
pub struct Shape {
    /// Writes at or past the highest offset known for the file.
    pub writes_append: AtomicU64,
    /// Writes that neither append nor start where the previous one ended.
    /// (Sequential writes are the rest of the successful writes: readers
    /// derive them, so the common case costs no increment.)
    pub writes_random: AtomicU64,
    /// Reads that do not start where the previous read ended (sequential
    /// reads are derived the same way).
    pub reads_random: AtomicU64,
    /// Reads and writes whose offset or length is not a page multiple.
    pub unaligned_page: AtomicU64,
    /// Reads and writes whose offset or length is not a block multiple.
    pub unaligned_block: AtomicU64,
    /// Bytes a block store would move beyond the bytes written, because
    /// writes do not cover whole blocks (0 for aligned I/O).
    pub block_extra_written: AtomicU64,
    /// WAL frames written (frame header at a frame boundary).
    pub wal_frames: AtomicU64,
    /// Page bytes carried by those frames.
    pub wal_frame_bytes: AtomicU64,
    // Second cache line: rarer events.
    pub block_extra_read: AtomicU64,
    /// WAL frames that end a transaction (non-zero database size).
    pub wal_commits: AtomicU64,
    /// `xFetch` calls that returned a mapped page.
    pub fetch_mapped: AtomicU64,
    pub opens: AtomicU64,
    pub closes: AtomicU64,
    /// The largest size a file of this kind and database reached (end of
    /// a write, or a size xFileSize returned), in bytes; 0 unknown. Taken
    /// from a slot reserved in layout 8: segments written before it read 0.
    pub size_high_water: AtomicU64,
    pub _reserved: [AtomicU64; 2],
}

/// One slow call, guarded by a sequence number (odd while being written).
#[repr(C)]
pub struct SlowEntry {
    pub seq: AtomicU64,
    /// Monotonic start time (see [`Header::start_monotonic_ns`]).
    pub start_ns: AtomicU64,
    pub latency_ns: AtomicU64,
    pub offset: AtomicU64,
    pub size: AtomicU32,
    pub rc: AtomicU32,
    /// `op | kind << 8 | db << 16`.
    pub key: AtomicU32,
    /// The calling thread (Linux tid).
    pub tid: AtomicU32,
    /// The transaction the call ran in on its thread, 0 for none.
    pub txn: AtomicU64,
}

/// One finished transaction as the shim sees it (see DESIGN notes in
/// `vfscope_shim::txn`), guarded by a sequence number like [`SlowEntry`].
#[repr(C)]
pub struct TxnEntry {
    pub seq: AtomicU64,
    /// Process-unique, from 1 ([`Header::txn_ids`]).
    pub id: AtomicU64,
    /// Monotonic start time (see [`Header::start_monotonic_ns`]).
    pub start_ns: AtomicU64,
    pub duration_ns: AtomicU64,
    pub bytes_read: AtomicU64,
    pub bytes_written: AtomicU64,
    /// Time from a first BUSY to the granted lock, summed.
    pub lock_wait_ns: AtomicU64,
    /// Delay the latency model added inside the transaction.
    pub injected_ns: AtomicU64,
    pub pages_read: AtomicU32,
    pub pages_written: AtomicU32,
    pub syncs: AtomicU32,
    pub tid: AtomicU32,
    /// `db | max_lock << 16 | outcome << 24`.
    pub key: AtomicU32,
    /// Bit 0: a write lock was held; bit 1: WAL mode.
    pub flags: AtomicU32,
}

/// One open file: its lock level and the WAL-index locks it holds.
#[repr(C)]
pub struct OpenFile {
    /// 0 free, 1 in use.
    pub state: AtomicU32,
    /// `kind << 8 | db << 16`.
    pub key: AtomicU32,
    pub lock_level: AtomicU32,
    /// Shared slots in bits 0..8, exclusive slots in bits 8..16.
    pub shm_held: AtomicU32,
    pub level_since_ns: AtomicU64,
    pub opened_ns: AtomicU64,
}

/// A database without a row of its own when it was opened (the rows given
/// at open were taken): its path's hash, the row it has now
/// ([`DB_OVERFLOW`] until promoted) and its activity (calls) while it had
/// none. 0 free, 1 being written, 2 ready.
#[repr(C)]
pub struct CatalogEntry {
    pub hash: AtomicU64,
    pub state: AtomicU32,
    pub row: AtomicU32,
    pub activity: AtomicU64,
    pub _pad: u64,
}

/// One SQLite copy in the process: a shared library, a copy bundled into
/// an extension module, or one linked into the executable. Written once
/// (`state` 1 while being written, 2 ready), except the counters.
/// Nothing here is touched per call: which calls came through a copy is
/// told by the databases it opened ([`DbEntry::copies`]).
#[repr(C)]
pub struct CopyEntry {
    /// Files opened through this copy's vfscope VFSes.
    pub opens: AtomicU64,
    /// 0 free, 1 being written, 2 ready.
    pub state: AtomicU32,
    /// [`crate::CopyStatus`] as a number.
    pub status: AtomicU32,
    /// [`crate::CopyAccess`] as a number.
    pub access: AtomicU32,
    /// The real object path length (more than [`COPY_OBJECT_BYTES`]: the
    /// head was cut).
    pub object_len: AtomicU32,
    pub object: [AtomicU64; COPY_OBJECT_BYTES / 8],
    /// `sqlite3_libversion()`, NUL-padded; empty while unknown.
    pub version: [AtomicU64; 4],
    pub source_id: [AtomicU64; COPY_SOURCE_ID_BYTES / 8],
    /// For an unreachable copy: why, and the way out.
    pub note: [AtomicU64; COPY_NOTE_BYTES / 8],
}

/// The whole segment.
#[repr(C)]
pub struct Layout {
    pub header: Header,
    pub control: Control,
    pub dbs: [DbEntry; MAX_DBS],
    pub directory: [AtomicU32; DIRECTORY_LEN],
    pub cells_used: AtomicU32,
    pub hists_used: AtomicU32,
    pub cells: [Cell; MAX_CELLS],
    pub locks: [LockStats; DB_SLOTS],
    pub shapes: [[Shape; DB_SLOTS]; FileKind::COUNT],
    pub slow_head: AtomicU64,
    pub slow: [SlowEntry; SLOW_RING],
    pub txn_head: AtomicU64,
    pub txns: [TxnEntry; TXN_RING],
    pub open_files: [OpenFile; MAX_OPEN_FILES],
    pub copies: [CopyEntry; MAX_COPIES],
    /// Per op × file kind: the cell its calls go to when the cell table is
    /// full (counted in the "other" database row), so no op × kind row
    /// ever loses a count.
    pub kind_cells: [Cell; OP_KINDS],
    pub catalog: [CatalogEntry; CATALOG],
    /// The pool (`1..MAX_HISTS`, 0 shared by lock statistics that found it
    /// full), then from [`KIND_HISTS`] one per op × file kind: the
    /// histogram of its calls whose cell has none of its own (the pool was
    /// full) and of its fallback cell, so every op × kind row always has
    /// its percentiles. One array, so a call indexes it without a branch.
    /// The file is sparse: only the buckets a process uses are touched.
    pub hists: [Hist; KIND_HISTS + OP_KINDS],
}

/// Where the op × kind histograms start in [`Layout::hists`].
pub const KIND_HISTS: usize = MAX_HISTS;

/// Size of a segment file.
pub const SEGMENT_SIZE: usize = std::mem::size_of::<Layout>();

// The file is sparse; what a process touches is its budget (BENCHMARKS.md
// measures it). The file itself stays within 24 MiB.
const _: () = assert!(
    SEGMENT_SIZE <= 24 << 20,
    "a segment file must stay within 24 MiB"
);

/// Packs an op × kind × db key.
pub const fn pack_key(op: u8, kind: FileKind, db: u16) -> u32 {
    op as u32 | (kind as u32) << 8 | (db as u32) << 16
}

/// Unpacks a key written by [`pack_key`]; `None` if a part is out of range.
pub fn unpack_key(key: u32) -> Option<(u8, FileKind, u16)> {
    let kind = FileKind::from_index(((key >> 8) & 0xff) as usize)?;
    let db = (key >> 16) as u16;
    ((db as usize) < DB_SLOTS).then_some(((key & 0xff) as u8, kind, db))
}

#[cfg(test)]
#[path = "layout_pin.rs"]
mod tests;
