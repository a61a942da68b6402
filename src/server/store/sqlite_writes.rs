//! The SQLite write path: the writer's batches, made durable in a message log and copied into
//! the tables behind it.
//!
//! Three threads, each with a connection of its own:
//! - **the log thread** takes each batch, decides its direct-message writes in memory
//!   ([`super::sqlite_dm_writes`]: seqs, resends, watermarks), appends them to the message log
//!   as one record and `fdatasync`s it ([`super::sqlite_log`]), and answers. That is the whole
//!   path of an acknowledgement: a few hundred bytes written per message, one small fsync per
//!   batch.
//! - **the indexer** ([`super::sqlite_index`]) applies logged records to the tables, many per
//!   transaction, and commits batches with support writes (in order with the rest); reads
//!   that must see every acknowledged write wait for it ([`SqliteWriter::caught_up`]).
//! - **the checkpointer** ([`super::sqlite_checkpoints`]) keeps the WAL short.
//!
//! On start, records the tables do not hold yet are applied before anything else runs
//! ([`recover`]): a crash loses nothing that was acknowledged.
//!
//! Why not sqlx for writes: sqlx drives SQLite from a worker thread and hands every statement
//! to it and back; here a batch costs one hand-off. Reads stay on the sqlx pool (WAL lets them
//! run beside the writers).

use super::rows::Columns;
use super::sqlite_checkpoints::{self, Checkpoints};
use super::sqlite_dm_writes::DmState;
use super::sqlite_entries::{self, Entry};
use super::sqlite_index::{self, IndexJob, Indexer, Progress};
use super::sqlite_log::{self, LogWriter};
use super::sqlite_sync::{self, SyncJob, SyncThread, Synced};
use super::{Durable, StoreError, StoreResult, WriteOp, WriteOutcome};
use rusqlite::{Connection, OpenFlags};
use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;
use std::sync::{mpsc, Arc};
use std::time::Duration;
use tokio::sync::{oneshot, watch};

/// Page cache of the indexer's connection, in KiB: 4× SQLite's default. Not larger: every
/// commit also walks the cache (pager_end_transaction → pcache1TruncateUnsafe).
const WRITE_CACHE_KIB: i64 = 8 * 1024;

/// Entries at most per transaction when recovery applies the log.
const RECOVERY_ENTRIES_PER_COMMIT: usize = 20_000;

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

struct Job {
    ops: Arc<[WriteOp]>,
    reply: oneshot::Sender<StoreResult<(Vec<WriteOutcome>, Durable)>>,
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
        reads.pragma_update(None, "cache_size", -WRITE_CACHE_KIB)?;
        reads.set_prepared_statement_cache_capacity(16);
        let state = DmState::load(&reads)?;
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

fn log_error(e: std::io::Error) -> StoreError {
    StoreError::Other(format!("message log: {e}"))
}

/// The thread that decides and logs batches.
struct LogThread {
    /// Reads what the writer does not remember (conversations, originals of resends).
    reads: Connection,
    state: DmState,
    log: LogWriter,
    /// The next record's number.
    next: u64,
    sync: mpsc::Sender<SyncJob>,
    synced: watch::Receiver<Synced>,
    index: mpsc::Sender<IndexJob>,
    progress: Arc<Progress>,
}

impl LogThread {
    fn run(mut self, jobs: mpsc::Receiver<Job>) {
        while let Ok(Job { ops, reply }) = jobs.recv() {
            let _ = reply.send(self.apply(&ops));
        }
        tracing::debug!("log writer stopped");
    }

    fn apply(&mut self, ops: &Arc<[WriteOp]>) -> StoreResult<(Vec<WriteOutcome>, Durable)> {
        if self.synced.borrow().failed_from.is_some() {
            return Err(sqlite_sync::error());
        }
        self.progress.wait_for_room();
        self.state.forget_indexed(self.progress.indexed());
        let mut batch = self.state.batch(&self.reads);
        let mut outcomes = Vec::with_capacity(ops.len());
        let mut support = Vec::new();
        for (i, op) in ops.iter().enumerate() {
            if op.is_support() {
                support.push(i);
            } else {
                outcomes.push(batch.apply(op)?);
            }
        }
        let (entries, decided) = batch.finish();
        let written_before = self.next - 1;
        if !support.is_empty() {
            // Committed by the indexer after every record before it, so those must have
            // reached it: they do once durable.
            futures::executor::block_on(self.durable_after(written_before).wait())?;
            let indexer_gone = || StoreError::Other("the SQLite indexer has stopped".into());
            let (reply, answer) = mpsc::sync_channel(1);
            let job = IndexJob::Direct {
                entries,
                ops: ops.clone(),
                support: support.clone(),
                reply,
            };
            self.index.send(job).map_err(|_| indexer_gone())?;
            let support_outcomes = answer.recv().map_err(|_| indexer_gone())??;
            self.state.keep(decided, None);
            return Ok((merge(outcomes, support, support_outcomes), Durable::now()));
        }
        if entries.is_empty() {
            // Resends and watermarks that stay: nothing to write, but a resend's original may
            // be in a record not yet durable.
            self.state.keep(decided, None);
            return Ok((outcomes, self.durable_after(written_before)));
        }
        let number = self.next;
        let record = sqlite_entries::encode(&entries);
        let written = self.log.write(number, &record).map_err(log_error)?;
        self.progress.counts.records.fetch_add(1, Ordering::Relaxed);
        self.next += 1;
        self.state.keep(decided, Some(number));
        let job = SyncJob {
            number,
            entries,
            file: written.file,
            closed_segment: written.closed,
        };
        self.sync
            .send(job)
            .map_err(|_| StoreError::Other("the log sync thread has stopped".into()))?;
        Ok((outcomes, self.durable_after(number)))
    }

