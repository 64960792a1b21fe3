//! `vfscope serve` as a child process of a test.

use crate::built;
use std::io::{BufRead, BufReader};
use std::process::{Child, ChildStderr, Command, Stdio};

/// A child process killed (and reaped) when the test ends, pass or fail.
pub struct Killed(pub Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A running `vfscope serve` on a free port.
pub struct Serve {
    pub child: Killed,
    pub port: u16,
    /// Its stderr after the banner line.
    pub stderr: BufReader<ChildStderr>,
    /// Lines it printed before the banner.
    pub said: Vec<String>,
}

/// Starts `vfscope serve --listen 127.0.0.1:0 --dir DIR ARGS...` with `env`
/// added and waits for its banner.
pub fn start_serve(dir: &std::path::Path, args: &[&str], env: &[(&str, String)]) -> Serve {
    let mut command = Command::new(built("vfscope"));
    command
        .args(["serve", "--listen", "127.0.0.1:0", "--dir"])
        .arg(dir)
        .args(args)
        .stderr(Stdio::piped());
    for (k, v) in env {
        command.env(k, v);
    }
    let mut child = Killed(command.spawn().expect("start vfscope serve"));
    let mut stderr = BufReader::new(child.0.stderr.take().expect("piped stderr"));
    let mut said = Vec::new();
    loop {
        let mut line = String::new();
        if stderr.read_line(&mut line).unwrap_or(0) == 0 {
            panic!("vfscope serve ended before its banner: {said:?}");
        }
        if let Some(port) = line
            .strip_prefix("vfscope serve: http://127.0.0.1:")
            .and_then(|rest| rest.split('/').next())
            .and_then(|p| p.parse().ok())
        {
            return Serve {
                child,
                port,
                stderr,
                said,
            };
        }
        said.push(line.trim_end().to_string());
    }
}
