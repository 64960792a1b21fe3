//! Programs that register, unregister, free and re-register their own
//! VFSes (as SQLite's test suite and apsw do) run under `vfscope run`
//! exactly as bare: what they see of their VFSes is unchanged, nothing
//! reaches a freed VFS, and every open is recorded once.

use crate::copies::same_output_as_bare;
use vfscope_tests::json_calls;
use vfscope_tests::programs::{dlopen_race_program, vfs_lifecycle_program};

/// The program prints what it sees (the default VFS and the VFS list after
/// each step, what its VFSes were asked, the `vfs=` its VFS reads back from
/// a URI) and, last, how many main databases it opened.
fn lifecycle_is_transparent(shared: bool) {
    let program = vfs_lifecycle_program(shared);
    let (stdout, report) = same_output_as_bare(&[program.to_str().unwrap(), "."]);
    for seen in [
        "default freed: default unix;",
        "second tvfs opens 3",
        "uri vfs seen by tvfs: tvfs",
        "stacked over unix",
    ] {
        assert!(stdout.contains(seen), "{seen:?} not in\n{stdout}");
    }
    let opened: u64 = stdout
        .lines()
        .last()
        .and_then(|l| l.strip_prefix("main databases opened "))
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("{stdout}"));
    assert!(opened > 1000, "{stdout}");
    // Each main database opened once, through one wrapper: recorded once.
    assert_eq!(json_calls(&report, "open", "main_db"), opened);
}

#[test]
fn a_program_freeing_and_reregistering_its_vfses_runs_as_bare_on_libsqlite3_so() {
    lifecycle_is_transparent(true);
}

#[test]
fn a_program_freeing_and_reregistering_its_vfses_runs_as_bare_on_libsqlite3_a() {
    lifecycle_is_transparent(false);
}

/// Sixteen threads dlopen Debian's libsqlite3 at once (the program does
/// not link it), then each opens a database with it: whichever thread
/// loads it, no dlopen returns before its hooks are in place, so every
/// open is recorded. Ten rounds, each in a fresh process.
#[test]
fn threads_dlopening_one_library_at_once_all_get_it_hooked() {
    let program = dlopen_race_program();
    for _ in 0..10 {
        let (stdout, report) =
            same_output_as_bare(&[program.to_str().unwrap(), "libsqlite3.so.0", "16"]);
        assert_eq!(stdout.trim(), "opened 16");
        assert_eq!(json_calls(&report, "open", "main_db"), 16);
    }
}
