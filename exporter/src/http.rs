//! A small HTTP/1.1 server for `/metrics` and `/`: blocking I/O, one short
//! thread per connection (at most a few at once), no async runtime.

use crate::collect::SegmentCollector;
use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

const MAX_CONNECTIONS: usize = 16;

/// Serves until the listener fails.
pub fn serve(listener: TcpListener, collector: Arc<SegmentCollector>) -> std::io::Result<()> {
    let active = Arc::new(AtomicUsize::new(0));
    for stream in listener.incoming() {
        let Ok(stream) = stream else { continue };
        if active.fetch_add(1, Ordering::AcqRel) >= MAX_CONNECTIONS {
            active.fetch_sub(1, Ordering::AcqRel);
            let _ = respond(
                stream,
                "503 Service Unavailable",
                "text/plain",
                "too many connections\n",
            );
            continue;
        }
        let (collector, active) = (Arc::clone(&collector), Arc::clone(&active));
        std::thread::spawn(move || {
            let _ = handle(stream, &collector);
            active.fetch_sub(1, Ordering::AcqRel);
        });
    }
    Ok(())
}

fn handle(stream: TcpStream, collector: &SegmentCollector) -> std::io::Result<()> {
    stream.set_read_timeout(Some(Duration::from_secs(5)))?;
    let mut reader = BufReader::new(stream.try_clone()?);
    let mut request_line = String::new();
    reader.read_line(&mut request_line)?;
    // Skip the headers; nothing in them changes the answer.
    let mut line = String::new();
    while reader.read_line(&mut line)? > 2 {
        line.clear();
    }
    let mut parts = request_line.split_whitespace();
    let (method, target) = (parts.next().unwrap_or(""), parts.next().unwrap_or(""));
    let path = target.split('?').next().unwrap_or("");
    match (method, path) {
        ("GET", "/metrics") => respond(
            stream,
            "200 OK",
            "text/plain; version=0.0.4; charset=utf-8",
            &collector.render(),
        ),
        ("GET", "/") => respond(
            stream,
            "200 OK",
            "text/html; charset=utf-8",
            &index(collector),
        ),
        ("GET", _) => respond(
            stream,
            "404 Not Found",
            "text/plain",
            "not found: try /metrics\n",
        ),
        _ => respond(stream, "405 Method Not Allowed", "text/plain", "only GET\n"),
    }
}

fn respond(
    mut stream: TcpStream,
    status: &str,
    content_type: &str,
    body: &str,
) -> std::io::Result<()> {
    write!(
        stream,
        "HTTP/1.1 {status}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )?;
    stream.flush()
}

fn index(collector: &SegmentCollector) -> String {
    format!(
        "<!doctype html><html><head><title>vfscope serve</title></head><body>\
         <h1>vfscope serve</h1>\
         <p>Prometheus metrics of every live process recording into \
         <code>{}</code>: <a href=\"/metrics\">/metrics</a>.</p>\
         <p>VFS calls by op, file kind, database and result; latency histograms; \
         lock transitions, waits and holds; WAL-index locks; WAL frames and \
         commits; open files; slow calls. Processes that exit disappear.</p>\
         </body></html>\n",
        html_escape(&collector.dir().display().to_string())
    )
}

fn html_escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}
