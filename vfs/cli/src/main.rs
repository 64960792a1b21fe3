//! The `vfscope` command. Thin: each subcommand lives in its own module and
//! the libraries do the work.

mod args;
mod calibrate;
mod demo;
mod doctor;
mod export;
mod format;
mod latency;
mod replay;
mod report;
mod run;
mod segments;
mod serve;
mod show;

use anyhow::Result;
use args::{Cli, Command};
use clap::{CommandFactory, Parser};
use std::path::PathBuf;
use std::process::ExitCode;

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => return args::usage_error(e, "vfscope"),
    };
    match dispatch(cli) {
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

fn dispatch(cli: Cli) -> Result<u8> {
    let Some(command) = cli.command else {
        Cli::command().print_help()?;
        return Ok(0);
    };
    match command {
        Command::Run(a) => run::run(run::Options {
            lib: a.lib,
            dir: a.dir,
            json: a.json,
            keep: a.keep,
            quiet: a.quiet,
            latency: a.latency.as_deref().map(latency::checked).transpose()?,
            record: a.record,
            wait: a.wait,
            command: a.command,
        }),
        Command::Report(a) => show::run(show::Options {
            dir: a.dir,
            json: a.json,
            target: a.target,
        })
        .map(|()| 0),
        Command::Serve(a) => serve::run(serve::Options {
            listen: a.listen,
            dir: a.dir,
            otlp: a.otlp,
            retain: a.retain.0,
        })
        .map(|()| 0),
        Command::Clean(a) => clean(a.dir).map(|()| 0),
        Command::Replay(a) => {
            replay::run_replay(&a.trace, a.database.as_deref(), &a.latency, a.json).map(|()| 0)
        }
        Command::Compare(a) => {
            let specs = format::split_models(&a.latency);
            replay::run_compare(&a.trace, a.database.as_deref(), &specs, a.json).map(|()| 0)
        }
        Command::Export(a) => {
            let args::ExportFormat::Chrome = a.format;
            let n = export::export_chrome(&a.traces, &a.output)?;
            eprintln!(
                "vfscope: wrote {} ({} calls, {} transactions, {} lock waits)",
                a.output.display(),
                n.calls,
                n.transactions,
                n.lock_waits
            );
            Ok(0)
        }
        Command::Presets { name } => latency::presets(name.as_deref()).map(|()| 0),
        Command::Latency(a) => latency::switch(&a.target, &a.model, a.dir).map(|()| 0),
        Command::Calibrate(args::CalibrateCommand::Net(a)) => {
            calibrate::net(calibrate::NetOptions {
                endpoint: a.endpoint,
                count: a.count,
                interval: a.interval,
                json: a.json,
                output: a.output,
            })
            .map(|()| 0)
        }
        Command::Calibrate(args::CalibrateCommand::S3(a)) => calibrate::s3(calibrate::S3Options {
            endpoint: a.endpoint,
            bucket: a.bucket,
            region: a.region,
            rounds: a.rounds,
            block: a.block,
            list_keys: a.list_keys,
            client: a.client,
            client_from: a.client_from,
            json: a.json,
            output: a.output,
        })
        .map(|()| 0),
        Command::Doctor(a) => doctor::run(doctor::Options {
            target: a.target,
            dir: a.dir,
            json: a.json,
            latency: a.latency,
        })
        .map(|()| 0),
        Command::Demo => demo::run().map(|()| 0),
        Command::Completions { shell } => {
            let shell = match shell {
                args::Shell::Bash => clap_complete::Shell::Bash,
                args::Shell::Zsh => clap_complete::Shell::Zsh,
                args::Shell::Fish => clap_complete::Shell::Fish,
            };
            clap_complete::generate(
                shell,
                &mut Cli::command(),
                "vfscope",
                &mut std::io::stdout(),
            );
            Ok(0)
        }
    }
}

fn clean(dir: Option<PathBuf>) -> Result<()> {
    let dir = match dir {
        Some(dir) => dir,
        None => vfscope_segment::default_dir()?,
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
    // Run directories `vfscope run --keep` (or a run that was killed) left
    // behind, once nothing is left in them.
    for run in vfscope_segment::run_dirs(&dir) {
        if std::fs::remove_dir(&run).is_ok() {
            println!("removed {}", run.display());
        }
    }
    println!("{removed} segments removed from {}", dir.display());
    Ok(())
}

fn is_broken_pipe(err: &(dyn std::error::Error + 'static)) -> bool {
    err.downcast_ref::<std::io::Error>()
        .is_some_and(|e| e.kind() == std::io::ErrorKind::BrokenPipe)
}
