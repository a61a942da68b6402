//! What a logged direct-message batch changes in the SQLite tables, as entries: written to the
//! message log (encoded with postcard) and later applied by the indexer, or by recovery after a
//! crash. Entries state results, not requests (a watermark entry holds the new values, a
//! message its seq), so applying one needs no reads and gives the same tables every time.

use super::StoredMessage;
use rusqlite::{params, Connection};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::sync::Arc;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(super) enum Entry {
    /// A new conversation of `lo` < `hi`, both members at seq 0.
    Conversation {
        id: i64,
        lo: String,
        hi: String,
        at: String,
    },
    /// A message at its seq; the conversation's `last_seq` and `updated_at` follow it.
    Message {
        conversation_id: i64,
        message: Arc<StoredMessage>,
    },
    /// A member's watermarks as they now are.
    Marks {
        conversation_id: i64,
        username: String,
        delivered_seq: i64,
        read_seq: i64,
    },
}

/// A batch's entries as one log record (the log thread encodes into the log writer's buffer
/// with [`encode_into`]).
#[cfg(test)]
pub(super) fn encode(entries: &[Entry]) -> Vec<u8> {
    let mut record = Vec::new();
    encode_into(entries, &mut record);
    record
}

/// Appends a batch's entries, as one log record, to `buffer`.
pub(super) fn encode_into(entries: &[Entry], buffer: &mut Vec<u8>) {
    // Serializing owned strings and integers into a Vec cannot fail; were it to, the record
    // would be empty rather than cut.
    let start = buffer.len();
    if postcard::to_io(entries, &mut *buffer).is_err() {
        buffer.truncate(start);
    }
}

pub(super) fn decode(record: &[u8]) -> Result<Vec<Entry>, postcard::Error> {
    postcard::from_bytes(record)
}

/// Applies entries inside the caller's transaction. If a statement fails, the caller rolls
/// back and may try again with [`apply_tolerantly`].
///
/// The messages are inserted last, ordered by conversation and seq rather than as logged.
/// Their index entries then go in key order: each (conversation, seq) insert, and each
/// (sender, client_msg_id) one of a sender's time-ordered ids, lands on the index page the
/// one before it used, still in the CPU's cache, instead of on a page per conversation in
/// turn. The rows still fill the end of the table, and every conversation they refer to is
/// inserted before them. The indexer thread's CPU per delivered message at W=10, as
/// `confab-bench` reports it per thread: 4.5–4.8 µs as logged, 3.1–4.2 µs sorted. A replay of
/// that write pattern alone (12 000-message transactions over 100 conversations on a
/// 1 000 000-message table, commit included) went from 7.6 to 5.4 µs per message.
///
/// The rows themselves stay in commit order (a rowid table, migration 0005), also with the
/// indexer's large transactions: clustering them by (conversation_id, seq) in a `WITHOUT ROWID`
/// table saves the separate index but puts whole rows on a page per conversation, and the
/// indexer then took 3.2–3.5 µs per message at W=10 against 2.7–2.8 (3 interleaved rounds,
/// Dec 2026).
pub(super) fn apply<'a>(
    conn: &Connection,
    entries: impl IntoIterator<Item = &'a Entry>,
) -> rusqlite::Result<()> {
    let mut after = After::default();
    let mut inserts = Inserts::default();
    let mut messages = Vec::new();
    for entry in entries {
        match entry {
            Entry::Message {
                conversation_id,
                message,
            } => messages.push((*conversation_id, &**message)),
            other => apply_one(conn, &mut inserts, other, &mut after)?,
        }
    }
    messages.sort_unstable_by_key(|&(conversation_id, m)| (conversation_id, m.seq));
    for chunk in messages.chunks(READ_AHEAD) {
        read_ahead(chunk);
        for &(conversation_id, message) in chunk {
            insert_message(conn, &mut inserts, conversation_id, message, &mut after)?;
        }
    }
    after.write(conn)
}

