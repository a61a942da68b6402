//! The direct-message writes of a SQLite batch, decided in memory by the one thread that logs
//! batches: which seq a message gets, whether a send is a resend, where a watermark moves. The
//! batch's changes come out as [`Entry`]s for the log and the indexer.
//!
//! What the writer remembers ([`DmState`]) is the truth for every conversation and message it
//! changed that the tables may not hold yet; anything else it reads from the tables (a
//! conversation, or the original of a resend, on the thread's own read connection) and then
//! remembers. So nothing it forgets may be newer than the tables: a conversation is forgotten
//! only once the indexer has its last change, and a message once it is indexed. A new message
//! is looked for in the tables only if a Bloom filter of every resend key
//! ([`super::sqlite_sent_filter`]) says the store may hold it: almost never, for a new one.
//!
//! A batch works on a copy of what it touches ([`DmBatch`]); its decisions are kept
//! ([`DmState::keep`]) only once the batch is durable, so a batch that fails leaves nothing.

use super::rows;
use super::sqlite_entries::Entry;
use super::sqlite_sent_filter::{SentKey, SentKeys};
use super::sqlite_writes::LiteRow;
use super::{
    ordered_pair, seq_param, NewMessage, StoreResult, StoredMessage, WriteOp, WriteOutcome,
};
use foldhash::HashMap;
use rusqlite::{params, Connection, OptionalExtension};
use std::collections::VecDeque;
use std::sync::Arc;

/// Conversations remembered at most (beyond those with changes not yet indexed); past that,
/// the ones the tables are current for are forgotten (a miss is one indexed lookup).
const MAX_REMEMBERED: usize = 100_000;

/// Messages forgotten before a batch of `ops` writes at most. Forgetting frees each message,
/// whose strings the socket threads allocated (a cross-thread free each): forgetting all of an
/// indexer commit's at once held the log thread, and every batch behind it, for 0.5–3.3 ms
/// (median 1.8, benchmark W=1). Twice the batch plus some is always more than the batch adds,
/// so what waits is soon forgotten.
fn forget_budget(ops: usize) -> usize {
    2 * ops + 256
}

/// A member's watermarks.
#[derive(Debug, Clone, Copy, Default)]
struct Marks {
    delivered: i64,
    read: i64,
}

/// A conversation as the writer knows it.
#[derive(Debug, Clone)]
struct Conv {
    id: i64,
    last_seq: i64,
    /// The watermarks of `user_lo` and `user_hi`.
    lo: Marks,
    hi: Marks,
    /// The newest log record that changed it; the tables are current once that is indexed.
    changed_in: u64,
}

/// A map key of two strings: `a`, NUL, `b`. Usernames hold no NUL, so keys never collide.
fn key_into(buffer: &mut String, a: &str, b: &str) {
    buffer.clear();
    buffer.push_str(a);
    buffer.push('\0');
    buffer.push_str(b);
}

/// What the writer remembers between batches.
pub(super) struct DmState {
    /// By `user_lo` NUL `user_hi`.
    convs: HashMap<String, Conv>,
    /// Messages logged but perhaps not yet indexed, by (sender, client_msg_id), with the
    /// record that logged them.
    recent: HashMap<SentKey, (Arc<StoredMessage>, u64)>,
    /// `recent`'s keys by record, oldest first, to forget them once indexed.
    recent_by_record: VecDeque<(u64, Vec<SentKey>)>,
    /// Every (sender, client_msg_id) stored or decided: a resend check reads the tables only
    /// for a key it may hold.
    sent: SentKeys,
    next_conversation_id: i64,
}

impl DmState {
    /// Starts from the tables (after recovery, so they hold everything logged), with the
    /// resend filter `sent` (being built from them).
    pub(super) fn load(conn: &Connection, sent: SentKeys) -> rusqlite::Result<Self> {
        let max_id: i64 =
            conn.query_row("SELECT COALESCE(MAX(id), 0) FROM conversations", [], |r| {
                r.get(0)
            })?;
        Ok(Self {
            convs: HashMap::default(),
            recent: HashMap::default(),
            recent_by_record: VecDeque::new(),
            sent,
            next_conversation_id: max_id + 1,
        })
    }

