//! The PostgreSQL store, for several Confab processes ("nodes") sharing one database, each with
//! its own writer task. Semantics are the SQLite store's, outcome for outcome; reads are the same
//! statements in PostgreSQL's dialect. How writes stay correct when two nodes write at once
//! (seqs, idempotency, deadlocks) is explained in `postgres_writes.rs`.

use super::postgres_writes::{apply_all, is_retryable};
use super::rows::{self, MESSAGE_COLUMNS};
use super::{
    ordered_pair, page_from_newest_first, seq_param, ConversationRow, Store, StoreResult,
    StoredMessage, WriteOp, WriteOutcome,
};
use async_trait::async_trait;
use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};
use sqlx::Row;
use std::collections::HashSet;
use std::str::FromStr;
use std::sync::{Arc, RwLock};
use std::time::Duration;

pub struct PgStore {
    pool: PgPool,
    /// Users are never deleted, so a name once seen stays valid on every node: sends skip the
    /// lookup. (Only names are cached, never seqs or watermarks: other nodes write those.)
    known_users: RwLock<HashSet<String>>,
}

/// How often a batch is tried when PostgreSQL aborts it for a conflict with another node.
const BATCH_ATTEMPTS: u32 = 8;

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

    async fn try_batch(&self, ops: &[WriteOp]) -> StoreResult<Vec<WriteOutcome>> {
        let mut tx = self.pool.begin().await?;
        let outcomes = apply_all(&mut tx, ops).await?;
        tx.commit().await?;
        Ok(outcomes)
    }
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

    async fn apply_batch(&self, ops: Arc<[WriteOp]>) -> StoreResult<Vec<WriteOutcome>> {
        let mut attempt = 1;
        loop {
            match self.try_batch(&ops).await {
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
                last_message: Some(rows::stored_message(row)),
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
        Ok(rows.iter().map(rows::stored_message).collect())
    }

    async fn messages_after(
        &self,
        user: &str,
        peer: &str,
        after_seq: u64,
        limit: u32,
    ) -> StoreResult<Vec<StoredMessage>> {
        let (lo, hi) = ordered_pair(user, peer);
        let rows = sqlx::query(&format!(
            "SELECT {MESSAGE_COLUMNS} FROM messages m \
             WHERE m.conversation_id = ({CONVERSATION_ID}) AND m.seq > $3 ORDER BY m.seq LIMIT $4"
        ))
        .bind(lo)
        .bind(hi)
        .bind(seq_param(after_seq))
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await?;
        Ok(rows.iter().map(rows::stored_message).collect())
    }

    async fn messages_before(
        &self,
        user: &str,
        peer: &str,
        before_seq: Option<u64>,
        limit: u32,
    ) -> StoreResult<(Vec<StoredMessage>, bool)> {
        let (lo, hi) = ordered_pair(user, peer);
        let rows = sqlx::query(&format!(
            "SELECT {MESSAGE_COLUMNS} FROM messages m \
             WHERE m.conversation_id = ({CONVERSATION_ID}) AND m.seq < $3 \
             ORDER BY m.seq DESC LIMIT $4"
        ))
        .bind(lo)
        .bind(hi)
        .bind(before_seq.map_or(i64::MAX, seq_param))
        .bind(i64::from(limit) + 1)
        .fetch_all(&self.pool)
        .await?;
        let rows = rows.iter().map(rows::stored_message).collect();
        Ok(page_from_newest_first(rows, limit))
    }
}

/// The id of the conversation of `(user_lo, user_hi)` (`$1`, `$2`), as a subquery of the page it
/// selects: one round trip instead of two. No conversation yet: no id, and no rows.
const CONVERSATION_ID: &str = "SELECT id FROM conversations WHERE user_lo = $1 AND user_hi = $2";
