//! Why a SQLite copy in the process cannot be traced, as its report line
//! says it (with the way out, `WAY_OUT` in `scan`).

use crate::hook::HookError;
use std::fmt;

#[derive(Debug)]
pub enum Unreachable {
    /// An object vfscope cannot patch (not x86-64, say): the reader's why.
    Architecture(String),
    /// A wanted function defined at two addresses in one object.
    DefinedTwice(&'static str),
    /// No symbol table to find the open functions in.
    Stripped,
    /// Program headers that do not parse.
    DamagedHeaders,
    /// The file at the object's path is not what was loaded.
    NotTheLoadedFile,
    /// Entry points vfscope needs to register its VFS in the copy.
    NoRegistrationApi,
    /// An open function that cannot be hooked.
    Hook {
        symbol: &'static str,
        error: HookError,
    },
    /// Every hook prepared, none written (code pages that cannot be made
    /// writable, e.g. under a seccomp or SELinux policy).
    NotWritten(HookError),
}

impl fmt::Display for Unreachable {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Unreachable::Architecture(why) => f.write_str(why),
            Unreachable::DefinedTwice(name) => {
                write!(f, "{name} is defined twice (two SQLite copies in one object)")
            }
            Unreachable::Stripped => {
                f.write_str("stripped: no symbol table to find its sqlite3_open functions in")
            }
            Unreachable::DamagedHeaders => f.write_str("damaged program headers"),
            Unreachable::NotTheLoadedFile => {
                f.write_str("the file on disk is not the object that was loaded")
            }
            Unreachable::NoRegistrationApi => f.write_str(
                "its symbol table lacks sqlite3_vfs_find, sqlite3_vfs_register, sqlite3_malloc64 or sqlite3_free",
            ),
            Unreachable::Hook { symbol, error } => write!(f, "cannot hook {symbol}: {error}"),
            Unreachable::NotWritten(error) => write!(f, "{error}"),
        }
    }
}

impl std::error::Error for Unreachable {}
