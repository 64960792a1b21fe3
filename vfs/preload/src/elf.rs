//! Just enough ELF64 to find a SQLite copy in a loaded object: its program
//! headers (to check the file on disk is the object in memory), its symbol
//! tables (`.dynsym` and `.symtab`, local symbols included) and its
//! read-only data (SQLite's header string, to notice a stripped copy).
//!
//! Everything is read from the file, mapped read-only; nothing here
//! touches the process's own copy of the object.

use crate::unreachable::Unreachable;
use std::fs::File;
use std::path::Path;

/// The SQLite functions vfscope looks for, in [`Symbols`] order.
pub const WANTED: [&str; 19] = [
    "sqlite3_open",
    "sqlite3_open_v2",
    "sqlite3_open16",
    "sqlite3_vfs_find",
    "sqlite3_vfs_register",
    "sqlite3_libversion",
    "sqlite3_sourceid",
    "sqlite3_malloc64",
    "sqlite3_free",
    "sqlite3_close",
    "sqlite3_close_v2",
    "sqlite3_version",
    "openDatabase",
    "sqlite3_vfs_unregister",
    "sqlite3_exec",
    "sqlite3_mutex_alloc",
    "sqlite3_mutex_enter",
    "sqlite3_mutex_leave",
    "sqlite3_file_control",
];

/// Index of each wanted name in [`WANTED`].
pub mod sym {
    pub const OPEN: usize = 0;
    pub const OPEN_V2: usize = 1;
    pub const OPEN16: usize = 2;
    pub const VFS_FIND: usize = 3;
    pub const VFS_REGISTER: usize = 4;
    pub const LIBVERSION: usize = 5;
    pub const SOURCEID: usize = 6;
    pub const MALLOC64: usize = 7;
    pub const FREE: usize = 8;
    pub const CLOSE: usize = 9;
    pub const CLOSE_V2: usize = 10;
    /// `const char sqlite3_version[]`, data.
    pub const VERSION: usize = 11;
    /// The static function every `sqlite3_open*` ends in (`.symtab` only).
    pub const OPEN_DATABASE: usize = 12;
    pub const VFS_UNREGISTER: usize = 13;
    pub const EXEC: usize = 14;
    pub const MUTEX_ALLOC: usize = 15;
    pub const MUTEX_ENTER: usize = 16;
    pub const MUTEX_LEAVE: usize = 17;
    pub const FILE_CONTROL: usize = 18;
}

/// One defined symbol: its address relative to the load bias, its size,
/// and whether the dynamic symbol table exports it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Symbol {
    pub value: u64,
    pub size: u64,
    pub exported: bool,
}

/// What one object holds of [`WANTED`].
pub type Symbols = [Option<Symbol>; WANTED.len()];

/// One `PT_LOAD` segment: where it lives in memory (relative) and in the
/// file.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Load {
    pub vaddr: u64,
    pub memsz: u64,
    pub offset: u64,
    pub filesz: u64,
    pub flags: u32,
}

/// An object file, mapped.
pub struct Elf {
    map: memmap2::Mmap,
}

/// Why an object could not be read as the kind of ELF this build hooks.
#[derive(Debug, PartialEq, Eq)]
pub enum Unsupported {
    NotElf,
    /// Another class, byte order or machine; the text says which.
    Architecture(String),
    Damaged(&'static str),
}

const EM_X86_64: u16 = 62;
const PT_LOAD: u32 = 1;
const PT_NOTE: u32 = 4;
const NT_GNU_BUILD_ID: u32 = 3;
const SHT_SYMTAB: u32 = 2;
const SHT_DYNSYM: u32 = 11;
const STT_OBJECT: u8 = 1;
const STT_FUNC: u8 = 2;
const SHN_UNDEF: u16 = 0;
const STB_LOCAL: u8 = 0;

impl Elf {
    pub fn open(path: &Path) -> std::io::Result<Elf> {
        let file = File::open(path)?;
        // SAFETY: a read-only private mapping. Rewritten under us, it reads
        // as garbage, which every parser below bounds-checks, and the
        // build-id and segment comparisons then refuse the object.
        // Truncated under us, an access past the new end raises SIGBUS: the
        // files mapped here are those the process itself has loaded (and
        // pages in from), so a truncation would equally crash its own use.
        let map = unsafe { memmap2::Mmap::map(&file)? };
        Ok(Elf { map })
    }

    /// The raw bytes, for tests and callers that already checked the header.
    pub fn bytes(&self) -> &[u8] {
        &self.map
    }

