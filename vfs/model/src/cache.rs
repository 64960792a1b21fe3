//! The simulated local page cache: least recently used pages of each
//! database, N in all.

use std::collections::{BTreeMap, HashMap};

/// A page: database index and page number.
pub type Page = (u16, u64);

pub struct Lru {
    capacity: usize,
    stamp: u64,
    by_page: HashMap<Page, u64>,
    by_age: BTreeMap<u64, Page>,
}

impl Lru {
    pub fn new(capacity: usize) -> Self {
        Lru {
            capacity,
            stamp: 0,
            by_page: HashMap::new(),
            by_age: BTreeMap::new(),
        }
    }

    /// Whether the page is cached; marks it used either way (a miss loads it).
    pub fn touch(&mut self, page: Page) -> bool {
        self.stamp += 1;
        let hit = match self.by_page.insert(page, self.stamp) {
            Some(old) => {
                self.by_age.remove(&old);
                true
            }
            None => false,
        };
        self.by_age.insert(self.stamp, page);
        if self.by_page.len() > self.capacity {
            if let Some((_, oldest)) = self.by_age.pop_first() {
                self.by_page.remove(&oldest);
            }
        }
        hit
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn least_recently_used_goes_first() {
        let mut lru = Lru::new(2);
        assert!(!lru.touch((0, 1)));
        assert!(!lru.touch((0, 2)));
        assert!(lru.touch((0, 1)));
        assert!(!lru.touch((0, 3))); // evicts page 2
        assert!(lru.touch((0, 1)));
        assert!(!lru.touch((0, 2)));
        assert!(!lru.touch((1, 1)), "databases are apart");
    }
}
