//! Turning vfscope on in a host process, once: settings from `VFSCOPE_*`
//! and the segment. Any failure is one line on stderr and leaves every
//! SQLite copy exactly as it was (plain passthrough).

use crate::owned::{Guard, OwnedMutex};
use vfscope_shim::{warn, Config};

/// Whether recording started, once decided. A mutex rather than a
/// `OnceLock`, so that it can be held across fork (see `load`): a child
/// forked in the middle of the first start must not wait for it forever.
static ACTIVE: OwnedMutex<Option<bool>> = OwnedMutex::new(None);

/// Held by the forking thread across fork.
pub fn lock_for_fork() -> Option<Guard<'static, Option<bool>>> {
    ACTIVE.lock()
}

/// Starts recording once; `sqlite_version` names the first copy in use.
pub fn recording(sqlite_version: &str) -> bool {
    // None: this thread is starting already (an open from a signal handler
    // on top of the start); that open runs without vfscope.
    let Some(mut active) = ACTIVE.lock() else {
        return false;
    };
    *active.get_or_insert_with(|| start(sqlite_version))
}

fn start(sqlite_version: &str) -> bool {
    let config = match Config::from_env() {
        Ok(config) => config,
        Err(e) => {
            warn(&format!("{e}; continuing as a plain passthrough"));
            return false;
        }
    };
    if let Err(e) = vfscope_shim::start_recording(&config, sqlite_version) {
        warn(&format!("{e}; continuing as a plain passthrough"));
        return false;
    }
    true
}
