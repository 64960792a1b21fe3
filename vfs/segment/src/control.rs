//! The control block: readers ask a process to switch its latency model
//! (`vfscope latency`, vfstop), the process applies the request and reports
//! what is active.
//!
//! A request is the model text (`off`, a preset name, or TOML), then its
//! length, then a bumped generation (release), then a futex wake on the
//! generation; the process's control thread sleeps on that word
//! ([`Layout::wait_for_request`]) and answers by storing the generation in
//! `applied` with a status.

use crate::error::{Error, Result};
use crate::layout::*;
use crate::reader::SegmentReader;
use crate::record::{load_words, store_words};
use memmap2::MmapOptions;
use std::fs::OpenOptions;
use std::os::unix::fs::OpenOptionsExt;
use std::sync::atomic::Ordering::*;
use std::time::{Duration, Instant};

/// What a process did with a latency request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RequestOutcome {
    Applied,
    /// The model did not parse; the process kept what it had.
    Rejected,
    /// No answer in the time waited: the process has not started its
    /// control thread (its next VFS call does) or it is stuck.
    Pending,
}

impl Layout {
    /// A request not handled yet: its generation and text.
    pub fn pending_model_request(&self) -> Option<(u32, String)> {
        let c = &self.control;
        let generation = c.generation.load(Acquire);
        if generation == c.applied.load(Relaxed) {
            return None;
        }
        let len = (c.request_len.load(Relaxed) as usize).min(MODEL_REQUEST_BYTES);
        let bytes = load_words(&c.request, MODEL_REQUEST_BYTES);
        Some((
            generation,
            String::from_utf8_lossy(&bytes[..len]).into_owned(),
        ))
    }

    /// Sleeps (the process's control thread) until a reader bumps the
    /// request generation from `seen`, or `timeout` passes.
    pub fn wait_for_request(&self, seen: u32, timeout: Duration) {
        crate::futex::wait(&self.control.generation, seen, timeout);
    }

    /// Marks request `generation` handled.
    pub fn answer_model_request(&self, generation: u32, applied: bool) {
        self.control.status.store(!applied as u32, Relaxed);
        self.control.applied.store(generation, Release);
    }

    /// Publishes the active model: `None` for off.
    pub fn set_active_model(&self, active: Option<(&str, u64, bool)>) {
        let c = &self.control;
        let mut name = [0u8; MODEL_NAME_BYTES];
        if let Some((text, seed, virtual_mode)) = active {
            let bytes = &text.as_bytes()[..text.len().min(MODEL_NAME_BYTES)];
            name[..bytes.len()].copy_from_slice(bytes);
            c.seed.store(seed, Relaxed);
            c.mode.store(1 + virtual_mode as u32, Relaxed);
        }
        store_words(&c.active, &name);
        c.latency_enabled.store(active.is_some() as u32, Release);
    }

    /// Names the active scenario's request types (with their price per
    /// 1,000) and zeroes their counts; an empty list clears the table.
    pub fn set_request_types(&self, types: &[(&str, f64)]) {
        for (i, counter) in self.control.requests.iter().enumerate() {
            let mut name = [0u8; REQUEST_NAME_BYTES];
            let mut price = 0.0;
            if let Some((text, p)) = types.get(i) {
                let bytes = &text.as_bytes()[..text.len().min(REQUEST_NAME_BYTES - 1)];
                name[..bytes.len()].copy_from_slice(bytes);
                price = *p;
            }
            counter.count.store(0, Relaxed);
            counter.price_per_1000.store(f64::to_bits(price), Relaxed);
            store_words(&counter.name, &name);
        }
    }

    /// Adds one call's requests (by type, as named by
    /// [`Layout::set_request_types`]).
    pub fn count_requests(&self, counts: &[u32; REQUEST_TYPES]) {
        for (counter, &n) in self.control.requests.iter().zip(counts) {
            if n > 0 {
                counter.count.fetch_add(n as u64, Relaxed);
            }
        }
    }

    /// The request table: (name, price per 1,000, count) of each used slot.
    pub fn request_counts(&self) -> Vec<crate::RequestTally> {
        self.control
            .requests
            .iter()
            .filter_map(|counter| {
                let bytes = load_words(&counter.name, REQUEST_NAME_BYTES);
                let end = bytes.iter().position(|&b| b == 0).unwrap_or(bytes.len());
                (end > 0).then(|| crate::RequestTally {
                    name: String::from_utf8_lossy(&bytes[..end]).into_owned(),
                    price_per_1000: f64::from_bits(counter.price_per_1000.load(Relaxed)),
                    count: counter.count.load(Relaxed),
                })
            })
            .collect()
    }

    /// The active model's name, if any.
    pub fn active_model(&self) -> Option<String> {
        if self.control.latency_enabled.load(Acquire) == 0 {
            return None;
        }
        let bytes = load_words(&self.control.active, MODEL_NAME_BYTES);
        let end = bytes.iter().position(|&b| b == 0).unwrap_or(bytes.len());
        Some(String::from_utf8_lossy(&bytes[..end]).into_owned())
    }
}

impl SegmentReader {
    /// Asks the process to switch to `model` (`off`, a preset name or TOML
    /// text) and waits up to `wait` for its answer.
    pub fn request_model(&self, model: &str, wait: Duration) -> Result<RequestOutcome> {
        if model.len() > MODEL_REQUEST_BYTES {
            return Err(Error::bad_value(
                "latency model",
                &format!("{} bytes", model.len()),
                "at most 8192 bytes fit in the segment",
            ));
        }
        let path = self.path();
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC)
            .open(path)
            .map_err(|e| Error::io("cannot open segment for writing", path, e))?;
        let len = std::mem::offset_of!(Layout, dbs);
        // SAFETY: a shared writable mapping of the head of a segment this
        // user owns and `open` validated; only the control block's atomics
        // are stored to, which the process also only accesses atomically.
        let mut map = unsafe { MmapOptions::new().len(len).map_mut(&file) }
            .map_err(|e| Error::io("cannot map segment for writing", path, e))?;
        // SAFETY: the mapping covers the Header and Control at the start of
        // the Layout (offset_of dbs), page-aligned; both are atomics and
        // plain integers valid for any bytes.
        let control = unsafe {
            &*(map.as_mut_ptr().add(std::mem::offset_of!(Layout, control)) as *const Control)
        };
        let mut text = [0u8; MODEL_REQUEST_BYTES];
        text[..model.len()].copy_from_slice(model.as_bytes());
        store_words(&control.request, &text);
        control.request_len.store(model.len() as u32, Relaxed);
        let generation = control.generation.load(Relaxed).wrapping_add(1);
        control.generation.store(generation, Release);
        crate::futex::wake(&control.generation);
        let deadline = Instant::now() + wait;
        loop {
            if control.applied.load(Acquire) == generation {
                return Ok(match control.status.load(Relaxed) {
                    0 => RequestOutcome::Applied,
                    _ => RequestOutcome::Rejected,
                });
            }
            if Instant::now() >= deadline {
                return Ok(RequestOutcome::Pending);
            }
            std::thread::sleep(Duration::from_millis(5));
        }
    }
}
