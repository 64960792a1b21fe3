//! `vfscope doctor`'s findings for the processes in scope, from their
//! latest snapshots (the counters: vfstop does not read the transaction
//! rings, so commits are counted from the journal's ends and the WAL's
//! commit frames).

use crate::state::State;
use ratatui::layout::Rect;
use ratatui::widgets::{Block, Paragraph, Wrap};
use ratatui::Frame;
use vfscope_doctor::evidence::Segment;
use vfscope_doctor::{diagnose, render, Evidence};

/// The findings as the doctor writes them, for the processes in scope.
pub fn text(state: &State) -> String {
    let segments: Vec<Segment> = state
        .latest()
        .into_iter()
        .map(|(_, s)| Segment {
            snapshot: s,
            transactions: None,
        })
        .collect();
    let pids: Vec<String> = segments
        .iter()
        .map(|s| s.snapshot.meta.pid.to_string())
        .collect();
    let source = format!("pid {}", pids.join(", "));
    let evidence = Evidence::from_segments(&segments, &source);
    render::text(&diagnose(&evidence), &source)
}

pub fn draw(frame: &mut Frame, area: Rect, state: &State) {
    let text = text(state);
    let lines: Vec<&str> = text.lines().skip(state.row).collect();
    frame.render_widget(
        Paragraph::new(lines.join("\n"))
            .wrap(Wrap { trim: false })
            .block(
                Block::bordered()
                    .title(" findings, as vfscope doctor gives them (Enter, then ↑ ↓ to scroll) "),
            ),
        area,
    );
}
