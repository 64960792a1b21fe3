//! Settings of the shim and where they come from (`VFSCOPE_*` variables).

use std::fmt;
use std::path::PathBuf;
use std::time::Duration;
use vfscope_segment::Error as SegmentError;

/// Queue slots when `VFSCOPE_TRACE_BUFFER` is not set.
pub const DEFAULT_TRACE_BUFFER: usize = 1 << 16;

/// The default slow-call threshold.
pub const DEFAULT_SLOW: Duration = Duration::from_millis(10);
/// The default backend block size used for the write-amplification counters.
pub const DEFAULT_BLOCK_SIZE: u64 = 4096;

/// How the recorder behaves in this process.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Config {
    /// Where the segment goes; `None` means the default directory.
    pub dir: Option<PathBuf>,
    /// Calls at least this slow go into the slow-call ring.
    pub slow_threshold: Duration,
    /// Block size of the modelled backend (power of two, 512 B .. 64 MiB).
    pub block_size: u64,
    /// The latency model to start with: `off`, a preset name, a model
    /// file's path, or TOML text; `None` for none.
    pub latency: Option<String>,
    /// Record every call into this trace file (`VFSCOPE_TRACE`).
    pub trace: Option<PathBuf>,
    /// Slots of the trace queue (`VFSCOPE_TRACE_BUFFER`).
    pub trace_buffer: usize,
    /// Test hook (`VFSCOPE_TEST_PANIC=OP` or `OP:before`): recording this
    /// op panics, after the real call; with `:before`, planning its modelled
    /// latency panics, before the real call (needs a latency model).
    pub test_panic: Option<(vfscope_segment::Op, bool)>,
    /// Whether this process says on stderr what it records and which
    /// latency model it runs: only when stderr is a terminal and
    /// `VFSCOPE_QUIET` is unset (`vfscope run` sets it and says them once
    /// itself). A captured stderr is the host's own output: test suites
    /// compare it (apsw's runs SQLite's tools and expects it empty).
    pub notes: bool,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            dir: None,
            slow_threshold: DEFAULT_SLOW,
            block_size: DEFAULT_BLOCK_SIZE,
            latency: None,
            trace: None,
            trace_buffer: DEFAULT_TRACE_BUFFER,
            test_panic: None,
            notes: false,
        }
    }
}

impl Config {
    /// Reads `VFSCOPE_DIR`, `VFSCOPE_SLOW` and `VFSCOPE_BLOCK_SIZE`. The
    /// error names the variable and its value.
    pub fn from_env() -> Result<Config, SegmentError> {
        let mut config = Config::default();
        if std::env::var_os("VFSCOPE_DIR").is_some() {
            config.dir = Some(vfscope_segment::default_dir()?);
        }
        if let Some(value) = env_string("VFSCOPE_SLOW")? {
            config.slow_threshold = parse_duration(&value)
                .map_err(|why| SegmentError::bad_value("VFSCOPE_SLOW", &value, why))?;
        }
        if let Some(value) = env_string("VFSCOPE_BLOCK_SIZE")? {
            config.block_size = parse_block_size(&value)
                .map_err(|why| SegmentError::bad_value("VFSCOPE_BLOCK_SIZE", &value, why))?;
        }
        if let Some(value) = env_string("VFSCOPE_TEST_PANIC")? {
            let (name, before) = match value.trim().strip_suffix(":before") {
                Some(name) => (name, true),
                None => (value.trim(), false),
            };
            let op = vfscope_segment::Op::from_name(name).ok_or_else(|| {
                SegmentError::bad_value(
                    "VFSCOPE_TEST_PANIC",
                    &value,
                    "expected an op name such as read, or read:before",
                )
            })?;
            config.test_panic = Some((op, before));
        }
        // Checked when recording starts: a bad model is one line on stderr
        // and no injection, never a reason to stop recording.
        config.latency = env_string("VFSCOPE_LATENCY")?;
        config.trace = env_string("VFSCOPE_TRACE")?
            .filter(|t| !t.is_empty())
            .map(PathBuf::from);
        config.notes = std::env::var_os("VFSCOPE_QUIET").is_none()
            && std::io::IsTerminal::is_terminal(&std::io::stderr());
        if let Some(value) = env_string("VFSCOPE_TRACE_BUFFER")? {
            config.trace_buffer = value
                .trim()
                .parse::<usize>()
                .ok()
                .filter(|n| n.is_power_of_two() && (2..=1 << 24).contains(n))
                .ok_or_else(|| {
                    SegmentError::bad_value(
                        "VFSCOPE_TRACE_BUFFER",
                        &value,
                        "expected a power of two from 2 to 16777216 (calls the trace queue holds)",
                    )
                })?;
        }
        Ok(config)
    }
}

