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

    fn take(counter: &AtomicU64) -> u64 {
        counter.swap(0, Relaxed)
    }
}

#[inline(always)]
fn bump(counter: &AtomicU64, n: u64) {
    counter.store(counter.load(Relaxed).wrapping_add(n), Relaxed);
}

thread_local! {
    /// The transaction most recently begun on this thread.
    static CURRENT: RefCell<Weak<TxnShared>> = const { RefCell::new(Weak::new()) };
    /// The database handle that most recently rose to RESERVED or above on
    /// this thread.
    static WRITER: RefCell<Weak<TxnShared>> = const { RefCell::new(Weak::new()) };
    /// This thread's Linux tid, 0 until first asked.
    static TID: Cell<u32> = const { Cell::new(0) };
}

/// Points a thread's handle at `shared`; already there (the usual case: one
/// connection's transactions one after another), nothing is touched. A
/// Weak keeps its allocation, so an equal address is the same handle.
#[inline(always)]
fn point_at(
    handle: &'static std::thread::LocalKey<RefCell<Weak<TxnShared>>>,
    shared: &Arc<TxnShared>,
) {
    let _ = handle.try_with(|h| {
        if h.borrow().as_ptr() != Arc::as_ptr(shared) {
            *h.borrow_mut() = Arc::downgrade(shared);
        }
    });
}

/// The calling thread's tid (one system call per thread, then cached).
pub fn thread_id() -> u32 {
    TID.with(|tid| {
        if tid.get() == 0 {
            // SAFETY: gettid has no preconditions.
            tid.set(unsafe { libc::gettid() } as u32);
        }
        tid.get()
    })
}

/// The id of the transaction open on this thread, 0 for none.
pub fn current_id() -> u64 {
    CURRENT
        .try_with(|c| c.borrow().upgrade().map_or(0, |t| t.id.load(Relaxed)))
        .unwrap_or(0)
}

/// Per-file transaction state: database files own one, their journal and
/// WAL files share it.
#[derive(Default)]
pub struct TxnTracker {
    shared: Option<Arc<TxnShared>>,
    /// Bookkeeping only the database file's handle keeps.
    owner: bool,
    start_ns: u64,
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
        let handle = if journal { &WRITER } else { &CURRENT };
        let shared = handle
            .try_with(|c| c.borrow().upgrade())
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

    /// The database file's lock went from `from` to `to` at `now_ns`;
    /// `wait_ns` is how long the lock was waited for (0 without BUSY).
    pub fn lock_changed(
        &mut self,
        layout: &Layout,
        from: LockLevel,
        to: LockLevel,
        now_ns: u64,
        wait_ns: u64,
    ) {
        if !self.owner {
            return;
        }
        if from == LockLevel::None && to != LockLevel::None {
            self.begin(layout, now_ns - wait_ns.min(now_ns), from);
        }
        if to >= LockLevel::Reserved && from < LockLevel::Reserved {
            if let Some(shared) = &self.shared {
                point_at(&WRITER, shared);
            }
        }
        if self.is_open() {
            self.max_lock = self.max_lock.max(to as u8);
            self.wrote |= to >= LockLevel::Reserved;
            self.lock_wait_ns += wait_ns;
            if to == LockLevel::None {
                self.end(layout, now_ns, TxnOutcome::Ok);
            }
        }
    }

    /// WAL-index locks changed: `reading` says whether a read lock is held
    /// shared now, `writing` whether the write lock is held.
    /// `lock` is the database file's lock level.
    pub fn shm_changed(
        &mut self,
        layout: &Layout,
        lock: LockLevel,
        reading: bool,
        writing: bool,
        now_ns: u64,
    ) {
        if !self.owner || !self.wal {
            return;
        }
        if reading && !self.is_open() {
            self.begin(layout, now_ns, lock);
        }
        if self.is_open() {
            self.wrote |= writing;
            if !reading && !writing {
                self.end(layout, now_ns, TxnOutcome::Ok);
            }
        }
    }

    /// A lock wait that began at `since_ns` let its locks go at `now_ns`
    /// (the app got SQLITE_BUSY, or SQLite's busy handler retries as a new
    /// transaction). Outside a transaction it becomes one of its own, so
    /// refused attempts show up too.
    pub fn gave_up(&mut self, layout: &Layout, since_ns: u64, now_ns: u64) {
        if !self.owner {
            return;
        }
        let wait_ns = now_ns.saturating_sub(since_ns);
        if self.is_open() {
            self.busy = true;
            self.lock_wait_ns += wait_ns;
        } else {
            self.begin(layout, since_ns, LockLevel::None);
            self.lock_wait_ns = wait_ns;
            self.end(layout, now_ns, TxnOutcome::Busy);
        }
    }

    /// The file is being closed at `now_ns` while holding `lock`.
    pub fn closed(&mut self, layout: &Layout, lock: LockLevel, now_ns: u64) {
        if self.owner && self.is_open() {
            let outcome = if lock == LockLevel::None {
                TxnOutcome::Ok
            } else {
                TxnOutcome::Closed
            };
            self.end(layout, now_ns, outcome);
        }
        self.release();
    }

    fn is_open(&self) -> bool {
        self.active().is_some()
    }

    fn begin(&mut self, layout: &Layout, start_ns: u64, lock: LockLevel) {
        let Some(shared) = &self.shared else { return };
        shared.id.store(layout.next_txn_id(), Relaxed);
        self.start_ns = start_ns;
        self.max_lock = lock as u8;
        self.wrote = false;
        self.lock_wait_ns = 0;
        self.busy = false;
        self.tid = thread_id();
        point_at(&CURRENT, shared);
    }

    fn end(&mut self, layout: &Layout, now_ns: u64, outcome: TxnOutcome) {
        let Some(t) = &self.shared else { return };
        let outcome = match outcome {
            TxnOutcome::Ok if self.busy => TxnOutcome::Busy,
            TxnOutcome::Ok if t.failed.swap(false, Relaxed) => TxnOutcome::Error,
            other => other,
        };
        t.failed.store(false, Relaxed);
        let count = |c: &AtomicU64| TxnShared::take(c).min(u32::MAX as u64) as u32;
        layout.push_txn(&Transaction {
            id: t.id.swap(0, Relaxed),
            db: t.db.load(Relaxed) as u16,
            tid: self.tid,
            start_ns: self.start_ns,
            duration_ns: now_ns.saturating_sub(self.start_ns),
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
    }
}
