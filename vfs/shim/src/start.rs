//! Starting vfscope in a process, in layers: the recorder (the segment),
//! then the trace file, then the latency model, then the process hooks
//! (fork, exit). The recorder is the bottom layer and knows nothing of the
//! others; this module is what puts them together.

use crate::config::Config;
use crate::recorder::{self, note, warn};
use std::path::PathBuf;
use std::sync::Once;
use vfscope_segment::ProcessMeta;

/// Starts recording into a new segment in the configured directory and
/// returns its path. The first call wins; later calls return the segment
/// already in use (`None` in a forked child that has not recorded yet).
pub fn start(
    config: &Config,
    sqlite_version: &str,
) -> Result<Option<PathBuf>, vfscope_segment::Error> {
    let (path, new) = recorder::start_segment(config, sqlite_version)?;
    let Some(new) = new else {
        return Ok(path);
    };
    recorder::set_notes(config.notes);
    start_trace(config, &new.meta);
    if let Some(spec) = &config.latency {
        if let Err(e) = crate::control::apply(Some(new.layout), spec) {
            warn(&format!("VFSCOPE_LATENCY: {e}; running without injection"));
        }
    }
    static HOOKS: Once = Once::new();
    HOOKS.call_once(|| {
        recorder::on_child_segment(start_trace);
        crate::latency::on_request(crate::control::request_seen);
        crate::fork::protect(None);
        // SAFETY: the handler is an `extern "C" fn()` item of this library,
        // which is never unloaded (LD_PRELOAD, a loadable extension that
        // asks to stay loaded, or linked into the program).
        unsafe { libc::atexit(at_exit) };
    });
    Ok(path)
}

/// Starts the trace file if asked; a failure is one stderr line.
fn start_trace(config: &Config, meta: &ProcessMeta) {
    let Some(path) = &config.trace else { return };
    match crate::trace::start(path, config.trace_buffer, meta) {
        Ok(used) => note(&format!("tracing every call into {}", used.display())),
        Err(e) => warn(&format!(
            "VFSCOPE_TRACE: cannot write {}: {e}; not tracing",
            path.display()
        )),
    }
}

extern "C" fn at_exit() {
    if let Some(layout) = recorder::layout_if_recording() {
        crate::trace::finish(Some(layout));
        recorder::mark_exited(layout);
    }
}
