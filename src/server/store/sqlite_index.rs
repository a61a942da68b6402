//! The indexer: a thread that copies logged batches into the SQLite tables, off the path of
//! every acknowledgement.
//!
//! A direct-message batch is durable once it is in the message log ([`super::sqlite_log`]);
//! the writer answers then. This thread collects what has been logged for up to
//! [`COMMIT_EVERY`] and applies it in one transaction (`synchronous=FULL`), recording the last
//! record number it applied in the same transaction; only then may the segments it finished
//! go. Many batches share a commit, so a conversation's B-tree pages are written once per
//! commit instead of once per batch, and readers' page caches (emptied by every commit) stay
//! warm in between.
//!
//! Reads that must see every acknowledged write wait for it first ([`Progress::caught_up`]),
//! and their waiting makes the indexer commit at once ([`IndexJob::Hurry`]). Batches with
//! support writes are committed here too ([`IndexJob::Direct`]), after everything logged
//! before them, and answered when their transaction commits.

use super::sqlite_checkpoints::Checkpoints;
use super::sqlite_entries::{self, Entry};
use super::{StoreError, StoreResult, WriteOp, WriteOutcome};
use rusqlite::{params, Connection, TransactionBehavior};
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc;
use std::sync::{Arc, Condvar, Mutex, PoisonError};
use std::time::{Duration, Instant};
use tokio::sync::watch;

/// How long logged batches may wait for the indexer's next commit. Measured with the
/// benchmark: committing every 20 ms gave 88 k msgs/s at W=10 and 35 k at W=1; every 200 ms
/// 95–99 k and 40–44 k (every commit has a fixed cost: the WAL fsync, the pages written again,
/// readers' caches emptied); a second was no better.
const COMMIT_EVERY: Duration = Duration::from_millis(200);

/// Entries at most in one of the indexer's transactions, so that one commit (which holds
/// SQLite's write lock: sign-ups and sign-ins wait for it) stays well under a tenth of a second.
const MAX_ENTRIES_PER_COMMIT: usize = 20_000;

/// Entries logged but not yet indexed at most; past this the writer waits, so a store that
/// cannot keep up slows writers down instead of filling memory.
const MAX_BACKLOG: usize = 100_000;

/// How long a read waits for the indexer before it fails.
const CATCH_UP_TIMEOUT: Duration = Duration::from_secs(10);

pub(super) enum IndexJob {
    /// A batch in the log, and the segment its record closed (if it did).
    Logged {
        number: u64,
        entries: Vec<Entry>,
        closed_segment: Option<PathBuf>,
    },
    /// A batch with support writes: its direct-message entries and the support writes of
    /// `ops` (at `support`) in one transaction, answered on `reply` with the support outcomes.
    Direct {
        entries: Vec<Entry>,
        ops: Arc<[WriteOp]>,
        support: Vec<usize>,
        reply: mpsc::SyncSender<StoreResult<Vec<WriteOutcome>>>,
    },
    /// A reader waits for what is logged: commit it now.
    Hurry,
}

/// What the log and the indexer have done, for `/metrics`.
#[derive(Debug, Default)]
pub(super) struct LogCounts {
    pub(super) records: AtomicU64,
    /// `fdatasync` calls (each makes every record written before it durable) and their time.
    pub(super) syncs: AtomicU64,
    pub(super) sync_micros: AtomicU64,
    pub(super) index_commits: AtomicU64,
    pub(super) indexed_entries: AtomicU64,
    pub(super) index_micros: AtomicU64,
}

impl LogCounts {
    pub(super) fn add_time(counter: &AtomicU64, since: Instant) {
        counter.fetch_add(since.elapsed().as_micros() as u64, Ordering::Relaxed);
    }
}

/// How far the log and the tables are, shared by the writer, the indexer and readers.
pub(super) struct Progress {
    /// The newest record in the log (0: none yet).
    logged: AtomicU64,
    /// The newest record in the tables.
    indexed: watch::Sender<u64>,
    /// Entries logged and not yet indexed.
    backlog: Mutex<usize>,
    drained: Condvar,
    pub(super) counts: LogCounts,
}

impl Progress {
    pub(super) fn new(indexed: u64) -> Self {
        Self {
            logged: AtomicU64::new(indexed),
            indexed: watch::Sender::new(indexed),
            backlog: Mutex::new(0),
            drained: Condvar::new(),
            counts: LogCounts::default(),
        }
    }

