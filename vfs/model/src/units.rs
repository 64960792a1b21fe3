//! Durations (`250us`, `1.5ms`, `2s`) and rates (`100MB/s`, `1Gbit/s`).

use std::time::Duration;

/// Parses `250us`, `1.5ms`, `2s`, `800ns`, `10m`, `1h` (`µs` is accepted
/// too).
pub fn parse_duration(text: &str) -> Result<Duration, &'static str> {
    const WHY: &str = "expected a number with a unit: ns, us, ms, s, m or h (e.g. 10ms)";
    let (number, unit) = split_number(text).ok_or(WHY)?;
    let scale = match unit {
        "ns" => 1e-9,
        "us" | "µs" => 1e-6,
        "ms" => 1e-3,
        "s" => 1.0,
        "m" => 60.0,
        "h" => 3600.0,
        _ => return Err(WHY),
    };
    let seconds = number * scale;
    if !seconds.is_finite() || seconds > 1e6 {
        return Err("out of range (at most 1000000s)");
    }
    Ok(Duration::from_secs_f64(seconds))
}

/// Parses a transfer rate into bytes per second: `100MB/s`, `25MiB/s`,
/// `1Gbit/s`, `500kB/s`.
pub fn parse_rate(text: &str) -> Result<f64, &'static str> {
    const WHY: &str = "expected a rate such as 100MB/s, 64MiB/s or 1Gbit/s";
    let (number, unit) = split_number(text).ok_or(WHY)?;
    let per_second = unit.strip_suffix("/s").ok_or(WHY)?;
    let (prefix, bits) = match per_second.strip_suffix("bit") {
        Some(prefix) => (prefix, true),
        None => (per_second.strip_suffix('B').ok_or(WHY)?, false),
    };
    let scale = match prefix {
        "" => 1.0,
        "k" | "K" => 1e3,
        "M" => 1e6,
        "G" => 1e9,
        "Ki" => 1024.0,
        "Mi" => 1024.0 * 1024.0,
        "Gi" => 1024.0 * 1024.0 * 1024.0,
        _ => return Err(WHY),
    };
    let rate = number * scale / if bits { 8.0 } else { 1.0 };
    if rate.is_finite() && rate > 0.0 {
        Ok(rate)
    } else {
        Err("a rate must be positive")
    }
}

/// Parses a size in bytes: `4096`, `4KiB`, `64KiB`, `1MiB`, `8kB`.
pub fn parse_bytes(text: &str) -> Result<u64, &'static str> {
    const WHY: &str = "expected a size such as 4096, 4KiB or 1MiB";
    let text = text.trim();
    if let Ok(n) = text.parse::<u64>() {
        return Ok(n);
    }
    let (number, unit) = split_number(text).ok_or(WHY)?;
    let scale = match unit {
        "B" => 1.0,
        "kB" | "KB" => 1e3,
        "MB" => 1e6,
        "KiB" => 1024.0,
        "MiB" => 1024.0 * 1024.0,
        "GiB" => 1024.0 * 1024.0 * 1024.0,
        _ => return Err(WHY),
    };
    let bytes = number * scale;
    if (1.0..=1e12).contains(&bytes) {
        Ok(bytes as u64)
    } else {
        Err("out of range (1 B to 1 TB)")
    }
}

fn split_number(text: &str) -> Option<(f64, &str)> {
    let text = text.trim();
    let split = text.find(|c: char| !(c.is_ascii_digit() || c == '.'))?;
    let (number, unit) = text.split_at(split);
    Some((number.parse().ok()?, unit.trim()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_and_rates() {
        assert_eq!(parse_duration("1.5ms"), Ok(Duration::from_micros(1500)));
        assert_eq!(parse_duration("250µs"), Ok(Duration::from_micros(250)));
        assert!(parse_duration("10").is_err() && parse_duration("ms").is_err());
        assert_eq!(parse_duration("10m"), Ok(Duration::from_secs(600)));
        assert_eq!(parse_duration("1h"), Ok(Duration::from_secs(3600)));
        assert_eq!(parse_rate("100MB/s"), Ok(1e8));
        assert_eq!(parse_rate("1Gbit/s"), Ok(1.25e8));
        assert_eq!(parse_rate("2MiB/s"), Ok(2.0 * 1024.0 * 1024.0));
        assert!(parse_rate("100MB").is_err() && parse_rate("0MB/s").is_err());
    }
}
