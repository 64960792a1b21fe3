//! The TOML schema of model files, field by field. Names, durations and
//! numbers keep their source spans so errors can name the line.

use serde::Deserialize;
use toml::Spanned;

pub(super) type S = Spanned<String>;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct FileSpec {
    pub(super) description: Option<String>,
    pub(super) source: Option<String>,
    pub(super) checked: Option<String>,
    pub(super) seed: Option<u64>,
    pub(super) mode: Option<S>,
    #[serde(default)]
    pub(super) rule: Vec<RuleSpec>,
    pub(super) cache: Option<CacheSpec>,
    pub(super) commit: Option<CommitSpec>,
    pub(super) lease: Option<LeaseSpec>,
    pub(super) metadata: Option<MetadataSpec>,
    #[serde(default)]
    pub(super) fault: Vec<FaultSpec>,
    #[serde(default)]
    pub(super) partition: Vec<PartitionSpec>,
    #[serde(default)]
    pub(super) param: Vec<ParamSpec>,
    pub(super) remote: Option<RemoteSpec>,
    pub(super) replicate: Option<ReplicateSpec>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct ReplicateSpec {
    pub(super) interval: S,
    pub(super) upload: S,
    pub(super) upload_bytes: S,
    pub(super) page_bytes: S,
    pub(super) checkpoint_frames: Option<S>,
    #[serde(default)]
    pub(super) start: Vec<S>,
    #[serde(default)]
    pub(super) periodic: Vec<PeriodicSpec>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct PeriodicSpec {
    pub(super) every: S,
    pub(super) requests: Vec<S>,
    pub(super) always: Option<bool>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct ParamSpec {
    pub(super) name: S,
    pub(super) default: S,
    pub(super) about: S,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RemoteSpec {
    pub(super) block: S,
    pub(super) rtt: S,
    pub(super) client: Option<S>,
    pub(super) list_page: Option<Spanned<i64>>,
    pub(super) poll: Option<PollSpec>,
    #[serde(default)]
    pub(super) request: Vec<RequestSpec>,
    #[serde(default)]
    pub(super) send: Vec<SendSpec>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct PollSpec {
    pub(super) every: S,
    pub(super) requests: Vec<S>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RequestSpec {
    pub(super) name: S,
    pub(super) round_trips: Option<Spanned<i64>>,
    pub(super) time: S,
    pub(super) time_p99: Option<S>,
    pub(super) miss_time: Option<S>,
    pub(super) miss_time_p99: Option<S>,
    pub(super) per_key: Option<S>,
    pub(super) price_per_1000: Option<Spanned<f64>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct SendSpec {
    #[serde(default)]
    pub(super) ops: Vec<S>,
    #[serde(default)]
    pub(super) files: Vec<S>,
    pub(super) requests: Vec<S>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct DistSpec {
    pub(super) dist: S,
    pub(super) value: Option<S>,
    pub(super) min: Option<S>,
    pub(super) max: Option<S>,
    pub(super) mean: Option<S>,
    pub(super) stddev: Option<S>,
    pub(super) p50: Option<S>,
    pub(super) p99: Option<S>,
    pub(super) scale: Option<S>,
    pub(super) shape: Option<Spanned<f64>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct TailSpec {
    pub(super) probability: Spanned<f64>,
    pub(super) extra: DistSpec,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RuleSpec {
    #[serde(default)]
    pub(super) ops: Vec<S>,
    #[serde(default)]
    pub(super) files: Vec<S>,
    pub(super) delay: Option<DistSpec>,
    pub(super) tail: Option<TailSpec>,
    pub(super) bandwidth: Option<S>,
    pub(super) partial_block: Option<PartialSpec>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct PartialSpec {
    pub(super) block: S,
    pub(super) extra: DistSpec,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct CacheSpec {
    pub(super) pages: Spanned<i64>,
    #[serde(default)]
    pub(super) files: Vec<S>,
    pub(super) per_connection: Option<bool>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct CommitSpec {
    pub(super) rtt: DistSpec,
    pub(super) replicas: Option<Spanned<i64>>,
    pub(super) quorum: Option<Spanned<i64>>,
    pub(super) replication: Option<S>,
    pub(super) bandwidth: Option<S>,
    pub(super) at: Option<S>,
    pub(super) round_trips: Option<S>,
    pub(super) overhead: Option<DistSpec>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct LeaseSpec {
    pub(super) rtt: DistSpec,
    pub(super) renew_every: Option<S>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct MetadataSpec {
    #[serde(default)]
    pub(super) ops: Vec<S>,
    pub(super) rtt: DistSpec,
    pub(super) lazy_load: Option<DistSpec>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct FaultSpec {
    #[serde(default)]
    pub(super) ops: Vec<S>,
    #[serde(default)]
    pub(super) files: Vec<S>,
    pub(super) error: S,
    pub(super) probability: Option<Spanned<f64>>,
    pub(super) nth: Option<Spanned<i64>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct PartitionSpec {
    pub(super) start: S,
    pub(super) duration: Option<S>,
}
