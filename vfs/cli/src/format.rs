//! Human-readable numbers: durations, byte counts.

/// `812ns`, `3.1µs`, `12.0ms`, `1.20s`.
pub fn duration_ns(ns: u64) -> String {
    let ns = ns as f64;
    if ns < 1e3 {
        format!("{ns:.0}ns")
    } else if ns < 1e6 {
        format!("{:.1}µs", ns / 1e3)
    } else if ns < 1e9 {
        format!("{:.1}ms", ns / 1e6)
    } else {
        format!("{:.2}s", ns / 1e9)
    }
}

/// `0`, `512B`, `4.0KiB`, `1.5MiB`, `2.0GiB`.
pub fn bytes(n: u64) -> String {
    const UNITS: [&str; 4] = ["KiB", "MiB", "GiB", "TiB"];
    if n < 1024 {
        return if n == 0 { "0".into() } else { format!("{n}B") };
    }
    let mut value = n as f64 / 1024.0;
    let mut unit = 0;
    while value >= 1024.0 && unit < UNITS.len() - 1 {
        value /= 1024.0;
        unit += 1;
    }
    format!("{value:.1}{}", UNITS[unit])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn units_scale() {
        assert_eq!(duration_ns(812), "812ns");
        assert_eq!(duration_ns(3_100), "3.1µs");
        assert_eq!(duration_ns(12_000_000), "12.0ms");
        assert_eq!(bytes(0), "0");
        assert_eq!(bytes(4096), "4.0KiB");
        assert_eq!(bytes(3 << 20), "3.0MiB");
    }
}
