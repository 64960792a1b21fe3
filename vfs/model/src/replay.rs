//! What-if replay: a recorded trace run through a model in virtual time.
//!
//! Per thread, the gaps between its calls are kept as the app's own time;
//! each call's latency becomes what the model makes it: a modelled latency
//! is a deadline from the call's start (as live), so a call costs
//! max(its local latency, the modelled one). The prediction is the
//! recorded wall time plus the largest per-thread shift. What replay cannot
//! know: how threads and processes would wait on each other differently
//! (lock waits stay as recorded), and how the app would react to an
//! injected error (such calls are counted and keep their recorded time).

use crate::engine::{Call, Engine};
use crate::model::Model;
use std::collections::{BTreeMap, HashMap};
use vfscope_segment::trace::{Trace, TracedCall};
use vfscope_segment::{FileKind, LockLevel, Op, RequestTally};

/// Added time of one op on one file kind (or one database).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Added {
    pub calls: u64,
    /// Calls the model gave a latency to.
    pub charged: u64,
    /// Time added over the recorded latency (negative: a faster model).
    pub added_ns: i64,
}

/// A replay's result.
#[derive(Clone, Debug, Default)]
pub struct Prediction {
    pub recorded_ns: u64,
    pub predicted_ns: u64,
    pub calls: u64,
    pub threads: usize,
    pub by_op: BTreeMap<(Op, FileKind), Added>,
    pub by_db: BTreeMap<(Op, FileKind, u16), Added>,
    /// Replication lag of each async commit (for `[replicate]`, of each
    /// commit under each of the ticker phases pooled).
    pub lag_ns: Vec<u64>,
    /// Injected errors the model returned (replay keeps those calls'
    /// recorded time: the app's reaction cannot be replayed).
    pub faults: u64,
    /// Calls the recording itself delayed (a model was active then).
    pub recorded_delayed: u64,
    pub cache_hits: u64,
    pub cache_misses: u64,
    /// Requests a request-level scenario implied, by type, in the model's
    /// order (empty without `[remote]`).
    pub requests: Vec<RequestTally>,
    /// Over the calls the model charged: their recorded (local) time, and
    /// the time the model gave them. For a recording of the real remote
    /// system, the difference is what the model leaves out (its client).
    pub charged_recorded_ns: u64,
    pub charged_model_ns: u64,
    /// `[replicate]`: the files uploaded and their bytes (their requests
    /// are in `requests`, each commit's lag in `lag_ns`).
    pub uploads: u64,
    pub uploaded_bytes: u64,
    /// Bytes an uploaded page counted, and for an `lz4` page size the
    /// sampled WAL pages that said what they compress to (`Some(0)`: none;
    /// the page counted whole).
    pub page_bytes: f64,
    pub lz4_samples: Option<u64>,
    /// Lag samples per commit (the ticker phases `[replicate]` pools; 0 or
    /// 1: one).
    pub lag_phases: usize,
    /// `[replicate]`: the lowest and highest p99 lag of one ticker phase
    /// (one run sees one phase).
    pub lag_p99_by_phase: Option<(u64, u64)>,
}

impl Prediction {
    /// The commits the lags are of.
    pub fn lag_commits(&self) -> u64 {
        (self.lag_ns.len() / self.lag_phases.max(1)) as u64
    }

    /// A quantile of the replication lag.
    pub fn lag_quantile(&self, q: f64) -> Option<u64> {
        let mut v = self.lag_ns.clone();
        v.sort_unstable();
        crate::replicate::quantile(&v, q)
    }
}

/// The local latency of a recorded call: what it took without the model
/// the recording ran under (a delayed call's latency is its deadline).
fn local_ns(c: &TracedCall) -> u64 {
    if c.delay_ns > 0 {
        c.latency_ns.saturating_sub(c.delay_ns)
    } else {
        c.latency_ns
    }
}

/// The page size the trace's database reads suggest.
fn page_size(trace: &Trace) -> u32 {
    let mut sizes: HashMap<u32, u64> = HashMap::new();
    for c in &trace.calls {
        if c.op == Op::Read
            && c.kind == FileKind::MainDb
            && c.size >= 512
            && c.size.is_power_of_two()
        {
            *sizes.entry(c.size).or_default() += 1;
        }
    }
    sizes
        .into_iter()
        .max_by_key(|&(_, n)| n)
        .map_or(4096, |(s, _)| s)
}

/// `[replicate]`: the replication of the recorded commits, into `p`.
fn replicate(
    p: &mut Prediction,
    calls: &[&TracedCall],
    (start, end): (u64, u64),
    trace: &Trace,
    engine: &mut Engine,
) {
    let (model, rng) = engine.model_and_rng();
    let (Some(r), Some(remote)) = (&model.replicate, &model.remote) else {
        return;
    };
    let offset = trace.header.start_realtime_ns as i64 - trace.header.start_monotonic_ns as i64;
    let out = r.replay(calls, (start, end, offset), remote, rng);
    for (tally, n) in p.requests.iter_mut().zip(out.requests) {
        tally.count += n;
    }
    p.lag_ns.extend(out.lag_ns);
    p.lag_p99_by_phase = out.p99_by_phase;
    p.lag_phases = crate::replicate::PHASES;
    p.uploads = out.uploads;
    p.uploaded_bytes = out.bytes;
    (p.page_bytes, p.lz4_samples) = (out.page_bytes, out.lz4_samples);
}

