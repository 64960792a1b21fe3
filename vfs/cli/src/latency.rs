//! `vfscope presets [NAME]` and `vfscope latency PID|SEGMENT MODEL`: the
//! latency model's presets, and switching a running process's model.

use anyhow::{bail, Context, Result};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Duration;
use vfscope_model::PRESETS;
use vfscope_segment::{Liveness, RequestOutcome, SegmentReader};

/// Lists the presets with their sources, or prints one as a model file.
pub fn presets(name: Option<&str>) -> Result<()> {
    let text = match name {
        Some(name) => {
            let Some(preset) = PRESETS.iter().find(|p| p.name == name) else {
                bail!("no preset named {name:?}; `vfscope presets` lists them");
            };
            let model = vfscope_model::load(preset.name)?;
            let mut text = format!("# vfscope preset {name}: copy and edit it as a model file\n");
            if let Some(first) = model.params.first() {
                text += &format!(
                    "# parameters: set them after the name, e.g. --latency '{name}:{}={}'\n",
                    first.name, first.default
                );
                let width = model.params.iter().map(|p| p.name.len()).max().unwrap_or(0);
                for p in &model.params {
                    text += &format!("#   {:<width$}  {:>6}  {}\n", p.name, p.default, p.about);
                }
            }
            text + preset.text
        }
        None => {
            let mut text = String::new();
            for (scenario, title) in [
                (false, "Infrastructure presets"),
                (true, "Whole-system scenarios (distributed SQLite designs)"),
            ] {
                text += &format!("{title}:\n\n");
                for preset in PRESETS.iter().filter(|p| p.scenario == scenario) {
                    let model = vfscope_model::load(preset.name)?;
                    let params: Vec<&str> = model.params.iter().map(|p| p.name.as_str()).collect();
                    text += &format!(
                        "{}\n  {}\n  source: {}\n{}{}\n",
                        preset.name,
                        model.description,
                        model.source,
                        if model.checked.is_empty() {
                            String::new()
                        } else {
                            format!("  checked: {}\n", model.checked)
                        },
                        if params.is_empty() {
                            String::new()
                        } else {
                            format!("  parameters: {}\n", params.join(", "))
                        }
                    );
                }
            }
            text + "`vfscope presets NAME` prints one as a model file to start from, with its\nparameters; `--latency 'NAME:key=value,key=value'` sets them.\n"
        }
    };
    std::io::stdout().write_all(text.as_bytes())?;
    Ok(())
}

/// What `--latency`/`VFSCOPE_LATENCY` should carry for `model`: checked
/// here, so a bad model stops before the app starts.
pub fn checked(model: &str) -> Result<String> {
    if model == "off" {
        return Ok(model.to_string());
    }
    vfscope_model::load(model).map_err(|e| anyhow::anyhow!("latency model: {e}"))?;
    // A file path must still resolve from the app's working directory
    // (model text, with a newline or `=` before any `:`, stays as it is).
    let (name, _) = vfscope_model::split_spec(model)?;
    let path = Path::new(name);
    if !vfscope_model::is_model_text(model)
        && !PRESETS.iter().any(|p| p.name == name)
        && path.is_relative()
    {
        let absolute = std::env::current_dir()?.join(path).display().to_string();
        return Ok(format!("{absolute}{}", &model[name.len()..]));
    }
    Ok(model.to_string())
}

/// Asks a running process to switch to `model` (`off`, a preset, a file).
pub fn switch(target: &str, model: &str, dir: Option<PathBuf>) -> Result<()> {
    let segment = find_segment(target, dir)?;
    let reader = SegmentReader::open(&segment)?;
    if reader.liveness() != Liveness::Running {
        bail!(
            "process {} is not running ({})",
            reader.pid(),
            reader.liveness().name()
        );
    }
    let request = request_for(model)?;
    let pid = reader.pid();
    match reader.request_model(&request, Duration::from_secs(5))? {
        RequestOutcome::Applied => println!("process {pid}: latency model {model}"),
        RequestOutcome::Rejected => bail!("process {pid} rejected the model (see its stderr)"),
        RequestOutcome::Pending => println!(
            "process {pid} made no SQLite call in 5 s; it switches to {model} at its next call"
        ),
    }
    Ok(())
}

/// What to ask a process for, given a model in any form `--latency` takes:
/// checked here first. `off`, a preset (with parameters or not) and model
/// text go as they are; a model file goes as its text (the process may not
/// see the same path), or, with parameters, as its absolute path with them
/// (there is no text form of a file with parameters applied).
fn request_for(model: &str) -> Result<String> {
    if model == "off" {
        return Ok(model.to_string());
    }
    vfscope_model::load(model).map_err(|e| anyhow::anyhow!("latency model: {e}"))?;
    if vfscope_model::is_model_text(model) {
        return Ok(model.to_string());
    }
    let (name, settings) = vfscope_model::split_spec(model)?;
    if PRESETS.iter().any(|p| p.name == name) {
        return Ok(model.to_string());
    }
    if settings.is_empty() {
        return std::fs::read_to_string(name).with_context(|| format!("cannot read {name}"));
    }
    checked(model)
}

fn find_segment(target: &str, dir: Option<PathBuf>) -> Result<PathBuf> {
    if !target.bytes().all(|b| b.is_ascii_digit()) {
        return Ok(PathBuf::from(target));
    }
    let pid: u32 = target.parse()?;
    let dir = match dir {
        Some(dir) => dir,
        None => vfscope_segment::default_dir()?,
    };
    vfscope_segment::list_segments(&dir)?
        .into_iter()
        .filter_map(|p| SegmentReader::open(&p).ok())
        .filter(|r| r.pid() == pid && r.liveness() == Liveness::Running)
        .map(|r| r.path().to_path_buf())
        .next()
        .with_context(|| format!("no running process {pid} records into {}", dir.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_form_latency_takes_becomes_a_request() {
        assert_eq!(request_for("off").unwrap(), "off");
        assert_eq!(request_for("cross-az").unwrap(), "cross-az");
        assert_eq!(request_for("s3vfs:rtt=5ms").unwrap(), "s3vfs:rtt=5ms");
        let text = PRESETS.iter().find(|p| p.name == "cross-az").unwrap().text;
        assert_eq!(request_for(text).unwrap(), text, "model text goes as it is");
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("model.toml");
        std::fs::write(&file, text).unwrap();
        assert_eq!(
            request_for(file.to_str().unwrap()).unwrap(),
            text,
            "a file goes as its text"
        );
        let err = request_for("no-such-model").unwrap_err().to_string();
        assert!(err.contains("no-such-model"), "{err}");
        assert!(request_for("s3vfs:no_such_key=1").is_err());
    }
}
