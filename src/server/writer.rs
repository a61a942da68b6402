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
use std::sync::Arc;
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
        let task = WriterTask {
            store,
            hub,
            max_batch: max_batch.max(1),
            max_chats_per_agent,
            carry: Vec::new(),
        };
        (Self { tx }, tokio::spawn(task.run(rx)))
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

struct WriterTask {
    store: Arc<dyn Store>,
    hub: Arc<Hub>,
    max_batch: usize,
    max_chats_per_agent: usize,
    /// Watermark writes produced by fan-out, committed with the next batch.
    carry: Vec<WriteOp>,
}

impl WriterTask {
    async fn run(mut self, mut rx: mpsc::Receiver<Job>) {
        let mut stop: Option<oneshot::Sender<()>> = None;
        loop {
            let mut batch: Vec<(WriteOp, Reply)> =
                self.carry.drain(..).map(|op| (op, None)).collect();
            if batch.is_empty() && stop.is_none() {
                match rx.recv().await {
                    Some(job) => Self::take(job, &mut batch, &mut stop),
                    None => break,
                }
            }
            while batch.len() < self.max_batch && stop.is_none() {
                match rx.try_recv() {
                    Ok(job) => Self::take(job, &mut batch, &mut stop),
                    Err(_) => break,
                }
            }
            if !batch.is_empty() {
                self.commit(batch).await;
            }
            if self.carry.is_empty() {
                if let Some(done) = stop.take() {
                    let _ = done.send(());
                    break;
                }
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
        let ops: Vec<WriteOp> = batch.iter().map(|(op, _)| op.clone()).collect();
        match self.store.apply_batch(&ops).await {
            Ok(outcomes) => {
                for ((op, reply), outcome) in batch.into_iter().zip(outcomes) {
                    let written = self.after_commit(&op, outcome).await;
                    if let Some(reply) = reply {
                        let _ = reply.send(Ok(written));
                    }
                }
            }
            Err(batch_error) if batch.len() > 1 => {
                // One bad write must not sink the others: retry each alone.
                tracing::warn!(error = %batch_error, size = batch.len(), "batch failed, retrying one by one");
                for (op, reply) in batch {
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
                for (_, reply) in batch {
                    if let Some(reply) = reply {
                        let _ = reply.send(Err(WriteError::Store(e.clone())));
                    }
                }
            }
        }
        self.coalesce_carry();
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
                    self.carry.push(WriteOp::MarkDelivered {
                        reader: message.recipient.clone(),
                        peer: message.sender.clone(),
                        up_to_seq: message.seq,
                    });
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

    /// Many live deliveries in one conversation need only the highest watermark.
    fn coalesce_carry(&mut self) {
        if self.carry.len() < 2 {
            return;
        }
        let mut highest: HashMap<(String, String), u64> = HashMap::new();
        let mut others = Vec::new();
        for op in self.carry.drain(..) {
            match op {
                WriteOp::MarkDelivered {
                    reader,
                    peer,
                    up_to_seq,
                } => {
                    let seq = highest.entry((reader, peer)).or_default();
                    *seq = (*seq).max(up_to_seq);
                }
                other => others.push(other),
            }
        }
        self.carry = others;
        self.carry
            .extend(highest.into_iter().map(|((reader, peer), up_to_seq)| {
                WriteOp::MarkDelivered {
                    reader,
                    peer,
                    up_to_seq,
                }
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
