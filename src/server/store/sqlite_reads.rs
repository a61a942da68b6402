//! Pages of messages (direct: `history`, `sync`, the replay of what arrived while a user was
//! offline; support: the same for a support conversation), read with rusqlite on tokio's
//! blocking threads from connections kept here.
//!
//! Through the sqlx pool, a page cost more thread hand-offs than work: the statement went to the
//! pool connection's own thread over a channel, each row came back over another (waking the
//! reading task again whenever it had caught up), and the connection went back to the pool on a
//! task of its own. Here a page is one hop to a blocking thread and one back, with its rows in
//! one `Vec`. `history` pages of 50 in a store of 1 000 000 messages (`confab-bench run
//! --servers confab --scenarios history`, three interleaved runs): p50 0.21–0.26 ms and p99
//! 0.31–0.48 ms, against 0.30–0.38 and 0.45–0.64 through sqlx (with the same one statement).

use super::rows::{self, MESSAGE_COLUMNS, SUPPORT_MESSAGE_SELECT};
use super::sqlite_writes::LiteRow;
use super::support::SupportMessage;
use super::{StoreError, StoreResult, StoredMessage};
use rusqlite::{Connection, OpenFlags, Params};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, LazyLock, Mutex};
use std::time::Duration;
use tokio::sync::Semaphore;

/// Reads at once, and connections kept between them: a burst of pages waits for a turn instead
/// of taking a blocking thread and three file descriptors each. Each kept connection holds a
/// page cache of up to 2 MB, which the greetings of many sockets fill: with eight here and eight
/// in the sqlx pool, a server holding 19 000 idle sockets on a store of a million messages had
/// 159–160 MiB of RSS; with four and four, 146–147 (`confab-bench run --scenarios idle,history`,
/// two interleaved runs), and history pages were as fast.
const READS_AT_ONCE: usize = 4;

/// The newest `limit` messages of the conversation of `(?1, ?2)` below seq `?3`, newest first.
pub(super) static PAGE_BEFORE: LazyLock<String> = LazyLock::new(|| {
    format!(
        "SELECT {MESSAGE_COLUMNS} FROM messages m \
         WHERE m.conversation_id = ({CONVERSATION_ID}) AND m.seq < ?3 \
         ORDER BY m.seq DESC LIMIT ?4"
    )
});

/// The oldest `limit` messages of the conversation of `(?1, ?2)` above seq `?3`.
pub(super) static PAGE_AFTER: LazyLock<String> = LazyLock::new(|| {
    format!(
        "SELECT {MESSAGE_COLUMNS} FROM messages m \
         WHERE m.conversation_id = ({CONVERSATION_ID}) AND m.seq > ?3 \
         ORDER BY m.seq LIMIT ?4"
    )
});

/// Messages to `?1` past what was delivered to them, oldest first per conversation, `?2` at most.
pub(super) static UNDELIVERED: LazyLock<String> = LazyLock::new(|| {
    format!(
        "SELECT {MESSAGE_COLUMNS} FROM members me JOIN messages m \
         ON m.conversation_id = me.conversation_id AND m.seq > me.delivered_seq \
         WHERE me.username = ?1 AND m.recipient = ?1 \
         ORDER BY m.conversation_id, m.seq LIMIT ?2"
    )
});

/// The newest `limit` messages of support conversation `?1` below seq `?2`, newest first.
pub(super) static SUPPORT_PAGE_BEFORE: LazyLock<String> = LazyLock::new(|| {
    format!(
        "{SUPPORT_MESSAGE_SELECT} WHERE conversation_id = ?1 AND seq < ?2 \
         ORDER BY seq DESC LIMIT ?3"
    )
});

/// The oldest `limit` messages of support conversation `?1` above seq `?2`.
pub(super) static SUPPORT_PAGE_AFTER: LazyLock<String> = LazyLock::new(|| {
    format!(
        "{SUPPORT_MESSAGE_SELECT} WHERE conversation_id = ?1 AND seq > ?2 ORDER BY seq LIMIT ?3"
    )
});

/// The id of the conversation of `(user_lo, user_hi)`, as a subquery of the page it selects: one
/// statement, not a look-up first. No conversation yet: no id, and no rows.
const CONVERSATION_ID: &str = "SELECT id FROM conversations WHERE user_lo = ?1 AND user_hi = ?2";

