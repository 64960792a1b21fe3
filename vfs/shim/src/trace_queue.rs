//! The trace's queue, the part of tracing on the call path: a call claims
//! a slot of a bounded queue (a compare-and-swap and seven stores); the
//! trace writer (`trace`) takes the calls out on its own thread. When the
//! queue is full the call is not recorded and the loss is counted, never
//! silent.
//!
//! The queue is Vyukov's bounded MPMC queue with one consumer; every slot's
//! payload is atomics, so no unsafe code is needed.

use std::sync::atomic::{AtomicPtr, AtomicU64, Ordering::*};
use vfscope_segment::trace::{TracedCall, WalFrame};
use vfscope_segment::{FileKind, Op};

struct Slot {
    seq: AtomicU64,
    words: [AtomicU64; 7],
}

pub struct Queue {
    slots: Box<[Slot]>,
    mask: u64,
    head: AtomicU64,
    /// Calls not recorded: the queue was full, or the writer failed.
    pub dropped: AtomicU64,
}

/// What a WAL write's record says beyond the call, in one word: a frame
/// header's frame (its page, never 0, in the high half) or a sampled
/// page's LZ4 size (high half 0); 0 for neither. One write is never both.
pub fn pack_wal_note(frame: Option<WalFrame>, lz4_size: Option<u32>) -> u64 {
    match frame {
        Some(_) => WalFrame::pack(frame),
        None => lz4_size.map_or(0, u64::from),
    }
}

pub fn unpack_wal_note(word: u64) -> (Option<WalFrame>, Option<u32>) {
    match WalFrame::unpack(word) {
        Some(frame) => (Some(frame), None),
        None => (None, (word != 0).then_some(word as u32)),
    }
}

static QUEUE: AtomicPtr<Queue> = AtomicPtr::new(std::ptr::null_mut());

/// The queue, when tracing.
#[inline(always)]
pub fn queue() -> Option<&'static Queue> {
    let p = QUEUE.load(Acquire);
    // SAFETY: QUEUE only holds queues leaked by `new`, never freed.
    (!p.is_null()).then(|| unsafe { &*p })
}

/// A queue of `slots` (a power of two, at least 2), never freed.
pub fn new(slots: usize) -> &'static Queue {
    Box::leak(Box::new(Queue {
        slots: (0..slots as u64)
            .map(|i| Slot {
                seq: AtomicU64::new(i),
                words: Default::default(),
            })
            .collect(),
        mask: slots as u64 - 1,
        head: AtomicU64::new(0),
        dropped: AtomicU64::new(0),
    }))
}

/// Makes `queue` the one calls go to.
pub fn install(queue: &'static Queue) {
    QUEUE.store(queue as *const Queue as *mut Queue, Release);
}

/// In a forked child: the parent's queue (and its writer) is not ours.
pub fn forget() {
    QUEUE.store(std::ptr::null_mut(), Release);
}

impl Queue {
    /// Queues one call; counts it as dropped when the queue is full.
    #[inline]
    pub fn push(&self, c: &TracedCall) {
        let mut pos = self.head.load(Relaxed);
        loop {
            let slot = &self.slots[(pos & self.mask) as usize];
            let seq = slot.seq.load(Acquire);
            if seq == pos {
                match self
                    .head
                    .compare_exchange_weak(pos, pos + 1, Relaxed, Relaxed)
                {
                    Ok(_) => {
                        let w = &slot.words;
                        w[0].store(c.start_ns, Relaxed);
                        w[1].store(c.latency_ns, Relaxed);
                        w[2].store(c.offset, Relaxed);
                        w[3].store(c.delay_ns, Relaxed);
                        w[4].store(c.size as u64 | (c.rc as u32 as u64) << 32, Relaxed);
                        let key = c.tid as u64
                            | (c.op as u64) << 32
                            | (c.kind as u64) << 40
                            | (c.db as u64) << 48;
                        w[5].store(key, Relaxed);
                        w[6].store(pack_wal_note(c.frame, c.lz4_size), Relaxed);
                        slot.seq.store(pos + 1, Release);
                        return;
                    }
                    Err(current) => pos = current,
                }
            } else if seq < pos {
                self.dropped.fetch_add(1, Relaxed);
                return;
            } else {
                pos = self.head.load(Relaxed);
            }
        }
    }

    /// Takes the call at `tail` (the consumer's position), if it is
    /// queued; the consumer then moves on by one.
    pub fn take(&self, tail: u64) -> Option<TracedCall> {
        let slot = &self.slots[(tail & self.mask) as usize];
        if slot.seq.load(Acquire) != tail + 1 {
            return None;
        }
        let w = &slot.words;
        let (packed, key) = (w[4].load(Relaxed), w[5].load(Relaxed));
        let (frame, lz4_size) = unpack_wal_note(w[6].load(Relaxed));
        let call = TracedCall {
            start_ns: w[0].load(Relaxed),
            latency_ns: w[1].load(Relaxed),
            offset: w[2].load(Relaxed),
            delay_ns: w[3].load(Relaxed),
            size: packed as u32,
            rc: (packed >> 32) as u32 as i32,
            tid: key as u32,
            op: Op::from_index((key >> 32 & 0xff) as usize).unwrap_or(Op::Open),
            kind: FileKind::from_index((key >> 40 & 0xff) as usize).unwrap_or(FileKind::Other),
            db: (key >> 48) as u16,
            frame,
            lz4_size,
        };
        slot.seq.store(tail + self.mask + 1, Release);
        Some(call)
    }
}
