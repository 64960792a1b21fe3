//! Lock waits as the app feels them, across SQLite's busy-handler retries.
//!
//! A wait starts at the first BUSY and ends when the lock it was for (or a
//! higher one) is granted. SQLite's busy handler releases the file's locks
//! between attempts (btree.c: unlockBtreeIfUnused, then the handler sleeps
//! up to 100 ms), so a release is not yet a give-up: if the file asks for a
//! lock again within [`RETRY_WINDOW_NS`] the wait goes on; otherwise (or at
//! close) it was abandoned, and is counted then.

use vfscope_segment::LockLevel;

/// A new lock attempt this soon after a release continues the wait.
pub const RETRY_WINDOW_NS: u64 = 1_000_000_000;

#[derive(Default)]
pub struct LockWait {
    /// When the wait began (the first BUSY); 0 when not waiting.
    since_ns: u64,
    /// The highest level asked for while waiting.
    level: Option<LockLevel>,
    /// When the file released its locks while waiting; 0 if it did not.
    released_ns: u64,
}

impl LockWait {
    /// No wait going on, and no released one that a retry may continue.
    #[inline(always)]
    pub fn idle(&self) -> bool {
        self.since_ns == 0 && self.released_ns == 0
    }

    /// A wait is going on (a BUSY came, its level has not been granted).
    #[inline(always)]
    pub fn waiting(&self) -> bool {
        self.since_ns != 0
    }

    /// Before a lock call at `now_ns`. True when a released wait was given
    /// up (no retry came in time): count it as abandoned.
    pub fn attempt(&mut self, now_ns: u64) -> bool {
        if self.released_ns == 0 {
            return false;
        }
        let given_up = now_ns.saturating_sub(self.released_ns) > RETRY_WINDOW_NS;
        self.released_ns = 0;
        if given_up {
            *self = LockWait::default();
        }
        given_up
    }

    /// A lock call for `level` answered BUSY at `now_ns`.
    pub fn busy(&mut self, level: LockLevel, now_ns: u64) {
        if self.since_ns == 0 {
            self.since_ns = now_ns.max(1);
        }
        self.level = self.level.max(Some(level));
    }

    /// `level` was granted at `now_ns`: how long the wait for it took, if
    /// one ends here.
    pub fn granted(&mut self, level: LockLevel, now_ns: u64) -> Option<u64> {
        if self.since_ns == 0 || Some(level) < self.level {
            return None;
        }
        let waited = now_ns.saturating_sub(self.since_ns);
        *self = LockWait::default();
        Some(waited)
    }

    /// The file released its locks at `now_ns`; when it was waiting, when
    /// the wait began (the attempt ended BUSY, whatever comes next).
    pub fn released(&mut self, now_ns: u64) -> Option<u64> {
        (self.since_ns != 0).then(|| {
            self.released_ns = now_ns.max(1);
            self.since_ns
        })
    }

    /// The file closes: true when a wait was still open (abandoned).
    pub fn closed(&mut self) -> bool {
        let open = self.since_ns != 0;
        *self = LockWait::default();
        open
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use LockLevel::{Exclusive, Reserved, Shared};

    #[test]
    fn a_retry_continues_the_wait_until_the_level_is_granted() {
        let mut w = LockWait::default();
        w.busy(Reserved, 100);
        assert_eq!(w.released(150), Some(100));
        assert!(!w.attempt(10_000_000));
        assert_eq!(
            w.granted(Shared, 10_000_100),
            None,
            "not what it waited for"
        );
        assert_eq!(w.granted(Reserved, 10_000_200), Some(10_000_100));
        assert!(!w.closed());
    }

    #[test]
    fn no_retry_in_time_or_a_close_is_a_give_up() {
        let mut w = LockWait::default();
        w.busy(Reserved, 100);
        w.released(200);
        assert!(w.attempt(200 + RETRY_WINDOW_NS + 1));
        assert_eq!(
            w.granted(Reserved, 300 + RETRY_WINDOW_NS),
            None,
            "a fresh attempt"
        );
        w.busy(Exclusive, 5);
        assert!(w.closed());
    }
}