    pub(super) fn indexed(&self) -> u64 {
        *self.indexed.borrow()
    }

    pub(super) fn backlog(&self) -> usize {
        *self.backlog.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Record `number` (of `entries` entries) is durable; called before anyone hears of it.
    pub(super) fn logged(&self, number: u64, entries: usize) {
        *self.backlog.lock().unwrap_or_else(PoisonError::into_inner) += entries;
        self.logged.store(number, Ordering::Release);
    }

    /// Blocks the writer while the backlog is full.
    pub(super) fn wait_for_room(&self) {
        let backlog = self.backlog.lock().unwrap_or_else(PoisonError::into_inner);
        let _room = self
            .drained
            .wait_while(backlog, |b| *b >= MAX_BACKLOG)
            .unwrap_or_else(PoisonError::into_inner);
    }

    fn indexed_up_to(&self, number: u64, entries: usize) {
        let mut backlog = self.backlog.lock().unwrap_or_else(PoisonError::into_inner);
        *backlog = backlog.saturating_sub(entries);
        drop(backlog);
        self.drained.notify_all();
        self.indexed.send_if_modified(|at| {
            let moved = number > *at;
            *at = (*at).max(number);
            moved
        });
    }

    /// Waits until everything logged before the call is in the tables; `hurry` asks the
    /// indexer to commit now.
    pub(super) async fn caught_up(&self, hurry: impl FnOnce()) -> StoreResult<()> {
        let target = self.logged.load(Ordering::Acquire);
        if self.indexed() >= target {
            return Ok(());
        }
        hurry();
        let mut indexed = self.indexed.subscribe();
        let reached = async { indexed.wait_for(|at| *at >= target).await.map(drop) };
        match tokio::time::timeout(CATCH_UP_TIMEOUT, reached).await {
            Ok(Ok(())) => Ok(()),
            // The indexer is gone (the store is closing) or stuck.
            Ok(Err(_)) | Err(_) => Err(StoreError::Other(
                "the store is not keeping up; please try again".into(),
            )),
        }
    }
}

/// Lowers the calling thread's CPU priority (nice 10; no privilege needed to lower one's own).
/// Indexing and checkpoints are background work whose bursts (tens of milliseconds of B-tree
/// work per commit) otherwise took CPU from the threads that answer sends: on the benchmark's
/// two cores the W=1 p99 went from 6.7–7.5 to 6.35–6.5 ms (three runs each).
pub(super) fn in_background() {
    // SAFETY: setpriority has no memory effects; who = 0 is the calling thread on Linux.
    let rc = unsafe { libc::setpriority(libc::PRIO_PROCESS as _, 0, 10) };
    if rc != 0 {
        tracing::debug!(error = %std::io::Error::last_os_error(), "cannot lower a background thread's priority");
    }
}

/// Logged batches waiting for a commit.
type Pending = Vec<(u64, Vec<Entry>, Option<PathBuf>)>;

/// The indexer's thread: owns the write connection and the checkpointer's requests.
pub(super) struct Indexer {
    pub(super) conn: Connection,
    pub(super) checkpoints: Checkpoints,
    pub(super) progress: Arc<Progress>,
}

impl Indexer {
    pub(super) fn spawn(self, jobs: mpsc::Receiver<IndexJob>) -> std::io::Result<()> {
        std::thread::Builder::new()
            .name("sqlite-indexer".into())
            .spawn(move || {
                in_background();
                self.run(jobs)
            })
            .map(drop)
    }