/// Messages whose text [`read_ahead`] reads before they are inserted, at a time. 8 to 32 gave
/// the same figures; 128 was slower (the chunk's text no longer stays in the CPU's cache).
const READ_AHEAD: usize = 32;

/// Reads every cache line of the messages' strings, so that their inserts find them in the
/// CPU's cache.
///
/// In key order, a transaction's messages are read in no order their memory follows: each
/// was allocated up to 200 ms earlier, with its batch, and its six strings lie apart. Bound
/// one by one, every string was a cache miss paid inside SQLite's insert, one after another:
/// the copy in `sqlite3_bind_text` was half of the indexer's CPU in a profile (perf, W=10).
/// Read here in a loop that does nothing else, the misses of a chunk overlap. The indexer's
/// CPU per delivered message at W=10 (`confab-bench`, per thread): 2.90–3.73 µs without,
/// 2.55–2.73 µs with (interleaved runs).
fn read_ahead(chunk: &[(i64, &StoredMessage)]) {
    let mut seen = 0u8;
    for (_, m) in chunk {
        for text in [
            &m.id,
            &m.sender,
            &m.recipient,
            &m.body,
            &m.client_msg_id,
            &m.sent_at,
        ] {
            let bytes = text.as_bytes();
            // A byte in each 64-byte step and the last one: every line the string touches.
            for byte in bytes.iter().step_by(64).chain(bytes.last()) {
                seen ^= *byte;
            }
        }
    }
    // Otherwise the reads, whose result nothing uses, would be optimised away.
    std::hint::black_box(seen);
}

/// Like [`apply`], but an entry the tables refuse is skipped (and logged) instead of failing
/// the rest. Only a bug can make one refused (entries come from the writer's own checks); the
/// other messages of its batch were acknowledged and must not be lost with it.
pub(super) fn apply_tolerantly<'a>(
    tx: &mut rusqlite::Transaction,
    entries: impl IntoIterator<Item = &'a Entry>,
) -> rusqlite::Result<usize> {
    let mut after = After::default();
    let mut refused = 0;
    for entry in entries {
        let savepoint = tx.savepoint()?;
        let applied = apply_one(&savepoint, &mut Inserts::default(), entry, &mut after);
        match applied {
            Ok(()) => savepoint.commit()?,
            Err(e) => {
                refused += 1;
                tracing::error!(error = %e, ?entry, "the store refused a logged write");
                // Dropping the savepoint rolls it back.
            }
        }
    }
    after.write(tx)?;
    Ok(refused)
}

/// Per-conversation and per-member updates, written once per transaction.
#[derive(Default)]
struct After<'a> {
    /// Conversation → its newest (seq, time).
    tails: HashMap<i64, (i64, &'a str)>,
    /// (conversation, member) → (delivered, read).
    marks: HashMap<(i64, &'a str), (i64, i64)>,
}

/// The message insert, looked up in the statement cache once per batch instead of once per
/// message (the lookup hashes the whole SQL text).
#[derive(Default)]
struct Inserts<'c> {
    message: Option<rusqlite::CachedStatement<'c>>,
}

const INSERT_MESSAGE: &str = "INSERT INTO messages \
    (conversation_id, seq, id, sender, recipient, body, client_msg_id, sent_at) \
    VALUES (?, ?, ?, ?, ?, ?, ?, ?)";

