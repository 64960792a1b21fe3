//! OTLP settings from the standard `OTEL_*` environment variables
//! (opentelemetry.io/docs/specs/otel/configuration/sdk-environment-variables
//! and the OTLP exporter spec). Every bad value is an error naming the
//! variable; nothing is silently defaulted.

use std::fmt;
use std::time::Duration;

/// Where and how one signal (metrics or traces) is sent.
#[derive(Clone, Debug, PartialEq)]
pub struct Endpoint {
    /// The full URL, e.g. `http://localhost:4318/v1/traces`.
    pub url: String,
    pub headers: Vec<(String, String)>,
    pub timeout: Duration,
    pub gzip: bool,
}

/// Which transactions become spans.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Sampler {
    AlwaysOn,
    AlwaysOff,
    /// Keep a trace when its id falls under this share of the id space.
    Ratio(f64),
}

/// Everything the OTLP exporter needs.
#[derive(Clone, Debug, PartialEq)]
pub struct OtlpConfig {
    /// `None` when `OTEL_METRICS_EXPORTER=none`.
    pub metrics: Option<Endpoint>,
    /// `None` when `OTEL_TRACES_EXPORTER=none`.
    pub traces: Option<Endpoint>,
    pub metric_interval: Duration,
    pub span_interval: Duration,
    pub max_queue: usize,
    pub max_batch: usize,
    pub sampler: Sampler,
    /// `OTEL_SERVICE_NAME`; else the process's program name.
    pub service_name: Option<String>,
    /// `OTEL_RESOURCE_ATTRIBUTES`, in order.
    pub resource: Vec<(String, String)>,
}

/// A variable with a value vfscope cannot use.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    pub var: String,
    pub value: String,
    pub why: String,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}={:?}: {}", self.var, self.value, self.why)
    }
}

impl std::error::Error for ConfigError {}

const DEFAULT_ENDPOINT: &str = "http://localhost:4318";

impl OtlpConfig {
    /// From the process environment. `None` when `OTEL_SDK_DISABLED=true`.
    pub fn from_env() -> Result<Option<Self>, ConfigError> {
        Self::from_vars(|name| std::env::var(name).ok())
    }

    /// From any variable lookup (tests pass a map).
    pub fn from_vars(var: impl Fn(&str) -> Option<String>) -> Result<Option<Self>, ConfigError> {
        let vars = Vars(&var);
        if vars.get("OTEL_SDK_DISABLED").as_deref() == Some("true") {
            return Ok(None);
        }
        Ok(Some(OtlpConfig {
            metrics: vars.endpoint("METRICS", "v1/metrics")?,
            traces: vars.endpoint("TRACES", "v1/traces")?,
            metric_interval: vars.millis("OTEL_METRIC_EXPORT_INTERVAL", 60_000)?,
            span_interval: vars.millis("OTEL_BSP_SCHEDULE_DELAY", 5_000)?,
            max_queue: vars.count("OTEL_BSP_MAX_QUEUE_SIZE", 2048)?,
            max_batch: vars.count("OTEL_BSP_MAX_EXPORT_BATCH_SIZE", 512)?,
            sampler: vars.sampler()?,
            service_name: vars.get("OTEL_SERVICE_NAME").filter(|s| !s.is_empty()),
            resource: vars.resource()?,
        }))
    }
}

struct Vars<'a>(&'a dyn Fn(&str) -> Option<String>);

