//! The process list: one row per instrumented process, plus "all".

use super::fmt;
use crate::state::{State, Status};
use ratatui::layout::{Constraint, Rect};
use ratatui::style::{Color, Modifier, Style};
use ratatui::widgets::{Block, Row, Table};
use ratatui::Frame;

pub fn draw(frame: &mut Frame, area: Rect, state: &State) {
    let header = Row::new([
        "PID",
        "STATE",
        "OPS/s",
        "BYTES/s",
        "ERR",
        "MODEL",
        "SQLITE",
        "DATABASES",
        "COMMAND",
    ])
    .style(Style::new().add_modifier(Modifier::BOLD));
    let mut rows = Vec::with_capacity(state.processes.len() + 1);
    let (ops, bytes, errors) = state.processes.iter().fold((0.0, 0.0, 0), |(o, b, e), p| {
        let (po, pb, pe) = p.rates();
        (o + po, b + pb, e + pe)
    });
    rows.push(Row::new([
        "all".to_string(),
        format!("{}", state.processes.len()),
        fmt::count(ops),
        fmt::bytes(bytes),
        errors.to_string(),
        String::new(),
        String::new(),
        String::new(),
        "every process".to_string(),
    ]));
    for p in &state.processes {
        let (ops, bytes, errors) = p.rates();
        let (status, style) = match &p.status {
            Status::Live(l) if p.is_running() => (l.name().to_string(), Style::new()),
            Status::Live(l) => (l.name().to_string(), Style::new().fg(Color::DarkGray)),
            Status::Error(_) => ("error".to_string(), Style::new().fg(Color::Red)),
        };
        let command = match &p.status {
            Status::Error(message) => format!("{}: {message}", p.path.display()),
            _ => p.command.clone(),
        };
        rows.push(
            Row::new([
                p.pid.to_string(),
                status,
                fmt::count(ops),
                fmt::bytes(bytes),
                errors.to_string(),
                p.latency_model.clone().unwrap_or_default(),
                p.sqlite_copies(),
                p.dbs().join(","),
                command,
            ])
            .style(style),
        );
    }
    let selected = state.selected.min(rows.len() - 1);
    let highlight = if state.in_detail {
        Style::new().add_modifier(Modifier::BOLD)
    } else {
        Style::new().add_modifier(Modifier::REVERSED)
    };
    rows[selected] = rows[selected].clone().style(highlight);
    // Keep the selected row on screen.
    let visible = area.height.saturating_sub(3) as usize;
    let skip = (selected + 1).saturating_sub(visible.max(1));
    let table = Table::new(
        rows.into_iter().skip(skip),
        [
            Constraint::Length(7),
            Constraint::Length(7),
            Constraint::Length(7),
            Constraint::Length(8),
            Constraint::Length(5),
            Constraint::Length(10),
            Constraint::Length(14),
            Constraint::Length(14),
            Constraint::Fill(1),
        ],
    )
    .header(header)
    .block(Block::bordered().title(" processes "));
    frame.render_widget(table, area);
}
