//! Finding every SQLite copy in the process and hooking it in place.
//!
//! The loaded objects (the executable, its libraries, and everything
//! `dlopen` brings in later) are walked with `dl_iterate_phdr`; each new one
//! is read from its file: a copy is an object that defines `sqlite3_open`,
//! `sqlite3_open_v2` or `sqlite3_open16` in `.dynsym` or `.symtab` (local
//! symbols included). Its open functions are hooked so that its first open
//! registers vfscope with that copy. A copy that cannot be reached is
//! described in the segment with the reason and left exactly as it was.

use crate::copies::{self, CloseFn, Copy, ExecFn, FileControlFn, Open16Fn, OpenFn, OpenV2Fn};
use crate::elf::{sym, Elf, Symbols, Unsupported};
use crate::hook::{self, Prepared};
use crate::open::HANDLERS;
use crate::owned::{Guard, OwnedMutex};
use crate::unreachable::Unreachable;
use crate::wrappers::{MutexApi, UnregisterFn};
use std::collections::{HashMap, HashSet};
use std::ffi::{c_char, c_int, c_void, CStr};
use std::os::unix::ffi::OsStrExt;
use std::path::PathBuf;
use std::sync::Condvar;
use std::time::Duration;
use vfscope_shim::ffi::sqlite3_vfs;
use vfscope_shim::{CopyAccess, CopyInfo, CopyStatus, SqliteApi};

/// One loaded object as the dynamic loader lists it.
struct Loaded {
    /// The path it was loaded from (empty for the executable).
    name: Vec<u8>,
    bias: usize,
    /// Its `PT_LOAD` segments in memory: (vaddr, memsz).
    loads: Vec<(u64, u64)>,
    /// Its `PT_NOTE` segments in memory: (vaddr, memsz).
    notes: Vec<(u64, u64)>,
}

impl Loaded {
    /// The build-id note of the loaded image, read from memory.
    fn build_id(&self) -> Option<&[u8]> {
        self.notes.iter().find_map(|&(vaddr, memsz)| {
            // A note outside the loaded segments is not read.
            let end = vaddr.checked_add(memsz)?;
            if !self.loads.iter().any(|&(v, m)| vaddr >= v && end <= v + m) {
                return None;
            }
            // SAFETY: the range lies in a PT_LOAD segment of this loaded
            // object, mapped readable by the loader for as long as the
            // object stays loaded (the caller holds it: see `inspect`).
            let notes = unsafe {
                std::slice::from_raw_parts(
                    (self.bias + vaddr as usize) as *const u8,
                    memsz as usize,
                )
            };
            crate::elf::build_id_in(notes)
        })
    }
}

/// The objects already claimed for a look, by (bias, name): by which thread
/// (its kernel id), and whether that look is over.
pub type Seen = HashMap<(usize, Vec<u8>), Claim>;

#[derive(Clone, Copy)]
pub struct Claim {
    by: i64,
    done: bool,
}

static SEEN: OwnedMutex<Option<Seen>> = OwnedMutex::new(None);
/// Signalled when looks are over.
static LOOKED: Condvar = Condvar::new();
/// How long a `dlopen` waits for another thread's look at the same object
/// (hooks take milliseconds; this only bounds a pathological case).
const LOOK_WAIT: Duration = Duration::from_secs(10);

/// Looks at every object loaded since the last scan, and waits for the
/// looks other threads are taking at objects this thread now sees loaded
/// too (a second `dlopen` of a library returns only once its hooks are
/// in place). Returns whether a copy that cannot be reached was found (so
/// a segment should say so). Does nothing when this thread is already
/// scanning (a `dlopen` from a signal handler that interrupted a scan).
pub fn scan_new_objects() -> bool {
    let own = own_base();
    // SAFETY: gettid has no preconditions.
    let me = unsafe { libc::gettid() } as i64;
    // Each new object is claimed under SEEN, then looked at without it
    // (SEEN nests inside no other lock; see `load` on fork).
    let (new, pending) = {
        let Some(mut seen) = SEEN.lock() else {
            return false;
        };
        let seen = seen.get_or_insert_with(HashMap::new);
        let (mut new, mut pending) = (Vec::new(), Vec::new());
        for object in loaded_objects().into_iter().filter(|o| o.bias != own) {
            let key = (object.bias, object.name.clone());
            match seen.get(&key) {
                None => {
                    seen.insert(
                        key,
                        Claim {
                            by: me,
                            done: false,
                        },
                    );
                    new.push(object);
                }
                Some(claim) if !claim.done && claim.by != me => pending.push(key),
                Some(_) => {}
            }
        }
        (new, pending)
    };
    let mut unreachable = false;
    for object in &new {
        unreachable |= inspect(object) == Some(CopyStatus::Unreachable);
    }
    let Some(mut seen) = SEEN.lock() else {
        return unreachable;
    };
    if !new.is_empty() {
        for object in &new {
            if let Some(claim) = seen
                .get_or_insert_with(HashMap::new)
                .get_mut(&(object.bias, object.name.clone()))
            {
                claim.done = true;
            }
        }
        LOOKED.notify_all();
    }
    let deadline = std::time::Instant::now() + LOOK_WAIT;
    let waiting = |seen: &Option<Seen>| {
        pending.iter().any(|key| {
            seen.as_ref()
                .and_then(|s| s.get(key))
                .is_some_and(|c| !c.done)
        })
    };
    while waiting(&seen) {
        let left = deadline.saturating_duration_since(std::time::Instant::now());
        if left.is_zero() {
            break;
        }
        seen = seen.wait_timeout(&LOOKED, left).0;
    }
    unreachable
}

