//! The latency/fault model on the call path: what a call asks of the
//! active engine, and waiting out its delay. Switching models (parsing,
//! checking, building the engine) is `control`'s, off the call path; this
//! module only takes a prepared engine in ([`install`]), and passes on
//! that a reader asked for a switch ([`on_request`]).
//!
//! Off (the default), a modelled call costs two relaxed loads: the control
//! block's request generation and the one last seen. On, the engine runs under a mutex (its state is shared: page
//! cache, leases, seeded random sequence); delays are microseconds to
//! seconds, which dwarfs the lock. A delay is waited out from the call's
//! start (the real call counts towards it): sleep with the timer slack
//! lowered to 1 ns until a margin before the deadline, then spin. The
//! margin adapts to how late sleeps of that length have been waking up
//! here.

use crate::recorder;
use std::cell::Cell;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering::*};
use std::sync::{Mutex, OnceLock};
use vfscope_model::{Call, Decision, Engine, Mode};
use vfscope_segment::{monotonic_ns, Layout};

static ACTIVE: AtomicBool = AtomicBool::new(false);
/// The active model counts requests (`[remote]`): it wants the sizes
/// xFileSize returns.
static WANTS_SIZES: AtomicBool = AtomicBool::new(false);
static ENGINE: Mutex<Option<Engine>> = Mutex::new(None);
/// The last request generation a call saw (see the segment's control
/// block).
static SEEN: AtomicU32 = AtomicU32::new(0);
/// What [`idle`] compares the control block's generation with: `SEEN`
/// while no model is active, else a value no generation has (one load and
/// one compare per call instead of three loads).
static IDLE_AT: AtomicU64 = AtomicU64::new(0);
/// Told when a call sees a new request (set at start: `control`'s).
static ON_REQUEST: OnceLock<fn()> = OnceLock::new();

fn update_idle() {
    let at = if ACTIVE.load(Relaxed) {
        u64::MAX
    } else {
        SEEN.load(Relaxed) as u64
    };
    IDLE_AT.store(at, Relaxed);
}

/// Sets what a call tells when it sees a reader's request (once).
pub fn on_request(f: fn()) {
    let _ = ON_REQUEST.set(f);
}

/// The engine's lock, held by the forking thread across fork (see `fork`).
pub(crate) type EngineGuard = std::sync::MutexGuard<'static, Option<Engine>>;

pub(crate) fn lock_for_fork() -> EngineGuard {
    ENGINE.lock().unwrap_or_else(|e| e.into_inner())
}

/// How late sleeps wake up, learned per sleep length (below 100 µs, 1 ms,
/// 10 ms, above): a high-quantile estimate in ns. Wake-up latency grows with
/// the sleep on virtual machines (deeper idle states), so one margin does
/// not fit all.
static LATENESS: [AtomicU64; 4] = [const { AtomicU64::new(INITIAL_MARGIN_NS) }; 4];
const INITIAL_MARGIN_NS: u64 = 50_000;

/// What the model does to one call, and whether to really wait.
#[derive(Clone, Copy)]
pub struct Planned {
    pub decision: Decision,
    pub sleep: bool,
    /// CLOCK_MONOTONIC when the call was planned (just after it started):
    /// the deadline counts from here, on the clock the wait reads.
    pub start_ns: u64,
}

/// Nothing to plan: no model is active and no request is new (the common
/// case, checked without entering [`plan`]).
#[inline(always)]
pub fn idle(layout: &Layout) -> bool {
    layout.control.generation.load(Relaxed) as u64 == IDLE_AT.load(Relaxed)
}

/// Consults the model for one call (`describe` gets the call's start,
/// CLOCK_MONOTONIC); `None` when no model is active.
#[inline(always)]
pub fn plan(describe: impl FnOnce(u64) -> Call) -> Option<Planned> {
    let layout = recorder::layout()?;
    if layout.control.generation.load(Relaxed) != SEEN.load(Relaxed) {
        request_seen(layout);
    }
    if !ACTIVE.load(Relaxed) {
        return None;
    }
    let start_ns = monotonic_ns();
    decide(layout, describe(start_ns), start_ns)
}

/// A reader asked for a switch: passed on (`control` takes it up on its
/// own thread); the call goes on as it was.
#[cold]
fn request_seen(layout: &Layout) {
    SEEN.store(layout.control.generation.load(Relaxed), Relaxed);
    update_idle();
    if let Some(tell) = ON_REQUEST.get() {
        tell();
    }
}

#[cold]
fn decide(layout: &Layout, call: Call, start_ns: u64) -> Option<Planned> {
    let mut engine = ENGINE.lock().unwrap_or_else(|e| e.into_inner());
    let engine = engine.as_mut()?;
    let decision = engine.decide(&call);
    let control = &layout.control;
    match decision.cache_hit {
        Some(true) => control.cache_hits.fetch_add(1, Relaxed),
        Some(false) => control.cache_misses.fetch_add(1, Relaxed),
        None => 0,
    };
    if let Some(lag) = decision.lag_ns {
        layout.record_latency(&control.lag_hist, lag);
    }
    layout.count_requests(&decision.requests);
    Some(Planned {
        decision,
        sleep: engine.model().mode == Mode::Sleep,
        start_ns,
    })
}

/// Takes a prepared engine in (`None`: no model), for the calls after.
pub fn install(engine: Option<Engine>) {
    let wants_sizes = engine.as_ref().is_some_and(|e| e.model().remote.is_some());
    let active = engine.is_some();
    if !active {
        ACTIVE.store(false, Relaxed);
    }
    WANTS_SIZES.store(wants_sizes, Relaxed);
    *ENGINE.lock().unwrap_or_else(|e| e.into_inner()) = engine;
    if active {
        ACTIVE.store(true, Release);
    }
    update_idle();
}

