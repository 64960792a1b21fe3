//! The `vfstop` command.

use anyhow::{bail, Context, Result};
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

const USAGE: &str = "\
vfstop: top for SQLite's storage layer (processes running under vfscope)

usage: vfstop [--dir DIR] [--pid PID] [--interval SECONDS] [--latency-preset NAME]
              [--once [--json]]
       vfstop --replay TRACE [--speed X] [--interval SECONDS]

  --dir DIR          segment directory (default: VFSCOPE_DIR, else
                     $XDG_RUNTIME_DIR/vfscope, else /tmp/vfscope-$UID)
  --pid PID          show one process only
  --interval SECONDS refresh interval, e.g. 1 or 0.5 (default 1)
  --latency-preset NAME
                     the preset the L key switches a process to (default
                     cross-az; `vfscope presets` lists them)
  --replay TRACE     play a trace recorded with `vfscope run --record` back as
                     if its process were running now
  --speed X          replay at X times real time (default 1)
  --once             print one screen (two samples, an interval apart) and exit
  --json             with --once: print it as JSON instead

Press ? inside vfstop for the keys.
";

struct Options {
    dir: Option<PathBuf>,
    pid: Option<u32>,
    interval_ms: u64,
    once: bool,
    json: bool,
    preset: String,
    replay: Option<PathBuf>,
    speed: f64,
}

fn parse(args: &[String]) -> Result<Option<Options>> {
    let mut o = Options {
        dir: None,
        pid: None,
        interval_ms: 1000,
        once: false,
        json: false,
        preset: "cross-az".to_string(),
        replay: None,
        speed: 1.0,
    };
    let mut args = args.iter();
    while let Some(arg) = args.next() {
        let mut value = |name: &str| args.next().with_context(|| format!("{name} needs a value"));
        match arg.as_str() {
            "--dir" => o.dir = Some(PathBuf::from(value("--dir")?)),
            "--pid" => {
                let v = value("--pid")?;
                o.pid = Some(
                    v.parse()
                        .with_context(|| format!("--pid {v:?} is not a process id"))?,
                );
            }
            "--interval" => {
                let v = value("--interval")?;
                let seconds: f64 = v
                    .parse()
                    .ok()
                    .filter(|s: &f64| (0.1..=3600.0).contains(s))
                    .with_context(|| {
                        format!("--interval {v:?} is not a number of seconds from 0.1 to 3600")
                    })?;
                o.interval_ms = (seconds * 1000.0) as u64;
            }
            "--latency-preset" => {
                let v = value("--latency-preset")?;
                if !vfscope_model::PRESETS.iter().any(|p| p.name == v) {
                    let names: Vec<&str> = vfscope_model::PRESETS.iter().map(|p| p.name).collect();
                    bail!(
                        "--latency-preset {v:?} is not a preset: {}",
                        names.join(", ")
                    );
                }
                o.preset = v.clone();
            }
            "--replay" => o.replay = Some(PathBuf::from(value("--replay")?)),
            "--speed" => {
                let v = value("--speed")?;
                o.speed = v
                    .parse()
                    .ok()
                    .filter(|s: &f64| (0.001..=1e6).contains(s))
                    .with_context(|| {
                        format!("--speed {v:?} is not a factor from 0.001 to 1000000")
                    })?;
            }
            "--once" => o.once = true,
            "--json" => o.json = true,
            "--help" | "-h" => {
                print!("{USAGE}");
                return Ok(None);
            }
            "--version" | "-V" => {
                println!("vfstop {}", env!("CARGO_PKG_VERSION"));
                return Ok(None);
            }
            other => bail!("unknown argument {other:?}; see vfstop --help"),
        }
    }
    if o.json && !o.once {
        bail!("--json goes with --once");
    }
    Ok(Some(o))
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match parse(&args).and_then(|o| o.map_or(Ok(()), run)) {
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
