//! Frames the server sends to clients, and the records inside them.

use super::error::ErrorCode;
use serde::{Deserialize, Serialize};

/// Who wrote a support message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FromRole {
    Customer,
    Agent,
}

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

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ReceiptKind {
    Delivered,
    Read,
}

/// Every server → client frame.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ServerFrame {
    /// First frame on every socket.
    Hello {
        user: String,
        conversations: Vec<ConversationSummary>,
        /// The account's role (extension).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        role: Option<String>,
    },
    Message(Message),
    /// The message with this `client_msg_id` is durably stored.
    Accepted {
        client_msg_id: String,
        id: String,
        seq: u64,
        /// false: the peer is offline; it is delivered when they connect.
        delivered: bool,
        /// The other party (extension; lets a client with several chats match the ack).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        peer: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        conversation_id: Option<String>,
        /// Server time of the message (extension).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        sent_at: Option<String>,
    },
    /// `peer` has received (or read) this user's messages up to `up_to_seq`. For support the
    /// receipt names the conversation (`conversation_id`, and `peer` holds the same id).
    Receipt {
        peer: String,
        kind: ReceiptKind,
        up_to_seq: u64,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        conversation_id: Option<String>,
    },
    Presence {
        user: String,
        online: bool,
    },
    Typing {
        from: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        conversation_id: Option<String>,
    },
    /// End of a `sync`: everything up to `last_seq` has been sent.
    Synced {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        peer: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        conversation_id: Option<String>,
        last_seq: u64,
    },
    /// A page of history, oldest first.
    HistoryPage {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        peer: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        conversation_id: Option<String>,
        messages: Vec<Message>,
        has_more: bool,
    },
    Pong,
    /// Extension (clustered servers): frames for this socket may have been lost (the bus between
    /// nodes was interrupted). The client syncs every conversation it holds from its newest
    /// contiguous seq, as after a reconnect; nothing else changes.
    Resync,
    Error {
        code: ErrorCode,
        message: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        client_msg_id: Option<String>,
    },
    /// Agent console: the live support queue.
    Queue {
        conversations: Vec<QueueEntry>,
    },
    /// Support: the conversation's state changed (customer side: agent joined / waiting).
    Status {
        conversation_id: String,
        status: String,
        assignee: Option<String>,
    },
}

impl ServerFrame {
    /// An `error` frame.
    pub fn error(
        code: ErrorCode,
        message: impl Into<String>,
        client_msg_id: Option<String>,
    ) -> Self {
        ServerFrame::Error {
            code,
            message: message.into(),
            client_msg_id,
        }
    }

    /// The JSON text of this frame. Serializing these types cannot fail (no maps with non-string
    /// keys, no custom serializers), so this never panics in practice.
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).unwrap_or_else(|_| {
            r#"{"type":"error","code":"internal","message":"could not encode frame"}"#.to_owned()
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample_message() -> Message {
        Message {
            id: "m1".into(),
            peer: Some("bob".into()),
            conversation_id: None,
            from: "alice".into(),
            to: "bob".into(),
            seq: 3,
            body: "<b>hi</b>".into(),
            sent_at: "2026-11-23T10:00:00.000Z".into(),
            client_msg_id: "c1".into(),
            from_role: None,
        }
    }

    #[test]
    fn message_frame_is_flat_with_type_field() {
        let v: serde_json::Value =
            serde_json::from_str(&ServerFrame::Message(sample_message()).to_json()).unwrap();
        assert_eq!(v["type"], "message");
        assert_eq!(v["seq"], 3);
        assert_eq!(v["peer"], "bob");
        assert_eq!(v["body"], "<b>hi</b>");
        assert!(v.get("from_role").is_none());
    }

    #[test]
    fn every_server_frame_round_trips() {
        let frames = vec![
            ServerFrame::Hello {
                user: "alice".into(),
                conversations: vec![ConversationSummary {
                    peer: "bob".into(),
                    last_seq: 4,
                    unread: 1,
                    online: true,
                    last_message: Some(sample_message()),
                    peer_delivered_seq: 3,
                    peer_read_seq: 2,
                }],
                role: Some("user".into()),
            },
            ServerFrame::Message(sample_message()),
            ServerFrame::Accepted {
                client_msg_id: "c1".into(),
                id: "m1".into(),
                seq: 3,
                delivered: false,
                peer: Some("bob".into()),
                conversation_id: None,
                sent_at: None,
            },
            ServerFrame::Receipt {
                peer: "bob".into(),
                kind: ReceiptKind::Read,
                up_to_seq: 3,
                conversation_id: None,
            },
            ServerFrame::Presence {
                user: "bob".into(),
                online: false,
            },
            ServerFrame::Typing {
                from: "bob".into(),
                conversation_id: None,
            },
            ServerFrame::Synced {
                peer: Some("bob".into()),
                conversation_id: None,
                last_seq: 9,
            },
            ServerFrame::HistoryPage {
                peer: Some("bob".into()),
                conversation_id: None,
                messages: vec![sample_message()],
                has_more: true,
            },
            ServerFrame::Pong,
            ServerFrame::Resync,
            ServerFrame::error(ErrorCode::SelfMessage, "no", Some("c1".into())),
            ServerFrame::Queue {
                conversations: vec![],
            },
            ServerFrame::Status {
                conversation_id: "x".into(),
                status: "open".into(),
                assignee: None,
            },
        ];
        for frame in frames {
            let text = frame.to_json();
            let back: ServerFrame = serde_json::from_str(&text).unwrap();
            assert_eq!(back, frame, "{text}");
        }
    }

    #[test]
    fn receipt_kind_uses_contract_names() {
        let v: serde_json::Value = serde_json::from_str(
            &ServerFrame::Receipt {
                peer: "b".into(),
                kind: ReceiptKind::Delivered,
                up_to_seq: 1,
                conversation_id: None,
            }
            .to_json(),
        )
        .unwrap();
        assert_eq!(v["kind"], "delivered");
        assert_eq!(v["type"], "receipt");
    }
}
