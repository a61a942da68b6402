//! SQLite implementation of [`SupportStore`] (its writes in a batch: `sqlite_support_writes.rs`).

use super::rows::{self, CONVERSATION_SELECT};
use super::sqlite::SqliteStore;
use super::sqlite_reads::{SUPPORT_PAGE_AFTER, SUPPORT_PAGE_BEFORE};
use super::support::{SupportConversation, SupportMessage, SupportStore};
use super::{now_rfc3339, page_from_newest_first, seq_param, StoreResult};
use async_trait::async_trait;
use sqlx::{Row, SqliteConnection};

async fn load(conn: &mut SqliteConnection, id: &str) -> StoreResult<Option<SupportConversation>> {
    let row = sqlx::query(&format!("{CONVERSATION_SELECT} WHERE c.id = ?"))
        .bind(id)
        .fetch_optional(&mut *conn)
        .await?;
    Ok(row.as_ref().map(rows::support_conversation))
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
        let params = (id.to_owned(), seq_param(after_seq), limit);
        self.reader().rows(&SUPPORT_PAGE_AFTER, params).await
    }

    async fn support_messages_before(
        &self,
        id: &str,
        before_seq: Option<u64>,
        limit: u32,
    ) -> StoreResult<(Vec<SupportMessage>, bool)> {
        let before = before_seq.map_or(i64::MAX, seq_param);
        let params = (id.to_owned(), before, limit + 1);
        let rows = self.reader().rows(&SUPPORT_PAGE_BEFORE, params).await?;
        Ok(page_from_newest_first(rows, limit))
    }
}
