//! File kinds: from the flags SQLite opens a file with, or from a bare
//! path (xDelete, xAccess), with the database a journal or WAL belongs to.

use crate::ffi::*;
use std::os::raw::c_int;
use vfscope_segment::FileKind;

/// The file kind SQLite asked for.
pub fn kind_of(flags: c_int) -> FileKind {
    const KINDS: [(c_int, FileKind); 8] = [
        (SQLITE_OPEN_MAIN_DB, FileKind::MainDb),
        (SQLITE_OPEN_MAIN_JOURNAL, FileKind::MainJournal),
        (SQLITE_OPEN_WAL, FileKind::Wal),
        (SQLITE_OPEN_TEMP_DB, FileKind::TempDb),
        (SQLITE_OPEN_TEMP_JOURNAL, FileKind::TempJournal),
        (SQLITE_OPEN_TRANSIENT_DB, FileKind::TransientDb),
        (SQLITE_OPEN_SUBJOURNAL, FileKind::Subjournal),
        (SQLITE_OPEN_SUPER_JOURNAL, FileKind::SuperJournal),
    ];
    KINDS
        .iter()
        .find(|(flag, _)| flags & flag != 0)
        .map_or(FileKind::Other, |&(_, kind)| kind)
}

/// The file kind a bare path suggests (for xDelete and xAccess, which get no
/// flags), and the path of the database it belongs to.
pub fn kind_of_path(path: &[u8]) -> (FileKind, &[u8]) {
    for (suffix, kind) in [
        (&b"-journal"[..], FileKind::MainJournal),
        (b"-wal", FileKind::Wal),
        (b"-shm", FileKind::Shm),
    ] {
        if let Some(db) = path.strip_suffix(suffix) {
            return (kind, db);
        }
    }
    if let Some(db) = super_journal_of(path) {
        return (FileKind::SuperJournal, db);
    }
    (FileKind::MainDb, path)
}

/// The database of a super-journal name as SQLite makes them (vdbeaux.c):
/// the database path, then `-mj`, six hex digits, `9`, two hex digits.
fn super_journal_of(path: &[u8]) -> Option<&[u8]> {
    let (db, suffix) = path.split_at_checked(path.len().checked_sub(12)?)?;
    let hex = |b: &[u8]| b.iter().all(u8::is_ascii_hexdigit);
    (suffix.starts_with(b"-mj") && hex(&suffix[3..9]) && suffix[9] == b'9' && hex(&suffix[10..]))
        .then_some(db)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_map_to_their_database() {
        assert_eq!(
            kind_of_path(b"/d/a.db-wal"),
            (FileKind::Wal, &b"/d/a.db"[..])
        );
        assert_eq!(
            kind_of_path(b"/d/a.db-journal"),
            (FileKind::MainJournal, &b"/d/a.db"[..])
        );
        assert_eq!(
            kind_of_path(b"/d/a.db-mj1F2E3D94C"),
            (FileKind::SuperJournal, &b"/d/a.db"[..])
        );
        // "-mj" elsewhere in a path is not a super-journal.
        assert_eq!(
            kind_of_path(b"/srv/app-mjml/data.db"),
            (FileKind::MainDb, &b"/srv/app-mjml/data.db"[..])
        );
        assert_eq!(
            kind_of_path(b"/d/a.db-mj1F2E3D4C"),
            (FileKind::MainDb, &b"/d/a.db-mj1F2E3D4C"[..]),
            "SQLite's names carry a 9 in the antepenultimate place"
        );
        assert_eq!(
            kind_of_path(b"/d/a.db"),
            (FileKind::MainDb, &b"/d/a.db"[..])
        );
    }

    #[test]
    fn open_flags_name_the_kind() {
        assert_eq!(kind_of(SQLITE_OPEN_MAIN_DB | 0x6), FileKind::MainDb);
        assert_eq!(kind_of(SQLITE_OPEN_WAL | 0x6), FileKind::Wal);
        assert_eq!(kind_of(SQLITE_OPEN_SUBJOURNAL), FileKind::Subjournal);
        assert_eq!(kind_of(0x6), FileKind::Other);
    }
}
