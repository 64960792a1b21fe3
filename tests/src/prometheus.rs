//! A real Prometheus server (Debian's `prometheus`) for the tests: started
//! on 127.0.0.1 with a temporary config and data directory, scraping one
//! target every second, killed with the test.

use crate::{free_port, have, http_get, url_encode, Killed};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

pub struct Prometheus {
    _child: Killed,
    pub port: u16,
}

impl Prometheus {
    /// Starts Prometheus scraping `127.0.0.1:TARGET` as job `vfscope`.
    pub fn start(dir: &Path, target: u16) -> Prometheus {
        assert!(
            have("prometheus"),
            "prometheus is missing (tests/run.sh installs it)"
        );
        let port = free_port();
        let config = dir.join("prometheus.yml");
        std::fs::write(
            &config,
            format!(
                "global:\n  scrape_interval: 1s\nscrape_configs:\n  - job_name: vfscope\n    static_configs:\n      - targets: ['127.0.0.1:{target}']\n"
            ),
        )
        .unwrap();
        let child = Killed(
            Command::new("prometheus")
                .arg(format!("--config.file={}", config.display()))
                .arg(format!(
                    "--storage.tsdb.path={}",
                    dir.join("data").display()
                ))
                .arg(format!("--web.listen-address=127.0.0.1:{port}"))
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .unwrap(),
        );
        Prometheus {
            _child: child,
            port,
        }
    }

    /// An instant query: its result vector, or the error Prometheus gave
    /// (a query that does not parse), or `Err` while it is not up yet.
    pub fn query(&self, promql: &str) -> Result<Vec<serde_json::Value>, String> {
        let (status, body) = http_get(
            self.port,
            &format!("/api/v1/query?query={}", url_encode(promql)),
        )
        .map_err(|e| format!("not reachable: {e}"))?;
        let json: serde_json::Value =
            serde_json::from_str(&body).map_err(|_| format!("HTTP {status}: {body}"))?;
        if json["status"] != "success" {
            return Err(format!("{}: {}", json["errorType"], json["error"]));
        }
        Ok(json["data"]["result"]
            .as_array()
            .cloned()
            .unwrap_or_default())
    }

    /// The value of a single-series query, once there is one.
    pub fn value(&self, promql: &str) -> Option<f64> {
        let result = self.query(promql).ok()?;
        result.first()?["value"][1].as_str()?.parse().ok()
    }

    /// Waits (up to a minute) for a single-series query to have a value.
    pub fn wait_for(&self, promql: &str) -> f64 {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if let Some(v) = self.value(promql) {
                return v;
            }
            assert!(Instant::now() < deadline, "Prometheus never had {promql}");
            std::thread::sleep(Duration::from_millis(250));
        }
    }
}
