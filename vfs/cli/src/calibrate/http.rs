//! A small HTTP/1.1 client for calibration: one kept-alive connection,
//! plain or TLS, each request timed from its first byte written to its
//! last byte read (connecting is timed apart), and, for a request sent with
//! `Expect: 100-continue`, the time until the server's `100 Continue`: a
//! round trip that carries no body and none of the request's work.
//!
//! Why not a general client: calibration must time exactly one exchange
//! per request, with no pool, retries or runtime in between, and see the
//! interim response that general clients hide. S3's wire format (signing,
//! XML) comes from rusty-s3; this module only moves bytes.

use anyhow::{bail, Context, Result};
use std::io::{BufRead, BufReader, ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpStream, ToSocketAddrs};
use std::sync::Arc;
use std::time::{Duration, Instant};
use url::Url;

/// How long a connect, a read or a write may stall before the request fails.
const IO_TIMEOUT: Duration = Duration::from_secs(30);
/// How long to wait for `100 Continue` before sending the body anyway (as
/// curl does; a server may ignore `Expect`).
const CONTINUE_WAIT: Duration = Duration::from_secs(1);

enum Stream {
    Plain(TcpStream),
    Tls(Box<rustls::StreamOwned<rustls::ClientConnection, TcpStream>>),
}

impl Stream {
    fn tcp(&self) -> &TcpStream {
        match self {
            Stream::Plain(s) => s,
            Stream::Tls(s) => &s.sock,
        }
    }
}

impl Read for Stream {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        match self {
            Stream::Plain(s) => s.read(buf),
            Stream::Tls(s) => s.read(buf),
        }
    }
}

impl Write for Stream {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        match self {
            Stream::Plain(s) => s.write(buf),
            Stream::Tls(s) => s.write(buf),
        }
    }
    fn flush(&mut self) -> std::io::Result<()> {
        match self {
            Stream::Plain(s) => s.flush(),
            Stream::Tls(s) => s.flush(),
        }
    }
}

/// A server: where to connect, and with TLS or not.
pub struct Server {
    pub host: String,
    pub port: u16,
    pub addr: SocketAddr,
    tls: Option<Arc<rustls::ClientConfig>>,
}

impl Server {
    /// The server of an `http://` or `https://` URL (resolved once).
    pub fn of(url: &Url) -> Result<Server> {
        let host = url
            .host_str()
            .with_context(|| format!("{url} has no host"))?
            .to_string();
        let port = url
            .port_or_known_default()
            .with_context(|| format!("{url}: no port"))?;
        let tls = match url.scheme() {
            "http" => None,
            "https" => {
                let roots = rustls::RootCertStore {
                    roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
                };
                let config = rustls::ClientConfig::builder_with_provider(Arc::new(
                    rustls::crypto::ring::default_provider(),
                ))
                .with_safe_default_protocol_versions()
                .context("TLS set-up")?
                .with_root_certificates(roots)
                .with_no_client_auth();
                Some(Arc::new(config))
            }
            other => bail!("{url}: the scheme must be http or https, not {other}"),
        };
        let addr = (host.trim_matches(['[', ']']), port)
            .to_socket_addrs()
            .with_context(|| format!("cannot resolve {host}"))?
            .next()
            .with_context(|| format!("{host} resolves to no address"))?;
        Ok(Server {
            host,
            port,
            addr,
            tls,
        })
    }

    /// A TCP connect's time (SYN to SYN-ACK), the connection then closed.
    pub fn connect_time(&self) -> Result<Duration> {
        let start = Instant::now();
        let stream = TcpStream::connect_timeout(&self.addr, IO_TIMEOUT)
            .with_context(|| format!("cannot connect to {}:{}", self.host, self.port))?;
        let took = start.elapsed();
        drop(stream);
        Ok(took)
    }

    fn open(&self) -> Result<Stream> {
        let tcp = TcpStream::connect_timeout(&self.addr, IO_TIMEOUT).with_context(|| {
            format!(
                "cannot connect to {}:{} ({})",
                self.host, self.port, self.addr
            )
        })?;
        tcp.set_nodelay(true)?;
        tcp.set_read_timeout(Some(IO_TIMEOUT))?;
        tcp.set_write_timeout(Some(IO_TIMEOUT))?;
        let Some(config) = &self.tls else {
            return Ok(Stream::Plain(tcp));
        };
        let name = rustls::pki_types::ServerName::try_from(self.host.clone())
            .with_context(|| format!("{} is not a TLS server name", self.host))?;
        let conn = rustls::ClientConnection::new(config.clone(), name)?;
        let mut tls = rustls::StreamOwned::new(conn, tcp);
        // The handshake now, so that no request's time includes it.
        while tls.conn.is_handshaking() {
            tls.conn
                .complete_io(&mut tls.sock)
                .with_context(|| format!("TLS handshake with {}", self.host))?;
        }
        Ok(Stream::Tls(Box::new(tls)))
    }
}

