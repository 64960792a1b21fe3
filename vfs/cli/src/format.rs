//! Human-readable numbers: durations, byte counts. (vfstop's table cells
//! use shorter forms, `tui/src/view/fmt.rs`, on purpose: `4.0K`, `12ms`.)

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

/// Requests a scenario implied, by type, and their bill:
/// `requests: get 331, put 292, list 227, delete 8 (858); bill $0.00286 at
/// the model's request prices`.
pub fn requests_line(requests: &[vfscope_segment::RequestTally]) -> Option<String> {
    if requests.is_empty() {
        return None;
    }
    let by_type: Vec<String> = requests
        .iter()
        .map(|t| format!("{} {}", t.name, t.count))
        .collect();
    let total: u64 = requests.iter().map(|t| t.count).sum();
    let bill: f64 = requests.iter().map(|t| t.cost()).sum();
    Some(format!(
        "requests: {} ({total}); bill ${bill:.5} at the model's request prices",
        by_type.join(", ")
    ))
}

/// The same as JSON: `{"get": 331, ...}` and the bill by type.
pub fn requests_json(
    requests: &[vfscope_segment::RequestTally],
) -> (serde_json::Value, serde_json::Value) {
    let counts: serde_json::Map<String, serde_json::Value> = requests
        .iter()
        .map(|t| (t.name.clone(), t.count.into()))
        .collect();
    let mut bill: serde_json::Map<String, serde_json::Value> = requests
        .iter()
        .map(|t| (t.name.clone(), t.cost().into()))
        .collect();
    bill.insert(
        "total".into(),
        requests.iter().map(|t| t.cost()).sum::<f64>().into(),
    );
    (counts.into(), bill.into())
}

/// Splits `--latency A,B,C` into models; a piece that is only `key=value`
/// continues the previous model's parameters (`s3vfs:rtt=1ms,get=5ms,litefs`).
pub fn split_models(list: &str) -> Vec<String> {
    let mut specs: Vec<String> = Vec::new();
    for piece in list.split(',').map(str::trim).filter(|s| !s.is_empty()) {
        let parameter = piece.contains('=') && !piece.contains(':');
        match specs.last_mut() {
            Some(last) if parameter && last.contains(':') => {
                last.push(',');
                last.push_str(piece);
            }
            _ => specs.push(piece.to_string()),
        }
    }
    specs
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

    #[test]
    fn model_lists_keep_parameters_with_their_model() {
        assert_eq!(
            split_models("s3vfs:rtt=1ms,get=5ms, litefs,s3vfs:rtt=10ms"),
            ["s3vfs:rtt=1ms,get=5ms", "litefs", "s3vfs:rtt=10ms"]
        );
    }

    #[test]
    fn requests_have_a_line_and_a_bill() {
        let t = |name: &str, count, price| vfscope_segment::RequestTally {
            name: name.into(),
            price_per_1000: price,
            count,
        };
        let requests = [t("get", 2000, 0.0004), t("put", 1000, 0.005)];
        assert_eq!(
            requests_line(&requests).unwrap(),
            "requests: get 2000, put 1000 (3000); bill $0.00580 at the model's request prices"
        );
        let (counts, bill) = requests_json(&requests);
        assert_eq!(counts["put"], 1000);
        assert!((bill["total"].as_f64().unwrap() - 0.0058).abs() < 1e-12);
    }
}
