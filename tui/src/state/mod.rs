//! Everything vfstop knows and the user chose, apart from drawing: the
//! processes with their recent snapshots, the selection, view, sort,
//! filter, mode, refresh interval and history window. No ratatui here.

pub mod rates;

use crate::source::Sample;
use rates::{Key, OpTotals};
use std::collections::{BTreeMap, VecDeque};
use std::path::PathBuf;
use vfscope_segment::{FileKind, Liveness, Op, Snapshot};

/// How long an exited process stays listed (greyed) before it is dropped.
pub const LINGER_MS: u64 = 30_000;
/// Trend points kept per row.
pub const TREND_POINTS: usize = 60;

/// One process (one segment).
pub struct Process {
    pub path: PathBuf,
    pub pid: u32,
    pub command: String,
    pub status: Status,
    pub latency_injection: bool,
    /// The active latency model's name.
    pub latency_model: Option<String>,
    /// (refresh time in ms, snapshot), oldest first, at most `window + 1`.
    pub history: VecDeque<(u64, Snapshot)>,
    /// Calls per refresh of each row, oldest first.
    pub trends: BTreeMap<Key, VecDeque<u64>>,
    /// When the process was first seen not running.
    pub gone_at: Option<u64>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Status {
    Live(Liveness),
    /// The segment could not be read.
    Error(String),
}

impl Process {
    pub fn latest(&self) -> Option<&Snapshot> {
        self.history.back().map(|(_, s)| s)
    }

    pub fn is_running(&self) -> bool {
        self.status == Status::Live(Liveness::Running)
    }

    /// Database file names.
    /// Whether the process holds more than one SQLite copy, or one that
    /// vfscope could not reach.
    pub fn has_notable_copies(&self) -> bool {
        self.latest().is_some_and(|s| {
            s.copies.len() > 1
                || s.copies
                    .iter()
                    .any(|c| c.status == vfscope_segment::CopyStatus::Unreachable)
        })
    }

    /// The process's SQLite copies: the versions traced, then how many
    /// could not be reached ("3.40.1+3.51.1", "3.46.0 1!").
    pub fn sqlite_copies(&self) -> String {
        let Some(s) = self.latest() else {
            return String::new();
        };
        let traced: Vec<&str> = s
            .copies
            .iter()
            .filter(|c| c.status == vfscope_segment::CopyStatus::Traced)
            .map(|c| {
                if c.version.is_empty() {
                    "?"
                } else {
                    c.version.as_str()
                }
            })
            .collect();
        let unreachable = s.copies.len() - traced.len();
        let mut out = traced.join("+");
        if unreachable > 0 {
            out += &format!(" {unreachable}!");
        }
        out
    }

    /// The named databases.
    pub fn dbs(&self) -> Vec<String> {
        self.latest()
            .map(|s| s.dbs.iter().map(|d| d.name().to_string()).collect())
            .unwrap_or_default()
    }

    /// How many databases the "other" row holds.
    pub fn other_dbs(&self) -> u64 {
        self.latest().map_or(0, |s| s.other_dbs)
    }

    /// Calls, bytes and errors per second over the window.
    pub fn rates(&self) -> (f64, f64, u64) {
        let (Some((t0, old)), Some((t1, new))) = (self.history.front(), self.history.back()) else {
            return (0.0, 0.0, 0);
        };
        let dt = (t1.saturating_sub(*t0)) as f64 / 1000.0;
        let sum = |s: &Snapshot| {
            s.cells.iter().fold((0u64, 0u64, 0u64), |(c, b, e), cell| {
                (c + cell.calls(), b + cell.bytes, e + cell.errors())
            })
        };
        let (c0, b0, e0) = sum(old);
        let (c1, b1, e1) = sum(new);
        if dt <= 0.0 {
            return (0.0, 0.0, e1);
        }
        (
            c1.saturating_sub(c0) as f64 / dt,
            b1.saturating_sub(b0) as f64 / dt,
            e1.saturating_sub(e0),
        )
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum View {
    Operations,
    Latency,
    Locks,
    Slow,
    Findings,
}

impl View {
    pub const ALL: [View; 5] = [
        View::Operations,
        View::Latency,
        View::Locks,
        View::Slow,
        View::Findings,
    ];

    pub fn name(self) -> &'static str {
        match self {
            View::Operations => "operations",
            View::Latency => "latency",
            View::Locks => "locks",
            View::Slow => "slow calls",
            View::Findings => "findings",
        }
    }
}

/// Over the history window, or since each process started.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    Rate,
    Accumulated,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SortColumn {
    Time,
    Calls,
    Bytes,
    Errors,
    P50,
    P99,
    P999,
    Max,
    Name,
}

impl SortColumn {
    pub const ALL: [SortColumn; 9] = [
        SortColumn::Time,
        SortColumn::Calls,
        SortColumn::Bytes,
        SortColumn::Errors,
        SortColumn::P50,
        SortColumn::P99,
        SortColumn::P999,
        SortColumn::Max,
        SortColumn::Name,
    ];