fn apply_one<'a, 'c>(
    conn: &'c Connection,
    inserts: &mut Inserts<'c>,
    entry: &'a Entry,
    after: &mut After<'a>,
) -> rusqlite::Result<()> {
    match entry {
        Entry::Conversation { id, lo, hi, at } => {
            conn.prepare_cached(
                "INSERT INTO conversations (id, user_lo, user_hi, last_seq, updated_at) \
                 VALUES (?, ?, ?, 0, ?)",
            )?
            .execute(params![id, lo, hi, at])?;
            conn.prepare_cached(
                "INSERT INTO members (conversation_id, username) VALUES (?, ?), (?, ?)",
            )?
            .execute(params![id, lo, id, hi])?;
        }
        Entry::Message {
            conversation_id,
            message,
        } => insert_message(conn, inserts, *conversation_id, message, after)?,
        Entry::Marks {
            conversation_id,
            username,
            delivered_seq,
            read_seq,
        } => {
            after.marks.insert(
                (*conversation_id, username.as_str()),
                (*delivered_seq, *read_seq),
            );
        }
    }
    Ok(())
}

fn insert_message<'a, 'c>(
    conn: &'c Connection,
    inserts: &mut Inserts<'c>,
    conversation_id: i64,
    m: &'a StoredMessage,
    after: &mut After<'a>,
) -> rusqlite::Result<()> {
    let seq = super::seq_param(m.seq);
    let insert = match &mut inserts.message {
        Some(insert) => insert,
        empty => empty.insert(conn.prepare_cached(INSERT_MESSAGE)?),
    };
    insert.execute(params![
        conversation_id,
        seq,
        m.id,
        m.sender,
        m.recipient,
        m.body,
        m.client_msg_id,
        m.sent_at
    ])?;
    let tail = after
        .tails
        .entry(conversation_id)
        .or_insert((seq, &m.sent_at));
    if seq >= tail.0 {
        *tail = (seq, &m.sent_at);
    }
    Ok(())
}

