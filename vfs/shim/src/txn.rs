//! Transactions as the shim sees them, for the transaction ring (and so the
//! exporters' spans).
//!
//! The VFS never sees BEGIN or COMMIT, only locks, so a transaction is what
//! the locks delimit on one database file handle (one connection):
//! - it begins when the database file's lock goes from NONE to SHARED or
//!   above, or, in WAL mode, when a WAL-index read lock (READ0..READ4) is
//!   taken shared while none is open;
//! - it ends when the lock returns to NONE, or, in WAL mode (the connection
//!   keeps SHARED on the database file for its whole life there), when the
//!   last shared read lock is released; or when the file is closed.
//!
//! The journal and WAL files of a connection report into the transactions of
//! its database file handle, found when they are opened, on the thread that
//! opens them:
//! - a rollback journal is opened inside a write transaction: it belongs to
//!   the handle of that database that last rose to RESERVED or above on
//!   this thread (only one connection can hold RESERVED at a time, and
//!   other connections' transactions on the same thread in between do not
//!   change that);
//! - a WAL file is opened right after its connection's first SHARED lock,
//!   inside the transaction that lock began: the one most recently begun on
//!   this thread.
//!
//! Slow calls find the open transaction of their thread the same way, off
//! the fast path.
//!
//! Counters are atomics touched with plain loads and stores: one connection
//! uses its files one call at a time, so there is no concurrent writer.

use crate::clock;
use std::cell::{Cell, RefCell};
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Weak};
use vfscope_segment::{Layout, LockLevel, Transaction, TxnOutcome};

/// What a transaction's files add up while it is open.
pub struct TxnShared {
    /// The database row (changes once, when a database without a named row
    /// gets one).
    db: AtomicU32,
    /// The open transaction's id, 0 while none is open.
    id: AtomicU64,
    bytes_read: AtomicU64,
    bytes_written: AtomicU64,
    pages_read: AtomicU64,
    pages_written: AtomicU64,
    syncs: AtomicU64,
    injected_ns: AtomicU64,
    failed: AtomicBool,
}

impl TxnShared {
    fn new(db: u16) -> Self {
        TxnShared {
            db: AtomicU32::new(db as u32),
            id: AtomicU64::new(0),
            bytes_read: AtomicU64::new(0),
            bytes_written: AtomicU64::new(0),
            pages_read: AtomicU64::new(0),
            pages_written: AtomicU64::new(0),
            syncs: AtomicU64::new(0),
            injected_ns: AtomicU64::new(0),
            failed: AtomicBool::new(false),
        }
    }

    #[inline(always)]
    fn open(&self) -> bool {
        self.id.load(Relaxed) != 0
    }

    /// A counter's value, reset (one writer at a time: plain load and
    /// store, no locked instruction).
    fn take(counter: &AtomicU64) -> u64 {
        let n = counter.load(Relaxed);
        if n != 0 {
            counter.store(0, Relaxed);
        }
        n
    }
}

#[inline(always)]
fn bump(counter: &AtomicU64, n: u64) {
    counter.store(counter.load(Relaxed).wrapping_add(n), Relaxed);
}

/// What a thread knows of transactions, in one thread-local (one lookup
/// per transaction begun).
struct ThreadTxns {
    /// The transaction most recently begun on this thread.
    current: RefCell<Weak<TxnShared>>,
    /// The database handle that most recently rose to RESERVED or above on
    /// this thread.
    writer: RefCell<Weak<TxnShared>>,
    /// This thread's Linux tid, 0 until first asked.
    tid: Cell<u32>,
}

thread_local! {
    static THREAD: ThreadTxns = const {
        ThreadTxns {
            current: RefCell::new(Weak::new()),
            writer: RefCell::new(Weak::new()),
            tid: Cell::new(0),
        }
    };
}

impl ThreadTxns {
    /// This thread's tid (one system call per thread, then kept).
    fn tid(&self) -> u32 {
        if self.tid.get() == 0 {
            // SAFETY: gettid has no preconditions.
            self.tid.set(unsafe { libc::gettid() } as u32);
        }
        self.tid.get()
    }
}

/// Points a thread's handle at `shared`; already there (the usual case: one
/// connection's transactions one after another), nothing is touched. A
/// Weak keeps its allocation, so an equal address is the same handle.
#[inline(always)]
fn point_at(handle: &RefCell<Weak<TxnShared>>, shared: &Arc<TxnShared>) {
    if handle.borrow().as_ptr() != Arc::as_ptr(shared) {
        *handle.borrow_mut() = Arc::downgrade(shared);
    }
}