    pub fn name(self) -> &'static str {
        match self {
            SortColumn::Time => "time",
            SortColumn::Calls => "calls",
            SortColumn::Bytes => "bytes",
            SortColumn::Errors => "errors",
            SortColumn::P50 => "p50",
            SortColumn::P99 => "p99",
            SortColumn::P999 => "p99.9",
            SortColumn::Max => "max",
            SortColumn::Name => "name",
        }
    }
}

/// One row of the operations table.
#[derive(Clone, Debug, PartialEq)]
pub struct Row {
    pub op: Op,
    pub kind: FileKind,
    pub totals: OpTotals,
    /// Per second over the window (rate mode) — or totals (accumulated).
    pub calls: f64,
    pub bytes: f64,
    pub share: f64,
    pub p50: Option<u64>,
    pub p99: Option<u64>,
    pub p999: Option<u64>,
    pub trend: Vec<u64>,
}

pub struct State {
    pub processes: Vec<Process>,
    /// 0: all processes; i + 1: `processes[i]`.
    pub selected: usize,
    /// Selected row of the operations table (the latency view shows it).
    pub row: usize,
    pub view: View,
    /// Whether keys move the row selection (after Enter) or the process one.
    pub in_detail: bool,
    pub mode: Mode,
    pub sort: SortColumn,
    pub reverse: bool,
    pub filter: String,
    /// The filter being typed, while `/` is active.
    pub editing: Option<String>,
    pub paused: bool,
    pub interval_ms: u64,
    /// Refreshes in the history window.
    pub window: usize,
    pub help: bool,
    pub unit_ms: bool,
    pub now_ms: u64,
    pub dir: String,
    /// The preset `L` switches a process to (and back to off).
    pub preset: String,
    /// A latency switch asked for with `L`: (pid, model), for the loop to
    /// send to the source.
    pub latency_request: Option<(u32, String)>,
    /// A one-line message for the footer (e.g. the answer to `L`).
    pub notice: Option<String>,
    /// Segments of processes that ended and were dropped after lingering;
    /// their files may stay (for `vfscope report`), they are not shown again.
    dismissed: std::collections::HashSet<PathBuf>,
}

impl State {
    pub fn new(dir: String, interval_ms: u64) -> Self {
        State {
            processes: Vec::new(),
            selected: 0,
            row: 0,
            view: View::Operations,
            in_detail: false,
            mode: Mode::Rate,
            sort: SortColumn::Time,
            reverse: false,
            filter: String::new(),
            editing: None,
            paused: false,
            interval_ms,
            window: 10,
            help: false,
            unit_ms: false,
            now_ms: 0,
            dir,
            preset: "cross-az".to_string(),
            latency_request: None,
            notice: None,
            dismissed: Default::default(),
        }
    }

    /// Takes one refresh's samples.
    pub fn update(&mut self, samples: Vec<Sample>, now_ms: u64) {
        self.now_ms = now_ms;
        let window = self.window;
        for sample in samples {
            if self.dismissed.contains(&sample.path) {
                continue;
            }
            let index = match self.processes.iter().position(|p| p.path == sample.path) {
                Some(i) => i,
                None => {
                    self.processes.push(Process {
                        path: sample.path.clone(),
                        pid: 0,
                        command: String::new(),
                        status: Status::Error(String::new()),
                        latency_injection: false,
                        latency_model: None,
                        history: VecDeque::new(),
                        trends: BTreeMap::new(),
                        gone_at: None,
                    });
                    self.processes.len() - 1
                }
            };
            let p = &mut self.processes[index];
            match sample.read {
                Err(message) => p.status = Status::Error(message),
                Ok((snapshot, liveness)) => {
                    p.pid = snapshot.meta.pid;
                    // One line per process, whatever the command line holds.
                    p.command = snapshot.meta.cmdline.replace(|c: char| c.is_control(), " ");
                    p.latency_injection = snapshot.latency_enabled;
                    p.latency_model = snapshot.model.active.clone();
                    p.status = Status::Live(liveness);
                    if liveness != Liveness::Running {
                        p.gone_at.get_or_insert(now_ms);
                    }
                    let everything = |_: Op, _: FileKind, _: &str| true;
                    let new = snapshot.op_totals(everything);
                    if let Some((_, previous)) = p.history.back() {
                        let old = previous.op_totals(everything);
                        for (key, d) in rates::since(&new, &old) {
                            let trend = p.trends.entry(key).or_default();
                            trend.push_back(d.calls);
                            if trend.len() > TREND_POINTS {
                                trend.pop_front();
                            }
                        }
                    }
                    p.history.push_back((now_ms, snapshot));
                    while p.history.len() > window + 1 {
                        p.history.pop_front();
                    }
                }
            }
        }
        // Exited processes linger greyed, then go for good.
        let dismissed = &mut self.dismissed;
        self.processes.retain(|p| {
            let keep = p
                .gone_at
                .is_none_or(|t| now_ms.saturating_sub(t) < LINGER_MS);
            if !keep {
                dismissed.insert(p.path.clone());
            }
            keep
        });
        self.processes.sort_by_key(|p| p.pid);
        self.selected = self.selected.min(self.processes.len());
    }

