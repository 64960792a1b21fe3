//! Metric families built from snapshots at scrape time: constant metrics,
//! so the series of a process that exits disappear with it.
//!
//! Names follow DESIGN.md: prefix `vfscope_`, base units, `_total` on
//! counters. Labels are bounded: pid, op, file_kind, db (the file name,
//! never the path), result, lock level, WAL-index slot.

use crate::family::Family;
pub use crate::family::BOUNDS;
use prometheus::proto::{MetricFamily, MetricType};
use std::collections::BTreeMap;
use vfscope_segment::{bucket_midpoint, Buckets, LockLevel, Op, ResultClass, ShmSlot, Snapshot};

/// What the OTLP exporter did so far (a copy of its counters): one of the
/// inputs of the families, so the family model needs nothing from the
/// encoders that read it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ExportCounts {
    pub metric_exports: u64,
    pub metric_failures: u64,
    pub span_exports: u64,
    pub span_failures: u64,
    pub spans_sent: u64,
    pub spans_unsampled: u64,
    pub spans_dropped: u64,
}

/// Everything one scrape exports.
pub struct Scrape<'a> {
    /// Snapshots of the live processes.
    pub live: &'a [Snapshot],
    /// Segments by state: running, exited, dead.
    pub segments: BTreeMap<&'static str, u64>,
    /// Segments that could not be read.
    pub unreadable: u64,
    /// The OTLP exporter's counters, when one runs.
    pub otlp: Option<ExportCounts>,
}

/// The metric families of one scrape, as protobuf families (for OTLP).
pub fn families(scrape: &Scrape) -> Vec<MetricFamily> {
    family_list(scrape)
        .into_iter()
        .filter_map(Family::build)
        .collect()
}

/// The metric families of one scrape in Prometheus's text format, written
/// directly (this is the scrape path: no protobuf objects in between).
pub fn text(scrape: &Scrape) -> String {
    let mut out = String::with_capacity(1 << 16);
    for family in family_list(scrape) {
        family.write_text(&mut out);
    }
    out
}

