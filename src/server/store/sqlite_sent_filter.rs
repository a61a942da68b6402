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
//! Building it reads every message's key (about a second per million messages), so it is
//! built on a thread of its own while the server already runs ([`SentKeys`]): until it is
//! ready every check reads the index as before, and the keys decided meanwhile are added to it
//! when it arrives.
//!
//! It grows in layers (each twice the size of the one before, each filled to its capacity at
//! about 1 % false positives), so it never has to be rebuilt: 10 bits per key, 1.25 MiB per
//! million messages. Past [`MAX_KEYS`] (31 million, 39 MiB) it lets its layers go and answers
//! "maybe" for everything: the store falls back to reading the index.

use foldhash::quality::FixedState;
use rusqlite::{Connection, OpenFlags};
use std::hash::BuildHasher;
use std::path::Path;
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// Bits per key: about 1 % false positives at capacity (see [`Block`]).
const BITS_PER_KEY: usize = 10;

/// Keys the first layer holds.
const FIRST_CAPACITY: usize = 1 << 20;

/// Keys at most (the capacity of five layers); past this every check is a "maybe".
const MAX_KEYS: usize = 31 * FIRST_CAPACITY;

pub(super) struct SentFilter {
    layers: Vec<Layer>,
    keys: usize,
}

/// A key's bits all lie in one block of 512 bits, one bit in each of its eight words (a "split
/// block" Bloom filter). The block is one cache line: checking a key in a layer is one memory
/// access instead of one per bit. With seven bits spread over a layer of megabytes, the checks
/// of every new message (in each layer) were the log thread's largest cost after SQLite's.
/// Eight bits in blocks of 512 at 10 bits per key give about 1.1 % false positives, against
/// about 0.8 % for bits anywhere.
#[derive(Clone, Copy, Default)]
#[repr(align(64))]
struct Block([u64; 8]);

/// Odd multipliers, one per word of a block, that turn a key's second hash into the bit it sets
/// in that word (the top six bits of the product).
const SALTS: [u64; 8] = [
    0x47b6_137b_4497_4d91,
    0x8824_ad5b_a2b7_289d,
    0x7054_95c7_2df1_424b,
    0x9efc_4947_5c6b_fb31,
    0x2df1_424b_9efc_4947,
    0xa2b7_289d_8824_ad5b,
    0x5c6b_fb31_47b6_137b,
    0x4497_4d91_7054_95c7,
];

struct Layer {
    blocks: Vec<Block>,
    capacity: usize,
    keys: usize,
}

impl Layer {
    fn new(capacity: usize) -> Self {
        let blocks = (capacity * BITS_PER_KEY).div_ceil(512);
        Self {
            blocks: vec![Block::default(); blocks],
            capacity,
            keys: 0,
        }
    }

    /// A key's block (its first hash mapped onto the blocks by a multiply-shift: no power-of-two
    /// size needed) and the bit it has in each of the block's words (from its second hash).
    fn place(&self, SentKey(a, b): SentKey) -> (usize, [u64; 8]) {
        let block = ((u128::from(a) * self.blocks.len() as u128) >> 64) as usize;
        (
            block,
            SALTS.map(|salt| 1u64 << (b.wrapping_mul(salt) >> 58)),
        )
    }

    fn insert(&mut self, key: SentKey) {
        let (block, bits) = self.place(key);
        for (word, bit) in self.blocks[block].0.iter_mut().zip(bits) {
            *word |= bit;
        }
        self.keys += 1;
    }

    fn may_contain(&self, key: SentKey) -> bool {
        let (block, bits) = self.place(key);
        let words = &self.blocks[block].0;
        words.iter().zip(bits).all(|(word, bit)| word & bit != 0)
    }
}

/// A `(sender, client_msg_id)` key as two independent 64-bit hashes: what the filter sets its
/// bits from, and what the log thread keys its unindexed messages by, so that a message's key
/// is hashed once and no string is copied to look it up. 128 bits: two different keys share
/// one with a probability of about 2^-128 per pair; a lookup still compares the strings.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(super) struct SentKey(u64, u64);

impl SentKey {
    pub(super) fn of(sender: &str, client_msg_id: &str) -> Self {
        const FIRST: FixedState = FixedState::with_seed(0x5eed_0fc0_7fab_1234);
        const SECOND: FixedState = FixedState::with_seed(0x0dd5_eed5_2b9a_41c7);
        let key = (sender, client_msg_id);
        Self(FIRST.hash_one(key), SECOND.hash_one(key))
    }
}

