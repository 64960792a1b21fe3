//! Short human numbers for table cells. (The CLI's reports have their own,
//! `vfs/cli/src/format.rs`, on purpose: a cell fits `4.0K` and `12ms`, a
//! report line says `4.0KiB` and `12.0ms`.)

/// `812ns`, `3.1µs`, `12ms`, `1.2s`, or `-`.
pub fn ns(value: Option<u64>) -> String {
    let Some(v) = value else { return "-".into() };
    let v = v as f64;
    if v < 1e3 {
        format!("{v:.0}ns")
    } else if v < 1e4 {
        format!("{:.1}µs", v / 1e3)
    } else if v < 1e6 {
        format!("{:.0}µs", v / 1e3)
    } else if v < 1e7 {
        format!("{:.1}ms", v / 1e6)
    } else if v < 1e9 {
        format!("{:.0}ms", v / 1e6)
    } else {
        format!("{:.1}s", v / 1e9)
    }
}

/// `0`, `12`, `3.4k`, `1.2M`.
pub fn count(v: f64) -> String {
    if v == 0.0 {
        "0".into()
    } else if v < 10.0 && v.fract() != 0.0 {
        format!("{v:.1}")
    } else if v < 1e3 {
        format!("{v:.0}")
    } else if v < 1e6 {
        format!("{:.1}k", v / 1e3)
    } else {
        format!("{:.1}M", v / 1e6)
    }
}

/// `0`, `512B`, `4.0K`, `1.5M`, `2.0G` (binary units).
pub fn bytes(v: f64) -> String {
    if v < 1.0 {
        "0".into()
    } else if v < 1024.0 {
        format!("{v:.0}B")
    } else if v < 1024.0 * 1024.0 {
        format!("{:.1}K", v / 1024.0)
    } else if v < 1024.0 * 1024.0 * 1024.0 {
        format!("{:.1}M", v / (1024.0 * 1024.0))
    } else {
        format!("{:.1}G", v / (1024.0 * 1024.0 * 1024.0))
    }
}

/// A sparkline of the last `width` values.
pub fn sparkline(values: &[u64], width: usize) -> String {
    const BARS: [char; 8] = ['▁', '▂', '▃', '▄', '▅', '▆', '▇', '█'];
    let tail = &values[values.len().saturating_sub(width)..];
    let max = tail.iter().copied().max().unwrap_or(0);
    tail.iter()
        .map(|&v| {
            if max == 0 || v == 0 {
                ' '
            } else {
                BARS[((v * 7) / max) as usize]
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_are_short() {
        assert_eq!(ns(Some(812)), "812ns");
        assert_eq!(ns(Some(3_100)), "3.1µs");
        assert_eq!(ns(Some(250_000)), "250µs");
        assert_eq!(ns(None), "-");
        assert_eq!(count(3400.0), "3.4k");
        assert_eq!(bytes(4096.0), "4.0K");
        assert_eq!(sparkline(&[0, 1, 7], 3), " ▂█");
    }
}