impl Vars<'_> {
    fn get(&self, name: &str) -> Option<String> {
        (self.0)(name).map(|v| v.trim().to_string())
    }

    fn error(name: &str, value: &str, why: impl Into<String>) -> ConfigError {
        ConfigError {
            var: name.to_string(),
            value: value.to_string(),
            why: why.into(),
        }
    }

    /// The signal-specific variable if set, else the general one.
    fn signal(&self, signal: &str, suffix: &str) -> Option<(String, String)> {
        let specific = format!("OTEL_EXPORTER_OTLP_{signal}_{suffix}");
        let general = format!("OTEL_EXPORTER_OTLP_{suffix}");
        self.get(&specific)
            .map(|v| (specific, v))
            .or_else(|| self.get(&general).map(|v| (general, v)))
    }

    fn endpoint(&self, signal: &str, path: &str) -> Result<Option<Endpoint>, ConfigError> {
        let exporter = format!("OTEL_{signal}_EXPORTER");
        match self.get(&exporter).as_deref() {
            None | Some("otlp") => {}
            Some("none") => return Ok(None),
            Some(other) => return Err(Self::error(&exporter, other, "expected otlp or none")),
        }
        if let Some((name, protocol)) = self.signal(signal, "PROTOCOL") {
            if protocol != "http/protobuf" {
                return Err(Self::error(
                    &name,
                    &protocol,
                    "vfscope sends OTLP as http/protobuf only (grpc and http/json are not built in; \
                     a collector can translate)",
                ));
            }
        }
        let specific = format!("OTEL_EXPORTER_OTLP_{signal}_ENDPOINT");
        let (name, url) = match self.get(&specific) {
            Some(url) => (specific, url),
            None => {
                let base = self
                    .get("OTEL_EXPORTER_OTLP_ENDPOINT")
                    .unwrap_or_else(|| DEFAULT_ENDPOINT.to_string());
                let url = format!("{}/{path}", base.trim_end_matches('/'));
                ("OTEL_EXPORTER_OTLP_ENDPOINT".to_string(), url)
            }
        };
        if !(url.starts_with("http://") || url.starts_with("https://")) {
            return Err(Self::error(
                &name,
                &url,
                "expected an http:// or https:// URL",
            ));
        }
        let headers = match self.signal(signal, "HEADERS") {
            Some((name, text)) => {
                parse_pairs(&text).map_err(|why| Self::error(&name, &text, why))?
            }
            None => Vec::new(),
        };
        let timeout = match self.signal(signal, "TIMEOUT") {
            Some((name, text)) => parse_millis(&name, &text)?,
            None => Duration::from_secs(10),
        };
        let gzip = match self.signal(signal, "COMPRESSION") {
            None => false,
            Some((_, c)) if c == "none" => false,
            Some((_, c)) if c == "gzip" => true,
            Some((name, c)) => return Err(Self::error(&name, &c, "expected gzip or none")),
        };
        Ok(Some(Endpoint {
            url,
            headers,
            timeout,
            gzip,
        }))
    }

    fn millis(&self, name: &str, default: u64) -> Result<Duration, ConfigError> {
        match self.get(name) {
            Some(text) => parse_millis(name, &text),
            None => Ok(Duration::from_millis(default)),
        }
    }

    fn count(&self, name: &str, default: usize) -> Result<usize, ConfigError> {
        match self.get(name) {
            Some(text) => text
                .parse()
                .ok()
                .filter(|&n| n > 0)
                .ok_or_else(|| Self::error(name, &text, "expected a positive whole number")),
            None => Ok(default),
        }
    }

    fn sampler(&self) -> Result<Sampler, ConfigError> {
        const NAME: &str = "OTEL_TRACES_SAMPLER";
        let ratio = || -> Result<f64, ConfigError> {
            const ARG: &str = "OTEL_TRACES_SAMPLER_ARG";
            match self.get(ARG) {
                None => Ok(1.0),
                Some(text) => text
                    .parse::<f64>()
                    .ok()
                    .filter(|r| (0.0..=1.0).contains(r))
                    .ok_or_else(|| Self::error(ARG, &text, "expected a ratio from 0 to 1")),
            }
        };
        // vfscope's transaction spans have no remote parent, so the
        // parent-based samplers decide as their root sampler does.
        Ok(match self.get(NAME).as_deref() {
            None | Some("always_on") | Some("parentbased_always_on") => Sampler::AlwaysOn,
            Some("always_off") | Some("parentbased_always_off") => Sampler::AlwaysOff,
            Some("traceidratio") | Some("parentbased_traceidratio") => Sampler::Ratio(ratio()?),
            Some(other) => {
                return Err(Self::error(
                    NAME,
                    other,
                    "expected always_on, always_off, traceidratio or their parentbased_ forms",
                ))
            }
        })
    }

    fn resource(&self) -> Result<Vec<(String, String)>, ConfigError> {
        const NAME: &str = "OTEL_RESOURCE_ATTRIBUTES";
        match self.get(NAME) {
            Some(text) => parse_pairs(&text).map_err(|why| Self::error(NAME, &text, why)),
            None => Ok(Vec::new()),
        }
    }
}

fn parse_millis(name: &str, text: &str) -> Result<Duration, ConfigError> {
    text.parse::<u64>()
        .map(Duration::from_millis)
        .map_err(|_| Vars::error(name, text, "expected milliseconds as a whole number"))
}

/// `key=value,key2=value2` with percent-encoded values (W3C Baggage
/// octets), as the headers and resource variables use.
fn parse_pairs(text: &str) -> Result<Vec<(String, String)>, String> {
    text.split(',')
        .filter(|item| !item.trim().is_empty())
        .map(|item| {
            let (key, value) = item
                .split_once('=')
                .ok_or_else(|| format!("{:?} is not key=value", item.trim()))?;
            let key = key.trim();
            if key.is_empty() {
                return Err(format!("{:?} has an empty key", item.trim()));
            }
            Ok((key.to_string(), percent_decode(value.trim())?))
        })
        .collect()
}

