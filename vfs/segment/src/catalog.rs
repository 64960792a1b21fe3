//! Which databases get a named row. The first [`ROWS_AT_OPEN`] databases
//! opened get one at once (a small process sees all its databases named);
//! later ones start in the overflow ("other") row with an entry in the
//! catalog, which counts their calls, and one that makes [`PROMOTE_AFTER`]
//! of them gets one of the remaining rows while any is free (its files
//! move there at their next call). So a database that becomes busy after thousands of idle ones is
//! still named. A row is never taken back: what a database did before its
//! promotion stays in "other", what it does after goes to its row, and the
//! rows always add up to the totals.

use crate::layout::*;
use std::sync::atomic::Ordering::*;

const FREE: u32 = 0;
const WRITING: u32 = 1;
const READY: u32 = 2;

/// No catalog entry (a named row at open, no path, or a full catalog).
pub const NO_ENTRY: u32 = u32::MAX;

/// 64-bit FNV-1a of a path: the catalog's key (collisions among 16,384
/// paths: about one in 10^11).
fn path_hash(path: &[u8]) -> u64 {
    let hash = path.iter().fold(0xcbf2_9ce4_8422_2325u64, |h, &b| {
        (h ^ b as u64).wrapping_mul(0x100_0000_01b3)
    });
    // 0 marks a free entry's hash.
    hash.max(1)
}

impl Layout {
    /// The row of the database at `path` and its catalog entry: a named row
    /// (found, or given now while rows given at open remain), else the
    /// overflow row with the entry that counts its activity.
    pub fn resolve_db(&self, path: &[u8]) -> (u16, u32) {
        if let Some(row) = self.find_db(path) {
            return (row, NO_ENTRY);
        }
        let hash = path_hash(path);
        if let Some(entry) = self.find_entry(hash) {
            let row = self.entry_row(entry);
            return (row, self.entry_if_promotable(row, entry));
        }
        if let Some(row) = self.claim_row(path, ROWS_AT_OPEN) {
            return (row, NO_ENTRY);
        }
        match self.insert_entry(hash) {
            Some(entry) => {
                let row = self.entry_row(entry);
                (row, self.entry_if_promotable(row, entry))
            }
            None => {
                self.header.db_overflow.fetch_add(1, Relaxed);
                (DB_OVERFLOW, NO_ENTRY)
            }
        }
    }

    /// The row of an already known database (named, or in the catalog),
    /// without claiming anything.
    pub fn known_db(&self, path: &[u8]) -> Option<u16> {
        self.find_db(path).or_else(|| {
            let entry = self.find_entry(path_hash(path))?;
            Some(self.entry_row(entry))
        })
    }

    /// The entry a file of a database in "other" keeps to count its calls:
    /// none once the database has a row or no row can come any more.
    fn entry_if_promotable(&self, row: u16, entry: u32) -> u32 {
        if row == DB_OVERFLOW && !self.rows_full() {
            entry
        } else {
            NO_ENTRY
        }
    }

    /// Every named row is taken: no database can be promoted any more.
    #[inline]
    pub fn rows_full(&self) -> bool {
        self.header.rows_full.load(Relaxed) != 0
    }

    /// The row catalog entry `entry` has now.
    #[inline]
    pub fn entry_row(&self, entry: u32) -> u16 {
        match self
            .catalog
            .get(entry as usize)
            .map(|e| e.row.load(Acquire))
        {
            Some(row) if row != WRITING_ROW => row as u16,
            _ => DB_OVERFLOW,
        }
    }

    /// A call on the database of `entry` (at `path`), which has no row yet:
    /// counts it, and gives the database a free row once it has made
    /// [`PROMOTE_AFTER`]. Returns the row it has now.
    pub fn note_unnamed_call(&self, entry: u32, path: &[u8]) -> u16 {
        let Some(e) = self.catalog.get(entry as usize) else {
            return DB_OVERFLOW;
        };
        if self.rows_full() {
            return self.entry_row(entry);
        }
        let seen = e.activity.fetch_add(1, Relaxed) + 1;
        if seen >= PROMOTE_AFTER && e.row.load(Acquire) == DB_OVERFLOW as u32 {
            // One promotion per entry: the first to move it off OVERFLOW.
            if e.row
                .compare_exchange(DB_OVERFLOW as u32, WRITING_ROW, AcqRel, Acquire)
                .is_ok()
            {
                match self.claim_row(path, MAX_DBS) {
                    Some(row) => {
                        e.row.store(row as u32, Release);
                        self.header.other_dbs.fetch_sub(1, Relaxed);
                    }
                    None => {
                        self.header.rows_full.store(1, Relaxed);
                        e.row.store(DB_OVERFLOW as u32, Release);
                    }
                }
            }
        }
        match e.row.load(Acquire) {
            WRITING_ROW => DB_OVERFLOW,
            row => row as u16,
        }
    }