    fn run(mut self, jobs: mpsc::Receiver<IndexJob>) {
        let mut pending: Pending = Vec::new();
        let mut entries = 0;
        let mut last_commit = Instant::now();
        loop {
            // Logged batches wait for the next commit, at most `COMMIT_EVERY` after the last
            // one began, unless a reader needs them or there are many.
            let job = if pending.is_empty() {
                match jobs.recv() {
                    Ok(job) => Some(job),
                    Err(_) => break,
                }
            } else if entries >= MAX_ENTRIES_PER_COMMIT {
                None
            } else {
                let wait = (last_commit + COMMIT_EVERY).saturating_duration_since(Instant::now());
                match jobs.recv_timeout(wait) {
                    Ok(job) => Some(job),
                    Err(mpsc::RecvTimeoutError::Timeout) => None,
                    Err(mpsc::RecvTimeoutError::Disconnected) => break,
                }
            };
            match job {
                Some(IndexJob::Logged {
                    number,
                    entries: batch,
                    closed_segment,
                }) => {
                    entries += batch.len();
                    pending.push((number, batch, closed_segment));
                    continue;
                }
                Some(IndexJob::Direct {
                    entries: batch,
                    ops,
                    support,
                    reply,
                }) => {
                    // Everything logged before it goes first.
                    self.index(std::mem::take(&mut pending));
                    let _ = reply.send(self.direct(&batch, &ops, &support));
                }
                Some(IndexJob::Hurry) | None => self.index(std::mem::take(&mut pending)),
            }
            entries = 0;
            last_commit = Instant::now();
        }
        // The writer has stopped: what it logged goes in before the thread ends.
        self.index(pending);
        tracing::debug!("indexer stopped");
    }

    /// Commits logged batches in one transaction, then lets their finished segments go.
    fn index(&mut self, pending: Pending) {
        let Some(last) = pending.last().map(|(number, ..)| *number) else {
            return;
        };
        let started = Instant::now();
        let entries = pending.iter().map(|(_, e, _)| e.len()).sum();
        let mut delay = Duration::from_millis(10);
        while let Err(e) = self.commit(&pending, last) {
            // The batches are durable in the log and nothing may be skipped: a disk that is
            // full or failing is retried until it works (writers wait meanwhile).
            tracing::error!(error = %e, "indexing the message log failed; retrying");
            std::thread::sleep(delay);
            delay = (delay * 2).min(Duration::from_secs(1));
        }
        let counts = &self.progress.counts;
        LogCounts::add_time(&counts.index_micros, started);
        counts.index_commits.fetch_add(1, Ordering::Relaxed);
        counts
            .indexed_entries
            .fetch_add(entries as u64, Ordering::Relaxed);
        self.progress.indexed_up_to(last, entries);
        for segment in pending.into_iter().filter_map(|(.., closed)| closed) {
            if let Err(e) = std::fs::remove_file(&segment) {
                tracing::warn!(error = %e, segment = %segment.display(), "cannot remove an indexed log segment");
            }
        }
    }

    fn commit(&mut self, pending: &Pending, last: u64) -> StoreResult<()> {
        self.checkpoints.rewind_if_due(&self.conn);
        let all = || pending.iter().flat_map(|(_, entries, _)| entries);
        apply_logged(&mut self.conn, all, last)
    }

    /// A batch with support writes, in one transaction of its own.
    fn direct(
        &mut self,
        entries: &[Entry],
        ops: &[WriteOp],
        support: &[usize],
    ) -> StoreResult<Vec<WriteOutcome>> {
        self.checkpoints.rewind_if_due(&self.conn);
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        sqlite_entries::apply(&tx, entries)?;
        let outcomes = support
            .iter()
            .map(|&i| super::sqlite_support_writes::apply(&tx, &ops[i]))
            .collect::<StoreResult<Vec<_>>>()?;
        tx.commit()?;
        Ok(outcomes)
    }
}

/// Applies logged entries (up to record `last`) in one transaction, with `last` as the newest
/// record the tables hold. An entry the tables refuse (only a bug can make one) is skipped
/// and logged rather than losing the rest of the batch with it: those were acknowledged.
pub(super) fn apply_logged<'a, I>(
    conn: &mut Connection,
    entries: impl Fn() -> I,
    last: u64,
) -> StoreResult<()>
where
    I: IntoIterator<Item = &'a Entry>,
{
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    let tx = match sqlite_entries::apply(&tx, entries()) {
        Ok(()) => tx,
        Err(e) => {
            tracing::error!(error = %e, "a logged batch does not apply; applying it write by write");
            drop(tx);
            let mut tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
            sqlite_entries::apply_tolerantly(&mut tx, entries())?;
            tx
        }
    };
    tx.prepare_cached("UPDATE message_log SET applied = ? WHERE id = 1")?
        .execute(params![super::seq_param(last)])?;
    tx.commit()?;
    Ok(())
}

/// The newest log record the tables hold.
pub(super) fn applied(conn: &Connection) -> rusqlite::Result<u64> {
    conn.query_row("SELECT applied FROM message_log WHERE id = 1", [], |row| {
        row.get::<_, i64>(0)
    })
    .map(|n| n.max(0) as u64)
}
