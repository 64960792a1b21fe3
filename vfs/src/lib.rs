//! # vfscope: library mode
//!
//! Registers vfscope over the SQLite your Rust program links (through
//! `libsqlite3-sys`, so it is the same SQLite rusqlite uses, bundled or not).
//! Every VFS call of connections that use it is forwarded unchanged to the
//! parent VFS and recorded into this process's stats segment, where
//! `vfstop`, `vfscope serve` and `vfscope report` find it.
//!
//! ```no_run
//! let registration = vfscope::Builder::from_env()?  // VFSCOPE_DIR, VFSCOPE_SLOW, ...
//!     .make_default(true)                              // every new connection
//!     .register()?;
//! let conn = rusqlite::Connection::open("app.db")?;
//! conn.execute_batch("CREATE TABLE IF NOT EXISTS t(x); INSERT INTO t VALUES (1);")?;
//! let snapshot = registration.snapshot().expect("segment file")?;
//! for cell in &snapshot.cells {
//!     println!("{} {} {} calls", cell.op, cell.kind, cell.calls());
//! }
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! Without `make_default`, open connections with the VFS by name:
//! `Connection::open_with_flags_and_vfs(path, flags, "vfscope")`.
#![deny(unsafe_op_in_unsafe_fn)]

use libsqlite3_sys as sqlite;
use std::os::raw::{c_char, c_int};
use std::path::{Path, PathBuf};
use std::time::Duration;
use vfscope_shim::{ffi, Config, SqliteApi};

pub use vfscope_segment as segment;
pub use vfscope_shim::Error;

/// Settings for registering vfscope.
#[derive(Clone, Debug)]
pub struct Builder {
    name: String,
    parent: Option<String>,
    make_default: bool,
    config: Config,
}

impl Default for Builder {
    fn default() -> Self {
        Builder::new()
    }
}

impl Builder {
    /// VFS name `vfscope` over the current default VFS, not made default,
    /// built-in settings (no environment variables read).
    pub fn new() -> Self {
        Builder {
            name: "vfscope".to_string(),
            parent: None,
            make_default: false,
            config: Config::default(),
        }
    }

    /// Like [`Builder::new`], with settings from `VFSCOPE_DIR`,
    /// `VFSCOPE_SLOW` and `VFSCOPE_BLOCK_SIZE`; a bad value is an error that
    /// names the variable.
    pub fn from_env() -> Result<Self, Error> {
        Ok(Builder {
            config: Config::from_env()?,
            ..Builder::new()
        })
    }

    /// The name connections select vfscope by (1 to 31 bytes).
    pub fn name(mut self, name: &str) -> Self {
        self.name = name.to_string();
        self
    }

    /// The VFS to wrap, by name (`unix`, `unix-excl`, `memdb`, …); default:
    /// the default VFS at registration time.
    pub fn parent(mut self, parent: &str) -> Self {
        self.parent = Some(parent.to_string());
        self
    }

    /// Makes vfscope the default VFS, so every connection opened afterwards
    /// without a `vfs=` goes through it.
    pub fn make_default(mut self, make_default: bool) -> Self {
        self.make_default = make_default;
        self
    }

    /// Where the segment file goes (default: `VFSCOPE_DIR`, else
    /// `$XDG_RUNTIME_DIR/vfscope`, else `/tmp/vfscope-$UID`).
    pub fn dir(mut self, dir: impl Into<PathBuf>) -> Self {
        self.config.dir = Some(dir.into());
        self
    }

    /// Calls at least this slow also go into the slow-call ring.
    pub fn slow_threshold(mut self, threshold: Duration) -> Self {
        self.config.slow_threshold = threshold;
        self
    }

    /// Starts with a latency/fault model: a preset name (`cross-az`, see
    /// `vfscope presets`), a model file's path, TOML text, or `off`.
    /// `from_env` takes it from `VFSCOPE_LATENCY`. A model that does not
    /// load makes [`Builder::register`] fail with an error naming the
    /// file, line and field.
    pub fn latency(mut self, model: &str) -> Self {
        self.config.latency = Some(model.to_string());
        self
    }

    /// Block size of the modelled storage backend, for the alignment and
    /// write-amplification counters: a power of two, 512 B to 64 MiB.
    pub fn block_size(mut self, bytes: u64) -> Self {
        self.config.block_size = bytes;
        self
    }

    /// Starts recording (creating this process's segment on first use) and
    /// registers the VFS. Recording settings are per process: the first
    /// registration's settings stay in force.
    pub fn register(self) -> Result<Registration, Error> {
        vfscope_shim::parse_block_size(&self.config.block_size.to_string()).map_err(|why| {
            Error::Segment(segment::Error::bad_value(
                "block_size",
                &self.config.block_size.to_string(),
                why,
            ))
        })?;
        if let Some(spec) = &self.config.latency {
            vfscope_shim::load_latency(spec).map_err(Error::Latency)?;
        }
        let api = linked_api();
        // SAFETY: sqlite3_libversion returns a static NUL-terminated string.
        let version = unsafe { std::ffi::CStr::from_ptr(sqlite::sqlite3_libversion()) }
            .to_string_lossy()
            .into_owned();
        let segment = vfscope_shim::start_recording(&self.config, &version)?;
        vfscope_shim::publish_copy(linked_copy(&version));
        // SAFETY: `api` holds the entry points of the SQLite this program
        // links, which initialises itself on first use.
        unsafe {
            vfscope_shim::register(
                api,
                LINKED_COPY,
                &self.name,
                self.parent.as_deref(),
                self.make_default,
            )?
        };
        Ok(Registration {
            name: self.name,
            segment,
        })
    }
}

