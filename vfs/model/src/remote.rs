//! Request-level scenarios: a VFS that turns each call into requests to a
//! remote store (an object store, a page server). The model says which
//! requests each op sends and how many (per call, per block touched, per
//! page of keys listed...), and what one request of each type costs:
//! round trips, the server's time, the client's own time, and keys listed.
//!
//! The counts need the size of each file, which the engine follows from
//! the calls themselves (writes, truncates, deletes, file sizes seen).

use crate::dist::Dist;
use crate::rng::Rng;
use crate::select::Selector;
use vfscope_segment::{FileKind, Op};

/// Request types a model may declare (the segment's request table).
pub const MAX_REQUEST_TYPES: usize = vfscope_segment::REQUEST_TYPES;

/// How many requests of a type one call sends.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Count {
    /// One.
    Call,
    /// One per block the call's byte range touches.
    Block,
    /// One per touched block the range does not cover whole (a store that
    /// keeps whole blocks must fetch it before it writes it).
    PartialBlock,
    /// One per page of the file's keys, at least one (a listing).
    ListingPage,
    /// One per page of the file's keys, none if it has none (a batch
    /// operation on the keys, such as a multi-object delete).
    KeyPage,
    /// One per block wholly past a truncate's new size.
    DroppedBlock,
    /// One if a truncate's new size cuts a block that exists.
    PartialTail,
}

impl Count {
    pub const NAMES: &'static [(&'static str, Count)] = &[
        ("call", Count::Call),
        ("block", Count::Block),
        ("partial block", Count::PartialBlock),
        ("listing page", Count::ListingPage),
        ("key page", Count::KeyPage),
        ("dropped block", Count::DroppedBlock),
        ("partial tail", Count::PartialTail),
    ];

    pub fn from_name(name: &str) -> Option<Count> {
        Self::NAMES
            .iter()
            .find(|(n, _)| *n == name)
            .map(|&(_, c)| c)
    }
}

/// One request type and what a request of it costs.
#[derive(Clone, Debug, PartialEq)]
pub struct RequestType {
    pub name: String,
    /// Network round trips per request (2 for an upload that waits for
    /// `100 Continue`).
    pub round_trips: u32,
    /// The server's time per request, without the network (a fixed time,
    /// or a log-normal of its median and p99 where those were measured).
    pub time: Dist,
    /// The time of a request for a block that is not stored (a GET that
    /// answers NoSuchKey), if it differs.
    pub miss_time: Option<Dist>,
    /// Added per key a listing returns.
    pub per_key_ns: f64,
    /// US dollars per 1,000 requests.
    pub price_per_1000: f64,
}

/// Which requests the calls a selector picks send.
#[derive(Clone, Debug, PartialEq)]
pub struct Send {
    pub select: Selector,
    /// (request type index, how many, that many times over).
    pub requests: Vec<(usize, Count, u32)>,
}

/// Requests each open connection (a main database file open) sends every
/// `every_ns` in the background (a replica polled for changes): billed,
/// never waited for.
#[derive(Clone, Debug, PartialEq)]
pub struct Poll {
    pub every_ns: u64,
    /// (request type index, how many each time).
    pub requests: Vec<(usize, u32)>,
}

/// The blocks a range covers only in part (at most its first and last).
#[derive(Clone, Copy, Debug, Default)]
struct Partial {
    count: u64,
    missing: u64,
}

/// A request-level scenario.
#[derive(Clone, Debug, PartialEq)]
pub struct Remote {
    /// Bytes per stored object.
    pub block: u64,
    pub rtt_ns: f64,
    /// The client's own time per request (its SDK, its VFS code).
    pub client_ns: f64,
    /// Keys per listing page.
    pub list_page: u64,
    pub requests: Vec<RequestType>,
    pub sends: Vec<Send>,
    pub poll: Option<Poll>,
}

/// Requests by type, as the model's `requests` lists them.
pub type RequestCounts = [u32; MAX_REQUEST_TYPES];