fn env_string(name: &str) -> Result<Option<String>, SegmentError> {
    match std::env::var(name) {
        Ok(v) => Ok(Some(v)),
        Err(std::env::VarError::NotPresent) => Ok(None),
        Err(std::env::VarError::NotUnicode(v)) => Err(SegmentError::bad_value(
            name,
            &v.to_string_lossy(),
            "not valid UTF-8",
        )),
    }
}

pub use vfscope_model::parse_duration;

/// Parses `4096`, `4k`, `64KiB`, `1M`: a power of two from 512 B to 64 MiB.
pub fn parse_block_size(text: &str) -> Result<u64, &'static str> {
    const WHY: &str = "expected a power of two from 512 to 64M bytes (e.g. 4096, 64k, 1M)";
    let text = text.trim();
    let split = text
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let number: u64 = number.parse().map_err(|_| WHY)?;
    let scale = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1,
        "k" | "kb" | "kib" => 1 << 10,
        "m" | "mb" | "mib" => 1 << 20,
        _ => return Err(WHY),
    };
    let bytes = number.checked_mul(scale).ok_or(WHY)?;
    if !bytes.is_power_of_two() || !(512..=64 << 20).contains(&bytes) {
        return Err(WHY);
    }
    Ok(bytes)
}

/// Why registering vfscope failed.
#[derive(Debug)]
pub enum Error {
    /// A setting or the segment directory was not usable.
    Segment(SegmentError),
    /// No VFS of that name is registered.
    NoSuchVfs(String),
    /// Another VFS (not vfscope over the parent asked for) has the name.
    NameTaken(String),
    /// The name cannot be used (empty, too long or holding a NUL byte).
    BadName(String),
    /// `sqlite3_vfs_register` failed.
    Register { name: String, rc: i32 },
    /// The latency model could not be loaded.
    Latency(vfscope_model::ModelError),
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Segment(e) => write!(f, "{e}"),
            Error::NoSuchVfs(name) => write!(f, "no SQLite VFS named {name:?} is registered"),
            Error::NameTaken(name) => {
                write!(
                    f,
                    "a SQLite VFS named {name:?} already exists and is not vfscope over the VFS asked for"
                )
            }
            Error::BadName(name) => write!(
                f,
                "{name:?} cannot be a VFS name: it must be 1 to 31 bytes without NUL"
            ),
            Error::Register { name, rc } => {
                write!(f, "sqlite3_vfs_register({name:?}) failed with code {rc}")
            }
            Error::Latency(e) => write!(f, "latency model: {e}"),
        }
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Error::Segment(e) => Some(e),
            Error::Latency(e) => Some(e),
            _ => None,
        }
    }
}

impl From<SegmentError> for Error {
    fn from(e: SegmentError) -> Self {
        Error::Segment(e)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_need_a_unit() {
        assert_eq!(parse_duration("10ms"), Ok(Duration::from_millis(10)));
        assert_eq!(parse_duration("250us"), Ok(Duration::from_micros(250)));
        assert_eq!(parse_duration("1.5s"), Ok(Duration::from_millis(1500)));
        assert_eq!(parse_duration("800ns"), Ok(Duration::from_nanos(800)));
        assert!(parse_duration("10").is_err());
        assert!(parse_duration("fast").is_err());
        assert!(parse_duration("1e9s").is_err());
    }

    #[test]
    fn block_sizes_are_powers_of_two() {
        assert_eq!(parse_block_size("4096"), Ok(4096));
        assert_eq!(parse_block_size("64k"), Ok(65536));
        assert_eq!(parse_block_size("1MiB"), Ok(1 << 20));
        assert!(parse_block_size("3000").is_err());
        assert!(parse_block_size("128").is_err());
        assert!(parse_block_size("-1").is_err());
    }

    #[test]
    fn bad_values_name_the_variable() {
        let err =
            SegmentError::bad_value("VFSCOPE_SLOW", "soon", parse_duration("soon").unwrap_err());
        assert!(err
            .to_string()
            .starts_with("VFSCOPE_SLOW=\"soon\" is not valid"));
    }
}
