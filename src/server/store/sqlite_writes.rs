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
//! Support writes live next door ([`super::sqlite_support_writes`]).

use super::rows::{self, Columns, MESSAGE_COLUMNS};
use super::{
    ordered_pair, seq_param, StoreError, StoreResult, StoredMessage, WriteOp, WriteOutcome,
};
use rusqlite::{params, Connection, OpenFlags, OptionalExtension, TransactionBehavior};
use std::path::Path;
use std::sync::mpsc::{self, RecvTimeoutError};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

/// Page cache of the write connection, in KiB.
const WRITE_CACHE_KIB: i64 = 64 * 1024;

/// WAL size (pages) at which the writer's commit checkpoints the rest itself.
const WRITER_CHECKPOINT_PAGES: i64 = 8192;

/// How often the checkpointer thread copies committed pages into the database.
const CHECKPOINT_EVERY: Duration = Duration::from_millis(200);

/// The write connection. Cheap to clone; batches are applied one at a time.
#[derive(Clone)]
pub(super) struct SqliteWriter {
    inner: Arc<Inner>,
}

struct Inner {
    conn: Mutex<Connection>,
    /// Dropped with the last handle, which ends the checkpointer thread.
    _stop_checkpoints: mpsc::Sender<()>,
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
        // Statement journals (an INSERT with a trigger keeps one) in memory, not a temp file.
        conn.pragma_update(None, "temp_store", "MEMORY")?;
        // The checkpointer thread copies the WAL into the database beside the writer; the
        // writer checkpoints only what is left once the WAL is large, so that the WAL is
        // rewound (reused from its start) instead of growing without end.
        conn.pragma_update(None, "wal_autocheckpoint", WRITER_CHECKPOINT_PAGES)?;
        conn.set_prepared_statement_cache_capacity(64);
        let (stop_checkpoints, stopped) = std::sync::mpsc::channel();
        spawn_checkpointer(path, stopped)?;
        Ok(Self {
            inner: Arc::new(Inner {
                conn: Mutex::new(conn),
                _stop_checkpoints: stop_checkpoints,
            }),
        })
    }

    /// Applies the ops in order in one transaction; nothing of it is applied if it fails.
    pub(super) async fn apply(&self, ops: &[WriteOp]) -> StoreResult<Vec<WriteOutcome>> {
        let inner = self.inner.clone();
        let ops = ops.to_vec();
        tokio::task::spawn_blocking(move || {
            // A panic inside a transaction rolled it back while unwinding, so the connection
            // is still usable.
            let mut conn = inner.conn.lock().unwrap_or_else(PoisonError::into_inner);
            apply_all(&mut conn, &ops)
        })
        .await
        .map_err(|e| StoreError::Other(format!("the SQLite writer failed: {e}")))?
    }
}

/// Checkpoints on a connection of its own, off the writer's path: a checkpoint writes pages
/// into the database file and fsyncs it, which inside a commit stalled every message of that
/// batch. PASSIVE never waits for (or blocks) the writer or readers.
fn spawn_checkpointer(path: &Path, stop: mpsc::Receiver<()>) -> StoreResult<()> {
    let conn = Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )?;
    std::thread::Builder::new()
        .name("sqlite-checkpoint".into())
        .spawn(move || {
            while let Err(RecvTimeoutError::Timeout) = stop.recv_timeout(CHECKPOINT_EVERY) {
                if let Err(e) = conn.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |_| Ok(())) {
                    tracing::warn!(error = %e, "WAL checkpoint failed");
                }
            }
        })
        .map_err(|e| StoreError::Other(format!("cannot start the checkpointer: {e}")))?;
    Ok(())
}

fn apply_all(conn: &mut Connection, ops: &[WriteOp]) -> StoreResult<Vec<WriteOutcome>> {
    // IMMEDIATE takes the write lock up front, so a read-then-write inside cannot fail with a
    // stale snapshot when an account write (on the sqlx pool) commits in between.
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    let outcomes = ops
        .iter()
        .map(|op| apply_one(&tx, op))
        .collect::<StoreResult<Vec<_>>>()?;
    tx.commit()?;
    Ok(outcomes)
}