impl Remote {
    /// The requests `op` sends on a file of `size` bytes (before the call)
    /// for the byte range `offset..offset + amount` (a truncate's new size
    /// is its `offset`), and their cost in ns, each request's time drawn
    /// from its distribution.
    pub fn requests(
        &self,
        op: Op,
        kind: FileKind,
        (offset, amount, size): (u64, u64, u64),
        rng: &mut Rng,
    ) -> (RequestCounts, f64) {
        let mut counts = [0u32; MAX_REQUEST_TYPES];
        let mut cost = 0.0;
        let keys = size.div_ceil(self.block);
        for send in self.sends.iter().filter(|s| s.select.matches(op, kind)) {
            for &(t, count, times) in &send.requests {
                let kind = &self.requests[t];
                // Keys each request lists (for `per_key`).
                let pages =
                    |n: u64| (0..n).map(move |i| (keys - i * self.list_page).min(self.list_page));
                // (requests, of those for blocks not stored, keys listed)
                let (n, missing, listed): (u64, u64, u64) = match count {
                    Count::Call => (1, 0, keys.min(self.list_page)),
                    Count::Block => {
                        let (touched, _, missing) = self.blocks(offset, amount, keys);
                        (touched, missing, 0)
                    }
                    Count::PartialBlock => {
                        let (_, partial, _) = self.blocks(offset, amount, keys);
                        (partial.count, partial.missing, 0)
                    }
                    Count::ListingPage => {
                        let n = keys.div_ceil(self.list_page).max(1);
                        (n, 0, pages(keys.div_ceil(self.list_page)).sum())
                    }
                    Count::KeyPage => {
                        let n = keys.div_ceil(self.list_page);
                        (n, 0, pages(n).sum())
                    }
                    Count::DroppedBlock => (keys.saturating_sub(offset.div_ceil(self.block)), 0, 0),
                    Count::PartialTail => (
                        (!offset.is_multiple_of(self.block) && offset < size) as u64,
                        0,
                        0,
                    ),
                };
                let n = n * times as u64;
                counts[t] = counts[t].saturating_add(n.min(u32::MAX as u64) as u32);
                let fixed = self.client_ns + kind.round_trips as f64 * self.rtt_ns;
                for i in 0..n {
                    let time = match &kind.miss_time {
                        Some(miss) if i < missing => miss,
                        _ => &kind.time,
                    };
                    cost += fixed + time.sample(rng) as f64;
                }
                cost += listed as f64 * kind.per_key_ns;
            }
        }
        (counts, cost)
    }

    /// The cost of one request of type `t` (for a stored block), in ns.
    pub fn cost(&self, t: usize, rng: &mut Rng) -> u64 {
        let kind = &self.requests[t];
        (self.client_ns + kind.round_trips as f64 * self.rtt_ns + kind.time.sample(rng) as f64)
            as u64
    }

    /// Blocks the range touches, those of them it covers only in part,
    /// and how many of either are not stored (at or past `keys`, the
    /// file's blocks before the call).
    fn blocks(&self, offset: u64, amount: u64, keys: u64) -> (u64, Partial, u64) {
        if amount == 0 {
            return (0, Partial::default(), 0);
        }
        let end = offset + amount;
        let first = offset / self.block;
        let last = (end - 1) / self.block;
        let touched = last - first + 1;
        let missing = |from: u64, to: u64| (to + 1).saturating_sub(from.max(keys));
        let whole = |b: u64| offset <= b * self.block && (b + 1) * self.block <= end;
        let mut partial = Partial::default();
        for b in [first, last]
            .into_iter()
            .take(if first == last { 1 } else { 2 })
        {
            if !whole(b) {
                partial.count += 1;
                partial.missing += (b >= keys) as u64;
            }
        }
        (touched, partial, missing(first, last))
    }

