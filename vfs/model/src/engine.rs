//! The decision engine: one call in, its modelled cost out.

use crate::cache::Lru;
use crate::model::*;
use crate::rng::Rng;
use std::collections::{HashMap, HashSet};
use vfscope_segment::trace::WalFrame;
use vfscope_segment::{FileKind, LockLevel, Op};

/// One VFS call, as the model sees it.
#[derive(Clone, Copy, Debug)]
pub struct Call {
    pub op: Op,
    pub kind: FileKind,
    pub db: u16,
    pub offset: u64,
    /// Bytes read or written.
    pub amount: u64,
    /// The database's page size (for the page cache), 0 if unknown.
    pub page_size: u32,
    /// For xLock and xUnlock: the level before and the level asked for.
    pub lock: Option<(LockLevel, LockLevel)>,
    /// When the call starts, on the clock the model's start was read from.
    pub now_ns: u64,
    /// For the write of a WAL frame's header: the frame.
    pub frame: Option<WalFrame>,
}

/// What the model does to one call.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Decision {
    /// The modelled latency of the call: in sleep mode the call returns no
    /// sooner than this after it started.
    pub delay_ns: u64,
    /// Return this result code instead of calling the real method.
    pub fault: Option<i32>,
    /// Async replication: how far replicas are behind after this commit.
    pub lag_ns: Option<u64>,
    /// Page cache: whether a cached read hit.
    pub cache_hit: Option<bool>,
    /// Requests a `[remote]` scenario sends for this call, by type.
    pub requests: RequestCounts,
}

/// A model being applied: the model plus its seeded state.
pub struct Engine {
    model: Model,
    seed: u64,
    rng: Rng,
    start_ns: u64,
    cache: Option<Lru>,
    fault_counts: Vec<u64>,
    /// Databases whose lease is held, with when it was last paid for.
    leases: HashMap<u16, u64>,
    opened: HashSet<u16>,
    /// Bytes written to the WAL or journal since the last commit, per db.
    pending: HashMap<u16, u64>,
    /// Each file's size as the calls show it (for request counts).
    sizes: HashMap<(u16, FileKind), u64>,
    /// Per database, its open connections (cache generation, opened at),
    /// the latest last (`[cache] per_connection`, `[remote] poll`).
    connections: HashMap<u16, Vec<(u64, u64)>>,
    next_connection: u64,
    /// Polls of the connections closed so far.
    polled: u64,
}

impl Engine {
    /// Applies `model` from `start_ns` on (partition windows count from
    /// it), with `seed` unless the model fixes its own.
    pub fn new(model: Model, seed: u64, start_ns: u64) -> Self {
        let seed = model.seed.unwrap_or(seed);
        Engine {
            cache: model.cache.as_ref().map(|c| Lru::new(c.pages)),
            fault_counts: vec![0; model.faults.len()],
            model,
            seed,
            rng: Rng::new(seed),
            start_ns,
            leases: HashMap::new(),
            opened: HashSet::new(),
            pending: HashMap::new(),
            sizes: HashMap::new(),
            connections: HashMap::new(),
            next_connection: 0,
            polled: 0,
        }
    }

    /// A main database file opened or closed at `now_ns`: connections for
    /// caches and polling.
    fn connection(&mut self, c: &Call) {
        if c.kind != FileKind::MainDb || !matches!(c.op, Op::Open | Op::Close) {
            return;
        }
        let per_connection = self.model.cache.as_ref().is_some_and(|c| c.per_connection);
        let polls = self.model.remote.as_ref().is_some_and(|r| r.poll.is_some());
        if !per_connection && !polls {
            return;
        }
        let stack = self.connections.entry(c.db).or_default();
        if c.op == Op::Open {
            self.next_connection += 1;
            stack.push((self.next_connection, c.now_ns));
        } else if let Some((_, opened)) = stack.pop() {
            self.polled += self.polls_over(c.now_ns.saturating_sub(opened));
        }
    }

    /// Polls a connection open for `ns` made (one per full period).
    fn polls_over(&self, ns: u64) -> u64 {
        let poll = self.model.remote.as_ref().and_then(|r| r.poll.as_ref());
        poll.map_or(0, |p| ns / p.every_ns.max(1))
    }

