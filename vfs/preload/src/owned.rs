//! A mutex that knows which thread holds it.
//!
//! The host may call `dlopen` or `fork` from a signal handler that
//! interrupted one of vfscope's own critical sections on the same thread.
//! A plain mutex would then wait for itself forever. These locks answer
//! `None` instead: the caller skips what it wanted to do (a scan, taking
//! the lock across fork) and the interrupted section, which resumes when
//! the handler returns (in a forked child too: the whole thread is copied),
//! finishes and unlocks as usual.

use std::sync::atomic::{AtomicI64, Ordering::*};
use std::sync::{Condvar, Mutex, MutexGuard, WaitTimeoutResult};
use std::time::Duration;

/// This thread's kernel id (cheap: one system call, no allocation).
fn me() -> i64 {
    // SAFETY: gettid has no preconditions.
    unsafe { libc::gettid() as i64 }
}

pub struct OwnedMutex<T> {
    inner: Mutex<T>,
    /// The thread holding `inner`, or 0.
    owner: AtomicI64,
}

pub struct Guard<'a, T> {
    inner: Option<MutexGuard<'a, T>>,
    owner: &'a AtomicI64,
}

impl<T> OwnedMutex<T> {
    pub const fn new(value: T) -> Self {
        OwnedMutex {
            inner: Mutex::new(value),
            owner: AtomicI64::new(0),
        }
    }

    /// The lock, or `None` when this thread already holds it (a signal
    /// handler on top of the section that holds it).
    pub fn lock(&self) -> Option<Guard<'_, T>> {
        let me = me();
        if self.owner.load(Acquire) == me {
            return None;
        }
        let inner = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        self.owner.store(me, Release);
        Some(Guard {
            inner: Some(inner),
            owner: &self.owner,
        })
    }
}

impl<'a, T> Guard<'a, T> {
    /// Waits on `condvar` (releasing the lock meanwhile) for at most
    /// `timeout`.
    pub fn wait_timeout(
        mut self,
        condvar: &Condvar,
        timeout: Duration,
    ) -> (Self, WaitTimeoutResult) {
        let inner = self.inner.take().expect("a held guard");
        self.owner.store(0, Release);
        let (inner, result) = condvar
            .wait_timeout(inner, timeout)
            .unwrap_or_else(|e| e.into_inner());
        self.owner.store(me(), Release);
        self.inner = Some(inner);
        (self, result)
    }
}

impl<T> std::ops::Deref for Guard<'_, T> {
    type Target = T;
    fn deref(&self) -> &T {
        self.inner.as_ref().expect("a held guard")
    }
}

impl<T> std::ops::DerefMut for Guard<'_, T> {
    fn deref_mut(&mut self) -> &mut T {
        self.inner.as_mut().expect("a held guard")
    }
}

impl<T> Drop for Guard<'_, T> {
    fn drop(&mut self) {
        if self.inner.is_some() {
            self.owner.store(0, Release);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_holding_thread_is_told_instead_of_waiting() {
        let lock = OwnedMutex::new(1);
        let held = lock.lock().expect("free");
        assert!(lock.lock().is_none(), "held by this thread");
        std::thread::scope(|s| {
            let other = s.spawn(|| *lock.lock().expect("another thread waits") + 1);
            drop(held);
            assert_eq!(other.join().unwrap(), 2);
        });
        assert!(lock.lock().is_some());
    }
}