/// What a page's rows are read as.
pub(super) trait FromRow {
    fn from_row(row: &LiteRow<'_>) -> Self;
}

/// Rows of [`MESSAGE_COLUMNS`].
impl FromRow for StoredMessage {
    fn from_row(row: &LiteRow<'_>) -> Self {
        rows::stored_message(row)
    }
}

/// Rows of [`SUPPORT_MESSAGE_SELECT`].
impl FromRow for SupportMessage {
    fn from_row(row: &LiteRow<'_>) -> Self {
        rows::support_message(row)
    }
}

/// Read-only connections to one database, lent to one read at a time.
pub(super) struct Reader {
    inner: Arc<Inner>,
}

struct Inner {
    path: PathBuf,
    idle: Mutex<Vec<Connection>>,
    turns: Arc<Semaphore>,
    /// Connections opened so far.
    opened: AtomicUsize,
}

impl Reader {
    pub(super) fn new(path: &Path) -> Self {
        Self {
            inner: Arc::new(Inner {
                path: path.to_owned(),
                idle: Mutex::new(Vec::new()),
                turns: Arc::new(Semaphore::new(READS_AT_ONCE)),
                opened: AtomicUsize::new(0),
            }),
        }
    }

    /// Every row `sql` selects, in the statement's order.
    pub(super) async fn rows<P, T>(
        &self,
        sql: &'static LazyLock<String>,
        params: P,
    ) -> StoreResult<Vec<T>>
    where
        P: Params + Send + 'static,
        T: FromRow + Send + 'static,
    {
        // The turn ends with the read itself, even if the caller stops waiting for it.
        let turn = (self.inner.turns.clone().acquire_owned().await)
            .map_err(|_| StoreError::Other("the store is closing".into()))?;
        let inner = self.inner.clone();
        tokio::task::spawn_blocking(move || {
            let read = inner.rows(sql, params);
            drop(turn);
            read
        })
        .await
        .map_err(|e| StoreError::Other(format!("read task: {e}")))?
    }
}

impl Inner {
    fn rows<T: FromRow>(&self, sql: &str, params: impl Params) -> StoreResult<Vec<T>> {
        let conn = match self.idle().pop() {
            Some(conn) => conn,
            None => self.open()?,
        };
        let read = (|| {
            let mut statement = conn.prepare_cached(sql)?;
            let rows = statement.query_map(params, |row| Ok(T::from_row(&LiteRow(row))))?;
            rows.collect::<rusqlite::Result<Vec<_>>>()
        })();
        // A statement error leaves the connection as it was: it is kept either way.
        self.idle().push(conn);
        Ok(read?)
    }

    fn idle(&self) -> std::sync::MutexGuard<'_, Vec<Connection>> {
        // Nothing runs while it is held: a panic cannot leave the list half changed.
        self.idle.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn open(&self) -> StoreResult<Connection> {
        let conn = Connection::open_with_flags(
            &self.path,
            OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )?;
        conn.busy_timeout(Duration::from_secs(10))?;
        let opened = self.opened.fetch_add(1, Ordering::Relaxed) + 1;
        tracing::debug!(opened, "SQLite read connection opened");
        Ok(conn)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::FromRole;

    fn store_with_two_messages() -> (tempfile::TempDir, Reader) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.db");
        let conn = Connection::open(&path).unwrap();
        conn.execute_batch(
            "PRAGMA journal_mode = WAL;
             CREATE TABLE conversations (id INTEGER PRIMARY KEY, user_lo TEXT, user_hi TEXT);
             CREATE TABLE members (conversation_id INTEGER, username TEXT, delivered_seq INTEGER);
             CREATE TABLE messages (conversation_id INTEGER, seq INTEGER, id TEXT, sender TEXT,
                 recipient TEXT, body TEXT, client_msg_id TEXT, sent_at TEXT);
             INSERT INTO conversations VALUES (7, 'ann', 'bob');
             INSERT INTO members VALUES (7, 'ann', 0), (7, 'bob', 1);
             INSERT INTO messages VALUES
                 (7, 1, 'm1', 'ann', 'bob', 'first', 'c1', 't1'),
                 (7, 2, 'm2', 'bob', 'ann', 'second', 'c2', 't2');
             CREATE TABLE support_messages (conversation_id TEXT, seq INTEGER, id TEXT,
                 from_role TEXT, author TEXT, body TEXT, client_msg_id TEXT, sent_at TEXT);
             INSERT INTO support_messages VALUES
                 ('s', 1, 's1', 'customer', 'customer', 'help', 'k1', 't1'),
                 ('s', 2, 's2', 'agent', 'ann', 'hello', 'k2', 't2');",
        )
        .unwrap();
        (dir, Reader::new(&path))
    }

