//! `pip install` of the repository into a fresh virtual environment: the
//! environment gets vfscope, vfstop and libvfscope.so, and its `vfscope
//! run` wraps a Python program with no other setup.

use std::path::Path;
use std::process::Command;
use vfscope_tests::{built, have, succeeds};

#[test]
fn pip_install_gives_a_working_vfscope_in_a_fresh_venv() {
    assert!(
        have("python3"),
        "python3 is missing (tests/run.sh installs it)"
    );
    let repo = Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap();
    // A target directory of its own, next to the workspace's: maturin
    // builds with flags of its own, and rebuilding target/debug/vfscope
    // while the other tests run it would pull it from under them. Kept
    // between runs, so only the first build is slow.
    let target = built("vfscope")
        .parent()
        .unwrap()
        .parent()
        .unwrap()
        .join("pip-test");
    let dir = tempfile::tempdir().unwrap();
    let venv = dir.path().join("venv");
    let made = Command::new("python3")
        .args(["-m", "venv"])
        .arg(&venv)
        .status()
        .unwrap();
    assert!(
        made.success(),
        "python3 -m venv failed (tests/run.sh installs python3-venv)"
    );
    let install = Command::new(venv.join("bin/pip"))
        .args(["install", "--quiet"])
        .arg(repo)
        .env("MATURIN_PEP517_ARGS", "--profile dev")
        .env("CARGO_TARGET_DIR", &target)
        .output()
        .unwrap();
    assert!(
        install.status.success(),
        "pip install failed:\n{}\n{}",
        String::from_utf8_lossy(&install.stdout),
        String::from_utf8_lossy(&install.stderr)
    );
    for installed in ["bin/vfscope", "bin/vfstop", "lib/libvfscope.so"] {
        assert!(venv.join(installed).is_file(), "{installed} not installed");
    }
    let app = dir.path().join("app.py");
    std::fs::write(
        &app,
        "import sqlite3, sys\n\
         con = sqlite3.connect(sys.argv[1])\n\
         con.execute('create table t(x)')\n\
         con.executemany('insert into t values (?)', [(i,) for i in range(100)])\n\
         con.commit()\n\
         print(con.execute('select count(*) from t').fetchone()[0])\n",
    )
    .unwrap();
    let json = dir.path().join("report.json");
    // Only the venv's bin on PATH: nothing from the build tree is found.
    let out = succeeds(
        Command::new(venv.join("bin/vfscope"))
            .args(["run", "--quiet", "--json"])
            .arg(&json)
            .arg("--")
            .arg(venv.join("bin/python"))
            .arg(&app)
            .arg(dir.path().join("app.db"))
            .env_remove("VFSCOPE_LIB"),
    );
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "100");
    let report: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    assert_eq!(
        vfscope_tests::json_calls(&report, "open", "main_db"),
        1,
        "{report}"
    );
    assert!(vfscope_tests::json_calls(&report, "write", "main_db") > 0);
    let version = Command::new(venv.join("bin/vfstop"))
        .arg("--version")
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&version.stdout).starts_with("vfstop "));
}
