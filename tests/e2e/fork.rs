//! A forked child records into a segment of its own.

use vfscope_segment::{list_segments, FileKind, Liveness, Op, SegmentReader};
use vfscope_tests::{db_view, own_process, segment_dir, snapshot, vfscope, RawFile, MAIN_DB_FLAGS};

#[test]
fn forked_child_records_into_its_own_segment() {
    own_process!(forked_child_records_into_its_own_segment);
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("fork.db");
    let mut file = RawFile::open(vfscope(), &path, MAIN_DB_FLAGS);
    assert_eq!(file.write(&[1; 4096], 0), 0);
    let before = list_segments(segment_dir()).unwrap().len();

    // SAFETY: the child only writes through an already open file and exits.
    let child = unsafe { libc::fork() };
    if child == 0 {
        let ok = (0..10).all(|i| file.write(&[2; 4096], i * 4096) == 0);
        // A file of the child's own takes the first row of its open-file
        // table; closing the inherited file must not free that row.
        let own = RawFile::open(vfscope(), &dir.path().join("child.db"), MAIN_DB_FLAGS);
        drop(file);
        std::mem::forget(own); // still open when the child exits
        std::process::exit(if ok { 0 } else { 1 });
    }
    let mut status = 0;
    // SAFETY: waiting for the child just forked.
    assert_eq!(unsafe { libc::waitpid(child, &mut status, 0) }, child);
    assert!(libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0);

    let parent = db_view(&snapshot(), &path);
    assert_eq!(
        parent.calls(Op::Write, FileKind::MainDb),
        1,
        "the child's writes are not the parent's"
    );
    let segments = list_segments(segment_dir()).unwrap();
    assert_eq!(segments.len(), before + 1);
    let reader = segments
        .iter()
        .filter_map(|p| SegmentReader::open(p).ok())
        .find(|r| r.pid() == child as u32)
        .expect("the child's segment");
    assert_eq!(reader.liveness(), Liveness::Exited);
    let child_snapshot = reader.snapshot();
    let inherited = db_view(&child_snapshot, &path);
    assert_eq!(
        inherited.index, parent.index,
        "the inherited file keeps its database"
    );
    assert_eq!(inherited.calls(Op::Write, FileKind::MainDb), 10);
    assert_eq!(inherited.calls(Op::Close, FileKind::MainDb), 1);
    let own = db_view(&child_snapshot, &dir.path().join("child.db"));
    let open: Vec<u16> = child_snapshot.open_files.iter().map(|f| f.db).collect();
    assert_eq!(
        open,
        vec![own.index],
        "the child's own file is still listed as open"
    );
    assert_eq!(
        snapshot().open_files.len(),
        1,
        "the parent's file is open in the parent"
    );
    drop(file);
}