    /// The newest page of the conversation of `lo` and `hi`.
    async fn newest_page(reader: &Reader, lo: &str, hi: &str) -> Vec<StoredMessage> {
        let params = (lo.to_owned(), hi.to_owned(), i64::MAX, 10);
        reader.rows(&PAGE_BEFORE, params).await.unwrap()
    }

    #[tokio::test]
    async fn pages_come_back_in_the_statements_order_with_every_column() {
        let (_dir, reader) = store_with_two_messages();
        let newest_first = newest_page(&reader, "ann", "bob").await;
        let second = StoredMessage {
            id: "m2".into(),
            seq: 2,
            sender: "bob".into(),
            recipient: "ann".into(),
            body: "second".into(),
            client_msg_id: "c2".into(),
            sent_at: "t2".into(),
        };
        assert_eq!(newest_first[0], second);
        assert_eq!(
            newest_first.iter().map(|m| m.seq).collect::<Vec<_>>(),
            [2, 1]
        );
        let after_first: Vec<StoredMessage> =
            (reader.rows(&PAGE_AFTER, ("ann", "bob", 1, 10)).await).unwrap();
        assert_eq!(after_first, std::slice::from_ref(&second));
        let to_ann: Vec<StoredMessage> = reader.rows(&UNDELIVERED, ("ann", 10)).await.unwrap();
        assert_eq!(to_ann, [second]);
    }

    #[tokio::test]
    async fn support_pages_come_back_in_the_statements_order_with_every_column() {
        let (_dir, reader) = store_with_two_messages();
        let params = ("s".to_owned(), i64::MAX, 10);
        let newest_first: Vec<SupportMessage> =
            (reader.rows(&SUPPORT_PAGE_BEFORE, params).await).unwrap();
        let agents = SupportMessage {
            id: "s2".into(),
            conversation_id: "s".into(),
            seq: 2,
            from_role: FromRole::Agent,
            author: "ann".into(),
            body: "hello".into(),
            client_msg_id: "k2".into(),
            sent_at: "t2".into(),
        };
        assert_eq!(newest_first[0], agents);
        assert_eq!(newest_first[1].from_role, FromRole::Customer);
        let params = ("s".to_owned(), 1, 10);
        let after_first: Vec<SupportMessage> =
            (reader.rows(&SUPPORT_PAGE_AFTER, params).await).unwrap();
        assert_eq!(after_first, [agents]);
    }

    #[tokio::test]
    async fn a_pair_without_a_conversation_has_no_messages() {
        let (_dir, reader) = store_with_two_messages();
        assert!(newest_page(&reader, "ann", "cat").await.is_empty());
    }

    #[tokio::test]
    async fn a_failed_read_is_an_error_and_the_next_read_works() {
        let (_dir, reader) = store_with_two_messages();
        static BROKEN: LazyLock<String> = LazyLock::new(|| "SELECT nope FROM nowhere".into());
        let broken: StoreResult<Vec<StoredMessage>> = reader.rows(&BROKEN, ()).await;
        assert!(matches!(broken, Err(StoreError::Sqlite(_))));
        let page: Vec<StoredMessage> =
            (reader.rows(&PAGE_AFTER, ("ann", "bob", 0, 10)).await).unwrap();
        assert_eq!(page.len(), 2);
        assert_eq!(reader.inner.idle().len(), 1, "the one connection is kept");
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn a_burst_of_reads_shares_a_few_connections() {
        let (_dir, reader) = store_with_two_messages();
        // Each read counts to 20 000 first (milliseconds), so that the reads overlap.
        static SLOW: LazyLock<String> = LazyLock::new(|| {
            format!(
                "WITH RECURSIVE n(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM n WHERE x < 20000) \
                 SELECT {MESSAGE_COLUMNS} FROM messages m WHERE (SELECT max(x) FROM n) > 0"
            )
        });
        let reader = Arc::new(reader);
        let reads = (0..64).map(|_| {
            let reader = reader.clone();
            tokio::spawn(async move {
                let page: StoreResult<Vec<StoredMessage>> = reader.rows(&SLOW, ()).await;
                page.map(|page| page.len())
            })
        });
        for read in futures::future::join_all(reads).await {
            assert_eq!(read.unwrap().unwrap(), 2);
        }
        let opened = reader.inner.opened.load(Ordering::Relaxed);
        assert!(
            (1..=READS_AT_ONCE).contains(&opened),
            "{opened} connections"
        );
        assert_eq!(reader.inner.idle().len(), opened, "every one is kept");
    }
}
