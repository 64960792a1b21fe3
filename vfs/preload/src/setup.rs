//! Turning vfscope on in a host process, once: settings from `VFSCOPE_*`
//! and the segment. Any failure is one line on stderr and leaves every
//! SQLite copy exactly as it was (plain passthrough).

use crate::copies::Copy;
use std::sync::OnceLock;
use vfscope_shim::{warn, Config};

static ACTIVE: OnceLock<bool> = OnceLock::new();

/// Whether vfscope records in this process, starting it (for `copy`, whose
/// version the segment header names) on first use.
pub fn active(copy: &Copy) -> bool {
    recording(&copy.info.version)
}

/// Starts recording once; `sqlite_version` names the first copy in use.
pub fn recording(sqlite_version: &str) -> bool {
    *ACTIVE.get_or_init(|| start(sqlite_version))
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
