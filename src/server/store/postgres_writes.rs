//! The writes of the PostgreSQL store's batches ([`apply_all`], in the writer's transaction).
//! Semantics are the SQLite store's, outcome for outcome. A batch's runs of appends and of
//! delivered marks go in one statement each (`postgres_bulk.rs`); this file is the one-by-one
//! path they fall back to, and the reference they must match. What differs from SQLite is how
//! writes hold when several nodes, each with its own writer, write into one database at once:
//!
//! - **Seqs.** A conversation's `last_seq` lives in its row, and every append locks that row
//!   (held to commit) before taking the next seq, so writers on any node take seqs one after
//!   another: no gaps, no duplicates. Nothing about seqs is cached in the process.
//! - **Idempotency.** The database enforces it (`messages_idempotency`,
//!   `support_messages_idempotency`). An append first locks the conversation row, *then* looks
//!   for the original, then takes a seq and inserts. A resend to the same conversation from
//!   another node is therefore serialised behind the lock, and the look-up (a fresh READ
//!   COMMITTED snapshot taken after the lock was granted) sees the committed original: no seq
//!   is taken for a duplicate. No savepoints: a batch of hundreds of subtransactions would
//!   overflow PostgreSQL's per-backend subtransaction cache and slow every other session.
//!   The one race the lock cannot cover is the same sender resending the same `client_msg_id`
//!   to a *different* peer at the same moment on two nodes (the key is per sender, the lock per
//!   conversation): the insert then violates the unique constraint and the whole transaction
//!   rolls back, so no seq is burnt either; `PgStore::apply_batch` retries the batch, and the
//!   look-up now finds the original. The one-statement fast path ([`append_fast`]) relies on
//!   the same constraint-and-retry for a resend that commits while it waits for the lock.
//! - **Deadlocks.** Two nodes' batches may touch two conversations in opposite orders. A batch
//!   therefore first locks every existing conversation row it will write, in one fixed order
//!   ([`lock_in_order`]), so batches queue instead of deadlocking. What that cannot order (a
//!   conversation created mid-batch, watermark rows) can still deadlock: the transaction that
//!   PostgreSQL aborts (40P01, or 40001) applied nothing, so `PgStore::apply_batch` runs the
//!   batch again after a short pause.

use super::postgres_bulk;
use super::rows::{self, MESSAGE_COLUMNS};
use super::{
    ordered_pair, seq_param, NewMessage, NewSupportMessage, StoreError, StoreResult, WriteOp,
    WriteOutcome,
};
use sqlx::postgres::PgConnection;
use sqlx::Row;
use std::collections::BTreeSet;
use std::sync::Arc;

/// Applies the ops in order inside the caller's transaction; one outcome per op.
pub(super) async fn apply_all(
    conn: &mut PgConnection,
    ops: &[WriteOp],
) -> StoreResult<Vec<WriteOutcome>> {
    let locked = lock_in_order(conn, ops).await?;
    let mut outcomes = Vec::with_capacity(ops.len());
    let mut next = 0;
    while next < ops.len() {
        // Runs of appends or delivered marks go in one statement each (`postgres_bulk`); what
        // a run leaves undecided, and every other op, one by one.
        let Some((kind, len)) = postgres_bulk::run_at(ops, next) else {
            outcomes.push(apply_one(conn, &ops[next]).await?);
            next += 1;
            continue;
        };
        let run = &ops[next..next + len];
        let decided = postgres_bulk::apply_run(conn, kind, run, &locked).await?;
        for (op, outcome) in run.iter().zip(decided) {
            outcomes.push(match outcome {
                Some(outcome) => outcome,
                None => apply_one(conn, op).await?,
            });
        }
        next += len;
    }
    Ok(outcomes)
}

/// Deadlock, serialisation failure, or the cross-conversation idempotency race (see the module
/// doc): the transaction was rolled back and running it again is safe.
pub(super) fn is_retryable(error: &StoreError) -> bool {
    let StoreError::Database(sqlx::Error::Database(e)) = error else {
        return false;
    };
    match e.code().as_deref() {
        Some("40P01") | Some("40001") => true,
        Some("23505") => matches!(
            e.constraint(),
            Some("messages_idempotency") | Some("support_messages_idempotency")
        ),
        _ => false,
    }
}

