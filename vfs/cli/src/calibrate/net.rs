//! `vfscope calibrate net HOST:PORT`: round trips to the user's own
//! network, measured and printed as the parameters of the network presets,
//! so that `--latency` rehearses the network the database will really be
//! behind.
//!
//! A round trip is a TCP connect: the SYN out and the SYN-ACK back, which
//! every TCP endpoint answers without anything of its protocol spoken
//! (connections are closed at once). It includes the two kernels' few
//! microseconds of work, as a request's round trip does.

use super::samples::Samples;
use anyhow::{bail, Context, Result};
use std::io::Write;
use std::net::{SocketAddr, TcpStream, ToSocketAddrs};
use std::path::PathBuf;
use std::time::{Duration, Instant};
use vfscope_model::PRESETS;

/// Options of `vfscope calibrate net`.
pub struct NetOptions {
    pub endpoint: String,
    pub count: usize,
    pub interval: Duration,
    pub json: Option<PathBuf>,
    pub output: Option<PathBuf>,
}

/// The presets whose parameters are a round trip's median and p99.
const NETWORK_PRESETS: [&str; 3] = ["same-az", "cross-az", "cross-region"];
/// How long one connect may take before the endpoint counts as unreachable.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(3);

/// What was measured: round trips in nanoseconds.
pub struct RoundTrips {
    pub endpoint: SocketAddr,
    pub samples: Samples,
}

impl RoundTrips {
    pub fn quantile(&self, q: f64) -> u64 {
        self.samples.quantile(q)
    }

    /// `rtt` and `rtt_p99` as model durations (whole microseconds, at least
    /// 1; the p99 above the median, as the presets' lognormal needs).
    pub fn parameters(&self) -> (String, String) {
        let us = |ns: u64| ns.div_ceil(1000).max(1);
        let p50 = us(self.quantile(0.50));
        let p99 = us(self.quantile(0.99)).max(p50 + 1);
        (format!("{p50}us"), format!("{p99}us"))
    }

    /// The network preset whose own median round trip is nearest the
    /// measured one (on a log scale: 2x off counts the same both ways).
    pub fn nearest_preset(&self) -> &'static str {
        let measured = self.quantile(0.50).max(1) as f64;
        NETWORK_PRESETS
            .iter()
            .copied()
            .min_by(|a, b| {
                let off = |p: &str| (default_rtt_ns(p) / measured).ln().abs();
                off(a).total_cmp(&off(b))
            })
            .expect("three presets")
    }
}

/// A network preset's default `rtt`, in nanoseconds.
fn default_rtt_ns(preset: &str) -> f64 {
    vfscope_model::load(preset)
        .ok()
        .and_then(|m| m.params.into_iter().find(|p| p.name == "rtt"))
        .and_then(|p| vfscope_model::parse_duration(&p.default).ok())
        .map_or(f64::MAX, |d| d.as_nanos() as f64)
}

/// Connects `count` times (after one warm-up connect), `interval` apart.
pub fn measure(endpoint: &str, count: usize, interval: Duration) -> Result<RoundTrips> {
    if count < 2 {
        bail!("--count {count}: at least 2 round trips are needed for a p99");
    }
    let addr = endpoint
        .to_socket_addrs()
        .with_context(|| format!("{endpoint:?} is not HOST:PORT"))?
        .next()
        .with_context(|| format!("{endpoint:?} resolves to no address"))?;
    let connect = || {
        let start = Instant::now();
        let stream = TcpStream::connect_timeout(&addr, CONNECT_TIMEOUT)
            .with_context(|| format!("cannot connect to {endpoint} ({addr})"))?;
        let took = start.elapsed();
        drop(stream);
        Ok::<u64, anyhow::Error>(took.as_nanos() as u64)
    };
    connect()?;
    let mut samples_ns = Vec::with_capacity(count);
    for _ in 0..count {
        std::thread::sleep(interval);
        samples_ns.push(connect()?);
    }
    Ok(RoundTrips {
        endpoint: addr,
        samples: Samples::new(samples_ns),
    })
}

