//! Why a model file cannot be used.

use std::fmt;

/// A model file that cannot be used.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ModelError {
    /// The file (or preset) name.
    pub file: String,
    /// 1-based; 0 when the error concerns the whole file.
    pub line: usize,
    pub field: String,
    pub message: String,
}

impl fmt::Display for ModelError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.line {
            0 => write!(f, "{}: {}: {}", self.file, self.field, self.message),
            line => write!(f, "{}:{line}: {}: {}", self.file, self.field, self.message),
        }
    }
}

impl std::error::Error for ModelError {}
