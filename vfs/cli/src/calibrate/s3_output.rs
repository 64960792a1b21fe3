//! From what `calibrate s3` measured to the s3vfs scenario's parameters,
//! and the table, JSON and model file that carry them.
//!
//! A parameter is a request's time without the network: its measured p50
//! less the round trips it took. A PUT was sent as boto3 sends it (the
//! head, `100 Continue`, the body): two round trips, as the scenario
//! charges. The per-key listing cost is the slope of a line fitted through
//! the p50s at each key count; the empty listing's time its intercept.
//!
//! The `_p99` parameters make each time a log-normal. Its p99 is the one
//! of the log-normal with the measured median and the measured mean (at
//! most the measured p99): a run's total follows the mean, and a few
//! outliers among 50 samples would give a log-normal through the measured
//! p99 a mean far above the one measured. The measured p99s are in the
//! table and the JSON.

use super::s3::{Measured, S3Options, DELETE_MANY_KEYS};
use super::samples::{fit_line, LineFit, Samples};
use crate::format::bytes;
use anyhow::{Context, Result};
use std::fmt::Write as _;
use std::path::Path;
use vfscope_model::replay::replay;
use vfscope_segment::trace::read_trace;

/// The scenario the parameters are for.
const SCENARIO: &str = "s3vfs";

/// The least time a request is given, without the network.
const MIN_TIME_NS: f64 = 1000.0;

/// The client's own time per request.
pub struct Client {
    pub ns: f64,
    pub from: String,
    /// From a recording: its requests, the time of the calls that sent
    /// them, and the part of it the measured requests explain.
    pub recorded: Option<(u64, u64, u64)>,
}

/// The s3vfs parameters, in the order printed.
pub struct Parameters {
    /// (name, value in ns); `block` is apart.
    pub times: Vec<(&'static str, f64)>,
    pub block: u64,
    pub rtt_from: &'static str,
    pub list_fit: LineFit,
    /// The client's time per request, and where it came from.
    pub client: Option<Client>,
}

impl Parameters {
    /// The `--latency` argument.
    pub fn spec(&self) -> String {
        let mut spec = format!("{SCENARIO}:");
        for (name, ns) in self.settings() {
            let _ = write!(spec, "{name}={ns},");
        }
        spec.pop();
        spec
    }

