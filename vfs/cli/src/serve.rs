//! `vfscope serve [--listen ADDR] [--dir DIR]`: Prometheus metrics of every
//! live process recording into the segment directory.

use anyhow::{Context, Result};
use std::path::PathBuf;
use std::sync::Arc;

/// Options of `vfscope serve`.
pub struct Options {
    pub listen: String,
    pub dir: Option<PathBuf>,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            listen: "127.0.0.1:9464".to_string(),
            dir: None,
        }
    }
}

pub fn run(options: Options) -> Result<()> {
    let dir = match options.dir {
        Some(dir) => dir,
        None => vfscope_segment::default_dir()?,
    };
    let listener = std::net::TcpListener::bind(&options.listen)
        .with_context(|| format!("cannot listen on {}", options.listen))?;
    let address = listener.local_addr()?;
    // One line, so scripts (and the tests) learn the port when it was 0.
    eprintln!(
        "vfscope serve: http://{address}/metrics, segments in {}",
        dir.display()
    );
    vfscope_exporter::serve(
        listener,
        Arc::new(vfscope_exporter::SegmentCollector::new(&dir)),
    )?;
    Ok(())
}
