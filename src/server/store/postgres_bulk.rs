//! Set-based forms of the two writes a busy PostgreSQL batch is mostly made of: runs of appends
//! and runs of delivered watermarks, each run in one statement instead of one round trip per
//! write.
//!
//! Why: with several nodes on one database, the writer's batch was a loop of single-row
//! statements, and at a few hundred writes per batch the round trips were the whole cost (the
//! benchmark's multi-node row: 79 ms per batch of 502, a tenth of one SQLite node). One
//! statement per run lets PostgreSQL do the same work without the waits in between.
//!
//! Same outcomes as the one-by-one path in `postgres_writes.rs`, which stays the reference:
//! - A run only touches conversations whose rows this batch already holds locked
//!   (`lock_in_order`), so the `last_seq` a statement reads is the newest and no other node can
//!   take a seq in between. Seqs inside a run go to each conversation's messages in batch order.
//! - Whatever a run cannot decide alone is left to the one-by-one path, after the run: a first
//!   message to a new pair (no conversation row yet, or one created by another node after the
//!   lock) and a resend (its original is already stored). Neither takes a seq from a message of
//!   the run, so doing them after it changes no seq.
//! - A run never holds two appends with the same sender and `client_msg_id` (nor two marks of
//!   one reader and peer): the second starts the next run, which then sees the first as stored.
//! - A resend that another node commits while the statement runs violates the idempotency
//!   constraint like the one-row fast path does, and the batch is retried (`is_retryable`).

use super::{ordered_pair, seq_param, NewMessage, StoreResult, WriteOp, WriteOutcome};
use sqlx::postgres::PgConnection;
use std::collections::HashSet;

/// Which set-based statement a run of ops goes to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum RunKind {
    Appends,
    Delivered,
}

/// The kind and length of the run starting at `ops[start]`: consecutive ops of one kind, no
/// key twice. `None` when fewer than two ops would be in it (one op is one round trip anyway).
pub(super) fn run_at(ops: &[WriteOp], start: usize) -> Option<(RunKind, usize)> {
    let kind = kind_of(&ops[start])?;
    let mut keys = HashSet::new();
    let len = ops[start..]
        .iter()
        .take_while(|op| kind_of(op) == Some(kind) && keys.insert(key_of(op)))
        .count();
    (len >= 2).then_some((kind, len))
}

fn kind_of(op: &WriteOp) -> Option<RunKind> {
    match op {
        WriteOp::Append(_) => Some(RunKind::Appends),
        WriteOp::MarkDelivered { .. } => Some(RunKind::Delivered),
        _ => None,
    }
}

/// What may appear only once in a run: an append's idempotency key, a mark's row.
fn key_of(op: &WriteOp) -> (&str, &str) {
    match op {
        WriteOp::Append(m) => (&m.sender, &m.client_msg_id),
        WriteOp::MarkDelivered { reader, peer, .. } => (reader, peer),
        _ => unreachable!("only appends and delivered marks form runs"),
    }
}

/// Runs `ops` (all of `kind`) in one statement; `None` for an op the statement left to the
/// one-by-one path.
pub(super) async fn apply_run(
    conn: &mut PgConnection,
    kind: RunKind,
    ops: &[WriteOp],
    locked: &[i64],
) -> StoreResult<Vec<Option<WriteOutcome>>> {
    match kind {
        RunKind::Appends => {
            let messages: Vec<&NewMessage> = ops
                .iter()
                .map(|op| match op {
                    WriteOp::Append(m) => m,
                    _ => unreachable!("a run of appends holds appends only"),
                })
                .collect();
            append_run(conn, &messages, locked).await
        }
        RunKind::Delivered => delivered_run(conn, ops).await,
    }
}

