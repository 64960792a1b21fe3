//! The command line, declared with clap: every subcommand answers
//! `--help` (and `vfscope help SUB`) with its usage, options and an
//! example; `vfscope completions SHELL` prints a completion script.

use clap::{Args, Parser, Subcommand, ValueEnum};
use std::ffi::OsString;
use std::path::PathBuf;

const ENVIRONMENT: &str = "\
Environment:
  VFSCOPE_DIR          segment directory (default $XDG_RUNTIME_DIR/vfscope, else
                       /tmp/vfscope-$UID; `run` records in a run directory in it)
  VFSCOPE_SLOW         slow-call threshold, e.g. 10ms (default 10ms)
  VFSCOPE_BLOCK_SIZE   backend block size for alignment counters (default 4096)
  VFSCOPE_LIB          libvfscope.so for `run` (default: next to vfscope, else
                       ../lib/libvfscope.so from it, where pip installs it)
  VFSCOPE_LATENCY      latency/fault model: off, a preset, or a model file
  VFSCOPE_TRACE        record every call into this trace file (other processes
                       of the run write TRACE.PID)
  VFSCOPE_TRACE_BUFFER calls the trace queue holds (default 65536)

MODEL, wherever one is taken, is a preset name or a model file, with
parameters as NAME:key=value,key=value (e.g. s3vfs:rtt=10ms,get=5ms).";

#[derive(Parser, Debug)]
#[command(
    name = "vfscope",
    version,
    about = "vfscope: observability and tracing VFS for SQLite",
    after_help = ENVIRONMENT,
    disable_help_subcommand = false
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Option<Command>,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Run a command with libvfscope.so preloaded and report on it
    #[command(
        long_about = "Runs CMD with libvfscope.so preloaded. When it and every process it \
started have exited (those still running --wait seconds after CMD are named and left \
running), reports on all of them to stderr. The exit status is CMD's.",
        after_help = "Examples:\n  vfscope run -- python app.py\n  vfscope run --latency cross-az --record run.trace -- ./app"
    )]
    Run(RunArgs),
    /// Report on a running process, a kept segment, or a directory of them
    #[command(
        after_help = "Examples:\n  vfscope report 4242\n  vfscope report --json report.json\n  vfscope report run.trace"
    )]
    Report(ReportArgs),
    /// Serve Prometheus metrics of every live process (default 127.0.0.1:9464)
    #[command(
        long_about = "Serves Prometheus metrics of every live process on http://ADDR/metrics \
(default 127.0.0.1:9464). --otlp also pushes metrics and transaction spans over \
OTLP/HTTP, set up by the standard OTEL_* variables (OTEL_EXPORTER_OTLP_ENDPOINT, \
OTEL_SERVICE_NAME, ...). Segments of processes gone for --retain are deleted.",
        after_help = "Examples:\n  vfscope serve\n  vfscope serve --listen 127.0.0.1:9999 --otlp"
    )]
    Serve(ServeArgs),
    /// Delete the segments of processes that are gone (exited or killed)
    #[command(after_help = "Example:\n  vfscope clean --dir /tmp/vfscope-1000")]
    Clean(DirArg),
    /// Predict a recorded run's wall time under a latency model
    #[command(
        long_about = "Predicts a recorded run's wall time under MODEL in virtual time, with \
the added time by op and file kind, the top contributors and, for a request-level \
scenario (s3vfs), the requests by type and their bill.",
        after_help = "Examples:\n  vfscope replay run.trace --latency cross-az\n  vfscope replay run.trace --latency 's3vfs:rtt=10ms' --json replay.json"
    )]
    Replay(ReplayArgs),
    /// Compare several latency models on one recorded run
    #[command(
        after_help = "Example:\n  vfscope compare run.trace --latency cross-az,litefs,s3vfs:rtt=5ms,raft-wal"
    )]
    Compare(ReplayArgs),
    /// Export a recorded run as a timeline (Chrome / Perfetto trace JSON)
    #[command(
        long_about = "Writes the Chrome trace-event JSON of one or more traces (a run's \
TRACE and the TRACE.PID of its other processes): a track per process and thread, a \
slice per VFS call, transactions and write locks as enclosing slices, lock waits, \
WAL size and injected delay as counters, in the format ui.perfetto.dev and chrome://tracing read.",
        after_help = "Example:\n  vfscope export run.trace --format chrome -o run.json"
    )]
    Export(ExportArgs),
    /// The latency model's presets, their sources and parameters
    #[command(
        after_help = "Examples:\n  vfscope presets\n  vfscope presets s3vfs > my-model.toml"
    )]
    Presets {
        /// Print this preset as a model file, with its parameters
        name: Option<String>,
    },
    /// Switch a running process's latency model (applied at its next call)
    #[command(
        after_help = "Examples:\n  vfscope latency 4242 cross-az\n  vfscope latency 4242 off"
    )]
    Latency(LatencyArgs),
    /// From what was recorded to what to change: findings with their evidence and expected gain
    #[command(
        long_about = "Reads the segments of a run (a PID, a segment file, a directory; default: \
every segment of the segment directory) or a recorded trace, and lists what to change, worst \
first: each finding with its id, the database and processes, the evidence in numbers, the \
change (a PRAGMA, a connection setting, a code pattern) and the expected gain computed from the \
recording. Thresholds and formulas: README, \"vfscope doctor\".",
        after_help = "Examples:\n  vfscope doctor\n  vfscope doctor 4242 --json findings.json\n  vfscope doctor run.trace --latency cross-az"
    )]
    Doctor(DoctorArgs),
    /// Measure your own storage or network and print the --latency argument that models it
    #[command(subcommand)]
    Calibrate(CalibrateCommand),
    /// Run a built-in SQLite workload through vfscope and print the report
    Demo,
    /// Print a shell completion script
    #[command(
        after_help = "Example:\n  vfscope completions bash > /etc/bash_completion.d/vfscope"
    )]
    Completions {
        #[arg(value_enum)]
        shell: Shell,
    },
}

