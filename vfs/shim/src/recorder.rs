//! The process-wide recorder: which segment calls are recorded into, and
//! its life across fork, exit and internal faults.
//!
//! The hot path reads one atomic pointer ([`layout`]). Everything else here
//! runs at registration, after a fork, at exit or on a fault, and may lock
//! and allocate.

use crate::config::Config;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicPtr, AtomicU64, Ordering::*};
use std::sync::{Mutex, OnceLock};
use vfscope_segment::{CopyInfo, Layout, ProcessMeta, SegmentWriter};

/// What every recorded call reads, in one cache line: after the real call's
/// system call these lines are usually cold, and each one costs a miss.
#[repr(C, align(64))]
struct Hot {
    /// The segment calls are recorded into; null while not recording.
    layout: AtomicPtr<Layout>,
    /// Calls at least this slow leave the straight path for [`detour`]
    /// checks (trace, slow-call ring, test hook): the slow-call threshold,
    /// or 0 while tracing or while a test hook is set. One compare per
    /// call instead of three.
    detour_ns: AtomicU64,
    slow_ns: AtomicU64,
    block_size: AtomicU64,
    /// Test hook (`VFSCOPE_TEST_PANIC`): the op whose recording panics,
    /// plus [`PANIC_BEFORE`] when its planning panics instead.
    panic_op: AtomicU64,
}

static HOT: Hot = Hot {
    layout: AtomicPtr::new(std::ptr::null_mut()),
    detour_ns: AtomicU64::new(u64::MAX),
    slow_ns: AtomicU64::new(u64::MAX),
    block_size: AtomicU64::new(4096),
    panic_op: AtomicU64::new(u64::MAX),
};
/// The parent's segment, in a forked child that has not recorded yet.
static PARENT_LAYOUT: AtomicPtr<Layout> = AtomicPtr::new(std::ptr::null_mut());
/// Set in a forked child until its own segment exists.
static FORKED: AtomicBool = AtomicBool::new(false);
/// Set after an internal fault: vfscope stays a plain passthrough.
static DEGRADED: AtomicBool = AtomicBool::new(false);

struct Global {
    /// `None` only in a forked child between the fork and its first call.
    writer: Option<SegmentWriter>,
    dir: PathBuf,
    config: Config,
    sqlite_version: String,
}

static GLOBAL: Mutex<Option<Global>> = Mutex::new(None);

/// The segment to record into, if recording.
#[inline]
pub fn layout() -> Option<&'static Layout> {
    let p = HOT.layout.load(Acquire);
    if p.is_null() {
        return layout_after_fork();
    }
    // SAFETY: HOT.layout only ever holds pointers into segment mappings that are
    // never unmapped (writers live in GLOBAL or are leaked by
    // `forget_in_child`).
    Some(unsafe { &*p })
}

/// The slow-call threshold in nanoseconds.
#[inline]
pub fn slow_threshold_ns() -> u64 {
    HOT.slow_ns.load(Relaxed)
}

/// Calls with at least this latency take the detour (see [`Hot`]).
#[inline(always)]
pub fn detour_ns() -> u64 {
    HOT.detour_ns.load(Relaxed)
}

/// Tracing started or stopped: every call takes the detour while on.
pub fn set_tracing(on: bool) {
    TRACING.store(on, Relaxed);
    update_detour();
}

static TRACING: AtomicBool = AtomicBool::new(false);

fn update_detour() {
    let everything = TRACING.load(Relaxed) || HOT.panic_op.load(Relaxed) != u64::MAX;
    let detour = if everything {
        0
    } else {
        HOT.slow_ns.load(Relaxed)
    };
    HOT.detour_ns.store(detour, Relaxed);
}

/// The test hook of `VFSCOPE_TEST_PANIC`: panics while recording `op` if
/// asked to, so tests can check that a fault inside vfscope never reaches
/// the host (the trampolines catch it and fall back to passthrough).
#[inline(always)]
pub fn test_panic(op: vfscope_segment::Op) {
    if HOT.panic_op.load(Relaxed) == op as u64 {
        forced_panic(op, "recording");
    }
}

/// The same hook before the real call: while the latency model plans it.
#[inline(always)]
pub fn test_panic_before(op: vfscope_segment::Op) {
    if HOT.panic_op.load(Relaxed) == op as u64 | PANIC_BEFORE {
        forced_panic(op, "planning");
    }
}

/// Marks a `panic_op` that fires before the real call.
const PANIC_BEFORE: u64 = 1 << 8;

