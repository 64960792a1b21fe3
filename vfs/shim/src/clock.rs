//! The clock the recording path reads twice per call.
//!
//! `clock_gettime` through the vDSO costs ~24 ns here; the TSC ~10 ns. When
//! the kernel itself keeps time with the TSC (its clocksource is `tsc`, so
//! the TSC is invariant and synchronised across CPUs), vfscope reads it
//! directly and converts ticks to CLOCK_MONOTONIC nanoseconds with a ratio
//! calibrated at start and refined later on cold paths. Elsewhere it uses
//! `clock_gettime`.

use std::sync::atomic::{AtomicPtr, AtomicU64, Ordering::*};
use vfscope_segment::monotonic_ns;

/// A tick → nanosecond mapping: `ns = mono0 + (ticks - tsc0) * mult >> 32`.
struct Calibration {
    tsc0: u64,
    mono0: u64,
    mult: u64,
    /// The first sample: ratios are measured from it, over ever longer spans.
    first: (u64, u64),
    /// When (monotonic ns) to refine the ratio next.
    refine_at: u64,
}

/// Null until the TSC is calibrated; then the TSC is used.
static CALIBRATION: AtomicPtr<Calibration> = AtomicPtr::new(std::ptr::null_mut());

/// The `mult` of the current calibration, for spans: 2^32 (ticks are
/// nanoseconds) until the TSC is in use, so converting a span is one load
/// and one multiply, with no branch.
static SPAN_MULT: AtomicU64 = AtomicU64::new(1 << 32);

/// A raw clock reading: TSC ticks, or nanoseconds without a TSC. The
/// recording path reads ticks and converts once per call.
#[inline(always)]
pub fn now_ticks() -> u64 {
    if CALIBRATION.load(Relaxed).is_null() {
        monotonic_ns()
    } else {
        rdtsc()
    }
}

/// The current calibration, if the TSC is in use.
#[inline(always)]
fn calibration() -> Option<&'static Calibration> {
    let p = CALIBRATION.load(Acquire);
    // SAFETY: CALIBRATION holds null or a leaked, never-freed Calibration,
    // published with Release after it was written.
    (!p.is_null()).then(|| unsafe { &*p })
}

/// Nanoseconds in a span of ticks.
#[inline(always)]
pub fn ticks_to_ns(ticks: u64) -> u64 {
    ((ticks as u128 * SPAN_MULT.load(Relaxed) as u128) >> 32) as u64
}

/// A reading of [`now_ticks`] on the CLOCK_MONOTONIC scale.
#[inline(always)]
pub fn ticks_to_time(ticks: u64) -> u64 {
    match calibration() {
        Some(c) => c.mono0.wrapping_add_signed(ticks_to_ns_signed(
            ticks.wrapping_sub(c.tsc0) as i64,
            c.mult,
        )),
        None => ticks,
    }
}

fn ticks_to_ns_signed(ticks: i64, mult: u64) -> i64 {
    ((ticks as i128 * mult as i128) >> 32) as i64
}

#[cfg(target_arch = "x86_64")]
#[inline(always)]
fn rdtsc() -> u64 {
    // SAFETY: RDTSC exists on every x86_64 CPU and has no preconditions.
    unsafe { core::arch::x86_64::_rdtsc() }
}

#[cfg(not(target_arch = "x86_64"))]
#[inline(always)]
fn rdtsc() -> u64 {
    monotonic_ns()
}

fn kernel_trusts_tsc() -> bool {
    cfg!(target_arch = "x86_64")
        && std::fs::read_to_string(
            "/sys/devices/system/clocksource/clocksource0/current_clocksource",
        )
        .is_ok_and(|s| s.trim() == "tsc")
}

/// Decides the clock and calibrates it over a 100 µs spin. Each end of the
/// span is a paired reading taken as tightly as possible (see `paired`), so
/// the ratio is good to about 1e-4; `refine` improves it as the process
/// lives.
pub fn start() {
    if !CALIBRATION.load(Acquire).is_null() || !kernel_trusts_tsc() {
        return;
    }
    let first = paired();
    while monotonic_ns() - first.1 < 100_000 {
        std::hint::spin_loop();
    }
    publish(first, paired());
}

