//! The directories the dynamic loader searches for a dependency of a given
//! object (`dlinfo` `RTLD_DI_SERINFO`): its RPATH or RUNPATH with `$ORIGIN`
//! expanded, `LD_LIBRARY_PATH`, the system directories, in order.

use std::ffi::{c_char, c_uint, c_void, CStr, OsStr};
use std::os::unix::ffi::OsStrExt;
use std::path::PathBuf;

/// `<dlfcn.h>`: `dladdr1` returns the object's link map.
const RTLD_DL_LINKMAP: libc::c_int = 2;

/// `Dl_serpath` of `<dlfcn.h>`.
#[repr(C)]
struct SearchDir {
    name: *mut c_char,
    flags: c_uint,
}

/// `Dl_serinfo` of `<dlfcn.h>`: a header, then `count` entries, then their
/// strings, `size` bytes in all.
#[repr(C)]
struct SearchInfo {
    size: usize,
    count: c_uint,
    dirs: [SearchDir; 1],
}

/// The search path of the object that holds the code at `address`; empty
/// when it cannot be told.
pub fn of_caller(address: usize) -> Vec<PathBuf> {
    // SAFETY: an all-zero Dl_info is valid.
    let mut info: libc::Dl_info = unsafe { std::mem::zeroed() };
    let mut map: *mut c_void = std::ptr::null_mut();
    // SAFETY: dladdr1 fills `info` and, with RTLD_DL_LINKMAP, a pointer to
    // the object's link map, which glibc's dlinfo accepts as a handle.
    let found = unsafe {
        libc::dladdr1(
            address as *const c_void,
            &mut info,
            (&mut map as *mut *mut c_void).cast(),
            RTLD_DL_LINKMAP,
        )
    };
    if found == 0 || map.is_null() {
        return Vec::new();
    }
    let mut sizes = SearchInfo {
        size: 0,
        count: 0,
        dirs: [SearchDir {
            name: std::ptr::null_mut(),
            flags: 0,
        }],
    };
    // SAFETY: RTLD_DI_SERINFOSIZE fills `size` and `count` of a Dl_serinfo.
    let rc = unsafe {
        libc::dlinfo(
            map,
            libc::RTLD_DI_SERINFOSIZE,
            (&mut sizes as *mut SearchInfo).cast(),
        )
    };
    if rc != 0 || sizes.size < std::mem::size_of::<SearchInfo>() {
        return Vec::new();
    }
    // u64 words keep the buffer aligned for Dl_serinfo.
    let mut buffer = vec![0u64; sizes.size.div_ceil(8)];
    let info = buffer.as_mut_ptr().cast::<SearchInfo>();
    // SAFETY: the buffer holds `sizes.size` bytes, as RTLD_DI_SERINFO
    // requires, with the sizes filled in first; it then holds `count`
    // entries whose names point into the same buffer.
    unsafe {
        (*info).size = sizes.size;
        (*info).count = sizes.count;
        if libc::dlinfo(map, libc::RTLD_DI_SERINFO, info.cast()) != 0 {
            return Vec::new();
        }
        let dirs = std::ptr::addr_of!((*info).dirs).cast::<SearchDir>();
        (0..(*info).count as usize)
            .map(|i| &*dirs.add(i))
            .filter(|d| !d.name.is_null())
            .map(|d| PathBuf::from(OsStr::from_bytes(CStr::from_ptr(d.name).to_bytes())))
            .collect()
    }
}