    /// Checks the header: an x86_64 little-endian ELF64 object.
    pub fn check(&self) -> Result<(), Unsupported> {
        let b = self.bytes();
        if b.len() < 64 || &b[..4] != b"\x7fELF" {
            return Err(Unsupported::NotElf);
        }
        let machine = u16_at(b, 18).unwrap_or(0);
        if b[4] != 2 || b[5] != 1 || machine != EM_X86_64 {
            return Err(Unsupported::Architecture(format!(
                "ELF class {}, byte order {}, machine {machine}; this build hooks x86_64 only",
                b[4], b[5]
            )));
        }
        Ok(())
    }

    /// The GNU build-id of the file (from its `PT_NOTE` segments).
    pub fn build_id(&self) -> Option<&[u8]> {
        let b = self.bytes();
        self.notes().find_map(|(offset, filesz)| {
            let notes = b.get(offset as usize..(offset + filesz) as usize)?;
            build_id_in(notes)
        })
    }

    /// The `PT_NOTE` segments: (file offset, size) each.
    fn notes(&self) -> impl Iterator<Item = (u64, u64)> + '_ {
        let b = self.bytes();
        let phoff = u64_at(b, 32).unwrap_or(0);
        let (phentsize, phnum) = (
            u16_at(b, 54).unwrap_or(0) as u64,
            u16_at(b, 56).unwrap_or(0) as u64,
        );
        (0..phnum).filter_map(move |i| {
            let ph = b.get((phoff + i * phentsize) as usize..)?.get(..56)?;
            (u32_at(ph, 0)? == PT_NOTE)
                .then(|| (u64_at(ph, 8).unwrap_or(0), u64_at(ph, 32).unwrap_or(0)))
        })
    }

    /// The `PT_LOAD` segments.
    pub fn loads(&self) -> Result<Vec<Load>, Unsupported> {
        let b = self.bytes();
        let (phoff, phentsize, phnum) = (
            u64_at(b, 32).ok_or(Unsupported::Damaged("header"))?,
            u16_at(b, 54).ok_or(Unsupported::Damaged("header"))? as u64,
            u16_at(b, 56).ok_or(Unsupported::Damaged("header"))? as u64,
        );
        let mut loads = Vec::new();
        for i in 0..phnum {
            let at = (phoff + i * phentsize) as usize;
            let ph = b
                .get(at..at + 56)
                .ok_or(Unsupported::Damaged("program headers"))?;
            if u32_at(ph, 0) == Some(PT_LOAD) {
                loads.push(Load {
                    flags: u32_at(ph, 4).unwrap_or(0),
                    offset: u64_at(ph, 8).unwrap_or(0),
                    vaddr: u64_at(ph, 16).unwrap_or(0),
                    filesz: u64_at(ph, 32).unwrap_or(0),
                    memsz: u64_at(ph, 40).unwrap_or(0),
                });
            }
        }
        Ok(loads)
    }

    /// Whether the object has a full symbol table (`.symtab`).
    pub fn has_symtab(&self) -> bool {
        self.sections().any(|s| s.kind == SHT_SYMTAB)
    }

