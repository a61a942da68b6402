//! The records inside server frames: messages, conversation summaries, queue entries.

use super::wire_names::wire_names;
use serde::{Deserialize, Serialize};

/// Who wrote a support message. Read back through [`FromRole::parse`] (serde `try_from`), like
/// [`ErrorCode`](super::ErrorCode); see `protocol/wire_names.rs` for why.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", try_from = "String")]
pub enum FromRole {
    Customer,
    Agent,
}

wire_names!(FromRole, "author role", {
    Customer => "customer",
    Agent => "agent",
});

/// One stored message, as both parties see it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Message {
    /// Server-assigned unique id.
    pub id: String,
    /// The other party, seen from the socket this frame goes to (direct messages).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub peer: Option<String>,
    /// Support conversation this message belongs to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub conversation_id: Option<String>,
    pub from: String,
    /// Recipient (direct messages; empty for support messages until an agent is assigned).
    #[serde(default)]
    pub to: String,
    /// 1, 2, 3 … per conversation, the same for both sides.
    pub seq: u64,
    pub body: String,
    /// RFC 3339 UTC, set by the server.
    pub sent_at: String,
    pub client_msg_id: String,
    /// Support messages only: who wrote it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub from_role: Option<FromRole>,
}

/// A conversation in the `hello` list.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConversationSummary {
    pub peer: String,
    pub last_seq: u64,
    /// Messages from `peer` not yet read by this user.
    pub unread: u64,
    pub online: bool,
    /// The newest message, for the conversation list (extension).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_message: Option<Message>,
    /// Highest seq of this user's messages that the peer has received (extension).
    #[serde(default)]
    pub peer_delivered_seq: u64,
    /// Highest seq of this user's messages that the peer has read (extension).
    #[serde(default)]
    pub peer_read_seq: u64,
}

/// A support conversation in the agent's queue.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct QueueEntry {
    pub conversation_id: String,
    pub customer: String,
    /// `open` (waiting), `assigned` or `resolved`.
    pub status: String,
    pub assignee: Option<String>,
    pub last_message: Option<Message>,
    pub unread: u64,
    #[serde(default)]
    pub last_seq: u64,
    /// When the conversation started waiting for an agent (RFC 3339), if it is waiting.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub waiting_since: Option<String>,
}

/// What a receipt acknowledges. Read back through [`ReceiptKind::parse`], as [`FromRole`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", try_from = "String")]
pub enum ReceiptKind {
    Delivered,
    Read,
}

wire_names!(ReceiptKind, "receipt kind", {
    Delivered => "delivered",
    Read => "read",
});

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wire_enums_use_their_names_both_ways_and_refuse_others() {
        for role in [FromRole::Customer, FromRole::Agent] {
            let json = serde_json::to_string(&role).unwrap();
            assert_eq!(json, format!("\"{}\"", role.as_str()));
            assert_eq!(serde_json::from_str::<FromRole>(&json).unwrap(), role);
        }
        for kind in [ReceiptKind::Delivered, ReceiptKind::Read] {
            let json = serde_json::to_string(&kind).unwrap();
            assert_eq!(json, format!("\"{}\"", kind.as_str()));
            assert_eq!(serde_json::from_str::<ReceiptKind>(&json).unwrap(), kind);
        }
        assert!(serde_json::from_str::<FromRole>(r#""admin""#).is_err());
        assert!(serde_json::from_str::<ReceiptKind>(r#""seen""#).is_err());
        assert!(serde_json::from_str::<ReceiptKind>("1").is_err());
    }
}
