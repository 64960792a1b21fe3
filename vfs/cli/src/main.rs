//! The `vfscope` command. Thin: each subcommand lives in its own module and
//! the libraries do the work.

mod demo;
mod format;
mod latency;
mod replay;
mod report;
mod run;
mod segments;
mod serve;
mod show;

use anyhow::{anyhow, bail, Context, Result};
use std::ffi::OsString;
use std::path::PathBuf;
use std::process::ExitCode;

const USAGE: &str = "\
vfscope: observability and tracing VFS for SQLite

usage:
  vfscope run [--json FILE] [--dir DIR] [--lib PATH] [--latency MODEL] [--record TRACE]
              [--wait SECONDS] [--keep] [--quiet] -- CMD [ARGS...]
        run CMD with libvfscope.so preloaded; when it and every process it
        started have exited (those still running --wait seconds after CMD,
        default 10, are named and left running), report on all of them (to
        stderr; --json also writes JSON). The exit status is CMD's.
  vfscope report [--json FILE] [--dir DIR] [PID | SEGMENT | DIR]
        the same report for a running process, a kept segment, or every
        segment of a directory (default: the segment directory)
  vfscope serve [--listen ADDR] [--dir DIR] [--otlp] [--retain DURATION|forever]
        serve Prometheus metrics of every live process on http://ADDR/metrics
        (default 127.0.0.1:9464); --otlp also pushes metrics and transaction
        spans over OTLP/HTTP, set up by the standard OTEL_* variables
        (OTEL_EXPORTER_OTLP_ENDPOINT, OTEL_SERVICE_NAME, ...; see README);
        segments of processes gone for --retain (default 10m) are deleted
  vfscope clean [--dir DIR]
        delete the segments of processes that are gone (exited or killed)
  vfscope replay TRACE --latency MODEL [--json FILE]
        predict a recorded run's wall time under MODEL in virtual time, with
        the added time by op and file kind, the top contributors and, for a
        request-level scenario (s3vfs), the requests by type and their bill
  vfscope compare TRACE --latency MODEL,MODEL,... [--json FILE]
        the same for several models side by side
  vfscope presets [NAME]
        the latency model's presets, their sources and what each was checked
        against; with NAME, its parameters and the preset as a model file.
        MODEL is everywhere NAME or FILE, with parameters as
        NAME:key=value,key=value (e.g. s3vfs:rtt=10ms,get=5ms)
  vfscope latency [--dir DIR] PID|SEGMENT off|PRESET|FILE
        switch a running process's latency model (applied at its next call)
  vfscope demo
        run a built-in SQLite workload through vfscope and print the report
  vfscope --version | --help

environment:
  VFSCOPE_DIR         segment directory (default $XDG_RUNTIME_DIR/vfscope,
                      else /tmp/vfscope-$UID; `run` uses a fresh one)
  VFSCOPE_SLOW        slow-call threshold, e.g. 10ms (default 10ms)
  VFSCOPE_BLOCK_SIZE  backend block size for alignment counters (default 4096)
  VFSCOPE_LIB         libvfscope.so for `run` (default: next to vfscope)
  VFSCOPE_LATENCY     latency/fault model: off, a preset, or a model file
  VFSCOPE_TRACE       record every call into this trace file (other processes
                      of the run write TRACE.PID)
  VFSCOPE_TRACE_BUFFER calls the trace queue holds (default 65536)
";

fn main() -> ExitCode {
    let args: Vec<OsString> = std::env::args_os().skip(1).collect();
    match dispatch(args) {
        Ok(code) => ExitCode::from(code),
        Err(err) => {
            if err.chain().any(is_broken_pipe) {
                return ExitCode::SUCCESS;
            }
            eprintln!("vfscope: {err:#}");
            ExitCode::from(2)
        }
    }
}

fn dispatch(args: Vec<OsString>) -> Result<u8> {
    let Some((command, rest)) = args.split_first() else {
        print!("{USAGE}");
        return Ok(0);
    };
    match command.to_str() {
        Some("run") => run::run(run_options(rest)?),
        Some("report") => show::run(report_options(rest)?).map(|()| 0),
        Some("serve") => serve::run(serve_options(rest)?).map(|()| 0),
        Some("presets") if rest.len() <= 1 => {
            latency::presets(rest.first().and_then(|n| n.to_str())).map(|()| 0)
        }
        Some("latency") => latency_command(rest).map(|()| 0),
        Some(what @ ("replay" | "compare")) => replay_command(what, rest).map(|()| 0),
        Some("demo") if rest.is_empty() => demo::run().map(|()| 0),
        Some("clean") => clean(rest).map(|()| 0),
        Some("--version" | "-V") => {
            println!("vfscope {}", env!("CARGO_PKG_VERSION"));
            Ok(0)
        }
        Some("--help" | "-h" | "help") => {
            print!("{USAGE}");
            Ok(0)
        }
        _ => bail!(
            "unknown command or argument {:?}; see vfscope --help",
            command.to_string_lossy()
        ),
    }
}

/// The value after an option, named in the error when missing.
fn value(option: &str, args: &mut std::slice::Iter<'_, OsString>) -> Result<PathBuf> {
    args.next()
        .map(PathBuf::from)
        .ok_or_else(|| anyhow!("{option} needs a value"))
}

