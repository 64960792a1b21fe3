//! `vfscope replay FILE --latency MODEL [--json FILE]` and `vfscope compare
//! FILE --latency A,B,C`: what a recorded run would take under other
//! models, predicted in virtual time (see `vfscope_model::replay`).

use crate::format::{duration_ns, requests_json, requests_line};
use anyhow::{Context, Result};
use serde_json::json;
use std::fmt::Write as _;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use vfscope_model::replay::{replay, spread, Prediction, Spread};

/// Seeds a prediction is replayed with when its model draws delays.
const SPREAD_RUNS: usize = 20;
use vfscope_segment::trace::{read_trace, Trace};

/// Whether `path` is a trace file (by its magic).
pub fn is_trace_file(path: &Path) -> bool {
    let mut magic = [0u8; 8];
    std::fs::File::open(path)
        .and_then(|mut f| f.read_exact(&mut magic))
        .is_ok_and(|()| vfscope_segment::trace::is_trace(&magic))
}

/// One line about a trace: whose, how many calls, whether it is whole.
pub fn describe(path: &Path, trace: &Trace) -> String {
    let mut line = format!(
        "trace {}: pid {}, SQLite {}, {} calls",
        path.display(),
        trace.header.pid,
        trace.header.sqlite_version,
        trace.calls.len()
    );
    match trace.end {
        Some(end) if end.dropped > 0 => {
            let _ = write!(
                line,
                ", {} calls dropped while recording (the writer fell behind)",
                end.dropped
            );
        }
        Some(_) => {}
        None => line.push_str(", cut short (no end record: the process was killed?)"),
    }
    line
}

/// A model by name for replay: `off`/`none` is no model.
fn model(spec: &str) -> Result<Option<vfscope_model::Model>> {
    if spec == "off" || spec == "none" {
        return Ok(None);
    }
    vfscope_model::load(spec)
        .map(Some)
        .map_err(|e| anyhow::anyhow!("latency model: {e}"))
}

fn percent(p: &Prediction) -> f64 {
    (p.predicted_ns as f64 / p.recorded_ns.max(1) as f64 - 1.0) * 100.0
}

fn signed(ns: i64) -> String {
    if ns < 0 {
        format!("-{}", duration_ns(ns.unsigned_abs()))
    } else {
        format!("+{}", duration_ns(ns as u64))
    }
}

/// The trace at `path`, only `database`'s calls when one is named.
fn load_trace(path: &Path, database: Option<&str>) -> Result<Trace> {
    let trace = read_trace(path).with_context(|| format!("cannot read {}", path.display()))?;
    match database {
        None => Ok(trace),
        Some(name) => trace
            .only_database(name)
            .map_err(|why| anyhow::anyhow!("{}: {why}", path.display())),
    }
}

