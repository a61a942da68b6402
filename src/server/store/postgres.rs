//! The PostgreSQL store, for several Confab processes ("nodes") sharing one database, each with
//! its own writer task. Semantics are the SQLite store's, outcome for outcome; what differs is
//! how they hold when two nodes write at once:
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
//!   rolls back, so no seq is burnt either; [`PgStore::apply_batch`] retries the batch, and the
//!   look-up now finds the original.
//! - **Deadlocks.** Two nodes' batches may lock two conversations in opposite orders. The
//!   transaction that PostgreSQL aborts (40P01, or 40001) applied nothing, so the batch is
//!   simply run again after a short pause.

use super::{
    ordered_pair, page_from_newest_first, seq_param, ConversationRow, Store, StoreResult,
    StoredMessage, WriteOp, WriteOutcome,
};
use async_trait::async_trait;
use sqlx::postgres::{PgConnectOptions, PgConnection, PgPool, PgPoolOptions, PgRow};
use sqlx::Row;
use std::collections::{BTreeSet, HashSet};
use std::str::FromStr;
use std::sync::RwLock;
use std::time::Duration;

pub struct PgStore {
    pool: PgPool,
    /// Users are never deleted, so a name once seen stays valid on every node: sends skip the
    /// lookup. (Only names are cached, never seqs or watermarks: other nodes write those.)
    known_users: RwLock<HashSet<String>>,
}

const MESSAGE_COLUMNS: &str =
    "m.seq, m.id, m.sender, m.recipient, m.body, m.client_msg_id, m.sent_at";

/// How often a batch is tried when PostgreSQL aborts it for a conflict with another node.
const BATCH_ATTEMPTS: u32 = 8;

fn message_from_row(row: &PgRow) -> StoredMessage {
    StoredMessage {
        seq: row.get::<i64, _>("seq") as u64,
        id: row.get("id"),
        sender: row.get("sender"),
        recipient: row.get("recipient"),
        body: row.get("body"),
        client_msg_id: row.get("client_msg_id"),
        sent_at: row.get("sent_at"),
    }
}

