//! File locks (transitions, BUSY answers, hold and wait times) and
//! WAL-index (shm) locks.

use super::approximate_sum;
use crate::family::{Family, Kind};
use vfscope_segment::{LockLevel, ShmSlot, Snapshot};

/// File locks: level changes, BUSY answers, time held at each level,
/// waits and abandoned waits.
pub(super) fn locks(live: &[Snapshot]) -> [Family; 5] {
    let mut transitions = Family::new(
        "vfscope_lock_transitions_total",
        "File lock level changes.",
        Kind::Counter,
        &["pid", "db", "from", "to"],
    )
    .otlp("vfscope.lock.transitions", "{transition}");
    let mut busy = Family::new(
        "vfscope_lock_busy_total",
        "xLock calls answered BUSY, by requested level.",
        Kind::Counter,
        &["pid", "db", "level"],
    )
    .otlp("vfscope.lock.busy", "{call}");
    let mut hold = Family::new(
        "vfscope_lock_hold_seconds",
        "Time spent at each lock level.",
        Kind::Histogram,
        &["pid", "db", "level"],
    )
    .otlp("vfscope.lock.hold.duration", "s");
    let mut wait = Family::new(
        "vfscope_lock_wait_seconds",
        "Time from the first BUSY to the granted lock.",
        Kind::Histogram,
        &["pid", "db"],
    )
    .otlp("vfscope.lock.wait.duration", "s");
    let mut abandoned = Family::new(
        "vfscope_lock_waits_abandoned_total",
        "Waits that ended in a release instead of the lock.",
        Kind::Counter,
        &["pid", "db"],
    )
    .otlp("vfscope.lock.waits_abandoned", "{wait}");
    for s in live {
        let pid = s.meta.pid.to_string();
        for l in &s.locks {
            let db = s.db_label(l.db);
            for from in LockLevel::ALL {
                for to in LockLevel::ALL {
                    let n = l.transition(*from, *to);
                    if n > 0 {
                        transitions.add(
                            vec![
                                pid.clone(),
                                db.clone(),
                                from.name().into(),
                                to.name().into(),
                            ],
                            n as f64,
                        );
                    }
                }
            }
            for level in LockLevel::ALL {
                let i = level.index();
                if l.busy[i] > 0 {
                    busy.add(
                        vec![pid.clone(), db.clone(), level.name().into()],
                        l.busy[i] as f64,
                    );
                }
                if l.hold[i].count() > 0 {
                    let sum = approximate_sum(&l.hold[i]);
                    hold.observe(
                        vec![pid.clone(), db.clone(), level.name().into()],
                        &l.hold[i],
                        sum,
                    );
                }
            }
            if l.wait.count() > 0 {
                wait.observe(
                    vec![pid.clone(), db.clone()],
                    &l.wait,
                    approximate_sum(&l.wait),
                );
            }
            if l.waits_abandoned > 0 {
                abandoned.add(vec![pid.clone(), db.clone()], l.waits_abandoned as f64);
            }
        }
    }
    [transitions, busy, hold, wait, abandoned]
}

/// WAL-index (shm) locks: acquisitions by slot and mode, BUSY answers,
/// time held.
pub(super) fn shm_locks(live: &[Snapshot]) -> [Family; 3] {
    let mut shm = Family::new(
        "vfscope_shm_lock_acquisitions_total",
        "WAL-index lock acquisitions by slot and mode.",
        Kind::Counter,
        &["pid", "db", "slot", "mode"],
    )
    .otlp("vfscope.shm_lock.acquisitions", "{acquisition}");
    let mut shm_busy = Family::new(
        "vfscope_shm_lock_busy_total",
        "WAL-index lock requests answered BUSY.",
        Kind::Counter,
        &["pid", "db", "slot"],
    )
    .otlp("vfscope.shm_lock.busy", "{call}");
    let mut shm_hold = Family::new(
        "vfscope_shm_lock_hold_seconds",
        "How long WAL-index locks were held.",
        Kind::Histogram,
        &["pid", "db", "slot"],
    )
    .otlp("vfscope.shm_lock.hold.duration", "s");
    for s in live {
        let pid = s.meta.pid.to_string();
        for l in &s.locks {
            let db = s.db_label(l.db);
            for slot in ShmSlot::ALL {
                let i = slot.index();
                for (mode, n) in [
                    ("shared", l.shm_acquired[i][0]),
                    ("exclusive", l.shm_acquired[i][1]),
                ] {
                    if n > 0 {
                        shm.add(
                            vec![pid.clone(), db.clone(), slot.name().into(), mode.into()],
                            n as f64,
                        );
                    }
                }
                if l.shm_busy[i] > 0 {
                    shm_busy.add(
                        vec![pid.clone(), db.clone(), slot.name().into()],
                        l.shm_busy[i] as f64,
                    );
                }
                if l.shm_hold[i].count() > 0 {
                    let sum = approximate_sum(&l.shm_hold[i]);
                    shm_hold.observe(
                        vec![pid.clone(), db.clone(), slot.name().into()],
                        &l.shm_hold[i],
                        sum,
                    );
                }
            }
        }
    }
    [shm, shm_busy, shm_hold]
}
