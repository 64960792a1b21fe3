//! The slow-call ring of the processes in scope, newest first.

use super::fmt;
use crate::state::State;
use ratatui::layout::{Constraint, Rect};
use ratatui::style::{Modifier, Style};
use ratatui::widgets::{Block, Row, Table};
use ratatui::Frame;

pub fn draw(frame: &mut Frame, area: Rect, state: &State) {
    let mut calls = Vec::new();
    let mut threshold = None;
    let mut total = 0;
    for (p, s) in state.latest() {
        threshold = Some(s.meta.slow_threshold_ns);
        total += s.slow_total;
        for c in &s.slow {
            let age = s.taken_monotonic_ns.saturating_sub(c.start_ns);
            calls.push((age, p.pid, s.db_label(c.db), c.clone()));
        }
    }
    calls.sort_by_key(|(age, ..)| *age);
    let rows = calls.into_iter().map(|(age, pid, db, c)| {
        Row::new([
            format!("{} ago", fmt::ns(Some(age))),
            pid.to_string(),
            c.op.name().to_string(),
            c.kind.name().to_string(),
            db,
            c.offset.to_string(),
            c.size.to_string(),
            fmt::ns(Some(c.latency_ns)),
            c.rc.to_string(),
        ])
    });
    let title = format!(
        " slow calls ≥ {} — {total} recorded, the ring keeps the last 1024 per process ",
        fmt::ns(threshold)
    );
    let table = Table::new(
        rows,
        [
            Constraint::Length(11),
            Constraint::Length(7),
            Constraint::Length(14),
            Constraint::Length(12),
            Constraint::Length(12),
            Constraint::Length(10),
            Constraint::Length(6),
            Constraint::Length(7),
            Constraint::Fill(1),
        ],
    )
    .header(
        Row::new([
            "WHEN", "PID", "OP", "KIND", "DB", "OFFSET", "SIZE", "LATENCY", "RC",
        ])
        .style(Style::new().add_modifier(Modifier::BOLD)),
    )
    .block(Block::bordered().title(title));
    frame.render_widget(table, area);
}
