//! The shape of a file's I/O: sequential or random, aligned to pages and
//! blocks, WAL frames and commits, and the page size learnt from headers.

use super::FileState;
use crate::recorder;
use std::os::raw::c_void;
use std::sync::atomic::Ordering::Relaxed;
use vfscope_segment::layout::Shape;
use vfscope_segment::{FileKind, Layout, DB_NONE};

impl FileState {
    /// The page size to judge alignment by.
    fn page_size(&self, layout: &Layout) -> u64 {
        if self.kind == FileKind::Wal && self.wal_page_size != 0 {
            return self.wal_page_size as u64;
        }
        layout.page_size(self.db).unwrap_or(4096) as u64
    }

    /// Counts I/O not aligned to pages or blocks; returns the bytes beyond
    /// `amount` that a block store would move. Page and block sizes are
    /// powers of two, so masks replace divisions on this path.
    fn alignment(shape: &Shape, page: u64, offset: u64, amount: u64) -> u64 {
        if (offset | amount) & (page - 1) != 0 {
            shape.unaligned_page.fetch_add(1, Relaxed);
        }
        let block_mask = recorder::block_size() - 1;
        if (offset | amount) & block_mask == 0 {
            return 0;
        }
        shape.unaligned_block.fetch_add(1, Relaxed);
        let start = offset & !block_mask;
        let end = (offset + amount + block_mask) & !block_mask;
        end - start - amount
    }

    /// After a successful `xRead` of `buf[..amount]` at `offset`.
    #[inline(always)]
    pub fn read_done(&mut self, layout: &Layout, buf: *const c_void, amount: u64, offset: u64) {
        let shape = layout.shape(self.kind, self.db);
        if offset != self.last_read_end {
            shape.reads_random.fetch_add(1, Relaxed);
        }
        self.last_read_end = offset + amount;
        self.txn.read(amount, self.moves_pages(amount));
        let extra = Self::alignment(shape, self.page_size(layout), offset, amount);
        if extra != 0 {
            shape.block_extra_read.fetch_add(extra, Relaxed);
        }
        if offset == 0 {
            // SAFETY: SQLite's buffer holds `amount` bytes, just filled.
            let head = unsafe { std::slice::from_raw_parts(buf as *const u8, amount as usize) };
            self.learn_page_size(layout, head);
        }
    }

    /// After a successful `xWrite` of `buf[..amount]` at `offset`.
    #[inline(always)]
    pub fn write_done(&mut self, layout: &Layout, buf: *const c_void, amount: u64, offset: u64) {
        let shape = layout.shape(self.kind, self.db);
        let page = self.page_size(layout);
        let end = offset + amount;
        if offset >= self.high_water {
            shape.writes_append.fetch_add(1, Relaxed);
        } else if offset != self.last_write_end {
            shape.writes_random.fetch_add(1, Relaxed);
        }
        self.last_write_end = end;
        self.txn.wrote(amount, self.moves_pages(amount));
        if end > self.high_water {
            self.high_water = end;
            note_size(shape, end);
        }
        let extra = Self::alignment(shape, page, offset, amount);
        if extra != 0 {
            shape.block_extra_written.fetch_add(extra, Relaxed);
        }
        if offset == 0 {
            // SAFETY: SQLite's buffer holds `amount` bytes for the whole call.
            let head = unsafe { std::slice::from_raw_parts(buf as *const u8, amount as usize) };
            self.learn_page_size(layout, head);
        } else if self.kind == FileKind::Wal {
            count_wal_frame(shape, page, buf, amount, offset);
        }
    }

    /// Whether I/O of `amount` bytes on this file moves a database page (a
    /// page of the database file or a WAL frame; headers are smaller).
    #[inline(always)]
    fn moves_pages(&self, amount: u64) -> bool {
        amount >= 512 && matches!(self.kind, FileKind::MainDb | FileKind::Wal)
    }

    /// Page size from a database header (bytes 16..18, 1 meaning 65536) or a
    /// WAL header (bytes 8..12).
    pub fn learn_page_size(&mut self, layout: &Layout, head: &[u8]) {
        let size = match self.kind {
            FileKind::Wal => be32(head, 8),
            FileKind::MainDb => head
                .get(16..18)
                .map(|b| match u16::from_be_bytes([b[0], b[1]]) {
                    1 => 65536,
                    n => n as u32,
                }),
            _ => None,
        };
        let Some(size) = size.filter(|s| s.is_power_of_two() && (512..=65536).contains(s)) else {
            return;
        };
        if self.kind == FileKind::Wal {
            self.wal_page_size = size;
        }
        if self.db != DB_NONE {
            layout.set_page_size(self.db, size);
        }
    }

    /// The file is now known to be `size` bytes long.
    pub fn sized(&mut self, layout: &Layout, size: u64) {
        self.high_water = size;
        note_size(layout.shape(self.kind, self.db), size);
    }
}

/// Raises the largest size the shape has seen: a load, and a store only
/// when the file is larger than every file of its kind and database was.
#[inline(always)]
fn note_size(shape: &Shape, size: u64) {
    if size > shape.size_high_water.load(Relaxed) {
        shape.size_high_water.fetch_max(size, Relaxed);
    }
}

/// A WAL frame is a 24-byte header then a page; SQLite writes the header by
/// itself, some VFS users write both at once. Bytes 4..8 of the header hold
/// the database size after a commit, 0 in other frames.
fn count_wal_frame(shape: &Shape, page: u64, buf: *const c_void, amount: u64, offset: u64) {
    let frame = page + 24;
    if (amount != 24 && amount != frame) || offset < 32 || !(offset - 32).is_multiple_of(frame) {
        return;
    }
    shape.wal_frames.fetch_add(1, Relaxed);
    shape.wal_frame_bytes.fetch_add(page, Relaxed);
    // SAFETY: SQLite's buffer holds `amount` (>= 24) bytes for the whole call.
    let header = unsafe { std::slice::from_raw_parts(buf as *const u8, 8) };
    if be32(header, 4).is_some_and(|size| size != 0) {
        shape.wal_commits.fetch_add(1, Relaxed);
    }
}

fn be32(data: &[u8], at: usize) -> Option<u32> {
    data.get(at..at + 4)
        .map(|b| u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
}
