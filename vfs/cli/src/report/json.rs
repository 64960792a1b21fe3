//! The report as JSON. Schema `vfscope-report/1`, documented in the README
//! ("Report JSON"). Fields are only ever added within a schema version.

use super::Report;
use serde::Serialize;
use vfscope_segment::{CopyStatus, LockLevel, ShmSlot};

#[derive(Serialize)]
struct Json<'a> {
    schema: &'static str,
    processes: Vec<Process<'a>>,
    totals: Totals,
    operations: Vec<Operation>,
    locks: Locks,
    wal_index_locks: Vec<ShmLock>,
    databases: Vec<Database<'a>>,
    io_shape: Vec<Shape>,
    slow_threshold_ns: u64,
    slow_calls_total: u64,
    slowest_calls: Vec<SlowCall<'a>>,
    overflow: Overflow,
    /// Calls written to trace files, and dropped (0 without `--record`).
    trace_records: u64,
    trace_dropped: u64,
    /// The databases without a named row, summed.
    other_databases: OtherDatabases,
    notes: Vec<String>,
}

#[derive(Serialize)]
struct OtherDatabases {
    databases: u64,
    calls: u64,
    time_ns: u64,
    bytes_read: u64,
    bytes_written: u64,
}

#[derive(Serialize)]
struct Process<'a> {
    pid: u32,
    command: &'a str,
    sqlite_version: &'a str,
    state: &'static str,
    vfs: Vec<Vfs<'a>>,
    copies: Vec<Copy<'a>>,
    /// The latency model active at the end, `null` when off.
    latency_model: Option<LatencyModel<'a>>,
}

#[derive(Serialize)]
struct LatencyModel<'a> {
    name: &'a str,
    seed: u64,
    mode: &'static str,
    cache_hits: u64,
    cache_misses: u64,
    async_commits: u64,
    lag_ns: Latency,
    /// Requests a request-level scenario implied, by type (`{}` otherwise).
    requests: serde_json::Value,
    bill_usd: serde_json::Value,
}

#[derive(Serialize)]
struct Injected {
    delayed: u64,
    target_ns: u64,
    actual_ns: u64,
    faults: u64,
}

#[derive(Serialize)]
struct Copy<'a> {
    index: u16,
    version: &'a str,
    source_id: &'a str,
    object: &'a str,
    /// traced | unreachable
    status: &'static str,
    access: &'static str,
    note: &'a str,
    calls: u64,
    opens: u64,
}

#[derive(Serialize)]
struct Vfs<'a> {
    name: &'a str,
    parent: &'a str,
}

#[derive(Serialize)]
struct Totals {
    calls: u64,
    errors: u64,
    time_ns: u64,
}

#[derive(Serialize)]
struct Operation {
    op: &'static str,
    file_kind: &'static str,
    calls: u64,
    errors: u64,
    bytes: u64,
    time_ns: u64,
    latency_ns: Latency,
    /// What the latency model did to these calls.
    injected: Injected,
}

#[derive(Serialize)]
struct Latency {
    p50: Option<u64>,
    p99: Option<u64>,
    max: u64,
}

#[derive(Serialize)]
struct Locks {
    transitions: Vec<Transition>,
    busy: Vec<LevelCount>,
    closed_holding: Vec<LevelCount>,
    waits_granted: u64,
    waits_abandoned: u64,
    wait_ns: Latency,
    hold_ns: Vec<LevelLatency>,
}

#[derive(Serialize)]
struct Transition {
    from: &'static str,
    to: &'static str,
    count: u64,
}

#[derive(Serialize)]
struct LevelCount {
    level: &'static str,
    count: u64,
}

#[derive(Serialize)]
struct LevelLatency {
    level: &'static str,
    count: u64,
    p50: Option<u64>,
    p99: Option<u64>,
    max: u64,
}

#[derive(Serialize)]
struct ShmLock {
    slot: &'static str,
    shared: u64,
    exclusive: u64,
    busy: u64,
}

#[derive(Serialize)]
struct Database<'a> {
    name: &'a str,
    path: &'a str,
    calls: u64,
    time_ns: u64,
    bytes_read: u64,
    bytes_written: u64,
    /// Versions of the SQLite copies that opened it.
    sqlite: &'a [String],
}