/// Deadlock, serialisation failure, or the cross-conversation idempotency race (see the module
/// doc): the transaction was rolled back and running it again is safe.
fn is_retryable(error: &super::StoreError) -> bool {
    let super::StoreError::Database(sqlx::Error::Database(e)) = error else {
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

impl PgStore {
    /// Connects and migrates the database (`migrations/postgres`).
    pub async fn connect(database_url: &str) -> StoreResult<Self> {
        let options = PgConnectOptions::from_str(database_url)?;
        let pool = PgPoolOptions::new()
            .max_connections(10)
            .acquire_timeout(Duration::from_secs(10))
            .connect_with(options)
            .await?;
        sqlx::migrate!("./migrations/postgres").run(&pool).await?;
        Ok(Self {
            pool,
            known_users: RwLock::new(HashSet::new()),
        })
    }

    pub(super) fn pool(&self) -> &PgPool {
        &self.pool
    }

    pub(super) fn known_users(&self) -> &RwLock<HashSet<String>> {
        &self.known_users
    }

    async fn conversation_id(&self, a: &str, b: &str) -> StoreResult<Option<i64>> {
        let (lo, hi) = ordered_pair(a, b);
        Ok(
            sqlx::query_scalar("SELECT id FROM conversations WHERE user_lo = $1 AND user_hi = $2")
                .bind(lo)
                .bind(hi)
                .fetch_optional(&self.pool)
                .await?,
        )
    }

    async fn try_batch(&self, ops: &[WriteOp]) -> StoreResult<Vec<WriteOutcome>> {
        let mut tx = self.pool.begin().await?;
        lock_in_order(&mut tx, ops).await?;
        let mut outcomes = Vec::with_capacity(ops.len());
        for op in ops {
            outcomes.push(apply_one(&mut tx, op).await?);
        }
        tx.commit().await?;
        Ok(outcomes)
    }
}

/// Locks the existing conversation rows a batch appends to or changes, in one fixed order
/// (direct conversations by pair, then support conversations by id), before the ops run in
/// theirs. Batches of different nodes then queue behind one another instead of deadlocking;
/// what is left (a conversation created mid-batch, watermark rows) is rare, and retried.
async fn lock_in_order(conn: &mut PgConnection, ops: &[WriteOp]) -> StoreResult<()> {
    let mut pairs = BTreeSet::new();
    let mut support = BTreeSet::new();
    for op in ops {
        match op {
            WriteOp::Append {
                sender, recipient, ..
            } => {
                let (lo, hi) = ordered_pair(sender, recipient);
                pairs.insert((lo, hi));
            }
            WriteOp::SupportAppend {
                conversation_id, ..
            }
            | WriteOp::SupportChange {
                conversation_id, ..
            }
            | WriteOp::SupportRead {
                conversation_id, ..
            } => {
                support.insert(conversation_id.as_str());
            }
            WriteOp::MarkDelivered { .. } | WriteOp::MarkRead { .. } => {}
        }
    }
    if pairs.len() + support.len() < 2 {
        return Ok(());
    }
    if !pairs.is_empty() {
        let (lo, hi): (Vec<&str>, Vec<&str>) = pairs.into_iter().unzip();
        sqlx::query(
            "SELECT c.id FROM conversations c \
             JOIN UNNEST($1::TEXT[], $2::TEXT[]) AS p (lo, hi) \
             ON c.user_lo = p.lo AND c.user_hi = p.hi \
             ORDER BY c.user_lo, c.user_hi FOR UPDATE OF c",
        )
        .bind(lo)
        .bind(hi)
        .execute(&mut *conn)
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
    Ok(())
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
        message: message_from_row(&row),
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

/// One op inside the batch transaction.
async fn apply_one(conn: &mut PgConnection, op: &WriteOp) -> StoreResult<WriteOutcome> {
    match op {
        WriteOp::Append {
            sender,
            recipient,
            body,
            client_msg_id,
            sent_at,
            id,
        } => {
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
            Ok(WriteOutcome::Appended {
                message: StoredMessage {
                    id: id.clone(),
                    seq: seq as u64,
                    sender: sender.clone(),
                    recipient: recipient.clone(),
                    body: body.clone(),
                    client_msg_id: client_msg_id.clone(),
                    sent_at: sent_at.clone(),
                },
                duplicate: false,
                recipient_delivered_seq: 0,
            })
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

#[async_trait]
impl Store for PgStore {
    async fn ping(&self) -> StoreResult<()> {
        sqlx::query("SELECT 1").execute(&self.pool).await?;
        Ok(())
    }

    async fn close(&self) {
        self.pool.close().await;
    }

    async fn apply_batch(&self, ops: &[WriteOp]) -> StoreResult<Vec<WriteOutcome>> {
        let mut attempt = 1;
        loop {
            match self.try_batch(ops).await {
                Err(e) if attempt < BATCH_ATTEMPTS && is_retryable(&e) => {
                    tracing::debug!(error = ?e, attempt, "batch conflicted with another node, retrying");
                    // 5, 10, 20 … 160 ms, plus jitter so two nodes do not collide again in step.
                    let pause = 5u64 << (attempt - 1).min(5);
                    let jitter = rand::random::<u64>() % (pause + 1);
                    tokio::time::sleep(Duration::from_millis(pause + jitter)).await;
                    attempt += 1;
                }
                result => return result,
            }
        }
    }

    async fn conversations(&self, user: &str) -> StoreResult<Vec<ConversationRow>> {
        let rows = sqlx::query(&format!(
            "SELECT p.username AS peer, c.last_seq, p.delivered_seq AS peer_delivered, \
             p.read_seq AS peer_read, \
             (SELECT COUNT(*) FROM messages u WHERE u.conversation_id = c.id \
              AND u.seq > me.read_seq AND u.recipient = $1) AS unread, \
             {MESSAGE_COLUMNS} \
             FROM members me \
             JOIN conversations c ON c.id = me.conversation_id \
             JOIN members p ON p.conversation_id = c.id AND p.username <> $1 \
             JOIN messages m ON m.conversation_id = c.id AND m.seq = c.last_seq \
             WHERE me.username = $1 ORDER BY c.updated_at DESC, c.id DESC"
        ))
        .bind(user)
        .fetch_all(&self.pool)
        .await?;
        Ok(rows
            .iter()
            .map(|row| ConversationRow {
                peer: row.get("peer"),
                last_seq: row.get::<i64, _>("last_seq") as u64,
                unread: row.get::<i64, _>("unread") as u64,
                peer_delivered_seq: row.get::<i64, _>("peer_delivered") as u64,
                peer_read_seq: row.get::<i64, _>("peer_read") as u64,
                last_message: Some(message_from_row(row)),
            })
            .collect())
    }

    async fn peers_of(&self, user: &str) -> StoreResult<Vec<String>> {
        Ok(sqlx::query_scalar(
            "SELECT p.username FROM members me JOIN members p \
             ON p.conversation_id = me.conversation_id AND p.username <> $1 \
             WHERE me.username = $1",
        )
        .bind(user)
        .fetch_all(&self.pool)
        .await?)
    }

    async fn pending_for(&self, user: &str, limit: u32) -> StoreResult<Vec<StoredMessage>> {
        let rows = sqlx::query(&format!(
            "SELECT {MESSAGE_COLUMNS} FROM members me JOIN messages m \
             ON m.conversation_id = me.conversation_id AND m.seq > me.delivered_seq \
             WHERE me.username = $1 AND m.recipient = $1 \
             ORDER BY m.conversation_id, m.seq LIMIT $2"
        ))
        .bind(user)
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await?;
        Ok(rows.iter().map(message_from_row).collect())
    }

    async fn messages_after(
        &self,
        user: &str,
        peer: &str,
        after_seq: u64,
        limit: u32,
    ) -> StoreResult<Vec<StoredMessage>> {
        let Some(conversation_id) = self.conversation_id(user, peer).await? else {
            return Ok(Vec::new());
        };
        let rows = sqlx::query(&format!(
            "SELECT {MESSAGE_COLUMNS} FROM messages m \
             WHERE m.conversation_id = $1 AND m.seq > $2 ORDER BY m.seq LIMIT $3"
        ))
        .bind(conversation_id)
        .bind(seq_param(after_seq))
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await?;
        Ok(rows.iter().map(message_from_row).collect())
    }

    async fn messages_before(
        &self,
        user: &str,
        peer: &str,
        before_seq: Option<u64>,
        limit: u32,
    ) -> StoreResult<(Vec<StoredMessage>, bool)> {
        let Some(conversation_id) = self.conversation_id(user, peer).await? else {
            return Ok((Vec::new(), false));
        };
        let rows = sqlx::query(&format!(
            "SELECT {MESSAGE_COLUMNS} FROM messages m \
             WHERE m.conversation_id = $1 AND m.seq < $2 ORDER BY m.seq DESC LIMIT $3"
        ))
        .bind(conversation_id)
        .bind(before_seq.map_or(i64::MAX, seq_param))
        .bind(i64::from(limit) + 1)
        .fetch_all(&self.pool)
        .await?;
        let rows = rows.iter().map(message_from_row).collect();
        Ok(page_from_newest_first(rows, limit))
    }
}