    /// The wanted symbols the object defines, from `.dynsym` and
    /// `.symtab`. A name defined at two different addresses (two copies in
    /// one object) is an error naming it.
    pub fn find_symbols(&self) -> Result<Symbols, Unreachable> {
        let mut found: Symbols = [None; WANTED.len()];
        let mut ambiguous = false;
        let b = self.bytes();
        let sections: Vec<Section> = self.sections().collect();
        for table in sections
            .iter()
            .filter(|s| s.kind == SHT_SYMTAB || s.kind == SHT_DYNSYM)
        {
            let Some(strings) = sections.get(table.link as usize) else {
                continue;
            };
            let Some(strtab) =
                b.get(strings.offset as usize..(strings.offset + strings.size) as usize)
            else {
                continue;
            };
            let Some(entries) = b.get(table.offset as usize..(table.offset + table.size) as usize)
            else {
                continue;
            };
            for entry in entries.chunks_exact(24) {
                let kind = entry[4] & 0xf;
                let shndx = u16_at(entry, 6).unwrap_or(0);
                if shndx == SHN_UNDEF || (kind != STT_FUNC && kind != STT_OBJECT) {
                    continue;
                }
                let name_at = u32_at(entry, 0).unwrap_or(0) as usize;
                let Some(name) = strtab.get(name_at..) else {
                    continue;
                };
                if !name.starts_with(b"sqlite3_") && !name.starts_with(b"openDatabase\0") {
                    continue;
                }
                let name = &name[..name.iter().position(|&c| c == 0).unwrap_or(name.len())];
                let Some(slot) = WANTED.iter().position(|w| w.as_bytes() == name) else {
                    continue;
                };
                if (slot == sym::VERSION) != (kind == STT_OBJECT) {
                    continue;
                }
                // SQLite's openDatabase is static: a global one is the
                // program's own.
                if slot == sym::OPEN_DATABASE && entry[4] >> 4 != STB_LOCAL {
                    continue;
                }
                let symbol = Symbol {
                    value: u64_at(entry, 8).unwrap_or(0),
                    size: u64_at(entry, 16).unwrap_or(0),
                    exported: table.kind == SHT_DYNSYM,
                };
                match &mut found[slot] {
                    None => found[slot] = Some(symbol),
                    Some(seen) if seen.value == symbol.value => {
                        seen.exported |= symbol.exported;
                        seen.size = seen.size.max(symbol.size);
                    }
                    // Two static functions of that name: which is SQLite's
                    // is not known, so neither is hooked (the public open
                    // functions are).
                    Some(_) if slot == sym::OPEN_DATABASE => ambiguous = true,
                    Some(_) => return Err(Unreachable::DefinedTwice(WANTED[slot])),
                }
            }
        }
        if ambiguous || !among_sqlite_functions(&found) {
            found[sym::OPEN_DATABASE] = None;
        }
        Ok(found)
    }

    /// Whether the object's read-only data holds strings that only SQLite's
    /// library code does: the database header string and the name of one
    /// of its Unix VFSes. (A program that only uses SQLite, such as the
    /// `sqlite3` shell, has the first but not the second.)
    pub fn has_sqlite_marker(&self) -> bool {
        // The rarer string first: most objects stop there.
        const MARKERS: [&[u8]; 2] = [b"unix-dotfile\0", b"SQLite format 3\0"];
        let b = self.bytes();
        self.sections()
            .filter(|s| s.name_is(b, b".rodata"))
            .filter_map(|s| b.get(s.offset as usize..(s.offset + s.size) as usize))
            .any(|data| {
                MARKERS
                    .iter()
                    .all(|m| memchr::memmem::find(data, m).is_some())
            })
    }

    /// The file bytes behind `len` bytes at relative address `vaddr`.
    pub fn bytes_at(&self, loads: &[Load], vaddr: u64, len: u64) -> Option<&[u8]> {
        let load = loads
            .iter()
            .find(|l| vaddr >= l.vaddr && vaddr + len <= l.vaddr + l.filesz)?;
        let at = (load.offset + (vaddr - load.vaddr)) as usize;
        self.bytes().get(at..at + len as usize)
    }

    fn sections(&self) -> impl Iterator<Item = Section> + '_ {
        let b = self.bytes();
        let shoff = u64_at(b, 40).unwrap_or(0);
        let shentsize = u16_at(b, 58).unwrap_or(0) as u64;
        let shnum = if shentsize == 64 {
            u16_at(b, 60).unwrap_or(0) as u64
        } else {
            0
        };
        let shstrndx = u16_at(b, 62).unwrap_or(0) as u64;
        let names = section_at(b, shoff + shstrndx * 64);
        (0..shnum).filter_map(move |i| {
            let mut s = section_at(b, shoff + i * 64)?;
            s.names_offset = names.as_ref().map(|n| n.offset);
            Some(s)
        })
    }
}

/// Whether the `openDatabase` found lies among the copy's own `sqlite3_*`
/// functions (SQLite is one translation unit, its code one block), not
/// elsewhere in the object, where a program's own static function of that
/// name would be.
fn among_sqlite_functions(found: &Symbols) -> bool {
    let Some(open_database) = found[sym::OPEN_DATABASE] else {
        return true;
    };
    let functions = found
        .iter()
        .enumerate()
        .filter(|&(slot, _)| slot != sym::OPEN_DATABASE && slot != sym::VERSION)
        .filter_map(|(_, s)| s.map(|s| s.value));
    let (low, high) = functions.fold((u64::MAX, 0), |(l, h), v| (l.min(v), h.max(v)));
    (low..=high).contains(&open_database.value)
}

