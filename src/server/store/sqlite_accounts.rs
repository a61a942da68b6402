//! SQLite implementation of [`AccountStore`]: users and sessions.

use super::sqlite::SqliteStore;
use super::{
    now_ms, now_rfc3339, AccountStore, SessionRecord, StoreError, StoreResult, UserRecord,
};
use crate::protocol::Role;
use async_trait::async_trait;
use sqlx::Row;

#[async_trait]
impl AccountStore for SqliteStore {
    async fn create_user(
        &self,
        username: &str,
        password_hash: &str,
        role: Role,
    ) -> StoreResult<()> {
        let result = sqlx::query(
            "INSERT INTO users (username, password_hash, role, created_at) VALUES (?, ?, ?, ?)",
        )
        .bind(username)
        .bind(password_hash)
        .bind(role.as_str())
        .bind(now_rfc3339())
        .execute(self.pool())
        .await;
        match result {
            Ok(_) => Ok(()),
            Err(sqlx::Error::Database(e)) if e.is_unique_violation() => Err(StoreError::Conflict),
            Err(e) => Err(e.into()),
        }
    }

    async fn find_user(&self, username: &str) -> StoreResult<Option<UserRecord>> {
        let row = sqlx::query("SELECT username, password_hash, role FROM users WHERE username = ?")
            .bind(username)
            .fetch_optional(self.pool())
            .await?;
        Ok(row.map(|row| UserRecord {
            username: row.get("username"),
            password_hash: row.get("password_hash"),
            role: Role::parse(row.get::<&str, _>("role")).unwrap_or(Role::User),
        }))
    }

    async fn user_exists(&self, username: &str) -> StoreResult<bool> {
        if self
            .known_users()
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .contains(username)
        {
            return Ok(true);
        }
        let found: Option<i64> = sqlx::query_scalar("SELECT 1 FROM users WHERE username = ?")
            .bind(username)
            .fetch_optional(self.pool())
            .await?;
        if found.is_some() {
            self.known_users()
                .write()
                .unwrap_or_else(|e| e.into_inner())
                .insert(username.to_owned());
        }
        Ok(found.is_some())
    }

    async fn create_session(
        &self,
        token_hash: &str,
        username: &str,
        expires_at_ms: i64,
    ) -> StoreResult<()> {
        sqlx::query(
            "INSERT INTO sessions (token_hash, username, created_at_ms, expires_at_ms) \
             VALUES (?, ?, ?, ?)",
        )
        .bind(token_hash)
        .bind(username)
        .bind(now_ms())
        .bind(expires_at_ms)
        .execute(self.pool())
        .await?;
        Ok(())
    }

    async fn find_session(&self, token_hash: &str) -> StoreResult<Option<SessionRecord>> {
        let row = sqlx::query(
            "SELECT s.username, s.expires_at_ms, s.revoked_at_ms, u.role FROM sessions s \
             JOIN users u ON u.username = s.username WHERE s.token_hash = ?",
        )
        .bind(token_hash)
        .fetch_optional(self.pool())
        .await?;
        Ok(row.map(|row| SessionRecord {
            username: row.get("username"),
            role: Role::parse(row.get::<&str, _>("role")).unwrap_or(Role::User),
            expires_at_ms: row.get("expires_at_ms"),
            revoked: row.get::<Option<i64>, _>("revoked_at_ms").is_some(),
        }))
    }

    async fn revoke_session(&self, token_hash: &str) -> StoreResult<()> {
        sqlx::query(
            "UPDATE sessions SET revoked_at_ms = ? WHERE token_hash = ? AND revoked_at_ms IS NULL",
        )
        .bind(now_ms())
        .bind(token_hash)
        .execute(self.pool())
        .await?;
        Ok(())
    }
}
