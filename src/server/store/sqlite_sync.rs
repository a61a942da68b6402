//! The sync thread: makes written log records durable, then hands them to the indexer.
//!
//! The log thread decides a batch and writes its record to the page cache; this thread runs
//! the `fdatasync` that makes it durable. Meanwhile the log thread decides and writes the next
//! batch, and every record written while one `fdatasync` runs is made durable by the next one
//! (group commit). Nobody hears of a batch before its record, and every record before it, is
//! durable ([`durable_after`]).
//!
//! If an `fdatasync` fails, Linux may already have dropped the pages it could not write, so
//! nothing written since can be trusted to reach the disk: the log stops accepting writes
//! (each fails with an error the sender sees; reads go on) until the server is restarted,
//! which applies whatever the log holds intact.

use super::sqlite_entries::Entry;
use super::sqlite_index::{IndexJob, LogCounts, Progress};
use super::{Durable, StoreError};
use std::fs::File;
use std::path::PathBuf;
use std::sync::atomic::Ordering;
use std::sync::{mpsc, Arc};
use std::time::Instant;
use tokio::sync::watch;

/// A written record, to be made durable.
pub(super) struct SyncJob {
    pub(super) number: u64,
    pub(super) entries: Vec<Entry>,
    pub(super) file: Arc<File>,
    pub(super) closed_segment: Option<PathBuf>,
}

/// How far the log is durable.
#[derive(Debug, Clone, Copy, Default)]
pub(super) struct Synced {
    /// Every record up to this one is on disk.
    pub(super) up_to: u64,
    /// The first record whose `fdatasync` failed: it and everything after it never will be.
    pub(super) failed_from: Option<u64>,
}

pub(super) fn error() -> StoreError {
    StoreError::Other("the message log cannot be written to disk".into())
}

/// Resolves once record `number` and every record before it are durable (at once for 0).
pub(super) fn durable_after(mut synced: watch::Receiver<Synced>, number: u64) -> Durable {
    if synced.borrow().up_to >= number {
        return Durable::now();
    }
    Durable::later(async move {
        let reached = synced
            .wait_for(|s| s.up_to >= number || s.failed_from.is_some_and(|f| f <= number))
            .await
            .map(|s| s.up_to >= number);
        match reached {
            Ok(true) => Ok(()),
            Ok(false) => Err(error()),
            Err(_) => Err(StoreError::Other(
                "the SQLite writer stopped before the batch was durable".into(),
            )),
        }
    })
}

pub(super) struct SyncThread {
    pub(super) index: mpsc::Sender<IndexJob>,
    pub(super) progress: Arc<Progress>,
    pub(super) synced: watch::Sender<Synced>,
}

impl SyncThread {
    pub(super) fn spawn(self, jobs: mpsc::Receiver<SyncJob>) -> std::io::Result<()> {
        std::thread::Builder::new()
            .name("sqlite-sync".into())
            .spawn(move || self.run(jobs))
            .map(drop)
    }

    fn run(self, jobs: mpsc::Receiver<SyncJob>) {
        while let Ok(first) = jobs.recv() {
            let mut group = vec![first];
            group.extend(jobs.try_iter());
            if self.synced.borrow().failed_from.is_some() {
                // Past a failure nothing is made durable (see the module comment).
                continue;
            }
            let started = Instant::now();
            let mut synced: Option<&Arc<File>> = None;
            let mut result = Ok(());
            for job in &group {
                // A group spans two segments at most; each is synced once, oldest first.
                if synced.is_some_and(|file| Arc::ptr_eq(file, &job.file)) {
                    continue;
                }
                result = job.file.sync_data();
                if result.is_err() {
                    break;
                }
                synced = Some(&job.file);
            }
            let counts = &self.progress.counts;
            LogCounts::add_time(&counts.sync_micros, started);
            counts.syncs.fetch_add(1, Ordering::Relaxed);
            let (first, last) = (group[0].number, group[group.len() - 1].number);
            if let Err(e) = result {
                tracing::error!(error = %e, record = first, "fdatasync of the message log failed; no more writes until a restart");
                self.synced.send_modify(|s| s.failed_from = Some(first));
                continue;
            }
            for job in group {
                self.progress.logged(job.number, job.entries.len());
                let logged = IndexJob::Logged {
                    number: job.number,
                    entries: job.entries,
                    closed_segment: job.closed_segment,
                };
                if self.index.send(logged).is_err() {
                    tracing::error!("the indexer has stopped; records stay in the log");
                }
            }
            self.synced.send_modify(|s| s.up_to = last);
        }
        tracing::debug!("log sync stopped");
    }
}
