//! moto_server (an S3-compatible server from PyPI) on a free port of
//! 127.0.0.1, stopped on drop, with boto3 beside it to check its state.

use crate::programs::moto_bin;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub struct Moto {
    child: Child,
    pub endpoint: String,
}

impl Moto {
    /// Starts moto_server with `env` added (e.g. to enforce credentials).
    pub fn start(env: &[(&str, &str)]) -> Moto {
        let port = crate::free_port();
        let child = Command::new(moto_bin().join("moto_server"))
            .args(["-H", "127.0.0.1", "-p", &port.to_string()])
            .envs(env.iter().copied())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start moto_server");
        let moto = Moto {
            child,
            endpoint: format!("http://127.0.0.1:{port}"),
        };
        let deadline = Instant::now() + Duration::from_secs(60);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                Instant::now() < deadline,
                "moto_server did not listen on {port}"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
        moto
    }

    /// Runs a boto3 snippet with `s3` (a client of this server, keys
    /// `key`/`secret`) and `iam` defined; its stdout, trimmed.
    pub fn boto3(&self, key: &str, secret: &str, code: &str) -> String {
        let script = format!(
            "import boto3, json\nkw = dict(endpoint_url={:?}, aws_access_key_id={key:?}, aws_secret_access_key={secret:?}, region_name='us-east-1')\ns3 = boto3.client('s3', **kw)\niam = boto3.client('iam', **kw)\n{code}\n",
            self.endpoint
        );
        let out = Command::new(moto_bin().join("python"))
            .args(["-c", &script])
            .output()
            .expect("run boto3");
        assert!(
            out.status.success(),
            "boto3 snippet failed:\n{code}\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    }
}

impl Drop for Moto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
