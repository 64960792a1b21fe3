//! The SQLite copies of a process (see [`CopyEntry`]): who they are, how
//! vfscope reached them, and the calls that came through each.

use crate::layout::{
    CopyEntry, Layout, COPY_NOTE_BYTES, COPY_OBJECT_BYTES, COPY_SOURCE_ID_BYTES, MAX_COPIES,
    MAX_DBS,
};
use crate::record::{load_words, store_words};
use crate::snapshot::{CellStats, DbInfo};
use std::sync::atomic::Ordering::*;

const WRITING: u32 = 1;
const READY: u32 = 2;

/// Whether vfscope records a copy's calls.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CopyStatus {
    /// vfscope is (or becomes, at the copy's next open) its default VFS.
    Traced = 1,
    /// Found but not reachable: the host runs it exactly as without vfscope.
    Unreachable = 2,
}

/// How vfscope reaches a copy.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CopyAccess {
    /// Its exported `sqlite3_open*` (`.dynsym`) hooked in place.
    Exported = 1,
    /// Its local `sqlite3_open*` (`.symtab` only) hooked in place.
    Local = 2,
    /// Loaded as a SQLite extension into it.
    Extension = 3,
    /// A Rust app registered vfscope with the SQLite it links.
    Linked = 4,
    /// Not reached (see the note).
    None = 5,
}

impl CopyAccess {
    /// The name reports use.
    pub fn name(self) -> &'static str {
        match self {
            CopyAccess::Exported => "hooked (exported sqlite3_open*)",
            CopyAccess::Local => "hooked (symbol table)",
            CopyAccess::Extension => "loadable extension",
            CopyAccess::Linked => "library mode",
            CopyAccess::None => "not reached",
        }
    }

    fn from_u32(v: u32) -> CopyAccess {
        match v {
            1 => CopyAccess::Exported,
            2 => CopyAccess::Local,
            3 => CopyAccess::Extension,
            4 => CopyAccess::Linked,
            _ => CopyAccess::None,
        }
    }
}

/// One copy as a reader sees it (and as the writer describes it: the
/// counters are then ignored).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CopyInfo {
    pub index: u16,
    pub status: CopyStatus,
    pub access: CopyAccess,
    /// The object the copy lives in (its tail when longer than the table
    /// keeps).
    pub object: String,
    /// Empty while unknown.
    pub version: String,
    pub source_id: String,
    /// Why it could not be reached, and the way out.
    pub note: String,
    /// Calls on the databases that only this copy opened (readers derive
    /// it from the database table; a database two copies opened counts for
    /// neither, and its row names both).
    pub calls: u64,
    /// Files opened through this copy.
    pub opens: u64,
}

impl Layout {
    /// Writes copy `index`'s identity. A second description of the same
    /// index replaces the first (a copy found unreachable at first may be
    /// reached later, through the extension).
    pub fn publish_copy(&self, copy: &CopyInfo) {
        let Some(e) = self.copies.get(copy.index as usize) else {
            return;
        };
        e.state.store(WRITING, Release);
        let object = copy.object.as_bytes();
        let kept = &object[object.len().saturating_sub(COPY_OBJECT_BYTES - 1)..];
        e.object_len.store(object.len() as u32, Relaxed);
        store_words(&e.object, &padded::<COPY_OBJECT_BYTES>(kept));
        store_words(&e.version, &padded::<32>(copy.version.as_bytes()));
        store_words(
            &e.source_id,
            &padded::<COPY_SOURCE_ID_BYTES>(copy.source_id.as_bytes()),
        );
        store_words(&e.note, &padded::<COPY_NOTE_BYTES>(copy.note.as_bytes()));
        e.status.store(copy.status as u32, Relaxed);
        e.access.store(copy.access as u32, Relaxed);
        e.state.store(READY, Release);
    }

    /// Counts a file opened through copy `index`, of database `db`.
    pub fn count_copy_open(&self, index: u16, db: u16) {
        if let Some(e) = self.copies.get(index as usize) {
            e.opens.fetch_add(1, Relaxed);
        }
        if let (Some(row), true) = (self.dbs.get(db as usize), (index as usize) < 32) {
            row.copies.fetch_or(1 << index, Relaxed);
        }
    }

