//! The log thread: decides each batch of the writer and appends it to the message log.
//!
//! A batch's direct-message writes are decided in memory ([`super::sqlite_dm_writes`]: seqs,
//! resends, watermarks) and written as one record ([`super::sqlite_log`]); the batch is
//! answered at once and its [`Durable`] resolves once the sync thread
//! ([`super::sqlite_sync`]) has `fdatasync`ed that record, so the next batch is decided while
//! the previous one syncs. Batches with support writes go to the indexer, which commits them
//! in order with every record before them.

use super::sqlite_dm_writes::DmState;
use super::sqlite_entries;
use super::sqlite_index::{IndexJob, Progress};
use super::sqlite_log::LogWriter;
use super::sqlite_sync::{self, SyncJob, Synced};
use super::sqlite_writes::log_error;
use super::{Durable, StoreError, StoreResult, WriteOp, WriteOutcome};
use rusqlite::Connection;
use std::sync::atomic::Ordering;
use std::sync::{mpsc, Arc};
use tokio::sync::{oneshot, watch};

/// A batch for the log thread, and where its answer goes.
pub(super) struct Job {
    pub(super) ops: Arc<[WriteOp]>,
    pub(super) reply: oneshot::Sender<StoreResult<(Vec<WriteOutcome>, Durable)>>,
}

/// The thread that decides and logs batches.
pub(super) struct LogThread {
    /// Reads what the writer does not remember (conversations, originals of resends).
    pub(super) reads: Connection,
    pub(super) state: DmState,
    pub(super) log: LogWriter,
    /// The next record's number.
    pub(super) next: u64,
    pub(super) sync: mpsc::Sender<SyncJob>,
    pub(super) synced: watch::Receiver<Synced>,
    pub(super) index: mpsc::Sender<IndexJob>,
    pub(super) progress: Arc<Progress>,
}

impl LogThread {
    pub(super) fn run(mut self, jobs: mpsc::Receiver<Job>) {
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
        self.state
            .forget_indexed(self.progress.indexed(), ops.len());
        let mut batch = self.state.batch(&self.reads, ops.len());
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
        let written = self
            .log
            .write(number, |buffer| {
                sqlite_entries::encode_into(&entries, buffer)
            })
            .map_err(log_error)?;
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

#[cfg(test)]
mod tests {
    use super::*;

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
}