/// The calling thread's tid (one system call per thread, then cached).
pub fn thread_id() -> u32 {
    THREAD.try_with(ThreadTxns::tid).unwrap_or(0)
}

/// The id of the transaction open on this thread, 0 for none.
pub fn current_id() -> u64 {
    THREAD
        .try_with(|t| {
            t.current
                .borrow()
                .upgrade()
                .map_or(0, |t| t.id.load(Relaxed))
        })
        .unwrap_or(0)
}

/// Per-file transaction state: database files own one, their journal and
/// WAL files share it. Times are clock ticks (see `clock`), converted once,
/// when the transaction ends.
#[derive(Default)]
pub struct TxnTracker {
    shared: Option<Arc<TxnShared>>,
    /// Bookkeeping only the database file's handle keeps.
    owner: bool,
    /// When the transaction began (ticks), and how long before that its
    /// first lock was waited for (ns).
    start: u64,
    waited_before_ns: u64,
    max_lock: u8,
    wrote: bool,
    /// The file has mapped the WAL index: WAL rules apply.
    wal: bool,
    lock_wait_ns: u64,
    busy: bool,
    tid: u32,
}

impl TxnTracker {
    /// A database file: owns the transactions of its handle.
    pub fn for_database(db: u16) -> Self {
        TxnTracker {
            shared: Some(Arc::new(TxnShared::new(db))),
            owner: true,
            ..Default::default()
        }
    }

    /// A journal (`journal`) or WAL file of database `db`: joins the
    /// transactions of its connection's database handle (see the module
    /// notes), if one is open.
    pub fn for_companion(db: u16, journal: bool) -> Self {
        let shared = THREAD
            .try_with(|t| {
                let handle = if journal { &t.writer } else { &t.current };
                handle.borrow().upgrade()
            })
            .ok()
            .flatten()
            .filter(|t| t.db.load(Relaxed) == db as u32 && t.open());
        TxnTracker {
            shared,
            ..Default::default()
        }
    }

    /// The database got a named row: its transactions are recorded there
    /// from now on.
    pub fn moved_to(&self, db: u16) {
        if self.owner {
            if let Some(shared) = &self.shared {
                shared.db.store(db as u32, Relaxed);
            }
        }
    }

    /// Drops the link (at close).
    pub fn release(&mut self) {
        self.shared = None;
    }

    #[inline(always)]
    fn active(&self) -> Option<&TxnShared> {
        self.shared.as_deref().filter(|t| t.open())
    }

    /// A successful read of `bytes`; `page` when it moved a database page.
    #[inline(always)]
    pub fn read(&self, bytes: u64, page: bool) {
        if let Some(t) = self.active() {
            bump(&t.bytes_read, bytes);
            bump(&t.pages_read, page as u64);
        }
    }

    /// A successful write of `bytes`; `page` when it wrote a database page.
    #[inline(always)]
    pub fn wrote(&self, bytes: u64, page: bool) {
        if let Some(t) = self.active() {
            bump(&t.bytes_written, bytes);
            bump(&t.pages_written, page as u64);
        }
    }

    /// A sync call, whatever its result.
    pub fn synced(&self) {
        if let Some(t) = self.active() {
            bump(&t.syncs, 1);
        }
    }

    /// The latency model added `ns` to a call.
    pub fn injected(&self, ns: u64) {
        if let Some(t) = self.active() {
            bump(&t.injected_ns, ns);
        }
    }

    /// A call failed with an error other than BUSY or a short read.
    pub fn failed(&self) {
        if let Some(t) = self.active() {
            t.failed.store(true, Relaxed);
        }
    }

    /// The WAL index was mapped: from now on WAL rules apply.
    pub fn wal_mapped(&mut self) {
        self.wal = true;
    }

    /// The database file's lock went from `from` to `to` at `now` (ticks);
    /// `wait_ns` is how long the lock was waited for (0 without BUSY).
    #[inline]
    pub fn lock_changed(
        &mut self,
        layout: &Layout,
        from: LockLevel,
        to: LockLevel,
        now: u64,
        wait_ns: u64,
    ) {
        if !self.owner {
            return;
        }
        if from == LockLevel::None && to != LockLevel::None {
            self.begin(layout, now, wait_ns, from);
        }
        if to >= LockLevel::Reserved && from < LockLevel::Reserved {
            self.rose_to_write();
        }
        if self.is_open() {
            self.max_lock = self.max_lock.max(to as u8);
            self.wrote |= to >= LockLevel::Reserved;
            self.lock_wait_ns += wait_ns;
            if to == LockLevel::None {
                self.end(layout, now, TxnOutcome::Ok);
            }
        }
    }

