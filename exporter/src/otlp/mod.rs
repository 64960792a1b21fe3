//! OpenTelemetry over OTLP/HTTP: the segments' metrics every
//! `OTEL_METRIC_EXPORT_INTERVAL`, and their transactions (with slow calls
//! as child spans) every `OTEL_BSP_SCHEDULE_DELAY`.
//!
//! One plain thread does everything: it reads segments, encodes with the
//! OpenTelemetry project's generated protobuf types and posts. No async
//! runtime, nothing on the SQLite call path (the shim only writes its
//! segment). When the collector is unreachable an export fails, is counted
//! and reported once per distinct error on stderr; metrics are cumulative,
//! so the next export carries everything, and spans wait in a bounded queue
//! (`OTEL_BSP_MAX_QUEUE_SIZE`) whose overflow is counted as dropped.

mod config;
mod metrics;
mod resource;
mod traces;
mod transport;

pub use config::{ConfigError, Endpoint, OtlpConfig, Sampler};

use crate::SegmentCollector;
use opentelemetry_proto::tonic::collector::trace::v1::{
    ExportTraceServiceRequest, ExportTraceServiceResponse,
};
use opentelemetry_proto::tonic::resource::v1::Resource;
use opentelemetry_proto::tonic::trace::v1::{ResourceSpans, ScopeSpans, Span};
use prost::Message;
use std::collections::{HashMap, VecDeque};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Condvar, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};
use transport::Transport;
use vfscope_segment::{realtime_ns, Liveness, SegmentReader, Snapshot};

/// What the exporter did, for `/metrics` and for tests.
#[derive(Default)]
pub struct ExportStats {
    metric_exports: AtomicU64,
    metric_failures: AtomicU64,
    span_exports: AtomicU64,
    span_failures: AtomicU64,
    spans_sent: AtomicU64,
    spans_unsampled: AtomicU64,
    spans_dropped: AtomicU64,
    /// The last error of each signal (metrics, traces), until one works.
    last_error: Mutex<[Option<String>; 2]>,
}

pub use crate::families::ExportCounts;

impl ExportStats {
    pub fn counts(&self) -> ExportCounts {
        ExportCounts {
            metric_exports: self.metric_exports.load(Relaxed),
            metric_failures: self.metric_failures.load(Relaxed),
            span_exports: self.span_exports.load(Relaxed),
            span_failures: self.span_failures.load(Relaxed),
            spans_sent: self.spans_sent.load(Relaxed),
            spans_unsampled: self.spans_unsampled.load(Relaxed),
            spans_dropped: self.spans_dropped.load(Relaxed),
        }
    }

    fn counter(&self, signal: Signal, ok: bool) -> &AtomicU64 {
        match (signal, ok) {
            (Signal::Metrics, true) => &self.metric_exports,
            (Signal::Metrics, false) => &self.metric_failures,
            (Signal::Traces, true) => &self.span_exports,
            (Signal::Traces, false) => &self.span_failures,
        }
    }

    /// Counts a failure; says it on stderr when it differs from the
    /// signal's last one.
    fn failed(&self, signal: Signal, error: String) {
        self.counter(signal, false).fetch_add(1, Relaxed);
        let mut last = self.last_error.lock().unwrap_or_else(|e| e.into_inner());
        let last = &mut last[signal as usize];
        if last.as_deref() != Some(error.as_str()) {
            eprintln!("vfscope: OTLP export failed (counted, will retry): {error}");
            *last = Some(error);
        }
    }

    fn succeeded(&self, signal: Signal) {
        self.counter(signal, true).fetch_add(1, Relaxed);
        let mut last = self.last_error.lock().unwrap_or_else(|e| e.into_inner());
        if last[signal as usize].take().is_some() {
            eprintln!("vfscope: OTLP export works again");
        }
    }
}

#[derive(Clone, Copy)]
enum Signal {
    Metrics = 0,
    Traces = 1,
}

/// The background exporter. Dropping it stops the thread after a last
/// export.
pub struct OtlpExporter {
    shared: Arc<Shared>,
    thread: Option<JoinHandle<()>>,
}

struct Shared {
    stop: Mutex<bool>,
    wake: Condvar,
    stats: Arc<ExportStats>,
}