/// One request.
pub struct Request<'a> {
    pub method: &'a str,
    pub url: &'a Url,
    pub headers: &'a [(&'a str, String)],
    pub body: &'a [u8],
    /// Send the head with `Expect: 100-continue` and the body after the
    /// server's `100 Continue` (as boto3 does for uploads).
    pub expect_continue: bool,
}

/// A response and how long it took.
pub struct Response {
    pub status: u16,
    pub body: Vec<u8>,
    /// First byte written to last byte read.
    pub took: Duration,
    /// First byte written to the end of the `100 Continue`, if one came.
    pub continued_after: Option<Duration>,
}

/// A kept-alive connection to one server, opened when first needed and
/// again after the server closes it.
pub struct Connection {
    server: Server,
    stream: Option<BufReader<Stream>>,
}

impl Connection {
    pub fn new(server: Server) -> Self {
        Connection {
            server,
            stream: None,
        }
    }

    pub fn server(&self) -> &Server {
        &self.server
    }

    /// Sends `request` and reads its response. A kept-alive connection the
    /// server closed in between is reopened and the request sent again.
    pub fn send(&mut self, request: &Request) -> Result<Response> {
        let reused = self.stream.is_some();
        match self.exchange(request) {
            Err(_) if reused => {
                self.stream = None;
                self.exchange(request)
            }
            other => other,
        }
    }

    fn exchange(&mut self, request: &Request) -> Result<Response> {
        if self.stream.is_none() {
            self.stream = Some(BufReader::new(self.server.open()?));
        }
        let stream = self.stream.as_mut().expect("opened above");
        let result = exchange(stream, &self.server, request);
        match &result {
            Ok((_, keep)) if *keep => {}
            _ => self.stream = None,
        }
        result.map(|(response, _)| response)
    }
}

/// The head of a request.
fn head(server: &Server, request: &Request) -> String {
    let default_port = if server.tls.is_some() { 443 } else { 80 };
    let host = if server.port == default_port {
        server.host.clone()
    } else {
        format!("{}:{}", server.host, server.port)
    };
    let mut path = request.url.path().to_string();
    if let Some(query) = request.url.query() {
        path.push('?');
        path.push_str(query);
    }
    let mut head = format!(
        "{} {path} HTTP/1.1\r\nHost: {host}\r\nContent-Length: {}\r\nUser-Agent: vfscope-calibrate/{}\r\n",
        request.method,
        request.body.len(),
        env!("CARGO_PKG_VERSION"),
    );
    if request.expect_continue {
        head.push_str("Expect: 100-continue\r\n");
    }
    for (name, value) in request.headers {
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    head.push_str("\r\n");
    head
}

/// One exchange on an open connection: the response, and whether the
/// connection may be used again.
fn exchange(
    stream: &mut BufReader<Stream>,
    server: &Server,
    request: &Request,
) -> Result<(Response, bool)> {
    let head = head(server, request);
    let start = Instant::now();
    let mut continued_after = None;
    let io = |e: std::io::Error| anyhow::anyhow!("{}:{}: {e}", server.host, server.port);
    if request.expect_continue && !request.body.is_empty() {
        stream.get_mut().write_all(head.as_bytes()).map_err(io)?;
        stream.get_mut().flush().map_err(io)?;
        stream
            .get_ref()
            .tcp()
            .set_read_timeout(Some(CONTINUE_WAIT))?;
        let interim = read_head(stream);
        stream.get_ref().tcp().set_read_timeout(Some(IO_TIMEOUT))?;
        match interim {
            Ok(h) if h.status == 100 => continued_after = Some(start.elapsed()),
            // A final answer before the body (a refusal): the body is
            // never sent, so the connection cannot be reused.
            Ok(h) => {
                let body = read_body(stream, request.method, &h).map_err(io)?;
                let response = Response {
                    status: h.status,
                    body,
                    took: start.elapsed(),
                    continued_after: None,
                };
                return Ok((response, false));
            }
            Err(e) if is_timeout(&e) => {}
            Err(e) => return Err(io(e)),
        }
        stream.get_mut().write_all(request.body).map_err(io)?;
    } else {
        let mut bytes = head.into_bytes();
        bytes.extend_from_slice(request.body);
        stream.get_mut().write_all(&bytes).map_err(io)?;
    }
    stream.get_mut().flush().map_err(io)?;
    let mut h = read_head(stream).map_err(io)?;
    while h.status == 100 {
        h = read_head(stream).map_err(io)?;
    }
    let body = read_body(stream, request.method, &h).map_err(io)?;
    let response = Response {
        status: h.status,
        body,
        took: start.elapsed(),
        continued_after,
    };
    Ok((response, h.keep_alive))
}

fn is_timeout(e: &std::io::Error) -> bool {
    matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut)
}

