//! Turning vfscope on in a host process, once: settings from `VFSCOPE_*`,
//! the segment, and `vfscope` registered as the default VFS over the one the
//! host had. Any failure is one line on stderr and leaves SQLite exactly as
//! it was (plain passthrough).

use std::ffi::{CStr, CString};
use std::sync::{Mutex, OnceLock};
use vfscope_shim::{warn, Config, SqliteApi};

/// Whether vfscope is active in this process (set up on first use).
pub fn ensure(api: &SqliteApi) -> bool {
    static ACTIVE: OnceLock<bool> = OnceLock::new();
    *ACTIVE.get_or_init(|| activate(api))
}

fn activate(api: &SqliteApi) -> bool {
    let config = match Config::from_env() {
        Ok(config) => config,
        Err(e) => {
            warn(&format!("{e}; continuing as a plain passthrough"));
            return false;
        }
    };
    // SAFETY: sqlite3_libversion returns a static NUL-terminated string.
    let version = unsafe { CStr::from_ptr((api.libversion)()) }
        .to_string_lossy()
        .into_owned();
    if let Err(e) = vfscope_shim::start_recording(&config, &version) {
        warn(&format!("{e}; continuing as a plain passthrough"));
        return false;
    }
    // SAFETY: `api` comes from the host's own, initialised SQLite.
    match unsafe { vfscope_shim::register(*api, "vfscope", None, true) } {
        Ok(_) => true,
        Err(e) => {
            warn(&format!("{e}; continuing as a plain passthrough"));
            false
        }
    }
}

/// The vfscope VFS to use where the app asked for the VFS `requested`:
/// `vfscope-NAME` over it, registered on first use. `None` keeps the app's
/// choice (vfscope inactive, already a vfscope VFS, or no such VFS, which
/// SQLite then reports as it would without vfscope).
pub fn wrapper_for(api: &SqliteApi, requested: &CStr) -> Option<&'static CStr> {
    if !ensure(api) || requested.to_bytes().starts_with(b"vfscope") {
        return None;
    }
    static WRAPPERS: Mutex<Vec<(CString, &'static CStr)>> = Mutex::new(Vec::new());
    let mut wrappers = WRAPPERS.lock().unwrap_or_else(|e| e.into_inner());
    if let Some((_, ours)) = wrappers.iter().find(|(r, _)| r.as_c_str() == requested) {
        return Some(ours);
    }
    let parent = requested.to_str().ok()?;
    let name = format!("vfscope-{parent}");
    // SAFETY: `api` comes from the host's own, initialised SQLite.
    let vfs = unsafe { vfscope_shim::register(*api, &name, Some(parent), false) }.ok()?;
    // SAFETY: register returns a VFS whose zName lives for the process.
    let ours: &'static CStr = unsafe { CStr::from_ptr((*vfs).zName) };
    wrappers.push((requested.to_owned(), ours));
    Some(ours)
}
