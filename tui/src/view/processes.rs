//! The process list: one row per instrumented process, plus "all".

use super::fmt;
use crate::state::{State, Status};
use ratatui::layout::{Constraint, Rect};
use ratatui::style::{Color, Modifier, Style};
use ratatui::widgets::{Block, Row, Table};
use ratatui::Frame;

/// Index of the SQLITE column.
const SQLITE_COLUMN: usize = 6;

pub fn draw(frame: &mut Frame, area: Rect, state: &State) {
    // The SQLITE column appears when a process holds more than one SQLite
    // copy, or one vfscope could not reach.
    let copies = state.processes.iter().any(|p| p.has_notable_copies());
    let keep = |cells: Vec<String>| -> Vec<String> {
        cells
            .into_iter()
            .enumerate()
            .filter(|&(i, _)| copies || i != SQLITE_COLUMN)
            .map(|(_, c)| c)
            .collect()
    };
    let header = Row::new(keep(
        [
            "PID",
            "STATE",
            "OPS/s",
            "BYTES/s",
            "ERR",
            "MODEL",
            "SQLITE",
            "DATABASES",
            "COMMAND",
        ]
        .map(String::from)
        .to_vec(),
    ))
    .style(Style::new().add_modifier(Modifier::BOLD));
    let mut rows = Vec::with_capacity(state.processes.len() + 1);
    let (ops, bytes, errors) = state.processes.iter().fold((0.0, 0.0, 0), |(o, b, e), p| {
        let (po, pb, pe) = p.rates();
        (o + po, b + pb, e + pe)
    });
    rows.push(Row::new(keep(vec![
        "all".to_string(),
        format!("{}", state.processes.len()),
        fmt::count(ops),
        fmt::bytes(bytes),
        errors.to_string(),
        String::new(),
        String::new(),
        String::new(),
        "every process".to_string(),
    ])));
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
            Row::new(keep(vec![
                p.pid.to_string(),
                status,
                fmt::count(ops),
                fmt::bytes(bytes),
                errors.to_string(),
                p.latency_model.clone().unwrap_or_default(),
                p.sqlite_copies(),
                match p.other_dbs() {
                    0 => p.dbs().join(","),
                    n => format!("{},+{n} others", p.dbs().join(",")),
                },
                command,
            ]))
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
    let mut widths = vec![
        Constraint::Length(7),
        Constraint::Length(7),
        Constraint::Length(7),
        Constraint::Length(8),
        Constraint::Length(5),
        Constraint::Length(10),
        Constraint::Length(17),
        Constraint::Length(14),
        Constraint::Fill(1),
    ];
    if !copies {
        widths.remove(SQLITE_COLUMN);
    }
    let table = Table::new(rows.into_iter().skip(skip), widths)
        .header(header)
        .block(Block::bordered().title(" processes "));
    frame.render_widget(table, area);
}
