//! # vfscope-exporter
//!
//! `vfscope serve`: a sidecar that reads the stats segments of every live
//! instrumented process at each scrape and serves them on `/metrics` in
//! Prometheus's text format (checked with `promtool check metrics` in the
//! tests). Reads segments only; never the shim, never SQLite.
//!
//! ```no_run
//! let collector = std::sync::Arc::new(vfscope_exporter::SegmentCollector::new("/run/user/1000/vfscope".as_ref()));
//! let listener = std::net::TcpListener::bind("127.0.0.1:9464")?;
//! vfscope_exporter::serve(listener, collector)?;
//! # Ok::<(), std::io::Error>(())
//! ```
#![forbid(unsafe_code)]

mod collect;
pub mod families;
mod family;
mod findings;
mod http;
pub mod otlp;

pub use collect::SegmentCollector;
pub use http::serve;