fn family_list(scrape: &Scrape) -> Vec<Family> {
    use MetricType::{COUNTER, GAUGE, HISTOGRAM};
    let mut build_info = Family::new(
        "vfscope_build_info",
        "vfscope's version; always 1.",
        GAUGE,
        &["version"],
    );
    build_info.add(vec![env!("CARGO_PKG_VERSION").to_string()], 1.0);
    let mut segments = Family::new(
        "vfscope_segments",
        "Segment files by the state of their process.",
        GAUGE,
        &["state"],
    );
    for (state, n) in &scrape.segments {
        segments.add(vec![state.to_string()], *n as f64);
    }
    let mut errors = Family::new(
        "vfscope_segment_read_errors",
        "Segment files that could not be read at this scrape (damaged, foreign, other version).",
        GAUGE,
        &[],
    );
    errors.add(vec![], scrape.unreadable as f64);
    let mut info = Family::new(
        "vfscope_process_info",
        "An instrumented process: its program and SQLite version; always 1.",
        GAUGE,
        &["pid", "program", "sqlite_version"],
    );
    let mut copy_info = Family::new(
        "vfscope_sqlite_copy_info",
        "A SQLite copy in an instrumented process (copy is its index there): version, the file name of the object it lives in, how vfscope reaches it and whether it is traced; always 1.",
        GAUGE,
        &["pid", "copy", "version", "object", "access", "status"],
    );
    let mut copy_opens = Family::new(
        "vfscope_sqlite_copy_opens_total",
        "Files opened through one SQLite copy (which databases each copy opened is the db label's business: see vfscope_sqlite_copy_info and the report).",
        COUNTER,
        &["pid", "copy"],
    );
    let mut start = Family::new(
        "vfscope_process_start_time_seconds",
        "When the process started recording, Unix time.",
        GAUGE,
        &["pid"],
    );
    let mut ops = Family::new(
        "vfscope_vfs_operations_total",
        "VFS calls by op, file kind, database and result.",
        COUNTER,
        &["pid", "op", "file_kind", "db", "result"],
    );
    let mut bytes = Family::new(
        "vfscope_vfs_io_bytes_total",
        "Bytes read and written through the VFS.",
        COUNTER,
        &["pid", "file_kind", "db", "direction"],
    );
    let mut duration = Family::new(
        "vfscope_vfs_operation_duration_seconds",
        "Latency of VFS calls.",
        HISTOGRAM,
        &["pid", "op", "file_kind", "db"],
    );
    let mut transitions = Family::new(
        "vfscope_lock_transitions_total",
        "File lock level changes.",
        COUNTER,
        &["pid", "db", "from", "to"],
    );
    let mut busy = Family::new(
        "vfscope_lock_busy_total",
        "xLock calls answered BUSY, by requested level.",
        COUNTER,
        &["pid", "db", "level"],
    );
    let mut hold = Family::new(
        "vfscope_lock_hold_seconds",
        "Time spent at each lock level.",
        HISTOGRAM,
        &["pid", "db", "level"],
    );
    let mut wait = Family::new(
        "vfscope_lock_wait_seconds",
        "Time from the first BUSY to the granted lock.",
        HISTOGRAM,
        &["pid", "db"],
    );
    let mut abandoned = Family::new(
        "vfscope_lock_waits_abandoned_total",
        "Waits that ended in a release instead of the lock.",
        COUNTER,
        &["pid", "db"],
    );
    let mut shm = Family::new(
        "vfscope_shm_lock_acquisitions_total",
        "WAL-index lock acquisitions by slot and mode.",
        COUNTER,
        &["pid", "db", "slot", "mode"],
    );
    let mut shm_busy = Family::new(
        "vfscope_shm_lock_busy_total",
        "WAL-index lock requests answered BUSY.",
        COUNTER,
        &["pid", "db", "slot"],
    );
    let mut shm_hold = Family::new(
        "vfscope_shm_lock_hold_seconds",
        "How long WAL-index locks were held.",
        HISTOGRAM,
        &["pid", "db", "slot"],
    );
    let mut open = Family::new(
        "vfscope_open_files",
        "Files open now, by kind.",
        GAUGE,
        &["pid", "file_kind", "db"],
    );
    let mut frames = Family::new(
        "vfscope_wal_frames_total",
        "WAL frames written.",
        COUNTER,
        &["pid", "db"],
    );
    let mut commits = Family::new(
        "vfscope_wal_commits_total",
        "WAL frames that commit a transaction.",
        COUNTER,
        &["pid", "db"],
    );
    let mut slow = Family::new(
        "vfscope_slow_calls_total",
        "Calls at or above the slow-call threshold.",
        COUNTER,
        &["pid"],
    );
    let mut injected = Family::new(
        "vfscope_injected_delay_seconds_total",
        "Latency added by the latency model (modelled), by op and file kind.",
        COUNTER,
        &["pid", "op", "file_kind", "db"],
    );
    let mut injected_measured = Family::new(
        "vfscope_injected_delay_measured_seconds_total",
        "Measured latency of the calls the model delayed (call start to return; 0 in virtual mode).",
        COUNTER,
        &["pid", "op", "file_kind", "db"],
    );
    let mut delayed = Family::new(
        "vfscope_injected_delayed_calls_total",
        "Calls the latency model delayed.",
        COUNTER,
        &["pid", "op", "file_kind", "db"],
    );
    let mut faults = Family::new(
        "vfscope_injected_faults_total",
        "Calls that returned an injected error instead of running.",
        COUNTER,
        &["pid", "op", "file_kind", "db"],
    );
    let mut model = Family::new(
        "vfscope_latency_model_info",
        "The active latency model of a process; always 1.",
        GAUGE,
        &["pid", "model", "mode"],
    );
    let mut cache = Family::new(
        "vfscope_model_cache_reads_total",
        "Reads through the latency model's simulated page cache, by result.",
        COUNTER,
        &["pid", "result"],
    );
    let mut requests = Family::new(
        "vfscope_model_requests_total",
        "Requests a request-level scenario (s3vfs) implied, by type.",
        COUNTER,
        &["pid", "request"],
    );
    let mut bill = Family::new(
        "vfscope_model_request_cost_dollars_total",
        "What those requests cost at the model's prices, in US dollars.",
        COUNTER,
        &["pid", "request"],
    );
    let mut lag = Family::new(
        "vfscope_replication_lag_seconds",
        "Replication lag after each commit under async replication.",
        HISTOGRAM,
        &["pid"],
    );
    let mut otlp_exports = Family::new(
        "vfscope_otlp_exports_total",
        "OTLP export requests by signal and result (failed: collector unreachable or refused).",
        COUNTER,
        &["signal", "result"],
    );
    let mut otlp_spans = Family::new(
        "vfscope_otlp_spans_total",
        "Spans by fate: sent, unsampled, dropped (queue full, refused, or overwritten in the segment before export).",
        COUNTER,
        &["outcome"],
    );
    if let Some(o) = &scrape.otlp {
        for (signal, ok, failed) in [
            ("metrics", o.metric_exports, o.metric_failures),
            ("traces", o.span_exports, o.span_failures),
        ] {
            otlp_exports.add(vec![signal.into(), "ok".into()], ok as f64);
            otlp_exports.add(vec![signal.into(), "failed".into()], failed as f64);
        }
        for (outcome, n) in [
            ("sent", o.spans_sent),
            ("unsampled", o.spans_unsampled),
            ("dropped", o.spans_dropped),
        ] {
            otlp_spans.add(vec![outcome.into()], n as f64);
        }
    }
    let mut overflow = Family::new("vfscope_table_overflow_total", "Uses of a bounded table's overflow row (dbs, cells, histograms, open_files) and internal faults.", COUNTER, &["pid", "table"]);

    for s in scrape.live {
        let pid = s.meta.pid.to_string();
        let program = s.meta.program();
        info.add(
            vec![
                pid.clone(),
                program.to_string(),
                s.meta.sqlite_version.clone(),
            ],
            1.0,
        );
        start.add(vec![pid.clone()], s.meta.start_realtime_ns as f64 / 1e9);
        for c in &s.copies {
            let object = c.object.rsplit('/').next().unwrap_or_default();
            let status = match c.status {
                vfscope_segment::CopyStatus::Traced => "traced",
                vfscope_segment::CopyStatus::Unreachable => "unreachable",
            };
            let labels = vec![pid.clone(), c.index.to_string()];
            let info = [
                c.version.clone(),
                object.into(),
                c.access.name().into(),
                status.into(),
            ];
            copy_info.add([labels.clone(), info.to_vec()].concat(), 1.0);
            copy_opens.add(labels, c.opens as f64);
        }
        if let Some(name) = &s.model.active {
            let mode = if s.model.virtual_mode {
                "virtual"
            } else {
                "sleep"
            };
            model.add(vec![pid.clone(), name.clone(), mode.into()], 1.0);
            cache.add(vec![pid.clone(), "hit".into()], s.model.cache_hits as f64);
            for t in &s.model.requests {
                requests.add(vec![pid.clone(), t.name.clone()], t.count as f64);
                bill.add(vec![pid.clone(), t.name.clone()], t.cost());
            }
            cache.add(
                vec![pid.clone(), "miss".into()],
                s.model.cache_misses as f64,
            );
            if s.model.lag.count() > 0 {
                lag.observe(
                    vec![pid.clone()],
                    &s.model.lag,
                    approximate_sum(&s.model.lag),
                );
            }
        }
        // Time of the calls whose cell has no histogram of its own: the sum
        // of their op × kind's fallback histogram.
        let mut unhistogrammed_ns = std::collections::BTreeMap::new();
        for c in &s.cells {
            let db = s.db_label(c.db);
            if c.latency.is_none() {
                *unhistogrammed_ns.entry((c.op, c.kind)).or_insert(0) += c.total_ns;
            }
            let (op, kind) = (c.op.name().to_string(), c.kind.name().to_string());
            if c.delayed + c.faults_injected > 0 {
                let labels = vec![pid.clone(), op.clone(), kind.clone(), db.clone()];
                injected.add(labels.clone(), c.delay_target_ns as f64 / 1e9);
                injected_measured.add(labels.clone(), c.delay_actual_ns as f64 / 1e9);
                delayed.add(labels.clone(), c.delayed as f64);
                faults.add(labels, c.faults_injected as f64);
            }
            for class in ResultClass::ALL {
                let n = c.result(*class);
                if n > 0 {
                    ops.add(
                        vec![
                            pid.clone(),
                            op.clone(),
                            kind.clone(),
                            db.clone(),
                            class.name().to_string(),
                        ],
                        n as f64,
                    );
                }
            }
            let direction = match c.op {
                Op::Read | Op::Fetch => Some("read"),
                Op::Write => Some("write"),
                _ => None,
            };
            if let Some(direction) = direction {
                bytes.add(
                    vec![pid.clone(), kind.clone(), db.clone(), direction.to_string()],
                    c.bytes as f64,
                );
            }
            if let Some(latency) = &c.latency {
                duration.observe(
                    vec![pid.clone(), op, kind, db],
                    latency,
                    c.total_ns as f64 / 1e9,
                );
            }
        }
        // Those calls' latencies, under the overflow row's label: summed
        // over db, every op × kind's histogram counts all its calls.
        for (op, kind, latency) in &s.kind_latency {
            let ns = unhistogrammed_ns.get(&(*op, *kind)).copied().unwrap_or(0);
            duration.observe(
                vec![
                    pid.clone(),
                    op.name().to_string(),
                    kind.name().to_string(),
                    s.db_label(vfscope_segment::DB_OVERFLOW),
                ],
                latency,
                ns as f64 / 1e9,
            );
        }
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
        for shape in &s.shapes {
            let db = s.db_label(shape.db);
            let kind = shape.kind.map_or("other", |k| k.name()).to_string();
            open.add(vec![pid.clone(), kind, db.clone()], shape.open_now() as f64);
            if shape.wal_frames > 0 {
                frames.add(vec![pid.clone(), db.clone()], shape.wal_frames as f64);
                commits.add(vec![pid.clone(), db.clone()], shape.wal_commits as f64);
            }
        }
        slow.add(vec![pid.clone()], s.slow_total as f64);
        let o = &s.overflow;
        for (table, n) in [
            ("dbs", o.dbs),
            ("cells", o.cells),
            ("histograms", o.hists),
            ("open_files", o.open_files),
            ("faults", o.faults),
        ] {
            overflow.add(vec![pid.clone(), table.to_string()], n as f64);
        }
    }
    [
        build_info,
        segments,
        errors,
        info,
        copy_info,
        copy_opens,
        start,
        ops,
        bytes,
        duration,
        transitions,
        busy,
        hold,
        wait,
        abandoned,
        shm,
        shm_busy,
        shm_hold,
        open,
        frames,
        commits,
        slow,
        overflow,
        injected,
        injected_measured,
        delayed,
        faults,
        model,
        cache,
        requests,
        bill,
        lag,
        otlp_exports,
        otlp_spans,
    ]
    .into_iter()
    .chain(crate::findings::families(scrape.live))
    .collect()
}

/// Lock hold and wait times are kept as histograms only; their sum is
/// estimated from bucket midpoints (within 0.4 %).
fn approximate_sum(b: &Buckets) -> f64 {
    b.0.iter()
        .map(|&(i, n)| bucket_midpoint(i as usize) as f64 * n as f64)
        .sum::<f64>()
        / 1e9
}
