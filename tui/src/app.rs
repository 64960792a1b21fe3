//! The main loop, generic over the ratatui backend so tests drive the real
//! loop on `TestBackend` with scripted keys and a scripted clock.

use crate::input;
use crate::source::{Sample, Source};
use crate::state::State;
use crate::view;
use ratatui::backend::Backend;
use ratatui::crossterm::event::{self, Event, KeyEventKind};
use ratatui::Terminal;
use std::collections::VecDeque;
use std::io;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

/// Where key presses come from.
pub trait Events {
    /// The next event, waiting at most `timeout`; `None` when none came.
    fn next(&mut self, timeout: Duration) -> io::Result<Option<Event>>;
}

/// The terminal's events.
pub struct TerminalEvents;

impl Events for TerminalEvents {
    fn next(&mut self, timeout: Duration) -> io::Result<Option<Event>> {
        if event::poll(timeout)? {
            event::read().map(Some)
        } else {
            Ok(None)
        }
    }
}

/// Runs until `q` (or `stop` is set, e.g. by SIGTERM). `now` tells the time
/// since start. Returns instead of exiting, so the caller's guard restores
/// the terminal.
pub fn run<B: Backend>(
    terminal: &mut Terminal<B>,
    source: &mut dyn Source,
    state: &mut State,
    events: &mut dyn Events,
    now: &mut dyn FnMut() -> Duration,
    stop: &AtomicBool,
) -> io::Result<()> {
    let mut next_refresh = Duration::ZERO;
    // While paused the display holds still; samples wait here, so nothing
    // collected meanwhile is lost when it resumes.
    let mut pending: VecDeque<(u64, Vec<Sample>)> = VecDeque::new();
    loop {
        if stop.load(Ordering::Relaxed) {
            return Ok(());
        }
        let t = now();
        if t >= next_refresh {
            pending.push_back((t.as_millis() as u64, source.poll()));
            while pending.len() > state.window + 1 {
                pending.pop_front();
            }
            next_refresh = t + Duration::from_millis(state.interval_ms);
        }
        if !state.paused {
            for (at, samples) in pending.drain(..) {
                state.update(samples, at);
            }
        }
        terminal
            .draw(|frame| view::draw(frame, state))
            .map_err(|e| io::Error::other(e.to_string()))?;
        let timeout = next_refresh
            .saturating_sub(now())
            .min(Duration::from_millis(250));
        if let Some(Event::Key(key)) = events.next(timeout)? {
            if key.kind == KeyEventKind::Press && input::handle(state, key) {
                return Ok(());
            }
            if let Some((pid, model)) = state.latency_request.take() {
                state.notice = Some(source.request_model(pid, &model));
            }
        }
    }
}