    fn durable_after(&self, number: u64) -> Durable {
        sqlite_sync::durable_after(self.synced.clone(), number)
    }
}

/// Direct-message outcomes (in order, without the support writes) and the support outcomes
/// (of the ops at `support`), in the ops' order.
fn merge(
    direct: Vec<WriteOutcome>,
    support: Vec<usize>,
    support_outcomes: Vec<WriteOutcome>,
) -> Vec<WriteOutcome> {
    let total = direct.len() + support.len();
    let mut direct = direct.into_iter();
    let mut support = support.into_iter().zip(support_outcomes).peekable();
    (0..total)
        .filter_map(|i| match support.peek() {
            Some((at, _)) if *at == i => support.next().map(|(_, outcome)| outcome),
            _ => direct.next(),
        })
        .collect()
}

/// Applies the log records the tables do not hold yet, then removes the log's segments.
/// Returns the newest record number.
fn recover(conn: &mut Connection, dir: &Path) -> StoreResult<u64> {
    let applied = sqlite_index::applied(conn)?;
    if !dir.exists() {
        return Ok(applied);
    }
    let segments = sqlite_log::segments(dir).map_err(log_error)?;
    let mut last = applied;
    let mut pending: Vec<Entry> = Vec::new();
    let mut replayed = 0usize;
    for segment in &segments {
        let mut records = Vec::new();
        sqlite_log::read_segment(segment, |number, payload| {
            if number > last {
                let entries = sqlite_entries::decode(payload).map_err(std::io::Error::other)?;
                records.push((number, entries));
                last = number;
            }
            Ok(())
        })
        .map_err(log_error)?;
        for (number, entries) in records {
            replayed += entries.len();
            pending.extend(entries);
            if pending.len() >= RECOVERY_ENTRIES_PER_COMMIT {
                let chunk = std::mem::take(&mut pending);
                sqlite_index::apply_logged(conn, || &chunk, number)?;
            }
        }
    }
    if last > applied {
        sqlite_index::apply_logged(conn, || &pending, last)?;
        tracing::info!(
            records = last - applied,
            entries = replayed,
            "applied the message log's records the tables did not hold"
        );
    }
    for segment in segments {
        std::fs::remove_file(&segment.path).map_err(log_error)?;
    }
    Ok(last)
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
    use crate::server::store::{NewMessage, SqliteStore, Store, StoredMessage};

    fn marked(n: u64) -> WriteOutcome {
        WriteOutcome::Marked {
            advanced_to: Some(n),
        }
    }

    fn seqs(outcomes: &[WriteOutcome]) -> Vec<u64> {
        outcomes
            .iter()
            .map(|o| match o {
                WriteOutcome::Marked { advanced_to } => advanced_to.unwrap_or(0),
                other => panic!("{other:?}"),
            })
            .collect()
    }

    #[test]
    fn merged_outcomes_keep_the_order_of_the_ops() {
        let merged = merge(
            vec![marked(1), marked(3)],
            vec![1, 3],
            vec![marked(2), marked(4)],
        );
        assert_eq!(seqs(&merged), vec![1, 2, 3, 4]);
        let merged = merge(vec![marked(3)], vec![0, 1], vec![marked(1), marked(2)]);
        assert_eq!(seqs(&merged), vec![1, 2, 3]);
    }

    fn message(from: &str, to: &str, seq: u64, body: &str) -> Arc<StoredMessage> {
        Arc::new(StoredMessage {
            id: format!("id-{from}-{seq}"),
            seq,
            sender: from.into(),
            recipient: to.into(),
            body: body.into(),
            client_msg_id: format!("{from}-{seq}"),
            sent_at: format!("2026-12-04T00:00:{seq:02}.000Z"),
        })
    }

    /// A migrated database whose log holds records the tables have not seen: what a crash
    /// between an acknowledgement and the indexer's commit leaves.
    async fn store_with_logged_records(records: &[Vec<Entry>]) -> (tempfile::TempDir, PathBuf) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.db");
        let url = format!("sqlite://{}", path.display());
        let store = SqliteStore::connect(&url).await.unwrap();
        store.close().await;
        drop(store);
        // The store removed its (empty) log on start; put a crashed run's log in its place.
        let log_dir = log_dir(&path);
        for segment in sqlite_log::segments(&log_dir).unwrap() {
            std::fs::remove_file(segment.path).unwrap();
        }
        let mut log = LogWriter::create(&log_dir, 1).unwrap();
        for (n, entries) in records.iter().enumerate() {
            log.append(n as u64 + 1, &sqlite_entries::encode(entries))
                .unwrap();
        }
        (dir, path)
    }

