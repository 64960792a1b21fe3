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
        // Never wait in the UI loop: the process applies it on its control
        // thread, started by its next SQLite call if it has none yet.
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

/// A recorded trace played back as if its process were running now:
/// each poll shows the calls made up to the playback time.
pub struct TraceReplay {
    path: PathBuf,
    trace: vfscope_segment::trace::Trace,
    label: String,
    start_ns: u64,
    end_ns: u64,
    speed: f64,
    started: Option<std::time::Instant>,
}

impl TraceReplay {
    /// Reads the trace at `path`, to play at `speed` times real time.
    pub fn open(path: &Path, speed: f64) -> Result<Self, vfscope_segment::trace::TraceError> {
        let trace = vfscope_segment::trace::read_trace(path)?;
        let first = trace.calls.iter().map(|c| c.start_ns).min().unwrap_or(0);
        let last = trace
            .calls
            .iter()
            .map(|c| c.end_ns())
            .max()
            .unwrap_or(first);
        Ok(TraceReplay {
            path: path.to_path_buf(),
            label: format!("(replay of {})", path.display()),
            start_ns: first,
            end_ns: trace.end.map_or(last, |e| e.end_ns.max(last)),
            trace,
            speed,
            started: None,
        })
    }
}

impl Source for TraceReplay {
    fn poll(&mut self) -> Vec<Sample> {
        let started = *self.started.get_or_insert_with(std::time::Instant::now);
        let played = (started.elapsed().as_nanos() as f64 * self.speed) as u64;
        let now = self.start_ns.saturating_add(played);
        let liveness = if now >= self.end_ns {
            Liveness::Exited
        } else {
            Liveness::Running
        };
        vec![Sample {
            path: self.path.clone(),
            read: Ok((self.trace.snapshot_until(now, &self.label), liveness)),
        }]
    }
}
