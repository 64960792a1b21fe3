//! Compiling `[remote]` (request-level scenarios) and `[[param]]`.

use super::schema::{ParamSpec, RemoteSpec, S};
use super::{Compiler, ModelError};
use crate::dist::Dist;
use crate::params::{check_default, Param};
use crate::remote::{Count, Poll, Remote, RequestType, Send, MAX_REQUEST_TYPES};
use crate::Selector;

impl Compiler<'_> {
    pub(super) fn params(&self, specs: &[ParamSpec]) -> Result<Vec<Param>, ModelError> {
        let mut params: Vec<Param> = Vec::new();
        for p in specs {
            let name = p.name.get_ref();
            let valid = !name.is_empty()
                && name
                    .chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
            if !valid {
                return self.error(
                    p.name.span(),
                    "param.name",
                    format!("{name:?}: use lowercase letters, digits and _"),
                );
            }
            if params.iter().any(|q| &q.name == name) {
                return self.error(
                    p.name.span(),
                    "param.name",
                    format!("{name:?} declared twice"),
                );
            }
            if let Some(why) = check_default(p.default.get_ref(), &params) {
                return self.error(p.default.span(), "param.default", why);
            }
            params.push(Param {
                name: name.clone(),
                default: p.default.get_ref().clone(),
                about: p.about.get_ref().clone(),
                value: p.default.get_ref().clone(),
            });
        }
        Ok(params)
    }

    /// A request's time: its median, and with its p99 a log-normal (a p99
    /// at the median: a fixed time).
    fn median_and_p99(&self, p50: &S, p99: Option<&S>, field: &str) -> Result<Dist, ModelError> {
        let median = self.duration_ns(p50, field)?;
        let Some(p99) = p99 else {
            return Ok(Dist::Fixed { ns: median });
        };
        let tail = self.duration_ns(p99, &format!("{field}_p99"))?;
        Dist::lognormal(median, tail).or_else(|why| {
            self.error(
                p99.span(),
                &format!("{field}_p99"),
                format!("{why} ({field} is the median, {field}_p99 the 99th percentile)"),
            )
        })
    }

    pub(super) fn remote(&self, r: &RemoteSpec) -> Result<Remote, ModelError> {
        let mut requests: Vec<RequestType> = Vec::new();
        for q in &r.request {
            let name = q.name.get_ref();
            if requests.iter().any(|t| &t.name == name) {
                return self.error(
                    q.name.span(),
                    "remote.request.name",
                    format!("{name:?} declared twice"),
                );
            }
            let longest = vfscope_segment::REQUEST_NAME_BYTES - 1;
            if requests.len() == MAX_REQUEST_TYPES || name.is_empty() || name.len() > longest {
                return self.error(
                    q.name.span(),
                    "remote.request.name",
                    format!(
                        "at most {MAX_REQUEST_TYPES} request types, named in 1 to {longest} bytes"
                    ),
                );
            }
            let price = match &q.price_per_1000 {
                Some(p) if *p.get_ref() < 0.0 || !p.get_ref().is_finite() => {
                    return self.error(
                        p.span(),
                        "remote.request.price_per_1000",
                        "a price must be a number >= 0 (US dollars per 1,000 requests)",
                    )
                }
                p => p.as_ref().map_or(0.0, |p| *p.get_ref()),
            };
            requests.push(RequestType {
                name: name.clone(),
                round_trips: match &q.round_trips {
                    None => 1,
                    Some(n) => match u32::try_from(*n.get_ref()) {
                        Ok(n) if n <= 16 => n,
                        _ => {
                            return self.error(
                                n.span(),
                                "remote.request.round_trips",
                                "round trips per request: 0 to 16",
                            )
                        }
                    },
                },
                time: self.median_and_p99(&q.time, q.time_p99.as_ref(), "remote.request.time")?,
                miss_time: q
                    .miss_time
                    .as_ref()
                    .map(|t| {
                        self.median_and_p99(t, q.miss_time_p99.as_ref(), "remote.request.miss_time")
                    })
                    .transpose()?,
                per_key_ns: q
                    .per_key
                    .as_ref()
                    .map_or(Ok(0.0), |d| self.duration_ns(d, "remote.request.per_key"))?,
                price_per_1000: price,
            });
        }
        let mut sends = Vec::new();
        for s in &r.send {
            let mut pairs = Vec::new();
            for entry in &s.requests {
                let text = entry.get_ref();
                // "[N ]TYPE per COUNT": N (default 1) requests each time.
                let parsed = text.split_once(" per ").and_then(|(name, count)| {
                    let (times, name) = match name.trim().split_once(' ') {
                        Some((n, name)) => (n.parse::<u32>().ok().filter(|&n| n > 0)?, name),
                        None => (1, name.trim()),
                    };
                    let t = requests.iter().position(|t| t.name == name.trim())?;
                    Some((t, Count::from_name(count.trim())?, times))
                });
                let Some(pair) = parsed else {
                    let names: Vec<&str> = requests.iter().map(|t| t.name.as_str()).collect();
                    let counts: Vec<&str> = Count::NAMES.iter().map(|(n, _)| *n).collect();
                    return self.error(
                        entry.span(),
                        "remote.send.requests",
                        format!(
                            "{text:?}: expected \"[N ]TYPE per COUNT\" with TYPE one of the declared requests ({}) and COUNT one of: {}",
                            names.join(", "),
                            counts.join(", ")
                        ),
                    );
                };
                pairs.push(pair);
            }
            sends.push(Send {
                select: Selector {
                    ops: self.ops(&s.ops, "remote.send.ops")?,
                    files: self.files(&s.files, "remote.send.files")?,
                },
                requests: pairs,
            });
        }
        let poll = match &r.poll {
            None => None,
            Some(p) => {
                let mut each = Vec::new();
                for e in &p.requests {
                    let text = e.get_ref().trim();
                    let (times, name) = match text.split_once(' ') {
                        Some((n, name)) => (n.parse::<u32>().ok().filter(|&n| n > 0), name.trim()),
                        None => (Some(1), text),
                    };
                    match (times, requests.iter().position(|t| t.name == name)) {
                        (Some(n), Some(t)) => each.push((t, n)),
                        _ => {
                            return self.error(
                                e.span(),
                                "remote.poll.requests",
                                format!("{text:?}: expected \"[N ]TYPE\" with TYPE one of the declared requests"),
                            )
                        }
                    }
                }
                let every = self.duration_ns(&p.every, "remote.poll.every")?;
                if every < 1.0 {
                    return self.error(p.every.span(), "remote.poll.every", "must be more than 0");
                }
                Some(Poll {
                    every_ns: every as u64,
                    requests: each,
                })
            }
        };
        Ok(Remote {
            poll,
            block: self.block(&r.block, "remote.block")?,
            rtt_ns: self.duration_ns(&r.rtt, "remote.rtt")?,
            client_ns: r
                .client
                .as_ref()
                .map_or(Ok(0.0), |d| self.duration_ns(d, "remote.client"))?,
            list_page: r
                .list_page
                .as_ref()
                .map_or(Ok(1000), |n| self.positive(n, "remote.list_page"))?,
            requests,
            sends,
        })
    }
}
