//! Memory for the state of open files, apart from the host's heap.
//!
//! Each open file's [`FileState`] lives in a slot of this pool, not in the
//! `sqlite3_file` SQLite allocates (see [`super::TracedFile`]) and not in
//! the host's `malloc` heap: a few hundred long-lived bytes per file there
//! changed how the host's own allocations were served (the sqlite3 CLI's
//! malloc took 365k more instructions over 29k calls in the callgrind
//! bench). Slots come from anonymous mappings of 64 KiB, are never
//! unmapped, and are kept on a lock-free list (nothing to hold across
//! fork): the list head carries a generation count in its top 16 bits
//! (user addresses fit in 47), so a slot popped and pushed back meanwhile
//! fails the exchange instead of corrupting the list. A slot's link word
//! comes before its FileState and is only ever accessed atomically, so a
//! thread reading the link of a slot another thread has just taken races
//! with nothing the new owner writes.

use super::FileState;
use std::sync::atomic::{AtomicU64, Ordering::*};

const CHUNK: usize = 64 * 1024;
const ADDRESS: u64 = (1 << 48) - 1;
/// Where a slot's FileState starts: after its link word, aligned.
const STATE_AT: usize = if std::mem::align_of::<FileState>() > 8 {
    std::mem::align_of::<FileState>()
} else {
    8
};
/// A slot: the link word and a FileState, rounded up to whole cache lines
/// (files used by different threads never share one).
const SLOT: usize = (STATE_AT + std::mem::size_of::<FileState>()).div_ceil(64) * 64;
const _: () = assert!(std::mem::align_of::<FileState>() <= 64 && SLOT <= CHUNK);

/// Free slots: (generation << 48) | address of the first, each holding
/// the address of the next in its link word.
static FREE: AtomicU64 = AtomicU64::new(0);

/// The link word of a free slot.
///
/// # Safety
/// `slot` is a slot of this pool (mapped for the process, 64-aligned).
unsafe fn link<'a>(slot: u64) -> &'a AtomicU64 {
    // SAFETY: per the contract; pool memory is never unmapped, and the
    // link word is accessed only atomically (never by a slot's owner), so
    // reading it for a slot another thread took meanwhile is no data race
    // (the exchange that follows then fails).
    unsafe { AtomicU64::from_ptr(slot as *mut u64) }
}

/// Room for a FileState in a free slot, or NULL when no memory can be
/// mapped.
pub fn take() -> *mut FileState {
    loop {
        let head = FREE.load(Acquire);
        let slot = head & ADDRESS;
        if slot == 0 {
            if !refill() {
                return std::ptr::null_mut();
            }
            continue;
        }
        // SAFETY: `slot` came from the list: a slot of this pool.
        let next = unsafe { link(slot) }.load(Acquire);
        let new = (head >> 48).wrapping_add(1) << 48 | (next & ADDRESS);
        if FREE
            .compare_exchange_weak(head, new, AcqRel, Acquire)
            .is_ok()
        {
            return (slot as usize + STATE_AT) as *mut FileState;
        }
    }
}

/// Returns the slot of what [`take`] gave (its FileState already dropped).
///
/// # Safety
/// `state` came from `take` and is not used afterwards.
pub unsafe fn give_back(state: *mut FileState) {
    push(state as u64 - STATE_AT as u64);
}

/// Puts `slot` (a slot's start) on the list.
fn push(slot: u64) {
    loop {
        let head = FREE.load(Acquire);
        // SAFETY: a slot of this pool, which nobody else holds now.
        unsafe { link(slot) }.store(head & ADDRESS, Release);
        let new = (head >> 48).wrapping_add(1) << 48 | slot;
        if FREE
            .compare_exchange_weak(head, new, AcqRel, Acquire)
            .is_ok()
        {
            return;
        }
    }
}

/// Maps a chunk and puts its slots on the list.
fn refill() -> bool {
    // SAFETY: a fresh private anonymous mapping; no address is asked for.
    let chunk = unsafe {
        libc::mmap(
            std::ptr::null_mut(),
            CHUNK,
            libc::PROT_READ | libc::PROT_WRITE,
            libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
            -1,
            0,
        )
    };
    if chunk == libc::MAP_FAILED {
        return false;
    }
    for n in 0..CHUNK / SLOT {
        // A slot inside the chunk just mapped, 64-aligned (the mapping is
        // page-aligned, SLOT a multiple of 64), used by no one.
        push((chunk as usize + n * SLOT) as u64);
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Threads taking and giving back slots at once never get the same
    /// slot twice.
    #[test]
    fn no_slot_is_handed_out_twice() {
        let taken: Vec<Vec<u64>> = std::thread::scope(|s| {
            let threads: Vec<_> = (0..4)
                .map(|_| {
                    s.spawn(|| {
                        let mut mine = Vec::new();
                        for round in 0..2000 {
                            let slot = take();
                            assert!(!slot.is_null());
                            mine.push(slot as u64);
                            if round % 3 != 0 {
                                // SAFETY: just taken, not used again.
                                unsafe { give_back(mine.pop().unwrap() as *mut FileState) };
                            }
                        }
                        mine
                    })
                })
                .collect();
            threads.into_iter().map(|t| t.join().unwrap()).collect()
        });
        let mut all: Vec<u64> = taken.into_iter().flatten().collect();
        let held = all.len();
        assert!(held > 2000);
        all.sort_unstable();
        all.dedup();
        assert_eq!(all.len(), held, "a slot was handed out twice");
    }
}
