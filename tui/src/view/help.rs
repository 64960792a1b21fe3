//! The `?` overlay: every key.

use ratatui::layout::{Constraint, Flex, Layout, Rect};
use ratatui::text::Line;
use ratatui::widgets::{Block, Clear, Paragraph};
use ratatui::Frame;

/// Every key `input` handles, for the help overlay: (keys, what they do).
pub const KEYS: &[(&str, &str)] = &[
    ("?", "this help (any key closes it)"),
    ("q, Ctrl-C", "quit"),
    ("space", "pause the display (data keeps being collected)"),
    (
        "Tab, Shift-Tab",
        "next / previous view: operations, latency, locks, slow calls",
    ),
    ("↑ ↓, k j", "select a process, or a row after Enter"),
    (
        "Enter",
        "drill into the selected process (row keys move rows)",
    ),
    ("Esc", "back to the process list / cancel the filter"),
    ("s", "sort by the next column"),
    ("r", "reverse the sort"),
    (
        "/",
        "filter rows by op, file kind or database (Enter applies)",
    ),
    ("a", "rates over the window / totals since start"),
    ("+ -", "refresh interval longer / shorter"),
    ("] [", "history window longer / shorter"),
    ("u", "latency chart in µs or ms"),
    (
        "L",
        "latency model of the selected process: off ↔ the preset (--latency-preset)",
    ),
];

pub fn draw(frame: &mut Frame, area: Rect) {
    let height = (KEYS.len() as u16 + 2).min(area.height);
    let [area] = Layout::vertical([Constraint::Length(height)])
        .flex(Flex::Center)
        .areas(area);
    let [area] = Layout::horizontal([Constraint::Max(78)])
        .flex(Flex::Center)
        .areas(area);
    let lines: Vec<Line> = KEYS
        .iter()
        .map(|(keys, what)| Line::from(format!(" {keys:<15} {what}")))
        .collect();
    frame.render_widget(Clear, area);
    frame.render_widget(
        Paragraph::new(lines).block(Block::bordered().title(" vfstop keys ")),
        area,
    );
}
