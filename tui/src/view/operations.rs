//! The operations table of the selected process (or all): per op × file
//! kind the rate, bytes, errors, share of time, percentiles and a trend.

use super::fmt;
use crate::state::{Mode, SortColumn, State};
use ratatui::layout::{Constraint, Rect};
use ratatui::style::{Modifier, Style};
use ratatui::widgets::{Block, Row, Table};
use ratatui::Frame;

pub fn draw(frame: &mut Frame, area: Rect, state: &State) {
    let rate = state.mode == Mode::Rate;
    let arrow = if state.reverse { "▲" } else { "▼" };
    let mark = |column: SortColumn, name: &str| {
        if state.sort == column {
            format!("{name}{arrow}")
        } else {
            name.to_string()
        }
    };
    let header = Row::new([
        mark(SortColumn::Name, "OP"),
        "KIND".to_string(),
        mark(SortColumn::Calls, if rate { "CALLS/s" } else { "CALLS" }),
        mark(SortColumn::Bytes, if rate { "BYTES/s" } else { "BYTES" }),
        mark(SortColumn::Errors, "ERR"),
        mark(SortColumn::Time, "%TIME"),
        mark(SortColumn::P50, "P50"),
        mark(SortColumn::P99, "P99"),
        mark(SortColumn::P999, "P99.9"),
        mark(SortColumn::Max, "MAX"),
        "TREND".to_string(),
    ])
    .style(Style::new().add_modifier(Modifier::BOLD));
    let rows = state.rows();
    let visible = area.height.saturating_sub(3) as usize;
    let skip = if state.in_detail {
        (state.row + 1).saturating_sub(visible.max(1))
    } else {
        0
    };
    let lines = rows.iter().enumerate().skip(skip).map(|(i, r)| {
        let row = Row::new([
            r.op.name().to_string(),
            r.kind.name().to_string(),
            fmt::count(r.calls),
            fmt::bytes(r.bytes),
            r.totals.errors.to_string(),
            format!("{:.1}", r.share * 100.0),
            fmt::ns(r.p50),
            fmt::ns(r.p99),
            fmt::ns(r.p999),
            fmt::ns((r.totals.max_ns > 0).then_some(r.totals.max_ns)),
            fmt::sparkline(&r.trend, 12),
        ]);
        if state.in_detail && i == state.row {
            row.style(Style::new().add_modifier(Modifier::REVERSED))
        } else {
            row
        }
    });
    let title = format!(
        " operations: {}{} — {} ",
        scope_name(state),
        if state.filter.is_empty() {
            String::new()
        } else {
            format!(" /{}", state.filter)
        },
        if rate {
            format!("last {} refreshes", state.window)
        } else {
            "since start".to_string()
        }
    );
    let table = Table::new(
        lines,
        [
            Constraint::Length(22),
            Constraint::Length(12),
            Constraint::Length(7),
            Constraint::Length(7),
            Constraint::Length(4),
            Constraint::Length(6),
            Constraint::Length(6),
            Constraint::Length(6),
            Constraint::Length(6),
            Constraint::Length(6),
            Constraint::Fill(1),
        ],
    )
    .header(header)
    .block(Block::bordered().title(title));
    frame.render_widget(table, area);
}

/// "all processes" or "pid N".
pub fn scope_name(state: &State) -> String {
    state
        .selected_process()
        .map_or("all processes".to_string(), |p| format!("pid {}", p.pid))
}