    /// `[remote] poll`: the requests of every connection's polls up to
    /// `end_ns`, by type (each connection polls once per full period it
    /// is open; those still open at the end, up to it).
    pub fn polls(&self, end_ns: u64) -> RequestCounts {
        let mut counts = [0u32; MAX_REQUEST_TYPES];
        let Some(poll) = self.model.remote.as_ref().and_then(|r| r.poll.as_ref()) else {
            return counts;
        };
        let open: u64 = self
            .connections
            .values()
            .flatten()
            .map(|&(_, opened)| self.polls_over(end_ns.saturating_sub(opened)))
            .sum();
        let polls = self.polled + open;
        for &(t, n) in &poll.requests {
            counts[t] = counts[t].saturating_add((polls * n as u64).min(u32::MAX as u64) as u32);
        }
        counts
    }

    /// A file's size as the real file system reported it (after an
    /// xFileSize): later request counts use it.
    pub fn observe_size(&mut self, db: u16, kind: FileKind, size: u64) {
        if self.model.remote.is_some() {
            self.sizes.insert((db, kind), size);
        }
    }

    pub fn model(&self) -> &Model {
        &self.model
    }

    /// The model and the engine's random numbers (for what is replayed
    /// beside the calls).
    pub fn model_and_rng(&mut self) -> (&Model, &mut Rng) {
        (&self.model, &mut self.rng)
    }

    pub fn seed(&self) -> u64 {
        self.seed
    }

    /// Whether a partition window is open at `now_ns`.
    pub fn partitioned(&self, now_ns: u64) -> bool {
        let t = now_ns.saturating_sub(self.start_ns);
        self.model
            .partitions
            .iter()
            .any(|p| t >= p.start_ns && p.duration_ns.is_none_or(|d| t < p.start_ns + d))
    }

    pub fn decide(&mut self, c: &Call) -> Decision {
        let mut d = Decision::default();
        for (i, fault) in self.model.faults.iter().enumerate() {
            if fault.select.matches(c.op, c.kind) {
                self.fault_counts[i] += 1;
                let fires = match fault.trigger {
                    Trigger::Probability(p) => self.rng.unit() < p,
                    Trigger::Nth(n) => self.fault_counts[i] == n,
                };
                if fires {
                    d.fault = Some(fault.rc);
                    return d;
                }
            }
        }
        self.connection(c);
        let partitioned = self.partitioned(c.now_ns);
        // A call that a remote design sends over the network, and the
        // error it gets when the network is partitioned.
        let mut remote: Option<i32> = None;

        let cached = self.cache_lookup(c);
        d.cache_hit = cached;
        if cached != Some(true) {
            let mut matched = false;
            for rule in &self.model.rules {
                if rule.select.matches(c.op, c.kind) {
                    matched = true;
                    d.delay_ns += rule.delay.as_ref().map_or(0, |x| x.sample(&mut self.rng));
                    if let Some((p, extra)) = &rule.tail {
                        if self.rng.unit() < *p {
                            d.delay_ns += extra.sample(&mut self.rng);
                        }
                    }
                    if let Some(rate) = rule.bandwidth {
                        d.delay_ns += (c.amount as f64 / rate * 1e9) as u64;
                    }
                    if let Some((block, extra)) = &rule.partial_block {
                        if (c.offset | c.amount) & (block - 1) != 0 {
                            d.delay_ns += extra.sample(&mut self.rng);
                        }
                    }
                }
            }
            if matched || cached == Some(false) {
                remote = remote.or(failure_of(c.op));
            }
        }
        if let Some(m) = &self.model.metadata {
            if m.ops.contains(&c.op) {
                d.delay_ns += m.rtt.sample(&mut self.rng);
                remote = remote.or(failure_of(c.op));
            }
            if c.op == Op::Open && c.kind == FileKind::MainDb && self.opened.insert(c.db) {
                if let Some(lazy) = &m.lazy_load {
                    d.delay_ns += lazy.sample(&mut self.rng);
                    remote = remote.or(failure_of(c.op));
                }
            }
        }
        // With a cache, a hit sends nothing.
        if cached != Some(true) {
            self.requests(c, &mut d, &mut remote);
        }
        self.commit(c, &mut d, &mut remote);
        self.lease(c, &mut d, &mut remote);
        if partitioned {
            if let Some(rc) = remote {
                return Decision {
                    fault: Some(rc),
                    ..Decision::default()
                };
            }
        }
        d
    }

