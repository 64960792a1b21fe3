//! The operations table of the selected process (or all): per op × file
//! kind the rate, bytes, errors, share of time, percentiles and a trend.

use super::fmt;
use crate::state::{Mode, SortColumn, State};
use ratatui::layout::{Constraint, Rect};
use ratatui::style::{Modifier, Style};
use ratatui::widgets::{Block, Row, Table};
use ratatui::Frame;

/// Below this width the table drops P99.9 and the trend, and shortens op
/// names, so it fits 80 columns.
const WIDE: u16 = 110;

pub fn draw(frame: &mut Frame, area: Rect, state: &State) {
    let rate = state.mode == Mode::Rate;
    let wide = area.width >= WIDE;
    let arrow = if state.reverse { "▲" } else { "▼" };
    let mark = |column: SortColumn, name: &str| {
        if state.sort == column {
            format!("{name}{arrow}")
        } else {
            name.to_string()
        }
    };
    let mut header = vec![
        mark(SortColumn::Name, "OP"),
        "KIND".to_string(),
        mark(SortColumn::Calls, if rate { "CALLS/s" } else { "CALLS" }),
        mark(SortColumn::Bytes, if rate { "BYTES/s" } else { "BYTES" }),
        mark(SortColumn::Errors, "ERR"),
        mark(SortColumn::Time, "%TIME"),
        mark(SortColumn::P50, "P50"),
        mark(SortColumn::P99, "P99"),
    ];
    if wide {
        header.push(mark(SortColumn::P999, "P99.9"));
    }
    header.push(mark(SortColumn::Max, "MAX"));
    if wide {
        header.push("TREND".to_string());
    }
    let rows = state.rows();
    let visible = area.height.saturating_sub(3) as usize;
    let skip = if state.in_detail {
        (state.row + 1).saturating_sub(visible.max(1))
    } else {
        0
    };
    let lines = rows.iter().enumerate().skip(skip).map(|(i, r)| {
        let mut cells = vec![
            if wide {
                r.op.name().to_string()
            } else {
                short_op(r.op.name())
            },
            r.kind.name().to_string(),
            fmt::count(r.calls),
            fmt::bytes(r.bytes),
            r.totals.errors.to_string(),
            format!("{:.1}", r.share * 100.0),
            fmt::ns(r.p50),
            fmt::ns(r.p99),
        ];
        if wide {
            cells.push(fmt::ns(r.p999));
        }
        cells.push(fmt::ns((r.totals.max_ns > 0).then_some(r.totals.max_ns)));
        if wide {
            cells.push(fmt::sparkline(&r.trend, 12));
        }
        let row = Row::new(cells);
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
    let widths: Vec<Constraint> = if wide {
        [22, 13, 8, 8, 4, 6, 6, 6, 6, 6]
            .into_iter()
            .map(Constraint::Length)
            .chain([Constraint::Fill(1)])
            .collect()
    } else {
        [14, 13, 8, 8, 3, 6, 6, 6, 6]
            .into_iter()
            .map(Constraint::Length)
            .collect()
    };
    let table = Table::new(lines, widths)
        .header(Row::new(header).style(Style::new().add_modifier(Modifier::BOLD)))
        .block(Block::bordered().title(title));
    frame.render_widget(table, area);
}

/// Op names of at most 14 characters, for narrow terminals.
fn short_op(name: &str) -> String {
    match name {
        "device_characteristics" => "device_chars",
        "check_reserved_lock" => "check_reserved",
        "current_time_int64" => "current_time64",
        "set_system_call" => "set_syscall",
        "get_system_call" => "get_syscall",
        "next_system_call" => "next_syscall",
        other => other,
    }
    .to_string()
}

/// "all processes" or "pid N".
pub fn scope_name(state: &State) -> String {
    state
        .selected_process()
        .map_or("all processes".to_string(), |p| format!("pid {}", p.pid))
}
