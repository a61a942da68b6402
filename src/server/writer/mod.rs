//! The single writer task: group commit, then fan-out.
//!
//! Every ordered write (messages, delivery and read watermarks) is sent here. The task takes all
//! writes waiting at that moment (up to a batch limit), applies them in one transaction — one
//! fsync for the whole batch — and only then pushes the resulting frames to the hub, in commit
//! order. So a message is durable before anyone hears of it, and every socket receives the
//! messages of a conversation in seq order.
//!
//! The two stages overlap: while the store applies batch N+1 (statements and fsync, on a
//! blocking thread), the task fans out batch N. Fan-out stays in commit order, and a batch
//! whose fan-out may add writes of its own (support assignments) is fanned out first.
//!
//! Layout: this file holds the handle and the batching loop; `fan_out.rs` what happens to a
//! batch after its commit.

mod fan_out;

use crate::server::hub::Hub;
use crate::server::store::{
    Durable, Store, StoreError, StoredMessage, SupportConversation, SupportMessage, WriteOp,
    WriteOutcome,
};
use std::collections::HashMap;
use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;

/// A write's result as the submitting socket sees it.
#[derive(Debug, Clone)]
pub enum Written {
    Message {
        message: Arc<StoredMessage>,
        /// The recipient has it (live now, or earlier for a duplicate).
        delivered: bool,
        duplicate: bool,
    },
    Marked,
    /// A support message (or the original, for a duplicate) and its conversation after it.
    /// Boxed, like `Changed`'s conversation: every write's answer is a `Written`, sent through
    /// a oneshot allocated per `send`, and these inline made it 512 bytes.
    Support {
        message: Box<SupportMessage>,
        conversation: Box<SupportConversation>,
        delivered: bool,
        duplicate: bool,
    },
    /// A support message refused: another agent holds the conversation.
    Refused {
        assignee: String,
    },
    /// A support status change; `None`: no such conversation.
    Changed {
        conversation: Option<Box<SupportConversation>>,
        changed: bool,
    },
}

#[derive(Debug, thiserror::Error)]
pub enum WriteError {
    #[error("the writer has stopped")]
    Stopped,
    #[error("the store refused the write")]
    Store(#[source] Arc<StoreError>),
}

enum Job {
    Write {
        op: WriteOp,
        reply: Option<oneshot::Sender<Result<Written, WriteError>>>,
    },
    /// A delivered watermark, coalesced with the others before it is committed.
    Delivered {
        reader: String,
        peer: String,
        up_to_seq: u64,
    },
    Stop(oneshot::Sender<()>),
}

/// A batch the store has applied (or refused), waiting to be fanned out once durable.
struct Applied {
    ops: Arc<[WriteOp]>,
    replies: Vec<Reply>,
    result: Result<Vec<WriteOutcome>, StoreError>,
    durable: Durable,
    /// When the store was handed the batch (its commit time ends once it is durable).
    started: Instant,
}

impl Applied {
    /// Whether the next batch may be applied before this one is fanned out. Not when the
    /// fan-out may decide writes the next batch must carry (support assignments, counted
    /// against what is committed), nor when the batch failed: its writes are then retried
    /// one by one, and they must commit before anything submitted after them.
    fn can_overlap(&self) -> bool {
        self.result.is_ok() && !self.ops.iter().any(WriteOp::is_support)
    }
}

/// Handle to the writer task; cheap to clone.
#[derive(Clone)]
pub struct Writer {
    tx: mpsc::Sender<Job>,
    counts: Arc<WriterCounts>,
}

/// What the writer has done, for `/metrics`: batch sizes and where its time goes.
#[derive(Debug, Default)]
pub struct WriterCounts {
    pub batches: AtomicU64,
    pub ops: AtomicU64,
    /// Time in the store, from handing it a batch until the batch is durable (batches may
    /// overlap: the store decides one while the previous one is made durable).
    pub commit_micros: AtomicU64,
    /// Batches by how long the store took, one count per [`COMMIT_BUCKETS_MS`] bound and one
    /// for slower: the slow tail (a checkpoint or a contended fsync inside a commit) delays
    /// every message of its batch, and totals alone hide it.
    pub commit_buckets: [AtomicU64; COMMIT_BUCKETS_MS.len() + 1],
    /// Time handing committed writes to sockets and the bus.
    pub fan_out_micros: AtomicU64,
}

/// Upper bounds (ms) of the commit-time buckets in `/metrics`.
pub const COMMIT_BUCKETS_MS: [u64; 6] = [1, 2, 5, 10, 20, 50];

impl WriterCounts {
    fn add(counter: &AtomicU64, since: Instant) -> u64 {
        let micros = since.elapsed().as_micros() as u64;
        counter.fetch_add(micros, Ordering::Relaxed);
        micros
    }