    /// Page cache: `Some(hit)` for reads of cached file kinds; writes
    /// update the cached copy.
    fn cache_lookup(&mut self, c: &Call) -> Option<bool> {
        let (cache, cfg) = (self.cache.as_mut()?, self.model.cache.as_ref()?);
        if !cfg.files.contains(&c.kind) || !matches!(c.op, Op::Read | Op::Write) {
            return None;
        }
        let page = c.page_size.max(512) as u64;
        let first = c.offset / page;
        let last = (c.offset + c.amount.max(1) - 1) / page;
        // A connection's own cache: its pages apart from the others'.
        let connection = match cfg.per_connection {
            true => self
                .connections
                .get(&c.db)
                .and_then(|s| s.last())
                .map_or(0, |&(generation, _)| generation),
            false => 0,
        };
        let mut hit = true;
        for n in first..=last {
            hit &= cache.touch((c.db, connection << 40 | n));
        }
        (c.op == Op::Read).then_some(hit)
    }

    /// A `[remote]` scenario: the requests the call sends and their cost.
    fn requests(&mut self, c: &Call, d: &mut Decision, remote: &mut Option<i32>) {
        let Some(r) = &self.model.remote else {
            return;
        };
        let size = self.sizes.get(&(c.db, c.kind)).copied().unwrap_or(0);
        let (counts, cost) = r.requests(c.op, c.kind, (c.offset, c.amount, size), &mut self.rng);
        if counts.iter().any(|&n| n > 0) {
            d.requests = counts;
            d.delay_ns += cost as u64;
            *remote = remote.or(failure_of(c.op));
        }
        let after = Remote::size_after(c.op, c.offset, c.amount, size);
        if after != size {
            self.sizes.insert((c.db, c.kind), after);
        }
    }

    fn commit(&mut self, c: &Call, d: &mut Decision, remote: &mut Option<i32>) {
        let Some(commit) = &self.model.commit else {
            return;
        };
        if c.op == Op::Write && matches!(c.kind, FileKind::Wal | FileKind::MainJournal) {
            *self.pending.entry(c.db).or_default() += c.amount;
        }
        let wal_commit = c.kind == FileKind::Wal && c.frame.is_some_and(|f| f.is_commit());
        let commits = match commit.at {
            CommitAt::Sync => {
                c.op == Op::Sync && matches!(c.kind, FileKind::Wal | FileKind::MainJournal)
            }
            CommitAt::WalCommit => wal_commit,
            CommitAt::Transaction => {
                wal_commit
                    || matches!(
                        (c.op, c.kind, c.lock),
                        (Op::Unlock, FileKind::MainDb, Some((from, to)))
                            if from >= LockLevel::Reserved && to < LockLevel::Reserved
                    )
            }
        };
        if !commits {
            return;
        }
        let mut cost = 0;
        let mut rtts = Vec::with_capacity(commit.replicas as usize);
        for _ in 0..commit.round_trips {
            rtts.clear();
            rtts.extend((0..commit.replicas).map(|_| commit.rtt.sample(&mut self.rng)));
            rtts.sort_unstable();
            cost += rtts[commit.quorum as usize - 1];
        }
        cost += commit
            .overhead
            .as_ref()
            .map_or(0, |o| o.sample(&mut self.rng));
        let shipped = self.pending.remove(&c.db).unwrap_or(0);
        if let Some(rate) = commit.bandwidth {
            cost += (shipped as f64 / rate * 1e9) as u64;
        }
        match commit.replication {
            Replication::Sync => {
                d.delay_ns += cost;
                let failure = match commit.at {
                    CommitAt::Transaction => failure_of(c.op),
                    _ => Some(IOERR_FSYNC),
                };
                *remote = remote.or(failure);
            }
            Replication::Async => d.lag_ns = Some(cost),
        }
    }

    fn lease(&mut self, c: &Call, d: &mut Decision, remote: &mut Option<i32>) {
        let Some(lease) = &self.model.lease else {
            return;
        };
        match (c.op, c.lock) {
            (Op::Lock, Some((from, to)))
                if from < LockLevel::Reserved && to >= LockLevel::Reserved =>
            {
                d.delay_ns += lease.rtt.sample(&mut self.rng);
                self.leases.insert(c.db, c.now_ns);
                *remote = remote.or(Some(BUSY));
                return;
            }
            (Op::Unlock, Some((_, to))) if to < LockLevel::Reserved => {
                self.leases.remove(&c.db);
                return;
            }
            _ => {}
        }
        let (Some(period), Some(paid)) = (lease.renew_every_ns, self.leases.get_mut(&c.db)) else {
            return;
        };
        let beats = c.now_ns.saturating_sub(*paid) / period.max(1);
        if beats > 0 {
            *paid += beats * period;
            for _ in 0..beats.min(100) {
                d.delay_ns += lease.rtt.sample(&mut self.rng);
            }
        }
    }
}