    /// Between batches: forgets what the tables now hold (records up to `indexed`) and is no
    /// longer needed, and takes the resend filter once it has been built. Forgets at most
    /// [`forget_budget`] messages of a batch of `ops` writes: the rest wait for the next batch.
    pub(super) fn forget_indexed(&mut self, indexed: u64, ops: usize) {
        self.sent.poll();
        let mut budget = forget_budget(ops);
        while budget > 0 {
            let Some((record, keys)) = self.recent_by_record.front_mut() else {
                break;
            };
            if *record > indexed {
                break;
            }
            let now = keys.len().min(budget);
            for key in keys.drain(keys.len() - now..) {
                self.recent.remove(&key);
            }
            budget -= now;
            if keys.is_empty() {
                self.recent_by_record.pop_front();
            }
        }
        if self.convs.len() > MAX_REMEMBERED {
            self.convs.retain(|_, conv| conv.changed_in > indexed);
        }
    }

    /// A batch of `ops` writes on top of what is remembered, reading misses through `conn`.
    pub(super) fn batch<'a>(&'a self, conn: &'a Connection, ops: usize) -> DmBatch<'a> {
        // Sized for the batch up front: grown from empty, the maps rehashed several times in
        // every batch (a write adds at most one entry to each, except a new conversation's).
        DmBatch {
            state: self,
            conn,
            reading: false,
            convs: HashMap::with_capacity_and_hasher(ops, Default::default()),
            recent: HashMap::with_capacity_and_hasher(ops, Default::default()),
            entries: Vec::with_capacity(ops),
            next_conversation_id: self.next_conversation_id,
            key: String::new(),
        }
    }

    /// Keeps a durable batch's decisions. `logged_as`: the log record holding its entries, or
    /// `None` when they were committed to the tables directly.
    pub(super) fn keep(&mut self, decided: Decided, logged_as: Option<u64>) {
        for (key, (mut conv, changed)) in decided.convs {
            if let (true, Some(record)) = (changed, logged_as) {
                conv.changed_in = record;
            }
            self.convs.insert(key, conv);
        }
        for key in decided.recent.keys() {
            self.sent.insert_key(*key);
        }
        if let Some(record) = logged_as {
            let mut keys = Vec::with_capacity(decided.recent.len());
            for (key, message) in decided.recent {
                keys.push(key);
                self.recent.insert(key, (message, record));
            }
            if !keys.is_empty() {
                self.recent_by_record.push_back((record, keys));
            }
        }
        self.next_conversation_id = decided.next_conversation_id;
    }
}

/// A batch's decisions, to keep once it is durable.
pub(super) struct Decided {
    /// Conversations it read or changed (`true`: changed).
    convs: HashMap<String, (Conv, bool)>,
    recent: HashMap<SentKey, Arc<StoredMessage>>,
    next_conversation_id: i64,
}

/// One batch's view: what is remembered, plus its own changes.
pub(super) struct DmBatch<'a> {
    state: &'a DmState,
    conn: &'a Connection,
    /// A read transaction is open on `conn`: a batch's reads share one snapshot, and one
    /// look at whether the tables changed (which empties the connection's page cache).
    reading: bool,
    convs: HashMap<String, (Conv, bool)>,
    recent: HashMap<SentKey, Arc<StoredMessage>>,
    entries: Vec<Entry>,
    next_conversation_id: i64,
    /// Reused for map lookups.
    key: String,
}

