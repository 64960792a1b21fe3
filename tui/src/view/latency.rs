//! The latency of the selected row as a log2 histogram, in the style of
//! biolatency: one line per power of two, a bar scaled to the largest.

use super::{fmt, operations::scope_name};
use crate::state::State;
use ratatui::layout::Rect;
use ratatui::text::Line;
use ratatui::widgets::{Block, Paragraph};
use ratatui::Frame;
use vfscope_segment::{bucket_midpoint, Buckets};

/// `(low, high, count)` per power of two of the chosen unit; values below
/// one unit share the first line ("0 -> 1").
pub fn log2_lines(latency: &Buckets, unit_ns: u64) -> Vec<(u64, u64, u64)> {
    let mut out: Vec<(u64, u64, u64)> = Vec::new();
    for &(bucket, n) in &latency.0 {
        let value = bucket_midpoint(bucket as usize) / unit_ns;
        let (low, high) = if value == 0 {
            (0, 1)
        } else {
            let k = 63 - value.leading_zeros();
            (1u64 << k, 1u64 << (k + 1))
        };
        match out.iter_mut().find(|l| l.0 == low) {
            Some(line) => line.2 += n,
            None => out.push((low, high, n)),
        }
    }
    out.sort();
    out
}

pub fn draw(frame: &mut Frame, area: Rect, state: &State) {
    let rows = state.rows();
    let (unit_ns, unit) = if state.unit_ms {
        (1_000_000, "msecs")
    } else {
        (1_000, "usecs")
    };
    let mut text = Vec::new();
    let title = match rows.get(state.row) {
        None => {
            text.push(Line::from(
                "no calls to show (select a row in the operations view with Enter, ↑ ↓)",
            ));
            " latency ".to_string()
        }
        Some(row) => {
            let lines = log2_lines(&row.totals.latency, unit_ns);
            let max = lines.iter().map(|l| l.2).max().unwrap_or(1).max(1);
            let bar_width = (area.width as usize).saturating_sub(44).clamp(10, 40);
            text.push(Line::from(format!(
                "{:>10} {:<10} : {:<9} distribution",
                unit, "", "count"
            )));
            for (low, high, n) in lines {
                let filled = ((n as f64 / max as f64) * bar_width as f64).round() as usize;
                text.push(Line::from(format!(
                    "{:>10} -> {:<10} : {:<9} |{:<width$}|",
                    low,
                    high,
                    n,
                    "*".repeat(filled),
                    width = bar_width
                )));
            }
            text.push(Line::from(format!(
                "p50 {}  p99 {}  p99.9 {}  max {}   (u: {})",
                fmt::ns(row.p50),
                fmt::ns(row.p99),
                fmt::ns(row.p999),
                fmt::ns(Some(row.totals.max_ns)),
                if state.unit_ms { "show µs" } else { "show ms" }
            )));
            format!(
                " latency: {} on {} — {} ",
                row.op,
                row.kind,
                scope_name(state)
            )
        }
    };
    frame.render_widget(
        Paragraph::new(text).block(Block::bordered().title(title)),
        area,
    );
}

#[cfg(test)]
mod tests {
    use super::*;
    use vfscope_segment::bucket_of;

    #[test]
    fn lines_are_powers_of_two_of_the_unit() {
        let b = Buckets(vec![
            (bucket_of(500) as u16, 2),
            (bucket_of(1_500) as u16, 3),
            (bucket_of(3_000) as u16, 1),
            (bucket_of(3_900) as u16, 1),
        ]);
        assert_eq!(log2_lines(&b, 1_000), vec![(0, 1, 2), (1, 2, 3), (2, 4, 2)]);
    }
}
