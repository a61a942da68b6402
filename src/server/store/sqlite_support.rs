//! SQLite implementation of [`SupportStore`] and of the support writes in a batch.

use super::rows::{self, CONVERSATION_SELECT, SUPPORT_MESSAGE_SELECT};
use super::sqlite::SqliteStore;
use super::support::{
    role_str, SupportChange, SupportConversation, SupportMessage, SupportStatus, SupportStore,
};
use super::{now_rfc3339, page_from_newest_first, seq_param, StoreResult, WriteOp, WriteOutcome};
use crate::protocol::FromRole;
use async_trait::async_trait;
use sqlx::{Row, SqliteConnection};

async fn load(conn: &mut SqliteConnection, id: &str) -> StoreResult<Option<SupportConversation>> {
    let row = sqlx::query(&format!("{CONVERSATION_SELECT} WHERE c.id = ?"))
        .bind(id)
        .fetch_optional(&mut *conn)
        .await?;
    Ok(row.as_ref().map(rows::support_conversation))
}

/// Applies one support write inside the batch transaction.
pub(super) async fn apply(conn: &mut SqliteConnection, op: &WriteOp) -> StoreResult<WriteOutcome> {
    match op {
        WriteOp::SupportAppend {
            conversation_id,
            from_role,
            author,
            take_over,
            body,
            client_msg_id,
            sent_at,
            id,
        } => {
            let existing = sqlx::query(&format!(
                "{SUPPORT_MESSAGE_SELECT} WHERE conversation_id = ? AND from_role = ? AND author = ? \
                 AND client_msg_id = ?"
            ))
            .bind(conversation_id)
            .bind(role_str(*from_role))
            .bind(author)
            .bind(client_msg_id)
            .fetch_optional(&mut *conn)
            .await?;
            let Some(before) = load(conn, conversation_id).await? else {
                return Ok(WriteOutcome::SupportChanged {
                    conversation: None,
                    changed: false,
                });
            };
            if let Some(row) = existing {
                return Ok(WriteOutcome::SupportAppended {
                    message: rows::support_message(&row),
                    duplicate: true,
                    conversation: before,
                    status_changed: false,
                });
            }
            if *from_role == FromRole::Agent && !take_over {
                if let (SupportStatus::Assigned, Some(holder)) = (before.status, &before.assignee) {
                    if holder != author {
                        return Ok(WriteOutcome::SupportRefused {
                            assignee: holder.clone(),
                        });
                    }
                }
            }
            // Customer messages reopen a resolved conversation (back in the queue); agent
            // messages claim one nobody has.
            let (status, assignee, waiting_since) = match (from_role, before.status) {
                (FromRole::Customer, SupportStatus::Resolved) => {
                    (SupportStatus::Open, None, Some(sent_at.clone()))
                }
                (FromRole::Customer, SupportStatus::Open) => (
                    SupportStatus::Open,
                    before.assignee.clone(),
                    before.waiting_since.clone().or(Some(sent_at.clone())),
                ),
                (FromRole::Agent, SupportStatus::Open) if before.assignee.is_none() => {
                    (SupportStatus::Assigned, Some(author.clone()), None)
                }
                _ => (
                    before.status,
                    before.assignee.clone(),
                    before.waiting_since.clone(),
                ),
            };
            let status_changed = status != before.status || assignee != before.assignee;
            let seq: i64 = sqlx::query_scalar(
                "UPDATE support_conversations SET last_seq = last_seq + 1, status = ?, \
                 assignee = ?, waiting_since = ?, updated_at = ? WHERE id = ? RETURNING last_seq",
            )
            .bind(status.as_str())
            .bind(&assignee)
            .bind(&waiting_since)
            .bind(sent_at)
            .bind(conversation_id)
            .fetch_one(&mut *conn)
            .await?;
            sqlx::query(
                "INSERT INTO support_messages (conversation_id, seq, id, from_role, author, body, \
                 client_msg_id, sent_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            )
            .bind(conversation_id)
            .bind(seq)
            .bind(id)
            .bind(role_str(*from_role))
            .bind(author)
            .bind(body)
            .bind(client_msg_id)
            .bind(sent_at)
            .execute(&mut *conn)
            .await?;
            let conversation = load(conn, conversation_id).await?.unwrap_or(before);
            Ok(WriteOutcome::SupportAppended {
                message: SupportMessage {
                    id: id.clone(),
                    conversation_id: conversation_id.clone(),
                    seq: seq as u64,
                    from_role: *from_role,
                    author: author.clone(),
                    body: body.clone(),
                    client_msg_id: client_msg_id.clone(),
                    sent_at: sent_at.clone(),
                },
                duplicate: false,
                conversation,
                status_changed,
            })
        }
        WriteOp::SupportChange {
            conversation_id,
            change,
        } => {
            let (sql, agent): (&str, Option<&str>) = match change {
                SupportChange::Claim { agent } => (
                    "UPDATE support_conversations SET status = 'assigned', assignee = ?1, \
                     waiting_since = NULL, updated_at = ?2 WHERE id = ?3 \
                     AND NOT (status = 'assigned' AND assignee IS ?1)",
                    Some(agent),
                ),
                SupportChange::Assign { agent } => (
                    "UPDATE support_conversations SET status = 'assigned', assignee = ?1, \
                     waiting_since = NULL, updated_at = ?2 WHERE id = ?3 \
                     AND status = 'open' AND assignee IS NULL",
                    Some(agent),
                ),
                SupportChange::Transfer { to } => (
                    "UPDATE support_conversations SET status = 'assigned', assignee = ?1, \
                     waiting_since = NULL, updated_at = ?2 WHERE id = ?3 \
                     AND NOT (status = 'assigned' AND assignee IS ?1)",
                    Some(to),
                ),
                SupportChange::Resolve => (
                    "UPDATE support_conversations SET status = 'resolved', waiting_since = NULL, \
                     updated_at = ?2 WHERE id = ?3 AND status <> 'resolved' AND ?1 IS NULL",
                    None,
                ),
            };
            let done = sqlx::query(sql)
                .bind(agent)
                .bind(now_rfc3339())
                .bind(conversation_id)
                .execute(&mut *conn)
                .await?;
            Ok(WriteOutcome::SupportChanged {
                conversation: load(conn, conversation_id).await?,
                changed: done.rows_affected() > 0,
            })
        }
        WriteOp::SupportRead {
            conversation_id,
            by,
            up_to_seq,
        } => {
            let column = match by {
                FromRole::Agent => "agent_read_seq",
                FromRole::Customer => "customer_read_seq",
            };
            let target: Option<i64> = sqlx::query_scalar(&format!(
                "UPDATE support_conversations SET {column} = MIN(?1, last_seq) \
                 WHERE id = ?2 AND {column} < MIN(?1, last_seq) RETURNING {column}"
            ))
            .bind(seq_param(*up_to_seq))
            .bind(conversation_id)
            .fetch_optional(&mut *conn)
            .await?;
            Ok(WriteOutcome::Marked {
                advanced_to: target.map(|t| t as u64),
            })
        }
        WriteOp::Append { .. } | WriteOp::MarkDelivered { .. } | WriteOp::MarkRead { .. } => {
            unreachable!("direct-message writes are applied by the sqlite module")
        }
    }
}

#[async_trait]
impl SupportStore for SqliteStore {
    async fn create_support_conversation(
        &self,
        id: &str,
        secret_hash: &str,
        customer_name: &str,
    ) -> StoreResult<()> {
        let now = now_rfc3339();
        sqlx::query(
            "INSERT INTO support_conversations (id, secret_hash, customer_name, status, \
             created_at, updated_at) VALUES (?, ?, ?, 'open', ?, ?)",
        )
        .bind(id)
        .bind(secret_hash)
        .bind(customer_name)
        .bind(&now)
        .bind(&now)
        .execute(self.pool())
        .await?;
        Ok(())
    }

    async fn rename_customer(&self, id: &str, customer_name: &str) -> StoreResult<()> {
        sqlx::query("UPDATE support_conversations SET customer_name = ? WHERE id = ?")
            .bind(customer_name)
            .bind(id)
            .execute(self.pool())
            .await?;
        Ok(())
    }

    async fn support_by_secret(
        &self,
        secret_hash: &str,
    ) -> StoreResult<Option<SupportConversation>> {
        let row = sqlx::query(&format!("{CONVERSATION_SELECT} WHERE c.secret_hash = ?"))
            .bind(secret_hash)
            .fetch_optional(self.pool())
            .await?;
        Ok(row.as_ref().map(rows::support_conversation))
    }

    async fn support_by_id(&self, id: &str) -> StoreResult<Option<SupportConversation>> {
        let mut conn = self.pool().acquire().await?;
        load(&mut conn, id).await
    }

    async fn support_queue(&self, resolved_limit: u32) -> StoreResult<Vec<SupportConversation>> {
        let rows = sqlx::query(&format!(
            "{CONVERSATION_SELECT} WHERE c.id IN ( \
               SELECT id FROM support_conversations WHERE status <> 'resolved' AND last_seq > 0 \
               UNION ALL \
               SELECT id FROM (SELECT id FROM support_conversations WHERE status = 'resolved' \
                               AND last_seq > 0 ORDER BY updated_at DESC LIMIT ?)) \
             ORDER BY c.updated_at DESC"
        ))
        .bind(resolved_limit)
        .fetch_all(self.pool())
        .await?;
        Ok(rows.iter().map(rows::support_conversation).collect())
    }

    async fn agent_available(&self, agent: &str) -> StoreResult<bool> {
        let stored: Option<bool> =
            sqlx::query_scalar("SELECT available FROM agent_availability WHERE username = ?")
                .bind(agent)
                .fetch_optional(self.pool())
                .await?;
        Ok(stored.unwrap_or(true))
    }

    async fn set_agent_available(&self, agent: &str, available: bool) -> StoreResult<()> {
        sqlx::query(
            "INSERT INTO agent_availability (username, available) VALUES (?, ?) \
             ON CONFLICT (username) DO UPDATE SET available = excluded.available",
        )
        .bind(agent)
        .bind(available)
        .execute(self.pool())
        .await?;
        Ok(())
    }

    async fn assigned_counts(&self) -> StoreResult<Vec<(String, u64)>> {
        let rows = sqlx::query(
            "SELECT assignee, COUNT(*) AS n FROM support_conversations \
             WHERE status = 'assigned' AND assignee IS NOT NULL GROUP BY assignee",
        )
        .fetch_all(self.pool())
        .await?;
        Ok(rows
            .iter()
            .map(|r| (r.get("assignee"), r.get::<i64, _>("n") as u64))
            .collect())
    }

    async fn support_messages_after(
        &self,
        id: &str,
        after_seq: u64,
        limit: u32,
    ) -> StoreResult<Vec<SupportMessage>> {
        let rows = sqlx::query(&format!(
            "{SUPPORT_MESSAGE_SELECT} WHERE conversation_id = ? AND seq > ? ORDER BY seq LIMIT ?"
        ))
        .bind(id)
        .bind(seq_param(after_seq))
        .bind(limit)
        .fetch_all(self.pool())
        .await?;
        Ok(rows.iter().map(rows::support_message).collect())
    }

    async fn support_messages_before(
        &self,
        id: &str,
        before_seq: Option<u64>,
        limit: u32,
    ) -> StoreResult<(Vec<SupportMessage>, bool)> {
        let rows = sqlx::query(&format!(
            "{SUPPORT_MESSAGE_SELECT} WHERE conversation_id = ? AND seq < ? ORDER BY seq DESC LIMIT ?"
        ))
        .bind(id)
        .bind(before_seq.map_or(i64::MAX, seq_param))
        .bind(limit + 1)
        .fetch_all(self.pool())
        .await?;
        let rows = rows.iter().map(rows::support_message).collect();
        Ok(page_from_newest_first(rows, limit))
    }
}
