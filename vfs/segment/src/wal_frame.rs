//! A WAL frame as its header says it: which page, and whether it ends a
//! transaction (trace records carry it; the latency model charges commits).

/// A WAL frame, from the 24-byte header SQLite writes before its page.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct WalFrame {
    /// The database page the frame holds (never 0).
    pub page: u32,
    /// For a transaction's last frame (its commit), the database's size in
    /// pages after it; 0 for the others.
    pub commit_size: u32,
}

impl WalFrame {
    /// The frame a write of `header` (a WAL frame's 24-byte header) starts.
    pub fn from_header(header: &[u8]) -> Option<WalFrame> {
        let be = |at: usize| {
            header
                .get(at..at + 4)
                .map(|b| u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
        };
        let page = be(0).filter(|&p| p != 0)?;
        Some(WalFrame {
            page,
            commit_size: be(4)?,
        })
    }

    pub fn is_commit(&self) -> bool {
        self.commit_size != 0
    }

    /// Packed into one word (0: no frame; a frame's page is never 0).
    pub fn pack(frame: Option<WalFrame>) -> u64 {
        frame.map_or(0, |f| (f.page as u64) << 32 | f.commit_size as u64)
    }

    pub fn unpack(word: u64) -> Option<WalFrame> {
        let page = (word >> 32) as u32;
        (page != 0).then_some(WalFrame {
            page,
            commit_size: word as u32,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_frame_header_says_its_page_and_whether_it_commits() {
        let mut header = [0u8; 24];
        header[..4].copy_from_slice(&7u32.to_be_bytes());
        assert_eq!(
            WalFrame::from_header(&header),
            Some(WalFrame {
                page: 7,
                commit_size: 0
            })
        );
        header[4..8].copy_from_slice(&12u32.to_be_bytes());
        let f = WalFrame::from_header(&header).unwrap();
        assert!(f.is_commit() && f.commit_size == 12);
        assert_eq!(WalFrame::unpack(WalFrame::pack(Some(f))), Some(f));
        assert_eq!(WalFrame::unpack(WalFrame::pack(None)), None);
        assert_eq!(WalFrame::from_header(&[0u8; 24]), None);
        assert_eq!(WalFrame::from_header(&header[..6]), None);
    }
}
