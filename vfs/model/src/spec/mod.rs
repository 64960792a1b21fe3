//! Model files: TOML, checked field by field. Every error names the file,
//! the line and the field.

use crate::dist::Dist;
pub use crate::error::ModelError;
use crate::model::*;
use crate::units::{parse_bytes, parse_duration, parse_rate};
use toml::Spanned;
use vfscope_segment::{FileKind, Op};

mod remote;
mod replicate;
mod schema;
use schema::*;

/// Compiles a model file's text; `file` names it in errors.
pub fn parse(file: &str, text: &str) -> Result<Model, ModelError> {
    parse_with(file, text, &[])
}

/// Compiles a model file's text with its parameters set as in `settings`
/// (`[("rtt", "10ms")]`); the others keep their defaults.
pub fn parse_with(file: &str, text: &str, settings: &[(&str, &str)]) -> Result<Model, ModelError> {
    let declared: FileSpec = toml::from_str(text).map_err(|e| syntax_error(file, text, &e))?;
    let params = Compiler { file, text }.params(&declared.param)?;
    let params = crate::params::resolve(file, params, settings)?;
    let text = &crate::params::substitute(file, text, &params)?;
    let spec: FileSpec = toml::from_str(text).map_err(|e| syntax_error(file, text, &e))?;
    let set: Vec<String> = settings.iter().map(|(k, v)| format!("{k}={v}")).collect();
    let mut model = Compiler { file, text }.model(spec).map_err(|mut e| {
        if !set.is_empty() {
            e.message += &format!(" (with {})", set.join(", "));
        }
        e
    })?;
    model.params = params;
    Ok(model)
}

/// A serde/TOML error, located: the field is the key on the error's line,
/// in the table it belongs to.
fn syntax_error(file: &str, text: &str, e: &toml::de::Error) -> ModelError {
    let at = e.span().map_or(0, |s| s.start);
    let line = line_of(text, at);
    let source_line = text.lines().nth(line.saturating_sub(1)).unwrap_or("");
    let key = source_line
        .split_once('=')
        .map(|(k, _)| k.trim().to_string())
        .unwrap_or_default();
    let table = text[..at.min(text.len())]
        .lines()
        .rev()
        .find_map(|l| {
            let l = l.trim();
            l.starts_with('[')
                .then(|| l.trim_matches(|c| c == '[' || c == ']').to_string())
        })
        .unwrap_or_default();
    let field = match (table.is_empty(), key.is_empty()) {
        (true, _) => key,
        (false, true) => table,
        (false, false) => format!("{table}.{key}"),
    };
    ModelError {
        file: file.to_string(),
        line,
        field: if field.is_empty() {
            "(file)".into()
        } else {
            field
        },
        message: e.message().trim().to_string(),
    }
}

fn line_of(text: &str, offset: usize) -> usize {
    text[..offset.min(text.len())].matches('\n').count() + 1
}

struct Compiler<'a> {
    file: &'a str,
    text: &'a str,
}