    /// The file's size after the call.
    pub fn size_after(op: Op, offset: u64, amount: u64, size: u64) -> u64 {
        match op {
            Op::Write => size.max(offset + amount),
            Op::Truncate => offset,
            Op::Delete => 0,
            _ => size,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(name: &str, round_trips: u32) -> RequestType {
        RequestType {
            name: name.into(),
            round_trips,
            time: Dist::Fixed { ns: 1000.0 },
            miss_time: None,
            per_key_ns: if name == "list" { 10.0 } else { 0.0 },
            price_per_1000: 0.0,
        }
    }

    fn send(ops: &[Op], requests: &[(usize, Count)]) -> Send {
        Send {
            select: Selector {
                ops: ops.to_vec(),
                files: vec![],
            },
            requests: requests.iter().map(|&(t, c)| (t, c, 1)).collect(),
        }
    }

    /// sqlite-s3vfs: GET per block read, GET per partial block and PUT per
    /// block written, LIST per size or access, LIST + batch DELETE per delete.
    fn s3vfs() -> Remote {
        let (get, put, list, delete) = (0, 1, 2, 3);
        Remote {
            block: 4096,
            rtt_ns: 100_000.0,
            client_ns: 0.0,
            list_page: 1000,
            poll: None,
            requests: vec![
                request("get", 1),
                request("put", 2),
                request("list", 1),
                request("delete", 1),
            ],
            sends: vec![
                send(&[Op::Read], &[(get, Count::Block)]),
                send(
                    &[Op::Write],
                    &[(get, Count::PartialBlock), (put, Count::Block)],
                ),
                send(&[Op::FileSize, Op::Access], &[(list, Count::Call)]),
                send(
                    &[Op::Delete],
                    &[(list, Count::ListingPage), (delete, Count::KeyPage)],
                ),
                send(
                    &[Op::Truncate],
                    &[
                        (list, Count::ListingPage),
                        (delete, Count::DroppedBlock),
                        (get, Count::PartialTail),
                        (put, Count::PartialTail),
                    ],
                ),
            ],
        }
    }

    fn counts(r: &Remote, op: Op, offset: u64, amount: u64, size: u64) -> [u32; 4] {
        let (c, _) = r.requests(
            op,
            FileKind::MainJournal,
            (offset, amount, size),
            &mut Rng::new(1),
        );
        [c[0], c[1], c[2], c[3]]
    }

    #[test]
    fn writes_pay_a_get_for_each_partial_block_they_touch() {
        let r = s3vfs();
        // A whole aligned block: one PUT.
        assert_eq!(counts(&r, Op::Write, 8192, 4096, 0), [0, 1, 0, 0]);
        // A journal record: 4 bytes, 4096 at an unaligned offset, 4 bytes.
        assert_eq!(counts(&r, Op::Write, 512, 4, 0), [1, 1, 0, 0]);
        assert_eq!(counts(&r, Op::Write, 516, 4096, 0), [2, 2, 0, 0]);
        // 8 KiB aligned: two whole blocks; 8 KiB + 1 byte: a partial third.
        assert_eq!(counts(&r, Op::Write, 0, 8192, 0), [0, 2, 0, 0]);
        assert_eq!(counts(&r, Op::Write, 0, 8193, 0), [1, 3, 0, 0]);
        // Reads: a GET per block, partial or not.
        assert_eq!(counts(&r, Op::Read, 24, 16, 0), [1, 0, 0, 0]);
        assert_eq!(counts(&r, Op::Read, 4000, 200, 0), [2, 0, 0, 0]);
        assert_eq!(counts(&r, Op::Read, 0, 0, 0), [0, 0, 0, 0]);
    }

    #[test]
    fn listings_page_and_cost_by_keys() {
        let r = s3vfs();
        // An empty prefix still costs one LIST (and no batch delete).
        assert_eq!(counts(&r, Op::Delete, 0, 0, 0), [0, 0, 1, 0]);
        // 2,500 blocks: three pages to list, three batch deletes.
        let size = 2500 * 4096;
        assert_eq!(counts(&r, Op::Delete, 0, 0, size), [0, 0, 3, 3]);
        // A size or an existence check sends one LIST (its first page).
        assert_eq!(counts(&r, Op::FileSize, 0, 0, size), [0, 0, 1, 0]);
        // Cost: 1000 us (time) + 100 us (rtt) + 10 ns per key listed.
        let (_, one) = r.requests(
            Op::FileSize,
            FileKind::MainDb,
            (0, 0, 66 * 4096),
            &mut Rng::new(1),
        );
        assert_eq!(one, 1000.0 + 100_000.0 + 660.0);
        let (_, empty) = r.requests(Op::Access, FileKind::MainDb, (0, 0, 0), &mut Rng::new(1));
        assert_eq!(empty, 101_000.0);
        // A PUT is two round trips.
        let (_, put) = r.requests(Op::Write, FileKind::MainDb, (0, 4096, 0), &mut Rng::new(1));
        assert_eq!(put, 201_000.0);
    }

    #[test]
    fn truncates_drop_whole_blocks_and_rewrite_a_cut_one() {
        let r = s3vfs();
        let size = 10 * 4096;
        // To 4 blocks exactly: LIST, 6 DELETEs.
        assert_eq!(counts(&r, Op::Truncate, 4 * 4096, 0, size), [0, 0, 1, 6]);
        // To 4.5 blocks: LIST, 5 DELETEs, and the 5th block cut (GET+PUT).
        assert_eq!(
            counts(&r, Op::Truncate, 4 * 4096 + 2048, 0, size),
            [1, 1, 1, 5]
        );
        // Growing or keeping the size sends only the LIST.
        assert_eq!(counts(&r, Op::Truncate, size + 100, 0, size), [0, 0, 1, 0]);
        assert_eq!(Remote::size_after(Op::Truncate, 100, 0, size), 100);
        assert_eq!(Remote::size_after(Op::Write, 0, 4096, 100), 4096);
        assert_eq!(Remote::size_after(Op::Delete, 0, 0, size), 0);
    }

    #[test]
    fn blocks_not_stored_cost_the_miss_time() {
        let mut r = s3vfs();
        r.requests[0].miss_time = Some(Dist::Fixed { ns: 5000.0 });
        let cost = |op, offset, amount, size| {
            r.requests(
                op,
                FileKind::MainDb,
                (offset, amount, size),
                &mut Rng::new(1),
            )
            .1
        };
        let (get_hit, get_miss) = (1000.0 + 100_000.0, 5000.0 + 100_000.0);
        let put = 1000.0 + 200_000.0;
        // A 2-block file: block 1 is stored, block 2 is not.
        let size = 2 * 4096;
        assert_eq!(cost(Op::Read, 4096, 4096, size), get_hit);
        assert_eq!(cost(Op::Read, 8192, 4096, size), get_miss);
        assert_eq!(cost(Op::Read, 4000, 8192, size), 2.0 * get_hit + get_miss);
        // A journal record appended at the end: the GET of the cut block
        // past the end misses; one inside the file hits.
        assert_eq!(cost(Op::Write, size, 4, size), get_miss + put);
        assert_eq!(cost(Op::Write, 516, 4096, size), 2.0 * get_hit + 2.0 * put);
        assert_eq!(
            cost(Op::Write, size - 4, 4096, size),
            get_hit + get_miss + 2.0 * put
        );
    }

    #[test]
    fn measured_tails_spread_the_cost_and_raise_its_mean() {
        let mut r = s3vfs();
        r.rtt_ns = 0.0;
        r.requests[0].time = Dist::lognormal(1000.0, 10_000.0).unwrap();
        let mut rng = Rng::new(7);
        let costs: Vec<f64> = (0..20_000)
            .map(|_| {
                r.requests(Op::Read, FileKind::MainDb, (0, 4096, 4096), &mut rng)
                    .1
            })
            .collect();
        let mean = costs.iter().sum::<f64>() / costs.len() as f64;
        let mut sorted = costs.clone();
        sorted.sort_by(f64::total_cmp);
        let p50 = sorted[sorted.len() / 2];
        assert!((p50 / 1000.0 - 1.0).abs() < 0.05, "median {p50}");
        // The mean of a log-normal: p50 * exp(sigma^2 / 2), here 1.63x.
        let expected = Dist::lognormal(1000.0, 10_000.0).unwrap().mean_ns();
        assert!(
            (mean / expected - 1.0).abs() < 0.05,
            "mean {mean} vs {expected}"
        );
    }
}
