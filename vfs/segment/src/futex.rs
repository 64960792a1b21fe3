//! Waiting on a word of the shared segment until another process changes
//! it: Linux futexes on a shared mapping (not FUTEX_PRIVATE: the waiter
//! and the waker map the same file, each at its own address; the kernel
//! keys the futex by file and offset).

use std::sync::atomic::AtomicU32;
use std::time::Duration;

/// How a [`wait`] ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Waited {
    /// A [`wake`] (or a spurious wake-up: callers re-check the word).
    Woken,
    TimedOut,
    /// The word did not hold `expected`: no sleep at all.
    Changed,
    /// A signal, or an error.
    Interrupted,
}

/// Sleeps while `word` holds `expected`, until a [`wake`] on it, `timeout`
/// or a signal.
pub fn wait(word: &AtomicU32, expected: u32, timeout: Duration) -> Waited {
    let ts = libc::timespec {
        tv_sec: timeout.as_secs().min(i64::MAX as u64) as libc::time_t,
        tv_nsec: timeout.subsec_nanos() as libc::c_long,
    };
    // SAFETY: FUTEX_WAIT reads the aligned 4-byte word `word` points to
    // (alive for the call) and takes a relative timeout; it writes nothing.
    let rc = unsafe {
        libc::syscall(
            libc::SYS_futex,
            word.as_ptr(),
            libc::FUTEX_WAIT,
            expected,
            &ts as *const libc::timespec,
        )
    };
    if rc == 0 {
        return Waited::Woken;
    }
    match std::io::Error::last_os_error().raw_os_error() {
        Some(libc::ETIMEDOUT) => Waited::TimedOut,
        Some(libc::EAGAIN) => Waited::Changed,
        _ => Waited::Interrupted,
    }
}

/// Wakes every waiter on `word`.
pub fn wake(word: &AtomicU32) {
    // SAFETY: FUTEX_WAKE only uses the word's address as a key; it reads
    // and writes no memory.
    unsafe { libc::syscall(libc::SYS_futex, word.as_ptr(), libc::FUTEX_WAKE, i32::MAX) };
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::Ordering::*;
    use std::sync::Arc;

    #[test]
    fn a_wake_ends_the_wait_and_a_changed_word_never_sleeps() {
        let word = Arc::new(AtomicU32::new(0));
        let waiter = {
            let word = word.clone();
            std::thread::spawn(move || {
                let mut ends = Vec::new();
                while word.load(Acquire) == 0 {
                    ends.push(wait(&word, 0, Duration::from_secs(600)));
                }
                ends
            })
        };
        std::thread::sleep(Duration::from_millis(50));
        word.store(1, Release);
        wake(&word);
        // The waiter slept and was woken (or saw the change before it
        // slept); never a timeout.
        let ends = waiter.join().unwrap();
        assert!(
            ends.iter()
                .all(|w| matches!(w, Waited::Woken | Waited::Changed)),
            "{ends:?}"
        );
        assert_eq!(wait(&word, 0, Duration::from_secs(600)), Waited::Changed);
        assert_eq!(wait(&word, 1, Duration::from_millis(1)), Waited::TimedOut);
    }
}