/// Locks the existing conversation rows a batch appends to, marks or changes, in one fixed
/// order (direct conversations by pair, then support conversations by id), before the ops run
/// in theirs; nothing for a batch of one op. Returns the ids of the direct conversations locked.
/// Watermark updates lock `members` rows, so a mark taken without its conversation's lock first
/// would invert the order against another node's append (conversation, then members) and
/// deadlock.
async fn lock_in_order(conn: &mut PgConnection, ops: &[WriteOp]) -> StoreResult<Vec<i64>> {
    let mut pairs = BTreeSet::new();
    let mut support = BTreeSet::new();
    for op in ops {
        match op {
            WriteOp::Append(m) => {
                pairs.insert(ordered_pair(&m.sender, &m.recipient));
            }
            WriteOp::SupportAppend(NewSupportMessage {
                conversation_id, ..
            })
            | WriteOp::SupportChange {
                conversation_id, ..
            }
            | WriteOp::SupportRead {
                conversation_id, ..
            } => {
                support.insert(conversation_id.as_str());
            }
            WriteOp::MarkDelivered { reader, peer, .. }
            | WriteOp::MarkRead { reader, peer, .. } => {
                pairs.insert(ordered_pair(reader, peer));
            }
        }
    }
    if ops.len() < 2 {
        return Ok(Vec::new());
    }
    let mut locked = Vec::new();
    if !pairs.is_empty() {
        let (lo, hi): (Vec<&str>, Vec<&str>) = pairs.into_iter().unzip();
        locked = sqlx::query_scalar(
            "SELECT c.id FROM conversations c \
             JOIN UNNEST($1::TEXT[], $2::TEXT[]) AS p (lo, hi) \
             ON c.user_lo = p.lo AND c.user_hi = p.hi \
             ORDER BY c.user_lo, c.user_hi FOR UPDATE OF c",
        )
        .bind(lo)
        .bind(hi)
        .fetch_all(&mut *conn)
        .await?;
    }
    if !support.is_empty() {
        let ids: Vec<&str> = support.into_iter().collect();
        sqlx::query(
            "SELECT id FROM support_conversations WHERE id = ANY($1::TEXT[]) \
             ORDER BY id FOR UPDATE",
        )
        .bind(ids)
        .execute(&mut *conn)
        .await?;
    }
    Ok(locked)
}

/// The original of a resent message, with the recipient's delivered watermark.
async fn find_original(
    conn: &mut PgConnection,
    sender: &str,
    client_msg_id: &str,
) -> StoreResult<Option<WriteOutcome>> {
    let row = sqlx::query(&format!(
        "SELECT {MESSAGE_COLUMNS}, mem.delivered_seq FROM messages m \
         JOIN members mem ON mem.conversation_id = m.conversation_id \
         AND mem.username = m.recipient \
         WHERE m.sender = $1 AND m.client_msg_id = $2"
    ))
    .bind(sender)
    .bind(client_msg_id)
    .fetch_optional(&mut *conn)
    .await?;
    Ok(row.map(|row| WriteOutcome::Appended {
        message: Arc::new(rows::stored_message(&row)),
        duplicate: true,
        recipient_delivered_seq: row.get::<i64, _>("delivered_seq") as u64,
    }))
}

/// Before an append: the duplicate outcome if the message was sent before, else the id of the
/// pair's conversation, its row locked until the transaction ends (created if needed, but
/// never for a duplicate). The look-up runs after the lock is granted: see the module doc.
async fn lock_for_append(
    conn: &mut PgConnection,
    sender: &str,
    recipient: &str,
    client_msg_id: &str,
    now: &str,
) -> StoreResult<Result<i64, WriteOutcome>> {
    let (lo, hi) = ordered_pair(sender, recipient);
    loop {
        let locked: Option<i64> = sqlx::query_scalar(
            "SELECT id FROM conversations WHERE user_lo = $1 AND user_hi = $2 FOR UPDATE",
        )
        .bind(lo)
        .bind(hi)
        .fetch_optional(&mut *conn)
        .await?;
        if let Some(original) = find_original(conn, sender, client_msg_id).await? {
            return Ok(Err(original));
        }
        if let Some(id) = locked {
            return Ok(Ok(id));
        }
        // A new pair: our insert locks the new row. If another node inserted it meanwhile,
        // lock theirs and look again (they may have stored this very message).
        let created: Option<i64> = sqlx::query_scalar(
            "INSERT INTO conversations (user_lo, user_hi, last_seq, updated_at) \
             VALUES ($1, $2, 0, $3) ON CONFLICT (user_lo, user_hi) DO NOTHING RETURNING id",
        )
        .bind(lo)
        .bind(hi)
        .bind(now)
        .fetch_optional(&mut *conn)
        .await?;
        if let Some(id) = created {
            return Ok(Ok(id));
        }
    }
}