#[derive(ValueEnum, Clone, Copy, Debug)]
pub enum Shell {
    Bash,
    Zsh,
    Fish,
}

#[derive(Args, Debug)]
pub struct RunArgs {
    /// Also write the report as JSON to FILE
    #[arg(long, value_name = "FILE")]
    pub json: Option<PathBuf>,
    /// Segment directory (default: a run directory of its own inside the
    /// segment directory, where vfstop, report, serve and latency see it)
    #[arg(long, value_name = "DIR")]
    pub dir: Option<PathBuf>,
    /// The libvfscope.so to preload
    #[arg(long, value_name = "PATH")]
    pub lib: Option<PathBuf>,
    /// Latency/fault model for the command: a preset, a file, NAME:key=value,...
    #[arg(long, value_name = "MODEL")]
    pub latency: Option<String>,
    /// Record every call into TRACE (other processes write TRACE.PID)
    #[arg(long, value_name = "TRACE")]
    pub record: Option<PathBuf>,
    /// Seconds to wait for processes CMD started after it exits (default 10)
    #[arg(long, value_name = "SECONDS", value_parser = seconds)]
    pub wait: Option<std::time::Duration>,
    /// Keep the run's segments after the report (readers go on showing
    /// its processes, as exited, until `vfscope clean`)
    #[arg(long)]
    pub keep: bool,
    /// No report on stderr (with --json, only the file)
    #[arg(long)]
    pub quiet: bool,
    /// The command and its arguments
    #[arg(
        required = true,
        trailing_var_arg = true,
        allow_hyphen_values = true,
        value_name = "CMD"
    )]
    pub command: Vec<OsString>,
}

fn seconds(text: &str) -> Result<std::time::Duration, String> {
    seconds_for("--wait", "10 or 0.5", text)
}

/// A number of seconds for `flag` (`example` in the message when not).
fn seconds_for(flag: &str, example: &str, text: &str) -> Result<std::time::Duration, String> {
    text.parse::<f64>()
        .ok()
        .filter(|s| s.is_finite() && *s >= 0.0)
        .map(std::time::Duration::from_secs_f64)
        .ok_or_else(|| format!("{flag} needs seconds (e.g. {example}), not {text:?}"))
}

