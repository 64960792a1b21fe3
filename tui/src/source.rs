//! Reading: the segment directory, listed at every refresh; each segment
//! mapped once and copied into a snapshot per refresh. A segment that
//! cannot be read comes back as an error sample, never as a failure.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use vfscope_segment::{
    list_segments, ErrorKind, Liveness, RequestOutcome, SegmentReader, Snapshot,
};

/// One segment at one refresh.
pub struct Sample {
    pub path: PathBuf,
    pub read: Result<(Snapshot, Liveness), String>,
}

/// Where samples come from.
pub trait Source {
    fn poll(&mut self) -> Vec<Sample>;

    /// Asks process `pid` to switch its latency model; returns a line for
    /// the footer.
    fn request_model(&mut self, pid: u32, model: &str) -> String {
        let _ = (pid, model);
        "this source cannot switch latency models".to_string()
    }
}

/// The segments of a directory, optionally of one pid.
pub struct SegmentDir {
    dir: PathBuf,
    pid: Option<u32>,
    readers: HashMap<PathBuf, SegmentReader>,
}

impl SegmentDir {
    pub fn new(dir: &Path, pid: Option<u32>) -> Self {
        SegmentDir {
            dir: dir.to_path_buf(),
            pid,
            readers: HashMap::new(),
        }
    }
}

impl Source for SegmentDir {
    fn poll(&mut self) -> Vec<Sample> {
        let paths = match list_segments(&self.dir) {
            Ok(paths) => paths,
            Err(e) => {
                return vec![Sample {
                    path: self.dir.clone(),
                    read: Err(e.to_string()),
                }]
            }
        };
        self.readers.retain(|path, _| paths.contains(path));
        let mut samples = Vec::new();
        for path in paths {
            if !self.readers.contains_key(&path) {
                match SegmentReader::open(&path) {
                    Ok(reader) => {
                        self.readers.insert(path.clone(), reader);
                    }
                    // Other users' segments are not ours to show.
                    Err(e) if e.kind() == ErrorKind::NotOwned => continue,
                    Err(e) => {
                        samples.push(Sample {
                            path,
                            read: Err(e.to_string()),
                        });
                        continue;
                    }
                }
            }
            let reader = &self.readers[&path];
            if self.pid.is_some_and(|pid| pid != reader.pid()) {
                continue;
            }
            samples.push(Sample {
                path,
                read: Ok((reader.snapshot(), reader.liveness())),
            });
        }
        samples
    }

    fn request_model(&mut self, pid: u32, model: &str) -> String {
        let Some(reader) = self
            .readers
            .values()
            .find(|r| r.pid() == pid && r.liveness() == Liveness::Running)
        else {
            return format!("process {pid} is not running");
        };
        // Never wait in the UI loop: the process applies it at its next call.
        match reader.request_model(model, std::time::Duration::ZERO) {
            Ok(RequestOutcome::Applied) => format!("process {pid}: latency model {model}"),
            Ok(RequestOutcome::Rejected) => format!("process {pid} rejected {model}"),
            Ok(RequestOutcome::Pending) => {
                format!("process {pid}: latency model {model} at its next SQLite call")
            }
            Err(e) => format!("cannot switch process {pid}: {e}"),
        }
    }
}
