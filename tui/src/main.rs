//! The `vfstop` command.

use anyhow::{Context, Result};
use clap::{CommandFactory, Parser};
use ratatui::backend::TestBackend;
use ratatui::Terminal;
use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use std::time::{Duration, Instant};
use vfstop::source::{SegmentDir, Source, TraceReplay};
use vfstop::state::State;

/// vfstop: top for SQLite's storage layer (processes running under vfscope)
#[derive(Parser, Debug)]
#[command(
    name = "vfstop",
    version,
    after_help = "Examples:\n  vfstop\n  vfstop --pid 4242 --interval 0.5\n  vfstop --replay run.trace --speed 10\n  vfstop --once --json\n\nPress ? inside vfstop for the keys."
)]
struct Options {
    /// Segment directory (default: VFSCOPE_DIR, else $XDG_RUNTIME_DIR/vfscope,
    /// else /tmp/vfscope-$UID)
    #[arg(long, value_name = "DIR")]
    dir: Option<PathBuf>,
    /// Show one process only
    #[arg(long, value_name = "PID")]
    pid: Option<u32>,
    /// Refresh interval in seconds, 0.1 to 3600
    #[arg(long = "interval", value_name = "SECONDS", default_value = "1", value_parser = interval_ms)]
    interval_ms: u64,
    /// The preset the L key switches a process to (`vfscope presets` lists them)
    #[arg(long = "latency-preset", value_name = "NAME", default_value = "cross-az", value_parser = preset)]
    preset: String,
    /// Play a trace recorded with `vfscope run --record` back as if its
    /// process were running now
    #[arg(long, value_name = "TRACE", conflicts_with_all = ["dir", "pid"])]
    replay: Option<PathBuf>,
    /// Replay at X times real time
    #[arg(long, value_name = "X", default_value = "1", value_parser = speed, requires = "replay")]
    speed: f64,
    /// Print one screen (two samples, an interval apart) and exit
    #[arg(long)]
    once: bool,
    /// With --once: print it as JSON instead
    #[arg(long, requires = "once")]
    json: bool,
    /// Print a shell completion script and exit
    #[arg(long, value_name = "SHELL", value_enum)]
    completions: Option<clap_complete::Shell>,
}

fn interval_ms(text: &str) -> Result<u64, String> {
    text.parse::<f64>()
        .ok()
        .filter(|s| (0.1..=3600.0).contains(s))
        .map(|s| (s * 1000.0) as u64)
        .ok_or_else(|| format!("--interval {text:?} is not a number of seconds from 0.1 to 3600"))
}

fn speed(text: &str) -> Result<f64, String> {
    text.parse::<f64>()
        .ok()
        .filter(|s| (0.001..=1e6).contains(s))
        .ok_or_else(|| format!("--speed {text:?} is not a factor from 0.001 to 1000000"))
}

fn preset(text: &str) -> Result<String, String> {
    if vfscope_model::PRESETS.iter().any(|p| p.name == text) {
        return Ok(text.to_string());
    }
    let names: Vec<&str> = vfscope_model::PRESETS.iter().map(|p| p.name).collect();
    Err(format!(
        "--latency-preset {text:?} is not a preset: {}",
        names.join(", ")
    ))
}

/// A command-line error as one line with a hint; usage errors exit 2.
fn usage_error(e: clap::Error) -> ExitCode {
    use clap::error::ErrorKind::*;
    if matches!(e.kind(), DisplayHelp | DisplayVersion) {
        e.exit();
    }
    let rendered = e.render().to_string();
    let why = rendered
        .lines()
        .find(|l| !l.trim().is_empty())
        .unwrap_or("invalid arguments");
    let why = why.trim().strip_prefix("error: ").unwrap_or(why.trim());
    let more: Vec<&str> = rendered
        .lines()
        .skip(1)
        .take_while(|l| l.starts_with("  "))
        .map(str::trim)
        .collect();
    let more = if more.is_empty() {
        String::new()
    } else {
        format!(" {}", more.join(", "))
    };
    eprintln!("vfstop: {why}{more} (see vfstop --help)");
    ExitCode::from(2)
}