impl SentFilter {
    pub(super) fn empty() -> Self {
        Self {
            layers: Vec::new(),
            keys: 0,
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
        self.insert_key(SentKey::of(sender, client_msg_id));
    }

    /// More than [`MAX_KEYS`] keys: it no longer says "absent".
    fn full(&self) -> bool {
        self.keys > MAX_KEYS
    }

    fn insert_key(&mut self, key: SentKey) {
        self.keys += 1;
        if self.full() {
            // Its memory goes with its use (a no-op after the first time).
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
            layer.insert(key);
        }
    }

    /// False only if the store certainly holds no message with this key.
    #[cfg(test)]
    fn may_contain(&self, sender: &str, client_msg_id: &str) -> bool {
        self.may_contain_key(SentKey::of(sender, client_msg_id))
    }

    fn may_contain_key(&self, key: SentKey) -> bool {
        if self.full() {
            return true;
        }
        self.layers.iter().any(|layer| layer.may_contain(key))
    }
}

/// The log thread's filter: built in the background at first, then complete.
pub(super) enum SentKeys {
    /// Every check is a "maybe"; the keys decided meanwhile wait for the filter.
    Building {
        ready: mpsc::Receiver<rusqlite::Result<SentFilter>>,
        decided: Vec<SentKey>,
    },
    Ready(SentFilter),
    /// It could not be built: every check reads the index (correct, only slower).
    Unavailable,
}

impl SentKeys {
    /// Starts building the filter of the database at `path` on a thread of its own. Every
    /// message in the tables now is in what it reads (rows are only ever added), and every one
    /// decided from now on is added by [`SentKeys::insert`].
    pub(super) fn build(path: &Path) -> Self {
        let (done, ready) = mpsc::sync_channel(1);
        let path = path.to_owned();
        let spawned = std::thread::Builder::new()
            .name("sqlite-sent-filter".into())
            .spawn(move || {
                let started = Instant::now();
                let built = Connection::open_with_flags(
                    &path,
                    OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
                )
                .and_then(|conn| {
                    conn.busy_timeout(Duration::from_secs(10))?;
                    SentFilter::load(&conn)
                });
                if let Ok(filter) = &built {
                    tracing::info!(
                        messages = filter.keys,
                        ms = started.elapsed().as_millis() as u64,
                        "resend filter built"
                    );
                }
                let _ = done.send(built);
            });
        match spawned {
            Ok(_) => Self::building(ready),
            Err(e) => {
                tracing::warn!(error = %e, "cannot start building the resend filter; resends are looked up in the index");
                Self::Unavailable
            }
        }
    }

    fn building(ready: mpsc::Receiver<rusqlite::Result<SentFilter>>) -> Self {
        Self::Building {
            ready,
            decided: Vec::new(),
        }
    }

    /// Takes the filter if it has been built since (between batches).
    pub(super) fn poll(&mut self) {
        let Self::Building { ready, decided } = self else {
            return;
        };
        *self = match ready.try_recv() {
            Err(mpsc::TryRecvError::Empty) => return,
            Ok(Ok(mut filter)) => {
                for key in decided.drain(..) {
                    filter.insert_key(key);
                }
                Self::Ready(filter)
            }
            Ok(Err(e)) => {
                tracing::warn!(error = %e, "building the resend filter failed; resends are looked up in the index");
                Self::Unavailable
            }
            Err(mpsc::TryRecvError::Disconnected) => Self::Unavailable,
        };
    }

    #[cfg(test)]
    pub(super) fn insert(&mut self, sender: &str, client_msg_id: &str) {
        self.insert_key(SentKey::of(sender, client_msg_id));
    }

    pub(super) fn insert_key(&mut self, key: SentKey) {
        match self {
            Self::Building { decided, .. } => decided.push(key),
            Self::Ready(filter) => filter.insert_key(key),
            Self::Unavailable => {}
        }
    }

    /// False only if the store certainly holds no message with this key.
    #[cfg(test)]
    pub(super) fn may_contain(&self, sender: &str, client_msg_id: &str) -> bool {
        self.may_contain_key(SentKey::of(sender, client_msg_id))
    }

    pub(super) fn may_contain_key(&self, key: SentKey) -> bool {
        match self {
            Self::Ready(filter) => filter.may_contain_key(key),
            Self::Building { .. } | Self::Unavailable => true,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Polls until the background build has answered (or 10 s have passed).
    fn wait_until_built(keys: &mut SentKeys) {
        let deadline = Instant::now() + Duration::from_secs(10);
        while matches!(keys, SentKeys::Building { .. }) && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(5));
            keys.poll();
        }
    }

    #[test]
    fn keys_decided_while_the_filter_is_built_are_in_it_once_it_arrives() {
        let (done, ready) = mpsc::sync_channel(1);
        let mut keys = SentKeys::building(ready);
        keys.insert("ann", "during");
        assert!(
            keys.may_contain("zed", "never sent"),
            "no answer but maybe before"
        );
        keys.poll();
        assert!(matches!(keys, SentKeys::Building { .. }), "still waiting");
        let mut scanned = SentFilter::empty();
        scanned.insert("ann", "before");
        done.send(Ok(scanned)).unwrap();
        keys.poll();
        assert!(matches!(keys, SentKeys::Ready(_)));
        keys.insert("ann", "after");
        for id in ["before", "during", "after"] {
            assert!(keys.may_contain("ann", id), "{id}");
        }
    }

    #[test]
    fn a_filter_built_from_a_database_holds_its_keys() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.db");
        let conn = Connection::open(&path).unwrap();
        conn.execute_batch(
            "PRAGMA journal_mode = WAL; \
             CREATE TABLE messages (sender TEXT, client_msg_id TEXT); \
             INSERT INTO messages VALUES ('ann', 'm1'), ('bob', 'm2');",
        )
        .unwrap();
        let mut keys = SentKeys::build(&path);
        wait_until_built(&mut keys);
        let SentKeys::Ready(filter) = &keys else {
            panic!("not built");
        };
        assert_eq!(filter.keys, 2);
        assert!(keys.may_contain("ann", "m1") && keys.may_contain("bob", "m2"));
    }

    #[test]
    fn a_filter_that_cannot_be_built_leaves_every_check_to_the_index() {
        let dir = tempfile::tempdir().unwrap();
        let mut keys = SentKeys::build(&dir.path().join("missing.db"));
        wait_until_built(&mut keys);
        assert!(matches!(keys, SentKeys::Unavailable));
        assert!(keys.may_contain("zed", "never sent"));
    }

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
        // About 1.1 % at capacity; under 2 % leaves room for chance (a standard deviation
        // is about 0.03 %).
        assert!(
            false_positives < probes * 2 / 100,
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
        assert!(filter.full());
        assert!(filter.layers.is_empty(), "its memory is let go");
        assert!(filter.may_contain("zed", "never sent"));
    }
}
