//! A trace seen as a segment: the [`Snapshot`] its calls add up to, so the
//! report and vfstop read traces with the code that reads segments.
//! What a trace cannot tell (lock state, WAL frames, I/O shape beyond
//! opens and closes) stays empty.

use crate::histogram::{bucket_of, Buckets};
use crate::ids::{Op, ResultClass};
use crate::process::ProcessMeta;
use crate::snapshot::*;
use crate::trace::Trace;
use std::collections::BTreeMap;

/// op × file kind × db.
type CellKey = (Op, crate::FileKind, u16);

impl Trace {
    /// The totals of every call that started before `until_ns`
    /// (CLOCK_MONOTONIC); `u64::MAX` for the whole trace.
    pub fn snapshot_until(&self, until_ns: u64, command: &str) -> Snapshot {
        let mut cells: BTreeMap<CellKey, (CellStats, BTreeMap<u16, u64>)> = BTreeMap::new();
        for c in self.calls.iter().filter(|c| c.start_ns < until_ns) {
            let (cell, hist) = cells.entry((c.op, c.kind, c.db)).or_insert_with(|| {
                (
                    CellStats {
                        op: c.op,
                        kind: c.kind,
                        db: c.db,
                        results: [0; ResultClass::COUNT],
                        bytes: 0,
                        total_ns: 0,
                        max_ns: 0,
                        last_ioerr: 0,
                        delayed: 0,
                        delay_target_ns: 0,
                        delay_actual_ns: 0,
                        faults_injected: 0,
                        latency: None,
                    },
                    BTreeMap::new(),
                )
            });
            let class = ResultClass::of_rc(c.rc);
            cell.results[class.index()] += 1;
            if class == ResultClass::IoErr {
                cell.last_ioerr = c.rc as u32;
            }
            if c.rc == 0 && matches!(c.op, Op::Read | Op::Write | Op::Fetch) {
                cell.bytes += c.size as u64;
            }
            cell.total_ns += c.latency_ns;
            cell.max_ns = cell.max_ns.max(c.latency_ns);
            if c.delay_ns > 0 {
                cell.delayed += 1;
                cell.delay_target_ns += c.delay_ns;
                cell.delay_actual_ns += c.latency_ns;
            }
            *hist.entry(bucket_of(c.latency_ns) as u16).or_default() += 1;
        }
        let mut shapes: BTreeMap<(crate::FileKind, u16), ShapeStats> = BTreeMap::new();
        let cells: Vec<CellStats> = cells
            .into_values()
            .map(|(mut cell, hist)| {
                cell.latency = Some(Buckets(hist.into_iter().collect()));
                if matches!(cell.op, Op::Open | Op::Close) && cell.kind != crate::FileKind::None {
                    let shape = shapes.entry((cell.kind, cell.db)).or_insert(ShapeStats {
                        kind: Some(cell.kind),
                        db: cell.db,
                        ..ShapeStats::default()
                    });
                    let ok = cell.results[ResultClass::Ok.index()];
                    match cell.op {
                        Op::Open => shape.opens += ok,
                        _ => shape.closes += cell.calls(),
                    }
                }
                cell
            })
            .collect();
        let end = self.end.map_or(u64::MAX, |e| e.end_ns);
        Snapshot {
            taken_monotonic_ns: until_ns.min(end),
            meta: ProcessMeta {
                pid: self.header.pid,
                uid: 0,
                proc_start_ticks: 0,
                start_realtime_ns: self.header.start_realtime_ns,
                start_monotonic_ns: self.header.start_monotonic_ns,
                cmdline: command.to_string(),
                sqlite_version: self.header.sqlite_version.clone(),
                slow_threshold_ns: 0,
                block_size: 4096,
            },
            registrations: Vec::new(),
            copies: Vec::new(),
            kind_latency: Vec::new(),
            other_dbs: 0,
            latency_enabled: false,
            model: ModelState::default(),
            dbs: self
                .dbs
                .iter()
                .map(|(index, path)| DbInfo {
                    index: *index,
                    path: path.clone(),
                    truncated: false,
                    page_size: 0,
                    copies: 0,
                })
                .collect(),
            cells,
            locks: Vec::new(),
            shapes: shapes.into_values().collect(),
            slow: Vec::new(),
            slow_total: 0,
            open_files: Vec::new(),
            overflow: Overflow::default(),
            trace_records: self.calls.len() as u64,
            trace_dropped: self.end.map_or(0, |e| e.dropped),
        }
    }
}
