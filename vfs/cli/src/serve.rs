//! `vfscope serve [--listen ADDR] [--dir DIR] [--otlp]`: Prometheus metrics
//! of every live process recording into the segment directory, and with
//! `--otlp` the same data pushed to an OpenTelemetry collector.

use anyhow::{Context, Result};
use std::path::PathBuf;
use std::sync::Arc;
use vfscope_exporter::otlp::{OtlpConfig, OtlpExporter};

/// Options of `vfscope serve`.
pub struct Options {
    pub listen: String,
    pub dir: Option<PathBuf>,
    pub otlp: bool,
    /// Delete segments of processes gone this long; `None`: keep them.
    pub retain: Option<std::time::Duration>,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            listen: "127.0.0.1:9464".to_string(),
            dir: None,
            otlp: false,
            retain: Some(std::time::Duration::from_secs(600)),
        }
    }
}

pub fn run(options: Options) -> Result<()> {
    let dir = match options.dir {
        Some(dir) => dir,
        None => vfscope_segment::default_dir()?,
    };
    let mut collector = vfscope_exporter::SegmentCollector::new(&dir);
    if let Some(retain) = options.retain {
        collector = collector.retain_gone(retain);
    }
    let collector = Arc::new(collector);
    let exporter = if options.otlp {
        let config = OtlpConfig::from_env()
            .context("bad OpenTelemetry setting")?
            .context("--otlp given but OTEL_SDK_DISABLED=true")?;
        let targets: Vec<String> = [&config.metrics, &config.traces]
            .into_iter()
            .flatten()
            .map(|e| e.url.clone())
            .collect();
        let exporter = OtlpExporter::start(config, collector.clone())?;
        let stats = exporter.stats();
        collector.show_otlp(move || stats.counts());
        eprintln!("vfscope serve: OTLP to {}", targets.join(", "));
        Some(exporter)
    } else {
        None
    };
    let listener = std::net::TcpListener::bind(&options.listen)
        .with_context(|| format!("cannot listen on {}", options.listen))?;
    let address = listener.local_addr()?;
    // One line, so scripts (and the tests) learn the port when it was 0.
    eprintln!(
        "vfscope serve: http://{address}/metrics, segments in {}",
        dir.display()
    );
    if let Some(exporter) = exporter {
        flush_on_signal(exporter)?;
    }
    vfscope_exporter::serve(listener, collector)?;
    Ok(())
}

/// On SIGTERM or SIGINT, exports one last time, then exits.
fn flush_on_signal(exporter: OtlpExporter) -> Result<()> {
    use signal_hook::consts::{SIGINT, SIGTERM};
    let mut signals = signal_hook::iterator::Signals::new([SIGTERM, SIGINT])?;
    std::thread::spawn(move || {
        if signals.forever().next().is_some() {
            exporter.shutdown();
            std::process::exit(0);
        }
    });
    Ok(())
}