/// Forgets the objects no longer loaded (after a `dlclose`), so one loaded
/// again, even at the same address, is looked at (and hooked) again.
pub fn forget_unloaded() {
    let loaded = loaded_objects();
    let present: HashSet<(usize, &[u8])> =
        loaded.iter().map(|o| (o.bias, o.name.as_slice())).collect();
    let Some(mut seen) = SEEN.lock() else {
        return;
    };
    if let Some(seen) = seen.as_mut() {
        seen.retain(|(bias, name), _| present.contains(&(*bias, name.as_slice())));
    }
    copies::release_unloaded(&present);
}

/// Held by the forking thread across fork (`None` when it already holds
/// it: a fork from a signal handler on top of a scan).
pub fn lock_for_fork() -> Option<Guard<'static, Option<Seen>>> {
    SEEN.lock()
}

/// Describes an unreachable copy, in a slot of its own unless it has one.
fn publish_unreachable(
    index: Option<u16>,
    loaded: &Loaded,
    object: &str,
    version: String,
    why: Unreachable,
) -> Option<CopyStatus> {
    let Some(index) = index.or_else(|| copies::claim(Some((loaded.bias, loaded.name.clone()))))
    else {
        too_many(object);
        return None;
    };
    let mut info = copies::unreachable(object, version, format!("{why}; {WAY_OUT}"));
    info.index = index;
    vfscope_shim::publish_copy(info);
    Some(CopyStatus::Unreachable)
}

fn too_many(object: &str) {
    vfscope_shim::warn(&format!(
        "more than {} SQLite copies in this process; {object} runs without vfscope",
        copies::MAX_COPIES
    ));
}

/// The path to read an object from, and the name to show.
fn paths(object: &Loaded) -> (PathBuf, String) {
    if object.name.is_empty() {
        let exe = std::fs::read_link("/proc/self/exe").unwrap_or_default();
        return (PathBuf::from("/proc/self/exe"), exe.display().to_string());
    }
    let path = PathBuf::from(std::ffi::OsStr::from_bytes(&object.name));
    let shown = path.display().to_string();
    (path, shown)
}

