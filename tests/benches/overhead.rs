//! What vfscope costs, measured side by side in one run: the same calls
//! through the bare `unix` VFS and through vfscope over it, interleaved in
//! batches so machine noise hits both alike. Prints Markdown for
//! BENCHMARKS.md. `cargo bench -p vfscope-tests --bench overhead`
//!
//! Per-call cost: the median over batches of (vfscope − bare) per call.
//! Whole workload: both ways in each round, alternating which goes first;
//! the median of the per-round ratios.

use std::time::Instant;
use vfscope_tests::{mixed_workload, RawFile, MAIN_DB_FLAGS};

const BATCHES: usize = 201;
const CALLS: usize = 2_000;

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

/// Median added nanoseconds per call, and the bare call's median.
fn per_call(
    dir: &std::path::Path,
    name: &str,
    mut call: impl FnMut(&mut RawFile, usize),
) -> (f64, f64) {
    let mut bare = RawFile::open("unix", &dir.join(format!("{name}-bare.db")), MAIN_DB_FLAGS);
    let mut traced = RawFile::open(
        "vfscope",
        &dir.join(format!("{name}-traced.db")),
        MAIN_DB_FLAGS,
    );
    for f in [&mut bare, &mut traced] {
        for i in 0..16 {
            f.write(&[1; 4096], i * 4096);
        }
    }
    let mut time = |f: &mut RawFile| {
        let start = Instant::now();
        for i in 0..CALLS {
            call(f, i);
        }
        start.elapsed().as_nanos() as f64 / CALLS as f64
    };
    let (mut diffs, mut bases) = (Vec::new(), Vec::new());
    for batch in 0..BATCHES {
        let (b, t) = if batch % 2 == 0 {
            let b = time(&mut bare);
            (b, time(&mut traced))
        } else {
            let t = time(&mut traced);
            (time(&mut bare), t)
        };
        diffs.push(t - b);
        bases.push(b);
    }
    (median(diffs), median(bases))
}

/// tmpfs when there is one: keeps fsync and writeback noise out of a CPU
/// comparison, and is where segments live in practice ($XDG_RUNTIME_DIR).
fn scratch() -> std::path::PathBuf {
    let shm = std::path::Path::new("/dev/shm");
    if shm.is_dir() {
        shm.to_path_buf()
    } else {
        std::env::temp_dir()
    }
}

fn main() {
    let dir = tempfile::tempdir_in(scratch()).unwrap();
    vfscope::Builder::new()
        .parent("unix")
        .dir(dir.path().join("segments"))
        .register()
        .expect("register vfscope");

    println!("### Added cost per traced call ({BATCHES} interleaved batches of {CALLS} calls)\n");
    println!("| call | bare unix VFS, median ns | added by vfscope, median ns |");
    println!("|---|---:|---:|");
    let mut buf = [0u8; 4096];
    let rows: Vec<(&str, (f64, f64))> = vec![
        (
            "xRead 4 KiB (page cache)",
            per_call(dir.path(), "read", |f, i| {
                f.read(&mut buf, (i % 16) as i64 * 4096);
            }),
        ),
        (
            "xWrite 4 KiB (page cache)",
            per_call(dir.path(), "write", |f, i| {
                f.write(&[2; 4096], (i % 16) as i64 * 4096);
            }),
        ),
        (
            "xFileSize",
            per_call(dir.path(), "size", |f, _| {
                f.size();
            }),
        ),
        (
            "xLock SHARED + xUnlock NONE (2 calls)",
            per_call(dir.path(), "lock", |f, _| {
                f.lock(1);
                f.unlock(0);
            }),
        ),
    ];
    for (name, (added, base)) in &rows {
        println!("| {name} | {base:.0} | {added:.0} |");
    }

    const ROUNDS: usize = 31;
    const SCALE: u32 = 100;
    // tmpfs keeps fsync and disk journaling noise out of a CPU comparison.
    let shm = std::path::Path::new("/dev/shm");
    let scratch = if shm.is_dir() {
        shm.to_path_buf()
    } else {
        std::env::temp_dir()
    };
    let (mut bare, mut traced, mut ratios) = (Vec::new(), Vec::new(), Vec::new());
    for round in 0..ROUNDS {
        let mut pair = [0.0f64; 2];
        let order = if round % 2 == 0 {
            [true, false]
        } else {
            [false, true]
        };
        for use_vfscope in order {
            let work = tempfile::tempdir_in(&scratch).unwrap();
            let vfs = if use_vfscope { "vfscope" } else { "unix" };
            let start = Instant::now();
            mixed_workload(work.path(), Some(vfs), SCALE);
            pair[use_vfscope as usize] = start.elapsed().as_secs_f64() * 1e3;
        }
        bare.push(pair[0]);
        traced.push(pair[1]);
        ratios.push(pair[1] / pair[0]);
    }
    let (b, t, r) = (median(bare), median(traced), median(ratios));
    println!(
        "\n### Mixed workload wall time ({ROUNDS} rounds, each running both in alternating order; scale {SCALE}; on {})\n",
        scratch.display()
    );
    println!(
        "| bare unix VFS, median ms | vfscope, median ms | overhead, median of per-round ratios |"
    );
    println!("|---:|---:|---:|");
    println!("| {b:.1} | {t:.1} | {:+.2} % |", (r - 1.0) * 100.0);
}