/// Stores the fresh messages of locked conversations, seqs in batch order; the rest is `None`.
async fn append_run(
    conn: &mut PgConnection,
    messages: &[&NewMessage],
    locked: &[i64],
) -> StoreResult<Vec<Option<WriteOutcome>>> {
    let ord: Vec<i32> = (0..messages.len() as i32).collect();
    let column = |f: fn(&NewMessage) -> &str| -> Vec<&str> {
        messages.iter().map(|m| f(m)).collect::<Vec<&str>>()
    };
    let (lo, hi): (Vec<&str>, Vec<&str>) = messages
        .iter()
        .map(|m| ordered_pair(&m.sender, &m.recipient))
        .unzip();
    // `fresh` is referenced three times, so PostgreSQL evaluates it once; the two writing
    // CTEs run exactly once whether or not the final SELECT reads them.
    let stored: Vec<(i32, i64)> = sqlx::query_as(
        "WITH input AS ( \
             SELECT * FROM UNNEST($1::INT4[], $2::TEXT[], $3::TEXT[], $4::TEXT[], $5::TEXT[], \
                 $6::TEXT[], $7::TEXT[], $8::TEXT[], $9::TEXT[]) \
             AS t (ord, lo, hi, id, sender, recipient, body, client_msg_id, sent_at)), \
         fresh AS ( \
             SELECT i.*, c.id AS conversation_id, \
                 c.last_seq + ROW_NUMBER() OVER (PARTITION BY c.id ORDER BY i.ord) AS seq \
             FROM input i \
             JOIN conversations c ON c.user_lo = i.lo AND c.user_hi = i.hi \
             WHERE c.id = ANY($10::INT8[]) AND NOT EXISTS (SELECT 1 FROM messages m \
                 WHERE m.sender = i.sender AND m.client_msg_id = i.client_msg_id)), \
         bump AS ( \
             UPDATE conversations c SET last_seq = t.top, updated_at = t.newest \
             FROM (SELECT conversation_id, MAX(seq) AS top, \
                     (ARRAY_AGG(sent_at ORDER BY ord DESC))[1] AS newest \
                   FROM fresh GROUP BY conversation_id) t \
             WHERE c.id = t.conversation_id RETURNING c.id), \
         stored AS ( \
             INSERT INTO messages \
                 (conversation_id, seq, id, sender, recipient, body, client_msg_id, sent_at) \
             SELECT conversation_id, seq, id, sender, recipient, body, client_msg_id, sent_at \
             FROM fresh RETURNING seq) \
         SELECT ord, seq FROM fresh",
    )
    .bind(&ord)
    .bind(&lo)
    .bind(&hi)
    .bind(column(|m| &m.id))
    .bind(column(|m| &m.sender))
    .bind(column(|m| &m.recipient))
    .bind(column(|m| &m.body))
    .bind(column(|m| &m.client_msg_id))
    .bind(column(|m| &m.sent_at))
    .bind(locked)
    .fetch_all(&mut *conn)
    .await?;
    let mut outcomes = vec![None; messages.len()];
    for (ord, seq) in stored {
        let m = messages[ord as usize];
        outcomes[ord as usize] = Some(WriteOutcome::appended(m, seq as u64));
    }
    Ok(outcomes)
}

/// Moves each reader's delivered watermark forward (never past the conversation's last seq);
/// every outcome is decided here.
async fn delivered_run(
    conn: &mut PgConnection,
    ops: &[WriteOp],
) -> StoreResult<Vec<Option<WriteOutcome>>> {
    let mut ord = Vec::with_capacity(ops.len());
    let mut reader = Vec::with_capacity(ops.len());
    let mut lo = Vec::with_capacity(ops.len());
    let mut hi = Vec::with_capacity(ops.len());
    let mut up_to = Vec::with_capacity(ops.len());
    for (i, op) in ops.iter().enumerate() {
        let WriteOp::MarkDelivered {
            reader: r,
            peer,
            up_to_seq,
        } = op
        else {
            unreachable!("a run of marks holds delivered marks only");
        };
        let (l, h) = ordered_pair(r, peer);
        ord.push(i as i32);
        reader.push(r.as_str());
        lo.push(l);
        hi.push(h);
        up_to.push(seq_param(*up_to_seq));
    }
    let moved: Vec<(i32, i64)> = sqlx::query_as(
        "WITH input AS ( \
             SELECT * FROM UNNEST($1::INT4[], $2::TEXT[], $3::TEXT[], $4::TEXT[], $5::INT8[]) \
             AS t (ord, reader, lo, hi, up_to)), \
         target AS ( \
             SELECT i.ord, i.reader, c.id AS conversation_id, \
                 LEAST(i.up_to, c.last_seq) AS seq \
             FROM input i JOIN conversations c ON c.user_lo = i.lo AND c.user_hi = i.hi) \
         UPDATE members m SET delivered_seq = t.seq FROM target t \
         WHERE m.conversation_id = t.conversation_id AND m.username = t.reader \
             AND m.delivered_seq < t.seq \
         RETURNING t.ord, t.seq",
    )
    .bind(&ord)
    .bind(&reader)
    .bind(&lo)
    .bind(&hi)
    .bind(&up_to)
    .fetch_all(&mut *conn)
    .await?;
    let mut outcomes = vec![Some(WriteOutcome::Marked { advanced_to: None }); ops.len()];
    for (ord, seq) in moved {
        outcomes[ord as usize] = Some(WriteOutcome::Marked {
            advanced_to: Some(seq as u64),
        });
    }
    Ok(outcomes)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn append(sender: &str, client_msg_id: &str) -> WriteOp {
        WriteOp::Append(NewMessage::new(
            sender.into(),
            "zed".into(),
            "hi".into(),
            client_msg_id.into(),
        ))
    }

    fn delivered(reader: &str, peer: &str) -> WriteOp {
        WriteOp::MarkDelivered {
            reader: reader.into(),
            peer: peer.into(),
            up_to_seq: 1,
        }
    }

    #[test]
    fn run_ends_at_a_repeated_key_or_another_kind_of_write() {
        let ops = [
            append("ann", "1"),
            append("bob", "1"),
            append("ann", "2"),
            append("ann", "1"),
            delivered("ann", "zed"),
            delivered("bob", "zed"),
            delivered("ann", "zed"),
        ];
        assert_eq!(run_at(&ops, 0), Some((RunKind::Appends, 3)));
        assert_eq!(run_at(&ops, 3), None, "one append before the marks");
        assert_eq!(run_at(&ops, 4), Some((RunKind::Delivered, 2)));
        assert_eq!(run_at(&ops, 6), None);
    }
}
