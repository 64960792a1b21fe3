//! Files opened directly through a VFS's C methods.

use std::path::Path;

/// A file opened directly through a VFS's C methods, for workloads whose
/// every call is known.
pub struct RawFile {
    vfs: *mut libsqlite3_sys::sqlite3_vfs,
    memory: Vec<u64>,
    _path: Vec<u8>,
}

/// Open flags of a main database that is created if missing.
pub const MAIN_DB_FLAGS: i32 = libsqlite3_sys::SQLITE_OPEN_MAIN_DB
    | libsqlite3_sys::SQLITE_OPEN_READWRITE
    | libsqlite3_sys::SQLITE_OPEN_CREATE;

impl RawFile {
    /// Opens `path` through the VFS named `vfs` with `flags`.
    pub fn open(vfs: &str, path: &Path, flags: i32) -> RawFile {
        let name = std::ffi::CString::new(vfs).unwrap();
        // Paths handed to xOpen end with extra NULs (SQLite's URI layout).
        let mut c_path = path.to_str().unwrap().as_bytes().to_vec();
        c_path.extend_from_slice(&[0, 0, 0]);
        // SAFETY: sqlite3_vfs_find takes a NUL-terminated name.
        let vfs = unsafe { libsqlite3_sys::sqlite3_vfs_find(name.as_ptr()) };
        assert!(!vfs.is_null(), "no VFS {name:?}");
        // SAFETY: `vfs` is a registered VFS.
        let size = unsafe { (*vfs).szOsFile } as usize;
        let mut file = RawFile {
            vfs,
            memory: vec![0u64; size.div_ceil(8)],
            _path: c_path,
        };
        let mut out_flags = 0;
        // SAFETY: `memory` has szOsFile bytes, 8-aligned; the path outlives
        // the file (it is kept in `_path`).
        let rc = unsafe {
            (*vfs).xOpen.unwrap()(
                vfs,
                file._path.as_ptr().cast(),
                file.file(),
                flags,
                &mut out_flags,
            )
        };
        assert_eq!(rc, 0, "xOpen {}", path.display());
        file
    }

    fn file(&mut self) -> *mut libsqlite3_sys::sqlite3_file {
        self.memory.as_mut_ptr().cast()
    }

    fn methods(&mut self) -> &libsqlite3_sys::sqlite3_io_methods {
        // SAFETY: the file was opened, so pMethods is set.
        unsafe { &*(*self.file()).pMethods }
    }

    pub fn write(&mut self, data: &[u8], offset: i64) -> i32 {
        let (f, write) = (self.file(), self.methods().xWrite.unwrap());
        // SAFETY: an open file and a buffer of data.len() bytes.
        unsafe { write(f, data.as_ptr().cast(), data.len() as i32, offset) }
    }

    pub fn read(&mut self, buf: &mut [u8], offset: i64) -> i32 {
        let (f, read) = (self.file(), self.methods().xRead.unwrap());
        // SAFETY: an open file and a buffer of buf.len() bytes.
        unsafe { read(f, buf.as_mut_ptr().cast(), buf.len() as i32, offset) }
    }

    pub fn sync(&mut self) -> i32 {
        let (f, sync) = (self.file(), self.methods().xSync.unwrap());
        // SAFETY: an open file.
        unsafe { sync(f, libsqlite3_sys::SQLITE_SYNC_NORMAL) }
    }

    pub fn size(&mut self) -> i64 {
        let (f, size) = (self.file(), self.methods().xFileSize.unwrap());
        let mut n = 0;
        // SAFETY: an open file and a place for the size.
        assert_eq!(unsafe { size(f, &mut n) }, 0);
        n
    }

    pub fn lock(&mut self, level: i32) -> i32 {
        let (f, lock) = (self.file(), self.methods().xLock.unwrap());
        // SAFETY: an open file.
        unsafe { lock(f, level) }
    }

    pub fn unlock(&mut self, level: i32) -> i32 {
        let (f, unlock) = (self.file(), self.methods().xUnlock.unwrap());
        // SAFETY: an open file.
        unsafe { unlock(f, level) }
    }

    pub fn shm_map(&mut self) -> i32 {
        let (f, map) = (self.file(), self.methods().xShmMap.unwrap());
        let mut region = std::ptr::null_mut();
        // SAFETY: an open file; region 0 of 32 KiB, created if missing.
        unsafe { map(f, 0, 32768, 1, &mut region) }
    }

    pub fn shm_lock(&mut self, offset: i32, n: i32, flags: i32) -> i32 {
        let (f, lock) = (self.file(), self.methods().xShmLock.unwrap());
        // SAFETY: an open file with a mapped WAL index.
        unsafe { lock(f, offset, n, flags) }
    }

    pub fn shm_unmap(&mut self, delete: bool) -> i32 {
        let (f, unmap) = (self.file(), self.methods().xShmUnmap.unwrap());
        // SAFETY: an open file.
        unsafe { unmap(f, delete as i32) }
    }

    /// The VFS this file was opened through.
    pub fn vfs(&self) -> *mut libsqlite3_sys::sqlite3_vfs {
        self.vfs
    }
}

impl Drop for RawFile {
    fn drop(&mut self) {
        let (f, close) = (self.file(), self.methods().xClose.unwrap());
        // SAFETY: an open file, closed once.
        unsafe { close(f) };
    }
}
