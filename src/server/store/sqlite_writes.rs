//! The SQLite write path: the writer's whole batch in one blocking call, on a connection of its
//! own, in one `BEGIN IMMEDIATE` transaction (one fsync).
//!
//! Why not sqlx here: sqlx drives SQLite from a worker thread and hands every statement to it
//! and back, two thread wake-ups per statement. A batch of 1 000 appends was 1 000 such hops,
//! run one after another by the single writer, and that bounded throughput and latency (the
//! benchmark's profile: a third of the CPU in context switches). Here a batch costs one hop,
//! and statements are prepared once (rusqlite's statement cache). Reads stay on the sqlx pool:
//! WAL lets them run beside the writer, and they see a batch as soon as it is committed.
//!
//! The writes themselves live next door: direct messages in [`super::sqlite_dm_writes`]
//! (which assigns seqs from memory), support in [`super::sqlite_support_writes`].

use super::rows::Columns;
use super::sqlite_checkpoints::{self, Checkpoints};
use super::sqlite_dm_writes::{BatchTails, Tails};
use super::{StoreError, StoreResult, WriteOp, WriteOutcome};
use rusqlite::{Connection, OpenFlags, TransactionBehavior};
use std::path::Path;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

/// Page cache of the write connection, in KiB: 4× SQLite's default (see `open`). Not larger:
/// every commit also walks the cache (pager_end_transaction → pcache1TruncateUnsafe), and at
/// 64 MiB that walk alone was 2.6 % of the server's CPU under load (perf, benchmark W=10).
const WRITE_CACHE_KIB: i64 = 8 * 1024;

/// The write connection. Cheap to clone; batches are applied one at a time.
#[derive(Clone)]
pub(super) struct SqliteWriter {
    inner: Arc<Inner>,
}

struct Inner {
    writing: Mutex<Writing>,
    checkpoints: Checkpoints,
}

impl SqliteWriter {
    /// Opens the (already migrated) database file for writing.
    pub(super) fn open(path: &Path) -> StoreResult<Self> {
        let conn = Connection::open_with_flags(
            path,
            OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )?;
        conn.busy_timeout(Duration::from_secs(10))?;
        // Per connection: the same durability and integrity as the sqlx pool.
        conn.pragma_update(None, "journal_mode", "WAL")?;
        conn.pragma_update(None, "synchronous", "FULL")?;
        conn.pragma_update(None, "foreign_keys", "ON")?;
        // Appends touch index pages all over a large store (the (sender, client_msg_id) key
        // is random); SQLite's default 2 MB page cache made most of them a read from the OS.
        conn.pragma_update(None, "cache_size", -WRITE_CACHE_KIB)?;
        // Statement journals (a statement that may fail halfway keeps one) in memory, not in a
        // temporary file.
        conn.pragma_update(None, "temp_store", "MEMORY")?;
        // The checkpointer thread copies the WAL into the database beside the writer and asks
        // it for the rewinds (see sqlite_checkpoints); SQLite's own is only a backstop.
        let wal_policy = sqlite_checkpoints::STANDARD;
        wal_policy.configure_writer(&conn)?;
        conn.set_prepared_statement_cache_capacity(64);
        let checkpoints = Checkpoints::start(path, wal_policy)?;
        Ok(Self {
            inner: Arc::new(Inner {
                writing: Mutex::new(Writing {
                    conn,
                    tails: Tails::default(),
                }),
                checkpoints,
            }),
        })
    }

    /// Applies the ops in order in one transaction; nothing of it is applied if it fails.
    pub(super) async fn apply(&self, ops: Arc<[WriteOp]>) -> StoreResult<Vec<WriteOutcome>> {
        let inner = self.inner.clone();
        tokio::task::spawn_blocking(move || {
            // A panic inside a transaction rolled it back while unwinding, so the connection
            // is still usable.
            let mut writing = inner.writing.lock().unwrap_or_else(PoisonError::into_inner);
            inner.checkpoints.rewind_if_due(&writing.conn);
            apply_all(&mut writing, &ops)
        })
        .await
        .map_err(|e| StoreError::Other(format!("the SQLite writer failed: {e}")))?
    }
}

/// The write connection and what it knows of conversations.
struct Writing {
    conn: Connection,
    tails: Tails,
}

fn apply_all(writing: &mut Writing, ops: &[WriteOp]) -> StoreResult<Vec<WriteOutcome>> {
    // IMMEDIATE takes the write lock up front, so a read-then-write inside cannot fail with a
    // stale snapshot when an account write (on the sqlx pool) commits in between.
    let tx = writing
        .conn
        .transaction_with_behavior(TransactionBehavior::Immediate)?;
    let mut tails = writing.tails.batch();
    let outcomes = ops
        .iter()
        .map(|op| apply_one(&tx, &mut tails, op))
        .collect::<StoreResult<Vec<_>>>()?;
    let moved = tails.finish(&tx)?;
    tx.commit()?;
    writing.tails.remember(moved);
    Ok(outcomes)
}

fn apply_one(conn: &Connection, tails: &mut BatchTails, op: &WriteOp) -> StoreResult<WriteOutcome> {
    match op {
        WriteOp::Append { .. } | WriteOp::MarkDelivered { .. } | WriteOp::MarkRead { .. } => {
            super::sqlite_dm_writes::apply(conn, tails, op)
        }
        WriteOp::SupportAppend { .. }
        | WriteOp::SupportChange { .. }
        | WriteOp::SupportRead { .. } => super::sqlite_support_writes::apply(conn, op),
    }
}

/// A row read by rusqlite, for the shared row mapping in [`rows`].
pub(super) struct LiteRow<'a>(pub(super) &'a rusqlite::Row<'a>);

impl LiteRow<'_> {
    fn get<T: rusqlite::types::FromSql>(&self, column: &str) -> T {
        // Like sqlx's `Row::get`: the columns are our own schema's, a mismatch is a bug.
        self.0
            .get(column)
            .unwrap_or_else(|e| panic!("column {column}: {e}"))
    }
}

impl Columns for LiteRow<'_> {
    fn text(&self, column: &str) -> String {
        self.get(column)
    }

    fn maybe_text(&self, column: &str) -> Option<String> {
        self.get(column)
    }

    fn int(&self, column: &str) -> i64 {
        self.get(column)
    }

    fn maybe_int(&self, column: &str) -> Option<i64> {
        self.get(column)
    }
}
