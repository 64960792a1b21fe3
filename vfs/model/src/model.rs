//! A compiled latency/fault model: what the engine applies.

use crate::dist::Dist;
pub use crate::params::Param;
pub use crate::remote::{Count, Remote, RequestCounts, RequestType, Send, MAX_REQUEST_TYPES};
pub use crate::select::Selector;
use vfscope_segment::{FileKind, Op};

/// How delays are applied.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// The call really waits.
    Sleep,
    /// The delay is only accounted (segment, spans, replay).
    Virtual,
}

/// A delay added to the calls it selects.
#[derive(Clone, Debug, PartialEq)]
pub struct Rule {
    pub select: Selector,
    pub delay: Option<Dist>,
    /// With this probability, add `extra` on top.
    pub tail: Option<(f64, Dist)>,
    /// Bytes per second: `amount / rate` is added.
    pub bandwidth: Option<f64>,
    /// A call that does not cover whole blocks of this many bytes also
    /// pays `extra` (a block store must read the block before it writes it).
    pub partial_block: Option<(u64, Dist)>,
}

/// The simulated local page cache: only misses pay read latency.
#[derive(Clone, Debug, PartialEq)]
pub struct Cache {
    pub pages: usize,
    pub files: Vec<FileKind>,
    /// Each connection (main database open to close) has a cache of its
    /// own that starts empty; connections of one database nest (the
    /// latest open is the one reading). Otherwise one cache per process.
    pub per_connection: bool,
}

/// Sync or async replication of commits.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Replication {
    /// Paid inside xSync.
    Sync,
    /// Only accounted as replication lag.
    Async,
}

/// Which call a commit is charged to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CommitAt {
    /// A sync of the WAL or rollback journal (a design that ships what the
    /// database made durable).
    Sync,
    /// The write of a WAL commit frame (a design that ships each
    /// transaction's frames itself and need not sync, as Raft's log does);
    /// rollback-journal transactions are not charged.
    WalCommit,
    /// The end of each write transaction, whatever the journal: the write
    /// of a WAL commit frame, or in rollback-journal mode the unlock from
    /// RESERVED or above (a commit or a rollback). A design that sends the
    /// transaction's statements to a server and pays per transaction.
    Transaction,
}

/// The cost of a commit.
#[derive(Clone, Debug, PartialEq)]
pub struct Commit {
    pub at: CommitAt,
    /// Work per commit beyond the round trips (log writes, apply).
    pub overhead: Option<Dist>,
    pub rtt: Dist,
    /// Round trips one commit waits for, one after another (each the
    /// `quorum`-th fastest of `replicas`).
    pub round_trips: u32,
    pub replicas: u32,
    /// Acknowledgements waited for: the commit costs the `quorum`-th
    /// smallest of `replicas` sampled round trips.
    pub quorum: u32,
    pub replication: Replication,
    /// Optional bytes/rate added for the data shipped since the last commit.
    pub bandwidth: Option<f64>,
}

/// A lock lease: paid when the lock rises to RESERVED or above.
#[derive(Clone, Debug, PartialEq)]
pub struct Lease {
    pub rtt: Dist,
    /// While held, a heartbeat every period costs another round trip.
    pub renew_every_ns: Option<u64>,
}

/// Round trips of metadata calls.
#[derive(Clone, Debug, PartialEq)]
pub struct Metadata {
    pub ops: Vec<Op>,
    pub rtt: Dist,
    /// Paid by the first open of each database: the fetch of its header
    /// and first pages.
    pub lazy_load: Option<Dist>,
}

/// When an injected error fires.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Trigger {
    Probability(f64),
    /// Exactly the Nth matching call (1-based).
    Nth(u64),
}

/// An injected error.
#[derive(Clone, Debug, PartialEq)]
pub struct Fault {
    pub select: Selector,
    /// The SQLite result code returned instead of calling the real method.
    pub rc: i32,
    pub trigger: Trigger,
}

/// A span of time during which remote-modelled calls fail.
#[derive(Clone, Debug, PartialEq)]
pub struct Partition {
    pub start_ns: u64,
    /// `None`: until the model is switched.
    pub duration_ns: Option<u64>,
}

/// A whole model.
#[derive(Clone, Debug, PartialEq)]
pub struct Model {
    /// The preset name or file it came from.
    pub name: String,
    pub description: String,
    pub source: String,
    /// What the model was checked against (a real system, or why not).
    pub checked: String,
    pub seed: Option<u64>,
    pub mode: Mode,
    pub rules: Vec<Rule>,
    pub cache: Option<Cache>,
    pub commit: Option<Commit>,
    pub lease: Option<Lease>,
    pub metadata: Option<Metadata>,
    pub faults: Vec<Fault>,
    pub partitions: Vec<Partition>,
    /// Request-level costs (a VFS over an object store).
    pub remote: Option<Remote>,
    /// Asynchronous replication beside the app (its request types are
    /// `remote`'s).
    pub replicate: Option<crate::replicate::Replicate>,
    /// The parameters it declares, with the values in effect.
    pub params: Vec<Param>,
}

/// SQLite result codes faults can return, by name.
pub const ERRORS: &[(&str, i32)] = &[
    ("ioerr", 10),
    ("ioerr_read", 10 | 1 << 8),
    ("ioerr_short_read", 10 | 2 << 8),
    ("ioerr_write", 10 | 3 << 8),
    ("ioerr_fsync", 10 | 4 << 8),
    ("ioerr_truncate", 10 | 6 << 8),
    ("ioerr_fstat", 10 | 7 << 8),
    ("ioerr_delete", 10 | 10 << 8),
    ("ioerr_access", 10 | 13 << 8),
    ("ioerr_lock", 10 | 15 << 8),
    ("full", 13),
    ("cantopen", 14),
    ("busy", 5),
];

/// Ops a fault may fail (close must always close; the rest never fail).
pub const FAULT_OPS: &[Op] = &[
    Op::Open,
    Op::Delete,
    Op::Access,
    Op::Read,
    Op::Write,
    Op::Truncate,
    Op::Sync,
    Op::FileSize,
    Op::Lock,
];
