//! Facts about the writing process, kept in the segment header.

use std::path::Path;

/// Identity and settings of the process that writes a segment.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ProcessMeta {
    pub pid: u32,
    pub uid: u32,
    /// Start time in clock ticks after boot, to tell a reused pid apart.
    pub proc_start_ticks: u64,
    pub start_realtime_ns: u64,
    pub start_monotonic_ns: u64,
    /// The command line, arguments joined by spaces.
    pub cmdline: String,
    pub sqlite_version: String,
    pub slow_threshold_ns: u64,
    pub block_size: u64,
}

impl ProcessMeta {
    /// The current process, as it is now.
    pub fn current(sqlite_version: &str, slow_threshold_ns: u64, block_size: u64) -> Self {
        let pid = std::process::id();
        ProcessMeta {
            pid,
            uid: crate::dir::euid(),
            proc_start_ticks: proc_start_ticks(pid).unwrap_or(0),
            start_realtime_ns: realtime_ns(),
            start_monotonic_ns: monotonic_ns(),
            cmdline: read_cmdline(Path::new("/proc/self/cmdline")),
            sqlite_version: sqlite_version.to_string(),
            slow_threshold_ns,
            block_size,
        }
    }

    /// The program's file name (the first word of the command line, without
    /// its directory): safe to show where paths are not.
    pub fn program(&self) -> &str {
        let first = self.cmdline.split(' ').next().unwrap_or("");
        first.rsplit('/').next().unwrap_or(first)
    }

    /// A CLOCK_MONOTONIC time of this process as Unix time in nanoseconds.
    pub fn to_unix_ns(&self, monotonic: u64) -> u64 {
        (self.start_realtime_ns + monotonic).saturating_sub(self.start_monotonic_ns)
    }
}

fn read_cmdline(path: &Path) -> String {
    let raw = std::fs::read(path).unwrap_or_default();
    let args: Vec<String> = raw
        .split(|&b| b == 0)
        .filter(|a| !a.is_empty())
        .map(|a| String::from_utf8_lossy(a).into_owned())
        .collect();
    args.join(" ")
}

/// Field 22 of `/proc/PID/stat`: the process start time in clock ticks.
pub fn proc_start_ticks(pid: u32) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name (field 2) may hold spaces and parentheses; the fields
    // after the last ')' start at field 3.
    let rest = &stat[stat.rfind(')')? + 1..];
    rest.split_whitespace().nth(19)?.parse().ok()
}

/// CLOCK_MONOTONIC in nanoseconds: the clock every recorded time uses.
#[inline]
pub fn monotonic_ns() -> u64 {
    clock_ns(libc::CLOCK_MONOTONIC)
}

/// CLOCK_REALTIME in nanoseconds since the Unix epoch.
pub fn realtime_ns() -> u64 {
    clock_ns(libc::CLOCK_REALTIME)
}

#[inline]
fn clock_ns(clock: libc::clockid_t) -> u64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid, writable timespec; both clocks always exist on
    // Linux, so the call cannot fail (the vDSO serves it without a syscall).
    unsafe { libc::clock_gettime(clock, &mut ts) };
    ts.tv_sec as u64 * 1_000_000_000 + ts.tv_nsec as u64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn own_start_ticks_are_readable() {
        assert!(proc_start_ticks(std::process::id()).unwrap() > 0);
    }

    #[test]
    fn cmdline_is_joined() {
        let meta = ProcessMeta::current("3.0", 1, 4096);
        assert!(!meta.cmdline.is_empty());
        assert!(!meta.cmdline.contains('\0'));
    }
}