    /// A forked child's segment: the parent's catalog, so the files it
    /// inherited keep their entries (the rows are inherited at the same
    /// indices).
    pub(crate) fn inherit_catalog(&self, parent: &Layout) {
        if parent.header.catalog_entries.load(Acquire) == 0 {
            return;
        }
        for (mine, theirs) in self.catalog.iter().zip(parent.catalog.iter()) {
            if theirs.state.load(Acquire) != READY {
                continue;
            }
            mine.hash.store(theirs.hash.load(Relaxed), Relaxed);
            mine.row.store(theirs.row.load(Relaxed), Relaxed);
            mine.state.store(READY, Release);
        }
        self.header
            .other_dbs
            .store(parent.header.other_dbs.load(Relaxed), Relaxed);
        self.header
            .catalog_entries
            .store(parent.header.catalog_entries.load(Relaxed), Relaxed);
    }

    fn find_entry(&self, hash: u64) -> Option<u32> {
        let start = (hash as usize) % CATALOG;
        for i in 0..MAX_PROBE {
            let at = (start + i) % CATALOG;
            let e = &self.catalog[at];
            match e.state.load(Acquire) {
                FREE => return None,
                READY if e.hash.load(Relaxed) == hash => return Some(at as u32),
                READY => {}
                // Being written: it may be this one; wait for it.
                _ => {
                    while e.state.load(Acquire) == WRITING {
                        std::hint::spin_loop();
                    }
                    if e.hash.load(Relaxed) == hash {
                        return Some(at as u32);
                    }
                }
            }
        }
        None
    }

    fn insert_entry(&self, hash: u64) -> Option<u32> {
        let start = (hash as usize) % CATALOG;
        for i in 0..MAX_PROBE {
            let at = (start + i) % CATALOG;
            let e = &self.catalog[at];
            if e.state
                .compare_exchange(FREE, WRITING, Acquire, Relaxed)
                .is_ok()
            {
                e.hash.store(hash, Relaxed);
                e.row.store(DB_OVERFLOW as u32, Relaxed);
                e.state.store(READY, Release);
                self.header.other_dbs.fetch_add(1, Relaxed);
                self.header.catalog_entries.fetch_add(1, Relaxed);
                return Some(at as u32);
            }
            while e.state.load(Acquire) == WRITING {
                std::hint::spin_loop();
            }
            if e.hash.load(Relaxed) == hash {
                return Some(at as u32);
            }
        }
        None
    }
}

/// Entries a lookup or an insert probes at most: a full (or crowded)
/// catalog costs a bounded search, and a database that finds no room is
/// counted in the header's `db_overflow`.
const MAX_PROBE: usize = 64;

/// A catalog entry's row while its promotion is being decided.
const WRITING_ROW: u32 = u32::MAX;

#[cfg(test)]
mod tests {
    use super::*;

    fn layout() -> Box<Layout> {
        // SAFETY: an all-zero Layout is valid (atomics and byte arrays).
        unsafe { Box::new_zeroed().assume_init() }
    }

    #[test]
    fn late_busy_databases_get_a_row_and_idle_ones_stay_other() {
        let l = layout();
        let mut entries = Vec::new();
        for i in 0..1000 {
            let path = format!("/d/idle{i}.db");
            let (row, entry) = l.resolve_db(path.as_bytes());
            if i < ROWS_AT_OPEN {
                assert_eq!((row, entry), (i as u16, NO_ENTRY));
            } else {
                assert_eq!(row, DB_OVERFLOW);
                assert_ne!(entry, NO_ENTRY);
                entries.push(entry);
            }
        }
        assert_eq!(l.header.other_dbs.load(Relaxed), 1000 - ROWS_AT_OPEN as u64);
        // The same path finds the same entry.
        assert_eq!(
            l.resolve_db(b"/d/idle500.db").1,
            entries[500 - ROWS_AT_OPEN]
        );
        let (row, busy) = l.resolve_db(b"/d/busy.db");
        assert_eq!(row, DB_OVERFLOW);
        for _ in 0..PROMOTE_AFTER - 1 {
            assert_eq!(l.note_unnamed_call(busy, b"/d/busy.db"), DB_OVERFLOW);
        }
        let named = l.note_unnamed_call(busy, b"/d/busy.db");
        assert_eq!(named as usize, ROWS_AT_OPEN);
        assert_eq!(l.db_info(named).unwrap().path, "/d/busy.db");
        assert_eq!(l.resolve_db(b"/d/busy.db"), (named, NO_ENTRY));
        assert_eq!(l.entry_row(busy), named);
        assert_eq!(l.header.other_dbs.load(Relaxed), 1000 - ROWS_AT_OPEN as u64);
    }
}