#[derive(Args, Debug)]
pub struct ReportArgs {
    /// Also write the report as JSON to FILE
    #[arg(long, value_name = "FILE")]
    pub json: Option<PathBuf>,
    /// Segment directory
    #[arg(long, value_name = "DIR")]
    pub dir: Option<PathBuf>,
    /// A process id, a segment file, a directory of segments, or a trace file
    #[arg(value_name = "PID|SEGMENT|DIR|TRACE")]
    pub target: Option<String>,
}

#[derive(Args, Debug)]
pub struct ServeArgs {
    /// Address to listen on
    #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:9464")]
    pub listen: String,
    /// Segment directory
    #[arg(long, value_name = "DIR")]
    pub dir: Option<PathBuf>,
    /// Also push metrics and spans over OTLP/HTTP (OTEL_* variables)
    #[arg(long)]
    pub otlp: bool,
    /// Delete segments of processes gone this long: a duration or `forever`
    #[arg(long, value_name = "DURATION", default_value = "10m", value_parser = retain)]
    pub retain: Retain,
}

#[derive(Clone, Debug)]
pub struct Retain(pub Option<std::time::Duration>);

fn retain(text: &str) -> Result<Retain, String> {
    if text == "forever" {
        return Ok(Retain(None));
    }
    vfscope_model::parse_duration(text)
        .map(|d| Retain(Some(d)))
        .map_err(|why| format!("--retain {text:?}: {why}, or forever"))
}

#[derive(Args, Debug)]
pub struct DirArg {
    /// Segment directory (default: VFSCOPE_DIR, else the default one)
    #[arg(long, value_name = "DIR")]
    pub dir: Option<PathBuf>,
}

#[derive(Args, Debug)]
pub struct ReplayArgs {
    /// A trace written by `vfscope run --record`
    #[arg(value_name = "TRACE")]
    pub trace: PathBuf,
    /// The model (compare: several, separated by commas)
    #[arg(long, value_name = "MODEL", required = true)]
    pub latency: String,
    /// Also write the prediction as JSON to FILE
    #[arg(long, value_name = "FILE")]
    pub json: Option<PathBuf>,
    /// Only this database's calls (its file name or path in the trace):
    /// for a scenario that models one database of a process with others
    #[arg(long, value_name = "NAME")]
    pub database: Option<String>,
}

#[derive(Args, Debug)]
pub struct ExportArgs {
    /// Traces written by `vfscope run --record` (TRACE and TRACE.PID files)
    #[arg(value_name = "TRACE", required = true)]
    pub traces: Vec<PathBuf>,
    /// Output format
    #[arg(long, value_enum, default_value = "chrome")]
    pub format: ExportFormat,
    /// The file to write
    #[arg(short = 'o', long = "output", value_name = "FILE", required = true)]
    pub output: PathBuf,
}

#[derive(ValueEnum, Clone, Copy, Debug)]
pub enum ExportFormat {
    /// Chrome trace-event JSON (ui.perfetto.dev, chrome://tracing)
    Chrome,
}

#[derive(Args, Debug)]
pub struct LatencyArgs {
    /// Segment directory
    #[arg(long, value_name = "DIR")]
    pub dir: Option<PathBuf>,
    /// The process: a pid or a segment file
    #[arg(value_name = "PID|SEGMENT")]
    pub target: String,
    /// off, a preset, a model file, or NAME:key=value,...
    #[arg(value_name = "MODEL")]
    pub model: String,
}

#[derive(Args, Debug)]
pub struct DoctorArgs {
    /// A pid, a segment file, a directory of segments, a trace file, or a
    /// `vfscope run --json` report (its findings)
    #[arg(value_name = "PID|SEGMENT|DIR|TRACE|REPORT.json")]
    pub target: Option<String>,
    /// Segment directory (for a pid, or the default target)
    #[arg(long, value_name = "DIR")]
    pub dir: Option<PathBuf>,
    /// Also write the findings as JSON to FILE
    #[arg(long, value_name = "FILE")]
    pub json: Option<PathBuf>,
    /// With a trace: the remote risk under MODEL (which calls dominate, what the run would take)
    #[arg(long, value_name = "MODEL")]
    pub latency: Option<String>,
}

