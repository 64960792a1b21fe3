//! Asynchronous replication by a process beside the app (Litestream): it
//! never delays the app's calls; what it costs is requests, bytes uploaded
//! and how far the replica lags. From a trace: each WAL commit frame is a
//! commit at its recorded time, the frames' page numbers say which pages it
//! changed. Every `interval` (the replicator's ticker, whose phase against
//! the app's clock a trace cannot show: drawn from the seed for the
//! uploads, and pooled over evenly spread phases for the lags), an interval
//! with commits uploads one file holding each page it changed once; a
//! commit's lag runs from its commit to the end of that upload. Requests at start and on a period
//! (snapshots, compaction) are counted too.

pub use crate::page_bytes::PageBytes;
use crate::page_bytes::PageSizer;
use crate::remote::Remote;
use crate::rng::Rng;
use std::collections::HashSet;
use vfscope_segment::trace::TracedCall;

/// Requests of one type, `count` of them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Requests {
    /// Index into the model's `[remote]` request types.
    pub request: usize,
    pub count: u32,
}

/// Requests made every `every_ns` on the wall clock: when there were
/// uploads in the period (compaction of the uploaded files), or `always`
/// (a retention check).
#[derive(Clone, Debug, PartialEq)]
pub struct Periodic {
    pub every_ns: u64,
    pub requests: Vec<Requests>,
    pub always: bool,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Replicate {
    pub interval_ns: u64,
    /// The request type of one interval's upload.
    pub upload: usize,
    /// Bytes of an upload beyond its pages (header, trailer, index).
    pub upload_bytes: f64,
    /// Bytes per page an upload holds.
    pub page_bytes: PageBytes,
    /// The replicator checkpoints the WAL at a sync once it holds this
    /// many frames, and uploads one more file right after (Litestream:
    /// 1,000 pages; the WAL's restart, one page of its own table).
    pub checkpoint_frames: Option<u64>,
    /// Requests when replication starts.
    pub start: Vec<Requests>,
    pub periodic: Vec<Periodic>,
}

/// What replication of a recorded run costs.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Replicated {
    /// Requests by type, in the model's order.
    pub requests: Vec<u64>,
    pub uploads: u64,
    pub bytes: u64,
    /// Bytes an uploaded page counted on average, and for an `lz4` size
    /// how many sampled WAL pages said what pages compress to (`Some(0)`:
    /// none, pages counted whole).
    pub page_bytes: f64,
    pub lz4_samples: Option<u64>,
    /// Each commit's lag (once per ticker phase pooled).
    pub lag_ns: Vec<u64>,
    /// The lowest and highest p99 lag of one ticker phase: what one run
    /// can see, since a run has one phase (for bursts, every row of a
    /// burst waits for the same sync, and the phase decides the p99).
    pub p99_by_phase: Option<(u64, u64)>,
}

/// The `q` quantile of sorted `v` (nearest rank).
pub fn quantile(v: &[u64], q: f64) -> Option<u64> {
    (!v.is_empty()).then(|| v[((v.len() - 1) as f64 * q).round() as usize])
}

/// Ticker phases the lags are pooled over.
pub const PHASES: usize = 20;

/// The uploads of one ticker phase.
struct Synced {
    /// When each upload was made.
    uploads: Vec<u64>,
    bytes: u64,
    /// Pages uploaded, and their bytes.
    pages: u64,
    page_bytes: f64,
    lag_ns: Vec<u64>,
}

