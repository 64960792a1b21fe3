//! OTLP/HTTP with protobuf bodies (opentelemetry.io/docs/specs/otlp/#otlphttp):
//! a blocking POST on the exporter's own thread, never on a SQLite call.

use super::config::Endpoint;
use std::io::{Read, Write};

/// A reusable HTTP client (keeps connections alive between exports).
pub struct Transport {
    agent: ureq::Agent,
}

impl Transport {
    pub fn new() -> Self {
        let agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .user_agent(concat!("vfscope/", env!("CARGO_PKG_VERSION")))
            .build()
            .new_agent();
        Transport { agent }
    }

    /// Posts one encoded request; the response body on success (a partial
    /// success message, possibly empty), else why it failed.
    pub fn post(&self, endpoint: &Endpoint, body: Vec<u8>) -> Result<Vec<u8>, String> {
        let body = if endpoint.gzip { gzip(&body)? } else { body };
        let mut request = self
            .agent
            .post(&endpoint.url)
            .config()
            .timeout_global(Some(endpoint.timeout))
            .build()
            .header("Content-Type", "application/x-protobuf");
        if endpoint.gzip {
            request = request.header("Content-Encoding", "gzip");
        }
        for (name, value) in &endpoint.headers {
            request = request.header(name, value);
        }
        let mut response = request
            .send(&body[..])
            .map_err(|e| format!("{}: {e}", endpoint.url))?;
        let status = response.status();
        let mut reply = Vec::new();
        let _ = response
            .body_mut()
            .as_reader()
            .take(1 << 20)
            .read_to_end(&mut reply);
        if status.is_success() {
            Ok(reply)
        } else {
            let text = String::from_utf8_lossy(&reply);
            let text: String = text.chars().filter(|c| !c.is_control()).take(200).collect();
            Err(format!("{}: HTTP {status} {text}", endpoint.url))
        }
    }
}

fn gzip(body: &[u8]) -> Result<Vec<u8>, String> {
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    encoder
        .write_all(body)
        .and_then(|_| encoder.finish())
        .map_err(|e| format!("gzip: {e}"))
}