    fn add_commit(&self, since: Instant) {
        let micros = Self::add(&self.commit_micros, since);
        let bucket = COMMIT_BUCKETS_MS
            .iter()
            .position(|&bound| micros <= bound * 1000)
            .unwrap_or(COMMIT_BUCKETS_MS.len());
        self.commit_buckets[bucket].fetch_add(1, Ordering::Relaxed);
    }
}

impl Writer {
    pub fn spawn(
        store: Arc<dyn Store>,
        hub: Arc<Hub>,
        max_batch: usize,
        max_chats_per_agent: usize,
    ) -> (Self, JoinHandle<()>) {
        // Bounded: when the disk falls behind, submitters wait instead of memory growing.
        let (tx, rx) = mpsc::channel(max_batch.max(1) * 8);
        let counts = Arc::new(WriterCounts::default());
        let task = WriterTask {
            store,
            hub,
            max_batch: max_batch.max(1),
            max_chats_per_agent,
            carry: Vec::new(),
            marks: HashMap::new(),
            counts: counts.clone(),
        };
        (Self { tx, counts }, tokio::spawn(task.run(rx)))
    }

    pub fn counts(&self) -> &WriterCounts {
        &self.counts
    }

    /// Submits a write and waits until it is committed (and fanned out).
    pub async fn submit(&self, op: WriteOp) -> Result<Written, WriteError> {
        self.enqueue(op)
            .await?
            .await
            .map_err(|_| WriteError::Stopped)?
    }

    /// Hands a write to the writer (waiting only while its queue is full) and returns where
    /// its result will arrive once it is committed and fanned out. A socket keeps serving
    /// frames meanwhile, and answers in the order it submitted: the writer answers one
    /// submitter's writes in that order.
    pub async fn enqueue(&self, op: WriteOp) -> Result<Answer, WriteError> {
        let (reply, answer) = oneshot::channel();
        self.tx
            .send(Job::Write {
                op,
                reply: Some(reply),
            })
            .await
            .map_err(|_| WriteError::Stopped)?;
        Ok(answer)
    }

    /// Submits a write nobody waits for (watermarks); it is still committed before its effects.
    pub async fn submit_detached(&self, op: WriteOp) {
        let _ = self.tx.send(Job::Write { op, reply: None }).await;
    }

    /// "`reader` has `peer`'s messages up to `up_to_seq`", committed within [`MARKS_WAIT`]
    /// together with the other watermarks of that moment (one write per conversation).
    pub async fn mark_delivered_later(&self, reader: String, peer: String, up_to_seq: u64) {
        let job = Job::Delivered {
            reader,
            peer,
            up_to_seq,
        };
        let _ = self.tx.send(job).await;
    }

    /// Commits everything submitted so far, then stops the task.
    pub async fn stop(&self) {
        let (done, wait) = oneshot::channel();
        if self.tx.send(Job::Stop(done)).await.is_ok() {
            let _ = wait.await;
        }
    }
}

type Reply = Option<oneshot::Sender<Result<Written, WriteError>>>;

/// Where a submitted write's result arrives ([`Writer::enqueue`]); closed if the writer stops.
pub type Answer = oneshot::Receiver<Result<Written, WriteError>>;

/// How long the delivered watermarks of live deliveries wait, coalesced per conversation,
/// before they are committed. The recipient already has the messages and the sender was told
/// in `accepted`; committing a watermark per message doubled the writer's work. Lost in a
/// crash, they only make the recipient's next connection hand over those messages again,
/// which clients drop by seq.
const MARKS_WAIT: Duration = Duration::from_millis(50);

struct WriterTask {
    store: Arc<dyn Store>,
    hub: Arc<Hub>,
    max_batch: usize,
    max_chats_per_agent: usize,
    /// Writes that fan-out decided on (automatic assignment), committed with the next batch.
    carry: Vec<WriteOp>,
    /// Delivered watermarks of live deliveries, reader → peer → seq, committed within
    /// [`MARKS_WAIT`]; many deliveries in one conversation need only the highest (and, keyed
    /// by name after name, a delivery to a pair already waiting copies no names).
    marks: HashMap<String, HashMap<String, u64>>,
    counts: Arc<WriterCounts>,
}

impl WriterTask {
    async fn run(mut self, mut rx: mpsc::Receiver<Job>) {
        let mut stop: Option<oneshot::Sender<()>> = None;
        let mut closed = false;
        // When the deferred watermarks must be committed at the latest.
        let mut marks_due: Option<Instant> = None;
        // The last batch applied, not yet fanned out: it is fanned out while the next one is
        // applied, so the hub's work and the store's (statements, fsync) overlap.
        let mut pending: Option<Applied> = None;
        loop {
            if let Some(applied) = pending.take_if(|applied| !applied.can_overlap()) {
                self.fan_out(applied).await;
            }
            let stopping = stop.is_some() || closed;
            let mut batch: Vec<(WriteOp, Reply)> =
                self.carry.drain(..).map(|op| (op, None)).collect();
            if stopping || marks_due.is_some_and(|due| Instant::now() >= due) {
                self.take_marks(&mut batch);
                marks_due = None;
            }
            // Whatever is already waiting goes into this batch, applied beside the pending
            // batch's fan-out.
            self.fill(&mut batch, &mut rx, &mut stop, closed);
            if batch.is_empty() && stop.is_none() && !closed {
                if let Some(applied) = pending.take() {
                    // Nothing is waiting to be applied beside it: answer now.
                    self.fan_out(applied).await;
                    continue;
                }
                let due = marks_due.filter(|_| !self.marks.is_empty());
                tokio::select! {
                    job = rx.recv() => match job {
                        Some(job) => self.take(job, &mut batch, &mut stop),
                        None => closed = true,
                    },
                    _ = tokio::time::sleep_until(due.unwrap_or_else(Instant::now).into()),
                        if due.is_some() => {
                        self.take_marks(&mut batch);
                        marks_due = None;
                    }
                }
                self.fill(&mut batch, &mut rx, &mut stop, closed);
            }
            if !batch.is_empty() {
                let applying = self.apply(batch);
                pending = Some(match pending.take() {
                    Some(previous) => tokio::join!(applying, self.fan_out(previous)).0,
                    None => applying.await,
                });
            }
            if self.marks.is_empty() {
                marks_due = None;
            } else if marks_due.is_none() {
                marks_due = Some(Instant::now() + MARKS_WAIT);
            }
            if (stop.is_some() || closed) && self.carry.is_empty() && self.marks.is_empty() {
                if let Some(applied) = pending.take() {
                    // Its fan-out may leave watermarks or assignments to commit: go round again.
                    self.fan_out(applied).await;
                    continue;
                }
                if let Some(done) = stop.take() {
                    let _ = done.send(());
                }
                break;
            }
        }
        tracing::debug!("writer stopped");
    }

