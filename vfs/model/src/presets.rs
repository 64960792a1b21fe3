//! Infrastructure presets. Each is an ordinary model file with its
//! numbers' source; `vfscope presets` prints them. The numbers are typical
//! published figures, not measurements of any one account: replace them
//! with your own when you have them.

use crate::model::Model;
use crate::spec::{parse, ModelError};

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
        text: r#"description = "Local NVMe SSD: the baseline to compare against."
source = "NVMe SSD datasheets (e.g. Samsung PM9A3: 4 KiB random read ~70-90 us, write ~20 us); flush of a volatile write cache tens to hundreds of us."
[[rule]]
ops = ["read"]
files = ["main_db", "wal", "main_journal"]
delay = { dist = "lognormal", p50 = "80us", p99 = "250us" }
[[rule]]
ops = ["write"]
delay = { dist = "lognormal", p50 = "20us", p99 = "80us" }
[[rule]]
ops = ["sync"]
delay = { dist = "lognormal", p50 = "100us", p99 = "600us" }
"#,
    },
    Preset {
        scenario: false,
        name: "ebs-gp3",
        text: r#"description = "AWS EBS gp3 volume: network block storage, baseline 3000 IOPS and 125 MiB/s."
source = "AWS EBS User Guide, 'Amazon EBS volume types': gp3 'single-digit millisecond latency', baseline 125 MiB/s throughput; p50 below 1 ms and p99 of a few ms are typical published measurements."
[[rule]]
ops = ["read", "write"]
files = ["main_db", "wal", "main_journal"]
delay = { dist = "lognormal", p50 = "600us", p99 = "3ms" }
bandwidth = "125MiB/s"
[[rule]]
ops = ["sync"]
delay = { dist = "lognormal", p50 = "1ms", p99 = "5ms" }
"#,
    },
    Preset {
        scenario: false,
        name: "ebs-io2",
        text: r#"description = "AWS EBS io2 Block Express volume: provisioned IOPS, sub-millisecond latency."
source = "AWS EBS User Guide, 'Provisioned IOPS SSD volumes': io2 Block Express 'sub-millisecond latency', up to 4000 MiB/s; 1000 MiB/s here."
[[rule]]
ops = ["read", "write"]
files = ["main_db", "wal", "main_journal"]
delay = { dist = "lognormal", p50 = "250us", p99 = "800us" }
bandwidth = "1000MiB/s"
[[rule]]
ops = ["sync"]
delay = { dist = "lognormal", p50 = "400us", p99 = "1500us" }
"#,
    },
    Preset {
        scenario: false,
        name: "same-az",
        text: r#"description = "Remote page store in the same availability zone, with a local cache of 10,000 pages; commits wait for one replica."
source = "AWS re:Invent NET and EC2 networking talks: round trips inside one AZ are typically 100-300 us (p50), under 1 ms at p99."
[cache]
pages = 10000
[[rule]]
ops = ["read"]
files = ["main_db"]
delay = { dist = "lognormal", p50 = "200us", p99 = "900us" }
[commit]
rtt = { dist = "lognormal", p50 = "200us", p99 = "900us" }
"#,
    },
    Preset {
        scenario: false,
        name: "cross-az",
        text: r#"description = "Remote page store and commit replica in another availability zone of the same region, local cache of 10,000 pages."
source = "AWS 'Regions and Availability Zones': AZs are connected with 'single-digit millisecond' latency; measured cross-AZ round trips are typically 0.5-1.5 ms (p50), a few ms at p99."
[cache]
pages = 10000
[[rule]]
ops = ["read"]
files = ["main_db"]
delay = { dist = "lognormal", p50 = "1ms", p99 = "3ms" }
[commit]
rtt = { dist = "lognormal", p50 = "1ms", p99 = "3ms" }
[lease]
rtt = { dist = "lognormal", p50 = "1ms", p99 = "3ms" }
"#,
    },
    Preset {
        scenario: false,
        name: "cross-region",
        text: r#"description = "Primary in another region (us-east-1 to us-west-2): writes take a lease and commit across the continent."
source = "Published AWS inter-region latency matrices (e.g. cloudping.co): us-east-1 <-> us-west-2 round trip about 60-70 ms."
[cache]
pages = 10000
[[rule]]
ops = ["read"]
files = ["main_db"]
delay = { dist = "lognormal", p50 = "65ms", p99 = "90ms" }
[commit]
rtt = { dist = "lognormal", p50 = "65ms", p99 = "90ms" }
[lease]
rtt = { dist = "lognormal", p50 = "65ms", p99 = "90ms" }
"#,
    },
    Preset {
        scenario: false,
        name: "s3-standard",
        text: r#"description = "Pages kept in S3 Standard with no local cache: each read a GET, each sync a PUT, metadata a HEAD or LIST."
source = "AWS S3 User Guide, 'Performance design patterns': small objects see 100-200 ms first-byte latency at the tail; tens of ms is the usual median. p50 30 ms / p99 200 ms for GET, p50 60 ms / p99 300 ms for PUT."
[[rule]]
ops = ["read"]
files = ["main_db", "wal"]
delay = { dist = "lognormal", p50 = "30ms", p99 = "200ms" }
bandwidth = "90MB/s"
[[rule]]
ops = ["sync"]
files = ["main_db", "wal", "main_journal"]
delay = { dist = "lognormal", p50 = "60ms", p99 = "300ms" }
[metadata]
ops = ["open", "access", "file_size", "delete"]
rtt = { dist = "lognormal", p50 = "25ms", p99 = "150ms" }
"#,
    },
    Preset {
        scenario: false,
        name: "s3-express",
        text: r#"description = "Pages kept in S3 Express One Zone: each read a GET, each sync a PUT, single-digit milliseconds."
source = "AWS S3 User Guide, 'S3 Express One Zone': 'consistent single-digit millisecond data access', up to 10x faster than S3 Standard."
[[rule]]
ops = ["read"]
files = ["main_db", "wal"]
delay = { dist = "lognormal", p50 = "3ms", p99 = "9ms" }
[[rule]]
ops = ["sync"]
files = ["main_db", "wal", "main_journal"]
delay = { dist = "lognormal", p50 = "5ms", p99 = "15ms" }
[metadata]
ops = ["open", "access", "file_size", "delete"]
rtt = { dist = "lognormal", p50 = "3ms", p99 = "9ms" }
"#,
    },
    Preset {
        scenario: false,
        name: "quorum-commit",
        text: r#"description = "Local reads; each commit waits for 2 of 3 replicas in other availability zones (Raft/Paxos-style majority)."
source = "Cross-AZ round trips as in cross-az (p50 1 ms, p99 3 ms); a majority of 3 waits for the 2nd fastest acknowledgement."
[commit]
rtt = { dist = "lognormal", p50 = "1ms", p99 = "3ms" }
replicas = 3
quorum = 2
"#,
    },
    Preset {
        scenario: true,
        name: "litefs",
        text: r#"description = "LiteFS: SQLite on a local FUSE file system; each commit's WAL frames are shipped to the replicas asynchronously (replication lag = round trip + bytes / bandwidth); a write from a replica first needs the primary's lease. Reads and writes stay local and pay nothing."
source = "fly.io LiteFS documentation ('How LiteFS works': async replication of LTX files, primary election through a Consul lease); round trips as in cross-az, 100 MB/s to the replicas."
[commit]
rtt = { dist = "lognormal", p50 = "1ms", p99 = "3ms" }
replication = "async"
bandwidth = "100MB/s"
[lease]
rtt = { dist = "lognormal", p50 = "1ms", p99 = "3ms" }
"#,
    },
    Preset {
        scenario: true,
        name: "libsql-replica",
        text: r#"description = "libSQL embedded replica: reads come from the local file and pay nothing; a write transaction goes to the remote primary: one round trip when it starts (the write lock) and one at commit (the sync). The periodic sync that pulls new frames runs in the background and is not charged."
source = "Turso/libSQL documentation, 'Embedded replicas': reads local, writes forwarded to the primary; round trips to a primary in the same region of the internet, p50 20 ms, p99 60 ms."
[lease]
rtt = { dist = "lognormal", p50 = "20ms", p99 = "60ms" }
[commit]
rtt = { dist = "lognormal", p50 = "20ms", p99 = "60ms" }
"#,
    },
    Preset {
        scenario: true,
        name: "s3vfs",
        text: r#"description = "A VFS that keeps every block in S3 with no local cache: each read is a GET of one block, each write a PUT (a write that does not cover a whole 4 KiB block is a GET then a PUT), the file size a LIST; there is no locking, so locks pay nothing."
source = "S3 Standard latencies as in s3-standard (GET p50 30 ms, PUT p50 60 ms, LIST p50 25 ms); the design of block-per-object S3 VFSes (e.g. sqlite-s3vfs, s3-sqlite)."
[[rule]]
ops = ["read"]
files = ["main_db", "main_journal", "wal"]
delay = { dist = "lognormal", p50 = "30ms", p99 = "200ms" }
[[rule]]
ops = ["write"]
files = ["main_db", "main_journal", "wal"]
delay = { dist = "lognormal", p50 = "60ms", p99 = "300ms" }
partial_block = { block = "4KiB", extra = { dist = "lognormal", p50 = "30ms", p99 = "200ms" } }
[metadata]
ops = ["file_size"]
rtt = { dist = "lognormal", p50 = "25ms", p99 = "150ms" }
"#,
    },
    Preset {
        scenario: true,
        name: "quorum-wal",
        text: r#"description = "A replicated WAL: every commit (a sync of the WAL) waits until 2 of 3 replicas in other availability zones have it; reads and other writes stay local."
source = "Majority quorum of 3 (Raft-style); cross-AZ round trips p50 1 ms, p99 3 ms as in cross-az."
[commit]
rtt = { dist = "lognormal", p50 = "1ms", p99 = "3ms" }
replicas = 3
quorum = 2
"#,
    },
];

/// A preset by name, or a model file by path. (`off` is the callers'.)
pub fn load(spec: &str) -> Result<Model, ModelError> {
    if let Some(preset) = PRESETS.iter().find(|p| p.name == spec) {
        return parse(preset.name, preset.text);
    }
    let looks_like_a_path = spec.contains('/') || spec.ends_with(".toml");
    match std::fs::read_to_string(spec) {
        Ok(text) => parse(spec, &text),
        Err(e) => Err(ModelError {
            file: spec.to_string(),
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
        }
        let e = load("no-such-preset").unwrap_err();
        assert!(e.message.contains("cross-az"), "{e}");
    }
}