/// Finds a copy in `object` and hooks it; `None` when it holds none, else
/// what became of the copy (described in the segment either way).
fn inspect(object: &Loaded) -> Option<CopyStatus> {
    let (path, shown) = paths(object);
    let elf = Elf::open(&path).ok()?;
    match elf.check() {
        Ok(()) => {}
        Err(Unsupported::NotElf | Unsupported::Damaged(_)) => return None,
        Err(Unsupported::Architecture(why)) => {
            if !elf.has_sqlite_marker() {
                return None;
            }
            let why = Unreachable::Architecture(why);
            return publish_unreachable(None, object, &shown, String::new(), why);
        }
    }
    let symbols = match elf.find_symbols() {
        Ok(symbols) => symbols,
        Err(why) => return publish_unreachable(None, object, &shown, String::new(), why),
    };
    let opens = [sym::OPEN, sym::OPEN_V2, sym::OPEN16];
    if opens.iter().all(|&s| symbols[s].is_none()) {
        if elf.has_symtab() || !elf.has_sqlite_marker() {
            return None;
        }
        let why = Unreachable::Stripped;
        return publish_unreachable(None, object, &shown, String::new(), why);
    }
    // Nothing in the object is called before it is known to be the file.
    let not_verified =
        |why: Unreachable| publish_unreachable(None, object, &shown, String::new(), why);
    let Ok(loads) = elf.loads() else {
        return not_verified(Unreachable::DamagedHeaders);
    };
    let in_file: Vec<(u64, u64)> = loads.iter().map(|l| (l.vaddr, l.memsz)).collect();
    if in_file != object.loads || elf.build_id() != object.build_id() {
        return not_verified(Unreachable::NotTheLoadedFile);
    }
    let version = version_of(object.bias, &symbols);
    let Some(api) = api_of(object.bias, &symbols) else {
        let why = Unreachable::NoRegistrationApi;
        return publish_unreachable(None, object, &shown, version, why);
    };
    let Some(index) = copies::claim(Some((object.bias, object.name.clone()))) else {
        too_many(&shown);
        return None;
    };
    let exported = symbols[sym::OPEN_DATABASE].is_none()
        && opens
            .iter()
            .any(|&s| symbols[s].is_some_and(|s| s.exported));
    let info = CopyInfo {
        index,
        status: CopyStatus::Traced,
        access: if exported {
            CopyAccess::Exported
        } else {
            CopyAccess::Local
        },
        object: shown,
        version,
        source_id: source_id_of(object.bias, &symbols),
        note: String::new(),
        calls: 0,
        opens: 0,
    };
    let handlers = &HANDLERS[index as usize];
    // (symbol, handler, trampoline slot: open, open_v2, open16)
    // Every sqlite3_open* ends in openDatabase, which has the signature of
    // sqlite3_open_v2; hooking it also catches opens whose public function
    // was inlined into the caller (as in apsw, which compiles SQLite into
    // its own module). It makes indirect calls (mutex methods, malloc), so
    // no caller can assume it preserves any call-clobbered register.
    let inner = [(sym::OPEN_DATABASE, handlers.open_v2 as usize, 1)];
    let public = [
        (sym::OPEN, handlers.open as usize, 0),
        (sym::OPEN_V2, handlers.open_v2 as usize, 1),
        (sym::OPEN16, handlers.open16 as usize, 2),
    ];
    let hooks = if symbols[sym::OPEN_DATABASE].is_some() {
        // Where openDatabase cannot be hooked (its first bytes straddle a
        // 16-byte boundary, say), the public functions may be.
        prepare_hooks(object, &elf, &loads, &symbols, &inner)
            .or_else(|why| prepare_hooks(object, &elf, &loads, &symbols, &public).map_err(|_| why))
    } else {
        prepare_hooks(object, &elf, &loads, &symbols, &public)
    };
    let (prepared, trampolines) = match hooks {
        Ok(hooks) => hooks,
        Err(why) => {
            return publish_unreachable(Some(index), object, &info.object, info.version, why)
        }
    };
    let at = |slot| address(object.bias, &symbols, slot);
    // SAFETY (transmutes): the copy's own functions, whose C signatures
    // these types are (sqlite3.h).
    let (unregister, mutex) = unsafe {
        (
            at(sym::VFS_UNREGISTER).map(|f| std::mem::transmute::<usize, UnregisterFn>(f)),
            (|| {
                Some(MutexApi {
                    alloc: std::mem::transmute::<usize, unsafe extern "C" fn(c_int) -> *mut c_void>(
                        at(sym::MUTEX_ALLOC)?,
                    ),
                    enter: std::mem::transmute::<usize, unsafe extern "C" fn(*mut c_void)>(at(
                        sym::MUTEX_ENTER,
                    )?),
                    leave: std::mem::transmute::<usize, unsafe extern "C" fn(*mut c_void)>(at(
                        sym::MUTEX_LEAVE,
                    )?),
                })
            })(),
        )
    };
    let mut copy = Copy::new(index, api, info.clone()).with_list_api(unregister, mutex);
    // SAFETY (transmutes): trampolines run the original functions, and the
    // symbols are the copy's own functions, whose C signatures these types
    // are (sqlite3.h).
    unsafe {
        copy.open = trampolines[0].map(|t| std::mem::transmute::<usize, OpenFn>(t));
        copy.open_v2 = trampolines[1].map(|t| std::mem::transmute::<usize, OpenV2Fn>(t));
        copy.open16 = trampolines[2].map(|t| std::mem::transmute::<usize, Open16Fn>(t));
        copy.exec = address(object.bias, &symbols, sym::EXEC)
            .map(|at| std::mem::transmute::<usize, ExecFn>(at));
    }
    copy.close = close_of(object.bias, &symbols);
    // Optional: where sqlite3_file_control cannot be hooked, opens are
    // still traced; only extensions that check their own file pointers
    // see vfscope's.
    let file_control = [(
        sym::FILE_CONTROL,
        crate::file_control::HANDLERS[index as usize] as usize,
        3,
    )];
    let prepared = match prepare_hooks(object, &elf, &loads, &symbols, &file_control) {
        Ok((more, trampolines)) => {
            // SAFETY: the trampoline runs the copy's own
            // sqlite3_file_control, whose C signature this is.
            copy.file_control =
                trampolines[3].map(|t| unsafe { std::mem::transmute::<usize, FileControlFn>(t) });
            prepared.into_iter().chain(more).collect()
        }
        Err(_) => prepared,
    };
    copy.install();
    let mut failed = (0, None);
    for p in &prepared {
        // SAFETY: prepared just now for this object's code, still mapped.
        if let Err(why) = unsafe { hook::apply(p) } {
            failed = (failed.0 + 1, Some(why));
        }
    }
    match failed {
        // Not one hook written (code pages that cannot be made writable,
        // e.g. under a seccomp or SELinux policy): say so in the report.
        (n, Some(why)) if n == prepared.len() => publish_unreachable(
            Some(index),
            object,
            &info.object,
            info.version,
            Unreachable::NotWritten(why),
        ),
        (_, Some(why)) => {
            vfscope_shim::warn(&format!(
                "{}: {why}; some of its opens are not seen",
                info.object
            ));
            Some(CopyStatus::Traced)
        }
        (_, None) => Some(CopyStatus::Traced),
    }
}

