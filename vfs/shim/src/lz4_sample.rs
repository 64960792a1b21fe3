//! How the app's WAL pages compress, sampled for the trace: a replicator
//! that ships pages LZ4-compressed (Litestream) uploads what they compress
//! to, which only the pages' contents can say. While tracing, one WAL page
//! write in [`EVERY`] is compressed (a few microseconds for a 4 KiB page,
//! on the app's thread, outside the call's timing) and its trace record
//! carries the size.

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

/// One WAL page write in this many is sampled (the first is).
pub const EVERY: u64 = 8;

/// Pages are compressed in blocks of this size, each kept raw when LZ4
/// does not shrink it (as the LZ4 frame format stores a block).
const BLOCK: usize = 4096;

static SEEN: AtomicU64 = AtomicU64::new(0);

/// The compressed size of `page` when this write is the one in [`EVERY`]
/// that is sampled.
pub fn sample(page: &[u8]) -> Option<u32> {
    if !SEEN.fetch_add(1, Relaxed).is_multiple_of(EVERY) {
        return None;
    }
    Some(compressed_size(page))
}

/// `data` compressed with LZ4 in [`BLOCK`]-byte blocks, each block raw
/// when LZ4 does not shrink it.
pub fn compressed_size(data: &[u8]) -> u32 {
    let mut out = [0u8; lz4_flex::block::get_maximum_output_size(BLOCK)];
    data.chunks(BLOCK)
        .map(
            |block| match lz4_flex::block::compress_into(block, &mut out) {
                Ok(n) => n.min(block.len()),
                Err(_) => block.len(),
            },
        )
        .sum::<usize>() as u32
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn repeated_bytes_shrink_random_ones_stay_raw_and_big_pages_go_by_block() {
        assert!(compressed_size(&[b'x'; 4096]) < 64);
        let mut seed = 99u64;
        let noise: Vec<u8> = (0..4096)
            .map(|_| {
                seed = seed.wrapping_mul(6364136223846793005).wrapping_add(1);
                (seed >> 56) as u8
            })
            .collect();
        assert_eq!(compressed_size(&noise), 4096);
        let mut big = noise.clone();
        big.extend_from_slice(&[0u8; 4096]);
        let zeros = compressed_size(&[0u8; 4096]);
        assert_eq!(compressed_size(&big), 4096 + zeros);
    }

    #[test]
    fn one_write_in_every_is_sampled() {
        let page = [7u8; 4096];
        let sampled = (0..EVERY * 4).filter(|_| sample(&page).is_some()).count();
        assert_eq!(sampled, 4);
    }
}
