//! The direct-message writes of a SQLite batch: appends and watermarks.
//!
//! Seqs come from memory. On SQLite one connection, the writer's, appends messages, so what it
//! remembers of a conversation (its row id and newest seq, its [`Tail`]) stays true: an append
//! to a known conversation is one plain `INSERT`, and each conversation's `last_seq` is written
//! once per batch rather than once per message. A batch's moves are kept apart and remembered
//! only when it commits, so a rolled-back batch leaves nothing behind.

use super::rows::{self, Columns, MESSAGE_COLUMNS};
use super::sqlite_writes::LiteRow;
use super::{ordered_pair, seq_param, NewMessage, StoreError, StoreResult, WriteOp, WriteOutcome};
use rusqlite::{params, Connection, OptionalExtension};
use std::collections::HashMap;

/// Conversations remembered at most; past that the memory starts again (a miss is one lookup).
const MAX_REMEMBERED: usize = 100_000;

/// A conversation's row id and newest seq.
#[derive(Debug, Clone, Copy)]
pub(super) struct Tail {
    id: i64,
    last_seq: i64,
}

type Pair = (String, String);

/// What the writer knows of conversations, by (user_lo, user_hi).
#[derive(Default)]
pub(super) struct Tails {
    known: HashMap<Pair, Tail>,
}

impl Tails {
    /// Starts a batch on top of what is known.
    pub(super) fn batch(&self) -> BatchTails<'_> {
        BatchTails {
            known: self,
            moved: HashMap::new(),
        }
    }

    /// Takes in a committed batch's moves.
    pub(super) fn remember(&mut self, moved: Moved) {
        if self.known.len() + moved.0.len() > MAX_REMEMBERED {
            self.known.clear();
        }
        self.known
            .extend(moved.0.into_iter().map(|(pair, (tail, _))| (pair, tail)));
    }
}

/// Tails a batch moved, with the newest message's time; see [`BatchTails::finish`].
pub(super) struct Moved(HashMap<Pair, (Tail, String)>);

/// The tails as one batch sees them.
pub(super) struct BatchTails<'a> {
    known: &'a Tails,
    moved: HashMap<Pair, (Tail, String)>,
}

impl BatchTails<'_> {
    fn get(&self, conn: &Connection, lo: &str, hi: &str) -> StoreResult<Option<Tail>> {
        let pair = (lo.to_owned(), hi.to_owned());
        if let Some((tail, _)) = self.moved.get(&pair) {
            return Ok(Some(*tail));
        }
        if let Some(tail) = self.known.known.get(&pair) {
            return Ok(Some(*tail));
        }
        Ok(conn
            .prepare_cached(
                "SELECT id, last_seq FROM conversations WHERE user_lo = ? AND user_hi = ?",
            )?
            .query_row(params![lo, hi], |row| {
                Ok(Tail {
                    id: row.get(0)?,
                    last_seq: row.get(1)?,
                })
            })
            .optional()?)
    }

    fn advance(&mut self, lo: &str, hi: &str, tail: Tail, at: &str) {
        self.moved
            .insert((lo.to_owned(), hi.to_owned()), (tail, at.to_owned()));
    }

    /// Writes each moved conversation's newest seq and time, inside the batch's transaction.
    pub(super) fn finish(self, conn: &Connection) -> StoreResult<Moved> {
        let mut update = conn
            .prepare_cached("UPDATE conversations SET last_seq = ?, updated_at = ? WHERE id = ?")?;
        for (tail, at) in self.moved.values() {
            update.execute(params![tail.last_seq, at, tail.id])?;
        }
        Ok(Moved(self.moved))
    }
}

/// Applies one direct-message write inside the batch transaction.
pub(super) fn apply(
    conn: &Connection,
    tails: &mut BatchTails,
    op: &WriteOp,
) -> StoreResult<WriteOutcome> {
    match op {
        WriteOp::Append(message) => append(conn, tails, message),
        WriteOp::MarkDelivered {
            reader,
            peer,
            up_to_seq,
        } => mark(conn, tails, reader, peer, *up_to_seq, false),
        WriteOp::MarkRead {
            reader,
            peer,
            up_to_seq,
        } => mark(conn, tails, reader, peer, *up_to_seq, true),
        WriteOp::SupportAppend { .. }
        | WriteOp::SupportChange { .. }
        | WriteOp::SupportRead { .. } => {
            unreachable!("support writes are applied by sqlite_support_writes")
        }
    }
}

