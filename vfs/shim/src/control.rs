//! Switching latency models, off the app's calls. A model arrives as text
//! (`off`, a preset, a model file's path, TOML): from `VFSCOPE_LATENCY` at
//! start, from `PRAGMA vfscope_latency = ...` (the connection asked, so
//! its call waits for the answer), or from a reader (`vfscope latency
//! set`, vfstop's `m`) through the segment's control block. This module
//! parses and checks it, builds the engine and hands it to `latency`,
//! whose calls only ever see the swap.
//!
//! Control-block requests are taken up by a thread of vfscope's own
//! (`vfscope-control`), started by the first request a process gets: the
//! SQLite call that sees it only starts the thread (once per process; a
//! forked child, which keeps only the thread that forked, starts its own)
//! and goes on. A process nobody asks anything has no such thread (a
//! second thread makes glibc's malloc and stdio take their locks: about
//! 30 instructions more per VFS call of a single-threaded sqlite3 CLI,
//! measured with tests/bench/callgrind_cli.sh). The thread sleeps on the
//! request generation (a futex the requester wakes), so later requests are
//! answered at once, even when the app makes no SQLite call; it also looks
//! every [`RECHECK`] (a requester that could not wake it).

use crate::{latency, recorder};
use std::sync::atomic::{AtomicU32, Ordering::*};
use std::time::Duration;
use vfscope_model::{Engine, Mode, ModelError};
use vfscope_segment::{monotonic_ns, Layout};

/// How often the watcher looks at the control block unwoken.
pub const RECHECK: Duration = Duration::from_secs(1);

/// The process whose watcher runs (a forked child starts its own).
static WATCHING: AtomicU32 = AtomicU32::new(0);
/// The last request generation handled.
static SEEN: AtomicU32 = AtomicU32::new(0);

/// A call saw a request: starts this process's watcher if it has none
/// (the watcher takes requests up itself once it runs).
pub fn request_seen() {
    let pid = std::process::id();
    if WATCHING.swap(pid, AcqRel) == pid {
        return;
    }
    let spawned = std::thread::Builder::new()
        .name("vfscope-control".into())
        .spawn(|| loop {
            match recorder::layout_if_recording() {
                Some(layout) => {
                    handle_request(layout);
                    layout.wait_for_request(SEEN.load(Relaxed), RECHECK);
                }
                None => std::thread::sleep(RECHECK),
            }
        });
    if let Err(e) = spawned {
        WATCHING.store(0, Release);
        recorder::warn(&format!(
            "cannot start the control thread ({e}): `vfscope latency set` will not reach this process"
        ));
    }
}

/// Applies a request a reader wrote into the control block, if there is a
/// new one.
fn handle_request(layout: &Layout) {
    let generation = layout.control.generation.load(Acquire);
    if SEEN.swap(generation, Relaxed) == generation {
        return;
    }
    if let Some((generation, text)) = layout.pending_model_request() {
        let result = apply(Some(layout), &text);
        if let Err(e) = &result {
            // A failure, not a note: `vfscope latency` points the user here.
            recorder::warn(&format!("latency model request rejected: {e}"));
        }
        layout.answer_model_request(generation, result.is_ok());
    }
}

/// Switches the model: `off`, a preset name, a model file's path, or TOML
/// text (anything with a newline or `=`). Says what is active on stderr.
pub fn apply(layout: Option<&Layout>, spec: &str) -> Result<(), ModelError> {
    let Some(model) = load(spec)? else {
        latency::install(None);
        if let Some(layout) = layout {
            layout.set_active_model(None);
            layout.set_request_types(&[]);
        }
        return Ok(());
    };
    let seed = model.seed.unwrap_or_else(random_seed);
    let virtual_mode = model.mode == Mode::Virtual;
    recorder::note(&format!(
        "latency model {} (seed {seed}, {} mode)",
        model.name,
        if virtual_mode { "virtual" } else { "sleep" }
    ));
    if let Some(layout) = layout {
        layout.set_active_model(Some((&model.name, seed, virtual_mode)));
        let types: Vec<(&str, f64)> = model
            .remote
            .iter()
            .flat_map(|r| &r.requests)
            .map(|t| (t.name.as_str(), t.price_per_1000))
            .collect();
        layout.set_request_types(&types);
    }
    latency::install(Some(Engine::new(model, seed, monotonic_ns())));
    Ok(())
}

/// The model a spec names; `None` for `off` (or nothing).
pub fn load(spec: &str) -> Result<Option<vfscope_model::Model>, ModelError> {
    let spec = spec.trim();
    if spec.is_empty() || spec == "off" {
        Ok(None)
    } else {
        vfscope_model::load(spec).map(Some)
    }
}

/// Switches this process's model at run time (library mode, PRAGMA).
pub fn set(spec: &str) -> Result<(), ModelError> {
    apply(recorder::layout(), spec)
}

fn random_seed() -> u64 {
    let mut seed = 0u64;
    // SAFETY: getrandom writes at most the 8 bytes it is given.
    let n = unsafe { libc::getrandom((&mut seed as *mut u64).cast(), 8, 0) };
    if n != 8 {
        seed = monotonic_ns() ^ (std::process::id() as u64) << 32;
    }
    seed
}
