//! Infrastructure presets. Each is an ordinary model file with its
//! numbers' source (`vfs/model/presets/NAME.toml`); `vfscope presets`
//! prints them. The numbers are typical published figures, not
//! measurements of any one account: replace them with your own when you
//! have them.

use crate::model::Model;
use crate::params::split_spec;
use crate::spec::{parse, parse_with, ModelError};

/// A named model.
pub struct Preset {
    pub name: &'static str,
    /// A whole distributed-SQLite design (which calls pay what, and why),
    /// rather than one piece of infrastructure.
    pub scenario: bool,
    pub text: &'static str,
}

pub const PRESETS: &[Preset] = &[
    Preset {
        scenario: false,
        name: "local-nvme",
        text: include_str!("../presets/local-nvme.toml"),
    },
    Preset {
        scenario: false,
        name: "ebs-gp3",
        text: include_str!("../presets/ebs-gp3.toml"),
    },
    Preset {
        scenario: false,
        name: "ebs-io2",
        text: include_str!("../presets/ebs-io2.toml"),
    },
    Preset {
        scenario: false,
        name: "same-az",
        text: include_str!("../presets/same-az.toml"),
    },
    Preset {
        scenario: false,
        name: "cross-az",
        text: include_str!("../presets/cross-az.toml"),
    },
    Preset {
        scenario: false,
        name: "cross-region",
        text: include_str!("../presets/cross-region.toml"),
    },
    Preset {
        scenario: false,
        name: "s3-standard",
        text: include_str!("../presets/s3-standard.toml"),
    },
    Preset {
        scenario: false,
        name: "s3-express",
        text: include_str!("../presets/s3-express.toml"),
    },
    Preset {
        scenario: false,
        name: "quorum-commit",
        text: include_str!("../presets/quorum-commit.toml"),
    },
    Preset {
        scenario: true,
        name: "litefs",
        text: include_str!("../presets/litefs.toml"),
    },
    Preset {
        scenario: true,
        name: "litefs-halt",
        text: include_str!("../presets/litefs-halt.toml"),
    },
    Preset {
        scenario: true,
        name: "libsql-replica",
        text: include_str!("../presets/libsql-replica.toml"),
    },
    Preset {
        scenario: true,
        name: "s3vfs",
        text: include_str!("../presets/s3vfs.toml"),
    },
    Preset {
        scenario: true,
        name: "litestream",
        text: include_str!("../presets/litestream.toml"),
    },
    Preset {
        scenario: true,
        name: "litestream-vfs",
        text: include_str!("../presets/litestream-vfs.toml"),
    },
    Preset {
        scenario: true,
        name: "raft-wal",
        text: include_str!("../presets/raft-wal.toml"),
    },
];

/// Presets that were replaced, and by what.
const REPLACED: &[(&str, &str)] = &[(
    "quorum-wal",
    "quorum-wal was replaced by raft-wal: it charged WAL syncs, which a Raft-replicated SQLite (dqlite) does not make, and waited for 2 of 3 remote replicas where a Raft leader counts its own vote",
)];

/// Whether a model spec is the model's TOML text itself rather than a
/// name (a newline, or a `=` before any `:`; `s3vfs:rtt=10ms` is a name
/// with parameters).
pub fn is_model_text(spec: &str) -> bool {
    let colon = spec.find(':').unwrap_or(spec.len());
    spec.contains('\n') || spec[..colon].contains('=')
}

/// A preset by name or a model file by path, either with parameters
/// (`s3vfs:rtt=10ms,get=5ms`), or a model's TOML text itself (anything
/// with a newline, or a `=` before any `:`). (`off` is the callers'.)
pub fn load(spec: &str) -> Result<Model, ModelError> {
    let spec = spec.trim();
    if is_model_text(spec) {
        return parse("(model text)", spec);
    }
    let (name, settings) = split_spec(spec)?;
    let named = |mut m: Model| {
        m.name = spec.to_string();
        m
    };
    if let Some(preset) = PRESETS.iter().find(|p| p.name == name) {
        return parse_with(preset.name, preset.text, &settings).map(named);
    }
    if let Some((_, why)) = REPLACED.iter().find(|(old, _)| *old == name) {
        return Err(ModelError {
            file: name.to_string(),
            line: 0,
            field: "(preset)".to_string(),
            message: why.to_string(),
        });
    }
    let looks_like_a_path = name.contains('/') || name.ends_with(".toml");
    match std::fs::read_to_string(name) {
        Ok(text) => parse_with(name, &text, &settings).map(named),
        Err(e) => Err(ModelError {
            file: name.to_string(),
            line: 0,
            field: "(file)".to_string(),
            message: if looks_like_a_path {
                format!("cannot read the model file: {e}")
            } else {
                let names: Vec<&str> = PRESETS.iter().map(|p| p.name).collect();
                format!(
                    "neither a preset ({}) nor a readable model file: {e}",
                    names.join(", ")
                )
            },
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_preset_parses_and_cites_its_source() {
        for p in PRESETS {
            let m = load(p.name).unwrap_or_else(|e| panic!("{e}"));
            assert!(
                !m.source.is_empty() && !m.description.is_empty(),
                "{}",
                p.name
            );
            assert!(
                !p.scenario || !m.checked.is_empty(),
                "scenario {} does not say what it was checked against",
                p.name
            );
        }
        let e = load("no-such-preset").unwrap_err();
        assert!(e.message.contains("cross-az"), "{e}");
    }
}