#[derive(Subcommand, Debug)]
pub enum CalibrateCommand {
    /// Round trips to a TCP endpoint, as the network presets' parameters
    #[command(
        long_about = "Measures round trips to HOST:PORT as TCP connects (SYN out, SYN-ACK \
back: any TCP endpoint answers, nothing of its protocol is spoken) and prints them as the \
parameters of the network presets (same-az, cross-az, cross-region); the last line is the \
--latency argument of the nearest one.",
        after_help = "Examples:\n  vfscope calibrate net db.internal:5432\n  vfscope run --latency \"$(vfscope calibrate net 10.0.3.7:443 | tail -1)\" -- ./app"
    )]
    Net(CalibrateNetArgs),
    /// Every request cost of the s3vfs scenario, measured against an S3-compatible store
    #[command(
        long_about = "Measures, in a scratch prefix it removes afterwards (or a scratch bucket it \
makes and removes, without --bucket), what each request the s3vfs scenario charges costs at an \
S3-compatible endpoint (AWS, MinIO, R2, moto...): the round trip, GET of a stored and of a \
missing key, PUT by body size, LIST as a fixed cost plus a cost per key (fitted over several key \
counts), DeleteObject and DeleteObjects; p50 and p99 of each. Prints a table and, last, the \
--latency argument that carries the measured values. Credentials and region the usual AWS way \
(AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY/AWS_SESSION_TOKEN, AWS_PROFILE, ~/.aws/credentials, \
AWS_REGION, ~/.aws/config).",
        after_help = "Examples:\n  vfscope calibrate s3 --endpoint http://127.0.0.1:9000 --bucket test\n  vfscope calibrate s3 --endpoint https://s3.eu-west-1.amazonaws.com --bucket mine --client-from real.trace\n  vfscope replay local.trace --latency \"$(vfscope calibrate s3 --endpoint URL --bucket B | tail -1)\""
    )]
    S3(CalibrateS3Args),
}

#[derive(Args, Debug)]
pub struct CalibrateS3Args {
    /// The store's endpoint URL (http:// or https://; path-style requests)
    #[arg(long, value_name = "URL")]
    pub endpoint: String,
    /// A bucket to measure in (a scratch prefix in it is removed afterwards);
    /// without it a scratch bucket is made and removed
    #[arg(long, value_name = "NAME")]
    pub bucket: Option<String>,
    /// The region to sign for (default: AWS_REGION, the profile's, us-east-1)
    #[arg(long, value_name = "REGION")]
    pub region: Option<String>,
    /// Timed rounds (each sends every kind of request once)
    #[arg(long, default_value_t = 50, value_name = "N")]
    pub rounds: usize,
    /// Bytes per object of the VFS to model (sqlite-s3vfs's block_size)
    #[arg(long, default_value = "4KiB", value_name = "SIZE", value_parser = block_size)]
    pub block: u64,
    /// Key counts to time a LIST at, for the per-key fit (at most 1000)
    #[arg(
        long,
        default_value = "0,25,50,100,200",
        value_name = "N,N,...",
        value_delimiter = ','
    )]
    pub list_keys: Vec<usize>,
    /// The real client's own time per request (its SDK, its VFS code), if known
    #[arg(long, value_name = "DURATION", conflicts_with = "client_from")]
    pub client: Option<String>,
    /// Derive the client's time per request from a recording of the real
    /// system against this store (`vfscope run --record FILE -- ...`)
    #[arg(long, value_name = "RECORDING")]
    pub client_from: Option<PathBuf>,
    /// Also write every measurement as JSON to FILE
    #[arg(long, value_name = "FILE")]
    pub json: Option<PathBuf>,
    /// Write a model file (s3vfs with the measured values as its defaults)
    #[arg(short = 'o', long = "output", value_name = "FILE")]
    pub output: Option<PathBuf>,
}

fn block_size(text: &str) -> Result<u64, String> {
    match vfscope_model::parse_bytes(text) {
        Ok(n) if (512..=64 * 1024 * 1024).contains(&n) => Ok(n),
        Ok(n) => Err(format!("{n} bytes: a block is 512 bytes to 64 MiB")),
        Err(e) => Err(e.to_string()),
    }
}

