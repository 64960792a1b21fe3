//! `vfscope doctor [PID | SEGMENT | DIR | TRACE]`: the findings of a run,
//! worst first (the rules are in the vfscope-doctor crate).

use crate::segments::Filter;
use crate::show::{resolve, Target};
use anyhow::{bail, Context, Result};
use std::path::PathBuf;
use vfscope_doctor::evidence::Segment;
use vfscope_doctor::{diagnose, render, Evidence};
use vfscope_segment::{Snapshot, Transaction};

/// "2 processes (pid 1, 2)".
fn processes(pids: &[String]) -> String {
    format!(
        "{} process{} (pid {})",
        pids.len(),
        if pids.len() == 1 { "" } else { "es" },
        pids.join(", ")
    )
}

pub struct Options {
    pub target: Option<String>,
    pub dir: Option<PathBuf>,
    pub json: Option<PathBuf>,
    /// A latency model to judge the remote risk under (a trace only).
    pub latency: Option<String>,
}

/// A segment read: its snapshot, its transaction ring and how many of
/// the ring's entries were overwritten.
pub type Read = (Snapshot, Vec<Transaction>, u64);

/// The segments `filter` keeps, with their transaction rings, oldest
/// process first; and the first that could not be read.
pub fn segments(paths: &[PathBuf], filter: &Filter) -> (Vec<Read>, Option<(PathBuf, String)>) {
    let (read, unreadable) = crate::segments::read(paths, filter, |r| {
        let ring = r.transactions_since(0);
        (r.snapshot(), ring.entries, ring.lost)
    });
    (read, unreadable.into_iter().next())
}

/// The evidence of segments read.
fn of_read(read: &[Read]) -> Evidence {
    let pids: Vec<String> = read.iter().map(|(s, ..)| s.meta.pid.to_string()).collect();
    let segments: Vec<Segment> = read
        .iter()
        .map(|(snapshot, ring, lost)| Segment {
            snapshot,
            transactions: Some((ring, *lost)),
        })
        .collect();
    Evidence::from_segments(&segments, &processes(&pids))
}

/// The findings of the segments `filter` keeps: their text (with a
/// heading for a report's end) and JSON.
pub fn of_run(paths: &[PathBuf], filter: &Filter) -> (String, serde_json::Value) {
    let (read, _) = segments(paths, filter);
    let evidence = of_read(&read);
    let diagnosis = diagnose(&evidence);
    (
        render::text(&diagnosis, &evidence.source),
        render::json(&diagnosis, &evidence.source),
    )
}

/// The evidence a target holds.
fn evidence(target: Target) -> Result<Evidence> {
    Ok(match target {
        Target::Trace(path) => {
            let trace = vfscope_segment::trace::read_trace(&path)
                .with_context(|| format!("cannot read {}", path.display()))?;
            Evidence::from_trace(&trace, &format!("trace {}", path.display()))
        }
        Target::Segments(paths, filter, dir) => {
            let (read, unreadable) = segments(&paths, &filter);
            if read.is_empty() {
                match (filter.pid, unreadable) {
                    (_, Some((path, why))) => bail!("cannot read {}: {why}", path.display()),
                    (Some(pid), None) => bail!("no segment of pid {pid} in {}", dir.display()),
                    (None, None) => bail!("no vfscope segments in {}", dir.display()),
                }
            }
            of_read(&read)
        }
    })
}

/// The findings a `vfscope run --json` report carries.
fn from_report(path: &std::path::Path, options: &Options) -> Result<()> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
    let report: serde_json::Value =
        serde_json::from_str(&text).with_context(|| format!("{} is not JSON", path.display()))?;
    let findings = &report["findings"];
    if findings["schema"] != "vfscope-doctor/1" {
        bail!(
            "{} holds no findings (a report written before vfscope doctor, or not a `vfscope run --json` report): run vfscope doctor on the run's segments or trace",
            path.display()
        );
    }
    if options.latency.is_some() {
        bail!("--latency needs a trace (`vfscope run --record FILE`), not a report");
    }
    if let Some(out) = &options.json {
        std::fs::write(out, serde_json::to_string_pretty(findings)? + "\n")
            .with_context(|| format!("cannot write {}", out.display()))?;
    }
    print!("{}", render::text_of_json(findings));
    Ok(())
}

pub fn run(options: Options) -> Result<()> {
    if let Some(path) = options
        .target
        .as_deref()
        .map(std::path::Path::new)
        .filter(|p| p.extension().is_some_and(|e| e == "json") && p.is_file())
    {
        return from_report(path, &options);
    }
    let target = resolve(options.target.as_deref(), options.dir)?;
    let trace = match (&target, &options.latency) {
        (Target::Trace(path), Some(_)) => Some(path.clone()),
        (_, Some(_)) => bail!(
            "--latency needs a trace (`vfscope run --record FILE`): the remote risk is a replay of its calls"
        ),
        _ => None,
    };
    let evidence = evidence(target)?;
    let mut diagnosis = diagnose(&evidence);
    if let (Some(path), Some(spec)) = (trace, &options.latency) {
        let model = vfscope_model::load(spec).map_err(|e| anyhow::anyhow!("latency model: {e}"))?;
        let trace = vfscope_segment::trace::read_trace(&path)?;
        let seed = model.seed.unwrap_or(1);
        let p = vfscope_model::replay::replay(&trace, Some(model), seed);
        vfscope_doctor::remote_risk(&p, spec, &mut diagnosis);
    }
    if let Some(path) = &options.json {
        let json = render::json(&diagnosis, &evidence.source);
        std::fs::write(path, serde_json::to_string_pretty(&json)? + "\n")
            .with_context(|| format!("cannot write {}", path.display()))?;
    }
    print!("{}", render::text(&diagnosis, &evidence.source));
    Ok(())
}