    /// The processes the detail views cover.
    pub fn scope(&self) -> Vec<&Process> {
        match self.selected {
            0 => self.processes.iter().collect(),
            i => self.processes.get(i - 1).into_iter().collect(),
        }
    }

    pub fn selected_process(&self) -> Option<&Process> {
        self.selected
            .checked_sub(1)
            .and_then(|i| self.processes.get(i))
    }

    fn keeps(&self, op: Op, kind: FileKind, db: &str) -> bool {
        let f = self.filter.to_lowercase();
        f.is_empty()
            || op.name().contains(&f)
            || kind.name().contains(&f)
            || db.to_lowercase().contains(&f)
    }

    /// The operations table, sorted.
    pub fn rows(&self) -> Vec<Row> {
        let keep = |op, kind, db: &str| self.keeps(op, kind, db);
        let mut combined: BTreeMap<Key, OpTotals> = BTreeMap::new();
        let mut trends: BTreeMap<Key, Vec<u64>> = BTreeMap::new();
        let mut seconds: f64 = 0.0;
        for p in self.scope() {
            let (Some((t0, old)), Some((t1, new))) = (p.history.front(), p.history.back()) else {
                continue;
            };
            let newest = new.op_totals(keep);
            let part = match self.mode {
                Mode::Rate => rates::since(&newest, &old.op_totals(keep)),
                Mode::Accumulated => newest,
            };
            rates::add_into(&mut combined, &part);
            seconds = seconds.max(t1.saturating_sub(*t0) as f64 / 1000.0);
            for (key, trend) in &p.trends {
                let sum = trends.entry(*key).or_insert_with(|| vec![0; TREND_POINTS]);
                for (slot, n) in sum.iter_mut().rev().zip(trend.iter().rev()) {
                    *slot += n;
                }
            }
        }
        let total_ns: u64 = combined.values().map(|t| t.time_ns).sum::<u64>().max(1);
        let per = |n: u64| match self.mode {
            Mode::Rate if seconds > 0.0 => n as f64 / seconds,
            Mode::Rate => 0.0,
            Mode::Accumulated => n as f64,
        };
        let mut rows: Vec<Row> = combined
            .into_iter()
            .filter(|(_, t)| t.calls > 0 || self.mode == Mode::Accumulated)
            .map(|((op, kind), t)| Row {
                op,
                kind,
                calls: per(t.calls),
                bytes: per(t.bytes),
                share: t.time_ns as f64 / total_ns as f64,
                p50: rates::quantile(&t.latency, 0.5, t.max_ns),
                p99: rates::quantile(&t.latency, 0.99, t.max_ns),
                p999: rates::quantile(&t.latency, 0.999, t.max_ns),
                trend: trends.remove(&(op, kind)).unwrap_or_default(),
                totals: t,
            })
            .collect();
        let key = |r: &Row| -> f64 {
            match self.sort {
                SortColumn::Time => r.totals.time_ns as f64,
                SortColumn::Calls => r.calls,
                SortColumn::Bytes => r.bytes,
                SortColumn::Errors => r.totals.errors as f64,
                SortColumn::P50 => r.p50.unwrap_or(0) as f64,
                SortColumn::P99 => r.p99.unwrap_or(0) as f64,
                SortColumn::P999 => r.p999.unwrap_or(0) as f64,
                SortColumn::Max => r.totals.max_ns as f64,
                SortColumn::Name => 0.0,
            }
        };
        if self.sort == SortColumn::Name {
            rows.sort_by(|a, b| (a.op.name(), a.kind.name()).cmp(&(b.op.name(), b.kind.name())));
        } else {
            // Largest first, like top.
            rows.sort_by(|a, b| key(b).total_cmp(&key(a)));
        }
        if self.reverse {
            rows.reverse();
        }
        rows
    }

    /// The latest snapshots of the processes in scope.
    pub fn latest(&self) -> Vec<(&Process, &Snapshot)> {
        self.scope()
            .into_iter()
            .filter_map(|p| p.latest().map(|s| (p, s)))
            .collect()
    }
}
