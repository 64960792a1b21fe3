//! Log-linear latency buckets, the same shape HdrHistogram uses.
//!
//! Each power of two from 128 ns (2^7) to 137 s (2^37) is split into 128
//! equal sub-buckets, so a recorded value is known to within 1/128 of its
//! power of two (reported at the bucket midpoint: at most 0.4 % off). That is
//! HdrHistogram's layout at 2 significant figures; 3 figures would need 8×
//! the memory and would not fit the fixed 8 MiB segment with enough
//! histograms for a multi-database app. Values below 128 ns land in the first
//! bucket (they are reported as 128 ns) and values above 2^37 ns in the last:
//! nothing is dropped.

use hdrhistogram::Histogram;

/// log2 of the sub-buckets per power of two.
pub const SUB_BITS: u32 = 7;
/// Sub-buckets per power of two.
pub const SUB_BUCKETS: usize = 1 << SUB_BITS;
/// The smallest power of two with its own buckets (128 ns); below it a
/// bucket would be narrower than a nanosecond.
pub const MIN_OCTAVE: u32 = 7;
/// How many powers of two are covered (128 ns .. 2^37 ns ≈ 137 s).
pub const OCTAVES: usize = 30;
/// Buckets in one histogram.
pub const BUCKETS: usize = OCTAVES * SUB_BUCKETS;

const MIN_VALUE: u64 = 1 << MIN_OCTAVE;
/// The largest value with a bucket of its own range; larger ones share the
/// last bucket.
#[cfg(test)]
const MAX_VALUE: u64 = (1 << (MIN_OCTAVE as usize + OCTAVES)) - 1;

/// The bucket a latency in nanoseconds falls into.
#[inline]
pub fn bucket_of(ns: u64) -> usize {
    let v = ns.max(MIN_VALUE);
    let octave = 63 - v.leading_zeros();
    // Above MAX_VALUE the bucket index passes the end and is clamped to
    // the last bucket, where MAX_VALUE itself lands (the shift may drop
    // high bits then; the result is clamped anyway).
    let sub = (v.wrapping_shl(SUB_BITS) >> octave) as usize & (SUB_BUCKETS - 1);
    ((octave - MIN_OCTAVE) as usize * SUB_BUCKETS + sub).min(BUCKETS - 1)
}

/// The half-open range `[low, high)` of values, in nanoseconds, that land in
/// `bucket`.
pub fn bucket_range(bucket: usize) -> (u64, u64) {
    let octave = (bucket / SUB_BUCKETS) as u32 + MIN_OCTAVE;
    let sub = (bucket % SUB_BUCKETS) as u64;
    let low = ((SUB_BUCKETS as u64 + sub) << octave) >> SUB_BITS;
    let high = ((SUB_BUCKETS as u64 + sub + 1) << octave) >> SUB_BITS;
    (low, high)
}

/// The value a bucket stands for when it is turned back into numbers.
pub fn bucket_midpoint(bucket: usize) -> u64 {
    let (low, high) = bucket_range(bucket);
    low + (high - low) / 2
}

/// A sparse copy of one histogram: `(bucket, count)` for non-empty buckets,
/// in bucket order.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Buckets(pub Vec<(u16, u64)>);

impl Buckets {
    /// Total number of recorded values.
    pub fn count(&self) -> u64 {
        self.0.iter().map(|&(_, n)| n).sum()
    }

    /// Adds another histogram's counts into this one.
    pub fn merge(&mut self, other: &Buckets) {
        let mut merged = Vec::with_capacity(self.0.len() + other.0.len());
        let (mut a, mut b) = (self.0.iter().peekable(), other.0.iter().peekable());
        loop {
            match (a.peek(), b.peek()) {
                (Some(&&(ia, na)), Some(&&(ib, nb))) if ia == ib => {
                    merged.push((ia, na + nb));
                    a.next();
                    b.next();
                }
                (Some(&&x), Some(&&y)) => {
                    if x.0 < y.0 {
                        merged.push(x);
                        a.next();
                    } else {
                        merged.push(y);
                        b.next();
                    }
                }
                (Some(&&x), None) => {
                    merged.push(x);
                    a.next();
                }
                (None, Some(&&y)) => {
                    merged.push(y);
                    b.next();
                }
                (None, None) => break,
            }
        }
        self.0 = merged;
    }

