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
    // Files are sent as text: the process may not see the same path.
    let request = if model == "off" || PRESETS.iter().any(|p| p.name == model) {
        model.to_string()
    } else {
        vfscope_model::load(model).map_err(|e| anyhow::anyhow!("latency model: {e}"))?;
        std::fs::read_to_string(model).with_context(|| format!("cannot read {model}"))?
    };
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