fn main() -> ExitCode {
    let options = match Options::try_parse() {
        Ok(options) => options,
        Err(e) => return usage_error(e),
    };
    if let Some(shell) = options.completions {
        clap_complete::generate(
            shell,
            &mut Options::command(),
            "vfstop",
            &mut std::io::stdout(),
        );
        return ExitCode::SUCCESS;
    }
    match run(options) {
        Ok(()) => ExitCode::SUCCESS,
        Err(err)
            if err
                .downcast_ref::<std::io::Error>()
                .is_some_and(|e| e.kind() == std::io::ErrorKind::BrokenPipe) =>
        {
            ExitCode::SUCCESS
        }
        Err(err) => {
            eprintln!("vfstop: {err:#}");
            ExitCode::from(2)
        }
    }
}

fn run(o: Options) -> Result<()> {
    let (mut source, shown): (Box<dyn Source>, String) = match &o.replay {
        Some(trace) => (
            Box::new(
                TraceReplay::open(trace, o.speed)
                    .with_context(|| format!("cannot replay {}", trace.display()))?,
            ),
            format!("replay of {}", trace.display()),
        ),
        None => {
            let dir = match o.dir {
                Some(dir) => dir,
                None => vfscope_segment::default_dir()?,
            };
            (
                Box::new(SegmentDir::new(&dir, o.pid)),
                dir.display().to_string(),
            )
        }
    };
    let source = source.as_mut();
    let mut state = State::new(shown, o.interval_ms);
    state.preset = o.preset;
    if o.once {
        return once(source, &mut state, o.json);
    }
    let stop = Arc::new(AtomicBool::new(false));
    for signal in [signal_hook::consts::SIGTERM, signal_hook::consts::SIGHUP] {
        signal_hook::flag::register(signal, Arc::clone(&stop))?;
    }
    watchdog(Arc::clone(&stop));
    let start = Instant::now();
    let mut terminal = TerminalGuard::enter();
    vfstop::app::run(
        &mut terminal.0,
        source,
        &mut state,
        &mut vfstop::app::TerminalEvents,
        &mut || start.elapsed(),
        &stop,
    )?;
    Ok(())
}

/// After SIGTERM or SIGHUP the loop normally returns within a refresh and
/// the guard restores the terminal. When the terminal itself is gone
/// (SIGHUP from a closed pane), the terminal library can stay stuck reading
/// end-of-file and never hand control back; there is nothing left to
/// restore then, so the process ends here.
fn watchdog(stop: Arc<AtomicBool>) {
    std::thread::spawn(move || {
        while !stop.load(std::sync::atomic::Ordering::Relaxed) {
            std::thread::sleep(Duration::from_millis(250));
        }
        std::thread::sleep(Duration::from_secs(2));
        std::process::exit(0);
    });
}

/// Two samples an interval apart, then the screen as text or JSON.
fn once(source: &mut dyn Source, state: &mut State, json: bool) -> Result<()> {
    state.update(source.poll(), 0);
    std::thread::sleep(Duration::from_millis(state.interval_ms));
    state.update(source.poll(), state.interval_ms);
    let mut out = std::io::stdout().lock();
    if json {
        writeln!(
            out,
            "{}",
            serde_json::to_string_pretty(&vfstop::json::render(state))?
        )?;
        return Ok(());
    }
    let mut terminal = Terminal::new(TestBackend::new(120, 40))?;
    terminal.draw(|frame| vfstop::view::draw(frame, state))?;
    let buffer = terminal.backend().buffer();
    for y in 0..buffer.area.height {
        let line: String = (0..buffer.area.width)
            .map(|x| buffer[(x, y)].symbol())
            .collect();
        writeln!(out, "{}", line.trim_end())?;
    }
    Ok(())
}

/// The terminal in raw mode on the alternate screen; restored on drop,
/// including when a panic unwinds (ratatui's hook restores it first).
struct TerminalGuard(ratatui::DefaultTerminal);

impl TerminalGuard {
    fn enter() -> Self {
        TerminalGuard(ratatui::init())
    }
}

impl Drop for TerminalGuard {
    fn drop(&mut self) {
        ratatui::restore();
    }
}
