//! Keys → changes of state. The `?` overlay lists every key handled here.

use crate::state::{Mode, SortColumn, State, View};
use ratatui::crossterm::event::{KeyCode, KeyEvent, KeyModifiers};

const MIN_INTERVAL_MS: u64 = 250;
const MAX_INTERVAL_MS: u64 = 10_000;

/// Applies one key; returns true when vfstop should quit.
pub fn handle(state: &mut State, key: KeyEvent) -> bool {
    if key.code == KeyCode::Char('c') && key.modifiers.contains(KeyModifiers::CONTROL) {
        return true;
    }
    if let Some(text) = state.editing.as_mut() {
        match key.code {
            KeyCode::Enter => {
                state.filter = state.editing.take().unwrap_or_default();
                state.row = 0;
            }
            KeyCode::Esc => state.editing = None,
            KeyCode::Backspace => {
                text.pop();
            }
            KeyCode::Char(c) => text.push(c),
            _ => {}
        }
        return false;
    }
    if state.help {
        state.help = false;
        return false;
    }
    match key.code {
        KeyCode::Char('q') => return true,
        KeyCode::Char('?') => state.help = true,
        KeyCode::Char(' ') => state.paused = !state.paused,
        KeyCode::Tab => state.view = step(&View::ALL, state.view, 1),
        KeyCode::BackTab => state.view = step(&View::ALL, state.view, View::ALL.len() - 1),
        KeyCode::Up | KeyCode::Char('k') => move_selection(state, -1),
        KeyCode::Down | KeyCode::Char('j') => move_selection(state, 1),
        KeyCode::Enter => {
            state.in_detail = true;
            state.row = 0;
        }
        KeyCode::Esc => {
            if state.in_detail {
                state.in_detail = false;
            } else {
                state.filter.clear();
            }
        }
        KeyCode::Char('s') => state.sort = step(&SortColumn::ALL, state.sort, 1),
        KeyCode::Char('r') => state.reverse = !state.reverse,
        KeyCode::Char('/') => state.editing = Some(state.filter.clone()),
        KeyCode::Char('a') => {
            state.mode = match state.mode {
                Mode::Rate => Mode::Accumulated,
                Mode::Accumulated => Mode::Rate,
            }
        }
        KeyCode::Char('+') | KeyCode::Char('=') => {
            state.interval_ms = (state.interval_ms * 2).min(MAX_INTERVAL_MS)
        }
        KeyCode::Char('-') => state.interval_ms = (state.interval_ms / 2).max(MIN_INTERVAL_MS),
        KeyCode::Char(']') => state.window = (state.window + 5).min(120),
        KeyCode::Char('[') => state.window = state.window.saturating_sub(5).max(2),
        KeyCode::Char('u') => state.unit_ms = !state.unit_ms,
        KeyCode::Char('L') => toggle_latency(state),
        _ => {}
    }
    false
}

/// Asks for the selected process's model to go off, or to the preset.
fn toggle_latency(state: &mut State) {
    let Some(p) = state
        .selected
        .checked_sub(1)
        .and_then(|i| state.processes.get(i))
    else {
        state.notice = Some("L: select a process first (↑ ↓)".to_string());
        return;
    };
    if !p.is_running() {
        state.notice = Some(format!("L: process {} is not running", p.pid));
        return;
    }
    let model = match p.latency_model {
        Some(_) => "off".to_string(),
        None => state.preset.clone(),
    };
    state.latency_request = Some((p.pid, model));
}

fn step<T: Copy + PartialEq>(all: &[T], current: T, by: usize) -> T {
    let i = all.iter().position(|v| *v == current).unwrap_or(0);
    all[(i + by) % all.len()]
}

fn move_selection(state: &mut State, delta: isize) {
    if state.in_detail {
        let rows = if state.view == View::Findings {
            crate::view::findings_text(state).lines().count()
        } else {
            state.rows().len()
        };
        state.row = state
            .row
            .saturating_add_signed(delta)
            .min(rows.saturating_sub(1));
    } else {
        let count = state.processes.len() + 1;
        state.selected = state.selected.saturating_add_signed(delta).min(count - 1);
        state.row = 0;
    }
}