impl OtlpExporter {
    /// Starts exporting what `collector` reads.
    pub fn start(config: OtlpConfig, collector: Arc<SegmentCollector>) -> std::io::Result<Self> {
        let shared = Arc::new(Shared {
            stop: Mutex::new(false),
            wake: Condvar::new(),
            stats: Arc::new(ExportStats::default()),
        });
        let worker = Worker::new(config, collector, shared.stats.clone());
        let thread_shared = shared.clone();
        let thread = std::thread::Builder::new()
            .name("vfscope-otlp".into())
            .spawn(move || worker.run(&thread_shared))?;
        Ok(OtlpExporter {
            shared,
            thread: Some(thread),
        })
    }

    /// The exporter's counters (shared, live).
    pub fn stats(&self) -> Arc<ExportStats> {
        self.shared.stats.clone()
    }

    /// Exports once more and stops.
    pub fn shutdown(mut self) {
        self.stop();
    }

    fn stop(&mut self) {
        *self.shared.stop.lock().unwrap_or_else(|e| e.into_inner()) = true;
        self.shared.wake.notify_all();
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

impl Drop for OtlpExporter {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Where the exporter is in one segment.
struct Cursor {
    txns: u64,
    slow: u64,
    /// The process ended and its last data went out.
    done: bool,
}

/// A process's identity and resource, for grouping spans.
type ProcessKey = (u32, u64);

struct Worker {
    config: OtlpConfig,
    collector: Arc<SegmentCollector>,
    stats: Arc<ExportStats>,
    transport: Transport,
    cursors: HashMap<PathBuf, Cursor>,
    queue: VecDeque<(ProcessKey, Span)>,
    resources: HashMap<ProcessKey, Resource>,
}

impl Worker {
    fn new(config: OtlpConfig, collector: Arc<SegmentCollector>, stats: Arc<ExportStats>) -> Self {
        let mut worker = Worker {
            config,
            collector,
            stats,
            transport: Transport::new(),
            cursors: HashMap::new(),
            queue: VecDeque::new(),
            resources: HashMap::new(),
        };
        // Processes that ended before the exporter started are history.
        let mut ended = Vec::new();
        worker.collector.visit(|path, reader| {
            if reader.liveness() != Liveness::Running {
                ended.push(path.to_path_buf());
            }
        });
        for path in ended {
            worker.cursors.insert(
                path,
                Cursor {
                    txns: 0,
                    slow: 0,
                    done: true,
                },
            );
        }
        worker
    }

    fn run(mut self, shared: &Shared) {
        let start = Instant::now();
        let mut next_metrics = start + self.config.metric_interval;
        let mut next_spans = start + self.config.span_interval;
        loop {
            let deadline = next_metrics.min(next_spans);
            let stop = {
                let mut stop = shared.stop.lock().unwrap_or_else(|e| e.into_inner());
                while !*stop && Instant::now() < deadline {
                    let left = deadline.saturating_duration_since(Instant::now());
                    stop = shared
                        .wake
                        .wait_timeout(stop, left)
                        .unwrap_or_else(|e| e.into_inner())
                        .0;
                }
                *stop
            };
            let now = Instant::now();
            let spans_due = stop || now >= next_spans;
            let metrics_due = stop || now >= next_metrics;
            self.tick(spans_due, metrics_due);
            if stop {
                return;
            }
            if spans_due {
                next_spans = later(next_spans, self.config.span_interval, now);
            }
            if metrics_due {
                next_metrics = later(next_metrics, self.config.metric_interval, now);
            }
        }
    }

    /// One round: read the segments, then export what is due.
    fn tick(&mut self, spans_due: bool, metrics_due: bool) {
        let mut live: Vec<Snapshot> = Vec::new();
        let mut seen = Vec::new();
        let collector = self.collector.clone();
        collector.visit(|path, reader| {
            seen.push(path.to_path_buf());
            let running = reader.liveness() == Liveness::Running;
            let cursor = self.cursors.entry(path.to_path_buf()).or_insert(Cursor {
                txns: 0,
                slow: 0,
                done: false,
            });
            if cursor.done {
                return;
            }
            // An ended process gets one last round, whatever is due.
            let last = !running;
            if !(spans_due || metrics_due || last) {
                return;
            }
            let snapshot = reader.snapshot();
            if spans_due || last {
                self.read_spans(path, reader, &snapshot);
            }
            if metrics_due || last {
                live.push(snapshot);
            }
            if let Some(cursor) = self.cursors.get_mut(path) {
                cursor.done = last;
            }
        });
        self.cursors.retain(|path, _| seen.contains(path));
        if self.config.traces.is_some() {
            self.send_spans();
        }
        if !live.is_empty() {
            self.send_metrics(&live);
        }
    }

    fn read_spans(&mut self, path: &Path, reader: &SegmentReader, snapshot: &Snapshot) {
        let Some(cursor) = self.cursors.get_mut(path) else {
            return;
        };
        let txns = reader.transactions_since(cursor.txns);
        let slow = reader.slow_since(cursor.slow);
        cursor.txns = txns.next;
        cursor.slow = slow.next;
        if self.config.traces.is_none() {
            return;
        }
        self.stats
            .spans_dropped
            .fetch_add(txns.lost + slow.lost, Relaxed);
        let meta = &snapshot.meta;
        let key = (meta.pid, meta.proc_start_ticks);
        let spans = txns
            .entries
            .iter()
            .map(|t| traces::transaction_span(meta, &snapshot.db_label(t.db), t))
            .chain(
                slow.entries
                    .iter()
                    .map(|c| traces::slow_span(meta, &snapshot.db_label(c.db), c)),
            );
        let mut any = false;
        for span in spans {
            let id: [u8; 16] = span
                .trace_id
                .as_slice()
                .try_into()
                .expect("16-byte trace id");
            if !traces::sampled(self.config.sampler, &id) {
                self.stats.spans_unsampled.fetch_add(1, Relaxed);
                continue;
            }
            if self.queue.len() >= self.config.max_queue {
                self.queue.pop_front();
                self.stats.spans_dropped.fetch_add(1, Relaxed);
            }
            self.queue.push_back((key, span));
            any = true;
        }
        if any && !self.resources.contains_key(&key) {
            let resource = resource::process_resource(&self.config, meta);
            self.resources.insert(key, resource);
        }
    }

    /// Sends the queue in batches; a failed batch goes back to the front.
    fn send_spans(&mut self) {
        let Some(endpoint) = self.config.traces.clone() else {
            return;
        };
        while !self.queue.is_empty() {
            let n = self.queue.len().min(self.config.max_batch);
            let batch: Vec<(ProcessKey, Span)> = self.queue.drain(..n).collect();
            let request = self.trace_request(&batch);
            match self.transport.post(&endpoint, request.encode_to_vec()) {
                Ok(reply) => {
                    self.stats.succeeded(Signal::Traces);
                    let rejected = ExportTraceServiceResponse::decode(reply.as_slice())
                        .ok()
                        .and_then(|r| r.partial_success)
                        .map_or(0, |p| p.rejected_spans.max(0) as u64);
                    self.stats
                        .spans_sent
                        .fetch_add(n as u64 - rejected.min(n as u64), Relaxed);
                    self.stats.spans_dropped.fetch_add(rejected, Relaxed);
                }
                Err(error) => {
                    self.stats.failed(Signal::Traces, error);
                    for item in batch.into_iter().rev() {
                        self.queue.push_front(item);
                    }
                    return;
                }
            }
        }
        let queued: Vec<ProcessKey> = self.queue.iter().map(|(k, _)| *k).collect();
        self.resources.retain(|k, _| queued.contains(k));
    }

    fn trace_request(&self, batch: &[(ProcessKey, Span)]) -> ExportTraceServiceRequest {
        let mut by_process: Vec<(ProcessKey, Vec<Span>)> = Vec::new();
        for (key, span) in batch {
            match by_process.iter_mut().find(|(k, _)| k == key) {
                Some((_, spans)) => spans.push(span.clone()),
                None => by_process.push((*key, vec![span.clone()])),
            }
        }
        ExportTraceServiceRequest {
            resource_spans: by_process
                .into_iter()
                .map(|(key, spans)| ResourceSpans {
                    resource: self.resources.get(&key).cloned(),
                    scope_spans: vec![ScopeSpans {
                        scope: Some(resource::scope()),
                        spans,
                        schema_url: String::new(),
                    }],
                    schema_url: String::new(),
                })
                .collect(),
        }
    }

    fn send_metrics(&mut self, live: &[Snapshot]) {
        let Some(endpoint) = &self.config.metrics else {
            return;
        };
        let request = metrics::request(&self.config, live, realtime_ns());
        match self.transport.post(endpoint, request.encode_to_vec()) {
            Ok(_) => self.stats.succeeded(Signal::Metrics),
            Err(error) => self.stats.failed(Signal::Metrics, error),
        }
    }
}

/// The next deadline after `now`, keeping the period's phase.
fn later(deadline: Instant, period: Duration, now: Instant) -> Instant {
    let mut next = deadline + period;
    while next <= now {
        next += period;
    }
    next
}
