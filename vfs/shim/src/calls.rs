//! One forwarded call as vfscope records it: its timing ([`Timed`]), its
//! cell, the slow-call ring and the trace queue.

use crate::clock::now_ticks;
use crate::{clock, latency, recorder, txn};
use std::os::raw::c_int;
use std::panic::{catch_unwind, AssertUnwindSafe};
use vfscope_segment::trace::WalFrame;
use vfscope_segment::{CellRef, FileKind, Layout, Op, SlowCall};

/// Start and end of one forwarded call in clock ticks, its result, and
/// what the latency model did to it.
#[derive(Clone, Copy, Debug)]
pub struct Timed {
    pub(crate) start: u64,
    pub(crate) end: u64,
    pub rc: i32,
    /// The modelled latency (0 when none).
    pub delay_ns: u64,
    /// [`Timed::MODELLED`], [`Timed::FAULTED`], [`Timed::SLEPT`] bits.
    pub injected: u8,
}

impl Timed {
    /// A latency model saw the call.
    pub const MODELLED: u8 = 1;
    /// The result is an injected error; the real method did not run.
    pub const FAULTED: u8 = 2;
    /// The call waited for its modelled latency.
    pub const SLEPT: u8 = 4;

    /// The call as scalars, `((start, end, rc), (delay_ns, injected))`:
    /// what a cold path takes, so that the straight path never builds a
    /// `Timed` in memory just in case.
    #[inline(always)]
    pub fn parts(&self) -> ((u64, u64, i32), (u64, u8)) {
        (
            (self.start, self.end, self.rc),
            (self.delay_ns, self.injected),
        )
    }

    /// The call back from [`Timed::parts`].
    #[inline(always)]
    pub fn from_parts((start, end, rc): (u64, u64, i32), (delay_ns, injected): (u64, u8)) -> Self {
        Timed {
            start,
            end,
            rc,
            delay_ns,
            injected,
        }
    }

    /// Records what the model did into `cell`.
    #[cold]
    pub fn record_injection(&self, cell: &vfscope_segment::layout::Cell) {
        let actual = if self.injected & Timed::SLEPT != 0 {
            self.latency_ns()
        } else {
            0
        };
        cell.record_injection(self.delay_ns, actual, self.injected & Timed::FAULTED != 0);
    }

    #[inline]
    pub fn latency_ns(&self) -> u64 {
        clock::ticks_to_ns(self.end.saturating_sub(self.start))
    }

    pub fn start_ns(&self) -> u64 {
        clock::ticks_to_time(self.start)
    }

    pub fn end_ns(&self) -> u64 {
        clock::ticks_to_time(self.end)
    }
}

/// Records a call: its cell, and the slow-call ring when slow enough.
#[inline]
#[allow(clippy::too_many_arguments)]
pub fn record_call(
    layout: &Layout,
    op: Op,
    kind: FileKind,
    db: u16,
    call: Timed,
    bytes: u64,
    offset: u64,
    size: u32,
) {
    record_in(
        layout,
        layout.cell_ref(op, kind, db),
        op,
        kind,
        db,
        call,
        bytes,
        offset,
        size,
    );
}

/// Records a call into a cell already found: the cell, then (rarely) the
/// detour.
#[inline(always)]
#[allow(clippy::too_many_arguments)]
pub fn record_in(
    layout: &Layout,
    cell: CellRef<'_>,
    op: Op,
    kind: FileKind,
    db: u16,
    call: Timed,
    bytes: u64,
    offset: u64,
    size: u32,
) {
    let latency = call.latency_ns();
    cell.record(call.rc, bytes, latency);
    if latency >= recorder::detour_ns() || call.injected != 0 {
        let (at, model) = call.parts();
        detour(
            layout,
            cell.cell,
            (op, kind, db),
            at,
            model,
            latency,
            offset,
            size,
        );
    }
}

/// What a call needs beyond its cell, checked off the straight path: the
/// test hook, the trace queue, what the model did, the slow-call ring.
/// Taken when the call is at least [`recorder::detour_ns`] slow (always
/// while tracing) or the model touched it.
#[cold]
#[inline(never)]
#[allow(clippy::too_many_arguments)]
pub(crate) fn detour(
    layout: &Layout,
    cell: &vfscope_segment::layout::Cell,
    (op, kind, db): (Op, FileKind, u16),
    at: (u64, u64, i32),
    model: (u64, u8),
    latency: u64,
    offset: u64,
    size: u32,
) {
    let call = Timed::from_parts(at, model);
    recorder::test_panic(op);
    trace_call(op, kind, db, call, latency, offset, size);
    if call.injected != 0 {
        call.record_injection(cell);
    }
    record_if_slow(layout, op, kind, db, call, latency, offset, size);
}