#[cold]
#[inline(never)]
fn forced_panic(op: vfscope_segment::Op, while_: &str) {
    panic!("VFSCOPE_TEST_PANIC: forced panic while {while_} {op}");
}

/// The modelled backend block size in bytes.
#[inline]
pub fn block_size() -> u64 {
    HOT.block_size.load(Relaxed)
}

/// A segment [`start_segment`] made: what the layers above the recorder
/// (trace, latency model) start on.
pub struct NewSegment {
    pub layout: &'static Layout,
    pub meta: ProcessMeta,
}

/// Starts recording into a new segment in the configured directory and
/// returns its path, and the new segment when this call made it. The first
/// call wins; later calls return the segment already in use (`None` in a
/// forked child that has not recorded yet).
pub fn start_segment(
    config: &Config,
    sqlite_version: &str,
) -> Result<(Option<PathBuf>, Option<NewSegment>), vfscope_segment::Error> {
    let mut global = GLOBAL.lock().unwrap_or_else(|e| e.into_inner());
    if let Some(g) = global.as_ref() {
        let path = g.writer.as_ref().and_then(|w| w.path().map(PathBuf::from));
        return Ok((path, None));
    }
    let dir = match &config.dir {
        Some(dir) => dir.clone(),
        None => vfscope_segment::default_dir()?,
    };
    let process = meta(config, sqlite_version);
    let writer = SegmentWriter::create(&dir, &process)?;
    let path = writer.path().map(PathBuf::from);
    let layout = writer.layout() as *const Layout;
    install(&mut global, writer, dir, config, sqlite_version);
    // SAFETY: the writer now lives in GLOBAL, its mapping for good.
    let layout = unsafe { &*layout };
    Ok((
        path,
        Some(NewSegment {
            layout,
            meta: process,
        }),
    ))
}

/// Called with each segment a forked child makes (set once, by `start`).
static ON_CHILD_SEGMENT: OnceLock<fn(&Config, &ProcessMeta)> = OnceLock::new();

/// Sets what runs when a forked child makes its segment.
pub fn on_child_segment(f: fn(&Config, &ProcessMeta)) {
    let _ = ON_CHILD_SEGMENT.set(f);
}

fn meta(config: &Config, sqlite_version: &str) -> ProcessMeta {
    ProcessMeta::current(
        sqlite_version,
        config.slow_threshold.as_nanos().min(u64::MAX as u128) as u64,
        config.block_size,
    )
}

fn install(
    global: &mut Option<Global>,
    writer: SegmentWriter,
    dir: PathBuf,
    config: &Config,
    sqlite_version: &str,
) {
    crate::clock::start();
    HOT.slow_ns.store(
        config.slow_threshold.as_nanos().min(u64::MAX as u128) as u64,
        Relaxed,
    );
    HOT.block_size.store(config.block_size, Relaxed);
    HOT.panic_op.store(
        config.test_panic.map_or(u64::MAX, |(op, before)| {
            op as u64 | if before { PANIC_BEFORE } else { 0 }
        }),
        Relaxed,
    );
    update_detour();
    HOT.layout
        .store(writer.layout() as *const Layout as *mut Layout, Release);
    for copy in COPIES.lock().unwrap_or_else(|e| e.into_inner()).iter() {
        writer.layout().publish_copy(copy);
    }
    *global = Some(Global {
        writer: Some(writer),
        dir,
        config: config.clone(),
        sqlite_version: sqlite_version.to_string(),
    });
}

/// The SQLite copies described so far, for segments made later (the first
/// one, a forked child's).
static COPIES: Mutex<Vec<CopyInfo>> = Mutex::new(Vec::new());

/// Describes one SQLite copy of the process (see
/// [`vfscope_segment::CopyInfo`]): written into the segment now if there is
/// one, and into every segment made later. A second description of the same
/// index replaces the first.
pub fn publish_copy(copy: CopyInfo) {
    // The segment first: in a forked child that takes GLOBAL, which nests
    // outside COPIES (see `install`).
    let layout = layout();
    let mut copies = COPIES.lock().unwrap_or_else(|e| e.into_inner());
    if let Some(layout) = layout {
        layout.publish_copy(&copy);
    }
    copies.retain(|c| c.index != copy.index);
    copies.push(copy);
}

/// Notes a VFS registration in the segment header.
pub fn note_registration(name: &str, parent: &str) {
    if let Some(layout) = layout() {
        layout.note_registration(name, parent);
    }
}