/// A file's size as xFileSize returned it: request-level scenarios count
/// listings by the keys a file has. Other models never take the lock here.
pub fn observe_size(db: u16, kind: vfscope_segment::FileKind, size: u64) {
    if WANTS_SIZES.load(Relaxed) {
        if let Some(engine) = ENGINE.lock().unwrap_or_else(|e| e.into_inner()).as_mut() {
            engine.observe_size(db, kind, size);
        }
    }
}

thread_local! {
    static SLACK_SET: Cell<bool> = const { Cell::new(false) };
}

/// Waits until CLOCK_MONOTONIC reaches `deadline_ns`.
pub fn wait_until(deadline_ns: u64) {
    let _ = SLACK_SET.try_with(|set| {
        if !set.replace(true) {
            // SAFETY: PR_SET_TIMERSLACK only changes this thread's timer
            // slack (default 50 µs) to 1 ns; it has no memory effects.
            unsafe { libc::prctl(libc::PR_SET_TIMERSLACK, 1 as libc::c_ulong) };
        }
    });
    let now = monotonic_ns();
    let left = deadline_ns.saturating_sub(now);
    let class = match left {
        0..100_000 => 0,
        100_000..1_000_000 => 1,
        1_000_000..10_000_000 => 2,
        _ => 3,
    };
    // Sleep once, waking early by the lateness estimate and some; then spin
    // the rest (a second sleep would risk a second late wake-up).
    let margin = (LATENESS[class].load(Relaxed) * 3 / 2 + 10_000).clamp(20_000, 2_000_000);
    if left > margin {
        let wake = deadline_ns - margin;
        let ts = libc::timespec {
            tv_sec: (wake / 1_000_000_000) as libc::time_t,
            tv_nsec: (wake % 1_000_000_000) as libc::c_long,
        };
        // A signal handler interrupts the sleep (EINTR); the deadline is
        // absolute, so sleeping again until it is exact, and spinning the
        // rest of the wait instead would burn a core for as long as the
        // host's timers keep firing.
        // SAFETY: a valid timespec; a NULL remainder is allowed with
        // TIMER_ABSTIME.
        while unsafe {
            libc::clock_nanosleep(
                libc::CLOCK_MONOTONIC,
                libc::TIMER_ABSTIME,
                &ts,
                std::ptr::null_mut(),
            )
        } == libc::EINTR
        {}
        // A high-quantile estimate: rises fast on a late wake-up, decays
        // slowly after punctual ones.
        let late = monotonic_ns().saturating_sub(wake).min(10_000_000);
        let estimate = LATENESS[class].load(Relaxed);
        let next = if late > estimate {
            estimate + (late - estimate) / 2
        } else {
            estimate - (estimate - late) / 32
        };
        LATENESS[class].store(next, Relaxed);
    }
    while monotonic_ns() < deadline_ns {
        std::hint::spin_loop();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicBool;
    use std::sync::Arc;

    extern "C" fn ignore(_: libc::c_int) {}

    fn thread_cpu_ns() -> u64 {
        let mut ts = libc::timespec {
            tv_sec: 0,
            tv_nsec: 0,
        };
        // SAFETY: a valid timespec to fill.
        unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
        ts.tv_sec as u64 * 1_000_000_000 + ts.tv_nsec as u64
    }

    /// A host whose timers fire every millisecond (a handler interrupts the
    /// sleep with EINTR) must not turn a 300 ms injected wait into 300 ms
    /// of spinning: the wait sleeps again until its deadline.
    #[test]
    fn an_interrupted_wait_sleeps_again_instead_of_spinning() {
        // SAFETY: installs a handler that does nothing, for SIGUSR2, which
        // nothing else in the test binary uses.
        unsafe {
            let mut action: libc::sigaction = std::mem::zeroed();
            action.sa_sigaction = ignore as *const () as usize;
            libc::sigaction(libc::SIGUSR2, &action, std::ptr::null_mut());
        }
        // SAFETY: pthread_self has no preconditions.
        let waiter = unsafe { libc::pthread_self() } as usize;
        let done = Arc::new(AtomicBool::new(false));
        let signals = {
            let done = done.clone();
            std::thread::spawn(move || {
                let mut sent = 0u32;
                while !done.load(Relaxed) {
                    // SAFETY: the waiting thread outlives this loop (it
                    // sets `done` before it returns).
                    unsafe { libc::pthread_kill(waiter as libc::pthread_t, libc::SIGUSR2) };
                    sent += 1;
                    std::thread::sleep(std::time::Duration::from_millis(1));
                }
                sent
            })
        };
        let cpu = thread_cpu_ns();
        let start = monotonic_ns();
        wait_until(start + 300_000_000);
        let waited = monotonic_ns() - start;
        let spent = thread_cpu_ns() - cpu;
        done.store(true, Relaxed);
        let sent = signals.join().unwrap();
        assert!(waited >= 300_000_000, "woke {waited} ns after the start");
        assert!(sent > 20, "only {sent} signals were sent");
        // Spinning would take the whole 300 ms of CPU; sleeping takes the
        // last margin (at most 2 ms) plus the handler runs.
        assert!(
            spent < 150_000_000,
            "the wait used {spent} ns of CPU over {sent} interruptions"
        );
    }
}