/// A response's status line and the headers calibration needs.
#[derive(Debug)]
struct Head {
    status: u16,
    content_length: Option<u64>,
    chunked: bool,
    keep_alive: bool,
}

fn invalid(what: impl Into<String>) -> std::io::Error {
    std::io::Error::new(ErrorKind::InvalidData, what.into())
}

fn read_head(stream: &mut impl BufRead) -> std::io::Result<Head> {
    let mut raw = Vec::new();
    while !raw.ends_with(b"\r\n\r\n") {
        let n = stream.read_until(b'\n', &mut raw)?;
        if n == 0 {
            return Err(invalid(if raw.is_empty() {
                "the server closed the connection".to_string()
            } else {
                "the server closed the connection inside a response head".to_string()
            }));
        }
        if raw.len() > 64 * 1024 {
            return Err(invalid("a response head over 64 KiB"));
        }
    }
    let mut headers = [httparse::EMPTY_HEADER; 64];
    let mut response = httparse::Response::new(&mut headers);
    match response.parse(&raw) {
        Ok(httparse::Status::Complete(_)) => {}
        Ok(httparse::Status::Partial) => return Err(invalid("an incomplete response head")),
        Err(e) => return Err(invalid(format!("not an HTTP response: {e}"))),
    }
    let header = |name: &str| {
        response
            .headers
            .iter()
            .find(|h| h.name.eq_ignore_ascii_case(name))
            .map(|h| String::from_utf8_lossy(h.value).trim().to_ascii_lowercase())
    };
    let content_length = match header("content-length") {
        Some(v) => Some(
            v.parse()
                .map_err(|_| invalid(format!("Content-Length {v:?}")))?,
        ),
        None => None,
    };
    let version_1_1 = response.version == Some(1);
    let connection = header("connection").unwrap_or_default();
    Ok(Head {
        status: response.code.unwrap_or(0),
        content_length,
        chunked: header("transfer-encoding").is_some_and(|v| v.contains("chunked")),
        keep_alive: if version_1_1 {
            !connection.contains("close")
        } else {
            connection.contains("keep-alive")
        },
    })
}

fn read_body(stream: &mut impl BufRead, method: &str, head: &Head) -> std::io::Result<Vec<u8>> {
    let mut body = Vec::new();
    if method == "HEAD" || head.status == 204 || head.status == 304 {
        return Ok(body);
    }
    if head.chunked {
        loop {
            let mut line = String::new();
            stream.read_line(&mut line)?;
            let size = line.trim().split(';').next().unwrap_or("");
            let size = u64::from_str_radix(size, 16)
                .map_err(|_| invalid(format!("a chunk size {size:?}")))?;
            if size == 0 {
                // Trailers, up to the blank line.
                loop {
                    line.clear();
                    if stream.read_line(&mut line)? == 0 || line == "\r\n" {
                        return Ok(body);
                    }
                }
            }
            let start = body.len();
            body.resize(start + size as usize, 0);
            stream.read_exact(&mut body[start..])?;
            line.clear();
            stream.read_line(&mut line)?;
        }
    }
    match head.content_length {
        Some(n) => {
            body.resize(n as usize, 0);
            stream.read_exact(&mut body)?;
        }
        None => {
            stream.read_to_end(&mut body)?;
        }
    }
    Ok(body)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(raw: &str) -> (Head, Vec<u8>) {
        let mut r = std::io::Cursor::new(raw.as_bytes().to_vec());
        let head = read_head(&mut r).unwrap();
        let body = read_body(&mut r, "GET", &head).unwrap();
        (head, body)
    }

    #[test]
    fn bodies_by_length_by_chunks_and_to_the_end() {
        let (h, b) = parse("HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhelloXX");
        assert_eq!(
            (h.status, h.keep_alive, b.as_slice()),
            (200, true, &b"hello"[..])
        );
        let (h, b) = parse(
            "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n2;x=y\r\nde\r\n0\r\nT: 1\r\n\r\n",
        );
        assert_eq!((h.status, b.as_slice()), (200, &b"abcde"[..]));
        let (h, b) = parse("HTTP/1.0 404 Not Found\r\n\r\ngone");
        assert_eq!(
            (h.status, h.keep_alive, b.as_slice()),
            (404, false, &b"gone"[..])
        );
        let (h, _) = parse("HTTP/1.1 204 No Content\r\nConnection: close\r\n\r\n");
        assert!(!h.keep_alive);
    }

    #[test]
    fn broken_heads_are_errors() {
        let mut r = std::io::Cursor::new(b"HTTP/1.1 200 OK\r\nContent-".to_vec());
        assert!(read_head(&mut r).is_err());
        let mut r = std::io::Cursor::new(b"SSH-2.0-OpenSSH\r\n\r\n".to_vec());
        assert!(read_head(&mut r)
            .unwrap_err()
            .to_string()
            .contains("not an HTTP response"));
    }
}