pub fn run_replay(
    trace_path: &Path,
    database: Option<&str>,
    spec: &str,
    json_out: Option<PathBuf>,
) -> Result<()> {
    let trace = load_trace(trace_path, database)?;
    let model = model(spec)?;
    let seed = model.as_ref().and_then(|m| m.seed).unwrap_or(1);
    let range = model
        .as_ref()
        .and_then(|m| spread(&trace, m, seed, SPREAD_RUNS));
    let p = replay(&trace, model, seed);
    let mut out = String::new();
    let _ = writeln!(out, "{}", describe(trace_path, &trace));
    let _ = writeln!(out, "model {spec} (seed {seed}), {} threads", p.threads);
    let _ = writeln!(
        out,
        "predicted {} against {} recorded ({}, {:+.1} %)",
        duration_ns(p.predicted_ns),
        duration_ns(p.recorded_ns),
        signed(p.predicted_ns as i64 - p.recorded_ns as i64),
        percent(&p)
    );
    if let Some(r) = &range {
        let _ = writeln!(out, "{}", range_line(r));
    }
    if p.recorded_delayed > 0 {
        let _ = writeln!(out, "note: {} calls were delayed by a model while recording; replay counts their local time only", p.recorded_delayed);
    }
    if p.faults > 0 {
        let _ = writeln!(out, "note: the model fails {} calls; replay keeps their recorded time (the app's reaction cannot be replayed)", p.faults);
    }
    let mut rows: Vec<_> = p
        .by_op
        .iter()
        .filter(|(_, a)| a.added_ns != 0 || a.charged > 0)
        .collect();
    rows.sort_by_key(|(_, a)| std::cmp::Reverse(a.added_ns));
    if !rows.is_empty() {
        let _ = writeln!(
            out,
            "\n{:<16} {:<14} {:>8} {:>8} {:>12} {:>10}",
            "op", "file_kind", "calls", "charged", "added", "per call"
        );
        for ((op, kind), a) in &rows {
            let _ = writeln!(
                out,
                "{:<16} {:<14} {:>8} {:>8} {:>12} {:>10}",
                op.name(),
                kind.name(),
                a.calls,
                a.charged,
                signed(a.added_ns),
                signed(a.added_ns / a.calls.max(1) as i64)
            );
        }
    }
    let mut top: Vec<_> = p.by_db.iter().filter(|(_, a)| a.added_ns > 0).collect();
    top.sort_by_key(|(_, a)| std::cmp::Reverse(a.added_ns));
    if !top.is_empty() {
        let _ = writeln!(out, "\ntop contributors:");
        for ((op, kind, db), a) in top.iter().take(5) {
            let _ = writeln!(
                out,
                "  {:>12}  {} on {} of {} ({} calls)",
                signed(a.added_ns),
                op.name(),
                kind.name(),
                trace.db_label(*db),
                a.charged
            );
        }
    }
    if let Some(line) = requests_line(&p.requests) {
        let _ = writeln!(out, "\n{line}");
    }
    if p.cache_hits + p.cache_misses > 0 {
        let _ = writeln!(
            out,
            "\npage cache: {} hits, {} misses",
            p.cache_hits, p.cache_misses
        );
    }
    if let (Some(p50), Some(p99)) = (p.lag_quantile(0.5), p.lag_quantile(0.99)) {
        let _ = writeln!(
            out,
            "replication lag (async): p50 {} p99 {} max {} over {} commits",
            duration_ns(p50),
            duration_ns(p99),
            duration_ns(p.lag_quantile(1.0).unwrap_or(0)),
            p.lag_commits()
        );
        if let Some((lo, hi)) = p.lag_p99_by_phase {
            let _ = writeln!(
                out,
                "  one run's p99: {} to {}, by the replicator's ticker phase (a trace cannot show it)",
                duration_ns(lo),
                duration_ns(hi)
            );
        }
    }
    if p.uploads > 0 {
        let _ = writeln!(
            out,
            "replication uploads: {} files, {} in all ({} a page: {})",
            p.uploads,
            crate::format::bytes(p.uploaded_bytes),
            crate::format::bytes(p.page_bytes as u64),
            match p.lz4_samples {
                None => "the model's size".to_string(),
                Some(0) =>
                    "whole: the trace has no sampled WAL pages (recorded before trace version 3?)"
                        .to_string(),
                Some(n) => format!("the LZ4 size of {n} sampled WAL pages, and framing"),
            }
        );
    }
    std::io::stdout().write_all(out.as_bytes())?;
    if let Some(path) = json_out {
        std::fs::write(
            &path,
            serde_json::to_string_pretty(&prediction_json(spec, seed, &trace, &p, range))?,
        )?;
    }
    Ok(())
}

/// The spread of a prediction over seeds, as one line.
fn range_line(r: &Spread) -> String {
    format!(
        "range over {} seeds (the model draws its delays from distributions): {} to {}",
        r.runs,
        duration_ns(r.min_ns),
        duration_ns(r.max_ns)
    )
}