fn percent_decode(text: &str) -> Result<String, String> {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = text
                .get(i + 1..i + 3)
                .and_then(|h| u8::from_str_radix(h, 16).ok())
                .ok_or_else(|| format!("bad percent escape in {text:?}"))?;
            out.push(hex);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).map_err(|_| format!("{text:?} does not decode to UTF-8"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn config(vars: &[(&str, &str)]) -> Result<Option<OtlpConfig>, ConfigError> {
        let map: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        OtlpConfig::from_vars(|name| map.get(name).cloned())
    }

    #[test]
    fn defaults_follow_the_specification() {
        let c = config(&[]).unwrap().unwrap();
        let metrics = c.metrics.unwrap();
        assert_eq!(metrics.url, "http://localhost:4318/v1/metrics");
        assert_eq!(metrics.timeout, Duration::from_secs(10));
        assert_eq!(c.traces.unwrap().url, "http://localhost:4318/v1/traces");
        assert_eq!(c.metric_interval, Duration::from_secs(60));
        assert_eq!(c.span_interval, Duration::from_secs(5));
        assert_eq!((c.max_queue, c.max_batch), (2048, 512));
        assert_eq!(c.sampler, Sampler::AlwaysOn);
        assert_eq!(config(&[("OTEL_SDK_DISABLED", "true")]).unwrap(), None);
    }

    #[test]
    fn signal_variables_override_the_general_ones() {
        let c = config(&[
            ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://collector:4318/"),
            (
                "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
                "https://traces.example/otlp",
            ),
            ("OTEL_EXPORTER_OTLP_HEADERS", "api-key=a%20b,x=1"),
            ("OTEL_EXPORTER_OTLP_METRICS_HEADERS", "only=metrics"),
            ("OTEL_EXPORTER_OTLP_TIMEOUT", "2500"),
            ("OTEL_EXPORTER_OTLP_COMPRESSION", "gzip"),
            ("OTEL_METRICS_EXPORTER", "otlp"),
            ("OTEL_TRACES_SAMPLER", "parentbased_traceidratio"),
            ("OTEL_TRACES_SAMPLER_ARG", "0.25"),
            ("OTEL_SERVICE_NAME", "billing"),
            (
                "OTEL_RESOURCE_ATTRIBUTES",
                "deployment.environment=prod, team=db%2Cops",
            ),
        ])
        .unwrap()
        .unwrap();
        let (m, t) = (c.metrics.unwrap(), c.traces.unwrap());
        assert_eq!(m.url, "http://collector:4318/v1/metrics");
        assert_eq!(t.url, "https://traces.example/otlp");
        assert_eq!(m.headers, [("only".to_string(), "metrics".to_string())]);
        assert_eq!(t.headers[0], ("api-key".to_string(), "a b".to_string()));
        assert_eq!((t.timeout, t.gzip), (Duration::from_millis(2500), true));
        assert_eq!(c.sampler, Sampler::Ratio(0.25));
        assert_eq!(c.service_name.as_deref(), Some("billing"));
        assert_eq!(c.resource[1], ("team".to_string(), "db,ops".to_string()));
        let off = config(&[("OTEL_TRACES_EXPORTER", "none")])
            .unwrap()
            .unwrap();
        assert!(off.traces.is_none() && off.metrics.is_some());
    }

    #[test]
    fn bad_values_name_the_variable() {
        for (var, value, says) in [
            ("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc", "http/protobuf only"),
            ("OTEL_EXPORTER_OTLP_TRACES_TIMEOUT", "10s", "milliseconds"),
            ("OTEL_EXPORTER_OTLP_ENDPOINT", "collector:4318", "http://"),
            ("OTEL_EXPORTER_OTLP_HEADERS", "novalue", "key=value"),
            ("OTEL_EXPORTER_OTLP_COMPRESSION", "zstd", "gzip or none"),
            ("OTEL_TRACES_SAMPLER", "sometimes", "always_on"),
            ("OTEL_TRACES_EXPORTER", "jaeger", "otlp or none"),
            ("OTEL_BSP_MAX_QUEUE_SIZE", "0", "positive"),
            ("OTEL_RESOURCE_ATTRIBUTES", "a=%zz", "percent"),
        ] {
            let err = config(&[(var, value)]).unwrap_err();
            assert_eq!(err.var, var);
            assert!(err.to_string().contains(says), "{err}");
        }
        let err = config(&[
            ("OTEL_TRACES_SAMPLER", "traceidratio"),
            ("OTEL_TRACES_SAMPLER_ARG", "2"),
        ])
        .unwrap_err();
        assert_eq!(err.var, "OTEL_TRACES_SAMPLER_ARG");
    }
}