    /// The counts recorded since `older`, an earlier copy of the same
    /// histogram (bucket-wise difference; never negative).
    pub fn since(&self, older: &Buckets) -> Buckets {
        Buckets(
            self.0
                .iter()
                .filter_map(|&(bucket, n)| {
                    let before = older
                        .0
                        .binary_search_by_key(&bucket, |&(b, _)| b)
                        .map_or(0, |i| older.0[i].1);
                    let d = n.saturating_sub(before);
                    (d > 0).then_some((bucket, d))
                })
                .collect(),
        )
    }

    /// Converts to an HdrHistogram (3 significant figures, 1 ns .. 2^38 ns),
    /// each bucket recorded at its midpoint.
    pub fn to_hdr(&self) -> Histogram<u64> {
        let mut h = Histogram::<u64>::new_with_bounds(1, 1 << 38, 3)
            .expect("static histogram bounds are valid");
        for &(bucket, n) in &self.0 {
            // Saturating: a count is bounded by the bucket's own count.
            h.saturating_record_n(bucket_midpoint(bucket as usize), n);
        }
        h
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_cover_the_range_without_gaps() {
        assert_eq!(bucket_of(0), 0);
        assert_eq!(bucket_of(128), 0);
        assert_eq!(bucket_of(129), 1);
        assert_eq!(bucket_of(u64::MAX), BUCKETS - 1);
        let mut previous_high = bucket_range(0).0;
        for b in 0..BUCKETS {
            let (low, high) = bucket_range(b);
            assert_eq!(low, previous_high, "bucket {b}");
            assert!(high > low);
            previous_high = high;
        }
    }

    /// The clamp-free computation equals clamping to [MIN_VALUE,
    /// MAX_VALUE] first, across every power of two and its neighbours.
    #[test]
    fn values_out_of_range_land_in_the_end_buckets() {
        let clamped = |ns: u64| {
            let v = ns.clamp(MIN_VALUE, MAX_VALUE);
            let octave = 63 - v.leading_zeros();
            let sub = ((v << SUB_BITS) >> octave) as usize & (SUB_BUCKETS - 1);
            (octave - MIN_OCTAVE) as usize * SUB_BUCKETS + sub
        };
        for bit in 0..64 {
            let p = 1u64 << bit;
            for v in [p - 1, p, p + 1, p | (p >> 1), p.wrapping_mul(3)] {
                assert_eq!(bucket_of(v), clamped(v), "{v}");
            }
        }
        assert_eq!(bucket_of(u64::MAX), clamped(u64::MAX));
    }

    #[test]
    fn every_value_lands_in_the_bucket_whose_range_holds_it() {
        let mut v = 128u64;
        while v < (1 << 37) {
            let (low, high) = bucket_range(bucket_of(v));
            assert!(low <= v && v < high, "{v} not in [{low},{high})");
            let mid = bucket_midpoint(bucket_of(v));
            let err = (mid as f64 - v as f64).abs() / v as f64;
            assert!(err <= 0.0040, "{v}: midpoint {mid} is {err} off");
            v = v + 1 + v / 97;
        }
    }

    #[test]
    fn hdr_conversion_keeps_counts_and_percentiles() {
        let mut b = Buckets::default();
        let values = [1_000u64, 2_000, 3_000, 10_000_000];
        let mut merged: std::collections::BTreeMap<u16, u64> = Default::default();
        for v in values {
            *merged.entry(bucket_of(v) as u16).or_default() += 1;
        }
        b.merge(&Buckets(merged.into_iter().collect()));
        let h = b.to_hdr();
        assert_eq!(h.len(), 4);
        let p50 = h.value_at_quantile(0.5) as f64;
        assert!((p50 - 2_000.0).abs() / 2_000.0 < 0.01, "p50 {p50}");
        let max = h.max() as f64;
        assert!((max - 1e7).abs() / 1e7 < 0.01, "max {max}");
    }

    #[test]
    fn since_subtracts_bucket_by_bucket() {
        let older = Buckets(vec![(1, 2), (5, 1)]);
        let newer = Buckets(vec![(1, 5), (5, 1), (300, 4)]);
        assert_eq!(newer.since(&older).0, vec![(1, 3), (300, 4)]);
    }

    #[test]
    fn merge_adds_matching_buckets() {
        let mut a = Buckets(vec![(1, 2), (5, 1)]);
        a.merge(&Buckets(vec![(0, 1), (5, 3), (9, 1)]));
        assert_eq!(a.0, vec![(0, 1), (1, 2), (5, 4), (9, 1)]);
    }
}
