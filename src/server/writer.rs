//! The single writer task: group commit, then fan-out.
//!
//! Every ordered write (messages, delivery and read watermarks) is sent here. The task takes all
//! writes waiting at that moment (up to a batch limit), applies them in one transaction — one
//! fsync for the whole batch — and only then pushes the resulting frames to the hub, in commit
//! order. So a message is durable before anyone hears of it, and every socket receives the
//! messages of a conversation in seq order.

use crate::protocol::{ReceiptKind, ServerFrame};
use crate::server::cluster::event::Mark;
use crate::server::hub::{Hub, Outbound};
use crate::server::store::{
    Store, StoreError, StoredMessage, SupportConversation, SupportMessage, WriteOp, WriteOutcome,
};
use crate::server::support::fanout;
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;

/// A write's result as the submitting socket sees it.
#[derive(Debug, Clone)]
pub enum Written {
    Message {
        message: StoredMessage,
        /// The recipient has it (live now, or earlier for a duplicate).
        delivered: bool,
        duplicate: bool,
    },
    Marked,
    /// A support message (or the original, for a duplicate) and its conversation after it.
    Support {
        message: SupportMessage,
        conversation: SupportConversation,
        delivered: bool,
        duplicate: bool,
    },
    /// A support message refused: another agent holds the conversation.
    Refused {
        assignee: String,
    },
    /// A support status change; `None`: no such conversation.
    Changed {
        conversation: Option<SupportConversation>,
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
    Stop(oneshot::Sender<()>),
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
    /// Time in the store (statements and the commit's fsync).
    pub commit_micros: AtomicU64,
    /// Time handing committed writes to sockets and the bus.
    pub fan_out_micros: AtomicU64,
}

impl WriterCounts {
    fn add(counter: &AtomicU64, since: Instant) {
        counter.fetch_add(since.elapsed().as_micros() as u64, Ordering::Relaxed);
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
        let (reply, answer) = oneshot::channel();
        self.tx
            .send(Job::Write {
                op,
                reply: Some(reply),
            })
            .await
            .map_err(|_| WriteError::Stopped)?;
        answer.await.map_err(|_| WriteError::Stopped)?
    }

    /// Submits a write nobody waits for (watermarks); it is still committed before its effects.
    pub async fn submit_detached(&self, op: WriteOp) {
        let _ = self.tx.send(Job::Write { op, reply: None }).await;
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
    /// Delivered watermarks of live deliveries, (reader, peer) → seq, committed within
    /// [`MARKS_WAIT`]; many deliveries in one conversation need only the highest.
    marks: HashMap<(String, String), u64>,
    counts: Arc<WriterCounts>,
}

impl WriterTask {
    async fn run(mut self, mut rx: mpsc::Receiver<Job>) {
        let mut stop: Option<oneshot::Sender<()>> = None;
        let mut closed = false;
        // When the deferred watermarks must be committed at the latest.
        let mut marks_due: Option<Instant> = None;
        loop {
            let stopping = stop.is_some() || closed;
            let mut batch: Vec<(WriteOp, Reply)> =
                self.carry.drain(..).map(|op| (op, None)).collect();
            if stopping || marks_due.is_some_and(|due| Instant::now() >= due) {
                self.take_marks(&mut batch);
                marks_due = None;
            }
            if batch.is_empty() && !stopping {
                let due = marks_due.filter(|_| !self.marks.is_empty());
                tokio::select! {
                    job = rx.recv() => match job {
                        Some(job) => Self::take(job, &mut batch, &mut stop),
                        None => closed = true,
                    },
                    _ = tokio::time::sleep_until(due.unwrap_or_else(Instant::now).into()),
                        if due.is_some() => {
                        self.take_marks(&mut batch);
                        marks_due = None;
                    }
                }
            }
            while batch.len() < self.max_batch && stop.is_none() && !closed {
                match rx.try_recv() {
                    Ok(job) => Self::take(job, &mut batch, &mut stop),
                    Err(_) => break,
                }
            }
            if !batch.is_empty() {
                self.commit(batch).await;
            }
            if self.marks.is_empty() {
                marks_due = None;
            } else if marks_due.is_none() {
                marks_due = Some(Instant::now() + MARKS_WAIT);
            }
            if (stop.is_some() || closed) && self.carry.is_empty() && self.marks.is_empty() {
                if let Some(done) = stop.take() {
                    let _ = done.send(());
                }
                break;
            }
        }
        tracing::debug!("writer stopped");
    }

    fn take(job: Job, batch: &mut Vec<(WriteOp, Reply)>, stop: &mut Option<oneshot::Sender<()>>) {
        match job {
            Job::Write { op, reply } => batch.push((op, reply)),
            Job::Stop(done) => *stop = Some(done),
        }
    }

