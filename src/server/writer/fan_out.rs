//! The writer's second stage: after a batch is committed, its frames go to the hub (in commit
//! order) and each submitter gets its answer.

use super::{Applied, WriteError, WriterCounts, WriterTask, Written};
use crate::protocol::server::Receipt;
use crate::protocol::{ReceiptKind, ServerFrame};
use crate::server::cluster::event::Mark;
use crate::server::hub::Outbound;
use crate::server::store::{StoredMessage, WriteOp, WriteOutcome};
use crate::server::support::fanout;
use std::sync::Arc;
use std::time::Instant;

impl WriterTask {
    /// Fans out a committed batch, or answers its submitters with the failure.
    pub(super) async fn fan_out(&mut self, applied: Applied) {
        let Applied {
            ops,
            replies,
            result,
            durable,
            started,
        } = applied;
        // A write nobody has heard of may still be lost: wait until it cannot be.
        let result = match (result, durable.wait().await) {
            (Ok(outcomes), Ok(())) => Ok(outcomes),
            (Err(e), _) | (Ok(_), Err(e)) => Err(e),
        };
        self.counts.add_commit(started);
        match result {
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
                for (op, reply) in ops.iter().zip(replies) {
                    let result = match self.store.apply_batch(Arc::from([op.clone()])).await {
                        Ok(mut outcomes) => match outcomes.pop() {
                            Some(outcome) => Ok(self.after_commit(op, outcome).await),
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
                    self.mark_later(&message.recipient, &message.sender, message.seq);
                }
                Written::Message {
                    delivered: delivered || self.delivered_elsewhere(&message),
                    message,
                    duplicate: false,
                }
            }
            WriteOutcome::Marked { advanced_to } => {
                if let (Some(seq), Some((reader, peer, kind))) = (advanced_to, watermark_of(op)) {
                    let receipt = ServerFrame::Receipt(Receipt {
                        peer: reader.to_owned(),
                        kind,
                        up_to_seq: seq,
                        conversation_id: None,
                    });
                    self.hub
                        .send_to_user(peer, &Outbound::frame(receipt.to_json()));
                }
                Written::Marked
            }
        }
    }

    /// Sends a new message to both parties' sockets; true if the recipient had one.
    fn fan_out_message(&self, message: &StoredMessage) -> bool {
        // Each frame's `peer` is the other party, which is also the key its sockets track
        // the seq under.
        let (for_sender, for_recipient) = message.frames();
        let queued =
            |peer: &str, json: String| Outbound::message(Arc::from(peer), message.seq, json.into());
        let for_recipient = queued(&message.sender, for_recipient);
        // Another node that hands it over records the delivery itself.
        let mark = || Mark {
            reader: message.recipient.clone(),
            peer: message.sender.clone(),
            up_to_seq: message.seq,
        };
        let delivered = self
            .hub
            .send_to_user_marking(&message.recipient, &for_recipient, mark)
            > 0;
        let for_sender = queued(&message.recipient, for_sender);
        self.hub.send_to_user(&message.sender, &for_sender);
        delivered
    }

    /// Whether the recipient is connected to another node (which then marks the delivery).
    fn delivered_elsewhere(&self, message: &StoredMessage) -> bool {
        self.hub.reachable_elsewhere(&message.recipient)
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
