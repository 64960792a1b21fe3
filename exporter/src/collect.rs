//! The collector: at each scrape, every segment of the directory is read
//! and only live processes are exported, as constant metrics (the client
//! libraries' Collector pattern) — series of an exited process simply stop.

use crate::families::ExportCounts;
use crate::families::{families, text, Scrape};
use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};
use vfscope_segment::{list_segments, ErrorKind, Liveness, SegmentReader};

/// Reads an exporter's counters (the OTLP exporter's, when it runs).
type CountsSource = Box<dyn Fn() -> ExportCounts + Send + Sync>;

/// Reads a segment directory at scrape time.
pub struct SegmentCollector {
    dir: PathBuf,
    /// Only this process (library mode serving itself).
    pid: Option<u32>,
    /// Segments stay mapped between scrapes.
    readers: Mutex<HashMap<PathBuf, SegmentReader>>,
    /// The OTLP exporter's counters, shown with the metrics when it runs.
    otlp: OnceLock<CountsSource>,
    /// Delete segments whose process has been gone this long (`None`:
    /// never); when each was first seen gone.
    retain: Option<Duration>,
    gone_since: Mutex<HashMap<PathBuf, Instant>>,
}

impl SegmentCollector {
    pub fn new(dir: &Path) -> Self {
        SegmentCollector {
            dir: dir.to_path_buf(),
            pid: None,
            readers: Mutex::new(HashMap::new()),
            otlp: OnceLock::new(),
            retain: None,
            gone_since: Mutex::new(HashMap::new()),
        }
    }

    /// Only the segment of process `pid` (a process serving its own metrics).
    pub fn for_pid(dir: &Path, pid: u32) -> Self {
        SegmentCollector {
            pid: Some(pid),
            ..SegmentCollector::new(dir)
        }
    }

    /// Deletes the segments of processes gone (exited or dead) for longer
    /// than `retain`, checked at each collection: readers clean up.
    pub fn retain_gone(mut self, retain: Duration) -> Self {
        self.retain = Some(retain);
        self
    }

    /// Deletes segments gone longer than the retention; returns how many.
    fn clean(&self, gone: Vec<PathBuf>) -> usize {
        let Some(retain) = self.retain else { return 0 };
        let mut since = self.gone_since.lock().unwrap_or_else(|e| e.into_inner());
        since.retain(|path, _| gone.contains(path));
        let mut removed = 0;
        for path in gone {
            let first = *since.entry(path.clone()).or_insert_with(Instant::now);
            if first.elapsed() >= retain {
                let mut readers = self.readers.lock().unwrap_or_else(|e| e.into_inner());
                if readers
                    .get(&path)
                    .is_some_and(|r| r.remove_if_gone().unwrap_or(false))
                {
                    readers.remove(&path);
                    since.remove(&path);
                    removed += 1;
                }
            }
        }
        if removed > 0 {
            // Run directories of `vfscope run --keep` (or of a killed run)
            // that this emptied; one still holding a segment stays.
            for run in vfscope_segment::run_dirs(&self.dir) {
                let _ = std::fs::remove_dir(run);
            }
        }
        removed
    }

    /// Shows an OTLP exporter's counters on `/metrics`: `counts` reads them.
    pub fn show_otlp(&self, counts: impl Fn() -> ExportCounts + Send + Sync + 'static) {
        let _ = self.otlp.set(Box::new(counts));
    }

    /// The directory read.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Calls `f` with every readable segment of the directory (of the one
    /// process in `for_pid` mode), keeping them mapped between calls;
    /// returns how many could not be read.
    pub(crate) fn visit(&self, mut f: impl FnMut(&Path, &SegmentReader)) -> u64 {
        let mut readers = self.readers.lock().unwrap_or_else(|e| e.into_inner());
        let unreadable = self.refresh(&mut readers);
        for (path, reader) in self.mine(&readers) {
            f(path, reader);
        }
        unreadable
    }

    /// Maps new segments, forgets vanished ones; returns how many could
    /// not be read.
    fn refresh(&self, readers: &mut HashMap<PathBuf, SegmentReader>) -> u64 {
        let paths = list_segments(&self.dir).unwrap_or_default();
        readers.retain(|path, _| paths.contains(path));
        let mut unreadable = 0;
        for path in paths {
            if readers.contains_key(&path) {
                continue;
            }
            match SegmentReader::open(&path) {
                Ok(reader) => {
                    readers.insert(path, reader);
                }
                Err(e) if e.kind() == ErrorKind::NotOwned => {}
                Err(_) => unreadable += 1,
            }
        }
        unreadable
    }

    /// The segments to show (one process's in `for_pid` mode), by path.
    fn mine<'a>(
        &self,
        readers: &'a HashMap<PathBuf, SegmentReader>,
    ) -> Vec<(&'a PathBuf, &'a SegmentReader)> {
        let mut out: Vec<_> = readers
            .iter()
            .filter(|(_, r)| self.pid.is_none_or(|pid| pid == r.pid()))
            .collect();
        out.sort_by(|a, b| a.0.cmp(b.0));
        out
    }

    /// The metric families of the directory now.
    pub fn collect(&self) -> Vec<prometheus::proto::MetricFamily> {
        self.scrape(families)
    }

    /// Reads the directory (cleaning up what is gone) and hands the scrape
    /// to `output`.
    fn scrape<T>(&self, output: impl FnOnce(&Scrape) -> T) -> T {
        let mut gone = Vec::new();
        let mut running = Vec::new();
        let mut states: BTreeMap<&'static str, u64> = BTreeMap::new();
        let mut readers = self.readers.lock().unwrap_or_else(|e| e.into_inner());
        let unreadable = self.refresh(&mut readers);
        for (path, reader) in self.mine(&readers) {
            let liveness = reader.liveness();
            *states.entry(liveness.name()).or_default() += 1;
            if liveness == Liveness::Running {
                running.push(reader);
            } else {
                gone.push(path.clone());
            }
        }
        let live = snapshots(&running);
        drop(readers);
        self.clean(gone);
        output(&Scrape {
            live: &live,
            segments: states,
            unreadable,
            otlp: self.otlp.get().map(|counts| counts()),
        })
    }

    /// The families in Prometheus's text format.
    pub fn render(&self) -> String {
        self.scrape(text)
    }
}

/// Snapshots of `readers`, in order, taken on up to four threads: copying
/// a busy segment's histograms is most of a scrape's time.
fn snapshots(readers: &[&SegmentReader]) -> Vec<vfscope_segment::Snapshot> {
    let threads = std::thread::available_parallelism()
        .map_or(1, |n| n.get())
        .min(4)
        .min(readers.len() / 8)
        .max(1);
    if threads == 1 {
        return readers.iter().map(|r| r.snapshot()).collect();
    }
    let chunk = readers.len().div_ceil(threads);
    std::thread::scope(|scope| {
        let parts: Vec<_> = readers
            .chunks(chunk)
            .map(|part| scope.spawn(move || part.iter().map(|r| r.snapshot()).collect::<Vec<_>>()))
            .collect();
        parts
            .into_iter()
            .flat_map(|part| part.join().expect("taking a snapshot does not panic"))
            .collect()
    })
}
