//! Every rule over every database: the findings of a run.

use crate::evidence::Evidence;
use crate::findings::{self, Diagnosis};
use crate::rules;
use vfscope_segment::FileKind;

/// Runs every rule over every database.
pub fn diagnose(e: &Evidence) -> Diagnosis {
    let mut d = Diagnosis::default();
    let all_ns = e.total_ns();
    for db in &e.databases {
        findings::rollback_small_commits(db, &mut d);
        findings::sync_per_row(db, &mut d);
        rules::busy_without_timeout(db, &mut d);
        rules::temp_spill(db, all_ns, &mut d);
        rules::connection_churn(db, &mut d);
        rules::cache_rereads(db, &mut d);
        rules::wal_checkpoint_starved(db, &mut d);
        if e.from_trace && db.count(|_, k| k == FileKind::Wal) > 0 {
            d.notes.push(format!(
                "{}: WAL commits and transactions are not in a trace (the segment counts them): sync-per-row and connection-churn were judged on rollback mode only",
                db.name()
            ));
        }
    }
    d.sort();
    d
}