impl DmBatch<'_> {
    /// Decides one direct-message write.
    pub(super) fn apply(&mut self, op: &WriteOp) -> StoreResult<WriteOutcome> {
        match op {
            WriteOp::Append(message) => self.append(message),
            WriteOp::MarkDelivered {
                reader,
                peer,
                up_to_seq,
            } => self.mark(reader, peer, *up_to_seq, false),
            WriteOp::MarkRead {
                reader,
                peer,
                up_to_seq,
            } => self.mark(reader, peer, *up_to_seq, true),
            WriteOp::SupportAppend(_)
            | WriteOp::SupportChange { .. }
            | WriteOp::SupportRead { .. } => {
                unreachable!("support writes are applied by sqlite_support_writes")
            }
        }
    }

    /// The entries for the log, and the decisions to keep once they are durable.
    pub(super) fn finish(mut self) -> (Vec<Entry>, Decided) {
        self.end_reading();
        let decided = Decided {
            convs: std::mem::take(&mut self.convs),
            recent: std::mem::take(&mut self.recent),
            next_conversation_id: self.next_conversation_id,
        };
        (std::mem::take(&mut self.entries), decided)
    }

    /// Opens the batch's read transaction before its first read.
    fn start_reading(&mut self) -> rusqlite::Result<()> {
        if !self.reading {
            self.conn.execute_batch("BEGIN")?;
            self.reading = true;
        }
        Ok(())
    }

    fn end_reading(&mut self) {
        if std::mem::take(&mut self.reading) {
            if let Err(e) = self.conn.execute_batch("COMMIT") {
                tracing::warn!(error = %e, "ending the writer's read transaction failed");
            }
        }
    }

    fn append(&mut self, m: &NewMessage) -> StoreResult<WriteOutcome> {
        // A resend (same sender and client_msg_id, whatever the peer) answers with the original.
        let sent_key = SentKey::of(&m.sender, &m.client_msg_id);
        if let Some(original) = self.original(sent_key, &m.sender, &m.client_msg_id)? {
            let (lo, hi) = ordered_pair(&original.sender, &original.recipient);
            let delivered = match self.conv(lo, hi)? {
                Some(conv) => conv.marks(lo, &original.recipient).delivered,
                None => 0,
            };
            return Ok(WriteOutcome::Appended {
                message: original,
                duplicate: true,
                recipient_delivered_seq: delivered.max(0) as u64,
            });
        }
        let (lo, hi) = ordered_pair(&m.sender, &m.recipient);
        if self.conv(lo, hi)?.is_none() {
            let id = self.next_conversation_id;
            self.next_conversation_id += 1;
            self.entries.push(Entry::Conversation {
                id,
                lo: lo.to_owned(),
                hi: hi.to_owned(),
                at: m.sent_at.clone(),
            });
            let conv = Conv {
                id,
                last_seq: 0,
                lo: Marks::default(),
                hi: Marks::default(),
                changed_in: 0,
            };
            key_into(&mut self.key, lo, hi);
            self.convs.insert(self.key.clone(), (conv, true));
        }
        key_into(&mut self.key, lo, hi);
        let Some((conv, changed)) = self.convs.get_mut(self.key.as_str()) else {
            unreachable!("the conversation was just read or created");
        };
        conv.last_seq += 1;
        *changed = true;
        let stored = Arc::new(m.stored(conv.last_seq as u64));
        self.entries.push(Entry::Message {
            conversation_id: conv.id,
            message: stored.clone(),
        });
        self.recent.insert(sent_key, stored.clone());
        Ok(WriteOutcome::Appended {
            message: stored,
            duplicate: false,
            recipient_delivered_seq: 0,
        })
    }

    /// Moves `reader`'s delivered (and, for reads, read) watermark forward, never backward and
    /// never past the conversation's last seq.
    fn mark(
        &mut self,
        reader: &str,
        peer: &str,
        up_to_seq: u64,
        read: bool,
    ) -> StoreResult<WriteOutcome> {
        let (lo, hi) = ordered_pair(reader, peer);
        if self.conv(lo, hi)?.is_none() {
            return Ok(WriteOutcome::Marked { advanced_to: None });
        }
        key_into(&mut self.key, lo, hi);
        let Some((conv, changed)) = self.convs.get_mut(self.key.as_str()) else {
            unreachable!("the conversation was just read");
        };
        let target = seq_param(up_to_seq).min(conv.last_seq);
        let conversation_id = conv.id;
        let marks = if reader == lo {
            &mut conv.lo
        } else {
            &mut conv.hi
        };
        let advanced = if read {
            let moves = marks.read < target;
            if moves {
                marks.read = target;
                marks.delivered = marks.delivered.max(target);
            }
            moves
        } else {
            let moves = marks.delivered < target;
            if moves {
                marks.delivered = target;
            }
            moves
        };
        if advanced {
            *changed = true;
            self.entries.push(Entry::Marks {
                conversation_id,
                username: reader.to_owned(),
                delivered_seq: marks.delivered,
                read_seq: marks.read,
            });
        }
        Ok(WriteOutcome::Marked {
            advanced_to: advanced.then_some(target as u64),
        })
    }

    /// The conversation of `lo` and `hi`, copied into the batch (read from the tables if the
    /// writer does not remember it).
    fn conv(&mut self, lo: &str, hi: &str) -> StoreResult<Option<&Conv>> {
        key_into(&mut self.key, lo, hi);
        if !self.convs.contains_key(self.key.as_str()) {
            let known = match self.state.convs.get(self.key.as_str()) {
                Some(conv) => Some(conv.clone()),
                None => {
                    self.start_reading()?;
                    load_conv(self.conn, lo, hi)?
                }
            };
            let Some(conv) = known else {
                return Ok(None);
            };
            self.convs.insert(self.key.clone(), (conv, false));
        }
        Ok(self.convs.get(self.key.as_str()).map(|(conv, _)| conv))
    }

    /// The message `sender` already sent with this `client_msg_id` (whose key is `key`), if any.
    fn original(
        &mut self,
        key: SentKey,
        sender: &str,
        client_msg_id: &str,
    ) -> StoreResult<Option<Arc<StoredMessage>>> {
        let same = |m: &&Arc<StoredMessage>| m.sender == sender && m.client_msg_id == client_msg_id;
        if let Some(message) = self.recent.get(&key).filter(same) {
            return Ok(Some(message.clone()));
        }
        // Before the remembered messages: every key among them was added to the filter when
        // it was kept, and for a new key the filter's one cache line is all the check reads.
        if !self.state.sent.may_contain_key(key) {
            return Ok(None);
        }
        if let Some((message, _)) = self.state.recent.get(&key).filter(|(m, _)| same(&m)) {
            return Ok(Some(message.clone()));
        }
        self.start_reading()?;
        Ok(self
            .conn
            .prepare_cached(
                "SELECT m.seq, m.id, m.sender, m.recipient, m.body, m.client_msg_id, m.sent_at \
                 FROM messages m WHERE m.sender = ? AND m.client_msg_id = ?",
            )?
            .query_row(params![sender, client_msg_id], |row| {
                Ok(Arc::new(rows::stored_message(&LiteRow(row))))
            })
            .optional()?)
    }
}