    fn conversation(id: i64, lo: &str, hi: &str) -> Entry {
        Entry::Conversation {
            id,
            lo: lo.into(),
            hi: hi.into(),
            at: "2026-12-04T00:00:00.000Z".into(),
        }
    }

    fn logged(conversation_id: i64, message: Arc<StoredMessage>) -> Entry {
        Entry::Message {
            conversation_id,
            message,
        }
    }

    #[tokio::test]
    async fn logged_writes_the_tables_missed_are_applied_when_the_store_opens_again() {
        let records = vec![
            vec![
                conversation(1, "ann", "bob"),
                logged(1, message("ann", "bob", 1, "first")),
            ],
            vec![
                logged(1, message("bob", "ann", 2, "second")),
                Entry::Marks {
                    conversation_id: 1,
                    username: "bob".into(),
                    delivered_seq: 1,
                    read_seq: 1,
                },
            ],
        ];
        let (dir, path) = store_with_logged_records(&records).await;
        let url = format!("sqlite://{}", path.display());
        let store = SqliteStore::connect(&url).await.unwrap();

        let (page, more) = store.messages_before("ann", "bob", None, 10).await.unwrap();
        assert!(!more);
        let bodies: Vec<(u64, &str)> = page.iter().map(|m| (m.seq, m.body.as_str())).collect();
        assert_eq!(bodies, vec![(1, "first"), (2, "second")]);
        let bob = store.conversations("bob").await.unwrap();
        assert_eq!(
            (bob[0].peer.as_str(), bob[0].last_seq, bob[0].unread),
            ("ann", 2, 0)
        );
        // Numbering and resends go on from what the log held.
        let next = store
            .apply_batch(Arc::from([
                WriteOp::Append(NewMessage::new(
                    "ann".into(),
                    "bob".into(),
                    "third".into(),
                    "c3".into(),
                )),
                WriteOp::Append(NewMessage::new(
                    "ann".into(),
                    "bob".into(),
                    "again".into(),
                    "ann-1".into(),
                )),
            ]))
            .await
            .unwrap();
        assert!(
            matches!(&next[0], WriteOutcome::Appended { message, duplicate: false, .. } if message.seq == 3)
        );
        assert!(
            matches!(&next[1], WriteOutcome::Appended { message, duplicate: true, .. } if message.body == "first")
        );
        store.close().await;
        drop(store);

        // Applied once: opening again replays nothing twice.
        let store = SqliteStore::connect(&url).await.unwrap();
        let (page, _) = store.messages_before("ann", "bob", None, 10).await.unwrap();
        assert_eq!(
            page.iter().map(|m| m.seq).collect::<Vec<_>>(),
            vec![1, 2, 3]
        );
        drop(dir);
    }

    #[tokio::test]
    async fn a_record_cut_off_by_a_crash_is_not_applied_and_the_records_before_it_are() {
        let records = vec![
            vec![
                conversation(1, "ann", "bob"),
                logged(1, message("ann", "bob", 1, "whole")),
            ],
            vec![logged(1, message("ann", "bob", 2, "cut off"))],
        ];
        let (dir, path) = store_with_logged_records(&records).await;
        let segment = sqlite_log::segments(&log_dir(&path)).unwrap().remove(0);
        let len = std::fs::metadata(&segment.path).unwrap().len();
        let file = std::fs::OpenOptions::new()
            .write(true)
            .open(&segment.path)
            .unwrap();
        file.set_len(len - 3).unwrap();

        let url = format!("sqlite://{}", path.display());
        let store = SqliteStore::connect(&url).await.unwrap();
        let (page, _) = store.messages_before("ann", "bob", None, 10).await.unwrap();
        assert_eq!(
            page.iter().map(|m| m.body.as_str()).collect::<Vec<_>>(),
            vec!["whole"]
        );
        // The next message takes the seq the lost one never had.
        let next = store
            .apply_batch(Arc::from([WriteOp::Append(NewMessage::new(
                "bob".into(),
                "ann".into(),
                "reply".into(),
                "r1".into(),
            ))]))
            .await
            .unwrap();
        assert!(matches!(&next[0], WriteOutcome::Appended { message, .. } if message.seq == 2));
        drop(dir);
    }

    #[test]
    fn the_log_lives_beside_the_database_file() {
        assert_eq!(
            log_dir(Path::new("data/confab.db")),
            PathBuf::from("data/confab.db-log")
        );
    }
}
