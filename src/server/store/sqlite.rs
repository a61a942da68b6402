//! The embedded default store: SQLite in WAL mode with `synchronous=FULL`, so a committed
//! transaction survives power loss. Throughput comes from the writer committing batches.

use super::rows::{self, MESSAGE_COLUMNS};
use super::{
    ordered_pair, page_from_newest_first, seq_param, ConversationRow, Store, StoreError,
    StoreResult, StoredMessage, WriteOp, WriteOutcome,
};
use async_trait::async_trait;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{Connection, Row, SqliteConnection, SqlitePool};
use std::collections::HashSet;
use std::str::FromStr;
use std::sync::RwLock;
use std::time::Duration;

pub struct SqliteStore {
    pool: SqlitePool,
    /// Users are never deleted, so a name once seen stays valid: sends skip the lookup.
    known_users: RwLock<HashSet<String>>,
}

impl SqliteStore {
    /// Opens (creating file and folder if needed) and migrates the database.
    pub async fn connect(database_url: &str) -> StoreResult<Self> {
        let options = SqliteConnectOptions::from_str(database_url)?
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Full)
            .busy_timeout(Duration::from_secs(10))
            .foreign_keys(true);
        if let Some(parent) = options.get_filename().parent() {
            if !parent.as_os_str().is_empty() {
                std::fs::create_dir_all(parent).map_err(|e| {
                    StoreError::Other(format!("cannot create {}: {e}", parent.display()))
                })?;
            }
        }
        let pool = SqlitePoolOptions::new()
            .max_connections(8)
            .connect_with(options)
            .await?;
        sqlx::migrate!("./migrations/sqlite").run(&pool).await?;
        Ok(Self {
            pool,
            known_users: RwLock::new(HashSet::new()),
        })
    }

    pub(super) fn pool(&self) -> &SqlitePool {
        &self.pool
    }

    pub(super) fn known_users(&self) -> &RwLock<HashSet<String>> {
        &self.known_users
    }

    async fn conversation_id(&self, a: &str, b: &str) -> StoreResult<Option<i64>> {
        let (lo, hi) = ordered_pair(a, b);
        Ok(
            sqlx::query_scalar("SELECT id FROM conversations WHERE user_lo = ? AND user_hi = ?")
                .bind(lo)
                .bind(hi)
                .fetch_optional(&self.pool)
                .await?,
        )
    }
}