    /// (name, value as the model takes it).
    pub fn settings(&self) -> Vec<(&'static str, String)> {
        let mut out: Vec<(&'static str, String)> =
            self.times.iter().map(|&(n, v)| (n, duration(v))).collect();
        if let Some(client) = &self.client {
            out.push(("client", duration(client.ns)));
        }
        out.push(("block", self.block.to_string()));
        out
    }
}

/// A model duration: microseconds with one decimal (exact enough; any
/// unit parses).
fn duration(ns: f64) -> String {
    let us = (ns.max(0.0) / 100.0).round() / 10.0;
    format!("{us}us")
}

fn ms(ns: f64) -> String {
    format!("{:.3} ms", ns / 1e6)
}

/// z of the normal distribution's 99th percentile.
const Z99: f64 = 2.326_347_874_040_841;

/// The p99 of the log-normal with median `p50` and mean `mean`, at most
/// `measured` (and at least the median: a fixed time when the mean is not
/// above the median).
fn tail_p99(p50: f64, mean: f64, measured: f64) -> f64 {
    if mean <= p50 {
        return p50;
    }
    let sigma = (2.0 * (mean / p50).ln()).sqrt();
    (p50 * (Z99 * sigma).exp()).min(measured).max(p50)
}

/// Derives the parameters (the client from `options`, when given).
pub fn parameters(m: &Measured, options: &S3Options) -> Result<Parameters> {
    let (rtt, rtt_from) = if m.continued.len() * 2 >= m.rounds {
        (m.continued.p50() as f64, "100 Continue")
    } else {
        (m.connect.p50() as f64, "TCP connect")
    };
    // At least 1 us: a log-normal needs a median above 0 (a request may
    // take less than its round trips when the round trip was measured
    // through a relay that is slow to forward small answers).
    let less = |s: &Samples, trips: f64| {
        let off = trips * rtt;
        let p50 = (s.p50() as f64 - off).max(MIN_TIME_NS);
        let p99 = tail_p99(p50, s.mean() - off, s.p99() as f64 - off);
        (p50, p99)
    };
    let put_block = &m
        .put
        .iter()
        .find(|(size, _)| *size == m.block)
        .expect("the block size is among the PUTs")
        .1;
    let put_trips = if rtt_from == "100 Continue" { 2.0 } else { 1.0 };
    let points: Vec<(f64, f64)> = m
        .list
        .iter()
        .map(|(k, s)| (*k as f64, s.p50() as f64))
        .collect();
    let list_fit = fit_line(&points).context("fitting the listing cost")?;
    let (empty_p50, empty_p99) = less(&m.list[0].1, 1.0);
    let list_p99_excess = empty_p99 - empty_p50;
    let list = (list_fit.intercept - rtt).max(MIN_TIME_NS);
    let (get, get_p99) = less(&m.get, 1.0);
    let (get_miss, get_miss_p99) = less(&m.get_miss, 1.0);
    let (put, put_p99) = less(put_block, put_trips);
    let (delete, delete_p99) = less(&m.delete_many, 1.0);
    let (delete_one, delete_one_p99) = less(&m.delete_one, 1.0);
    let mut p = Parameters {
        times: vec![
            ("rtt", rtt),
            ("get", get),
            ("get_p99", get_p99),
            ("get_miss", get_miss),
            ("get_miss_p99", get_miss_p99),
            ("put", put),
            ("put_p99", put_p99),
            ("list", list),
            ("list_p99", list + list_p99_excess.max(0.0)),
            ("list_key", list_fit.slope.max(0.0)),
            ("delete", delete),
            ("delete_p99", delete_p99),
            ("delete_one", delete_one),
            ("delete_one_p99", delete_one_p99),
        ],
        block: m.block,
        rtt_from,
        list_fit,
        client: None,
    };
    if let Some(text) = &options.client {
        let d = vfscope_model::parse_duration(text)
            .map_err(|e| anyhow::anyhow!("--client {text:?}: {e}"))?;
        p.client = Some(Client {
            ns: d.as_nanos() as f64,
            from: "stated (--client)".into(),
            recorded: None,
        });
    } else if let Some(path) = &options.client_from {
        p.client = Some(client_from(path, &p)?);
    }
    Ok(p)
}

/// The client's own time per request, from a recording of the real system
/// against this store: the time its request-sending calls took, less what
/// the measured requests explain, per request.
fn client_from(path: &Path, p: &Parameters) -> Result<Client> {
    let trace = read_trace(path).with_context(|| format!("--client-from {}", path.display()))?;
    let spec = p.spec();
    let model = vfscope_model::load(&spec).map_err(|e| anyhow::anyhow!("{spec}: {e}"))?;
    // Medians and means differ under a tail; the sum over many requests
    // follows the means, which sampling gives.
    let predicted = replay(&trace, Some(model), 1);
    let requests: u64 = predicted.requests.iter().map(|t| t.count).sum();
    if requests == 0 {
        anyhow::bail!(
            "--client-from {}: its calls send no requests under {SCENARIO} (a recording of the real system, made with `vfscope run --record`, is needed)",
            path.display()
        );
    }
    let left = predicted.charged_recorded_ns as f64 - predicted.charged_model_ns as f64;
    let per = (left / requests as f64).max(0.0);
    Ok(Client {
        ns: per,
        from: path.display().to_string(),
        recorded: Some((
            requests,
            predicted.charged_recorded_ns,
            predicted.charged_model_ns,
        )),
    })
}

/// The table, the parameters, and last the `--latency` argument.
pub fn text(m: &Measured, p: &Parameters) -> String {
    let mut t = String::new();
    let made = if m.bucket_made { " and the bucket" } else { "" };
    let _ = writeln!(t, "S3 requests at {}, region {}", m.endpoint, m.region);
    let _ = writeln!(t, "credentials from {}", m.credentials_from);
    let _ = writeln!(
        t,
        "{} rounds; the scratch prefix (its last {} objects{made} removed):\n  {}/{}\n",
        m.rounds, m.removed, m.bucket, m.scratch
    );
    let _ = writeln!(
        t,
        "{:<30}{:>11}{:>11}{:>11}{:>5}",
        "request (ms)", "p50", "mean", "p99", "n"
    );
    let mut row = |label: String, s: &Samples| {
        if !s.is_empty() {
            let _ = writeln!(
                t,
                "{label:<30}{:>11.3}{:>11.3}{:>11.3}{:>5}",
                s.p50() as f64 / 1e6,
                s.mean() / 1e6,
                s.p99() as f64 / 1e6,
                s.len()
            );
        }
    };
    row("round trip: 100 Continue".into(), &m.continued);
    row("round trip: TCP connect".into(), &m.connect);
    row(format!("GET {} (stored)", bytes(m.block)), &m.get);
    row("GET missing (404 NoSuchKey)".into(), &m.get_miss);
    for (size, s) in &m.put {
        row(format!("PUT {} (100-continue)", bytes(*size)), s);
    }
    for (keys, s) in &m.list {
        row(format!("LIST {keys} keys"), s);
    }
    row("DELETE one (DeleteObject)".into(), &m.delete_one);
    row(
        format!("DELETE {DELETE_MANY_KEYS} keys (DeleteObjects)"),
        &m.delete_many,
    );
    let f = &p.list_fit;
    let _ = writeln!(
        t,
        "\nLIST = {} + {} per key\n  (fit over {} key counts: r2 {:.4}, largest residual {})",
        ms(f.intercept),
        ms(f.slope),
        m.list.len(),
        f.r2,
        ms(f.max_residual)
    );
    let _ = writeln!(
        t,
        "\n{SCENARIO} parameters (a request's time less its round trips; rtt from {};\n_p99: the log-normal's with the measured median and mean):",
        p.rtt_from
    );
    for (name, value) in p.settings() {
        let _ = writeln!(t, "  {name:<15}{value}");
    }
    match &p.client {
        Some(Client {
            from,
            recorded: Some((requests, recorded, explained)),
            ..
        }) => {
            let _ = writeln!(
                t,
                "client: from {from}:\n  {requests} requests; their calls took {}, the requests explain {}",
                ms(*recorded as f64),
                ms(*explained as f64)
            );
            if explained > recorded {
                let _ = writeln!(
                    t,
                    "  note: the requests now cost more than the recorded calls took: the store\n  or this machine was slower now than then, or the recording is of another\n  store; the client is taken as 0"
                );
            }
        }
        Some(Client { from, .. }) => {
            let _ = writeln!(t, "client: {from}");
        }
        None => {
            let _ = writeln!(
                t,
                "client: not included. The real client's own time per request (its SDK,\n  its VFS code): --client-from RECORDING (`vfscope run --record` of it\n  against this store) or --client D"
            );
        }
    }
    let _ = writeln!(t, "{}", p.spec());
    t
}

pub fn json(m: &Measured, p: &Parameters) -> serde_json::Value {
    let samples = |s: &Samples| {
        serde_json::json!({
            "p50_ns": s.p50(),
            "p99_ns": s.p99(),
            "mean_ns": s.mean(),
            "samples_ns": s.ns(),
        })
    };
    serde_json::json!({
        "schema": "vfscope-calibrate-s3/1",
        "endpoint": m.endpoint,
        "bucket": m.bucket,
        "region": m.region,
        "credentials_from": m.credentials_from,
        "rounds": m.rounds,
        "block": m.block,
        "scratch_prefix": m.scratch,
        "scratch_bucket": m.bucket_made,
        "objects_removed": m.removed,
        "round_trip": {
            "from": p.rtt_from,
            "continue": samples(&m.continued),
            "tcp_connect": samples(&m.connect),
        },
        "get": samples(&m.get),
        "get_miss": samples(&m.get_miss),
        "put": m.put.iter().map(|(size, s)| {
            let mut v = samples(s);
            v["bytes"] = (*size).into();
            v
        }).collect::<Vec<_>>(),
        "list": m.list.iter().map(|(keys, s)| {
            let mut v = samples(s);
            v["keys"] = (*keys).into();
            v
        }).collect::<Vec<_>>(),
        "list_fit": {
            "intercept_ns": p.list_fit.intercept,
            "per_key_ns": p.list_fit.slope,
            "r2": p.list_fit.r2,
            "max_residual_ns": p.list_fit.max_residual,
        },
        "delete_one": samples(&m.delete_one),
        "delete_many": {
            "keys": DELETE_MANY_KEYS,
            "p50_ns": m.delete_many.p50(),
            "p99_ns": m.delete_many.p99(),
            "mean_ns": m.delete_many.mean(),
            "samples_ns": m.delete_many.ns(),
        },
        "parameters": p.settings().into_iter().map(|(n, v)| (n.to_string(), serde_json::Value::String(v))).collect::<serde_json::Map<_, _>>(),
        "client": p.client.as_ref().map(|c| serde_json::json!({
            "ns": c.ns,
            "from": c.from,
            "requests": c.recorded.map(|r| r.0),
            "recorded_ns": c.recorded.map(|r| r.1),
            "explained_ns": c.recorded.map(|r| r.2),
        })),
        "latency": p.spec(),
    })
}

/// The s3vfs scenario with the measured values as its defaults.
pub fn model_file(m: &Measured, p: &Parameters) -> Result<String> {
    let preset = vfscope_model::PRESETS
        .iter()
        .find(|x| x.name == SCENARIO)
        .expect("the s3vfs preset");
    let settings = p.settings();
    let values: Vec<(&str, &str)> = settings.iter().map(|(n, v)| (*n, v.as_str())).collect();
    let text = format!(
        "# vfscope calibrate s3 --endpoint {}: {} rounds against bucket {}\n# ({SCENARIO} with the measured values as its parameters' defaults)\n{}",
        m.endpoint,
        m.rounds,
        m.bucket,
        vfscope_model::with_param_defaults(preset.text, &values)
            .map_err(|e| anyhow::anyhow!("{e}"))?
    );
    vfscope_model::load(&text).map_err(|e| anyhow::anyhow!("the model written: {e}"))?;
    Ok(text)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_tail_keeps_the_measured_mean() {
        // No spread above the median: a fixed time.
        assert_eq!(tail_p99(1000.0, 900.0, 5000.0), 1000.0);
        // A log-normal with the median and mean measured.
        let p99 = tail_p99(1000.0, 1200.0, 1e9);
        let d = vfscope_model::Dist::lognormal(1000.0, p99).unwrap();
        assert!((d.mean_ns() - 1200.0).abs() < 1e-6, "{}", d.mean_ns());
        // Never past the p99 measured.
        assert_eq!(tail_p99(1000.0, 3000.0, 4000.0), 4000.0);
    }

    #[test]
    fn durations_keep_a_tenth_of_a_microsecond() {
        assert_eq!(duration(1_234_567.0), "1234.6us");
        assert_eq!(duration(-5.0), "0us");
        assert_eq!(duration(50.0), "0.1us");
        for text in ["1234.6us", "0us", "0.1us"] {
            assert!(vfscope_model::parse_duration(text).is_ok(), "{text}");
        }
    }
}
