//! The embedded default store: SQLite in WAL mode with `synchronous=FULL`, so a committed
//! transaction survives power loss. Direct-message batches become durable in a message log
//! beside the database and are copied into the tables behind it (`sqlite_writes.rs`); reads of
//! direct messages first wait until the tables hold every write already answered. Pages of
//! messages are read with rusqlite (`sqlite_reads.rs`); other reads, and the rare account
//! writes, use the sqlx pool.

use super::rows::{self, MESSAGE_COLUMNS};
use super::sqlite_reads::{Reader, PAGE_AFTER, PAGE_BEFORE, UNDELIVERED};
use super::sqlite_writes::SqliteWriter;
use super::{
    ordered_pair, page_from_newest_first, seq_param, ConversationRow, Durable, Store, StoreError,
    StoreResult, StoredMessage, WriteOp, WriteOutcome,
};
use async_trait::async_trait;
use foldhash::HashSet;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{Row, SqlitePool};
use std::str::FromStr;
use std::sync::{Arc, RwLock};
use std::time::Duration;

pub struct SqliteStore {
    /// Reads and account writes.
    pool: SqlitePool,
    /// The writer's batches (messages, watermarks, support writes).
    writer: SqliteWriter,
    /// Pages of direct and support messages (rusqlite, on the blocking threads).
    reader: Reader,
    /// Users are never deleted, so a name once seen stays valid: sends skip the lookup.
    known_users: RwLock<HashSet<String>>,
}

impl SqliteStore {
    /// Opens (creating file and folder if needed) and migrates the database.
    pub async fn connect(database_url: &str) -> StoreResult<Self> {
        configure_sqlite();
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
        // Four, and four more for pages of messages (`sqlite_reads.rs`): each connection keeps
        // a page cache of up to 2 MB, which 19 000 sockets' greetings fill.
        let pool = SqlitePoolOptions::new()
            .max_connections(4)
            .connect_with(options.clone())
            .await?;
        sqlx::migrate!("./migrations/sqlite").run(&pool).await?;
        let writer = SqliteWriter::open(options.get_filename())?;
        Ok(Self {
            pool,
            writer,
            reader: Reader::new(options.get_filename()),
            known_users: RwLock::new(HashSet::default()),
        })
    }

    pub(super) fn pool(&self) -> &SqlitePool {
        &self.pool
    }

    pub(super) fn reader(&self) -> &Reader {
        &self.reader
    }

    pub(super) fn known_users(&self) -> &RwLock<HashSet<String>> {
        &self.known_users
    }
}

/// Process-wide SQLite settings, which only take effect before SQLite's first use: no memory
/// statistics. With them every allocation inside SQLite takes one global mutex, which the log,
/// indexer and reader threads all contend for (3–4 % of the server's CPU under load).
fn configure_sqlite() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        // SAFETY: sqlite3_config is called before any connection exists in this process (or,
        // if something opened one first, it refuses with SQLITE_MISUSE and changes nothing).
        let rc = unsafe {
            rusqlite::ffi::sqlite3_config(
                rusqlite::ffi::SQLITE_CONFIG_MEMSTATUS,
                0 as std::os::raw::c_int,
            )
        };
        if rc != rusqlite::ffi::SQLITE_OK {
            tracing::debug!(rc, "SQLite was already in use; memory statistics stay on");
        }
    });
}

#[async_trait]
impl Store for SqliteStore {
    async fn ping(&self) -> StoreResult<()> {
        sqlx::query("SELECT 1").execute(&self.pool).await?;
        Ok(())
    }

    async fn close(&self) {
        // Not needed for durability (the log has every acknowledged write), but a store
        // closed with nothing left to index starts again without replaying anything.
        if let Err(e) = self.writer.caught_up().await {
            tracing::warn!(error = %e, "closing before the log was indexed");
        }
        self.pool.close().await;
    }

    async fn apply_batch(&self, ops: Arc<[WriteOp]>) -> StoreResult<Vec<WriteOutcome>> {
        self.writer.apply(ops).await
    }

    async fn start_batch(&self, ops: Arc<[WriteOp]>) -> StoreResult<(Vec<WriteOutcome>, Durable)> {
        self.writer.start(ops).await
    }

    fn samples(&self) -> Vec<(&'static str, &'static str, u64)> {
        self.writer.samples()
    }

    async fn conversations(&self, user: &str) -> StoreResult<Vec<ConversationRow>> {
        self.writer.caught_up().await?;
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
        self.writer.caught_up().await?;
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
        self.writer.caught_up().await?;
        let params = (user.to_owned(), limit);
        self.reader.rows(&UNDELIVERED, params).await
    }

    async fn messages_after(
        &self,
        user: &str,
        peer: &str,
        after_seq: u64,
        limit: u32,
    ) -> StoreResult<Vec<StoredMessage>> {
        self.writer.caught_up().await?;
        let (lo, hi) = ordered_pair(user, peer);
        let params = (lo.to_owned(), hi.to_owned(), seq_param(after_seq), limit);
        self.reader.rows(&PAGE_AFTER, params).await
    }

    async fn messages_before(
        &self,
        user: &str,
        peer: &str,
        before_seq: Option<u64>,
        limit: u32,
    ) -> StoreResult<(Vec<StoredMessage>, bool)> {
        self.writer.caught_up().await?;
        let (lo, hi) = ordered_pair(user, peer);
        let before = before_seq.map_or(i64::MAX, seq_param);
        let params = (lo.to_owned(), hi.to_owned(), before, limit + 1);
        let rows = self.reader.rows(&PAGE_BEFORE, params).await?;
        Ok(page_from_newest_first(rows, limit))
    }
}

/// For tests of the SQLite store's parts: a database file in a fresh temporary folder,
/// migrated the way the store migrates it (its own start-up), opened with rusqlite. Keep the
/// folder while the connection is in use.
#[cfg(test)]
pub(super) async fn migrated_for_test() -> (tempfile::TempDir, rusqlite::Connection) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("t.db");
    let store = SqliteStore::connect(&format!("sqlite://{}", path.display()))
        .await
        .unwrap();
    super::Store::close(&store).await;
    drop(store);
    let conn = rusqlite::Connection::open(&path).unwrap();
    (dir, conn)
}
