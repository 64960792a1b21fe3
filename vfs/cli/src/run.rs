//! `vfscope run [options] -- CMD ARGS…`: runs CMD with libvfscope.so
//! preloaded, then reports on every process it started.

use crate::segments::{self, Filter};
use anyhow::{bail, Context, Result};
use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus};
use std::sync::atomic::{AtomicI32, Ordering::Relaxed};
use std::time::{Duration, Instant};

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
    /// How long to wait, after the command exits, for the processes it
    /// started ([`DEFAULT_WAIT`] when not given).
    pub wait: Option<Duration>,
    pub command: Vec<OsString>,
}

/// How long `vfscope run` waits for the command's descendants after the
/// command itself has exited.
pub const DEFAULT_WAIT: Duration = Duration::from_secs(10);

/// Runs the command and returns its exit status as vfscope's own.
pub fn run(options: Options) -> Result<u8> {
    let Some((program, args)) = options.command.split_first() else {
        bail!("no command given; usage: vfscope run [options] -- CMD [ARGS...]");
    };
    let lib = find_library(options.lib.as_deref())?;
    // `--dir D`: the run records in D itself. Otherwise in a run directory
    // of its own inside the segment directory every reader looks in by
    // default, so vfstop, `report`, `serve` and `latency` see the run with
    // no flag, and this run's report reads its own directory alone.
    let (dir, run_dir) = match &options.dir {
        Some(dir) => (dir.clone(), None),
        None => {
            let base = vfscope_segment::default_dir()?;
            vfscope_segment::ensure_dir(&base)?;
            let seconds = vfscope_segment::realtime_ns() / 1_000_000_000;
            let run = vfscope_segment::run_dir(&base, std::process::id(), seconds);
            vfscope_segment::ensure_dir(&run)?;
            (run.clone(), Some(run))
        }
    };
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
    // The processes stay silent about what goes as asked (their stderr is
    // theirs: test suites compare it); this run says it once, here.
    command.env("VFSCOPE_QUIET", "1");
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
        let trace = std::path::absolute(trace)?;
        if !options.quiet {
            eprintln!(
                "vfscope: recording every call into {} (each further process into {}.PID)",
                trace.display(),
                trace.display()
            );
        }
        command.env("VFSCOPE_TRACE", trace);
    }
    if let (Some(model), false) = (&options.latency, options.quiet) {
        eprintln!("vfscope: latency model {model} (each process's seed in the report)");
    }
    // Processes the command leaves behind (a daemon that double-forks, a
    // worker still writing) are reparented to vfscope rather than to init,
    // so it can wait for them too.
    // SAFETY: prctl with PR_SET_CHILD_SUBREAPER takes an int and changes
    // only this process's attributes.
    unsafe { libc::prctl(libc::PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) };
    let mut child = command
        .spawn()
        .with_context(|| format!("cannot run {}", program.to_string_lossy()))?;
    // Like `time` and `strace`: Ctrl-C goes to the command; vfscope waits for
    // it (and what it started) and still reports. A SIGTERM or SIGHUP sent to
    // vfscope alone (`kill`, a service manager) is passed on to the command,
    // as `timeout` does, instead of leaving it running without vfscope.
    let status = {
        let _signals = CommandSignals::new(child.id() as i32);
        let status = child.wait().context("cannot wait for the command")?;
        let wait = options.wait.unwrap_or(DEFAULT_WAIT);
        let left = wait_for_descendants(wait);
        if !left.is_empty() {
            eprintln!(
                "vfscope: {} process{} started by the command still running {:.1} s after it \
                 exited (pid {}); reporting without waiting for them (see --wait)",
                left.len(),
                if left.len() == 1 { "" } else { "es" },
                wait.as_secs_f64(),
                left.iter()
                    .map(|p| p.to_string())
                    .collect::<Vec<_>>()
                    .join(", ")
            );
        }
        status
    };
    let paths = segments::in_dir(&dir)?;
    let filter = Filter {
        since_ns: Some(started),
        ..Filter::default()
    };
    let report = segments::report(&paths, &filter);
    let (findings_text, findings_json) = crate::doctor::of_run(&paths, &filter);
    // The JSON first: a closed stderr (`2>&1 | head -1`) must not lose it.
    if let Some(path) = &options.json {
        let mut json: serde_json::Value =
            serde_json::from_str(&crate::report::json::render(&report))?;
        json["findings"] = findings_json;
        std::fs::write(path, serde_json::to_string_pretty(&json)? + "\n")
            .with_context(|| format!("cannot write the JSON report to {}", path.display()))?;
    }
    if !options.quiet {
        let text = format!(
            "\nvfscope: {}\n{}\n{findings_text}",
            describe(&status),
            crate::report::text::render(&report)
        );
        // A closed stderr is the reader's choice, not an error of the run.
        let _ = std::io::Write::write_all(&mut std::io::stderr(), text.as_bytes());
    }
    if let Some(run) = run_dir {
        if options.keep {
            let _ = std::io::Write::write_all(
                &mut std::io::stderr(),
                format!("vfscope: segments kept in {}\n", run.display()).as_bytes(),
            );
        } else {
            remove_run_dir(&run);
        }
    }
    Ok(exit_code(&status))
}