fn prediction_json(
    spec: &str,
    seed: u64,
    trace: &Trace,
    p: &Prediction,
    range: Option<Spread>,
) -> serde_json::Value {
    let (requests, bill) = requests_json(&p.requests);
    json!({
        "predicted_range_ns": range.map(|r| [r.min_ns, r.max_ns]),
        "range_seeds": range.map(|r| r.runs),
        "requests": requests,
        "bill_usd": bill,
        "schema": "vfscope-replay/1",
        "model": spec,
        "seed": seed,
        "pid": trace.header.pid,
        "calls": p.calls,
        "threads": p.threads,
        "recorded_ns": p.recorded_ns,
        "predicted_ns": p.predicted_ns,
        "dropped": trace.end.map_or(0, |e| e.dropped),
        "complete": trace.end.is_some(),
        "faults": p.faults,
        "cache": { "hits": p.cache_hits, "misses": p.cache_misses },
        "replication": {
            "uploads": p.uploads,
            "bytes": p.uploaded_bytes,
            "page_bytes": p.page_bytes,
            "lz4_samples": p.lz4_samples,
        },
        "lag_ns": {
            "commits": p.lag_commits(),
            "p50": p.lag_quantile(0.5),
            "p99": p.lag_quantile(0.99),
            "max": p.lag_quantile(1.0),
            "p99_by_phase": p.lag_p99_by_phase.map(|(lo, hi)| [lo, hi]),
        },
        "operations": p.by_op.iter().map(|((op, kind), a)| json!({
            "op": op.name(),
            "file_kind": kind.name(),
            "calls": a.calls,
            "charged": a.charged,
            "added_ns": a.added_ns,
        })).collect::<Vec<_>>(),
    })
}

pub fn run_compare(
    trace_path: &Path,
    database: Option<&str>,
    specs: &[String],
    json_out: Option<PathBuf>,
) -> Result<()> {
    let trace = load_trace(trace_path, database)?;
    let mut out = format!("{}\n\n", describe(trace_path, &trace));
    let _ = writeln!(
        out,
        "{:<18} {:>12} {:>12} {:>9} {:>12} {:>12}",
        "model", "predicted", "added", "change", "lag p50", "lag p99"
    );
    let mut bills = String::new();
    let mut rows = Vec::new();
    for spec in specs {
        let model = model(spec)?;
        let seed = model.as_ref().and_then(|m| m.seed).unwrap_or(1);
        let range = model
            .as_ref()
            .and_then(|m| spread(&trace, m, seed, SPREAD_RUNS));
        let p = replay(&trace, model, seed);
        let lag = |q| p.lag_quantile(q).map_or("-".to_string(), duration_ns);
        let _ = writeln!(
            out,
            "{:<18} {:>12} {:>12} {:>8.1}% {:>12} {:>12}",
            spec,
            duration_ns(p.predicted_ns),
            signed(p.predicted_ns as i64 - p.recorded_ns as i64),
            percent(&p),
            lag(0.5),
            lag(0.99)
        );
        if let Some(line) = requests_line(&p.requests) {
            let _ = writeln!(bills, "{spec}: {line}");
        }
        if let Some(r) = &range {
            let _ = writeln!(bills, "{spec}: {}", range_line(r));
        }
        rows.push(prediction_json(spec, seed, &trace, &p, range));
    }
    if !bills.is_empty() {
        let _ = write!(out, "\n{bills}");
    }
    let _ = writeln!(
        out,
        "\nrecorded: {}",
        duration_ns(replay(&trace, None, 1).recorded_ns)
    );
    std::io::stdout().write_all(out.as_bytes())?;
    if let Some(path) = json_out {
        std::fs::write(
            &path,
            serde_json::to_string_pretty(
                &json!({ "schema": "vfscope-compare/1", "models": rows }),
            )?,
        )?;
    }
    Ok(())
}
