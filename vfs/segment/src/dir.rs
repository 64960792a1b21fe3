//! The segment directory: where it is, creating it safely, listing it.

use crate::error::{Error, ErrorKind, Result};
use std::os::unix::fs::{DirBuilderExt, MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

/// Suffix of segment files.
pub const SEGMENT_SUFFIX: &str = ".seg";

/// The segment directory: `$VFSCOPE_DIR`, else `$XDG_RUNTIME_DIR/vfscope`,
/// else `/tmp/vfscope-$UID`. An empty `VFSCOPE_DIR` is an error.
pub fn default_dir() -> Result<PathBuf> {
    match std::env::var_os("VFSCOPE_DIR") {
        Some(dir) if dir.is_empty() => Err(Error::bad_value(
            "VFSCOPE_DIR",
            "",
            "expected a directory path",
        )),
        Some(dir) => Ok(PathBuf::from(dir)),
        None => Ok(match std::env::var_os("XDG_RUNTIME_DIR") {
            Some(run) if !run.is_empty() => PathBuf::from(run).join("vfscope"),
            _ => PathBuf::from(format!("/tmp/vfscope-{}", euid())),
        }),
    }
}

pub(crate) fn euid() -> u32 {
    // SAFETY: geteuid has no preconditions and cannot fail.
    unsafe { libc::geteuid() }
}

/// Creates `dir` (mode 0700) if needed and checks that it is a real
/// directory, owned by this user, closed to others.
pub fn ensure_dir(dir: &Path) -> Result<()> {
    if std::fs::symlink_metadata(dir).is_err() {
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir)
            .map_err(|e| Error::io("cannot create segment directory", dir, e))?;
    }
    check_dir(dir)
}

/// Checks an existing directory as [`ensure_dir`] does, without creating it.
fn check_dir(dir: &Path) -> Result<()> {
    let meta = std::fs::symlink_metadata(dir)
        .map_err(|e| Error::io("cannot inspect segment directory", dir, e))?;
    if meta.file_type().is_symlink() {
        return Err(Error::new(
            ErrorKind::Symlink,
            format!(
                "segment directory {} is a symlink; refusing to follow it",
                dir.display()
            ),
        ));
    }
    if !meta.is_dir() {
        return Err(Error::new(
            ErrorKind::Io,
            format!("segment directory {} is not a directory", dir.display()),
        ));
    }
    if meta.uid() != euid() {
        return Err(Error::new(
            ErrorKind::NotOwned,
            format!(
                "segment directory {} belongs to uid {}, not to this user (uid {})",
                dir.display(),
                meta.uid(),
                euid()
            ),
        ));
    }
    let mode = meta.permissions().mode() & 0o777;
    if mode & 0o077 != 0 {
        return Err(Error::new(
            ErrorKind::Insecure,
            format!(
                "segment directory {} has mode {mode:03o}; it must not be open to group or others (chmod 700)",
                dir.display()
            ),
        ));
    }
    Ok(())
}

/// Names of run directories: `vfscope run` records the processes it
/// starts in `DIR/run-PID-SECONDS/`, so that readers of DIR (vfstop,
/// `vfscope report`, `serve`, `latency`) see them with no flag while the
/// run's own report reads its directory alone.
pub const RUN_DIR_PREFIX: &str = "run-";

/// The run directory of run `pid` started at `seconds` (Unix time) in `dir`.
pub fn run_dir(dir: &Path, pid: u32, seconds: u64) -> PathBuf {
    dir.join(format!("{RUN_DIR_PREFIX}{pid}-{seconds}"))
}

/// Paths of the segment files in `dir` and in its run directories (those
/// that are this user's and closed to others, as `dir` itself must be),
/// sorted. A missing directory holds no segments.
pub fn list_segments(dir: &Path) -> Result<Vec<PathBuf>> {
    let entries = match std::fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(Error::io("cannot list segment directory", dir, e)),
    };
    let mut paths = Vec::new();
    for entry in entries.filter_map(|entry| entry.ok()) {
        let name = entry.file_name();
        let name = name.to_string_lossy();
        if name.starts_with('.') {
            continue;
        }
        if name.ends_with(SEGMENT_SUFFIX) {
            paths.push(entry.path());
        } else if name.starts_with(RUN_DIR_PREFIX) && check_dir(&entry.path()).is_ok() {
            paths.extend(segments_in(&entry.path()));
        }
    }
    paths.sort();
    Ok(paths)
}

/// The segment files directly in `dir` (unreadable: none).
fn segments_in(dir: &Path) -> Vec<PathBuf> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    entries
        .filter_map(|entry| entry.ok())
        .filter(|entry| {
            let name = entry.file_name();
            let name = name.to_string_lossy();
            !name.starts_with('.') && name.ends_with(SEGMENT_SUFFIX)
        })
        .map(|entry| entry.path())
        .collect()
}

/// The run directories in `dir` (this user's, closed to others).
pub fn run_dirs(dir: &Path) -> Vec<PathBuf> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut dirs: Vec<PathBuf> = entries
        .filter_map(|entry| entry.ok())
        .filter(|entry| {
            entry
                .file_name()
                .to_string_lossy()
                .starts_with(RUN_DIR_PREFIX)
        })
        .map(|entry| entry.path())
        .filter(|path| check_dir(path).is_ok())
        .collect();
    dirs.sort();
    dirs
}
