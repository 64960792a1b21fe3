//! The `vfscope` command. Thin: each subcommand lives in its own module and
//! the libraries do the work.

mod demo;
mod format;
mod summary;

use std::process::ExitCode;

const USAGE: &str = "\
vfscope: observability and tracing VFS for SQLite

usage:
  vfscope demo        run a built-in SQLite workload through vfscope and
                      print what the VFS saw
  vfscope --version
  vfscope --help

environment:
  VFSCOPE_DIR         segment directory (default $XDG_RUNTIME_DIR/vfscope,
                      else /tmp/vfscope-$UID)
  VFSCOPE_SLOW        slow-call threshold, e.g. 10ms (default 10ms)
  VFSCOPE_BLOCK_SIZE  backend block size for alignment counters (default 4096)
";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = match args.first().map(String::as_str) {
        Some("demo") if args.len() == 1 => demo::run(),
        Some("--version") | Some("-V") => {
            println!("vfscope {}", env!("CARGO_PKG_VERSION"));
            Ok(())
        }
        Some("--help") | Some("-h") | None => {
            print!("{USAGE}");
            Ok(())
        }
        Some(other) => Err(anyhow::anyhow!(
            "unknown command or argument {other:?}; see vfscope --help"
        )),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            if err.chain().any(is_broken_pipe) {
                return ExitCode::SUCCESS;
            }
            eprintln!("vfscope: {err:#}");
            ExitCode::from(2)
        }
    }
}

fn is_broken_pipe(err: &(dyn std::error::Error + 'static)) -> bool {
    err.downcast_ref::<std::io::Error>()
        .is_some_and(|e| e.kind() == std::io::ErrorKind::BrokenPipe)
}
