//! Why a function could not be hooked: a kind to act on, a message to show.

use std::fmt;

/// What stood in the way of a hook.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HookErrorKind {
    /// Fewer bytes than the jump, or its first instructions run past the
    /// end of the function.
    TooShort,
    /// The bytes in memory are not the object file's.
    Changed,
    /// An instruction that does not decode (or not in step).
    Undecodable,
    /// A branch in the function lands inside the bytes to overwrite.
    BranchInside,
    /// The jump cannot be written in one atomic store.
    Straddles,
    /// No free page within ±2 GiB for the relay and trampoline.
    NoNearMemory,
    /// The overwritten instructions cannot be moved to the trampoline.
    Relocation,
    /// A page protection could not be changed.
    Protection,
}

/// A hook refused, with what to tell the user.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HookError {
    pub kind: HookErrorKind,
    message: String,
}

impl HookError {
    pub fn new(kind: HookErrorKind, message: impl Into<String>) -> Self {
        HookError {
            kind,
            message: message.into(),
        }
    }
}

impl fmt::Display for HookError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for HookError {}
