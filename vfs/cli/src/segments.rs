//! Reading a set of segments into a report.

use crate::report::Report;
use std::path::{Path, PathBuf};
use vfscope_segment::{ErrorKind, SegmentReader};

/// Which segments of a directory to read.
#[derive(Default)]
pub struct Filter {
    /// Only this process.
    pub pid: Option<u32>,
    /// Only processes started at or after this CLOCK_REALTIME instant.
    pub since_ns: Option<u64>,
}

/// Reads `paths` (segment files) into one report. Other users' files are
/// ignored; files that cannot be read are listed in the report.
pub fn report(paths: &[PathBuf], filter: &Filter) -> Report {
    let (snapshots, unreadable) = read(paths, filter, |r| (r.snapshot(), r.liveness()));
    Report::new(&snapshots, unreadable)
}

/// `take` of each segment `filter` keeps, oldest process first, and the
/// files that could not be read (other users' are left out).
pub fn read<T>(
    paths: &[PathBuf],
    filter: &Filter,
    take: impl Fn(&SegmentReader) -> T,
) -> (Vec<T>, Vec<(PathBuf, String)>) {
    let mut kept = Vec::new();
    let mut unreadable = Vec::new();
    for path in paths {
        match SegmentReader::open(path) {
            Ok(reader) => {
                let meta = reader.meta();
                if filter.pid.is_some_and(|pid| pid != meta.pid)
                    || filter
                        .since_ns
                        .is_some_and(|since| meta.start_realtime_ns < since)
                {
                    continue;
                }
                kept.push((meta.start_realtime_ns, take(&reader)));
            }
            Err(e) if e.kind() == ErrorKind::NotOwned => {}
            Err(e) => unreadable.push((path.clone(), e.to_string())),
        }
    }
    kept.sort_by_key(|(start, _)| *start);
    (kept.into_iter().map(|(_, t)| t).collect(), unreadable)
}

/// The segment files in `dir` (none if it does not exist).
pub fn in_dir(dir: &Path) -> anyhow::Result<Vec<PathBuf>> {
    Ok(vfscope_segment::list_segments(dir)?)
}
