//! Compiling `[replicate]` (asynchronous replication beside the app).

use super::schema::{ReplicateSpec, S};
use super::{Compiler, ModelError};
use crate::remote::Remote;
use crate::replicate::{PageBytes, Periodic, Replicate, Requests};
use crate::units::parse_bytes;

impl Compiler<'_> {
    pub(super) fn replicate(
        &self,
        r: &ReplicateSpec,
        remote: Option<&Remote>,
    ) -> Result<Replicate, ModelError> {
        let Some(remote) = remote else {
            return self.error(
                r.upload.span(),
                "replicate",
                "[replicate] prices its requests with [remote]'s request types: declare them there",
            );
        };
        let request = |name: &S, field: &str| -> Result<usize, ModelError> {
            match remote
                .requests
                .iter()
                .position(|t| &t.name == name.get_ref())
            {
                Some(i) => Ok(i),
                None => self.error(
                    name.span(),
                    field,
                    format!(
                        "{:?}: not one of the declared requests ({})",
                        name.get_ref(),
                        names(remote)
                    ),
                ),
            }
        };
        // "NAME" or "NAME xN".
        let requests = |entries: &[S], field: &str| -> Result<Vec<Requests>, ModelError> {
            let mut out = Vec::new();
            for e in entries {
                let text = e.get_ref().trim();
                let (name, count) = match text.rsplit_once(" x") {
                    Some((name, n)) => match n.parse::<u32>() {
                        Ok(n) if n > 0 => (name.trim(), n),
                        _ => {
                            return self.error(
                                e.span(),
                                field,
                                format!("{text:?}: expected \"TYPE\" or \"TYPE xN\" with N >= 1"),
                            )
                        }
                    },
                    None => (text, 1),
                };
                let named = S::new(e.span(), name.to_string());
                out.push(Requests {
                    request: request(&named, field)?,
                    count,
                });
            }
            Ok(out)
        };
        let bytes = |value: &S, field: &str| -> Result<f64, ModelError> {
            match parse_bytes(value.get_ref()) {
                Ok(b) => Ok(b as f64),
                Err(why) => {
                    self.error(value.span(), field, format!("{:?}: {why}", value.get_ref()))
                }
            }
        };
        let positive_ns = |value: &S, field: &str| -> Result<u64, ModelError> {
            match self.duration_ns(value, field)? {
                ns if ns >= 1.0 => Ok(ns as u64),
                _ => self.error(value.span(), field, "must be more than 0"),
            }
        };
        let mut periodic = Vec::new();
        for p in &r.periodic {
            periodic.push(Periodic {
                every_ns: positive_ns(&p.every, "replicate.periodic.every")?,
                requests: requests(&p.requests, "replicate.periodic.requests")?,
                always: p.always.unwrap_or(false),
            });
        }
        Ok(Replicate {
            interval_ns: positive_ns(&r.interval, "replicate.interval")?,
            upload: request(&r.upload, "replicate.upload")?,
            upload_bytes: bytes(&r.upload_bytes, "replicate.upload_bytes")?,
            page_bytes: match PageBytes::parse(r.page_bytes.get_ref()) {
                Ok(p) => p,
                Err(why) => {
                    let value = r.page_bytes.get_ref();
                    return self.error(
                        r.page_bytes.span(),
                        "replicate.page_bytes",
                        format!("{value:?}: {why}"),
                    );
                }
            },
            checkpoint_frames: match &r.checkpoint_frames {
                None => None,
                Some(v) => match v.get_ref().trim().parse::<u64>() {
                    Ok(n) if n > 0 => Some(n),
                    _ => {
                        let value = v.get_ref();
                        return self.error(
                            v.span(),
                            "replicate.checkpoint_frames",
                            format!(
                                "{value:?}: expected a whole number of WAL frames, more than 0"
                            ),
                        );
                    }
                },
            },
            start: requests(&r.start, "replicate.start")?,
            periodic,
        })
    }
}

fn names(remote: &Remote) -> String {
    let names: Vec<&str> = remote.requests.iter().map(|t| t.name.as_str()).collect();
    names.join(", ")
}