/// Replays `trace` through `model` (`None`: no model, which reproduces the
/// recording).
pub fn replay(trace: &Trace, model: Option<Model>, seed: u64) -> Prediction {
    let mut calls: Vec<&TracedCall> = trace.calls.iter().collect();
    calls.sort_by_key(|c| c.start_ns);
    let first = calls.first().map_or(0, |c| c.start_ns);
    // The process started recording before its first call.
    let start = if calls.is_empty() {
        trace.header.start_monotonic_ns
    } else {
        trace.header.start_monotonic_ns.min(first)
    };
    let last_end = calls.iter().map(|c| c.end_ns()).max().unwrap_or(start);
    let end = trace.end.map_or(last_end, |e| e.end_ns.max(last_end));
    let requests: Vec<RequestTally> = model
        .iter()
        .flat_map(|m| m.remote.iter().flat_map(|r| &r.requests))
        .map(|t| RequestTally {
            name: t.name.clone(),
            price_per_1000: t.price_per_1000,
            count: 0,
        })
        .collect();
    let mut engine = model.map(|m| Engine::new(m, seed, start));
    let page = page_size(trace);
    let mut p = Prediction {
        recorded_ns: end.saturating_sub(start),
        calls: calls.len() as u64,
        requests,
        ..Prediction::default()
    };
    // Per thread: how far its virtual clock is ahead of the recording.
    let mut shift: HashMap<u32, i64> = HashMap::new();
    // Lock level per thread and database, for leases.
    let mut levels: HashMap<(u32, u16), LockLevel> = HashMap::new();
    let calls_by_start = calls.clone();
    for c in calls {
        let local = local_ns(c);
        p.recorded_delayed += (c.delay_ns > 0) as u64;
        let ahead = shift.entry(c.tid).or_insert(0);
        let mut latency = local;
        let mut charged = false;
        if let Some(engine) = engine.as_mut() {
            let lock = match c.op {
                Op::Lock | Op::Unlock => {
                    let level = levels.entry((c.tid, c.db)).or_insert(LockLevel::None);
                    let to = LockLevel::from_index(c.offset as usize).unwrap_or(LockLevel::None);
                    let from = *level;
                    if c.rc == 0 {
                        *level = to;
                    }
                    Some((from, to))
                }
                _ => None,
            };
            // The trace's offset of a file size is the size it returned (0
            // in traces written before layout 8: unknown). Replay knows it
            // before the call; live, the size is learned after it.
            if c.op == Op::FileSize && c.rc == 0 && c.offset > 0 {
                engine.observe_size(c.db, c.kind, c.offset);
            }
            let d = engine.decide(&Call {
                op: c.op,
                kind: c.kind,
                db: c.db,
                offset: c.offset,
                amount: c.size as u64,
                page_size: page,
                lock,
                now_ns: (c.start_ns as i64 + *ahead).max(0) as u64,
                frame: c.frame,
            });
            match d.cache_hit {
                Some(true) => p.cache_hits += 1,
                Some(false) => p.cache_misses += 1,
                None => {}
            }
            if let Some(lag) = d.lag_ns {
                p.lag_ns.push(lag);
            }
            for (tally, &n) in p.requests.iter_mut().zip(&d.requests) {
                tally.count += n as u64;
            }

            if d.fault.is_some() {
                p.faults += 1;
            } else if d.delay_ns > 0 {
                charged = true;
                latency = local.max(d.delay_ns);
                p.charged_recorded_ns += local;
                p.charged_model_ns += d.delay_ns;
            }
        }
        let added = latency as i64 - c.latency_ns as i64;
        *ahead += added;
        for entry in [
            p.by_op.entry((c.op, c.kind)).or_default(),
            p.by_db.entry((c.op, c.kind, c.db)).or_default(),
        ] {
            entry.calls += 1;
            entry.charged += charged as u64;
            entry.added_ns += added;
        }
    }
    if let Some(engine) = engine.as_mut() {
        replicate(&mut p, &calls_by_start, (start, end), trace, engine);
    }
    p.threads = shift.len();
    let longest = shift.values().copied().max().unwrap_or(0);
    p.predicted_ns = (p.recorded_ns as i64 + longest).max(0) as u64;
    // Background polls, over the connections' open time as predicted.
    if let Some(engine) = engine.as_ref() {
        let polls = engine.polls((end as i64 + longest).max(0) as u64);
        for (tally, &n) in p.requests.iter_mut().zip(&polls) {
            tally.count += n as u64;
        }
    }
    p
}

