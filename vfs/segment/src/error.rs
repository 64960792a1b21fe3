//! The segment crate's error type: a kind to match on and a message that
//! names the path or value that was wrong.

use std::path::Path;

/// What went wrong.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ErrorKind {
    /// A system call failed.
    Io,
    /// The file does not start with vfscope's magic.
    Foreign,
    /// The file is a vfscope segment of another layout version.
    WrongVersion,
    /// The file is shorter than its layout says.
    Truncated,
    /// The file or directory belongs to another user.
    NotOwned,
    /// A symlink where a real file or directory was expected.
    Symlink,
    /// The directory can be read or written by others.
    Insecure,
    /// A setting (environment variable, option) has a bad value.
    BadValue,
}

/// An error with its kind and a message naming what was wrong.
#[derive(Debug)]
pub struct Error {
    kind: ErrorKind,
    message: String,
    source: Option<std::io::Error>,
}

impl Error {
    pub(crate) fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        Error {
            kind,
            message: message.into(),
            source: None,
        }
    }

    pub(crate) fn io(what: impl std::fmt::Display, path: &Path, err: std::io::Error) -> Self {
        let kind = match err.raw_os_error() {
            Some(libc::ELOOP) => ErrorKind::Symlink,
            _ => ErrorKind::Io,
        };
        Error {
            kind,
            message: format!("{what} {}", path.display()),
            source: Some(err),
        }
    }

    /// A bad setting, e.g. an environment variable: names the setting and
    /// the value.
    pub fn bad_value(setting: &str, value: &str, why: &str) -> Self {
        Error::new(
            ErrorKind::BadValue,
            format!("{setting}={value:?} is not valid: {why}"),
        )
    }

    /// The kind of error.
    pub fn kind(&self) -> ErrorKind {
        self.kind
    }
}

impl std::fmt::Display for Error {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)?;
        if let Some(source) = &self.source {
            write!(f, ": {source}")?;
        }
        Ok(())
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.source.as_ref().map(|e| e as _)
    }
}

/// Shorthand for results of this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;
