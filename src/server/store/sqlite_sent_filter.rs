//! Which `(sender, client_msg_id)` keys the store may already hold: a Bloom filter that lets
//! the log thread decide most new messages without reading the tables.
//!
//! Every `send` must be checked for a resend (the same sender and `client_msg_id` answer with
//! the original). Messages not yet indexed are remembered in memory; for the rest the check was
//! an index lookup on the log thread, one per new message, and every indexer commit emptied
//! that connection's page cache: about a twentieth of the server's CPU under the benchmark's
//! load, on the thread every batch waits for. The filter answers "certainly not sent" for
//! almost every new key; only "maybe" (a resend, or a false positive, about 1 %) still reads
//! the index. So a key the store holds is never missed: every stored key is added when the
//! filter is built from the tables, and every new one as it is decided.
//!
//! It grows in layers (each twice the size of the one before, each filled to its capacity at
//! about 1 % false positives), so it never has to be rebuilt: 10 bits per key, 1.25 MiB per
//! million messages. Past [`MAX_KEYS`] (31 million, 39 MiB) it lets its layers go and answers
//! "maybe" for everything: the store falls back to reading the index.

use foldhash::quality::FixedState;
use rusqlite::Connection;
use std::hash::BuildHasher;

/// Bits per key and hash functions: about 1 % false positives at capacity.
const BITS_PER_KEY: usize = 10;
const HASHES: u64 = 7;

/// Keys the first layer holds.
const FIRST_CAPACITY: usize = 1 << 20;

/// Keys at most (the capacity of five layers); past this every check is a "maybe".
const MAX_KEYS: usize = 31 * FIRST_CAPACITY;

pub(super) struct SentFilter {
    layers: Vec<Layer>,
    keys: usize,
    /// More than [`MAX_KEYS`] keys: no longer says "absent".
    full: bool,
}

struct Layer {
    bits: Vec<u64>,
    capacity: usize,
    keys: usize,
}

impl Layer {
    fn new(capacity: usize) -> Self {
        let words = (capacity * BITS_PER_KEY).div_ceil(64);
        Self {
            bits: vec![0; words],
            capacity,
            keys: 0,
        }
    }

    /// The bit positions of a key (word, mask): double hashing of two independent hashes,
    /// each mapped onto the layer's bits by a multiply-shift (no power-of-two size needed).
    fn positions(words: usize, (a, b): (u64, u64)) -> impl Iterator<Item = (usize, u64)> {
        let bits = (words * 64) as u128;
        (0..HASHES).map(move |i| {
            let hash = a.wrapping_add(i.wrapping_mul(b));
            let bit = ((u128::from(hash) * bits) >> 64) as u64;
            ((bit / 64) as usize, 1u64 << (bit % 64))
        })
    }

    fn insert(&mut self, hashes: (u64, u64)) {
        for (word, bit) in Self::positions(self.bits.len(), hashes) {
            self.bits[word] |= bit;
        }
        self.keys += 1;
    }

    fn may_contain(&self, hashes: (u64, u64)) -> bool {
        Self::positions(self.bits.len(), hashes).all(|(word, bit)| self.bits[word] & bit != 0)
    }
}

fn hashes(sender: &str, client_msg_id: &str) -> (u64, u64) {
    const FIRST: FixedState = FixedState::with_seed(0x5eed_0fc0_7fab_1234);
    const SECOND: FixedState = FixedState::with_seed(0x0dd5_eed5_2b9a_41c7);
    let key = (sender, client_msg_id);
    (FIRST.hash_one(key), SECOND.hash_one(key))
}

impl SentFilter {
    pub(super) fn empty() -> Self {
        Self {
            layers: Vec::new(),
            keys: 0,
            full: false,
        }
    }

    /// A filter holding every key of the `messages` table (one scan of its resend index).
    pub(super) fn load(conn: &Connection) -> rusqlite::Result<Self> {
        let mut filter = Self::empty();
        let mut stmt = conn.prepare("SELECT sender, client_msg_id FROM messages")?;
        let mut rows = stmt.query([])?;
        while let Some(row) = rows.next()? {
            let (sender, client_msg_id) = (row.get_ref(0)?.as_str()?, row.get_ref(1)?.as_str()?);
            filter.insert(sender, client_msg_id);
        }
        Ok(filter)
    }

    pub(super) fn insert(&mut self, sender: &str, client_msg_id: &str) {
        self.keys += 1;
        if self.full {
            return;
        }
        if self.keys > MAX_KEYS {
            self.full = true;
            self.layers = Vec::new();
            return;
        }
        if self.layers.last().is_none_or(|l| l.keys >= l.capacity) {
            let capacity = self
                .layers
                .last()
                .map_or(FIRST_CAPACITY, |l| l.capacity * 2);
            self.layers.push(Layer::new(capacity));
        }
        if let Some(layer) = self.layers.last_mut() {
            layer.insert(hashes(sender, client_msg_id));
        }
    }

    /// Keys added so far.
    pub(super) fn keys(&self) -> usize {
        self.keys
    }

    /// False only if the store certainly holds no message with this key.
    pub(super) fn may_contain(&self, sender: &str, client_msg_id: &str) -> bool {
        if self.full {
            return true;
        }
        let hashes = hashes(sender, client_msg_id);
        self.layers.iter().any(|layer| layer.may_contain(hashes))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_inserted_key_is_found_across_layers() {
        let mut filter = SentFilter::empty();
        let n = FIRST_CAPACITY * 3 + 17;
        for i in 0..n {
            filter.insert("ann", &format!("m{i}"));
        }
        assert!(filter.layers.len() >= 2, "it grew a layer");
        assert!((0..n).all(|i| filter.may_contain("ann", &format!("m{i}"))));
    }

    #[test]
    fn keys_never_inserted_are_mostly_absent() {
        let mut filter = SentFilter::empty();
        for i in 0..FIRST_CAPACITY {
            filter.insert("ann", &format!("m{i}"));
        }
        let probes = 100_000;
        let false_positives = (0..probes)
            .filter(|i| filter.may_contain("bob", &format!("m{i}")))
            .count();
        // About 1 % at capacity; well under 3 % leaves room for chance.
        assert!(
            false_positives < probes * 3 / 100,
            "{false_positives} false positives"
        );
        // Sender and id are separate parts of the key: "an"+"nm1" is not "ann"+"m1".
        assert!(filter.may_contain("ann", "m1"));
    }

    #[test]
    fn a_full_filter_answers_maybe() {
        let mut filter = SentFilter::empty();
        filter.keys = MAX_KEYS;
        filter.insert("ann", "last");
        assert!(filter.full);
        assert!(filter.layers.is_empty(), "its memory is let go");
        assert!(filter.may_contain("zed", "never sent"));
    }
}
