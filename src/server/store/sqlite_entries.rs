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

/// A batch's entries as one log record.
pub(super) fn encode(entries: &[Entry]) -> Vec<u8> {
    // Serializing owned strings and integers into a Vec cannot fail.
    postcard::to_stdvec(entries).unwrap_or_default()
}

pub(super) fn decode(record: &[u8]) -> Result<Vec<Entry>, postcard::Error> {
    postcard::from_bytes(record)
}

/// Applies entries inside the caller's transaction. If a statement fails, the caller rolls
/// back and may try again with [`apply_tolerantly`].
pub(super) fn apply<'a>(
    conn: &Connection,
    entries: impl IntoIterator<Item = &'a Entry>,
) -> rusqlite::Result<()> {
    let mut after = After::default();
    let mut inserts = Inserts::default();
    for entry in entries {
        apply_one(conn, &mut inserts, entry, &mut after)?;
    }
    after.write(conn)
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
            message: m,
        } => {
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
                .entry(*conversation_id)
                .or_insert((seq, &m.sent_at));
            if seq >= tail.0 {
                *tail = (seq, &m.sent_at);
            }
        }
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

    #[test]
    fn entries_read_back_as_written() {
        let entries = vec![
            Entry::Conversation {
                id: 3,
                lo: "ann".into(),
                hi: "bob".into(),
                at: "2026-12-04T00:00:00.000Z".into(),
            },
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
    }
}