    /// This handle rose to RESERVED or above: the journal its thread opens
    /// next is its.
    fn rose_to_write(&self) {
        if let Some(shared) = &self.shared {
            let _ = THREAD.try_with(|t| point_at(&t.writer, shared));
        }
    }

    /// WAL-index locks changed at `now` (ticks): `reading` says whether a
    /// read lock is held shared now, `writing` whether the write lock is
    /// held. `lock` is the database file's lock level.
    #[inline]
    pub fn shm_changed(
        &mut self,
        layout: &Layout,
        lock: LockLevel,
        reading: bool,
        writing: bool,
        now: u64,
    ) {
        if !self.owner || !self.wal {
            return;
        }
        if reading && !self.is_open() {
            self.begin(layout, now, 0, lock);
        }
        if self.is_open() {
            self.wrote |= writing;
            if !reading && !writing {
                self.end(layout, now, TxnOutcome::Ok);
            }
        }
    }

    /// A lock wait of `waited_ns` let its locks go at `now` (ticks): the app
    /// got SQLITE_BUSY, or SQLite's busy handler retries as a new
    /// transaction. Outside a transaction it becomes one of its own, so
    /// refused attempts show up too.
    pub fn gave_up(&mut self, layout: &Layout, waited_ns: u64, now: u64) {
        if !self.owner {
            return;
        }
        if self.is_open() {
            self.busy = true;
            self.lock_wait_ns += waited_ns;
        } else {
            self.begin(layout, now, waited_ns, LockLevel::None);
            self.lock_wait_ns = waited_ns;
            self.end(layout, now, TxnOutcome::Busy);
        }
    }

    /// The file is being closed at `now` (ticks) while holding `lock`.
    pub fn closed(&mut self, layout: &Layout, lock: LockLevel, now: u64) {
        if self.owner && self.is_open() {
            let outcome = if lock == LockLevel::None {
                TxnOutcome::Ok
            } else {
                TxnOutcome::Closed
            };
            self.end(layout, now, outcome);
        }
        self.release();
    }

    #[inline(always)]
    fn is_open(&self) -> bool {
        self.active().is_some()
    }

    /// A transaction begins at `start` (ticks), its first lock having been
    /// waited for `waited_ns` before that.
    fn begin(&mut self, layout: &Layout, start: u64, waited_ns: u64, lock: LockLevel) {
        let Some(shared) = &self.shared else { return };
        shared.id.store(layout.next_txn_id(), Relaxed);
        self.start = start;
        self.waited_before_ns = waited_ns;
        self.max_lock = lock as u8;
        self.wrote = false;
        self.lock_wait_ns = 0;
        self.busy = false;
        self.tid = THREAD
            .try_with(|t| {
                point_at(&t.current, shared);
                t.tid()
            })
            .unwrap_or(0);
    }

    fn end(&mut self, layout: &Layout, now: u64, outcome: TxnOutcome) {
        let Some(t) = &self.shared else { return };
        let failed = t.failed.load(Relaxed);
        let outcome = match outcome {
            TxnOutcome::Ok if self.busy => TxnOutcome::Busy,
            TxnOutcome::Ok if failed => TxnOutcome::Error,
            other => other,
        };
        if failed {
            t.failed.store(false, Relaxed);
        }
        let count = |c: &AtomicU64| TxnShared::take(c).min(u32::MAX as u64) as u32;
        layout.push_txn(&Transaction {
            id: t.id.load(Relaxed),
            db: t.db.load(Relaxed) as u16,
            tid: self.tid,
            start_ns: clock::ticks_to_time(self.start).saturating_sub(self.waited_before_ns),
            duration_ns: clock::ticks_to_ns(now.saturating_sub(self.start)) + self.waited_before_ns,
            max_lock: LockLevel::from_index(self.max_lock as usize).unwrap_or(LockLevel::None),
            wrote: self.wrote,
            wal: self.wal,
            outcome,
            pages_read: count(&t.pages_read),
            pages_written: count(&t.pages_written),
            syncs: count(&t.syncs),
            bytes_read: TxnShared::take(&t.bytes_read),
            bytes_written: TxnShared::take(&t.bytes_written),
            lock_wait_ns: self.lock_wait_ns,
            injected_ns: TxnShared::take(&t.injected_ns),
        });
        t.id.store(0, Relaxed);
    }
}
