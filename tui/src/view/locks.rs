//! Locks: each open file's level and how long it has held it, transitions,
//! BUSY answers, wait and hold percentiles, and the WAL-index slots with the
//! processes holding them.

use super::fmt;
use crate::state::State;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::{Modifier, Style};
use ratatui::text::Line;
use ratatui::widgets::{Block, Paragraph, Row, Table};
use ratatui::Frame;
use vfscope_segment::{LockLevel, LockSnapshot, ShmSlot};

pub fn draw(frame: &mut Frame, area: Rect, state: &State) {
    let [files_area, summary_area] =
        Layout::horizontal([Constraint::Percentage(45), Constraint::Percentage(55)]).areas(area);
    let latest = state.latest();
    let mut files = Vec::new();
    let mut totals = LockSnapshot::default();
    let mut holders: Vec<(usize, bool, u32)> = Vec::new();
    for (p, s) in &latest {
        totals.add(&s.locks_total());
        for f in &s.open_files {
            let at_level = s.taken_monotonic_ns.saturating_sub(f.level_since_ns);
            let held: Vec<String> = ShmSlot::ALL
                .iter()
                .filter_map(|slot| {
                    let bit = 1u8 << slot.index();
                    let (shared, exclusive) = (f.shm_shared & bit != 0, f.shm_exclusive & bit != 0);
                    if shared || exclusive {
                        holders.push((slot.index(), exclusive, p.pid));
                    }
                    match (shared, exclusive) {
                        (_, true) => Some(format!("{slot}x")),
                        (true, _) => Some(format!("{slot}s")),
                        _ => None,
                    }
                })
                .collect();
            files.push(Row::new([
                p.pid.to_string(),
                s.db_label(f.db),
                f.kind.name().to_string(),
                f.lock_level.name().to_string(),
                if f.lock_level == LockLevel::None {
                    "-".into()
                } else {
                    fmt::ns(Some(at_level))
                },
                held.join(" "),
            ]));
        }
    }
    let table = Table::new(
        files,
        [
            Constraint::Length(7),
            Constraint::Length(12),
            Constraint::Length(9),
            Constraint::Length(9),
            Constraint::Length(7),
            Constraint::Fill(1),
        ],
    )
    .header(
        Row::new(["PID", "DB", "KIND", "LEVEL", "FOR", "WAL-INDEX"])
            .style(Style::new().add_modifier(Modifier::BOLD)),
    )
    .block(Block::bordered().title(" open files "));
    frame.render_widget(table, files_area);
    frame.render_widget(
        Paragraph::new(summary(&totals, &holders))
            .block(Block::bordered().title(" lock activity ")),
        summary_area,
    );
}

fn summary(l: &LockSnapshot, holders: &[(usize, bool, u32)]) -> Vec<Line<'static>> {
    let mut lines = Vec::new();
    let mut transitions = Vec::new();
    for from in LockLevel::ALL {
        for to in LockLevel::ALL {
            let n = l.transition(*from, *to);
            if n > 0 {
                transitions.push(format!("{}→{} {n}", short(*from), short(*to)));
            }
        }
    }
    lines.push(Line::from(format!(
        "transitions: {}",
        transitions.join(" ")
    )));
    let busy: Vec<String> = LockLevel::ALL
        .iter()
        .filter(|v| l.busy[v.index()] > 0)
        .map(|v| format!("{} {}", v.name(), l.busy[v.index()]))
        .collect();
    lines.push(Line::from(format!(
        "BUSY: {}",
        if busy.is_empty() {
            "none".to_string()
        } else {
            busy.join(", ")
        }
    )));
    let wait = l.wait.to_hdr();
    lines.push(Line::from(format!(
        "waits: {} got the lock (p50 {} p99 {} max {}), {} gave up",
        wait.len(),
        fmt::ns((!wait.is_empty()).then(|| wait.value_at_quantile(0.5))),
        fmt::ns((!wait.is_empty()).then(|| wait.value_at_quantile(0.99))),
        fmt::ns((!wait.is_empty()).then(|| wait.max())),
        l.waits_abandoned
    )));
    for level in &LockLevel::ALL[1..] {
        let h = l.hold[level.index()].to_hdr();
        if !h.is_empty() {
            lines.push(Line::from(format!(
                "held {:<9} {:>6}x p50 {:>6} p99 {:>6}",
                level.name(),
                h.len(),
                fmt::ns(Some(h.value_at_quantile(0.5))),
                fmt::ns(Some(h.value_at_quantile(0.99)))
            )));
        }
    }
    lines.push(Line::from(
        "WAL-index  shared  excl  busy  hold p99  held by",
    ));
    for slot in ShmSlot::ALL {
        let i = slot.index();
        let [shared, exclusive] = l.shm_acquired[i];
        let h = l.shm_hold[i].to_hdr();
        let by: Vec<String> = holders
            .iter()
            .filter(|(s, _, _)| *s == i)
            .map(|(_, x, pid)| format!("{pid}{}", if *x { "x" } else { "s" }))
            .collect();
        if shared + exclusive + l.shm_busy[i] == 0 && by.is_empty() {
            continue;
        }
        lines.push(Line::from(format!(
            "{:<10} {:>6} {:>5} {:>5} {:>9}  {}",
            slot.name(),
            shared,
            exclusive,
            l.shm_busy[i],
            fmt::ns((!h.is_empty()).then(|| h.value_at_quantile(0.99))),
            by.join(" ")
        )));
    }
    lines
}

fn short(level: LockLevel) -> &'static str {
    match level {
        LockLevel::None => "none",
        LockLevel::Shared => "sh",
        LockLevel::Reserved => "res",
        LockLevel::Pending => "pend",
        LockLevel::Exclusive => "excl",
    }
}