impl Drop for DmBatch<'_> {
    fn drop(&mut self) {
        // A batch that failed half-way must not leave its snapshot open: the WAL could not
        // be checkpointed past it.
        self.end_reading();
    }
}

impl Conv {
    fn marks(&self, lo: &str, member: &str) -> Marks {
        if member == lo {
            self.lo
        } else {
            self.hi
        }
    }
}

/// A conversation and its members' watermarks, from the tables.
fn load_conv(conn: &Connection, lo: &str, hi: &str) -> StoreResult<Option<Conv>> {
    Ok(conn
        .prepare_cached(
            "SELECT c.id, c.last_seq, l.delivered_seq, l.read_seq, h.delivered_seq, h.read_seq \
             FROM conversations c \
             JOIN members l ON l.conversation_id = c.id AND l.username = c.user_lo \
             JOIN members h ON h.conversation_id = c.id AND h.username = c.user_hi \
             WHERE c.user_lo = ? AND c.user_hi = ?",
        )?
        .query_row(params![lo, hi], |row| {
            Ok(Conv {
                id: row.get(0)?,
                last_seq: row.get(1)?,
                lo: Marks {
                    delivered: row.get(2)?,
                    read: row.get(3)?,
                },
                hi: Marks {
                    delivered: row.get(4)?,
                    read: row.get(5)?,
                },
                changed_in: 0,
            })
        })
        .optional()?)
}

#[cfg(test)]
#[path = "sqlite_dm_writes_tests.rs"]
mod tests;