impl Replicate {
    /// The syncs of a ticker whose first tick is `phase` (0 to 1) of an
    /// interval after `start_ns`.
    fn syncs(
        &self,
        calls: &[&TracedCall],
        start_ns: u64,
        phase: f64,
        sizer: &mut PageSizer,
        remote: &Remote,
        rng: &mut Rng,
    ) -> Synced {
        let interval = self.interval_ns.max(1);
        let mut tick = start_ns + (phase * interval as f64) as u64;
        let mut out = Synced {
            uploads: Vec::new(),
            bytes: 0,
            pages: 0,
            page_bytes: 0.0,
            lag_ns: Vec::new(),
        };
        let mut pages: HashSet<(u16, u32)> = HashSet::new();
        let mut waiting: Vec<u64> = Vec::new();
        let mut wal_frames = 0u64;
        let mut sync = |at: u64,
                        pages: &mut HashSet<(u16, u32)>,
                        waiting: &mut Vec<u64>,
                        wal_frames: &mut u64,
                        sizer: &PageSizer| {
            if waiting.is_empty() {
                return;
            }
            let cost = remote.cost(self.upload, rng);
            out.uploads.push(at);
            let page_bytes: f64 = pages.iter().map(|&p| sizer.bytes(p)).sum();
            out.bytes += (self.upload_bytes + page_bytes) as u64;
            out.pages += pages.len() as u64;
            out.page_bytes += page_bytes;
            out.lag_ns
                .extend(waiting.iter().map(|&c| (at + cost).saturating_sub(c)));
            waiting.clear();
            pages.clear();
            if self.checkpoint_frames.is_some_and(|n| *wal_frames >= n) {
                // The checkpoint restarts the WAL: one more file, of one
                // page of the replicator's own.
                *wal_frames = 0;
                out.uploads.push(at);
                out.bytes += (self.upload_bytes + sizer.bytes((u16::MAX, 0))) as u64;
            }
        };
        for c in calls
            .iter()
            .filter(|c| c.frame.is_some() || c.lz4_size.is_some())
        {
            while tick <= c.start_ns {
                sync(tick, &mut pages, &mut waiting, &mut wal_frames, sizer);
                tick += interval;
            }
            sizer.see(c);
            let Some(frame) = c.frame else { continue };
            wal_frames += 1;
            pages.insert((c.db, frame.page));
            if frame.is_commit() {
                waiting.push(c.end_ns());
            }
        }
        // The replicator outlives the recording: the last commits are
        // uploaded at the next sync.
        sync(tick, &mut pages, &mut waiting, &mut wal_frames, sizer);
        out
    }

    /// Replication of `calls` (sorted by start) recorded from `start_ns`
    /// to `end_ns` on the monotonic clock (`realtime_offset` added gives
    /// the wall clock); requests cost as `remote` prices them.
    pub fn replay(
        &self,
        calls: &[&TracedCall],
        (start_ns, end_ns, realtime_offset): (u64, u64, i64),
        remote: &Remote,
        rng: &mut Rng,
    ) -> Replicated {
        let mut out = Replicated {
            requests: vec![0; remote.requests.len()],
            ..Replicated::default()
        };
        let add = |out: &mut Replicated, r: &[Requests]| {
            for q in r {
                out.requests[q.request] += q.count as u64;
            }
        };
        add(&mut out, &self.start);
        // The replicator's ticker has a phase the app's trace cannot show:
        // uploads and bytes follow one drawn from the seed; the lags are
        // pooled over PHASES phases spread evenly over the interval (a
        // workload in bursts would otherwise get one phase's luck).
        let sizer = PageSizer::new(self.page_bytes, calls);
        out.lz4_samples = self.page_bytes.lz4.then_some(sizer.samples);
        let drawn = rng.unit();
        let synced = self.syncs(calls, start_ns, drawn, &mut sizer.clone(), remote, rng);
        out.page_bytes = synced.page_bytes / synced.pages.max(1) as f64;
        let uploads = synced.uploads;
        out.bytes = synced.bytes;
        let mut p99s = Vec::with_capacity(PHASES);
        for k in 0..PHASES {
            let phase = (k as f64 + 0.5) / PHASES as f64;
            let mut lags = self
                .syncs(calls, start_ns, phase, &mut sizer.clone(), remote, rng)
                .lag_ns;
            lags.sort_unstable();
            if let Some(p99) = quantile(&lags, 0.99) {
                p99s.push(p99);
            }
            out.lag_ns.extend(lags);
        }
        out.p99_by_phase = p99s
            .iter()
            .min()
            .zip(p99s.iter().max())
            .map(|(&lo, &hi)| (lo, hi));
        out.uploads = uploads.len() as u64;
        out.requests[self.upload] += out.uploads;
        // A compaction period ends on a multiple of its length on the wall
        // clock (as Litestream's levels do) and makes its requests when it
        // saw an upload; an `always` one (a retention check) runs on the
        // replicator's own ticker, at a phase of the seed's.
        let last = uploads.last().copied().unwrap_or(0).max(end_ns);
        for p in &self.periodic {
            let every = p.every_ns.max(1);
            let wall = |mono: u64| mono as i128 + realtime_offset as i128;
            let mut to = if p.always {
                start_ns + (rng.unit() * every as f64) as u64
            } else {
                (start_ns as i128 + every as i128 - wall(start_ns).rem_euclid(every as i128)) as u64
            };
            while to <= last {
                let from = to.saturating_sub(every);
                if p.always || uploads.iter().any(|&u| u > from && u <= to) {
                    add(&mut out, &p.requests);
                }
                to += every;
            }
        }
        out
    }
}
