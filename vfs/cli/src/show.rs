//! `vfscope report [PID | SEGMENT | DIR]`: the run report for a running
//! process, a kept segment, or every segment of a directory.

use crate::segments::{self, Filter};
use anyhow::{bail, Result};
use std::path::PathBuf;

/// Options of `vfscope report`.
#[derive(Default)]
pub struct Options {
    pub dir: Option<PathBuf>,
    pub json: Option<PathBuf>,
    pub target: Option<String>,
}

/// The report of a trace file: the calls it holds, summed like a segment.
fn trace_report(path: &std::path::Path, json: Option<PathBuf>) -> Result<()> {
    let trace = vfscope_segment::trace::read_trace(path)?;
    let snapshot = trace.snapshot_until(u64::MAX, &format!("(trace {})", path.display()));
    eprintln!("{}", crate::replay::describe(path, &trace));
    let report =
        crate::report::Report::new(&[(snapshot, vfscope_segment::Liveness::Exited)], Vec::new());
    print!("{}", crate::report::text::render(&report));
    if let Some(json) = json {
        std::fs::write(&json, crate::report::json::render(&report))?;
    }
    Ok(())
}

/// What a `[PID | SEGMENT | DIR | TRACE]` argument names.
pub enum Target {
    Trace(PathBuf),
    /// Segment files, the filter to apply, and the directory (for errors).
    Segments(Vec<PathBuf>, Filter, PathBuf),
}

/// Resolves `target` (none: every segment of `dir` or the default one).
pub fn resolve(target: Option<&str>, dir: Option<PathBuf>) -> Result<Target> {
    let dir = match dir {
        Some(dir) => dir,
        None => vfscope_segment::default_dir()?,
    };
    let mut filter = Filter::default();
    let paths = match target {
        Some(pid) if !pid.is_empty() && pid.bytes().all(|b| b.is_ascii_digit()) => {
            filter.pid = Some(pid.parse()?);
            segments::in_dir(&dir)?
        }
        Some(path) => {
            let path = PathBuf::from(path);
            if path.is_dir() {
                segments::in_dir(&path)?
            } else if crate::replay::is_trace_file(&path) {
                return Ok(Target::Trace(path));
            } else if path.exists() {
                vec![path]
            } else {
                bail!(
                    "{} is neither a pid, a segment file, a directory nor a trace",
                    path.display()
                );
            }
        }
        None => segments::in_dir(&dir)?,
    };
    Ok(Target::Segments(paths, filter, dir))
}

pub fn run(options: Options) -> Result<()> {
    let (paths, filter, dir) = match resolve(options.target.as_deref(), options.dir)? {
        Target::Trace(path) => return trace_report(&path, options.json),
        Target::Segments(paths, filter, dir) => (paths, filter, dir),
    };
    let report = segments::report(&paths, &filter);
    if report.processes.is_empty() && report.unreadable.is_empty() {
        match filter.pid {
            Some(pid) => bail!("no segment of pid {pid} in {}", dir.display()),
            None => bail!("no vfscope segments found"),
        }
    }
    print!("{}", crate::report::text::render(&report));
    if let Some(path) = options.json {
        std::fs::write(&path, crate::report::json::render(&report))?;
    }
    Ok(())
}
