//! Creating and owning the segment a process writes.

use crate::dir::{ensure_dir, SEGMENT_SUFFIX};
use crate::error::{Error, ErrorKind, Result};
use crate::layout::*;
use crate::process::ProcessMeta;
use memmap2::MmapMut;
use std::fs::{File, OpenOptions};
use std::os::unix::fs::OpenOptionsExt;
use std::os::unix::io::AsRawFd;
use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering::Release;

/// The writable mapping of a segment, and the open file whose exclusive
/// `flock` tells readers that the writer lives.
pub struct SegmentWriter {
    map: MmapMut,
    file: Option<File>,
    path: Option<PathBuf>,
}

impl SegmentWriter {
    /// Creates `DIR/PID-START.seg` (mode 0600, never through a symlink),
    /// fills its header from `meta` and publishes it with an atomic rename,
    /// so readers never see a half-written header.
    pub fn create(dir: &Path, meta: &ProcessMeta) -> Result<Self> {
        ensure_dir(dir)?;
        let name = format!("{}-{}{SEGMENT_SUFFIX}", meta.pid, meta.proc_start_ticks);
        let path = dir.join(&name);
        let tmp = dir.join(format!(".{name}.tmp"));
        let _ = std::fs::remove_file(&tmp);
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create_new(true)
            .mode(0o600)
            .custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC)
            .open(&tmp)
            .map_err(|e| Error::io("cannot create segment", &tmp, e))?;
        let result = Self::init(file, &tmp, meta).and_then(|writer| {
            std::fs::rename(&tmp, &path)
                .map_err(|e| Error::io("cannot publish segment", &path, e))?;
            Ok(SegmentWriter {
                path: Some(path),
                ..writer
            })
        });
        if result.is_err() {
            let _ = std::fs::remove_file(&tmp);
        }
        result
    }

    fn init(file: File, path: &Path, meta: &ProcessMeta) -> Result<Self> {
        // SAFETY: flock on a file descriptor we own; no memory is involved.
        if unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) } != 0 {
            return Err(Error::io(
                "cannot lock segment",
                path,
                std::io::Error::last_os_error(),
            ));
        }
        file.set_len(SEGMENT_SIZE as u64)
            .map_err(|e| Error::io("cannot size segment", path, e))?;
        // SAFETY: the file is ours (created with O_EXCL, mode 0600) and sized
        // above; nobody truncates it while mapped.
        let map = unsafe { MmapMut::map_mut(&file) }
            .map_err(|e| Error::io("cannot map segment", path, e))?;
        let mut writer = SegmentWriter {
            map,
            file: Some(file),
            path: None,
        };
        writer.write_header(meta);
        Ok(writer)
    }

    /// A private, unnamed segment: recording goes on in memory when no
    /// segment file can be created, so the host never notices.
    pub fn anonymous(meta: &ProcessMeta) -> Result<Self> {
        let map = MmapMut::map_anon(SEGMENT_SIZE).map_err(|e| {
            Error::new(
                ErrorKind::Io,
                format!("cannot map an anonymous segment: {e}"),
            )
        })?;
        let mut writer = SegmentWriter {
            map,
            file: None,
            path: None,
        };
        writer.write_header(meta);
        Ok(writer)
    }

    fn write_header(&mut self, meta: &ProcessMeta) {
        assert!(self.map.len() >= SEGMENT_SIZE);
        // SAFETY: the mapping is page-aligned, at least SEGMENT_SIZE long and
        // exclusively borrowed here; Header is plain integers, byte arrays and
        // atomics, valid for any bytes.
        let header = unsafe { &mut *(self.map.as_mut_ptr() as *mut Header) };
        header.layout_version = LAYOUT_VERSION;
        header.header_size = std::mem::size_of::<Header>() as u32;
        header.total_size = SEGMENT_SIZE as u64;
        header.pid = meta.pid;
        header.uid = meta.uid;
        header.proc_start_ticks = meta.proc_start_ticks;
        header.start_realtime_ns = meta.start_realtime_ns;
        header.start_monotonic_ns = meta.start_monotonic_ns;
        header.slow_threshold_ns = meta.slow_threshold_ns;
        header.block_size = meta.block_size;
        header.cmdline_len = copy_prefix(&mut header.cmdline, meta.cmdline.as_bytes());
        header.sqlite_version_len =
            copy_prefix(&mut header.sqlite_version, meta.sqlite_version.as_bytes());
        header.state.store(STATE_RUNNING, Release);
        // The magic goes last: a file with it is complete.
        header.magic = MAGIC;
    }

    /// The mapped layout, for recording.
    pub fn layout(&self) -> &Layout {
        // SAFETY: as in write_header; shared access goes through atomics only
        // (the plain header fields are no longer written).
        unsafe { &*(self.map.as_ptr() as *const Layout) }
    }

    /// Where the segment lives; `None` for an anonymous one.
    pub fn path(&self) -> Option<&Path> {
        self.path.as_deref()
    }

    /// Tells readers the process exited normally.
    pub fn mark_exited(&self) {
        self.layout().header.state.store(STATE_EXITED, Release);
    }

    /// In a forked child: lets go of the parent's segment without touching
    /// it. The inherited descriptor is closed so the parent's lock means only
    /// the parent again; the mapping is left in place (leaked) because
    /// references to it may still exist in the child.
    pub fn forget_in_child(mut self) {
        drop(self.file.take());
        std::mem::forget(self);
    }
}

fn copy_prefix(dst: &mut [u8], src: &[u8]) -> u32 {
    let n = dst.len().min(src.len());
    dst[..n].copy_from_slice(&src[..n]);
    n as u32
}
