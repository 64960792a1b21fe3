//! `vfscope run [options] -- CMD ARGS…`: runs CMD with libvfscope.so
//! preloaded, then reports on every process it started.

use crate::segments::{self, Filter};
use anyhow::{bail, Context, Result};
use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus};

/// Options of `vfscope run`.
#[derive(Default)]
pub struct Options {
    pub lib: Option<PathBuf>,
    pub dir: Option<PathBuf>,
    pub json: Option<PathBuf>,
    pub keep: bool,
    pub quiet: bool,
    /// `VFSCOPE_LATENCY` for the command (already checked).
    pub latency: Option<String>,
    /// `VFSCOPE_TRACE` for the command.
    pub record: Option<PathBuf>,
    pub command: Vec<OsString>,
}

/// Runs the command and returns its exit status as vfscope's own.
pub fn run(options: Options) -> Result<u8> {
    let Some((program, args)) = options.command.split_first() else {
        bail!("no command given; usage: vfscope run [options] -- CMD [ARGS...]");
    };
    let lib = find_library(options.lib.as_deref())?;
    let given_dir = options
        .dir
        .clone()
        .or_else(|| std::env::var_os("VFSCOPE_DIR").map(PathBuf::from));
    let scratch = match given_dir {
        Some(_) => None,
        None => Some(tempfile::Builder::new().prefix("vfscope-run-").tempdir()?),
    };
    let dir = given_dir.unwrap_or_else(|| {
        scratch
            .as_ref()
            .expect("made above")
            .path()
            .join("segments")
    });
    let preload = match std::env::var_os("LD_PRELOAD") {
        Some(existing) if !existing.is_empty() => {
            let mut joined = lib.clone().into_os_string();
            joined.push(":");
            joined.push(existing);
            joined
        }
        _ => lib.clone().into_os_string(),
    };
    let started = vfscope_segment::realtime_ns();
    let mut command = Command::new(program);
    command
        .args(args)
        .env("LD_PRELOAD", preload)
        .env("VFSCOPE_DIR", &dir);
    if let Some(model) = &options.latency {
        command.env("VFSCOPE_LATENCY", model);
    }
    if let Some(trace) = &options.record {
        // A new recording replaces an old one of the same name; the run's
        // other processes write TRACE.PID next to it.
        match std::fs::remove_file(trace) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(e).with_context(|| format!("cannot replace {}", trace.display())),
        }
        command.env("VFSCOPE_TRACE", std::path::absolute(trace)?);
    }
    let mut child = command
        .spawn()
        .with_context(|| format!("cannot run {}", program.to_string_lossy()))?;
    // Like `time` and `strace`: Ctrl-C goes to the command; vfscope waits for
    // it and still reports.
    let status = {
        let _ignore = IgnoreInterrupts::new();
        child.wait().context("cannot wait for the command")?
    };
    let report = segments::report(
        &segments::in_dir(&dir)?,
        &Filter {
            since_ns: Some(started),
            ..Filter::default()
        },
    );
    if !options.quiet {
        eprint!(
            "\nvfscope: {}\n{}",
            describe(&status),
            crate::report::text::render(&report)
        );
    }
    if let Some(path) = &options.json {
        std::fs::write(path, crate::report::json::render(&report))
            .with_context(|| format!("cannot write the JSON report to {}", path.display()))?;
    }
    if options.keep {
        if let Some(scratch) = scratch {
            let kept = scratch.keep();
            eprintln!(
                "vfscope: segments kept in {}",
                kept.join("segments").display()
            );
        }
    }
    Ok(exit_code(&status))
}

/// libvfscope.so: `--lib`, else `VFSCOPE_LIB`, else next to this executable.
fn find_library(given: Option<&Path>) -> Result<PathBuf> {
    let mut candidates = Vec::new();
    if let Some(path) = given {
        candidates.push(path.to_path_buf());
    } else if let Some(path) = std::env::var_os("VFSCOPE_LIB") {
        candidates.push(PathBuf::from(path));
    } else if let Ok(exe) = std::env::current_exe() {
        if let Some(dir) = exe.parent() {
            candidates.push(dir.join("libvfscope.so"));
            candidates.push(dir.join("../lib/libvfscope.so"));
        }
    }
    for candidate in &candidates {
        if candidate.is_file() {
            // The dynamic loader wants a path, and a relative one would be
            // resolved against the command's working directory.
            return Ok(std::fs::canonicalize(candidate)?);
        }
    }
    let looked: Vec<String> = candidates.iter().map(|c| c.display().to_string()).collect();
    bail!(
        "cannot find libvfscope.so (looked at {}); build it with `cargo build --release` or pass --lib PATH",
        looked.join(", ")
    )
}

fn describe(status: &ExitStatus) -> String {
    use std::os::unix::process::ExitStatusExt;
    match (status.code(), status.signal()) {
        (Some(code), _) => format!("command exited with status {code}"),
        (None, Some(signal)) => format!("command was killed by signal {signal}"),
        _ => "command ended".to_string(),
    }
}

/// The shell's convention: the exit code, or 128 + the signal.
fn exit_code(status: &ExitStatus) -> u8 {
    use std::os::unix::process::ExitStatusExt;
    match (status.code(), status.signal()) {
        (Some(code), _) => code as u8,
        (None, Some(signal)) => 128u8.wrapping_add(signal as u8),
        _ => 1,
    }
}

/// Ignores SIGINT and SIGQUIT while alive; restores them on drop.
struct IgnoreInterrupts {
    previous: [libc::sighandler_t; 2],
}

impl IgnoreInterrupts {
    fn new() -> Self {
        // SAFETY: setting signal dispositions to SIG_IGN has no memory-safety
        // preconditions; the previous ones are restored in Drop.
        let previous = unsafe {
            [
                libc::signal(libc::SIGINT, libc::SIG_IGN),
                libc::signal(libc::SIGQUIT, libc::SIG_IGN),
            ]
        };
        IgnoreInterrupts { previous }
    }
}

impl Drop for IgnoreInterrupts {
    fn drop(&mut self) {
        // SAFETY: restores dispositions `new` read from the kernel.
        unsafe {
            libc::signal(libc::SIGINT, self.previous[0]);
            libc::signal(libc::SIGQUIT, self.previous[1]);
        }
    }
}
