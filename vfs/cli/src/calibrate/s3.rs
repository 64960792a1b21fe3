//! `vfscope calibrate s3`: every request cost the s3vfs scenario uses,
//! measured against the user's own store in a scratch prefix that is
//! removed afterwards (or a scratch bucket made and removed, without
//! `--bucket`).
//!
//! The rounds take the request kinds in turn, so a machine or network that
//! slows down midway slows them all alike. Each kind's p50 and p99 are kept;
//! the round trip is the time to a `100 Continue` (what boto3 waits for
//! before each upload body), else a TCP connect's.

use super::credentials;
use super::samples::Samples;
use super::store::{ok, S3Error, Store};
use anyhow::{bail, Context, Result};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// Options of `vfscope calibrate s3`.
pub struct S3Options {
    pub endpoint: String,
    pub bucket: Option<String>,
    pub region: Option<String>,
    pub rounds: usize,
    pub block: u64,
    pub list_keys: Vec<usize>,
    pub client: Option<String>,
    pub client_from: Option<PathBuf>,
    pub json: Option<PathBuf>,
    pub output: Option<PathBuf>,
}

/// Keys a multi-object DELETE removes in each round (a small journal's
/// blocks, as sqlite-s3vfs deletes them).
pub const DELETE_MANY_KEYS: usize = 4;

/// Body sizes of the PUTs timed (besides the block size).
const PUT_SIZES: [u64; 3] = [1024, 64 * 1024, 1024 * 1024];

/// Everything measured.
pub struct Measured {
    pub endpoint: String,
    pub bucket: String,
    pub region: String,
    pub credentials_from: String,
    pub rounds: usize,
    pub block: u64,
    pub scratch: String,
    pub bucket_made: bool,
    pub removed: usize,
    pub connect: Samples,
    /// Time to each `100 Continue` (empty if the server sent none).
    pub continued: Samples,
    pub get: Samples,
    pub get_miss: Samples,
    /// By body size, ascending.
    pub put: Vec<(u64, Samples)>,
    /// By keys listed, ascending.
    pub list: Vec<(usize, Samples)>,
    pub delete_one: Samples,
    pub delete_many: Samples,
}

/// What the server said when the store was first reached, as one line
/// that says what to fix.
fn preflight_error(e: anyhow::Error, endpoint: &str, bucket: &str, creds: &str) -> anyhow::Error {
    let Some(s3) = e.downcast_ref::<S3Error>() else {
        return e.context(format!("cannot reach the S3 endpoint {endpoint}"));
    };
    match s3.code.as_str() {
        "NoSuchBucket" => anyhow::anyhow!(
            "bucket {bucket:?} does not exist at {endpoint} ({s3}); create it, or leave out --bucket to have a scratch bucket made and removed"
        ),
        "InvalidAccessKeyId" | "SignatureDoesNotMatch" | "InvalidToken" | "ExpiredToken"
        | "AccessDenied" | "InvalidClientTokenId" => anyhow::anyhow!(
            "{endpoint} refused the credentials from {creds} ({s3})"
        ),
        _ => anyhow::anyhow!("{endpoint}, bucket {bucket:?}: {s3}"),
    }
}

/// Times kept for one round, by kind.
#[derive(Default)]
struct Times {
    connect: Vec<Duration>,
    continued: Vec<Duration>,
    get: Vec<Duration>,
    get_miss: Vec<Duration>,
    put: Vec<Vec<Duration>>,
    list: Vec<Vec<Duration>>,
    delete_one: Vec<Duration>,
    delete_many: Vec<Duration>,
}

pub fn measure(options: &S3Options, stop: &AtomicBool) -> Result<Measured> {
    if options.rounds < 2 {
        bail!(
            "--rounds {}: at least 2 are needed for a p99",
            options.rounds
        );
    }
    let mut list_keys = options.list_keys.clone();
    list_keys.sort_unstable();
    list_keys.dedup();
    if list_keys.last().is_some_and(|&k| k > 1000) {
        bail!("--list-keys: at most 1000 keys (one listing page)");
    }
    if list_keys.len() < 2 {
        bail!("--list-keys needs at least two different key counts to fit a cost per key");
    }
    let env = |k: &str| std::env::var(k).ok();
    let found = credentials::credentials(&env)?;
    let region = credentials::region(options.region.as_deref(), &env);
    let tag = format!(
        "vfscope-calibrate-{}-{}",
        std::process::id(),
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs())
    );
    let bucket = options.bucket.clone().unwrap_or_else(|| tag.clone());
    let scratch = format!("{tag}/");
    let mut store = Store::new(&options.endpoint, &bucket, &region, &found)?;
    let endpoint = options.endpoint.clone();
    let fail = |e| preflight_error(e, &endpoint, &bucket, &found.source);
    let bucket_made = options.bucket.is_none();
    if bucket_made {
        store
            .create_bucket()
            .map_err(fail)
            .context("making a scratch bucket (or name one with --bucket)")?;
    } else {
        store.list(&scratch, None).map_err(fail)?;
    }
    let mut times = Times::default();
    let result = rounds(&mut store, options, &list_keys, &scratch, stop, &mut times);
    // Whatever happened, the scratch keys go (and a bucket made for them).
    let removed = store.delete_prefix(&scratch);
    let left = store.keys(&scratch).map(|k| k.len());
    let unmade = if bucket_made {
        store.delete_bucket()
    } else {
        Ok(())
    };
    result?;
    let removed = removed.context("removing the scratch keys")?;
    match left {
        Ok(0) => {}
        Ok(n) => bail!("{n} scratch keys under {scratch} are still listed after deleting them"),
        Err(e) => return Err(e.context("listing the scratch prefix after deleting it")),
    }
    unmade.with_context(|| format!("removing the scratch bucket {bucket}"))?;
    let mut put_sizes: Vec<u64> = PUT_SIZES.to_vec();
    put_sizes.push(options.block);
    put_sizes.sort_unstable();
    put_sizes.dedup();
    Ok(Measured {
        endpoint: options.endpoint.clone(),
        bucket,
        region,
        credentials_from: found.source,
        rounds: options.rounds,
        block: options.block,
        scratch,
        bucket_made,
        removed,
        connect: Samples::of(&times.connect),
        continued: Samples::of(&times.continued),
        get: Samples::of(&times.get),
        get_miss: Samples::of(&times.get_miss),
        put: put_sizes
            .iter()
            .zip(&times.put)
            .map(|(&s, t)| (s, Samples::of(t)))
            .collect(),
        list: list_keys
            .iter()
            .zip(&times.list)
            .map(|(&k, t)| (k, Samples::of(t)))
            .collect(),
        delete_one: Samples::of(&times.delete_one),
        delete_many: Samples::of(&times.delete_many),
    })
}