/// One op inside the batch transaction.
async fn apply_one(conn: &mut SqliteConnection, op: &WriteOp) -> StoreResult<WriteOutcome> {
    match op {
        WriteOp::Append {
            sender,
            recipient,
            body,
            client_msg_id,
            sent_at,
            id,
        } => {
            let (lo, hi) = ordered_pair(sender, recipient);
            // Fast path: the conversation exists and this is no resend. One statement takes
            // the next seq and stores the message (a trigger advances the conversation); a
            // resend (unique sender + client_msg_id) or a first message inserts nothing and
            // falls through to the full path below.
            let fast = sqlx::query(
                "INSERT INTO messages \
                 (conversation_id, seq, id, sender, recipient, body, client_msg_id, sent_at) \
                 SELECT c.id, c.last_seq + 1, ?3, ?4, ?5, ?6, ?7, ?8 FROM conversations c \
                 WHERE c.user_lo = ?1 AND c.user_hi = ?2 \
                 ON CONFLICT DO NOTHING RETURNING seq",
            )
            .bind(lo)
            .bind(hi)
            .bind(id)
            .bind(sender)
            .bind(recipient)
            .bind(body)
            .bind(client_msg_id)
            .bind(sent_at)
            .fetch_optional(&mut *conn)
            .await?;
            if let Some(row) = fast {
                return Ok(WriteOutcome::Appended {
                    message: StoredMessage {
                        id: id.clone(),
                        seq: row.get::<i64, _>("seq") as u64,
                        sender: sender.clone(),
                        recipient: recipient.clone(),
                        body: body.clone(),
                        client_msg_id: client_msg_id.clone(),
                        sent_at: sent_at.clone(),
                    },
                    duplicate: false,
                    recipient_delivered_seq: 0,
                });
            }
            let existing = sqlx::query(&format!(
                "SELECT {MESSAGE_COLUMNS}, mem.delivered_seq FROM messages m \
                 JOIN members mem ON mem.conversation_id = m.conversation_id \
                 AND mem.username = m.recipient \
                 WHERE m.sender = ? AND m.client_msg_id = ?"
            ))
            .bind(sender)
            .bind(client_msg_id)
            .fetch_optional(&mut *conn)
            .await?;
            if let Some(row) = existing {
                return Ok(WriteOutcome::Appended {
                    message: rows::stored_message(&row),
                    duplicate: true,
                    recipient_delivered_seq: row.get::<i64, _>("delivered_seq") as u64,
                });
            }
            // One statement creates the conversation or takes its next seq.
            let row = sqlx::query(
                "INSERT INTO conversations (user_lo, user_hi, last_seq, updated_at) \
                 VALUES (?, ?, 1, ?) \
                 ON CONFLICT (user_lo, user_hi) DO UPDATE \
                 SET last_seq = last_seq + 1, updated_at = excluded.updated_at \
                 RETURNING id, last_seq",
            )
            .bind(lo)
            .bind(hi)
            .bind(sent_at)
            .fetch_one(&mut *conn)
            .await?;
            let conversation_id: i64 = row.get("id");
            let seq: i64 = row.get("last_seq");
            if seq == 1 {
                sqlx::query(
                    "INSERT OR IGNORE INTO members (conversation_id, username) VALUES (?, ?), (?, ?)",
                )
                .bind(conversation_id)
                .bind(lo)
                .bind(conversation_id)
                .bind(hi)
                .execute(&mut *conn)
                .await?;
            }
            sqlx::query(
                "INSERT INTO messages \
                 (conversation_id, seq, id, sender, recipient, body, client_msg_id, sent_at) \
                 VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
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
        | WriteOp::SupportRead { .. } => super::sqlite_support::apply(conn, op).await,
    }
}

/// Moves `reader`'s delivered (and, for reads, read) watermark forward, never backward and
/// never past the conversation's last seq.
async fn mark(
    conn: &mut SqliteConnection,
    reader: &str,
    peer: &str,
    up_to_seq: u64,
    read: bool,
) -> StoreResult<WriteOutcome> {
    let (lo, hi) = ordered_pair(reader, peer);
    let Some(row) =
        sqlx::query("SELECT id, last_seq FROM conversations WHERE user_lo = ? AND user_hi = ?")
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
        "UPDATE members SET read_seq = ?1, delivered_seq = MAX(delivered_seq, ?1) \
         WHERE conversation_id = ?2 AND username = ?3 AND read_seq < ?1"
    } else {
        "UPDATE members SET delivered_seq = ?1 \
         WHERE conversation_id = ?2 AND username = ?3 AND delivered_seq < ?1"
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
impl Store for SqliteStore {
    async fn ping(&self) -> StoreResult<()> {
        sqlx::query("SELECT 1").execute(&self.pool).await?;
        Ok(())
    }

    async fn close(&self) {
        self.pool.close().await;
    }

    async fn apply_batch(&self, ops: &[WriteOp]) -> StoreResult<Vec<WriteOutcome>> {
        let mut conn = self.pool.acquire().await?;
        // IMMEDIATE takes the write lock up front, so the read-then-write inside cannot fail
        // with a stale snapshot when an account write commits in between.
        let mut tx = conn.begin_with("BEGIN IMMEDIATE").await?;
        let mut outcomes = Vec::with_capacity(ops.len());
        for op in ops {
            outcomes.push(apply_one(&mut tx, op).await?);
        }
        tx.commit().await?;
        Ok(outcomes)
    }

    async fn conversations(&self, user: &str) -> StoreResult<Vec<ConversationRow>> {
        let rows = sqlx::query(&format!(
            "SELECT p.username AS peer, c.last_seq, p.delivered_seq AS peer_delivered, \
             p.read_seq AS peer_read, \
             (SELECT COUNT(*) FROM messages u WHERE u.conversation_id = c.id \
              AND u.seq > me.read_seq AND u.recipient = ?1) AS unread, \
             {MESSAGE_COLUMNS} \
             FROM members me \
             JOIN conversations c ON c.id = me.conversation_id \
             JOIN members p ON p.conversation_id = c.id AND p.username <> ?1 \
             JOIN messages m ON m.conversation_id = c.id AND m.seq = c.last_seq \
             WHERE me.username = ?1 ORDER BY c.updated_at DESC, c.id DESC"
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
             ON p.conversation_id = me.conversation_id AND p.username <> ?1 \
             WHERE me.username = ?1",
        )
        .bind(user)
        .fetch_all(&self.pool)
        .await?)
    }

    async fn pending_for(&self, user: &str, limit: u32) -> StoreResult<Vec<StoredMessage>> {
        let rows = sqlx::query(&format!(
            "SELECT {MESSAGE_COLUMNS} FROM members me JOIN messages m \
             ON m.conversation_id = me.conversation_id AND m.seq > me.delivered_seq \
             WHERE me.username = ?1 AND m.recipient = ?1 \
             ORDER BY m.conversation_id, m.seq LIMIT ?2"
        ))
        .bind(user)
        .bind(limit)
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
        let Some(conversation_id) = self.conversation_id(user, peer).await? else {
            return Ok(Vec::new());
        };
        let rows = sqlx::query(&format!(
            "SELECT {MESSAGE_COLUMNS} FROM messages m \
             WHERE m.conversation_id = ? AND m.seq > ? ORDER BY m.seq LIMIT ?"
        ))
        .bind(conversation_id)
        .bind(seq_param(after_seq))
        .bind(limit)
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
        let Some(conversation_id) = self.conversation_id(user, peer).await? else {
            return Ok((Vec::new(), false));
        };
        let rows = sqlx::query(&format!(
            "SELECT {MESSAGE_COLUMNS} FROM messages m \
             WHERE m.conversation_id = ? AND m.seq < ? ORDER BY m.seq DESC LIMIT ?"
        ))
        .bind(conversation_id)
        .bind(before_seq.map_or(i64::MAX, seq_param))
        .bind(limit + 1)
        .fetch_all(&self.pool)
        .await?;
        let rows = rows.iter().map(rows::stored_message).collect();
        Ok(page_from_newest_first(rows, limit))
    }
}
