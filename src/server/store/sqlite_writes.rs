//! The SQLite write path: the writer's batches, made durable in a message log and copied into
//! the tables behind it.
//!
//! Four threads, each with what it needs of its own:
//! - **the log thread** ([`super::sqlite_log_thread`]) takes each batch, decides its
//!   direct-message writes in memory ([`super::sqlite_dm_writes`]: seqs, resends, watermarks),
//!   appends them to the message log as one record ([`super::sqlite_log`]) and answers. A few
//!   hundred bytes written per message.
//! - **the sync thread** ([`super::sqlite_sync`]) `fdatasync`s the log: one sync makes every
//!   record written meanwhile durable (group commit), and a batch is fanned out only then.
//! - **the indexer** ([`super::sqlite_index`]) applies durable records to the tables, many per
//!   transaction, and commits batches with support writes (in order with the rest); reads
//!   that must see every acknowledged write wait for it ([`SqliteWriter::caught_up`]).
//! - **the checkpointer** ([`super::sqlite_checkpoints`]) keeps the WAL short.
//!
//! On start, records the tables do not hold yet are applied before anything else runs
//! ([`super::sqlite_recovery`]): a crash loses nothing that was acknowledged.
//!
//! Why not sqlx for writes: sqlx drives SQLite from a worker thread and hands every statement
//! to it and back; here a batch costs one hand-off. Reads stay on the sqlx pool (WAL lets them
//! run beside the writers).

use super::rows::Columns;
use super::sqlite_checkpoints::{self, Checkpoints};
use super::sqlite_dm_writes::DmState;
use super::sqlite_index::{IndexJob, Indexer, Progress};
use super::sqlite_log::LogWriter;
use super::sqlite_log_thread::{Job, LogThread};
use super::sqlite_recovery::recover;
use super::sqlite_sent_filter::SentKeys;
use super::sqlite_sync::{SyncThread, Synced};
use super::{Durable, StoreError, StoreResult, WriteOp, WriteOutcome};
use rusqlite::{Connection, OpenFlags};
use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;
use std::sync::{mpsc, Arc};
use std::time::Duration;
use tokio::sync::{oneshot, watch};

/// Page cache of the indexer's connection, in KiB. A commit of 20 000 entries dirties about
/// 2 000 pages (8 MiB), which stay in the cache until it commits; at 8 MiB SQLite spilled a few
/// hundred of them to the WAL mid-transaction (written twice) and read back index pages.
///
/// Each connection's cache is its own only because `.cargo/config.toml` builds SQLite without
/// `SQLITE_ENABLE_MEMORY_MANAGEMENT` (libsqlite3-sys turns it on). With it, all connections of
/// the process share one LRU list, and a connection whose cache is full takes the oldest page
/// of any other: in the benchmark a reader took the indexer's pages as fast as it used them, the
/// indexer's cache stayed at ~50 pages for a whole 20 s round, it read 16 GB from the OS
/// (4 page reads per message), its commits took 300–450 ms instead of 150–180, and the server
/// used ~15 % more CPU per message. The test below keeps that from coming back.
const WRITE_CACHE_KIB: i64 = 16 * 1024;

/// Page cache of the log thread's read connection (conversations and resends it has to look up).
const READ_CACHE_KIB: i64 = 8 * 1024;

/// A build from outside the repository does not read `.cargo/config.toml`; say so in the log
/// instead of running slower without a word.
fn warn_if_page_caches_are_shared(conn: &Connection) {
    let options = conn
        .prepare("PRAGMA compile_options")
        .and_then(|mut statement| {
            statement
                .query_map([], |row| row.get::<_, String>(0))?
                .collect::<rusqlite::Result<Vec<String>>>()
        });
    if options.is_ok_and(|o| o.iter().any(|o| o == "ENABLE_MEMORY_MANAGEMENT")) {
        tracing::warn!(
            "SQLite was built with SQLITE_ENABLE_MEMORY_MANAGEMENT: connections share one page \
             cache and the indexer's pages can be taken by readers; build from the repository \
             (its .cargo/config.toml sets LIBSQLITE3_FLAGS) for the intended performance"
        );
    }
}

/// The log thread's handle. Cheap to clone.
#[derive(Clone)]
pub(super) struct SqliteWriter {
    inner: Arc<Inner>,
}