/// Measures, prints the table and, last, the `--latency` argument of the
/// nearest network preset with the measured parameters.
pub fn net(options: NetOptions) -> Result<()> {
    let trips = measure(&options.endpoint, options.count, options.interval)?;
    let (rtt, rtt_p99) = trips.parameters();
    let spec = |preset: &str| format!("{preset}:rtt={rtt},rtt_p99={rtt_p99}");
    let nearest = trips.nearest_preset();
    let ms = |ns: u64| format!("{:.3} ms", ns as f64 / 1e6);
    let mut text = format!(
        "round trips to {} ({}): TCP connects, {} samples\n",
        options.endpoint,
        trips.endpoint,
        trips.samples.len()
    );
    for (label, q) in [
        ("min", 0.0),
        ("p50", 0.5),
        ("p90", 0.9),
        ("p99", 0.99),
        ("max", 1.0),
    ] {
        text += &format!("  {label:<4} {:>12}\n", ms(trips.quantile(q)));
    }
    text += "\nas the network presets' parameters (--latency):\n";
    for preset in NETWORK_PRESETS {
        let mark = if preset == nearest { "  (nearest)" } else { "" };
        text += &format!("  {preset:<13} {}{mark}\n", spec(preset));
    }
    text += &format!("{}\n", spec(nearest));
    std::io::stdout().write_all(text.as_bytes())?;
    if let Some(path) = &options.json {
        let json = serde_json::json!({
            "schema": "vfscope-calibrate-net/1",
            "endpoint": options.endpoint,
            "address": trips.endpoint.to_string(),
            "method": "tcp connect",
            "samples_ns": trips.samples.ns(),
            "p50_ns": trips.quantile(0.5),
            "p90_ns": trips.quantile(0.9),
            "p99_ns": trips.quantile(0.99),
            "parameters": { "rtt": rtt, "rtt_p99": rtt_p99 },
            "latency": NETWORK_PRESETS
                .iter()
                .map(|p| (p.to_string(), serde_json::Value::String(spec(p))))
                .collect::<serde_json::Map<String, serde_json::Value>>(),
            "nearest": spec(nearest),
        });
        std::fs::write(path, serde_json::to_string_pretty(&json)? + "\n")
            .with_context(|| format!("cannot write {}", path.display()))?;
    }
    if let Some(path) = &options.output {
        let preset = PRESETS
            .iter()
            .find(|p| p.name == nearest)
            .expect("a network preset");
        let model = format!(
            "# vfscope calibrate net {}: {} round trips, p50 {rtt}, p99 {rtt_p99}\n# ({} with these as its parameters' defaults)\n{}",
            options.endpoint,
            trips.samples.len(),
            nearest,
            vfscope_model::with_param_defaults(
                preset.text,
                &[("rtt", &rtt), ("rtt_p99", &rtt_p99)]
            )
            .map_err(|e| anyhow::anyhow!("{e}"))?
        );
        vfscope_model::load(&model).map_err(|e| anyhow::anyhow!("the model written: {e}"))?;
        std::fs::write(path, model).with_context(|| format!("cannot write {}", path.display()))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn trips(us: &[u64]) -> RoundTrips {
        RoundTrips {
            endpoint: "127.0.0.1:1".parse().unwrap(),
            samples: Samples::new(us.iter().map(|u| u * 1000).collect()),
        }
    }

    #[test]
    fn the_p99_stays_above_the_median() {
        assert_eq!(
            trips(&[300, 300, 300]).parameters(),
            ("300us".into(), "301us".into())
        );
        assert_eq!(trips(&[0, 0]).parameters(), ("1us".into(), "2us".into()));
    }

    #[test]
    fn the_nearest_preset_follows_the_round_trip() {
        assert_eq!(trips(&[150, 200, 250]).nearest_preset(), "same-az");
        assert_eq!(trips(&[900, 1000, 1200]).nearest_preset(), "cross-az");
        assert_eq!(
            trips(&[60_000, 65_000, 70_000]).nearest_preset(),
            "cross-region"
        );
    }
}