fn apply_one(conn: &Connection, op: &WriteOp) -> StoreResult<WriteOutcome> {
    match op {
        WriteOp::Append { .. } => append(conn, op),
        WriteOp::MarkDelivered {
            reader,
            peer,
            up_to_seq,
        } => mark(conn, reader, peer, *up_to_seq, false),
        WriteOp::MarkRead {
            reader,
            peer,
            up_to_seq,
        } => mark(conn, reader, peer, *up_to_seq, true),
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

fn append(conn: &Connection, op: &WriteOp) -> StoreResult<WriteOutcome> {
    let WriteOp::Append {
        sender,
        recipient,
        body,
        client_msg_id,
        sent_at,
        id,
    } = op
    else {
        unreachable!("append is only called with an Append");
    };
    let (lo, hi) = ordered_pair(sender, recipient);
    let stored = |seq: i64| WriteOutcome::Appended {
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
    };
    // Fast path: the conversation exists and this is no resend. One statement takes the next
    // seq and stores the message (a trigger advances the conversation); a resend (unique
    // sender + client_msg_id) or a first message inserts nothing and falls through.
    let fast: Option<i64> = conn
        .prepare_cached(
            "INSERT INTO messages \
             (conversation_id, seq, id, sender, recipient, body, client_msg_id, sent_at) \
             SELECT c.id, c.last_seq + 1, ?3, ?4, ?5, ?6, ?7, ?8 FROM conversations c \
             WHERE c.user_lo = ?1 AND c.user_hi = ?2 \
             ON CONFLICT DO NOTHING RETURNING seq",
        )?
        .query_row(
            params![lo, hi, id, sender, recipient, body, client_msg_id, sent_at],
            |row| row.get(0),
        )
        .optional()?;
    if let Some(seq) = fast {
        return Ok(stored(seq));
    }
    let existing = conn
        .prepare_cached(&format!(
            "SELECT {MESSAGE_COLUMNS}, mem.delivered_seq FROM messages m \
             JOIN members mem ON mem.conversation_id = m.conversation_id \
             AND mem.username = m.recipient \
             WHERE m.sender = ? AND m.client_msg_id = ?"
        ))?
        .query_row(params![sender, client_msg_id], |row| {
            let row = LiteRow(row);
            Ok((rows::stored_message(&row), row.int("delivered_seq")))
        })
        .optional()?;
    if let Some((message, delivered_seq)) = existing {
        return Ok(WriteOutcome::Appended {
            message,
            duplicate: true,
            recipient_delivered_seq: delivered_seq as u64,
        });
    }
    // One statement creates the conversation or takes its next seq.
    let (conversation_id, seq): (i64, i64) = conn
        .prepare_cached(
            "INSERT INTO conversations (user_lo, user_hi, last_seq, updated_at) \
             VALUES (?, ?, 1, ?) \
             ON CONFLICT (user_lo, user_hi) DO UPDATE \
             SET last_seq = last_seq + 1, updated_at = excluded.updated_at \
             RETURNING id, last_seq",
        )?
        .query_row(params![lo, hi, sent_at], |row| {
            Ok((row.get(0)?, row.get(1)?))
        })?;
    if seq == 1 {
        conn.prepare_cached(
            "INSERT OR IGNORE INTO members (conversation_id, username) VALUES (?, ?), (?, ?)",
        )?
        .execute(params![conversation_id, lo, conversation_id, hi])?;
    }
    conn.prepare_cached(
        "INSERT INTO messages \
         (conversation_id, seq, id, sender, recipient, body, client_msg_id, sent_at) \
         VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
    )?
    .execute(params![
        conversation_id,
        seq,
        id,
        sender,
        recipient,
        body,
        client_msg_id,
        sent_at
    ])?;
    Ok(stored(seq))
}

/// Moves `reader`'s delivered (and, for reads, read) watermark forward, never backward and
/// never past the conversation's last seq.
fn mark(
    conn: &Connection,
    reader: &str,
    peer: &str,
    up_to_seq: u64,
    read: bool,
) -> StoreResult<WriteOutcome> {
    let (lo, hi) = ordered_pair(reader, peer);
    let Some((conversation_id, last_seq)) = conn
        .prepare_cached("SELECT id, last_seq FROM conversations WHERE user_lo = ? AND user_hi = ?")?
        .query_row(params![lo, hi], |row| {
            Ok((row.get::<_, i64>(0)?, row.get::<_, i64>(1)?))
        })
        .optional()?
    else {
        return Ok(WriteOutcome::Marked { advanced_to: None });
    };
    let target = seq_param(up_to_seq).min(last_seq);
    let sql = if read {
        "UPDATE members SET read_seq = ?1, delivered_seq = MAX(delivered_seq, ?1) \
         WHERE conversation_id = ?2 AND username = ?3 AND read_seq < ?1"
    } else {
        "UPDATE members SET delivered_seq = ?1 \
         WHERE conversation_id = ?2 AND username = ?3 AND delivered_seq < ?1"
    };
    let changed = conn
        .prepare_cached(sql)?
        .execute(params![target, conversation_id, reader])?;
    Ok(WriteOutcome::Marked {
        advanced_to: (changed > 0).then_some(target as u64),
    })
}