fn run_options(args: &[OsString]) -> Result<run::Options> {
    let mut options = run::Options::default();
    let mut args = args.iter();
    while let Some(arg) = args.next() {
        match arg.to_str() {
            Some("--") => break,
            Some("--json") => options.json = Some(value("--json", &mut args)?),
            Some("--dir") => options.dir = Some(value("--dir", &mut args)?),
            Some("--lib") => options.lib = Some(value("--lib", &mut args)?),
            Some("--keep") => options.keep = true,
            Some("--record") => options.record = Some(value("--record", &mut args)?),
            Some("--latency") => {
                let model = value("--latency", &mut args)?;
                options.latency = Some(latency::checked(&model.to_string_lossy())?);
            }
            Some("--quiet") => options.quiet = true,
            Some("--wait") => {
                let given = value("--wait", &mut args)?;
                let seconds: f64 = given
                    .to_str()
                    .and_then(|s| s.parse().ok())
                    .filter(|s: &f64| s.is_finite() && *s >= 0.0)
                    .ok_or_else(|| {
                        anyhow!("--wait needs seconds (e.g. 10 or 0.5), not {given:?}")
                    })?;
                options.wait = Some(std::time::Duration::from_secs_f64(seconds));
            }
            Some(flag) if flag.starts_with('-') => {
                bail!("unknown option {flag:?} for vfscope run; see vfscope --help")
            }
            _ => {
                options.command.push(arg.clone());
                break;
            }
        }
    }
    options.command.extend(args.cloned());
    Ok(options)
}

fn clean(args: &[OsString]) -> Result<()> {
    let dir = match args {
        [] => vfscope_segment::default_dir()?,
        [flag, dir] if flag == "--dir" => PathBuf::from(dir),
        _ => bail!("usage: vfscope clean [--dir DIR]"),
    };
    let mut removed = 0;
    for path in vfscope_segment::list_segments(&dir)? {
        // Other users' and unreadable files are not ours to delete.
        let Ok(reader) = vfscope_segment::SegmentReader::open(&path) else {
            continue;
        };
        let state = reader.liveness();
        if reader.remove_if_gone()? {
            println!(
                "removed {} (pid {}, {})",
                path.display(),
                reader.pid(),
                state.name()
            );
            removed += 1;
        }
    }
    println!("{removed} segments removed from {}", dir.display());
    Ok(())
}

fn replay_command(what: &str, args: &[OsString]) -> Result<()> {
    let (mut trace, mut latency, mut json) = (None, None, None);
    let mut args = args.iter();
    while let Some(arg) = args.next() {
        match arg.to_str() {
            Some("--latency") => latency = Some(value("--latency", &mut args)?),
            Some("--json") => json = Some(value("--json", &mut args)?),
            Some(flag) if flag.starts_with('-') => {
                bail!("unknown option {flag:?} for vfscope {what}; see vfscope --help")
            }
            _ if trace.is_none() => trace = Some(PathBuf::from(arg)),
            _ => bail!("vfscope {what} takes one trace file"),
        }
    }
    let usage = || {
        anyhow!(
            "usage: vfscope {what} TRACE --latency MODEL{} [--json FILE]",
            if what == "compare" { ",MODEL,..." } else { "" }
        )
    };
    let (trace, latency) = (trace.ok_or_else(usage)?, latency.ok_or_else(usage)?);
    let latency = latency.to_string_lossy().into_owned();
    if what == "replay" {
        replay::run_replay(&trace, &latency, json)
    } else {
        let specs = format::split_models(&latency);
        replay::run_compare(&trace, &specs, json)
    }
}

fn latency_command(args: &[OsString]) -> Result<()> {
    let mut dir = None;
    let mut words = Vec::new();
    let mut args = args.iter();
    while let Some(arg) = args.next() {
        match arg.to_str() {
            Some("--dir") => dir = Some(value("--dir", &mut args)?),
            Some(word) => words.push(word.to_string()),
            None => bail!("arguments must be UTF-8"),
        }
    }
    match words.as_slice() {
        [target, model] => latency::switch(target, model, dir),
        _ => bail!("usage: vfscope latency [--dir DIR] PID|SEGMENT off|PRESET|FILE"),
    }
}

fn report_options(args: &[OsString]) -> Result<show::Options> {
    let mut options = show::Options::default();
    let mut args = args.iter();
    while let Some(arg) = args.next() {
        match arg.to_str() {
            Some("--json") => options.json = Some(value("--json", &mut args)?),
            Some("--dir") => options.dir = Some(value("--dir", &mut args)?),
            Some(flag) if flag.starts_with('-') => {
                bail!("unknown option {flag:?} for vfscope report; see vfscope --help")
            }
            Some(target) if options.target.is_none() => options.target = Some(target.to_string()),
            _ => {
                return Err(anyhow!("unexpected argument {:?}", arg.to_string_lossy()))
                    .context("vfscope report takes at most one PID, SEGMENT or DIR")
            }
        }
    }
    Ok(options)
}

fn serve_options(args: &[OsString]) -> Result<serve::Options> {
    let mut options = serve::Options::default();
    let mut args = args.iter();
    while let Some(arg) = args.next() {
        match arg.to_str() {
            Some("--listen") => {
                options.listen = value("--listen", &mut args)?.to_string_lossy().into_owned()
            }
            Some("--dir") => options.dir = Some(value("--dir", &mut args)?),
            Some("--otlp") => options.otlp = true,
            Some("--retain") => {
                let text = value("--retain", &mut args)?.to_string_lossy().into_owned();
                options.retain = match text.as_str() {
                    "forever" => None,
                    _ => Some(
                        vfscope_model::parse_duration(&text)
                            .map_err(|why| anyhow!("--retain {text:?}: {why}, or forever"))?,
                    ),
                };
            }
            _ => bail!(
                "unknown argument {:?} for vfscope serve; see vfscope --help",
                arg.to_string_lossy()
            ),
        }
    }
    Ok(options)
}

fn is_broken_pipe(err: &(dyn std::error::Error + 'static)) -> bool {
    err.downcast_ref::<std::io::Error>()
        .is_some_and(|e| e.kind() == std::io::ErrorKind::BrokenPipe)
}