/// Removes the segments of the run's processes that are gone, then the
/// run directory if that left it empty (a process still running keeps it,
/// and readers keep seeing that process).
fn remove_run_dir(run: &Path) {
    for path in vfscope_segment::list_segments(run).unwrap_or_default() {
        if let Ok(reader) = vfscope_segment::SegmentReader::open(&path) {
            let _ = reader.remove_if_gone();
        }
    }
    let _ = std::fs::remove_dir(run);
}

/// Reaps the command's descendants (reparented to vfscope, a subreaper)
/// until none is left or `limit` has passed; returns the pids still
/// running then.
fn wait_for_descendants(limit: Duration) -> Vec<i32> {
    let deadline = Instant::now() + limit;
    loop {
        let mut status = 0;
        // SAFETY: waitpid with WNOHANG and a valid status pointer.
        let pid = unsafe { libc::waitpid(-1, &mut status, libc::WNOHANG) };
        if pid > 0 {
            continue;
        }
        if pid < 0 {
            // ECHILD: no child left.
            return Vec::new();
        }
        if Instant::now() >= deadline {
            return children();
        }
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// This process's children, from /proc.
fn children() -> Vec<i32> {
    let me = std::process::id();
    let path = format!("/proc/{me}/task/{me}/children");
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .split_whitespace()
        .filter_map(|p| p.parse().ok())
        .collect()
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

/// The command's pid, for [`pass_on`].
static COMMAND: AtomicI32 = AtomicI32::new(0);

/// A signal handler: sends the signal on to the command.
extern "C" fn pass_on(signal: libc::c_int) {
    let pid = COMMAND.load(Relaxed);
    if pid > 0 {
        // SAFETY: kill(2) is async-signal-safe and takes plain integers.
        unsafe { libc::kill(pid, signal) };
    }
}

/// While the command runs: SIGINT and SIGQUIT ignored (the terminal sends
/// them to the command as well), SIGTERM and SIGHUP passed on to it. The
/// previous dispositions come back on drop.
struct CommandSignals {
    previous: [libc::sighandler_t; 4],
}

impl CommandSignals {
    const SIGNALS: [libc::c_int; 4] = [libc::SIGINT, libc::SIGQUIT, libc::SIGTERM, libc::SIGHUP];

    fn new(command: i32) -> Self {
        COMMAND.store(command, Relaxed);
        let handler = pass_on as extern "C" fn(libc::c_int) as libc::sighandler_t;
        let wanted = [libc::SIG_IGN, libc::SIG_IGN, handler, handler];
        // SAFETY: dispositions of plain signals; `pass_on` only loads an
        // atomic and calls kill(2), both async-signal-safe. The previous
        // ones are restored in Drop.
        let previous =
            std::array::from_fn(|i| unsafe { libc::signal(Self::SIGNALS[i], wanted[i]) });
        CommandSignals { previous }
    }
}

impl Drop for CommandSignals {
    fn drop(&mut self) {
        for (signal, previous) in Self::SIGNALS.iter().zip(self.previous) {
            // SAFETY: restores a disposition `new` read from the kernel.
            unsafe { libc::signal(*signal, previous) };
        }
        COMMAND.store(0, Relaxed);
    }
}