/// A (TSC, CLOCK_MONOTONIC) pair read at one instant: the monotonic read
/// bracketed by two TSC reads, the tightest bracket of a few tries, its
/// midpoint taken. A preemption between two plain reads would otherwise
/// skew the ratio by the length of the preemption.
fn paired() -> (u64, u64) {
    let mut best = (u64::MAX, 0, 0);
    for _ in 0..8 {
        let before = rdtsc();
        let mono = monotonic_ns();
        let width = rdtsc().wrapping_sub(before);
        if width < best.0 {
            best = (width, before + width / 2, mono);
        }
    }
    (best.1, best.2)
}

/// Refines the ratio over the longer baseline since `start`, at 1 s, 10 s,
/// 100 s, … of process life. Called on cold paths (file open). The new
/// mapping starts from the current true time, so later stamps do not drift
/// from CLOCK_MONOTONIC.
pub fn refine() {
    let p = CALIBRATION.load(Acquire);
    if p.is_null() {
        return;
    }
    // SAFETY: calibrations are leaked and never freed.
    let c = unsafe { &*p };
    if monotonic_ns() < c.refine_at {
        return;
    }
    publish(c.first, paired());
}

fn publish(first: (u64, u64), now: (u64, u64)) {
    let (ticks, ns) = (now.0.wrapping_sub(first.0), now.1.saturating_sub(first.1));
    if ticks == 0 || ns == 0 {
        return;
    }
    let mult = ((ns as u128) << 32) / ticks as u128;
    let Ok(mult) = u64::try_from(mult) else {
        return;
    };
    let c = Box::leak(Box::new(Calibration {
        tsc0: now.0,
        mono0: now.1,
        mult,
        first,
        refine_at: now.1 + ns.max(1_000_000_000) * 10,
    }));
    // Each refinement leaks one small struct; there are ~10 in a year.
    // A span read between the two stores converts at the old or the new
    // ratio; both are good to ~1e-4.
    SPAN_MULT.store(mult, Relaxed);
    CALIBRATION.store(c, Release);
}

#[cfg(test)]
mod tests {
    use super::*;

    /// (vfscope's time, kernel's time) at one instant: the reading whose
    /// bracket of kernel reads is tightest, so preemption cannot skew it.
    fn reading() -> (u64, f64) {
        (0..100)
            .map(|_| {
                let before = monotonic_ns();
                let ours = ticks_to_time(now_ticks());
                let after = monotonic_ns();
                (after - before, ours, (before + after) as f64 / 2.0)
            })
            .min_by_key(|r| r.0)
            .map(|(_, ours, truth)| (ours, truth))
            .unwrap()
    }

    #[test]
    fn tsc_clock_tracks_monotonic_time() {
        start();
        // Off tsc the clock must be CLOCK_MONOTONIC itself (checked here);
        // the TSC clock cannot be, which fails the test under CI.
        if !kernel_trusts_tsc() {
            assert!(
                CALIBRATION.load(Acquire).is_null(),
                "the TSC was calibrated although the kernel does not trust it"
            );
            let (ours, kernel) = reading();
            assert!((ours as f64 - kernel).abs() < 1e6, "{ours} vs {kernel}");
            assert!(
                std::env::var_os("CI").is_none(),
                "the clocksource is not tsc: the TSC clock cannot be checked here"
            );
            return;
        }
        assert!(
            !CALIBRATION.load(Acquire).is_null(),
            "the TSC clock was not set up"
        );
        let (a, m) = reading();
        assert!((a as f64 - m).abs() < 1e6, "{a} vs {m}");
        std::thread::sleep(std::time::Duration::from_millis(20));
        let (b, n) = reading();
        let (measured, truth) = ((b - a) as f64, n - m);
        // The calibrated ratio is good to ~1e-4.
        assert!(
            (measured - truth).abs() / truth < 5e-4,
            "{measured} vs {truth}"
        );
        let t = now_ticks();
        std::thread::sleep(std::time::Duration::from_millis(5));
        let span = ticks_to_ns(now_ticks() - t) as f64;
        assert!(
            span >= 5e6 * (1.0 - 5e-4),
            "a 5 ms sleep measured {span} ns"
        );
    }
}
