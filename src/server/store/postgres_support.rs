//! PostgreSQL implementation of [`SupportStore`] and of the support writes in a batch. Each
//! support append locks its conversation row first (`FOR UPDATE`), so appends from several
//! nodes take seqs one after another and a resend always finds its committed original: the
//! idempotency key is per conversation, so the lock covers every race (see `postgres_writes.rs`).

use super::postgres::PgStore;
use super::rows::{self, CONVERSATION_SELECT, SUPPORT_MESSAGE_SELECT};
use super::support::{
    plan_append, AppendPlan, SupportChange, SupportConversation, SupportMessage, SupportStore,
};
use super::{
    now_rfc3339, page_from_newest_first, seq_param, NewSupportMessage, StoreResult, WriteOp,
    WriteOutcome,
};
use crate::protocol::FromRole;
use async_trait::async_trait;
use sqlx::postgres::PgConnection;
use sqlx::Row;

async fn load(conn: &mut PgConnection, id: &str) -> StoreResult<Option<SupportConversation>> {
    let row = sqlx::query(&format!("{CONVERSATION_SELECT} WHERE c.id = $1"))
        .bind(id)
        .fetch_optional(&mut *conn)
        .await?;
    Ok(row.as_ref().map(rows::support_conversation))
}

/// Applies one support write inside the batch transaction.
pub(super) async fn apply(conn: &mut PgConnection, op: &WriteOp) -> StoreResult<WriteOutcome> {
    match op {
        WriteOp::SupportAppend(m) => {
            let NewSupportMessage {
                conversation_id,
                from_role,
                author,
                body,
                client_msg_id,
                sent_at,
                id,
                ..
            } = m;
            // The lock comes first: a resend from another node waits for the original's commit
            // and then finds it.
            let locked: Option<String> =
                sqlx::query_scalar("SELECT id FROM support_conversations WHERE id = $1 FOR UPDATE")
                    .bind(conversation_id)
                    .fetch_optional(&mut *conn)
                    .await?;
            if locked.is_none() {
                return Ok(WriteOutcome::SupportChanged {
                    conversation: None,
                    changed: false,
                });
            }
            let existing = sqlx::query(&format!(
                "{SUPPORT_MESSAGE_SELECT} WHERE conversation_id = $1 AND from_role = $2 AND author = $3 \
                 AND client_msg_id = $4"
            ))
            .bind(conversation_id)
            .bind(from_role.as_str())
            .bind(author)
            .bind(client_msg_id)
            .fetch_optional(&mut *conn)
            .await?;
            let existing = existing.as_ref().map(rows::support_message);
            let (before, next) = match plan_append(load(conn, conversation_id).await?, existing, m)
            {
                AppendPlan::Write { before, next } => (before, next),
                AppendPlan::Done(outcome) => return Ok(outcome),
            };
            let seq: i64 = sqlx::query_scalar(
                "UPDATE support_conversations SET last_seq = last_seq + 1, status = $1, \
                 assignee = $2, waiting_since = $3, updated_at = $4 WHERE id = $5 \
                 RETURNING last_seq",
            )
            .bind(next.status.as_str())
            .bind(&next.assignee)
            .bind(&next.waiting_since)
            .bind(sent_at)
            .bind(conversation_id)
            .fetch_one(&mut *conn)
            .await?;
            sqlx::query(
                "INSERT INTO support_messages (conversation_id, seq, id, from_role, author, body, \
                 client_msg_id, sent_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
            )
            .bind(conversation_id)
            .bind(seq)
            .bind(id)
            .bind(from_role.as_str())
            .bind(author)
            .bind(body)
            .bind(client_msg_id)
            .bind(sent_at)
            .execute(&mut *conn)
            .await?;
            let conversation = load(conn, conversation_id).await?.unwrap_or(before);
            Ok(WriteOutcome::support_appended(
                m,
                seq as u64,
                conversation,
                next.changed,
            ))
        }
        WriteOp::SupportChange {
            conversation_id,
            change,
        } => {
            let (sql, agent): (&str, Option<&str>) = match change {
                SupportChange::Claim { agent } => (
                    "UPDATE support_conversations SET status = 'assigned', assignee = $1, \
                     waiting_since = NULL, updated_at = $2 WHERE id = $3 \
                     AND NOT (status = 'assigned' AND assignee IS NOT DISTINCT FROM $1)",
                    Some(agent),
                ),
                SupportChange::Assign { agent } => (
                    "UPDATE support_conversations SET status = 'assigned', assignee = $1, \
                     waiting_since = NULL, updated_at = $2 WHERE id = $3 \
                     AND status = 'open' AND assignee IS NULL",
                    Some(agent),
                ),
                SupportChange::Transfer { to } => (
                    "UPDATE support_conversations SET status = 'assigned', assignee = $1, \
                     waiting_since = NULL, updated_at = $2 WHERE id = $3 \
                     AND NOT (status = 'assigned' AND assignee IS NOT DISTINCT FROM $1)",
                    Some(to),
                ),
                SupportChange::Resolve => (
                    "UPDATE support_conversations SET status = 'resolved', waiting_since = NULL, \
                     updated_at = $2 WHERE id = $3 AND status <> 'resolved' AND $1::TEXT IS NULL",
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
                conversation: load(conn, conversation_id).await?.map(Box::new),
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
                "UPDATE support_conversations SET {column} = LEAST($1, last_seq) \
                 WHERE id = $2 AND {column} < LEAST($1, last_seq) RETURNING {column}"
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
            unreachable!("direct-message writes are applied by the postgres module")
        }
    }
}

#[async_trait]
impl SupportStore for PgStore {
    async fn create_support_conversation(
        &self,
        id: &str,
        secret_hash: &str,
        customer_name: &str,
    ) -> StoreResult<()> {
        let now = now_rfc3339();
        sqlx::query(
            "INSERT INTO support_conversations (id, secret_hash, customer_name, status, \
             created_at, updated_at) VALUES ($1, $2, $3, 'open', $4, $5)",
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
        sqlx::query("UPDATE support_conversations SET customer_name = $1 WHERE id = $2")
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
        let row = sqlx::query(&format!("{CONVERSATION_SELECT} WHERE c.secret_hash = $1"))
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
                               AND last_seq > 0 ORDER BY updated_at DESC LIMIT $1) AS resolved) \
             ORDER BY c.updated_at DESC"
        ))
        .bind(i64::from(resolved_limit))
        .fetch_all(self.pool())
        .await?;
        Ok(rows.iter().map(rows::support_conversation).collect())
    }

    async fn agent_available(&self, agent: &str) -> StoreResult<bool> {
        let stored: Option<bool> =
            sqlx::query_scalar("SELECT available FROM agent_availability WHERE username = $1")
                .bind(agent)
                .fetch_optional(self.pool())
                .await?;
        Ok(stored.unwrap_or(true))
    }

    async fn set_agent_available(&self, agent: &str, available: bool) -> StoreResult<()> {
        sqlx::query(
            "INSERT INTO agent_availability (username, available) VALUES ($1, $2) \
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
            "{SUPPORT_MESSAGE_SELECT} WHERE conversation_id = $1 AND seq > $2 ORDER BY seq LIMIT $3"
        ))
        .bind(id)
        .bind(seq_param(after_seq))
        .bind(i64::from(limit))
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
            "{SUPPORT_MESSAGE_SELECT} WHERE conversation_id = $1 AND seq < $2 ORDER BY seq DESC LIMIT $3"
        ))
        .bind(id)
        .bind(before_seq.map_or(i64::MAX, seq_param))
        .bind(i64::from(limit) + 1)
        .fetch_all(self.pool())
        .await?;
        let rows = rows.iter().map(rows::support_message).collect();
        Ok(page_from_newest_first(rows, limit))
    }
}