    /// Adds the jobs already queued, up to the batch limit; none after a stop.
    fn fill(
        &mut self,
        batch: &mut Vec<(WriteOp, Reply)>,
        rx: &mut mpsc::Receiver<Job>,
        stop: &mut Option<oneshot::Sender<()>>,
        closed: bool,
    ) {
        while batch.len() < self.max_batch && stop.is_none() && !closed {
            match rx.try_recv() {
                Ok(job) => self.take(job, batch, stop),
                Err(_) => break,
            }
        }
    }

    fn take(
        &mut self,
        job: Job,
        batch: &mut Vec<(WriteOp, Reply)>,
        stop: &mut Option<oneshot::Sender<()>>,
    ) {
        match job {
            Job::Write { op, reply } => batch.push((op, reply)),
            Job::Delivered {
                reader,
                peer,
                up_to_seq,
            } => self.mark_later(&reader, &peer, up_to_seq),
            Job::Stop(done) => *stop = Some(done),
        }
    }

    /// Applies a batch in the store; the future does not hold the task, so the previous
    /// batch can be fanned out while it runs.
    fn apply(&self, batch: Vec<(WriteOp, Reply)>) -> impl Future<Output = Applied> + 'static {
        let store = self.store.clone();
        let counts = self.counts.clone();
        async move {
            let (ops, replies): (Vec<WriteOp>, Vec<Reply>) = batch.into_iter().unzip();
            let ops: Arc<[WriteOp]> = ops.into();
            let started = Instant::now();
            let (result, durable) = match store.start_batch(ops.clone()).await {
                Ok((outcomes, durable)) => (Ok(outcomes), durable),
                Err(e) => (Err(e), Durable::now()),
            };
            counts.batches.fetch_add(1, Ordering::Relaxed);
            counts.ops.fetch_add(ops.len() as u64, Ordering::Relaxed);
            Applied {
                ops,
                replies,
                result,
                durable,
                started,
            }
        }
    }

    /// Defers a delivered watermark; see [`MARKS_WAIT`].
    fn mark_later(&mut self, reader: &str, peer: &str, up_to_seq: u64) {
        let peers = match self.marks.get_mut(reader) {
            Some(peers) => peers,
            None => self.marks.entry(reader.to_owned()).or_default(),
        };
        match peers.get_mut(peer) {
            Some(seq) => *seq = (*seq).max(up_to_seq),
            None => {
                peers.insert(peer.to_owned(), up_to_seq);
            }
        }
    }

    /// Commits the deferred watermarks with this batch.
    fn take_marks(&mut self, batch: &mut Vec<(WriteOp, Reply)>) {
        for (reader, peers) in self.marks.drain() {
            batch.extend(peers.into_iter().map(|(peer, up_to_seq)| {
                let reader = reader.clone();
                let op = WriteOp::MarkDelivered {
                    reader,
                    peer,
                    up_to_seq,
                };
                (op, None)
            }));
        }
    }
}