/// The recorder's locks, held by the forking thread across fork (see
/// `fork`), in their nesting order.
pub(crate) struct ForkGuards {
    global: std::sync::MutexGuard<'static, Option<Global>>,
    _copies: std::sync::MutexGuard<'static, Vec<CopyInfo>>,
}

pub(crate) fn lock_for_fork() -> ForkGuards {
    ForkGuards {
        global: GLOBAL.lock().unwrap_or_else(|e| e.into_inner()),
        _copies: COPIES.lock().unwrap_or_else(|e| e.into_inner()),
    }
}

/// In a forked child, with the recorder's locks (taken before the fork).
pub(crate) fn in_forked_child(held: &mut ForkGuards) {
    // Only the forking thread exists here. The parent's lock must stop
    // meaning "alive" for the child, so the inherited descriptor is closed
    // now; the child's own segment is made at its first recorded call, so a
    // child that only execs leaves no segment behind.
    let parent = HOT.layout.swap(std::ptr::null_mut(), AcqRel);
    if parent.is_null() {
        return;
    }
    PARENT_LAYOUT.store(parent, Release);
    if let Some(g) = held.global.as_mut() {
        if let Some(writer) = g.writer.take() {
            writer.forget_in_child();
        }
        FORKED.store(true, Release);
    }
}

#[cold]
fn layout_after_fork() -> Option<&'static Layout> {
    if !FORKED.load(Acquire) || DEGRADED.load(Relaxed) {
        return None;
    }
    let mut global = GLOBAL.lock().unwrap_or_else(|e| e.into_inner());
    if FORKED.load(Acquire) {
        let g = global.as_mut()?;
        let meta = meta(&g.config, &g.sqlite_version);
        let writer = SegmentWriter::create(&g.dir, &meta).or_else(|e| {
            warn(&format!(
                "cannot create a segment for forked child: {e}; recording in memory"
            ));
            SegmentWriter::anonymous(&meta)
        });
        let writer = writer.ok()?;
        let parent = PARENT_LAYOUT.load(Acquire);
        if !parent.is_null() {
            // SAFETY: the parent's mapping was leaked by `forget_in_child`, so
            // it stays mapped for the life of this process.
            writer.layout().inherit_from(unsafe { &*parent });
        }
        HOT.layout
            .store(writer.layout() as *const Layout as *mut Layout, Release);
        g.writer = Some(writer);
        FORKED.store(false, Release);
        if let Some(started) = ON_CHILD_SEGMENT.get() {
            started(&g.config, &meta);
        }
    }
    drop(global);
    let p = HOT.layout.load(Acquire);
    // SAFETY: as in `layout`.
    (!p.is_null()).then(|| unsafe { &*p })
}

/// The segment recorded into now, without making a forked child's (at
/// exit, a child that never recorded leaves none behind).
pub fn layout_if_recording() -> Option<&'static Layout> {
    let p = HOT.layout.load(Acquire);
    // SAFETY: as in `layout`.
    (!p.is_null()).then(|| unsafe { &*p })
}

/// Marks the segment: the process ran its exit handlers.
pub fn mark_exited(layout: &Layout) {
    layout
        .header
        .state
        .store(vfscope_segment::layout::STATE_EXITED, Release);
}

/// Stops recording after an internal fault, saying so once on stderr.
#[cold]
pub fn degrade(what: &str) {
    if let Some(layout) = layout() {
        layout.header.faults.fetch_add(1, Relaxed);
    }
    FORKED.store(false, Release);
    HOT.layout.store(std::ptr::null_mut(), Release);
    if !DEGRADED.swap(true, AcqRel) {
        warn(&format!(
            "internal fault in {what}; continuing as a plain passthrough without recording"
        ));
    }
}

/// One line on stderr, prefixed so users know who speaks: something the
/// user asked for is not happening (a bad setting, a fault).
#[cold]
pub fn warn(message: &str) {
    eprintln!("vfscope: {message}");
}

/// Whether [`note`]s are said (`Config::notes`, set at start).
static NOTES: AtomicBool = AtomicBool::new(false);

/// Sets whether [`note`]s are said.
pub fn set_notes(on: bool) {
    NOTES.store(on, Relaxed);
}

/// One line on stderr about what is going as asked (what is recorded,
/// which model runs), said only where `Config::notes` allows.
#[cold]
pub fn note(message: &str) {
    if NOTES.load(Relaxed) {
        warn(message);
    }
}