/// Adds the call to the trace file's queue, when tracing.
#[inline(always)]
fn trace_call(op: Op, kind: FileKind, db: u16, call: Timed, latency: u64, offset: u64, size: u32) {
    if let Some(queue) = crate::trace_queue::queue() {
        // Only a WAL write can have noted one (so no other call on this
        // thread can take it).
        let (frame, lz4_size) = match (op, kind) {
            (Op::Write, FileKind::Wal) => crate::trace_queue::unpack_wal_note(WAL_NOTE.replace(0)),
            _ => (None, None),
        };
        queue.push(&vfscope_segment::trace::TracedCall {
            start_ns: call.start_ns(),
            latency_ns: latency,
            offset,
            delay_ns: call.delay_ns,
            size,
            rc: call.rc,
            tid: txn::thread_id(),
            op,
            kind,
            db,
            frame,
            lz4_size,
        });
    }
}

thread_local! {
    /// What the xWrite being recorded on this thread wrote to the WAL: a
    /// frame's header or a sampled page (packed by `pack_wal_note`, 0:
    /// neither), for its trace record.
    static WAL_NOTE: std::cell::Cell<u64> = const { std::cell::Cell::new(0) };
}

/// Says which WAL frame the current xWrite wrote the header of: its trace
/// record (written by [`detour`], always taken while tracing) carries it.
pub fn note_frame(frame: WalFrame) {
    if crate::trace_queue::queue().is_some() {
        WAL_NOTE.set(crate::trace_queue::pack_wal_note(Some(frame), None));
    }
}

/// Calls are being traced.
#[inline(always)]
pub fn tracing() -> bool {
    crate::trace_queue::queue().is_some()
}

/// Samples how the WAL page the current xWrite writes compresses (one in
/// `lz4_sample::EVERY`), for its trace record (while tracing).
#[cold]
pub fn note_wal_page(page: &[u8]) {
    if let Some(size) = crate::lz4_sample::sample(page) {
        WAL_NOTE.set(crate::trace_queue::pack_wal_note(None, Some(size)));
    }
}

/// Adds the call to the slow-call ring if it took at least the threshold.
#[inline]
#[allow(clippy::too_many_arguments)]
fn record_if_slow(
    layout: &Layout,
    op: Op,
    kind: FileKind,
    db: u16,
    call: Timed,
    latency: u64,
    offset: u64,
    size: u32,
) {
    if latency >= recorder::slow_threshold_ns() {
        layout.push_slow(&SlowCall {
            op,
            kind,
            db,
            start_ns: call.start_ns(),
            latency_ns: latency,
            offset,
            size,
            rc: call.rc,
            tid: txn::thread_id(),
            txn: txn::current_id(),
        });
    }
}

/// Times one forwarded call.
#[inline(always)]
pub(crate) fn timed(call: impl FnOnce() -> c_int) -> Timed {
    unmodelled(now_ticks(), call)
}

/// The rest of a call timed from `start` that the model leaves alone.
#[inline(always)]
fn unmodelled(start: u64, call: impl FnOnce() -> c_int) -> Timed {
    let rc = call();
    Timed {
        start,
        end: now_ticks(),
        rc,
        delay_ns: 0,
        injected: 0,
    }
}

/// Times one forwarded call that the latency model may delay or fail:
/// `describe` gets the call's start (monotonic ns). An injected error
/// replaces the real call; a modelled latency is waited out from the start,
/// so the real call's own time counts towards it. (Kept in one piece: an
/// out-of-line modelled half made the callers build their closures on the
/// stack on every call, +10 instructions per call.)
#[inline(always)]
pub(crate) fn timed_modelled(
    describe: impl FnOnce(u64) -> vfscope_model::Call,
    call: impl FnOnce() -> c_int,
) -> Timed {
    let start = now_ticks();
    if recorder::layout().is_none_or(latency::idle) {
        return unmodelled(start, call);
    }
    // Planning runs before the real call: a fault in it must not keep the
    // real call from running, so it is caught here, on its own.
    let planned = catch_unwind(AssertUnwindSafe(|| {
        latency::plan(|now| {
            let call = describe(now);
            recorder::test_panic_before(call.op);
            call
        })
    }));
    let planned = planned.unwrap_or_else(|_| {
        recorder::degrade("the latency model");
        None
    });
    let Some(plan) = planned else {
        return unmodelled(start, call);
    };
    let (rc, faulted) = match plan.decision.fault {
        Some(rc) => (rc, true),
        None => (call(), false),
    };
    let delay_ns = plan.decision.delay_ns;
    let slept = plan.sleep && delay_ns > 0;
    if slept {
        latency::wait_until(plan.start_ns + delay_ns);
    }
    Timed {
        start,
        end: now_ticks(),
        rc,
        delay_ns,
        injected: Timed::MODELLED | (faulted as u8 * Timed::FAULTED) | (slept as u8 * Timed::SLEPT),
    }
}

/// Runs `body` (forward, then record); a panic inside it degrades vfscope.
#[inline(always)]
pub(crate) fn guarded(what: &'static str, body: impl FnOnce()) {
    if catch_unwind(AssertUnwindSafe(body)).is_err() {
        recorder::degrade(what);
    }
}
