//! Effects of committed support writes, run by the writer task in commit order.

use crate::protocol::server::{Queue, Receipt, Status};
use crate::protocol::{FromRole, ReceiptKind, ServerFrame};
use crate::server::hub::{customer_key, Hub, Outbound};
use crate::server::store::{
    Store, SupportChange, SupportConversation, SupportStatus, WriteOp, WriteOutcome,
};
use crate::server::writer::Written;
use std::collections::HashMap;
use std::sync::Arc;

pub struct Effects<'a> {
    pub hub: &'a Hub,
    pub store: &'a dyn Store,
    pub max_chats_per_agent: usize,
}

/// The frame that tells a customer whether an agent is with them.
pub fn status_frame(conversation: &SupportConversation) -> ServerFrame {
    ServerFrame::Status(Status {
        conversation_id: conversation.id.clone(),
        status: conversation.status.as_str().to_owned(),
        assignee: conversation.assignee.clone(),
    })
}

/// A queue frame holding one entry: agents merge it into their queue by conversation id.
pub fn queue_delta(conversation: &SupportConversation) -> Outbound {
    Outbound::frame(
        ServerFrame::Queue(Queue {
            conversations: vec![conversation.to_queue_entry()],
        })
        .to_json(),
    )
}

impl Effects<'_> {
    /// Fans out a support outcome and returns what the submitter learns. Assignments it
    /// decides on are pushed to `carry` and committed with the next batch.
    pub async fn after_commit(&self, outcome: WriteOutcome, carry: &mut Vec<WriteOp>) -> Written {
        match outcome {
            WriteOutcome::SupportAppended {
                message,
                duplicate: true,
                conversation,
                ..
            } => Written::Support {
                // The same answer as the first time: is the other side connected?
                delivered: match message.from_role {
                    FromRole::Customer => self.hub.agents_online() > 0,
                    FromRole::Agent => self.hub.is_online(&customer_key(&conversation.id)),
                },
                message,
                conversation,
                duplicate: true,
            },
            WriteOutcome::SupportRefused { assignee } => Written::Refused { assignee },
            WriteOutcome::SupportAppended {
                message,
                conversation,
                status_changed,
                ..
            } => {
                let customer = customer_key(&conversation.id);
                let item = Outbound::message(
                    Arc::from(customer.as_str()),
                    message.seq,
                    ServerFrame::Message(message.to_wire(&conversation.customer_name))
                        .to_json()
                        .into(),
                );
                let to_customer = self.hub.send_to_user(&customer, &item);
                let to_agents = self.hub.send_to_agents(&item);
                self.hub.send_to_agents(&queue_delta(&conversation));
                if status_changed {
                    self.tell_customer(&conversation);
                }
                if message.from_role == FromRole::Customer
                    && conversation.status == SupportStatus::Open
                    && conversation.assignee.is_none()
                {
                    self.assign(&conversation, carry).await;
                }
                Written::Support {
                    delivered: match message.from_role {
                        FromRole::Customer => {
                            to_agents > 0 || self.hub.agents_reachable_elsewhere()
                        }
                        FromRole::Agent => {
                            to_customer > 0 || self.hub.reachable_elsewhere(&customer)
                        }
                    },
                    message,
                    conversation,
                    duplicate: false,
                }
            }
            WriteOutcome::SupportChanged {
                conversation,
                changed,
            } => {
                if let (Some(c), true) = (&conversation, changed) {
                    self.hub.send_to_agents(&queue_delta(c));
                    self.tell_customer(c);
                }
                Written::Changed {
                    conversation,
                    changed,
                }
            }
            _ => Written::Marked,
        }
    }

    fn tell_customer(&self, conversation: &SupportConversation) {
        let frame = Outbound::frame(status_frame(conversation).to_json());
        self.hub
            .send_to_user(&customer_key(&conversation.id), &frame);
    }

    /// Picks the available agent with the fewest assigned chats under the limit; with none,
    /// the conversation waits in the queue and the customer is told so.
    async fn assign(&self, conversation: &SupportConversation, carry: &mut Vec<WriteOp>) {
        let available = self.hub.available_agents();
        let mut counts: HashMap<String, u64> = if available.is_empty() {
            HashMap::new()
        } else {
            match self.store.assigned_counts().await {
                Ok(rows) => rows.into_iter().collect(),
                Err(e) => {
                    tracing::warn!(error = %e, "cannot count assignments");
                    HashMap::new()
                }
            }
        };
        // Assignments decided earlier in this batch are not committed yet: count them too.
        for op in carry.iter() {
            if let WriteOp::SupportChange {
                change: SupportChange::Assign { agent },
                ..
            } = op
            {
                *counts.entry(agent.clone()).or_default() += 1;
            }
        }
        let chosen = available
            .into_iter()
            .map(|agent| (counts.get(&agent).copied().unwrap_or(0), agent))
            .filter(|(load, _)| (*load as usize) < self.max_chats_per_agent)
            .min();
        match chosen {
            Some((_, agent)) => carry.push(WriteOp::SupportChange {
                conversation_id: conversation.id.clone(),
                change: SupportChange::Assign { agent },
            }),
            None => self.tell_customer(conversation),
        }
    }
}

/// A side read the conversation: the other side gets a read receipt whose `peer` is the
/// conversation id.
pub fn after_support_read(hub: &Hub, op: &WriteOp, advanced_to: Option<u64>) {
    let (
        WriteOp::SupportRead {
            conversation_id,
            by,
            ..
        },
        Some(up_to_seq),
    ) = (op, advanced_to)
    else {
        return;
    };
    let receipt = Outbound::frame(
        ServerFrame::Receipt(Receipt {
            peer: conversation_id.clone(),
            kind: ReceiptKind::Read,
            up_to_seq,
            conversation_id: Some(conversation_id.clone()),
        })
        .to_json(),
    );
    match by {
        FromRole::Agent => {
            hub.send_to_user(&customer_key(conversation_id), &receipt);
        }
        FromRole::Customer => {
            hub.send_to_agents(&receipt);
        }
    }
}