#[derive(Args, Debug)]
pub struct CalibrateNetArgs {
    /// The endpoint: HOST:PORT of a TCP service in the network to model
    #[arg(value_name = "HOST:PORT")]
    pub endpoint: String,
    /// Round trips to measure
    #[arg(long, default_value_t = 50, value_name = "N")]
    pub count: usize,
    /// Pause between round trips, in seconds
    #[arg(long, default_value = "0.02", value_name = "SECONDS", value_parser = pause)]
    pub interval: std::time::Duration,
    /// Also write every measurement as JSON to FILE
    #[arg(long, value_name = "FILE")]
    pub json: Option<PathBuf>,
    /// Write a model file (the nearest preset with the measured values)
    #[arg(short = 'o', long = "output", value_name = "FILE")]
    pub output: Option<PathBuf>,
}

fn pause(text: &str) -> Result<std::time::Duration, String> {
    seconds_for("--interval", "0.02", text)
}

/// A command-line error as one line with a hint (`--help` and `--version`
/// print as usual); usage errors exit 2, as before clap.
pub fn usage_error(e: clap::Error, program: &str) -> std::process::ExitCode {
    use clap::error::ErrorKind::*;
    if matches!(
        e.kind(),
        DisplayHelp | DisplayVersion | DisplayHelpOnMissingArgumentOrSubcommand
    ) {
        e.exit();
    }
    eprintln!(
        "{}",
        one_line(&e.render().to_string(), program, std::env::args().nth(1))
    );
    std::process::ExitCode::from(2)
}

/// `error: X\n\nUsage: ...` becomes `PROGRAM: X (see PROGRAM SUB --help)`.
fn one_line(rendered: &str, program: &str, first_arg: Option<String>) -> String {
    let first = rendered
        .lines()
        .find(|l| !l.trim().is_empty())
        .unwrap_or("invalid arguments");
    let why = first.trim().strip_prefix("error: ").unwrap_or(first.trim());
    // The problem may continue on indented lines (missing arguments).
    let more: Vec<&str> = rendered
        .lines()
        .skip_while(|l| !l.contains(first))
        .skip(1)
        .take_while(|l| l.starts_with("  "))
        .map(str::trim)
        .collect();
    let why = if more.is_empty() {
        why.to_string()
    } else {
        format!("{why} {}", more.join(", "))
    };
    let sub = first_arg.filter(|a| !a.starts_with('-') && is_subcommand(program, a));
    match sub {
        Some(sub) => format!("{program}: {why} (see {program} {sub} --help)"),
        None => format!("{program}: {why} (see {program} --help)"),
    }
}

fn is_subcommand(program: &str, name: &str) -> bool {
    use clap::CommandFactory;
    program == "vfscope"
        && Cli::command()
            .get_subcommands()
            .any(|c| c.get_name() == name)
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    fn error(args: &[&str]) -> String {
        let e = Cli::try_parse_from(args).unwrap_err();
        one_line(
            &e.render().to_string(),
            "vfscope",
            args.get(1).map(|s| s.to_string()),
        )
    }

    #[test]
    fn usage_errors_are_one_line_with_a_hint() {
        let e = error(&["vfscope", "replay", "run.trace"]);
        assert_eq!(
            e,
            "vfscope: the following required arguments were not provided: --latency <MODEL> (see vfscope replay --help)"
        );
        let e = error(&["vfscope", "run", "--wait", "soon", "--", "true"]);
        assert!(
            e.contains("--wait needs seconds") && !e.contains('\n'),
            "{e}"
        );
        let e = error(&["vfscope", "frob"]);
        assert!(
            e.starts_with("vfscope: unrecognized subcommand 'frob'")
                && e.ends_with("(see vfscope --help)"),
            "{e}"
        );
    }

    #[test]
    fn run_keeps_the_command_and_its_own_flags() {
        let cli = Cli::try_parse_from([
            "vfscope", "run", "--quiet", "sqlite3", "-cmd", ".x", "--json", "f",
        ])
        .unwrap();
        let Some(Command::Run(a)) = cli.command else {
            panic!()
        };
        assert!(a.quiet && a.json.is_none());
        assert_eq!(a.command, ["sqlite3", "-cmd", ".x", "--json", "f"]);
        let cli = Cli::try_parse_from(["vfscope", "run", "--", "python", "-c", "1"]).unwrap();
        let Some(Command::Run(a)) = cli.command else {
            panic!()
        };
        assert_eq!(a.command, ["python", "-c", "1"]);
    }
}