/// Hooks prepared for `targets` (symbol, handler, trampoline slot: open,
/// open_v2, open16, file_control), with
/// the trampolines by slot; none when one of them cannot be (and what was
/// prepared is let go).
fn prepare_hooks(
    object: &Loaded,
    elf: &Elf,
    loads: &[crate::elf::Load],
    symbols: &Symbols,
    targets: &[(usize, usize, usize)],
) -> Result<(Vec<Prepared>, [Option<usize>; 4]), Unreachable> {
    let mut prepared: Vec<Prepared> = Vec::new();
    let mut trampolines = [None; 4];
    for &(slot, handler, n) in targets {
        let Some(symbol) = symbols[slot] else {
            continue;
        };
        let file_bytes = elf
            .bytes_at(loads, symbol.value, symbol.size)
            .unwrap_or(&[]);
        let target = object.bias + symbol.value as usize;
        // SAFETY: the symbol's bytes lie in a loaded segment of the object
        // (its program headers match the file's), mapped readable code.
        match unsafe { hook::prepare(target, symbol.size as usize, file_bytes, handler) } {
            Ok(p) => {
                trampolines[n] = Some(p.trampoline);
                prepared.push(p);
            }
            Err(error) => {
                prepared.into_iter().for_each(hook::discard);
                let symbol = crate::elf::WANTED[slot];
                return Err(Unreachable::Hook { symbol, error });
            }
        }
    }
    Ok((prepared, trampolines))
}

/// What the user can do about a copy vfscope cannot reach.
const WAY_OUT: &str = "load vfscope as an extension into it (.load libvfscope) or use library mode";

fn address(bias: usize, symbols: &Symbols, slot: usize) -> Option<usize> {
    symbols[slot].map(|s| bias + s.value as usize)
}

/// The copy's own entry points, by address in its own object.
fn api_of(bias: usize, symbols: &Symbols) -> Option<SqliteApi> {
    let at = |slot| address(bias, symbols, slot);
    // SAFETY: these symbols of a SQLite copy have these C signatures
    // (sqlite3.h); the transmutes only give the addresses their types.
    unsafe {
        Some(SqliteApi {
            vfs_find: std::mem::transmute::<
                usize,
                unsafe extern "C" fn(*const c_char) -> *mut sqlite3_vfs,
            >(at(sym::VFS_FIND)?),
            vfs_register: std::mem::transmute::<
                usize,
                unsafe extern "C" fn(*mut sqlite3_vfs, c_int) -> c_int,
            >(at(sym::VFS_REGISTER)?),
            malloc64: std::mem::transmute::<usize, unsafe extern "C" fn(u64) -> *mut c_void>(at(
                sym::MALLOC64,
            )?),
            free: std::mem::transmute::<usize, unsafe extern "C" fn(*mut c_void)>(at(sym::FREE)?),
        })
    }
}

fn close_of(bias: usize, symbols: &Symbols) -> Option<CloseFn> {
    let at =
        address(bias, symbols, sym::CLOSE).or_else(|| address(bias, symbols, sym::CLOSE_V2))?;
    // SAFETY: sqlite3_close and sqlite3_close_v2 share this signature.
    Some(unsafe { std::mem::transmute::<usize, CloseFn>(at) })
}

