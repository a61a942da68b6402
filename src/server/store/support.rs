//! Storage for customer support: conversations keyed by a random id, each with its customer's
//! secret (hashed), status, assignee and messages.

use super::{NewSupportMessage, StoreResult, WriteOutcome};
use crate::protocol::{FromRole, Message, QueueEntry};
use async_trait::async_trait;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SupportStatus {
    /// Waiting for an agent.
    Open,
    Assigned,
    Resolved,
}

impl SupportStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            SupportStatus::Open => "open",
            SupportStatus::Assigned => "assigned",
            SupportStatus::Resolved => "resolved",
        }
    }

    pub fn parse(raw: &str) -> Self {
        match raw {
            "assigned" => SupportStatus::Assigned,
            "resolved" => SupportStatus::Resolved,
            _ => SupportStatus::Open,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SupportMessage {
    pub id: String,
    pub conversation_id: String,
    pub seq: u64,
    pub from_role: FromRole,
    /// `customer`, or the agent's username.
    pub author: String,
    pub body: String,
    pub client_msg_id: String,
    pub sent_at: String,
}

/// A message's `from_role` column.
pub(super) fn role_of(raw: &str) -> FromRole {
    if raw == "agent" {
        FromRole::Agent
    } else {
        FromRole::Customer
    }
}

/// Who the customer is called in message frames.
pub const CUSTOMER_AUTHOR: &str = "customer";

impl SupportMessage {
    /// The wire form; `customer_name` replaces the fixed author of customer messages.
    pub fn to_wire(&self, customer_name: &str) -> Message {
        Message {
            id: self.id.clone(),
            peer: None,
            conversation_id: Some(self.conversation_id.clone()),
            from: match self.from_role {
                FromRole::Customer => customer_name.to_owned(),
                FromRole::Agent => self.author.clone(),
            },
            to: String::new(),
            seq: self.seq,
            body: self.body.clone(),
            sent_at: self.sent_at.clone(),
            client_msg_id: self.client_msg_id.clone(),
            from_role: Some(self.from_role),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SupportConversation {
    pub id: String,
    pub customer_name: String,
    pub status: SupportStatus,
    pub assignee: Option<String>,
    pub last_seq: u64,
    pub agent_read_seq: u64,
    pub customer_read_seq: u64,
    pub waiting_since: Option<String>,
    pub created_at: String,
    pub updated_at: String,
    pub last_message: Option<SupportMessage>,
    /// Customer messages after the agents' read watermark.
    pub unread: u64,
}

impl SupportConversation {
    pub fn to_queue_entry(&self) -> QueueEntry {
        QueueEntry {
            conversation_id: self.id.clone(),
            customer: self.customer_name.clone(),
            status: self.status.as_str().to_owned(),
            assignee: self.assignee.clone(),
            last_message: self
                .last_message
                .as_ref()
                .map(|m| m.to_wire(&self.customer_name)),
            unread: self.unread,
            last_seq: self.last_seq,
            waiting_since: self.waiting_since.clone(),
        }
    }
}

/// A conversation's status, assignee and waiting time after a new message.
pub(super) struct AfterAppend {
    pub status: SupportStatus,
    pub assignee: Option<String>,
    pub waiting_since: Option<String>,
    /// Status or assignee differ from before.
    pub changed: bool,
}

/// What an append comes to, given what the store found; the same for every store.
// A plan lives on the stack for one support write and is taken apart at once: boxing its
// larger variant would only add an allocation.
#[allow(clippy::large_enum_variant)]
pub(super) enum AppendPlan {
    /// Nothing to write: no such conversation, a resend, or refused.
    Done(WriteOutcome),
    /// Store the message and the conversation's new state.
    Write {
        before: SupportConversation,
        next: AfterAppend,
    },
}

/// Plans an append from the conversation as stored (`before`) and the sender's earlier message
/// with the same `client_msg_id`, if any (`existing`).
pub(super) fn plan_append(
    before: Option<SupportConversation>,
    existing: Option<SupportMessage>,
    message: &NewSupportMessage,
) -> AppendPlan {
    let Some(before) = before else {
        return AppendPlan::Done(WriteOutcome::SupportChanged {
            conversation: None,
            changed: false,
        });
    };
    if let Some(message) = existing {
        return AppendPlan::Done(WriteOutcome::SupportAppended {
            message: Box::new(message),
            duplicate: true,
            conversation: Box::new(before),
            status_changed: false,
        });
    }
    match after_append(&before, message) {
        Ok(next) => AppendPlan::Write { before, next },
        Err(assignee) => AppendPlan::Done(WriteOutcome::SupportRefused { assignee }),
    }
}

/// What a new message does to its conversation, the same for every store: customer messages
/// reopen a resolved conversation (back in the queue); agent messages claim one nobody has and
/// are refused (`Err(holder)`) in one another agent holds, unless `take_over`.
fn after_append(
    before: &SupportConversation,
    message: &NewSupportMessage,
) -> Result<AfterAppend, String> {
    let NewSupportMessage {
        from_role,
        author,
        take_over,
        sent_at,
        ..
    } = message;
    if *from_role == FromRole::Agent && !take_over {
        if let (SupportStatus::Assigned, Some(holder)) = (before.status, &before.assignee) {
            if holder != author {
                return Err(holder.clone());
            }
        }
    }
    let (status, assignee, waiting_since) = match (from_role, before.status) {
        (FromRole::Customer, SupportStatus::Resolved) => {
            (SupportStatus::Open, None, Some(sent_at.clone()))
        }
        (FromRole::Customer, SupportStatus::Open) => (
            SupportStatus::Open,
            before.assignee.clone(),
            before
                .waiting_since
                .clone()
                .or_else(|| Some(sent_at.clone())),
        ),
        (FromRole::Agent, SupportStatus::Open) if before.assignee.is_none() => {
            (SupportStatus::Assigned, Some(author.clone()), None)
        }
        _ => (
            before.status,
            before.assignee.clone(),
            before.waiting_since.clone(),
        ),
    };
    Ok(AfterAppend {
        changed: status != before.status || assignee != before.assignee,
        status,
        assignee,
        waiting_since,
    })
}

/// A change of a support conversation's status or assignee.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SupportChange {
    /// An agent takes the conversation (always works, from any status).
    Claim {
        agent: String,
    },
    /// Automatic assignment: only if the conversation is still open and unassigned.
    Assign {
        agent: String,
    },
    /// Hand over to another agent.
    Transfer {
        to: String,
    },
    Resolve,
}

#[async_trait]
pub trait SupportStore: Send + Sync {
    async fn create_support_conversation(
        &self,
        id: &str,
        secret_hash: &str,
        customer_name: &str,
    ) -> StoreResult<()>;
    async fn rename_customer(&self, id: &str, customer_name: &str) -> StoreResult<()>;
    async fn support_by_secret(
        &self,
        secret_hash: &str,
    ) -> StoreResult<Option<SupportConversation>>;
    async fn support_by_id(&self, id: &str) -> StoreResult<Option<SupportConversation>>;
    /// Every conversation with at least one message that is not resolved, plus the
    /// `resolved_limit` most recently resolved; most recently active first.
    async fn support_queue(&self, resolved_limit: u32) -> StoreResult<Vec<SupportConversation>>;
    /// Whether the agent takes automatic assignments (true unless they said otherwise).
    async fn agent_available(&self, agent: &str) -> StoreResult<bool>;
    async fn set_agent_available(&self, agent: &str, available: bool) -> StoreResult<()>;
    /// Open assigned conversations per agent, for least-busy assignment.
    async fn assigned_counts(&self) -> StoreResult<Vec<(String, u64)>>;
    async fn support_messages_after(
        &self,
        id: &str,
        after_seq: u64,
        limit: u32,
    ) -> StoreResult<Vec<SupportMessage>>;
    async fn support_messages_before(
        &self,
        id: &str,
        before_seq: Option<u64>,
        limit: u32,
    ) -> StoreResult<(Vec<SupportMessage>, bool)>;
}
