//! The name a main database is opened with, as the VFS below vfscope sees
//! it.
//!
//! The LD_PRELOAD library reaches a VFS named in a URI by appending its own
//! `&vfs=vfscope-NAME` to the query (SQLite opens with the last `vfs=`).
//! A VFS that lists every parameter of its database (SQLite's testvfs,
//! apsw's `URIFilename`) would see that one too, so the main database is
//! opened below vfscope with a copy of SQLite's filename without it.
//!
//! The copy has the layout SQLite gives a main database's name since
//! 3.32 (pager.c): the pager's address, four zero bytes, the name, the
//! query parameters (key, value, ...; an empty key ends them), the journal
//! name, the WAL name, zero bytes; `sqlite3_uri_parameter`,
//! `sqlite3_filename_journal` and `sqlite3_database_file_object` work on
//! it as on SQLite's own. It lives as long as the file (the VFS may keep
//! the pointer until xClose).

use std::ffi::CStr;
use std::os::raw::c_char;

/// What comes before the name: the pager's address and four zero bytes.
const PREFIX: usize = std::mem::size_of::<usize>() + 4;

/// A copy of the filename block of the main database `name` without its
/// last query parameter when that is `vfs=ours`; `None` when there is
/// nothing to take out. The name to pass is `copy[PREFIX..]`, see
/// [`name_in`].
///
/// # Safety
/// `name` is what SQLite 3.32 or later passes to xOpen for a main
/// database: a name in a filename block laid out as above.
pub unsafe fn without_own_vfs(name: *const c_char, ours: &CStr) -> Option<Box<[u8]>> {
    // SAFETY: per the contract, the prefix precedes the name.
    let prefix = unsafe { std::slice::from_raw_parts(name.cast::<u8>().sub(PREFIX), PREFIX) };
    if prefix[PREFIX - 4..] != [0; 4] {
        return None;
    }
    // SAFETY: per the contract, NUL-terminated strings follow one another
    // up to the terminating zero bytes: read one at a time.
    let next = |at: *const u8| unsafe { CStr::from_ptr(at.cast()).to_bytes() };
    let db = next(name.cast());
    let mut params: Vec<(&[u8], &[u8])> = Vec::new();
    // SAFETY (pointer steps): each lands on the byte after a terminator
    // just read, inside the block.
    let mut at = unsafe { name.cast::<u8>().add(db.len() + 1) };
    loop {
        let key = next(at);
        at = unsafe { at.add(key.len() + 1) };
        if key.is_empty() {
            break;
        }
        let value = next(at);
        at = unsafe { at.add(value.len() + 1) };
        params.push((key, value));
    }
    if params.last() != Some(&(&b"vfs"[..], ours.to_bytes())) {
        return None;
    }
    params.pop();
    let journal = next(at);
    at = unsafe { at.add(journal.len() + 1) };
    let wal = next(at);
    let mut copy = Vec::with_capacity(PREFIX + db.len() + journal.len() + wal.len() + 64);
    copy.extend_from_slice(prefix);
    for part in [db]
        .into_iter()
        .chain(params.iter().flat_map(|(k, v)| [*k, *v]))
    {
        copy.extend_from_slice(part);
        copy.push(0);
    }
    copy.push(0);
    for part in [journal, wal] {
        copy.extend_from_slice(part);
        copy.push(0);
    }
    copy.extend_from_slice(&[0; 4]);
    Some(copy.into_boxed_slice())
}

/// The name inside a copy [`without_own_vfs`] made.
pub fn name_in(copy: &[u8]) -> *const c_char {
    copy[PREFIX..].as_ptr().cast()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A block as SQLite 3.32+ lays it out, and the offset of the name.
    fn block(pager: usize, parts: &[&str]) -> (Vec<u8>, usize) {
        let mut b = pager.to_ne_bytes().to_vec();
        b.extend_from_slice(&[0; 4]);
        for p in parts {
            b.extend_from_slice(p.as_bytes());
            b.push(0);
        }
        b.extend_from_slice(&[0; 3]);
        (b, PREFIX)
    }

    fn strings(from: &[u8]) -> Vec<String> {
        from.split(|&b| b == 0)
            .map(|s| String::from_utf8_lossy(s).into_owned())
            .collect()
    }

    #[test]
    fn the_appended_vfs_is_taken_out_and_the_rest_kept() {
        let (b, at) = block(
            0xdead_beef,
            &[
                "/d/t.db",
                "hello",
                "1",
                "vfs",
                "tvfs",
                "vfs",
                "vfscope-tvfs",
                "",
                "/d/t.db-journal",
                "/d/t.db-wal",
            ],
        );
        // SAFETY: a block laid out as SQLite does, name at `at`.
        let copy = unsafe { without_own_vfs(b[at..].as_ptr().cast(), c"vfscope-tvfs") }.unwrap();
        assert_eq!(
            copy[..PREFIX],
            b[..PREFIX],
            "the pager's address and the zeros"
        );
        let name = name_in(&copy);
        assert_eq!(name as usize - copy.as_ptr() as usize, PREFIX);
        assert_eq!(
            strings(&copy[PREFIX..])[..8],
            [
                "/d/t.db",
                "hello",
                "1",
                "vfs",
                "tvfs",
                "",
                "/d/t.db-journal",
                "/d/t.db-wal"
            ]
        );
        assert!(copy.ends_with(&[0, 0, 0, 0, 0]));
    }

    #[test]
    fn names_without_it_are_left_alone() {
        for parts in [
            &[
                "/d/t.db",
                "vfs",
                "tvfs",
                "",
                "/d/t.db-journal",
                "/d/t.db-wal",
            ][..],
            &[
                "/d/t.db",
                "vfs",
                "vfscope-tvfs",
                "mode",
                "ro",
                "",
                "/d/t.db-journal",
                "/d/t.db-wal",
            ],
            &["/d/t.db", "", "/d/t.db-journal", "/d/t.db-wal"],
        ] {
            let (b, at) = block(1, parts);
            // SAFETY: as above.
            assert!(unsafe { without_own_vfs(b[at..].as_ptr().cast(), c"vfscope-tvfs") }.is_none());
        }
        // No zero prefix (not a 3.32+ main database name).
        let mut b = vec![1u8; PREFIX];
        b.extend_from_slice(b"/d/t.db\0vfs\0vfscope-tvfs\0\0\0\0\0");
        // SAFETY: readable bytes before and after the name.
        assert!(unsafe { without_own_vfs(b[PREFIX..].as_ptr().cast(), c"vfscope-tvfs") }.is_none());
    }
}