/// A registered vfscope VFS. Registrations last for the life of the process.
#[derive(Clone, Debug)]
pub struct Registration {
    name: String,
    segment: Option<PathBuf>,
}

impl Registration {
    /// The VFS name to open connections with.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The process's segment file.
    pub fn segment_path(&self) -> Option<&Path> {
        self.segment.as_deref()
    }

    /// Serves this process's metrics at `http://ADDR/metrics` (Prometheus
    /// text format, the same families as `vfscope serve`) from a thread of
    /// its own. vfscope starts a thread only when asked: this one, the OTLP
    /// exporter's, and the trace writer when `VFSCOPE_TRACE` records calls.
    /// Needs the `metrics` feature and a segment file.
    #[cfg(feature = "metrics")]
    pub fn serve_metrics(&self, addr: &str) -> std::io::Result<std::net::SocketAddr> {
        let collector = self.own_collector()?;
        let listener = std::net::TcpListener::bind(addr)?;
        let local = listener.local_addr()?;
        std::thread::Builder::new()
            .name("vfscope-metrics".into())
            .spawn(move || vfscope_exporter::serve(listener, collector))?;
        Ok(local)
    }

    /// Pushes this process's metrics and transaction spans over OTLP/HTTP
    /// from a thread of its own, set up by the standard `OTEL_*` variables
    /// (see the README). `Ok(None)` when `OTEL_SDK_DISABLED=true`. Keep the
    /// exporter: dropping it (or `shutdown`) exports once more and stops.
    /// Needs the `otlp` feature and a segment file.
    #[cfg(feature = "otlp")]
    /// A bad variable is an `InvalidInput` error naming it.
    pub fn export_otlp(&self) -> std::io::Result<Option<vfscope_exporter::otlp::OtlpExporter>> {
        use vfscope_exporter::otlp::{OtlpConfig, OtlpExporter};
        let config = OtlpConfig::from_env()
            .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidInput, e))?;
        let Some(config) = config else {
            return Ok(None);
        };
        OtlpExporter::start(config, self.own_collector()?).map(Some)
    }

    /// A collector that reads this process's segment only.
    #[cfg(any(feature = "metrics", feature = "otlp"))]
    fn own_collector(&self) -> std::io::Result<std::sync::Arc<vfscope_exporter::SegmentCollector>> {
        let segment = self.segment.as_deref().ok_or_else(|| {
            std::io::Error::other(
                "this process records in memory only; there is no segment to read",
            )
        })?;
        let dir = segment.parent().unwrap_or(segment).to_path_buf();
        Ok(std::sync::Arc::new(
            vfscope_exporter::SegmentCollector::for_pid(&dir, std::process::id()),
        ))
    }

    /// Switches this process's latency model now (the next modelled call
    /// uses it): as [`Builder::latency`] takes.
    pub fn set_latency(&self, model: &str) -> Result<(), Error> {
        vfscope_shim::set_latency(model).map_err(Error::Latency)
    }

    /// A snapshot of this process's segment, read the way other processes
    /// read it.
    pub fn snapshot(&self) -> Option<segment::Result<segment::Snapshot>> {
        let path = self.segment.as_deref()?;
        Some(segment::SegmentReader::open(path).map(|r| r.snapshot()))
    }
}

/// Library mode knows one SQLite copy, the one this program links.
const LINKED_COPY: u16 = 0;

fn linked_copy(version: &str) -> vfscope_shim::CopyInfo {
    // SAFETY: sqlite3_sourceid returns a static NUL-terminated string.
    let source_id = unsafe { std::ffi::CStr::from_ptr(sqlite::sqlite3_sourceid()) };
    vfscope_shim::CopyInfo {
        index: LINKED_COPY,
        status: vfscope_shim::CopyStatus::Traced,
        access: vfscope_shim::CopyAccess::Linked,
        object: std::env::current_exe()
            .map(|p| p.display().to_string())
            .unwrap_or_default(),
        version: version.to_string(),
        source_id: source_id.to_string_lossy().into_owned(),
        note: String::new(),
        calls: 0,
        opens: 0,
    }
}

fn linked_api() -> SqliteApi {
    unsafe extern "C" fn vfs_find(name: *const c_char) -> *mut ffi::sqlite3_vfs {
        // SAFETY: the caller passes NULL or a NUL-terminated name. The two
        // sqlite3_vfs declarations describe the same C struct.
        unsafe { sqlite::sqlite3_vfs_find(name).cast() }
    }
    unsafe extern "C" fn vfs_register(vfs: *mut ffi::sqlite3_vfs, make_default: c_int) -> c_int {
        // SAFETY: as above; the caller passes a VFS that outlives the process.
        unsafe { sqlite::sqlite3_vfs_register(vfs.cast(), make_default) }
    }
    SqliteApi {
        vfs_find,
        vfs_register,
        malloc64: sqlite::sqlite3_malloc64,
        free: sqlite::sqlite3_free,
    }
}
