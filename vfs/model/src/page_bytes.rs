//! What a replicator's uploaded page takes, in bytes: a fixed size, or
//! what the page compresses to with LZ4 (Litestream) from the samples a
//! trace holds (one WAL page write in 8 carries its LZ4 size), plus the
//! replicator's framing of a page.
//!
//! An upload holds each page once, at its last version, however often it
//! was written: a page written on every commit (a B-tree's interior page)
//! is sampled often but uploaded once per interval. So each uploaded page
//! counts its own latest sample, and a page never sampled counts the mean
//! over the sampled pages (each page once, at its last sample), not the
//! mean over writes.

use std::collections::HashMap;
use vfscope_segment::trace::TracedCall;
use vfscope_segment::{FileKind, Op};

/// What an uploaded page takes: `fixed` bytes, plus, with `lz4`, what the
/// trace's sampled WAL pages compress to with LZ4 on average (`"lz4 +
/// 30B"`; `"4KiB"` is fixed only).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct PageBytes {
    pub lz4: bool,
    pub fixed: f64,
}

impl PageBytes {
    /// Parses `"lz4"`, `"lz4 + SIZE"` or `"SIZE"`.
    pub fn parse(text: &str) -> Result<PageBytes, String> {
        let text = text.trim();
        let Some(rest) = text.strip_prefix("lz4") else {
            return crate::units::parse_bytes(text)
                .map(|b| PageBytes {
                    lz4: false,
                    fixed: b as f64,
                })
                .map_err(|why| format!("{why}, or lz4 + a size"));
        };
        let rest = rest.trim();
        if rest.is_empty() {
            return Ok(PageBytes {
                lz4: true,
                fixed: 0.0,
            });
        }
        let size = rest
            .strip_prefix('+')
            .ok_or("expected lz4, or lz4 + a size such as 30B")?;
        let fixed = crate::units::parse_bytes(size).map_err(|why| format!("after lz4 +: {why}"))?;
        Ok(PageBytes {
            lz4: true,
            fixed: fixed as f64,
        })
    }
}

/// A database's page (database index, page number).
type PageId = (u16, u32);

/// The bytes each uploaded page counts, following a trace's calls in order.
#[derive(Clone)]
pub struct PageSizer {
    spec: PageBytes,
    /// What a page without a sample of its own counts (before `fixed`).
    fallback: f64,
    latest: HashMap<PageId, u32>,
    /// The page of the frame header each thread wrote last: the page
    /// write after it (same thread) carries that page.
    frame_of: HashMap<u32, PageId>,
    /// Sampled WAL page writes in the trace.
    pub samples: u64,
}

impl PageSizer {
    /// A sizer for `calls` (sorted by start). Without samples (a trace
    /// recorded before version 3, or no WAL page sampled) an `lz4` page
    /// counts whole: the size the WAL's page writes had, or 4 KiB.
    pub fn new(spec: PageBytes, calls: &[&TracedCall]) -> PageSizer {
        let mut sizer = PageSizer {
            spec,
            fallback: 0.0,
            latest: HashMap::new(),
            frame_of: HashMap::new(),
            samples: 0,
        };
        if !spec.lz4 {
            return sizer;
        }
        for c in calls {
            sizer.see(c);
        }
        sizer.samples = calls.iter().filter(|c| c.lz4_size.is_some()).count() as u64;
        sizer.fallback = if sizer.latest.is_empty() {
            calls
                .iter()
                .find(|c| c.kind == FileKind::Wal && c.op == Op::Write && c.size >= 512)
                .map_or(4096.0, |c| c.size as f64)
        } else {
            sizer.latest.values().map(|&s| s as f64).sum::<f64>() / sizer.latest.len() as f64
        };
        sizer.latest.clear();
        sizer.frame_of.clear();
        sizer
    }

    /// Follows one call (in order): a frame header says which page the
    /// thread's next WAL page write holds; a sampled write, its size.
    pub fn see(&mut self, c: &TracedCall) {
        if !self.spec.lz4 {
            return;
        }
        if let Some(frame) = c.frame {
            self.frame_of.insert(c.tid, (c.db, frame.page));
        } else if let Some(size) = c.lz4_size {
            if let Some(&page) = self.frame_of.get(&c.tid) {
                self.latest.insert(page, size);
            }
        }
    }

