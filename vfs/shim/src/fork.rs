//! Fork safety. A child has only the thread that forked: a lock another
//! thread held at that moment would stay locked in the child for good (its
//! first modelled call would hang on the latency engine; a failed
//! `try_lock` would leave it the parent's segment lock, so a dead parent
//! read "running"). So the forking thread takes every lock of vfscope's
//! just before `fork` and releases it just after, in the parent and in the
//! child, where the recorder then lets go of the parent's segment.
//!
//! Order (the same as everywhere else they nest): the LD_PRELOAD library's
//! locks (the `extra` of [`protect`]), then the recorder's, then the
//! latency engine.

use std::cell::RefCell;
use std::sync::{Once, OnceLock};

/// Locks another part of vfscope holds across fork: `lock` takes them in
/// the forking thread (before the recorder's), `unlock` releases them
/// (after), in the parent and in the child.
#[derive(Clone, Copy)]
pub struct ExtraLocks {
    pub lock: fn(),
    pub unlock: fn(),
}

static EXTRA: OnceLock<ExtraLocks> = OnceLock::new();
static HANDLERS: Once = Once::new();

thread_local! {
    /// What the forking thread holds between `before_fork` and the
    /// handler that runs after it.
    static HELD: RefCell<Option<(crate::recorder::ForkGuards, crate::latency::EngineGuard)>> =
        const { RefCell::new(None) };
}

/// Registers the fork handlers (once per process), with `extra` locks of
/// the caller's to hold across fork too.
pub fn protect(extra: Option<ExtraLocks>) {
    if let Some(extra) = extra {
        let _ = EXTRA.set(extra);
    }
    HANDLERS.call_once(|| {
        // SAFETY: the handlers are `extern "C" fn()` items of this library,
        // which is never unloaded (LD_PRELOAD, a loadable extension that
        // asks to stay loaded, or linked into the program).
        unsafe {
            libc::pthread_atfork(
                Some(before_fork),
                Some(after_in_parent),
                Some(after_in_child),
            )
        };
    });
}

extern "C" fn before_fork() {
    if let Some(extra) = EXTRA.get() {
        (extra.lock)();
    }
    let recorder = crate::recorder::lock_for_fork();
    let engine = crate::latency::lock_for_fork();
    HELD.with(|held| *held.borrow_mut() = Some((recorder, engine)));
}

extern "C" fn after_in_parent() {
    HELD.with(|held| drop(held.borrow_mut().take()));
    if let Some(extra) = EXTRA.get() {
        (extra.unlock)();
    }
}

extern "C" fn after_in_child() {
    if let Some((mut recorder, engine)) = HELD.with(|held| held.borrow_mut().take()) {
        crate::trace::forget_in_child();
        crate::recorder::in_forked_child(&mut recorder);
        drop(engine);
        drop(recorder);
    }
    if let Some(extra) = EXTRA.get() {
        (extra.unlock)();
    }
}