impl Compiler<'_> {
    fn error<T>(
        &self,
        span: std::ops::Range<usize>,
        field: &str,
        message: impl Into<String>,
    ) -> Result<T, ModelError> {
        Err(ModelError {
            file: self.file.to_string(),
            line: line_of(self.text, span.start),
            field: field.to_string(),
            message: message.into(),
        })
    }

    fn duration_ns(&self, value: &S, field: &str) -> Result<f64, ModelError> {
        match parse_duration(value.get_ref()) {
            Ok(d) => Ok(d.as_nanos() as f64),
            Err(why) => self.error(value.span(), field, format!("{:?}: {why}", value.get_ref())),
        }
    }

    fn rate(&self, value: &S, field: &str) -> Result<f64, ModelError> {
        parse_rate(value.get_ref())
            .or_else(|why| self.error(value.span(), field, format!("{:?}: {why}", value.get_ref())))
    }

    fn block(&self, value: &S, field: &str) -> Result<u64, ModelError> {
        match parse_bytes(value.get_ref()) {
            Ok(b) if b.is_power_of_two() => Ok(b),
            _ => self.error(
                value.span(),
                field,
                format!(
                    "{:?}: expected a power-of-two size such as 4KiB",
                    value.get_ref()
                ),
            ),
        }
    }

    fn ops(&self, names: &[S], field: &str) -> Result<Vec<Op>, ModelError> {
        names
            .iter()
            .map(|n| match Op::from_name(n.get_ref()) {
                Some(op) => Ok(op),
                None => self.error(n.span(), field, format!("unknown op {:?} (ops are named as in the report: read, write, sync, lock, open, ...)", n.get_ref())),
            })
            .collect()
    }

    fn files(&self, names: &[S], field: &str) -> Result<Vec<FileKind>, ModelError> {
        names
            .iter()
            .map(|n| match FileKind::from_name(n.get_ref()) {
                Some(kind) => Ok(kind),
                None => self.error(
                    n.span(),
                    field,
                    format!(
                        "unknown file kind {:?} (main_db, main_journal, wal, temp_db, ...)",
                        n.get_ref()
                    ),
                ),
            })
            .collect()
    }

    fn dist(&self, d: &DistSpec, field: &str) -> Result<Dist, ModelError> {
        let need = |v: &Option<S>, name: &str| -> Result<f64, ModelError> {
            match v {
                Some(v) => self.duration_ns(v, &format!("{field}.{name}")),
                None => self.error(
                    d.dist.span(),
                    field,
                    format!("{:?} needs `{name}`", d.dist.get_ref()),
                ),
            }
        };
        let kind = d.dist.get_ref().as_str();
        let given: Vec<&str> = [
            ("value", d.value.is_some()),
            ("min", d.min.is_some()),
            ("max", d.max.is_some()),
            ("mean", d.mean.is_some()),
            ("stddev", d.stddev.is_some()),
            ("p50", d.p50.is_some()),
            ("p99", d.p99.is_some()),
            ("scale", d.scale.is_some()),
            ("shape", d.shape.is_some()),
        ]
        .into_iter()
        .filter_map(|(name, set)| set.then_some(name))
        .collect();
        let allowed: &[&str] = match kind {
            "fixed" => &["value"],
            "uniform" => &["min", "max"],
            "normal" => &["mean", "stddev"],
            "lognormal" => &["p50", "p99"],
            "pareto" => &["scale", "shape"],
            other => {
                return self.error(
                    d.dist.span(),
                    &format!("{field}.dist"),
                    format!(
                    "unknown distribution {other:?}: fixed, uniform, normal, lognormal or pareto"
                ),
                )
            }
        };
        if let Some(extra) = given.iter().find(|g| !allowed.contains(g)) {
            return self.error(
                d.dist.span(),
                field,
                format!("{kind} takes {}, not `{extra}`", allowed.join(" and ")),
            );
        }
        Ok(match kind {
            "fixed" => Dist::Fixed {
                ns: need(&d.value, "value")?,
            },
            "uniform" => {
                let (min, max) = (need(&d.min, "min")?, need(&d.max, "max")?);
                if max < min {
                    return self.error(d.dist.span(), field, "uniform needs min <= max");
                }
                Dist::Uniform { min, max }
            }
            "normal" => Dist::Normal {
                mean: need(&d.mean, "mean")?,
                stddev: need(&d.stddev, "stddev")?,
            },
            "lognormal" => Dist::lognormal(need(&d.p50, "p50")?, need(&d.p99, "p99")?)
                .or_else(|why| self.error(d.dist.span(), field, format!("lognormal {why}")))?,
            _ => {
                let scale = need(&d.scale, "scale")?;
                let Some(shape) = &d.shape else {
                    return self.error(d.dist.span(), field, "pareto needs `shape`");
                };
                let positive = *shape.get_ref() > 0.0 && scale > 0.0;
                if !positive {
                    return self.error(
                        shape.span(),
                        &format!("{field}.shape"),
                        "pareto needs scale > 0 and shape > 0",
                    );
                }
                Dist::Pareto {
                    scale,
                    shape: *shape.get_ref(),
                }
            }
        })
    }

    fn probability(&self, p: &Spanned<f64>, field: &str) -> Result<f64, ModelError> {
        let v = *p.get_ref();
        if (0.0..=1.0).contains(&v) {
            Ok(v)
        } else {
            self.error(
                p.span(),
                field,
                format!("{v} is not a probability (0 to 1)"),
            )
        }
    }

    fn positive(&self, n: &Spanned<i64>, field: &str) -> Result<u64, ModelError> {
        match u64::try_from(*n.get_ref()) {
            Ok(v) if v > 0 => Ok(v),
            _ => self.error(
                n.span(),
                field,
                format!("{} must be a positive whole number", n.get_ref()),
            ),
        }
    }

    fn model(&self, spec: FileSpec) -> Result<Model, ModelError> {
        let mode = match spec.mode.as_ref().map(|m| (m.get_ref().as_str(), m.span())) {
            None | Some(("sleep", _)) => Mode::Sleep,
            Some(("virtual", _)) => Mode::Virtual,
            Some((other, span)) => {
                return self.error(
                    span,
                    "mode",
                    format!("{other:?}: expected sleep or virtual"),
                )
            }
        };
        let mut rules = Vec::new();
        for r in &spec.rule {
            rules.push(Rule {
                select: Selector {
                    ops: self.ops(&r.ops, "rule.ops")?,
                    files: self.files(&r.files, "rule.files")?,
                },
                delay: r
                    .delay
                    .as_ref()
                    .map(|d| self.dist(d, "rule.delay"))
                    .transpose()?,
                tail: r
                    .tail
                    .as_ref()
                    .map(|t| {
                        Ok((
                            self.probability(&t.probability, "rule.tail.probability")?,
                            self.dist(&t.extra, "rule.tail.extra")?,
                        ))
                    })
                    .transpose()?,
                bandwidth: r
                    .bandwidth
                    .as_ref()
                    .map(|b| self.rate(b, "rule.bandwidth"))
                    .transpose()?,
                partial_block: match &r.partial_block {
                    None => None,
                    Some(p) => Some((
                        self.block(&p.block, "rule.partial_block.block")?,
                        self.dist(&p.extra, "rule.partial_block.extra")?,
                    )),
                },
            });
        }
        let cache = match &spec.cache {
            None => None,
            Some(c) => {
                let files = self.files(&c.files, "cache.files")?;
                Some(Cache {
                    pages: self.positive(&c.pages, "cache.pages")? as usize,
                    files: if files.is_empty() {
                        vec![FileKind::MainDb]
                    } else {
                        files
                    },
                    per_connection: c.per_connection.unwrap_or(false),
                })
            }
        };
        let commit = match &spec.commit {
            None => None,
            Some(c) => {
                let replicas = c
                    .replicas
                    .as_ref()
                    .map(|n| self.positive(n, "commit.replicas"))
                    .transpose()?
                    .unwrap_or(1);
                let quorum = c
                    .quorum
                    .as_ref()
                    .map(|n| self.positive(n, "commit.quorum"))
                    .transpose()?
                    .unwrap_or(replicas);
                if quorum > replicas || replicas > 64 {
                    let span = c
                        .quorum
                        .as_ref()
                        .or(c.replicas.as_ref())
                        .map(|s| s.span())
                        .unwrap_or(0..0);
                    return self.error(span, "commit.quorum", format!("quorum {quorum} of {replicas} replicas: needs quorum <= replicas <= 64"));
                }
                let replication = match c
                    .replication
                    .as_ref()
                    .map(|r| (r.get_ref().as_str(), r.span()))
                {
                    None | Some(("sync", _)) => Replication::Sync,
                    Some(("async", _)) => Replication::Async,
                    Some((other, span)) => {
                        return self.error(
                            span,
                            "commit.replication",
                            format!("{other:?}: expected sync or async"),
                        )
                    }
                };
                let at = match c.at.as_ref().map(|r| (r.get_ref().as_str(), r.span())) {
                    None | Some(("sync", _)) => CommitAt::Sync,
                    Some(("wal-commit", _)) => CommitAt::WalCommit,
                    Some(("transaction", _)) => CommitAt::Transaction,
                    Some((other, span)) => {
                        return self.error(
                            span,
                            "commit.at",
                            format!("{other:?}: expected sync, wal-commit or transaction"),
                        )
                    }
                };
                let round_trips = match &c.round_trips {
                    None => 1,
                    Some(n) => match n.get_ref().trim().parse::<u32>() {
                        Ok(n) if (1..=1000).contains(&n) => n,
                        _ => {
                            return self.error(
                                n.span(),
                                "commit.round_trips",
                                format!(
                                    "{:?}: expected a whole number from 1 to 1000",
                                    n.get_ref()
                                ),
                            )
                        }
                    },
                };
                Some(Commit {
                    at,
                    overhead: c
                        .overhead
                        .as_ref()
                        .map(|d| self.dist(d, "commit.overhead"))
                        .transpose()?,
                    rtt: self.dist(&c.rtt, "commit.rtt")?,
                    round_trips,
                    replicas: replicas as u32,
                    quorum: quorum as u32,
                    replication,
                    bandwidth: c
                        .bandwidth
                        .as_ref()
                        .map(|b| self.rate(b, "commit.bandwidth"))
                        .transpose()?,
                })
            }
        };
        let lease = match &spec.lease {
            None => None,
            Some(l) => Some(Lease {
                rtt: self.dist(&l.rtt, "lease.rtt")?,
                renew_every_ns: l
                    .renew_every
                    .as_ref()
                    .map(|d| self.duration_ns(d, "lease.renew_every").map(|ns| ns as u64))
                    .transpose()?,
            }),
        };
        let metadata = match &spec.metadata {
            None => None,
            Some(m) => {
                let ops = self.ops(&m.ops, "metadata.ops")?;
                Some(Metadata {
                    ops: if ops.is_empty() {
                        vec![Op::Open, Op::Access, Op::FileSize, Op::Delete, Op::Truncate]
                    } else {
                        ops
                    },
                    rtt: self.dist(&m.rtt, "metadata.rtt")?,
                    lazy_load: m
                        .lazy_load
                        .as_ref()
                        .map(|d| self.dist(d, "metadata.lazy_load"))
                        .transpose()?,
                })
            }
        };
        let mut faults = Vec::new();
        for f in &spec.fault {
            let ops = self.ops(&f.ops, "fault.ops")?;
            if let Some(op) = ops.iter().find(|op| !FAULT_OPS.contains(op)) {
                let span = f
                    .ops
                    .iter()
                    .find(|n| n.get_ref() == op.name())
                    .map_or(0..0, |n| n.span());
                return self.error(span, "fault.ops", format!("{op} cannot fail by injection (only open, delete, access, read, write, truncate, sync, file_size, lock)"));
            }
            let Some(&(_, rc)) = ERRORS.iter().find(|(name, _)| name == f.error.get_ref()) else {
                let names: Vec<&str> = ERRORS.iter().map(|(n, _)| *n).collect();
                return self.error(
                    f.error.span(),
                    "fault.error",
                    format!(
                        "unknown error {:?}: {}",
                        f.error.get_ref(),
                        names.join(", ")
                    ),
                );
            };
            if rc == 5 && ops != [Op::Lock] {
                return self.error(
                    f.error.span(),
                    "fault.error",
                    "busy is a lock result: use it with ops = [\"lock\"]",
                );
            }
            let trigger = match (&f.probability, &f.nth) {
                (Some(p), None) => Trigger::Probability(self.probability(p, "fault.probability")?),
                (None, Some(n)) => Trigger::Nth(self.positive(n, "fault.nth")?),
                _ => {
                    return self.error(
                        f.error.span(),
                        "fault",
                        "give exactly one of probability or nth",
                    )
                }
            };
            faults.push(Fault {
                select: Selector {
                    ops: if ops.is_empty() {
                        FAULT_OPS.to_vec()
                    } else {
                        ops
                    },
                    files: self.files(&f.files, "fault.files")?,
                },
                rc,
                trigger,
            });
        }
        let mut partitions = Vec::new();
        for p in &spec.partition {
            partitions.push(Partition {
                start_ns: self.duration_ns(&p.start, "partition.start")? as u64,
                duration_ns: p
                    .duration
                    .as_ref()
                    .map(|d| {
                        self.duration_ns(d, "partition.duration")
                            .map(|ns| ns as u64)
                    })
                    .transpose()?,
            });
        }
        let remote = spec.remote.as_ref().map(|r| self.remote(r)).transpose()?;
        let replicate = match &spec.replicate {
            None => None,
            Some(r) => Some(self.replicate(r, remote.as_ref())?),
        };
        Ok(Model {
            remote,
            replicate,
            params: Vec::new(),
            name: self.file.to_string(),
            description: spec.description.unwrap_or_default(),
            source: spec.source.unwrap_or_default(),
            checked: spec.checked.unwrap_or_default(),
            seed: spec.seed,
            mode,
            rules,
            cache,
            commit,
            lease,
            metadata,
            faults,
            partitions,
        })
    }
}