    /// What `page` counts in an upload now.
    pub fn bytes(&self, page: PageId) -> f64 {
        if !self.spec.lz4 {
            return self.spec.fixed;
        }
        let compressed = self.latest.get(&page).map_or(self.fallback, |&s| s as f64);
        self.spec.fixed + compressed
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use vfscope_segment::trace::WalFrame;

    #[test]
    fn page_bytes_parse_lz4_with_framing_or_a_size() {
        let p = |t| PageBytes::parse(t);
        assert_eq!(
            p("lz4 + 31B"),
            Ok(PageBytes {
                lz4: true,
                fixed: 31.0
            })
        );
        assert_eq!(
            p("lz4"),
            Ok(PageBytes {
                lz4: true,
                fixed: 0.0
            })
        );
        assert_eq!(
            p("4KiB"),
            Ok(PageBytes {
                lz4: false,
                fixed: 4096.0
            })
        );
        assert!(p("lz4 - 3B").unwrap_err().contains("lz4 + a size"));
        assert!(p("lz4 + lots").unwrap_err().contains("after lz4 +"));
        assert!(p("zstd").is_err());
    }

    fn write(tid: u32, page: Option<u32>, lz4_size: Option<u32>) -> TracedCall {
        TracedCall {
            start_ns: 0,
            latency_ns: 1,
            offset: 4096,
            delay_ns: 0,
            size: if page.is_some() { 24 } else { 4096 },
            rc: 0,
            tid,
            op: Op::Write,
            kind: FileKind::Wal,
            db: 0,
            frame: page.map(|page| WalFrame {
                page,
                commit_size: 0,
            }),
            lz4_size,
        }
    }

    /// A page written often (an interior page) is sampled often but counts
    /// once: a page without a sample of its own counts the mean over pages,
    /// not over writes.
    #[test]
    fn each_page_counts_its_latest_sample_and_unsampled_ones_the_mean_over_pages() {
        let mut calls = Vec::new();
        for size in [1000, 1500, 2000] {
            calls.push(write(1, Some(3), None));
            calls.push(write(1, None, Some(size)));
        }
        calls.push(write(1, Some(9), None));
        calls.push(write(1, None, Some(100)));
        calls.push(write(1, Some(12), None));
        calls.push(write(1, None, None));
        let refs: Vec<&TracedCall> = calls.iter().collect();
        let spec = PageBytes::parse("lz4 + 10B").unwrap();
        let mut sizer = PageSizer::new(spec, &refs);
        assert_eq!(sizer.samples, 4);
        // Before any call is followed, every page counts the mean over
        // pages: (2000 + 100) / 2, not (1000 + 1500 + 2000 + 100) / 4.
        assert_eq!(sizer.bytes((0, 12)), 1060.0);
        for c in &refs[..2] {
            sizer.see(c);
        }
        assert_eq!(sizer.bytes((0, 3)), 1010.0);
        for c in &refs[2..] {
            sizer.see(c);
        }
        assert_eq!(sizer.bytes((0, 3)), 2010.0);
        assert_eq!(sizer.bytes((0, 9)), 110.0);
        assert_eq!(sizer.bytes((0, 12)), 1060.0);
        // Another thread's sample belongs to that thread's frame.
        sizer.see(&write(2, None, Some(7)));
        assert_eq!(sizer.bytes((0, 12)), 1060.0);
        // Without samples a page counts whole; a fixed size is just that.
        let plain: Vec<&TracedCall> = refs
            .iter()
            .filter(|c| c.lz4_size.is_none())
            .copied()
            .collect();
        assert_eq!(PageSizer::new(spec, &plain).bytes((0, 3)), 4106.0);
        let fixed = PageBytes::parse("400B").unwrap();
        assert_eq!(PageSizer::new(fixed, &refs).bytes((0, 3)), 400.0);
    }
}