/// The descriptor of the `NT_GNU_BUILD_ID` note among `notes` (the bytes
/// of one `PT_NOTE` segment: 4-byte aligned name size, descriptor size,
/// type, then the name and descriptor, each padded to 4).
pub fn build_id_in(notes: &[u8]) -> Option<&[u8]> {
    let pad = |n: usize| n.checked_add(3).map(|n| n & !3);
    let mut at = 0usize;
    while at + 12 <= notes.len() {
        let name_size = u32_at(notes, at)? as usize;
        let desc_size = u32_at(notes, at + 4)? as usize;
        let kind = u32_at(notes, at + 8)?;
        let name_at = at + 12;
        let desc_at = name_at.checked_add(pad(name_size)?)?;
        let desc = notes.get(desc_at..desc_at.checked_add(desc_size)?)?;
        if kind == NT_GNU_BUILD_ID && notes.get(name_at..name_at + name_size)? == b"GNU\0" {
            return Some(desc);
        }
        at = desc_at.checked_add(pad(desc_size)?)?;
    }
    None
}

/// One section header, as far as it is used here.
struct Section {
    name: u32,
    kind: u32,
    offset: u64,
    size: u64,
    link: u32,
    names_offset: Option<u64>,
}

impl Section {
    fn name_is(&self, b: &[u8], want: &[u8]) -> bool {
        let Some(names) = self.names_offset else {
            return false;
        };
        let at = (names + self.name as u64) as usize;
        b.get(at..at + want.len() + 1)
            .is_some_and(|n| &n[..want.len()] == want && n[want.len()] == 0)
    }
}

fn section_at(b: &[u8], at: u64) -> Option<Section> {
    let s = b.get(at as usize..at as usize + 64)?;
    Some(Section {
        name: u32_at(s, 0)?,
        kind: u32_at(s, 4)?,
        offset: u64_at(s, 24)?,
        size: u64_at(s, 32)?,
        link: u32_at(s, 40)?,
        names_offset: None,
    })
}

fn u16_at(b: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_le_bytes(b.get(at..at + 2)?.try_into().ok()?))
}

fn u32_at(b: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_le_bytes(b.get(at..at + 4)?.try_into().ok()?))
}

fn u64_at(b: &[u8], at: usize) -> Option<u64> {
    Some(u64::from_le_bytes(b.get(at..at + 8)?.try_into().ok()?))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The test binary itself links rusqlite's bundled SQLite: its
    /// `sqlite3_*` functions are in `.symtab` only.
    #[test]
    fn finds_the_bundled_sqlite_of_this_test_binary() {
        // Keep SQLite's open functions linked into this test binary.
        rusqlite::Connection::open_in_memory().unwrap();
        let elf = Elf::open(&std::env::current_exe().unwrap()).unwrap();
        elf.check().unwrap();
        assert!(elf.has_symtab());
        let symbols = elf.find_symbols().unwrap();
        let open_v2 = symbols[sym::OPEN_V2].expect("sqlite3_open_v2 in .symtab");
        assert!(open_v2.size > 0);
        assert!(!open_v2.exported);
        assert!(symbols[sym::VFS_FIND].is_some());
        assert!(elf.has_sqlite_marker());
        let loads = elf.loads().unwrap();
        assert!(elf.bytes_at(&loads, open_v2.value, open_v2.size).is_some());
    }

    /// The build-id read from the notes is the one `readelf -n` prints.
    #[test]
    fn build_id_is_the_one_readelf_prints() {
        let lib = "/usr/lib/x86_64-linux-gnu/libsqlite3.so.0";
        let out = std::process::Command::new("readelf")
            .args(["-n", lib])
            .output()
            .expect("readelf (Debian package binutils)");
        let text = String::from_utf8_lossy(&out.stdout);
        let expected = text
            .lines()
            .find_map(|l| l.trim().strip_prefix("Build ID: "))
            .unwrap_or_else(|| panic!("no build ID in {text}"));
        let id = Elf::open(Path::new(lib))
            .unwrap()
            .build_id()
            .map(|id| id.iter().map(|b| format!("{b:02x}")).collect::<String>());
        assert_eq!(id.as_deref(), Some(expected));
    }

    #[test]
    fn rejects_what_is_not_elf() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("x");
        std::fs::write(&path, b"#!/bin/sh\necho hi\n").unwrap();
        assert_eq!(Elf::open(&path).unwrap().check(), Err(Unsupported::NotElf));
        let mut arm = std::fs::read("/proc/self/exe").unwrap();
        arm[18] = 183; // EM_AARCH64
        std::fs::write(&path, &arm).unwrap();
        assert!(matches!(
            Elf::open(&path).unwrap().check(),
            Err(Unsupported::Architecture(_))
        ));
    }
}