const BUSY: i32 = 5;
const IOERR_FSYNC: i32 = 10 | 4 << 8;

/// The error a remote-modelled call gets when the network is partitioned:
/// what the modelled system would return.
fn failure_of(op: Op) -> Option<i32> {
    Some(match op {
        Op::Read => 10 | 1 << 8,  // fetch failed: IOERR_READ
        Op::Write => 10 | 3 << 8, // IOERR_WRITE
        Op::Sync => IOERR_FSYNC,
        Op::Truncate => 10 | 6 << 8, // IOERR_TRUNCATE
        Op::FileSize => 10 | 7 << 8, // IOERR_FSTAT
        Op::Delete => 10 | 10 << 8,  // IOERR_DELETE
        Op::Access => 10 | 13 << 8,  // IOERR_ACCESS
        Op::Open => 14,              // CANTOPEN
        Op::Lock => BUSY,            // lease lost
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::spec::parse;

    fn engine(text: &str) -> Engine {
        Engine::new(parse("t.toml", text).unwrap(), 42, 0)
    }

    fn call(op: Op, kind: FileKind, offset: u64, now_ns: u64) -> Call {
        Call {
            op,
            kind,
            db: 0,
            offset,
            amount: 4096,
            page_size: 4096,
            lock: None,
            now_ns,
            frame: None,
        }
    }

    #[test]
    fn same_seed_same_delays() {
        let text = "[[rule]]\ndelay = { dist = \"lognormal\", p50 = \"1ms\", p99 = \"9ms\" }\n";
        let run = |seed| {
            let mut e = Engine::new(parse("t", text).unwrap(), seed, 0);
            (0..100)
                .map(|i| {
                    e.decide(&call(Op::Read, FileKind::MainDb, i * 4096, 0))
                        .delay_ns
                })
                .collect::<Vec<_>>()
        };
        assert_eq!(run(1), run(1));
        assert_ne!(run(1), run(2));
    }

    #[test]
    fn only_cache_misses_pay_read_latency() {
        let mut e = engine("[cache]\npages = 2\n[[rule]]\nops = [\"read\"]\ndelay = { dist = \"fixed\", value = \"1ms\" }\n");
        let pattern = [0u64, 1, 0, 1, 2, 0, 1, 2, 2];
        let hits: Vec<bool> = pattern
            .iter()
            .map(|p| {
                let d = e.decide(&call(Op::Read, FileKind::MainDb, p * 4096, 0));
                assert_eq!(
                    d.delay_ns,
                    if d.cache_hit == Some(true) {
                        0
                    } else {
                        1_000_000
                    }
                );
                d.cache_hit.unwrap()
            })
            .collect();
        assert_eq!(
            hits,
            [false, false, true, true, false, false, false, false, true]
        );
        // A write makes the page local.
        e.decide(&call(Op::Write, FileKind::MainDb, 9 * 4096, 0));
        assert_eq!(
            e.decide(&call(Op::Read, FileKind::MainDb, 9 * 4096, 0))
                .cache_hit,
            Some(true)
        );
    }

    #[test]
    fn quorum_commit_waits_for_the_kth_replica() {
        // Uniform RTTs in [0, 10ms): the 2nd of 3 has median 5ms, the
        // 3rd of 3 about 7.9ms (order statistics of the uniform).
        let median = |quorum: u32| {
            let text = format!("[commit]\nrtt = {{ dist = \"uniform\", min = \"0ms\", max = \"10ms\" }}\nreplicas = 3\nquorum = {quorum}\n");
            let mut e = engine(&text);
            let mut v: Vec<u64> = (0..20_001)
                .map(|_| e.decide(&call(Op::Sync, FileKind::Wal, 0, 0)).delay_ns)
                .collect();
            v.sort_unstable();
            v[v.len() / 2] as f64 / 1e6
        };
        assert!((median(2) - 5.0).abs() < 0.15, "{}", median(2));
        assert!((median(3) - 7.94).abs() < 0.15, "{}", median(3));
        assert!((median(1) - 2.06).abs() < 0.15, "{}", median(1));
        let mut e = engine(
            "[commit]\nrtt = { dist = \"fixed\", value = \"3ms\" }\nreplication = \"async\"\n",
        );
        let d = e.decide(&call(Op::Sync, FileKind::Wal, 0, 0));
        assert_eq!((d.delay_ns, d.lag_ns), (0, Some(3_000_000)));
        assert_eq!(
            e.decide(&call(Op::Sync, FileKind::MainDb, 0, 0)),
            Decision::default()
        );
    }

    #[test]
    fn leases_are_paid_on_escalation_and_renewed_while_held() {
        let mut e =
            engine("[lease]\nrtt = { dist = \"fixed\", value = \"2ms\" }\nrenew_every = \"1s\"\n");
        let lock = |from, to, now_ns| Call {
            lock: Some((from, to)),
            ..call(Op::Lock, FileKind::MainDb, 0, now_ns)
        };
        use LockLevel::*;
        assert_eq!(e.decide(&lock(None, Shared, 0)).delay_ns, 0);
        assert_eq!(e.decide(&lock(Shared, Reserved, 0)).delay_ns, 2_000_000);
        assert_eq!(
            e.decide(&call(Op::Write, FileKind::MainDb, 0, 500_000_000))
                .delay_ns,
            0
        );
        // Two heartbeats fell due by 2.5 s.
        assert_eq!(
            e.decide(&call(Op::Write, FileKind::MainDb, 0, 2_500_000_000))
                .delay_ns,
            4_000_000
        );
        let unlock = Call {
            lock: Some((Exclusive, None)),
            ..call(Op::Unlock, FileKind::MainDb, 0, 3_000_000_000)
        };
        e.decide(&unlock);
        assert_eq!(
            e.decide(&call(Op::Write, FileKind::MainDb, 0, 9_000_000_000))
                .delay_ns,
            0
        );
    }

    #[test]
    fn faults_fire_on_the_nth_call_or_by_probability() {
        let mut e = engine(
            "[[fault]]\nops = [\"write\"]\nfiles = [\"wal\"]\nerror = \"ioerr_write\"\nnth = 3\n",
        );
        let fired: Vec<Option<i32>> = (0..5)
            .map(|_| e.decide(&call(Op::Write, FileKind::Wal, 0, 0)).fault)
            .collect();
        assert_eq!(fired, [None, None, Some(778), None, None]);
        assert_eq!(
            e.decide(&call(Op::Write, FileKind::MainDb, 0, 0)).fault,
            None
        );
        let mut e =
            engine("[[fault]]\nops = [\"read\"]\nerror = \"ioerr_read\"\nprobability = 0.25\n");
        let n = (0..10_000)
            .filter(|_| {
                e.decide(&call(Op::Read, FileKind::MainDb, 0, 0))
                    .fault
                    .is_some()
            })
            .count();
        assert!((2300..=2700).contains(&n), "{n}");
    }

    #[test]
    fn a_partition_fails_remote_calls_then_recovers() {
        let mut e = engine(
            "[cache]\npages = 10\n[[rule]]\nops = [\"read\"]\ndelay = { dist = \"fixed\", value = \"1ms\" }\n\
             [lease]\nrtt = { dist = \"fixed\", value = \"1ms\" }\n[[partition]]\nstart = \"1s\"\nduration = \"2s\"\n",
        );
        let s = 1_000_000_000;
        e.decide(&call(Op::Read, FileKind::MainDb, 0, 0)); // page 0 now cached
        let lock = |now_ns| Call {
            lock: Some((LockLevel::Shared, LockLevel::Reserved)),
            ..call(Op::Lock, FileKind::MainDb, 0, now_ns)
        };
        assert_eq!(
            e.decide(&call(Op::Read, FileKind::MainDb, 4096, s + 1))
                .fault,
            Some(266),
            "miss: fetch failed"
        );
        assert_eq!(
            e.decide(&call(Op::Read, FileKind::MainDb, 0, s + 2)).fault,
            None,
            "hits stay local"
        );
        assert_eq!(e.decide(&lock(s + 3)).fault, Some(5), "lease lost: BUSY");
        assert_eq!(e.decide(&lock(3 * s)).fault, None, "recovered");
        assert_eq!(
            e.decide(&call(Op::Read, FileKind::MainDb, 8192, 3 * s))
                .delay_ns,
            1_000_000
        );
    }
}