struct Inner {
    jobs: mpsc::Sender<Job>,
    progress: Arc<Progress>,
    /// To ask the indexer to commit at once (a reader waits).
    index: mpsc::Sender<IndexJob>,
}

/// Where the message log of the database at `path` lives: beside it, `<file>-log/`.
pub(super) fn log_dir(path: &Path) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push("-log");
    PathBuf::from(name)
}

impl SqliteWriter {
    /// Opens the (already migrated) database file for writing, applies what its log holds
    /// beyond the tables, and starts the threads.
    pub(super) fn open(path: &Path) -> StoreResult<Self> {
        let mut conn = open_connection(path)?;
        warn_if_page_caches_are_shared(&conn);
        // The same durability and integrity as the sqlx pool.
        conn.pragma_update(None, "synchronous", "FULL")?;
        // Index pages of a large store are all over the file; SQLite's default 2 MB page
        // cache made most of them a read from the OS.
        conn.pragma_update(None, "cache_size", -WRITE_CACHE_KIB)?;
        // Statement journals in memory, not in a temporary file.
        conn.pragma_update(None, "temp_store", "MEMORY")?;
        let wal_policy = sqlite_checkpoints::STANDARD;
        wal_policy.configure_writer(&conn)?;
        conn.set_prepared_statement_cache_capacity(64);

        let dir = log_dir(path);
        let last = recover(&mut conn, &dir)?;
        let progress = Arc::new(Progress::new(last));

        let reads = open_connection(path)?;
        reads.pragma_update(None, "query_only", "ON")?;
        reads.pragma_update(None, "cache_size", -READ_CACHE_KIB)?;
        reads.set_prepared_statement_cache_capacity(16);
        let state = DmState::load(&reads, SentKeys::build(path))?;
        let log = LogWriter::create(&dir, last + 1).map_err(log_error)?;

        let (index, indexed) = mpsc::channel();
        Indexer {
            conn,
            checkpoints: Checkpoints::start(path, wal_policy)?,
            progress: progress.clone(),
        }
        .spawn(indexed)
        .map_err(|e| StoreError::Other(format!("cannot start the indexer: {e}")))?;
        let (synced_tx, synced) = watch::channel(Synced {
            up_to: last,
            failed_from: None,
        });
        let (sync, to_sync) = mpsc::channel();
        SyncThread {
            index: index.clone(),
            progress: progress.clone(),
            synced: synced_tx,
        }
        .spawn(to_sync)
        .map_err(|e| StoreError::Other(format!("cannot start the log sync thread: {e}")))?;
        let (jobs, queued) = mpsc::channel();
        let thread = LogThread {
            reads,
            state,
            log,
            next: last + 1,
            sync,
            synced,
            index: index.clone(),
            progress: progress.clone(),
        };
        std::thread::Builder::new()
            .name("sqlite-log".into())
            .spawn(move || thread.run(queued))
            .map_err(|e| StoreError::Other(format!("cannot start the log writer: {e}")))?;
        Ok(Self {
            inner: Arc::new(Inner {
                jobs,
                progress,
                index,
            }),
        })
    }

    /// Decides and writes a batch: answered once its record is written, durable once the
    /// [`Durable`] resolves (for a batch with support writes, at once: it is committed).
    /// Nothing of a batch counts if it fails.
    pub(super) async fn start(
        &self,
        ops: Arc<[WriteOp]>,
    ) -> StoreResult<(Vec<WriteOutcome>, Durable)> {
        let stopped = || StoreError::Other("the SQLite writer has stopped".into());
        let (reply, answer) = oneshot::channel();
        self.inner
            .jobs
            .send(Job { ops, reply })
            .map_err(|_| stopped())?;
        answer.await.map_err(|_| stopped())?
    }

    /// Applies a batch and waits until it is durable.
    pub(super) async fn apply(&self, ops: Arc<[WriteOp]>) -> StoreResult<Vec<WriteOutcome>> {
        let (outcomes, durable) = self.start(ops).await?;
        durable.wait().await?;
        Ok(outcomes)
    }

