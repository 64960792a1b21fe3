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
use crate::kinds::kind_of_path;
use std::cell::RefCell;
use std::ffi::CStr;
use std::os::raw::c_char;
use vfscope_segment::{CellRef, FileKind, Layout, Op, DB_NONE, MAX_DBS};

/// Paths kept per thread (a connection asks about 2; a few connections).
const ENTRIES: usize = 4;
/// Longer paths are looked up every time.
const PATH_BYTES: usize = 240;

/// The path ops that record through the memo (access, delete,
/// full_pathname: their slots in `Entry::cells`).
const OPS: usize = 3;

/// One remembered path. Inline and free of destructors, so the
/// thread-local needs no registration or liveness check on access.
struct Entry {
    /// The segment the answer belongs to; null for an empty entry.
    layout: *const Layout,
    /// The pointer SQLite passed last time (usually the same string of
    /// its pager every time): checked first, with one `strcmp`.
    name: *const c_char,
    kind: FileKind,
    db: u16,
    /// The cell of each path op, once looked up.
    cells: [Option<CellRef<'static>>; OPS],
    len: usize,
    /// The path, NUL-terminated.
    path: [u8; PATH_BYTES + 1],
}

impl Entry {
    const EMPTY: Entry = Entry {
        layout: std::ptr::null(),
        name: std::ptr::null(),
        kind: FileKind::Other,
        db: DB_NONE,
        cells: [None; OPS],
        len: 0,
        path: [0; PATH_BYTES + 1],
    };

    /// Whether this entry holds `name`, passed again at the same address:
    /// the pointer first, then the bytes (the memory may have been reused
    /// for another path).
    #[inline(always)]
    fn is(&self, layout: &Layout, name: *const c_char) -> bool {
        self.name == name
            && std::ptr::eq(self.layout, layout)
            // SAFETY: both are NUL-terminated (SQLite's contract, and
            // `path` by construction); strcmp stops at the first
            // difference, so neither is read past its end.
            && unsafe { libc::strcmp(name, self.path.as_ptr().cast()) } == 0
    }
}

struct Memo {
    entries: [Entry; ENTRIES],
    /// The entry the next new path replaces.
    next: usize,
}

thread_local! {
    static MEMO: RefCell<Memo> = const {
        RefCell::new(Memo { entries: [Entry::EMPTY; ENTRIES], next: 0 })
    };
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
            Ok(i) => (m.entries[i].kind, m.entries[i].db),
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

/// The op's slot in `Entry::cells`, for the ops that record through the
/// memo.
#[inline(always)]
fn slot_of(op: Op) -> Option<usize> {
    match op {
        Op::Access => Some(0),
        Op::Delete => Some(1),
        Op::FullPathname => Some(2),
        _ => None,
    }
}

/// Records a path call into its cell: a remembered path passed again at
/// the same address (the usual case) costs one pass over the entries and
/// one `strcmp`; anything else is looked up.
#[inline]
pub fn record(layout: &'static Layout, op: Op, name: *const c_char, call: Timed) {
    let Some(slot) = slot_of(op) else {
        return record_uncached(layout, op, name, call);
    };
    let hit = MEMO
        .try_with(|m| {
            let m = m.borrow();
            let e = m.entries.iter().find(|e| e.is(layout, name))?;
            Some((e.kind, e.db, e.cells[slot]?))
        })
        .ok()
        .flatten();
    match hit {
        Some((kind, db, cell)) => record_in(layout, cell, op, kind, db, call, 0, 0, 0),
        None => record_uncached(layout, op, name, call),
    }
}

/// A path call the memo did not answer: found (and remembered when it can
/// be kept), then recorded.
#[cold]
#[inline(never)]
fn record_uncached(layout: &'static Layout, op: Op, name: *const c_char, call: Timed) {
    let slot = slot_of(op);
    let remembered = (!name.is_null())
        .then(|| {
            MEMO.try_with(|m| {
                let mut m = m.borrow_mut();
                let i = m.lookup(layout, name).ok()?;
                let e = &mut m.entries[i];
                if let Some(slot) = slot {
                    if e.cells[slot].is_none() {
                        e.cells[slot] = layout
                            .cell_slot(op, e.kind, e.db)
                            .map(|c| layout.cell_at(c));
                    }
                }
                Some((e.kind, e.db, slot.and_then(|s| e.cells[s])))
            })
            .ok()
            .flatten()
        })
        .flatten();
    let (kind, db, cell) = match remembered {
        Some(answer) => answer,
        None if name.is_null() => (FileKind::Other, DB_NONE, None),
        None => {
            let (kind, db) = search(layout, path_of(name));
            (kind, db, None)
        }
    };
    let cell = cell.unwrap_or_else(|| layout.cell_ref(op, kind, db));
    record_in(layout, cell, op, kind, db, call, 0, 0, 0);
}

/// The search the memo saves: the path's kind, then its database's row.
fn search(layout: &Layout, path: &[u8]) -> (FileKind, u16) {
    let (kind, db) = kind_of_path(path);
    (kind, layout.known_db(db).unwrap_or(DB_NONE))
}

impl Memo {
    /// The entry of the non-NULL `name`, added when it can be kept; else
    /// the answer of a search.
    fn lookup(&mut self, layout: &Layout, name: *const c_char) -> Result<usize, (FileKind, u16)> {
        if let Some(i) = self.entries.iter().position(|e| e.is(layout, name)) {
            return Ok(i);
        }
        let i = self.find_or_add(layout, path_of(name))?;
        self.entries[i].name = name;
        Ok(i)
    }

    /// The index of `path`'s entry, added when it can be kept; else the
    /// answer of a search.
    fn find_or_add(&mut self, layout: &Layout, path: &[u8]) -> Result<usize, (FileKind, u16)> {
        let found = self.entries.iter().position(|e| {
            std::ptr::eq(e.layout, layout) && e.len == path.len() && e.path[..e.len] == *path
        });
        if let Some(i) = found {
            return Ok(i);
        }
        let (kind, db) = search(layout, path);
        if path.len() > PATH_BYTES || db as usize >= MAX_DBS {
            return Err((kind, db));
        }
        let i = self.next;
        let e = &mut self.entries[i];
        *e = Entry {
            layout,
            kind,
            db,
            len: path.len(),
            ..Entry::EMPTY
        };
        e.path[..path.len()].copy_from_slice(path);
        self.next = (i + 1) % ENTRIES;
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