#[derive(Serialize)]
struct Shape {
    file_kind: &'static str,
    opens: u64,
    closes: u64,
    writes_append: u64,
    writes_sequential: u64,
    writes_random: u64,
    reads_sequential: u64,
    reads_random: u64,
    unaligned_page: u64,
    unaligned_block: u64,
    block_bytes_written: u64,
    block_bytes_read: u64,
    wal_frames: u64,
    wal_commits: u64,
    wal_frame_bytes: u64,
    mmap_fetches: u64,
}

#[derive(Serialize)]
struct SlowCall<'a> {
    pid: u32,
    op: &'static str,
    file_kind: &'static str,
    db: &'a str,
    offset: u64,
    size: u32,
    latency_ns: u64,
    rc: i32,
}

#[derive(Serialize)]
struct Overflow {
    dbs: u64,
    cells: u64,
    histograms: u64,
    open_files: u64,
    internal_faults: u64,
}

fn latency(b: &vfscope_segment::Buckets, max: u64) -> Latency {
    let h = b.to_hdr();
    let q = |q| (!h.is_empty()).then(|| h.value_at_quantile(q).min(max));
    Latency {
        p50: q(0.5),
        p99: q(0.99),
        max,
    }
}

/// Renders the report as pretty-printed JSON.
pub fn render(r: &Report) -> String {
    let l = &r.locks;
    let levels = || LockLevel::ALL.iter().copied();
    let json = Json {
        schema: "vfscope-report/1",
        processes: r
            .processes
            .iter()
            .map(|p| Process {
                pid: p.pid,
                command: &p.command,
                sqlite_version: &p.sqlite_version,
                state: p.state.name(),
                vfs: p
                    .vfs
                    .iter()
                    .map(|(name, parent)| Vfs { name, parent })
                    .collect(),
                copies: p
                    .copies
                    .iter()
                    .map(|c| Copy {
                        index: c.index,
                        version: &c.version,
                        source_id: &c.source_id,
                        object: &c.object,
                        status: match c.status {
                            CopyStatus::Traced => "traced",
                            CopyStatus::Unreachable => "unreachable",
                        },
                        access: c.access.name(),
                        note: &c.note,
                        calls: c.calls,
                        opens: c.opens,
                    })
                    .collect(),
                latency_model: p.model.active.as_deref().map(|name| {
                    let lag = p.model.lag.to_hdr();
                    let (requests, bill_usd) = crate::format::requests_json(&p.model.requests);
                    LatencyModel {
                        name,
                        seed: p.model.seed,
                        mode: if p.model.virtual_mode {
                            "virtual"
                        } else {
                            "sleep"
                        },
                        cache_hits: p.model.cache_hits,
                        cache_misses: p.model.cache_misses,
                        async_commits: p.model.lag.count(),
                        requests,
                        bill_usd,
                        lag_ns: Latency {
                            p50: (!lag.is_empty()).then(|| lag.value_at_quantile(0.5)),
                            p99: (!lag.is_empty()).then(|| lag.value_at_quantile(0.99)),
                            max: lag.max(),
                        },
                    }
                }),
            })
            .collect(),
        totals: Totals {
            calls: r.calls(),
            errors: r.operations.iter().map(|o| o.totals.errors).sum(),
            time_ns: r.total_ns(),
        },
        operations: r
            .operations
            .iter()
            .map(|o| Operation {
                op: o.op.name(),
                file_kind: o.kind.name(),
                calls: o.totals.calls,
                errors: o.totals.errors,
                bytes: o.totals.bytes,
                time_ns: o.totals.time_ns,
                latency_ns: Latency {
                    p50: o.quantile(0.5),
                    p99: o.quantile(0.99),
                    max: o.totals.max_ns,
                },
                injected: Injected {
                    delayed: o.totals.delayed,
                    target_ns: o.totals.delay_target_ns,
                    actual_ns: o.totals.delay_actual_ns,
                    faults: o.totals.faults_injected,
                },
            })
            .collect(),
        locks: Locks {
            transitions: levels()
                .flat_map(|from| levels().map(move |to| (from, to)))
                .filter(|&(from, to)| l.transition(from, to) > 0)
                .map(|(from, to)| Transition {
                    from: from.name(),
                    to: to.name(),
                    count: l.transition(from, to),
                })
                .collect(),
            busy: levels()
                .filter(|v| l.busy[v.index()] > 0)
                .map(|v| LevelCount {
                    level: v.name(),
                    count: l.busy[v.index()],
                })
                .collect(),
            closed_holding: levels()
                .filter(|v| l.closed_holding[v.index()] > 0)
                .map(|v| LevelCount {
                    level: v.name(),
                    count: l.closed_holding[v.index()],
                })
                .collect(),
            waits_granted: l.wait.count(),
            waits_abandoned: l.waits_abandoned,
            wait_ns: latency(&l.wait, l.wait.to_hdr().max()),
            hold_ns: levels()
                .filter(|v| l.hold[v.index()].count() > 0)
                .map(|v| {
                    let b = &l.hold[v.index()];
                    let lat = latency(b, b.to_hdr().max());
                    LevelLatency {
                        level: v.name(),
                        count: b.count(),
                        p50: lat.p50,
                        p99: lat.p99,
                        max: lat.max,
                    }
                })
                .collect(),
        },
        wal_index_locks: ShmSlot::ALL
            .iter()
            .map(|s| ShmLock {
                slot: s.name(),
                shared: l.shm_acquired[s.index()][0],
                exclusive: l.shm_acquired[s.index()][1],
                busy: l.shm_busy[s.index()],
            })
            .filter(|s| s.shared + s.exclusive + s.busy > 0)
            .collect(),
        databases: r
            .databases
            .iter()
            .map(|d| Database {
                name: &d.name,
                path: &d.path,
                calls: d.calls,
                time_ns: d.total_ns,
                bytes_read: d.bytes_read,
                bytes_written: d.bytes_written,
                sqlite: &d.sqlite,
            })
            .collect(),
        io_shape: r
            .shapes
            .iter()
            .map(|s| Shape {
                file_kind: s.kind.map_or("other", |k| k.name()),
                opens: s.opens,
                closes: s.closes,
                writes_append: s.writes_append,
                writes_sequential: s.writes_sequential,
                writes_random: s.writes_random,
                reads_sequential: s.reads_sequential,
                reads_random: s.reads_random,
                unaligned_page: s.unaligned_page,
                unaligned_block: s.unaligned_block,
                block_bytes_written: s.block_bytes_written,
                block_bytes_read: s.block_bytes_read,
                wal_frames: s.wal_frames,
                wal_commits: s.wal_commits,
                wal_frame_bytes: s.wal_frame_bytes,
                mmap_fetches: s.fetch_mapped,
            })
            .collect(),
        slow_threshold_ns: r.slow_threshold_ns,
        slow_calls_total: r.slow_total,
        slowest_calls: r
            .slowest
            .iter()
            .map(|s| SlowCall {
                pid: s.pid,
                op: s.call.op.name(),
                file_kind: s.call.kind.name(),
                db: &s.db,
                offset: s.call.offset,
                size: s.call.size,
                latency_ns: s.call.latency_ns,
                rc: s.call.rc,
            })
            .collect(),
        overflow: Overflow {
            dbs: r.overflow.dbs,
            cells: r.overflow.cells,
            histograms: r.overflow.hists,
            open_files: r.overflow.open_files,
            internal_faults: r.overflow.faults,
        },
        trace_records: r.trace_records,
        trace_dropped: r.trace_dropped,
        other_databases: OtherDatabases {
            databases: r.other_dbs,
            calls: r.other.calls,
            time_ns: r.other.total_ns,
            bytes_read: r.other.bytes_read,
            bytes_written: r.other.bytes_written,
        },
        notes: r
            .empty_note()
            .into_iter()
            .chain(r.copy_notes())
            .chain(
                r.unreadable
                    .iter()
                    .map(|(p, why)| format!("skipped {}: {why}", p.display())),
            )
            .collect(),
    };
    serde_json::to_string_pretty(&json).expect("the report serialises") + "\n"
}