fn append(conn: &Connection, tails: &mut BatchTails, m: &NewMessage) -> StoreResult<WriteOutcome> {
    let (lo, hi) = ordered_pair(&m.sender, &m.recipient);
    let mut insert = conn.prepare_cached(
        "INSERT OR IGNORE INTO messages \
         (conversation_id, seq, id, sender, recipient, body, client_msg_id, sent_at) \
         VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
    )?;
    // Stores the message as the conversation's new tail; false if a unique key refused it.
    let mut insert_as = |tail: Tail| -> rusqlite::Result<bool> {
        let params = params![
            tail.id,
            tail.last_seq,
            m.id,
            m.sender,
            m.recipient,
            m.body,
            m.client_msg_id,
            m.sent_at
        ];
        Ok(insert.execute(params)? == 1)
    };
    let known = tails.get(conn, lo, hi)?;
    if let Some(tail) = known {
        let next = tail.at(tail.last_seq + 1);
        if insert_as(next)? {
            tails.advance(lo, hi, next, &m.sent_at);
            return Ok(WriteOutcome::appended(m, next.last_seq as u64));
        }
    }
    // Nothing inserted, or no conversation yet: a resend (unique sender + client_msg_id,
    // whatever the peer) answers with the original.
    if let Some(original) = original_of(conn, &m.sender, &m.client_msg_id)? {
        return Ok(original);
    }
    let taken = || StoreError::Other(format!("message id {} is taken", m.id));
    if known.is_some() {
        // Only a clash of the server-made message id gets here.
        return Err(taken());
    }
    let conversation_id: i64 = conn
        .prepare_cached(
            "INSERT INTO conversations (user_lo, user_hi, last_seq, updated_at) \
             VALUES (?, ?, 0, ?) RETURNING id",
        )?
        .query_row(params![lo, hi, m.sent_at], |row| row.get(0))?;
    conn.prepare_cached("INSERT INTO members (conversation_id, username) VALUES (?, ?), (?, ?)")?
        .execute(params![conversation_id, lo, conversation_id, hi])?;
    let first = Tail {
        id: conversation_id,
        last_seq: 1,
    };
    if !insert_as(first)? {
        return Err(taken());
    }
    tails.advance(lo, hi, first, &m.sent_at);
    Ok(WriteOutcome::appended(m, 1))
}

impl Tail {
    fn at(self, last_seq: i64) -> Self {
        Self { last_seq, ..self }
    }
}

/// The message `sender` already sent with this `client_msg_id`, as a duplicate outcome.
fn original_of(
    conn: &Connection,
    sender: &str,
    client_msg_id: &str,
) -> StoreResult<Option<WriteOutcome>> {
    Ok(conn
        .prepare_cached(&format!(
            "SELECT {MESSAGE_COLUMNS}, mem.delivered_seq FROM messages m \
             JOIN members mem ON mem.conversation_id = m.conversation_id \
             AND mem.username = m.recipient \
             WHERE m.sender = ? AND m.client_msg_id = ?"
        ))?
        .query_row(params![sender, client_msg_id], |row| {
            let row = LiteRow(row);
            Ok(WriteOutcome::Appended {
                message: rows::stored_message(&row),
                duplicate: true,
                recipient_delivered_seq: row.int("delivered_seq") as u64,
            })
        })
        .optional()?)
}

/// Moves `reader`'s delivered (and, for reads, read) watermark forward, never backward and
/// never past the conversation's last seq.
fn mark(
    conn: &Connection,
    tails: &BatchTails,
    reader: &str,
    peer: &str,
    up_to_seq: u64,
    read: bool,
) -> StoreResult<WriteOutcome> {
    let (lo, hi) = ordered_pair(reader, peer);
    let Some(tail) = tails.get(conn, lo, hi)? else {
        return Ok(WriteOutcome::Marked { advanced_to: None });
    };
    let target = seq_param(up_to_seq).min(tail.last_seq);
    let sql = if read {
        "UPDATE members SET read_seq = ?1, delivered_seq = MAX(delivered_seq, ?1) \
         WHERE conversation_id = ?2 AND username = ?3 AND read_seq < ?1"
    } else {
        "UPDATE members SET delivered_seq = ?1 \
         WHERE conversation_id = ?2 AND username = ?3 AND delivered_seq < ?1"
    };
    let changed = conn
        .prepare_cached(sql)?
        .execute(params![target, tail.id, reader])?;
    Ok(WriteOutcome::Marked {
        advanced_to: (changed > 0).then_some(target as u64),
    })
}