/// Sets up the listing prefixes, then runs one warm-up round and
/// `options.rounds` timed ones.
fn rounds(
    store: &mut Store,
    options: &S3Options,
    list_keys: &[usize],
    scratch: &str,
    stop: &AtomicBool,
    times: &mut Times,
) -> Result<()> {
    let check = || {
        if stop.load(Ordering::Relaxed) {
            bail!("interrupted (the scratch keys are removed)");
        }
        Ok(())
    };
    let block = vec![0x5au8; options.block as usize];
    let mut sizes: Vec<u64> = PUT_SIZES.to_vec();
    sizes.push(options.block);
    sizes.sort_unstable();
    sizes.dedup();
    let bodies: Vec<Vec<u8>> = sizes.iter().map(|&s| vec![0xa5u8; s as usize]).collect();
    times.put = vec![Vec::new(); sizes.len()];
    times.list = vec![Vec::new(); list_keys.len()];
    for &k in list_keys {
        for i in 0..k {
            check()?;
            ok(store.put(&format!("{scratch}list-{k}/{i:06}"), b"k", false)?)?;
        }
    }
    let stored = format!("{scratch}stored");
    ok(store.put(&stored, &block, false)?)?;
    for round in 0..=options.rounds {
        let timed = round > 0;
        let keep = |into: &mut Vec<Duration>, took: Duration| {
            if timed {
                into.push(took);
            }
        };
        for (i, body) in bodies.iter().enumerate() {
            check()?;
            let r = ok(store.put(&format!("{scratch}put-{}", body.len()), body, true)?)?;
            keep(&mut times.put[i], r.took);
            if let Some(c) = r.continued_after {
                keep(&mut times.continued, c);
            }
        }
        check()?;
        let r = ok(store.get(&stored)?)?;
        if r.body.len() != block.len() {
            bail!(
                "a GET of {} bytes answered {} bytes",
                block.len(),
                r.body.len()
            );
        }
        keep(&mut times.get, r.took);
        check()?;
        let r = store.get(&format!("{scratch}missing-{round}"))?;
        if r.status != 404 {
            bail!(
                "a GET of a key never written answered HTTP {} (expected 404 NoSuchKey)",
                r.status
            );
        }
        keep(&mut times.get_miss, r.took);
        for (i, &k) in list_keys.iter().enumerate() {
            check()?;
            let (r, listing) = store.list(&format!("{scratch}list-{k}/"), None)?;
            if listing.contents.len() != k.min(1000) {
                bail!(
                    "a listing of {k} keys returned {} (is another writer using the scratch prefix?)",
                    listing.contents.len()
                );
            }
            keep(&mut times.list[i], r.took);
        }
        check()?;
        let one = format!("{scratch}delete-one");
        ok(store.put(&one, &block, false)?)?;
        let r = ok(store.delete_one(&one)?)?;
        keep(&mut times.delete_one, r.took);
        check()?;
        let many: Vec<String> = (0..DELETE_MANY_KEYS)
            .map(|i| format!("{scratch}delete-many-{i}"))
            .collect();
        for key in &many {
            ok(store.put(key, &block, false)?)?;
        }
        let r = ok(store.delete_many(&many)?)?;
        keep(&mut times.delete_many, r.took);
        check()?;
        let took = store.server().connect_time()?;
        keep(&mut times.connect, took);
    }
    Ok(())
}

/// Ctrl-C and SIGTERM stop the rounds, so the scratch keys are removed.
pub fn stop_flag() -> Result<Arc<AtomicBool>> {
    let stop = Arc::new(AtomicBool::new(false));
    for signal in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM] {
        signal_hook::flag::register(signal, stop.clone()).context("installing a signal handler")?;
    }
    Ok(stop)
}