    /// The log's and the indexer's counters, for `/metrics`.
    pub(super) fn samples(&self) -> Vec<(&'static str, &'static str, u64)> {
        let progress = &self.inner.progress;
        let counts = &progress.counts;
        let load = |c: &std::sync::atomic::AtomicU64| c.load(Ordering::Relaxed);
        vec![
            ("confab_log_records_total", "counter", load(&counts.records)),
            ("confab_log_syncs_total", "counter", load(&counts.syncs)),
            (
                "confab_log_sync_microseconds_total",
                "counter",
                load(&counts.sync_micros),
            ),
            (
                "confab_index_commits_total",
                "counter",
                load(&counts.index_commits),
            ),
            (
                "confab_index_entries_total",
                "counter",
                load(&counts.indexed_entries),
            ),
            (
                "confab_index_microseconds_total",
                "counter",
                load(&counts.index_micros),
            ),
            (
                "confab_index_backlog_entries",
                "gauge",
                progress.backlog() as u64,
            ),
        ]
    }

    /// Waits until the tables hold every write answered before the call.
    pub(super) async fn caught_up(&self) -> StoreResult<()> {
        let hurry = || {
            let _ = self.inner.index.send(IndexJob::Hurry);
        };
        self.inner.progress.caught_up(hurry).await
    }
}

fn open_connection(path: &Path) -> StoreResult<Connection> {
    let conn = Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )?;
    conn.busy_timeout(Duration::from_secs(10))?;
    conn.pragma_update(None, "journal_mode", "WAL")?;
    conn.pragma_update(None, "foreign_keys", "ON")?;
    Ok(conn)
}

pub(super) fn log_error(e: std::io::Error) -> StoreError {
    StoreError::Other(format!("message log: {e}"))
}

/// A row read by rusqlite, for the shared row mapping in [`rows`](super::rows).
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

#[cfg(test)]
mod tests {
    use super::*;

    /// Pages the connection has read from the OS since the last call.
    fn misses(conn: &Connection) -> i32 {
        let (mut current, mut highest) = (0, 0);
        // SAFETY: a valid open handle and two out-pointers, as sqlite3_db_status documents.
        let rc = unsafe {
            rusqlite::ffi::sqlite3_db_status(
                conn.handle(),
                rusqlite::ffi::SQLITE_DBSTATUS_CACHE_MISS,
                &mut current,
                &mut highest,
                1,
            )
        };
        assert_eq!(rc, rusqlite::ffi::SQLITE_OK);
        current
    }

    #[test]
    fn a_connection_keeps_its_cached_pages_while_another_scans_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("cache.db");
        let setup = Connection::open(&path).unwrap();
        setup
            .execute_batch(
                "CREATE TABLE small (v TEXT); CREATE TABLE big (v TEXT);
                 WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 300)
                 INSERT INTO small SELECT printf('%.1000c', 'x') FROM n;
                 WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 20000)
                 INSERT INTO big SELECT printf('%.1000c', 'y') FROM n;",
            )
            .unwrap();
        // The indexer's side: a cache large enough for its table, read once to fill it.
        let keeper = Connection::open(&path).unwrap();
        keeper.pragma_update(None, "cache_size", -8 * 1024).unwrap();
        let read_small = |c: &Connection| {
            c.query_row("SELECT count(*) FROM small", [], |r| r.get::<_, i64>(0))
                .unwrap()
        };
        read_small(&keeper);
        misses(&keeper);
        // Another connection with a small cache reads about 20 MB, far past its own cache.
        let scanner = Connection::open(&path).unwrap();
        scanner.pragma_update(None, "cache_size", 100).unwrap();
        let n: i64 = scanner
            .query_row("SELECT count(*) FROM big WHERE v LIKE 'y%'", [], |r| {
                r.get(0)
            })
            .unwrap();
        assert_eq!(n, 20_000);
        assert_eq!(read_small(&keeper), 300);
        assert_eq!(
            misses(&keeper),
            0,
            "another connection's scan took this one's cached pages (a shared page-cache LRU: is \
             SQLite built with SQLITE_ENABLE_MEMORY_MANAGEMENT again? see .cargo/config.toml)"
        );
    }

    #[test]
    fn the_log_lives_beside_the_database_file() {
        assert_eq!(
            log_dir(Path::new("data/confab.db")),
            PathBuf::from("data/confab.db-log")
        );
    }
}
