//! `vfscope doctor`'s findings as metrics: one info series per finding of
//! each live process (from its own counters, as vfstop shows them), and
//! the time each finding's change is expected to save.

use crate::family::{Family, Kind};
use vfscope_doctor::evidence::Segment;
use vfscope_doctor::{diagnose, Evidence};
use vfscope_segment::Snapshot;

/// `vfscope_finding_info` and `vfscope_finding_gain_seconds`.
pub fn families(live: &[Snapshot]) -> [Family; 2] {
    let mut info = Family::new(
        "vfscope_finding_info",
        "A finding of vfscope doctor on a live process (its id, severity and database); always 1. The change to make and the evidence: vfscope doctor PID.",
        Kind::Gauge,
        &["pid", "finding", "severity", "db"],
    );
    let mut gain = Family::new(
        "vfscope_finding_gain_seconds",
        "The time a finding's change is expected to save, from the process's recording so far.",
        Kind::Gauge,
        &["pid", "finding", "db"],
    );
    for s in live {
        let pid = s.meta.pid.to_string();
        let segment = Segment {
            snapshot: s,
            transactions: None,
        };
        let evidence = Evidence::from_segments(std::slice::from_ref(&segment), &pid);
        for f in diagnose(&evidence).findings {
            info.add(
                vec![
                    pid.clone(),
                    f.id.to_string(),
                    f.severity.name().to_string(),
                    f.database.clone(),
                ],
                1.0,
            );
            if let Some(g) = &f.gain {
                gain.add(
                    vec![pid.clone(), f.id.to_string(), f.database.clone()],
                    g.saved_ns as f64 / 1e9,
                );
            }
        }
    }
    [info, gain]
}