/// `sqlite3_libversion()`, or the `sqlite3_version` string when the
/// function was not linked in; empty when neither is there.
fn version_of(bias: usize, symbols: &Symbols) -> String {
    if let Some(at) = address(bias, symbols, sym::LIBVERSION) {
        // SAFETY: sqlite3_libversion returns a static string and needs no
        // initialisation.
        return text(unsafe {
            std::mem::transmute::<usize, extern "C" fn() -> *const c_char>(at)()
        });
    }
    address(bias, symbols, sym::VERSION).map_or_else(String::new, |at| text(at as *const c_char))
}

fn source_id_of(bias: usize, symbols: &Symbols) -> String {
    address(bias, symbols, sym::SOURCEID).map_or_else(String::new, |at| {
        // SAFETY: as for sqlite3_libversion.
        text(unsafe { std::mem::transmute::<usize, extern "C" fn() -> *const c_char>(at)() })
    })
}

fn text(p: *const c_char) -> String {
    if p.is_null() {
        return String::new();
    }
    // SAFETY: SQLite's version strings are static and NUL-terminated.
    let s = unsafe { CStr::from_ptr(p) }.to_bytes();
    String::from_utf8_lossy(&s[..s.len().min(128)]).into_owned()
}

/// The load address and path of the object `code` lives in (the path as
/// the loader has it: empty for the executable).
pub fn object_of(code: *const c_void) -> Option<(usize, std::path::PathBuf)> {
    // SAFETY: an all-zero Dl_info (pointers and an address) is valid.
    let mut info: libc::Dl_info = unsafe { std::mem::zeroed() };
    // SAFETY: dladdr fills `info`; any address may be asked about.
    if unsafe { libc::dladdr(code, &mut info) } == 0 || info.dli_fname.is_null() {
        return None;
    }
    // SAFETY: dli_fname is a NUL-terminated path for a loaded object.
    let name = unsafe { CStr::from_ptr(info.dli_fname) };
    let path = std::path::PathBuf::from(std::ffi::OsStr::from_bytes(name.to_bytes()));
    Some((info.dli_fbase as usize, path))
}

/// The load bias of this library, to skip it.
fn own_base() -> usize {
    object_of(scan_new_objects as *const c_void).map_or(0, |(base, _)| base)
}

/// Every loaded object, in load order.
fn loaded_objects() -> Vec<Loaded> {
    unsafe extern "C" fn each(
        info: *mut libc::dl_phdr_info,
        _size: usize,
        data: *mut c_void,
    ) -> c_int {
        // SAFETY: dl_iterate_phdr passes a valid info struct and our `data`.
        let (info, out) = unsafe { (&*info, &mut *(data as *mut Vec<Loaded>)) };
        let name = if info.dlpi_name.is_null() {
            Vec::new()
        } else {
            // SAFETY: dlpi_name is a NUL-terminated path while we run.
            unsafe { CStr::from_ptr(info.dlpi_name) }
                .to_bytes()
                .to_vec()
        };
        let phdrs = if info.dlpi_phdr.is_null() {
            &[][..]
        } else {
            // SAFETY: dlpi_phdr points at dlpi_phnum program headers.
            unsafe { std::slice::from_raw_parts(info.dlpi_phdr, info.dlpi_phnum as usize) }
        };
        let segments = |kind| {
            phdrs
                .iter()
                .filter(|p| p.p_type == kind)
                .map(|p| (p.p_vaddr, p.p_memsz))
                .collect()
        };
        out.push(Loaded {
            name,
            bias: info.dlpi_addr as usize,
            loads: segments(libc::PT_LOAD),
            notes: segments(libc::PT_NOTE),
        });
        0
    }
    let mut objects: Vec<Loaded> = Vec::new();
    // SAFETY: the callback only reads what it is given and pushes to `objects`.
    unsafe { libc::dl_iterate_phdr(Some(each), (&mut objects as *mut Vec<Loaded>).cast()) };
    objects
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The build-id of the loaded executable, read from its image in
    /// memory, is its file's.
    #[test]
    fn the_loaded_image_has_its_files_build_id() {
        let objects = loaded_objects();
        let exe = objects
            .iter()
            .find(|o| o.name.is_empty())
            .expect("the executable");
        let file = Elf::open(std::path::Path::new("/proc/self/exe")).unwrap();
        let in_file = file.build_id().expect("a build-id in the test binary");
        assert_eq!(exe.build_id(), Some(in_file));
    }
}
