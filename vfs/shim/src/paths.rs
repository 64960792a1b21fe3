//! Path calls (xAccess, xDelete, xFullPathname) name their file by path,
//! not by handle: each needs the file kind and database row the path
//! belongs to, and the cell it records into. SQLite asks about the same
//! few paths over and over (every transaction checks `-journal` and
//! `-wal`), so each thread remembers the last few answers, checked against
//! the path's bytes on every use, and skips the search through the
//! database rows and the cell directory.
//!
//! Only answers that cannot change are kept: named database rows (rows are
//! never taken back) in the segment in use (a forked child has its own).

use crate::calls::{record_in, Timed};
use crate::vfs::kind_of_path;
use std::cell::RefCell;
use std::ffi::CStr;
use std::os::raw::c_char;
use vfscope_segment::{FileKind, Layout, Op, DB_NONE, MAX_DBS};

/// Paths kept per thread (a connection asks about 2; a few connections).
const ENTRIES: usize = 4;
/// Longer paths are looked up every time.
const PATH_BYTES: usize = 240;

/// The path ops that record through the memo (access, delete,
/// full_pathname: their slots in `Entry::cells`).
const OPS: usize = 3;

struct Entry {
    layout: *const Layout,
    /// The pointer SQLite passed last time (usually the same string of
    /// its pager every time): checked first, with one `strcmp`.
    name: *const c_char,
    len: usize,
    /// The path, NUL-terminated.
    path: [u8; PATH_BYTES + 1],
    kind: FileKind,
    db: u16,
    /// `Layout::cell_slot` handles per path op, 0 until known.
    cells: [u32; OPS],
}

struct Memo {
    entries: [Option<Box<Entry>>; ENTRIES],
    /// The entry the next new path replaces.
    next: usize,
}

thread_local! {
    static MEMO: RefCell<Memo> = const { RefCell::new(Memo { entries: [None, None, None, None], next: 0 }) };
}

/// The file kind and database row of `name` (`DB_NONE` when the database
/// is not known).
pub fn kind_and_db(layout: &Layout, name: *const c_char) -> (FileKind, u16) {
    if name.is_null() {
        return (FileKind::Other, DB_NONE);
    }
    MEMO.try_with(|m| {
        let mut m = m.borrow_mut();
        match m.lookup(layout, name) {
            Ok(i) => m.entries[i]
                .as_ref()
                .map_or((FileKind::Other, DB_NONE), |e| (e.kind, e.db)),
            Err(answer) => answer,
        }
    })
    .unwrap_or_else(|_| search(layout, path_of(name)))
}

/// The bytes of a non-NULL name from SQLite.
fn path_of<'a>(name: *const c_char) -> &'a [u8] {
    // SAFETY: a non-NULL name from SQLite is NUL-terminated and lives for
    // the call.
    unsafe { CStr::from_ptr(name) }.to_bytes()
}

/// Records a path call into its cell.
pub fn record(layout: &Layout, op: Op, name: *const c_char, call: Timed) {
    let slot = match op {
        Op::Access => 0,
        Op::Delete => 1,
        Op::FullPathname => 2,
        _ => usize::MAX,
    };
    if name.is_null() || slot == usize::MAX {
        let (kind, db) = kind_and_db(layout, name);
        let cell = layout.cell_ref(op, kind, db);
        return record_in(layout, cell, op, kind, db, call, 0, 0, 0);
    }
    let cached = MEMO
        .try_with(|m| {
            let mut m = m.borrow_mut();
            let i = m.lookup(layout, name).ok()?;
            let e = m.entries[i].as_mut()?;
            if e.cells[slot] == 0 {
                e.cells[slot] = layout.cell_slot(op, e.kind, e.db)?;
            }
            Some((e.kind, e.db, e.cells[slot]))
        })
        .ok()
        .flatten();
    match cached {
        Some((kind, db, cell)) => {
            record_in(layout, layout.cell_at(cell), op, kind, db, call, 0, 0, 0)
        }
        None => {
            let (kind, db) = search(layout, path_of(name));
            record_in(
                layout,
                layout.cell_ref(op, kind, db),
                op,
                kind,
                db,
                call,
                0,
                0,
                0,
            )
        }
    }
}

