//! Drawing: the whole screen from `&State`. One file per screen.

mod findings;
mod fmt;
mod help;
pub use help::KEYS;
pub mod latency;
mod locks;
mod operations;
mod processes;
mod slow;

use crate::state::{Mode, State, View};

pub use findings::text as findings_text;
use ratatui::layout::{Constraint, Layout};
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::Frame;

pub fn draw(frame: &mut Frame, state: &State) {
    let area = frame.area();
    let list_height = (state.processes.len() as u16 + 4).clamp(5, (area.height / 3).max(5));
    let [title, list, detail, footer] = Layout::vertical([
        Constraint::Length(1),
        Constraint::Length(list_height),
        Constraint::Fill(1),
        Constraint::Length(1),
    ])
    .areas(area);
    frame.render_widget(title_line(state), title);
    processes::draw(frame, list, state);
    match state.view {
        View::Operations => operations::draw(frame, detail, state),
        View::Latency => latency::draw(frame, detail, state),
        View::Locks => locks::draw(frame, detail, state),
        View::Slow => slow::draw(frame, detail, state),
        View::Findings => findings::draw(frame, detail, state),
    }
    frame.render_widget(footer_line(state), footer);
    if state.help {
        help::draw(frame, area);
    }
}

fn title_line(state: &State) -> Line<'static> {
    let views: Vec<Span> = View::ALL
        .iter()
        .flat_map(|v| {
            let style = if *v == state.view {
                Style::new().add_modifier(Modifier::REVERSED)
            } else {
                Style::new()
            };
            [
                Span::styled(format!(" {} ", v.name()), style),
                Span::raw(" "),
            ]
        })
        .collect();
    let mut spans = vec![Span::styled(
        "vfstop ",
        Style::new().add_modifier(Modifier::BOLD),
    )];
    spans.extend(views);
    spans.push(Span::raw(format!(
        "| every {}ms, window {} | {}{}",
        state.interval_ms,
        state.window,
        match state.mode {
            Mode::Rate => "rates",
            Mode::Accumulated => "totals",
        },
        if state.paused { " | PAUSED" } else { "" }
    )));
    Line::from(spans)
}

fn footer_line(state: &State) -> Line<'static> {
    if let Some(text) = &state.editing {
        return Line::from(format!("filter: {text}▏  (Enter apply, Esc cancel)"));
    }
    if let Some(notice) = &state.notice {
        return Line::from(notice.clone()).style(Style::new().fg(Color::Yellow));
    }
    Line::from(
        "q quit  ? help  space pause  Tab view  ↑↓ select  Enter drill  s sort  r reverse  / filter  a totals",
    )
    .style(Style::new().add_modifier(Modifier::DIM))
}