impl After<'_> {
    fn write(self, conn: &Connection) -> rusqlite::Result<()> {
        let mut tail = conn.prepare_cached(
            "UPDATE conversations SET last_seq = ?1, updated_at = ?2 \
             WHERE id = ?3 AND last_seq < ?1",
        )?;
        for (id, (seq, at)) in &self.tails {
            tail.execute(params![seq, at, id])?;
        }
        let mut marks = conn.prepare_cached(
            "UPDATE members SET delivered_seq = ?, read_seq = ? \
             WHERE conversation_id = ? AND username = ?",
        )?;
        for ((id, username), (delivered, read)) in &self.marks {
            marks.execute(params![delivered, read, id, username])?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn message(seq: u64) -> StoredMessage {
        StoredMessage {
            id: format!("id-{seq}"),
            seq,
            sender: "ann".into(),
            recipient: "bob".into(),
            body: format!("hello {seq}"),
            client_msg_id: format!("c{seq}"),
            sent_at: format!("2026-12-04T00:00:0{seq}.000Z"),
        }
    }

    fn message_between(seq: u64, sender: &str, recipient: &str) -> Arc<StoredMessage> {
        Arc::new(StoredMessage {
            sender: sender.into(),
            recipient: recipient.into(),
            client_msg_id: format!("{sender}-{seq}"),
            ..message(seq)
        })
    }

    /// A new conversation of `lo` < `hi`, as logged.
    fn conversation(id: i64, lo: &str, hi: &str) -> Entry {
        Entry::Conversation {
            id,
            lo: lo.into(),
            hi: hi.into(),
            at: "2026-12-04T00:00:00.000Z".into(),
        }
    }

    #[tokio::test]
    async fn interleaved_conversations_are_stored_whole_with_their_tails_and_marks() {
        let (_dir, mut conn) = super::super::sqlite::migrated_for_test().await;
        conn.pragma_update(None, "foreign_keys", "ON").unwrap();
        let sent = |conversation_id: i64, seq: u64, from: &str, to: &str| Entry::Message {
            conversation_id,
            message: message_between(seq, from, to),
        };
        // Two logged records, as one indexer transaction takes them: each new conversation
        // comes before its first message, the conversations' messages alternate.
        let entries = [
            conversation(7, "ann", "bob"),
            sent(7, 1, "ann", "bob"),
            sent(7, 2, "bob", "ann"),
            conversation(3, "ann", "cat"),
            sent(3, 1, "cat", "ann"),
            sent(7, 3, "ann", "bob"),
            Entry::Marks {
                conversation_id: 7,
                username: "bob".into(),
                delivered_seq: 3,
                read_seq: 1,
            },
            sent(3, 2, "ann", "cat"),
        ];
        let tx = conn.transaction().unwrap();
        apply(&tx, &entries).unwrap();
        tx.commit().unwrap();

        let stored = |id: i64| -> Vec<(u64, String, String)> {
            conn.prepare(
                "SELECT seq, sender, body FROM messages WHERE conversation_id = ? ORDER BY seq",
            )
            .unwrap()
            .query_map([id], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
            .unwrap()
            .map(Result::unwrap)
            .collect()
        };
        let row = |seq: u64, from: &str| (seq, from.to_owned(), format!("hello {seq}"));
        assert_eq!(stored(7), [row(1, "ann"), row(2, "bob"), row(3, "ann")]);
        assert_eq!(stored(3), [row(1, "cat"), row(2, "ann")]);
        let last_seq = |id: i64| -> i64 {
            conn.query_row(
                "SELECT last_seq FROM conversations WHERE id = ?",
                [id],
                |r| r.get(0),
            )
            .unwrap()
        };
        assert_eq!((last_seq(7), last_seq(3)), (3, 2));
        let marks: (i64, i64) = conn
            .query_row(
                "SELECT delivered_seq, read_seq FROM members WHERE conversation_id = 7 AND username = 'bob'",
                [],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .unwrap();
        assert_eq!(marks, (3, 1));
    }

    #[tokio::test]
    async fn a_transaction_of_many_messages_stores_each_once_in_seq_order() {
        // More messages than one read-ahead chunk, logged with two conversations alternating.
        let (_dir, mut conn) = super::super::sqlite::migrated_for_test().await;
        let mut entries = vec![conversation(1, "ann", "bob"), conversation(2, "ann", "cat")];
        let count = 3 * READ_AHEAD as u64 + 5;
        for seq in 1..=count {
            for (conversation_id, from, to) in [(1, "ann", "bob"), (2, "cat", "ann")] {
                entries.push(Entry::Message {
                    conversation_id,
                    message: message_between(seq, from, to),
                });
            }
        }
        let tx = conn.transaction().unwrap();
        apply(&tx, &entries).unwrap();
        tx.commit().unwrap();

        for (conversation_id, to) in [(1, "bob"), (2, "ann")] {
            let rows: Vec<(u64, String, String)> = conn
                .prepare(
                    "SELECT seq, recipient, body FROM messages WHERE conversation_id = ? \
                     ORDER BY rowid",
                )
                .unwrap()
                .query_map([conversation_id], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
                .unwrap()
                .map(Result::unwrap)
                .collect();
            let expected: Vec<_> = (1..=count)
                .map(|seq| (seq, to.to_owned(), format!("hello {seq}")))
                .collect();
            assert_eq!(rows, expected, "conversation {conversation_id}");
        }
    }

    #[test]
    fn entries_read_back_as_written() {
        let entries = vec![
            conversation(3, "ann", "bob"),
            Entry::Message {
                conversation_id: 3,
                message: Arc::new(message(1)),
            },
            Entry::Marks {
                conversation_id: 3,
                username: "bob".into(),
                delivered_seq: 1,
                read_seq: 0,
            },
        ];
        assert_eq!(decode(&encode(&entries)).unwrap(), entries);
        assert!(decode(&encode(&entries)[..5]).is_err());
        // Encoded behind what the buffer holds (the log writer's room for the header).
        let mut buffer = b"head".to_vec();
        encode_into(&entries, &mut buffer);
        assert_eq!(&buffer[..4], b"head");
        assert_eq!(decode(&buffer[4..]).unwrap(), entries);
    }
}
