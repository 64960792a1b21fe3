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
        std::mem::forget(file); // the parent closes it
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
    let inherited = db_view(&reader.snapshot(), &path);
    assert_eq!(
        inherited.index, parent.index,
        "the inherited file keeps its database"
    );
    assert_eq!(inherited.calls(Op::Write, FileKind::MainDb), 10);
    drop(file);
}