    async fn commit(&mut self, batch: Vec<(WriteOp, Reply)>) {
        let (ops, replies): (Vec<WriteOp>, Vec<Reply>) = batch.into_iter().unzip();
        let started = Instant::now();
        let applied = self.store.apply_batch(&ops).await;
        WriterCounts::add(&self.counts.commit_micros, started);
        self.counts.batches.fetch_add(1, Ordering::Relaxed);
        self.counts
            .ops
            .fetch_add(ops.len() as u64, Ordering::Relaxed);
        match applied {
            Ok(outcomes) => {
                let started = Instant::now();
                for ((op, reply), outcome) in ops.iter().zip(replies).zip(outcomes) {
                    let written = self.after_commit(op, outcome).await;
                    if let Some(reply) = reply {
                        let _ = reply.send(Ok(written));
                    }
                }
                WriterCounts::add(&self.counts.fan_out_micros, started);
            }
            Err(batch_error) if ops.len() > 1 => {
                // One bad write must not sink the others: retry each alone.
                tracing::warn!(error = %batch_error, size = ops.len(), "batch failed, retrying one by one");
                for (op, reply) in ops.into_iter().zip(replies) {
                    let result = match self.store.apply_batch(std::slice::from_ref(&op)).await {
                        Ok(mut outcomes) => match outcomes.pop() {
                            Some(outcome) => Ok(self.after_commit(&op, outcome).await),
                            None => Err(WriteError::Stopped),
                        },
                        Err(e) => {
                            tracing::error!(error = %e, "write failed");
                            Err(WriteError::Store(Arc::new(e)))
                        }
                    };
                    if let Some(reply) = reply {
                        let _ = reply.send(result);
                    }
                }
            }
            Err(e) => {
                tracing::error!(error = %e, "write failed");
                let e = Arc::new(e);
                for reply in replies.into_iter().flatten() {
                    let _ = reply.send(Err(WriteError::Store(e.clone())));
                }
            }
        }
    }

    /// Pushes the committed write's frames to the hub; returns what the submitter learns.
    async fn after_commit(&mut self, op: &WriteOp, outcome: WriteOutcome) -> Written {
        match outcome {
            WriteOutcome::SupportAppended { .. }
            | WriteOutcome::SupportChanged { .. }
            | WriteOutcome::SupportRefused { .. } => {
                let effects = fanout::Effects {
                    hub: &self.hub,
                    store: &*self.store,
                    max_chats_per_agent: self.max_chats_per_agent,
                };
                effects.after_commit(outcome, &mut self.carry).await
            }
            WriteOutcome::Marked { advanced_to } if matches!(op, WriteOp::SupportRead { .. }) => {
                fanout::after_support_read(&self.hub, op, advanced_to);
                Written::Marked
            }
            WriteOutcome::Appended {
                message,
                duplicate: true,
                recipient_delivered_seq,
            } => Written::Message {
                delivered: recipient_delivered_seq >= message.seq,
                message,
                duplicate: true,
            },
            WriteOutcome::Appended { message, .. } => {
                let delivered = self.fan_out_message(&message);
                if delivered {
                    let key = (message.recipient.clone(), message.sender.clone());
                    let seq = self.marks.entry(key).or_default();
                    *seq = (*seq).max(message.seq);
                }
                Written::Message {
                    delivered: delivered || self.delivered_elsewhere(&message),
                    message,
                    duplicate: false,
                }
            }
            WriteOutcome::Marked { advanced_to } => {
                if let (Some(seq), Some((reader, peer, kind))) = (advanced_to, watermark_of(op)) {
                    let receipt = ServerFrame::Receipt {
                        peer: reader.to_owned(),
                        kind,
                        up_to_seq: seq,
                        conversation_id: None,
                    };
                    self.hub
                        .send_to_user(peer, &Outbound::Frame(receipt.to_json().into()));
                }
                Written::Marked
            }
        }
    }

    /// Sends a new message to both parties' sockets; true if the recipient had one.
    fn fan_out_message(&self, message: &StoredMessage) -> bool {
        let for_recipient = Outbound::message(
            Arc::from(message.sender.as_str()),
            message.seq,
            ServerFrame::Message(message.to_wire(&message.recipient))
                .to_json()
                .into(),
        );
        // Another node that hands it over records the delivery itself.
        let mark = Mark {
            reader: message.recipient.clone(),
            peer: message.sender.clone(),
            up_to_seq: message.seq,
        };
        let delivered = self
            .hub
            .send_to_user_marking(&message.recipient, &for_recipient, mark)
            > 0;
        let for_sender = Outbound::message(
            Arc::from(message.recipient.as_str()),
            message.seq,
            ServerFrame::Message(message.to_wire(&message.sender))
                .to_json()
                .into(),
        );
        self.hub.send_to_user(&message.sender, &for_sender);
        delivered
    }

    /// Whether the recipient is connected to another node (which then marks the delivery).
    fn delivered_elsewhere(&self, message: &StoredMessage) -> bool {
        self.hub.reachable_elsewhere(&message.recipient)
    }

    /// Commits the deferred watermarks with this batch.
    fn take_marks(&mut self, batch: &mut Vec<(WriteOp, Reply)>) {
        batch.extend(self.marks.drain().map(|((reader, peer), up_to_seq)| {
            (
                WriteOp::MarkDelivered {
                    reader,
                    peer,
                    up_to_seq,
                },
                None,
            )
        }));
    }
}

/// (reader, peer, kind) of a watermark write.
fn watermark_of(op: &WriteOp) -> Option<(&str, &str, ReceiptKind)> {
    match op {
        WriteOp::MarkDelivered { reader, peer, .. } => Some((reader, peer, ReceiptKind::Delivered)),
        WriteOp::MarkRead { reader, peer, .. } => Some((reader, peer, ReceiptKind::Read)),
        _ => None,
    }
}
