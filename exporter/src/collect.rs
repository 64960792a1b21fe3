//! The collector: at each scrape, every segment of the directory is read
//! and only live processes are exported, as constant metrics (the client
//! libraries' Collector pattern) — series of an exited process simply stop.

use crate::families::{families, Scrape};
use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use vfscope_segment::{list_segments, ErrorKind, Liveness, SegmentReader};

/// Reads a segment directory at scrape time.
pub struct SegmentCollector {
    dir: PathBuf,
    /// Only this process (library mode serving itself).
    pid: Option<u32>,
    /// Segments stay mapped between scrapes.
    readers: Mutex<HashMap<PathBuf, SegmentReader>>,
}

impl SegmentCollector {
    pub fn new(dir: &Path) -> Self {
        SegmentCollector {
            dir: dir.to_path_buf(),
            pid: None,
            readers: Mutex::new(HashMap::new()),
        }
    }

    /// Only the segment of process `pid` (a process serving its own metrics).
    pub fn for_pid(dir: &Path, pid: u32) -> Self {
        SegmentCollector {
            pid: Some(pid),
            ..SegmentCollector::new(dir)
        }
    }

    /// The directory read.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The metric families of the directory now.
    pub fn collect(&self) -> Vec<prometheus::proto::MetricFamily> {
        let paths = list_segments(&self.dir).unwrap_or_default();
        let mut readers = self.readers.lock().unwrap_or_else(|e| e.into_inner());
        readers.retain(|path, _| paths.contains(path));
        let mut live = Vec::new();
        let mut states: BTreeMap<&'static str, u64> = BTreeMap::new();
        let mut unreadable = 0;
        for path in paths {
            if !readers.contains_key(&path) {
                match SegmentReader::open(&path) {
                    Ok(reader) => {
                        readers.insert(path.clone(), reader);
                    }
                    Err(e) if e.kind() == ErrorKind::NotOwned => continue,
                    Err(_) => {
                        unreadable += 1;
                        continue;
                    }
                }
            }
            let reader = &readers[&path];
            if self.pid.is_some_and(|pid| pid != reader.pid()) {
                continue;
            }
            let liveness = reader.liveness();
            *states.entry(liveness.name()).or_default() += 1;
            if liveness == Liveness::Running {
                live.push(reader.snapshot());
            }
        }
        families(&Scrape {
            live: &live,
            segments: states,
            unreadable,
        })
    }

    /// The families in Prometheus's text format.
    pub fn render(&self) -> String {
        use prometheus::Encoder;
        let mut out = Vec::new();
        prometheus::TextEncoder::new()
            .encode(&self.collect(), &mut out)
            .expect("encoding into memory does not fail");
        String::from_utf8(out).expect("the text format is UTF-8")
    }
}