/// How far a prediction moves with the seed: a model that draws delays
/// from distributions (measured tails, random faults) predicts another
/// total with another seed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Spread {
    pub runs: usize,
    pub min_ns: u64,
    pub max_ns: u64,
}

/// Replays `trace` through `model` with `runs` seeds from `seed` on; None
/// when two seeds predict the same (nothing in the model is drawn).
pub fn spread(trace: &Trace, model: &Model, seed: u64, runs: usize) -> Option<Spread> {
    if model.seed.is_some() || runs < 2 {
        return None;
    }
    let total = |s: u64| replay(trace, Some(model.clone()), s).predicted_ns;
    let first = total(seed);
    if total(seed.wrapping_add(1)) == first {
        return None;
    }
    let all: Vec<u64> = (0..runs as u64)
        .map(|i| total(seed.wrapping_add(i)))
        .collect();
    Some(Spread {
        runs,
        min_ns: *all.iter().min().expect("runs >= 2"),
        max_ns: *all.iter().max().expect("runs >= 2"),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::spec::parse;
    use vfscope_segment::trace::{TraceEnd, TraceHeader};

    fn call(tid: u32, start_ns: u64, latency_ns: u64, op: Op, kind: FileKind) -> TracedCall {
        TracedCall {
            start_ns,
            latency_ns,
            offset: 0,
            delay_ns: 0,
            size: 4096,
            rc: 0,
            tid,
            op,
            kind,
            db: 0,
            frame: None,
            lz4_size: None,
        }
    }

    fn trace(calls: Vec<TracedCall>, end_ns: u64) -> Trace {
        Trace {
            header: TraceHeader {
                pid: 1,
                start_realtime_ns: 0,
                start_monotonic_ns: 1_000,
                sqlite_version: "3.40.1".into(),
            },
            calls,
            dbs: vec![(0, "/d/app.db".into())],
            end: Some(TraceEnd {
                end_ns,
                written: 0,
                dropped: 0,
            }),
        }
    }

    #[test]
    fn a_drawn_model_predicts_a_range_and_a_fixed_one_does_not() {
        let calls = (0..200)
            .map(|i| call(1, 2_000 + i * 1_000, 100, Op::Read, FileKind::MainDb))
            .collect();
        let t = trace(calls, 1_000_000);
        let rule = |delay: &str| {
            parse(
                "m",
                &format!("[[rule]]\nops = [\"read\"]\ndelay = {delay}\n"),
            )
            .unwrap()
        };
        let fixed = rule("{ dist = \"fixed\", value = \"1ms\" }");
        assert_eq!(spread(&t, &fixed, 1, 20), None);
        let drawn = rule("{ dist = \"lognormal\", p50 = \"1ms\", p99 = \"10ms\" }");
        let r = spread(&t, &drawn, 1, 20).unwrap();
        assert_eq!(r.runs, 20);
        let one = replay(&t, Some(drawn.clone()), 1).predicted_ns;
        assert!(
            r.min_ns < r.max_ns && (r.min_ns..=r.max_ns).contains(&one),
            "{r:?} {one}"
        );
        // A model that fixes its seed predicts one total.
        let mut seeded = drawn;
        seeded.seed = Some(3);
        assert_eq!(spread(&t, &seeded, 1, 20), None);
    }

    #[test]
    fn no_model_reproduces_the_recording() {
        let t = trace(
            vec![
                call(1, 2_000, 500, Op::Read, FileKind::MainDb),
                call(2, 2_100, 700, Op::Write, FileKind::Wal),
                call(1, 5_000, 300, Op::Sync, FileKind::Wal),
            ],
            9_000,
        );
        let p = replay(&t, None, 1);
        assert_eq!(
            (p.recorded_ns, p.predicted_ns, p.threads),
            (8_000, 8_000, 2)
        );
    }

    #[test]
    fn modelled_latency_is_a_deadline_and_threads_shift_apart() {
        let t = trace(
            vec![
                call(1, 2_000, 500, Op::Sync, FileKind::Wal),
                call(1, 5_000, 300, Op::Sync, FileKind::Wal),
                call(2, 3_000, 5_000, Op::Read, FileKind::MainDb),
            ],
            20_000,
        );
        let model = parse(
            "m",
            "[[rule]]\nops = [\"sync\"]\ndelay = { dist = \"fixed\", value = \"1us\" }\n",
        )
        .unwrap();
        let p = replay(&t, Some(model), 1);
        // Thread 1: each sync becomes 1000 ns (+500, +700); thread 2 as is.
        assert_eq!(p.predicted_ns, 19_000 + 1_200);
        let sync = &p.by_op[&(Op::Sync, FileKind::Wal)];
        assert_eq!((sync.calls, sync.charged, sync.added_ns), (2, 2, 1_200));
        assert_eq!(p.by_op[&(Op::Read, FileKind::MainDb)].charged, 0);
    }
}