    /// Every copy described so far.
    pub fn copies(&self) -> Vec<CopyInfo> {
        (0..MAX_COPIES)
            .filter_map(|i| copy_info(&self.copies[i], i as u16))
            .collect()
    }

    /// A forked child's segment: the parent's copies (their identities; the
    /// counters start again at zero, as every other counter does).
    pub(crate) fn inherit_copies(&self, parent: &Layout) {
        for copy in parent.copies() {
            self.publish_copy(&copy);
        }
    }
}

fn copy_info(e: &CopyEntry, index: u16) -> Option<CopyInfo> {
    if e.state.load(Acquire) != READY {
        return None;
    }
    let text = |words: &[std::sync::atomic::AtomicU64], len: usize| {
        let bytes = load_words(words, len);
        let end = bytes.iter().position(|&b| b == 0).unwrap_or(bytes.len());
        String::from_utf8_lossy(&bytes[..end]).into_owned()
    };
    let object_len = (e.object_len.load(Relaxed) as usize).min(COPY_OBJECT_BYTES);
    let info = CopyInfo {
        index,
        status: match e.status.load(Relaxed) {
            1 => CopyStatus::Traced,
            _ => CopyStatus::Unreachable,
        },
        access: CopyAccess::from_u32(e.access.load(Relaxed)),
        object: text(&e.object, object_len),
        version: text(&e.version, 32),
        source_id: text(&e.source_id, COPY_SOURCE_ID_BYTES),
        note: text(&e.note, COPY_NOTE_BYTES),
        calls: 0,
        opens: e.opens.load(Relaxed),
    };
    // A description replaced while we read: take it next time.
    (e.state.load(Acquire) == READY).then_some(info)
}

/// Fills in each copy's calls: those on the databases it alone opened.
pub(crate) fn with_calls(
    mut copies: Vec<CopyInfo>,
    dbs: &[DbInfo],
    cells: &[CellStats],
) -> Vec<CopyInfo> {
    if copies.is_empty() {
        return copies;
    }
    // The one copy that opened each database, if only one did.
    let mut only = [None; MAX_DBS];
    for d in dbs {
        if d.copies.is_power_of_two() {
            if let Some(slot) = only.get_mut(d.index as usize) {
                *slot = Some(d.copies.trailing_zeros() as u16);
            }
        }
    }
    let mut calls = [0u64; MAX_COPIES];
    for c in cells {
        if let Some(Some(copy)) = only.get(c.db as usize) {
            calls[*copy as usize % MAX_COPIES] += c.calls();
        }
    }
    for copy in &mut copies {
        copy.calls = calls.get(copy.index as usize).copied().unwrap_or(0);
    }
    copies
}

/// `bytes` cut to `N - 1` and NUL-padded to `N`.
fn padded<const N: usize>(bytes: &[u8]) -> [u8; N] {
    let mut out = [0u8; N];
    let n = bytes.len().min(N - 1);
    out[..n].copy_from_slice(&bytes[..n]);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn layout() -> Box<Layout> {
        // SAFETY: an all-zero Layout is valid (atomics and byte arrays).
        unsafe { Box::new_zeroed().assume_init() }
    }

    #[test]
    fn copies_round_trip_and_count() {
        let l = layout();
        let copy = CopyInfo {
            index: 3,
            status: CopyStatus::Traced,
            access: CopyAccess::Local,
            object: format!("/very/{}/long/_sqlite3.so", "x".repeat(300)),
            version: "3.51.1".into(),
            source_id: "2025-11-28 17:28:25 abcdef".into(),
            note: String::new(),
            calls: 0,
            opens: 0,
        };
        l.publish_copy(&copy);
        let db = l.db_index(b"/d/app.db");
        l.count_copy_open(3, db);
        l.count_copy_open(99, db);
        let seen = l.copies();
        assert_eq!(seen.len(), 1);
        assert_eq!(seen[0].opens, 1);
        assert_eq!(seen[0].version, "3.51.1");
        assert!(seen[0].object.ends_with("/long/_sqlite3.so"));
        assert_eq!(seen[0].object.len(), COPY_OBJECT_BYTES - 1);
        assert_eq!(l.dbs[db as usize].copies.load(Relaxed), 1 << 3);
    }
}
