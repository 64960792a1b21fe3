//! A minimal OTLP/HTTP receiver for the tests: accepts protobuf posts on
//! `/v1/metrics` and `/v1/traces` (gzip or not), decodes them with the
//! OpenTelemetry project's own types and keeps them.

use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use prost::Message;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// What the receiver got.
#[derive(Default)]
pub struct Received {
    pub metrics: Vec<ExportMetricsServiceRequest>,
    pub traces: Vec<ExportTraceServiceRequest>,
    /// Request headers of every post, lowercased names.
    pub headers: Vec<Vec<(String, String)>>,
}

/// A running receiver on 127.0.0.1; it stops with the test process.
pub struct OtlpReceiver {
    pub port: u16,
    received: Arc<Mutex<Received>>,
}

impl OtlpReceiver {
    pub fn start() -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind the receiver");
        let port = listener.local_addr().unwrap().port();
        let received = Arc::new(Mutex::new(Received::default()));
        let sink = received.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let sink = sink.clone();
                std::thread::spawn(move || {
                    let _ = serve(stream, &sink);
                });
            }
        });
        OtlpReceiver { port, received }
    }

    /// `http://127.0.0.1:PORT`, for OTEL_EXPORTER_OTLP_ENDPOINT.
    pub fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// Waits (up to a minute) until `ready` holds for what was received.
    pub fn wait_for(&self, what: &str, ready: impl Fn(&Received) -> bool) {
        let deadline = Instant::now() + Duration::from_secs(60);
        while !ready(&self.received.lock().unwrap()) {
            assert!(Instant::now() < deadline, "the receiver never got {what}");
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    pub fn with<T>(&self, f: impl FnOnce(&Received) -> T) -> T {
        f(&self.received.lock().unwrap())
    }
}

/// Serves one keep-alive connection.
fn serve(stream: TcpStream, sink: &Mutex<Received>) -> std::io::Result<()> {
    let mut reader = BufReader::new(stream.try_clone()?);
    let mut out = stream;
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line)? == 0 {
            return Ok(());
        }
        let path = line.split_whitespace().nth(1).unwrap_or("").to_string();
        let mut headers = Vec::new();
        loop {
            let mut header = String::new();
            reader.read_line(&mut header)?;
            let header = header.trim_end();
            if header.is_empty() {
                break;
            }
            if let Some((name, value)) = header.split_once(':') {
                headers.push((name.trim().to_ascii_lowercase(), value.trim().to_string()));
            }
        }
        let header = |name: &str| {
            headers
                .iter()
                .find(|(n, _)| n == name)
                .map(|(_, v)| v.clone())
        };
        let length: usize = header("content-length")
            .and_then(|v| v.parse().ok())
            .unwrap_or(0);
        let mut body = vec![0; length];
        reader.read_exact(&mut body)?;
        if header("content-encoding").as_deref() == Some("gzip") {
            let mut plain = Vec::new();
            flate2::read::GzDecoder::new(&body[..]).read_to_end(&mut plain)?;
            body = plain;
        }
        let ok = {
            let mut sink = sink.lock().unwrap();
            sink.headers.push(headers.clone());
            match path.as_str() {
                "/v1/metrics" => ExportMetricsServiceRequest::decode(&body[..])
                    .map(|r| sink.metrics.push(r))
                    .is_ok(),
                "/v1/traces" => ExportTraceServiceRequest::decode(&body[..])
                    .map(|r| sink.traces.push(r))
                    .is_ok(),
                _ => false,
            }
        };
        let status = if ok { "200 OK" } else { "400 Bad Request" };
        write!(
            out,
            "HTTP/1.1 {status}\r\nContent-Type: application/x-protobuf\r\nContent-Length: 0\r\n\r\n"
        )?;
        out.flush()?;
    }
}
