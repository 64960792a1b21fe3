//! `vfscope calibrate`: the user's own network and storage, measured and
//! printed as the parameters of the models that rehearse them.

mod credentials;
mod http;
mod net;
mod s3;
mod s3_output;
mod samples;
mod sigv4;
mod store;

pub use net::{net, NetOptions};
pub use s3::S3Options;

use anyhow::{Context, Result};
use std::io::Write;

/// Measures, prints the table and, last, the `--latency` argument; writes
/// the JSON and the model file when asked.
pub fn s3(options: S3Options) -> Result<()> {
    let stop = s3::stop_flag()?;
    let measured = s3::measure(&options, &stop)?;
    let params = s3_output::parameters(&measured, &options)?;
    if let Some(path) = &options.json {
        let json = s3_output::json(&measured, &params);
        std::fs::write(path, serde_json::to_string_pretty(&json)? + "\n")
            .with_context(|| format!("cannot write {}", path.display()))?;
    }
    if let Some(path) = &options.output {
        let model = s3_output::model_file(&measured, &params)?;
        std::fs::write(path, model).with_context(|| format!("cannot write {}", path.display()))?;
    }
    std::io::stdout().write_all(s3_output::text(&measured, &params).as_bytes())?;
    Ok(())
}