/// The search the memo saves: the path's kind, then its database's row.
fn search(layout: &Layout, path: &[u8]) -> (FileKind, u16) {
    let (kind, db) = kind_of_path(path);
    (kind, layout.known_db(db).unwrap_or(DB_NONE))
}

impl Memo {
    /// The entry of the non-NULL `name`, added when it can be kept; else
    /// the answer of a search.
    #[inline]
    fn lookup(&mut self, layout: &Layout, name: *const c_char) -> Result<usize, (FileKind, u16)> {
        let same = self.entries.iter().position(|e| {
            e.as_ref().is_some_and(|e| {
                e.name == name
                    && std::ptr::eq(e.layout, layout)
                    // SAFETY: both are NUL-terminated (SQLite's contract,
                    // and `path` by construction); strcmp stops at the
                    // first difference, so neither is read past its end.
                    && unsafe { libc::strcmp(name, e.path.as_ptr().cast()) } == 0
            })
        });
        if let Some(i) = same {
            return Ok(i);
        }
        let i = self.find_or_add(layout, path_of(name))?;
        if let Some(e) = self.entries[i].as_mut() {
            e.name = name;
        }
        Ok(i)
    }

    /// The index of `path`'s entry, added when it can be kept; else the
    /// answer of a search.
    fn find_or_add(&mut self, layout: &Layout, path: &[u8]) -> Result<usize, (FileKind, u16)> {
        let found = self.entries.iter().position(|e| {
            e.as_ref().is_some_and(|e| {
                std::ptr::eq(e.layout, layout) && e.len == path.len() && e.path[..e.len] == *path
            })
        });
        if let Some(i) = found {
            return Ok(i);
        }
        let (kind, db) = search(layout, path);
        if path.len() > PATH_BYTES || db as usize >= MAX_DBS {
            return Err((kind, db));
        }
        let i = self.next;
        {
            {
                let mut entry = Box::new(Entry {
                    layout,
                    name: std::ptr::null(),
                    len: path.len(),
                    path: [0; PATH_BYTES + 1],
                    kind,
                    db,
                    cells: [0; OPS],
                });
                entry.path[..path.len()].copy_from_slice(path);
                self.entries[i] = Some(entry);
                self.next = (i + 1) % ENTRIES;
            }
        }
        Ok(i)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::ffi::CString;
    use vfscope_segment::{ProcessMeta, SegmentWriter};

    #[test]
    fn a_reused_pointer_with_another_path_is_looked_up_again() {
        let segment =
            SegmentWriter::anonymous(&ProcessMeta::current("3.40.1", 10_000_000, 4096)).unwrap();
        let layout = segment.layout();
        let (a, b) = (layout.db_index(b"/d/a.db"), layout.db_index(b"/d/b.db"));
        assert_ne!(a, b);
        // One buffer, as SQLite might reuse a freed string's memory.
        let mut buf = CString::new("/d/a.db-journal")
            .unwrap()
            .into_bytes_with_nul();
        let name = buf.as_ptr().cast::<c_char>();
        assert_eq!(kind_and_db(layout, name), (FileKind::MainJournal, a));
        assert_eq!(
            kind_and_db(layout, name),
            (FileKind::MainJournal, a),
            "remembered"
        );
        buf[..15].copy_from_slice(b"/d/b.db-journal");
        assert_eq!(kind_and_db(layout, name), (FileKind::MainJournal, b));
        buf[..10].copy_from_slice(b"/d/b.db-wa");
        buf[10] = b'l';
        buf[11] = 0;
        assert_eq!(kind_and_db(layout, name), (FileKind::Wal, b));
        // Another pointer to a path already known finds its entry by content.
        let other = CString::new("/d/a.db-journal").unwrap();
        assert_eq!(
            kind_and_db(layout, other.as_ptr()),
            (FileKind::MainJournal, a)
        );
        // A database nobody opened has no row, and is not remembered.
        let unknown = CString::new("/d/c.db-wal").unwrap();
        assert_eq!(
            kind_and_db(layout, unknown.as_ptr()),
            (FileKind::Wal, DB_NONE)
        );
    }
}