/// The common case in one round trip instead of four: the conversation exists and this is no
/// resend. Locks the conversation row, takes the next seq and inserts, in one statement; `None`
/// (nothing written) for a new pair or a resend, which take the full path. The resend check
/// uses the statement's snapshot, taken before the row lock may have been waited for: a resend
/// committed by another node in that window makes the insert violate the idempotency
/// constraint, the transaction rolls back (no seq burnt) and the retried batch takes the full
/// path, whose look-up sees the original.
async fn append_fast(conn: &mut PgConnection, m: &NewMessage) -> StoreResult<Option<u64>> {
    let (lo, hi) = ordered_pair(&m.sender, &m.recipient);
    let seq: Option<i64> = sqlx::query_scalar(
        "WITH bump AS ( \
             UPDATE conversations SET last_seq = last_seq + 1, updated_at = $8 \
             WHERE user_lo = $1 AND user_hi = $2 AND NOT EXISTS \
                 (SELECT 1 FROM messages WHERE sender = $4 AND client_msg_id = $7) \
             RETURNING id, last_seq) \
         INSERT INTO messages \
             (conversation_id, seq, id, sender, recipient, body, client_msg_id, sent_at) \
         SELECT id, last_seq, $3, $4, $5, $6, $7, $8 FROM bump RETURNING seq",
    )
    .bind(lo)
    .bind(hi)
    .bind(&m.id)
    .bind(&m.sender)
    .bind(&m.recipient)
    .bind(&m.body)
    .bind(&m.client_msg_id)
    .bind(&m.sent_at)
    .fetch_optional(&mut *conn)
    .await?;
    Ok(seq.map(|s| s as u64))
}

/// One op inside the batch transaction.
async fn apply_one(conn: &mut PgConnection, op: &WriteOp) -> StoreResult<WriteOutcome> {
    match op {
        WriteOp::Append(m) => {
            let NewMessage {
                sender,
                recipient,
                body,
                client_msg_id,
                sent_at,
                id,
            } = m;
            if let Some(seq) = append_fast(conn, m).await? {
                return Ok(WriteOutcome::appended(m, seq));
            }
            let conversation_id =
                match lock_for_append(conn, sender, recipient, client_msg_id, sent_at).await? {
                    Ok(id) => id,
                    Err(duplicate) => return Ok(duplicate),
                };
            let (lo, hi) = ordered_pair(sender, recipient);
            let seq: i64 = sqlx::query_scalar(
                "UPDATE conversations SET last_seq = last_seq + 1, updated_at = $2 \
                 WHERE id = $1 RETURNING last_seq",
            )
            .bind(conversation_id)
            .bind(sent_at)
            .fetch_one(&mut *conn)
            .await?;
            if seq == 1 {
                sqlx::query(
                    "INSERT INTO members (conversation_id, username) VALUES ($1, $2), ($1, $3) \
                     ON CONFLICT DO NOTHING",
                )
                .bind(conversation_id)
                .bind(lo)
                .bind(hi)
                .execute(&mut *conn)
                .await?;
            }
            sqlx::query(
                "INSERT INTO messages \
                 (conversation_id, seq, id, sender, recipient, body, client_msg_id, sent_at) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
            )
            .bind(conversation_id)
            .bind(seq)
            .bind(id)
            .bind(sender)
            .bind(recipient)
            .bind(body)
            .bind(client_msg_id)
            .bind(sent_at)
            .execute(&mut *conn)
            .await?;
            Ok(WriteOutcome::appended(m, seq as u64))
        }
        WriteOp::MarkDelivered {
            reader,
            peer,
            up_to_seq,
        } => mark(conn, reader, peer, *up_to_seq, false).await,
        WriteOp::MarkRead {
            reader,
            peer,
            up_to_seq,
        } => mark(conn, reader, peer, *up_to_seq, true).await,
        WriteOp::SupportAppend { .. }
        | WriteOp::SupportChange { .. }
        | WriteOp::SupportRead { .. } => super::postgres_support::apply(conn, op).await,
    }
}

/// Moves `reader`'s delivered (and, for reads, read) watermark forward, never backward and
/// never past the conversation's last seq. The row lock the UPDATE takes makes "forward only"
/// hold against other nodes too: its condition is checked again on the newest row version.
async fn mark(
    conn: &mut PgConnection,
    reader: &str,
    peer: &str,
    up_to_seq: u64,
    read: bool,
) -> StoreResult<WriteOutcome> {
    let (lo, hi) = ordered_pair(reader, peer);
    let Some(row) =
        sqlx::query("SELECT id, last_seq FROM conversations WHERE user_lo = $1 AND user_hi = $2")
            .bind(lo)
            .bind(hi)
            .fetch_optional(&mut *conn)
            .await?
    else {
        return Ok(WriteOutcome::Marked { advanced_to: None });
    };
    let conversation_id: i64 = row.get("id");
    let target = seq_param(up_to_seq).min(row.get::<i64, _>("last_seq"));
    let sql = if read {
        "UPDATE members SET read_seq = $1, delivered_seq = GREATEST(delivered_seq, $1) \
         WHERE conversation_id = $2 AND username = $3 AND read_seq < $1"
    } else {
        "UPDATE members SET delivered_seq = $1 \
         WHERE conversation_id = $2 AND username = $3 AND delivered_seq < $1"
    };
    let done = sqlx::query(sql)
        .bind(target)
        .bind(conversation_id)
        .bind(reader)
        .execute(&mut *conn)
        .await?;
    Ok(WriteOutcome::Marked {
        advanced_to: (done.rows_affected() > 0).then_some(target as u64),
    })
}
