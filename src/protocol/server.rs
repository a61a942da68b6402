//! Frames the server sends to clients.
//!
//! Each variant with fields holds a struct of its own (`ServerFrame::Hello(Hello)`): serialized
//! as an internally tagged enum that is the same flat object (`{"type":"hello","user":…}`), and it
//! lets [`ServerFrame::from_json`] decode a frame as "read `type`, then read that struct from the
//! same text". A derived `Deserialize` for an internally tagged enum buffers every frame into
//! serde's generic `Content` tree first and instantiates every field's decoder for it; that was
//! the largest item of the WASM bundle.

use super::error::ErrorCode;
use super::json_out::JsonObject;
use super::records::{ConversationSummary, Message, QueueEntry, ReceiptKind};
use serde::de::{DeserializeOwned, Error as _};
use serde::{Deserialize, Serialize};

/// Every server → client frame.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ServerFrame {
    /// First frame on every socket.
    Hello(Hello),
    Message(Message),
    /// The message with this `client_msg_id` is durably stored.
    Accepted(Accepted),
    /// `peer` has received (or read) this user's messages up to `up_to_seq`.
    Receipt(Receipt),
    Presence(Presence),
    Typing(Typing),
    /// End of a `sync`: everything up to `last_seq` has been sent.
    Synced(Synced),
    /// A page of history, oldest first.
    HistoryPage(HistoryPage),
    Pong,
    /// Extension (clustered servers): frames for this socket may have been lost (the bus between
    /// nodes was interrupted). The client syncs every conversation it holds from its newest
    /// contiguous seq, as after a reconnect; nothing else changes.
    Resync,
    Error(ErrorFrame),
    /// Agent console: the live support queue.
    Queue(Queue),
    /// Support: the conversation's state changed (customer side: agent joined / waiting).
    Status(Status),
}

/// `hello`: the first frame on every socket.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Hello {
    pub user: String,
    pub conversations: Vec<ConversationSummary>,
    /// The account's role (extension).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub role: Option<String>,
}

/// `accepted`: the message with this `client_msg_id` is durably stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Accepted {
    pub client_msg_id: String,
    pub id: String,
    pub seq: u64,
    /// false: the peer is offline; it is delivered when they connect.
    pub delivered: bool,
    /// The other party (extension; lets a client with several chats match the ack).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub peer: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub conversation_id: Option<String>,
    /// Server time of the message (extension).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sent_at: Option<String>,
}

/// `receipt`: `peer` has received (or read) this user's messages up to `up_to_seq`. For support
/// the receipt names the conversation (`conversation_id`, and `peer` holds the same id).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Receipt {
    pub peer: String,
    pub kind: ReceiptKind,
    pub up_to_seq: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub conversation_id: Option<String>,
}

/// `presence`: a peer came online or went offline.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Presence {
    pub user: String,
    pub online: bool,
}

/// `typing`: `from` is typing (in a support conversation, when `conversation_id` is set).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Typing {
    pub from: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub conversation_id: Option<String>,
}

/// `synced`: end of a `sync`; everything up to `last_seq` has been sent.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Synced {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub peer: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub conversation_id: Option<String>,
    pub last_seq: u64,
}

/// `history_page`: a page of history, oldest first.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HistoryPage {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub peer: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub conversation_id: Option<String>,
    pub messages: Vec<Message>,
    pub has_more: bool,
}

/// `error`: something the client sent was refused, or failed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorFrame {
    pub code: ErrorCode,
    pub message: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_msg_id: Option<String>,
}

/// `queue`: the agent console's live support queue.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Queue {
    pub conversations: Vec<QueueEntry>,
}

/// `status`: a support conversation's state changed (customer side: agent joined / waiting).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Status {
    pub conversation_id: String,
    pub status: String,
    pub assignee: Option<String>,
}

/// A direct message's fields, borrowed: what the `message` frames of both parties are written
/// from. The two frames differ only in `peer`, so the rest is serialized once
/// ([`DirectMessage::frames`]); a server sends both for every message.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct DirectMessage<'a> {
    pub id: &'a str,
    pub from: &'a str,
    pub to: &'a str,
    pub seq: u64,
    pub body: &'a str,
    pub sent_at: &'a str,
    pub client_msg_id: &'a str,
}

impl DirectMessage<'_> {
    /// The `message` frame's JSON text for the sender's sockets (`peer` = `to`) and for the
    /// recipient's (`peer` = `from`): the same frames [`ServerFrame::to_json`] writes for the
    /// [`Message`] each side sees, with `peer` moved up after `type`.
    pub fn frames(&self) -> (String, String) {
        let fields = [
            self.id,
            self.from,
            self.to,
            self.body,
            self.sent_at,
            self.client_msg_id,
        ];
        let capacity = 128 + fields.iter().map(|f| f.len()).sum::<usize>();
        let mut for_sender = JsonObject::tagged("message", capacity);
        for_sender.str("peer", self.to);
        let rest_at = for_sender.len();
        for_sender
            .str("id", self.id)
            .str("from", self.from)
            .str("to", self.to)
            .u64("seq", self.seq)
            .str("body", self.body)
            .str("sent_at", self.sent_at)
            .str("client_msg_id", self.client_msg_id);
        let for_sender = for_sender.finish();
        let mut for_recipient = JsonObject::tagged("message", for_sender.len() + self.from.len());
        for_recipient.str("peer", self.from);
        // The fields after `peer` are the same in both: `,"id":…}` without its comma.
        let for_recipient = for_recipient.rest_of(&for_sender[rest_at + 1..]);
        (for_sender, for_recipient)
    }
}

impl Accepted {
    /// The frame's JSON text, as the derived `Serialize` writes it (`json_out`: one per sent
    /// message).
    fn to_json(&self) -> String {
        let mut frame = JsonObject::tagged("accepted", 160 + self.client_msg_id.len());
        frame
            .str("client_msg_id", &self.client_msg_id)
            .str("id", &self.id)
            .u64("seq", self.seq)
            .bool("delivered", self.delivered)
            .opt_str("peer", self.peer.as_deref())
            .opt_str("conversation_id", self.conversation_id.as_deref())
            .opt_str("sent_at", self.sent_at.as_deref());
        frame.finish()
    }
}

/// Just the `type` field of a frame (every other field is skipped).
#[derive(Deserialize)]
struct Tag {
    #[serde(rename = "type")]
    kind: String,
}

impl ServerFrame {
    /// An `error` frame.
    pub fn error(
        code: ErrorCode,
        message: impl Into<String>,
        client_msg_id: Option<String>,
    ) -> Self {
        ServerFrame::Error(ErrorFrame {
            code,
            message: message.into(),
            client_msg_id,
        })
    }

    /// The JSON text of this frame. Serializing these types cannot fail (no maps with non-string
    /// keys, no custom serializers), so this never panics in practice.
    pub fn to_json(&self) -> String {
        if let ServerFrame::Accepted(accepted) = self {
            return accepted.to_json();
        }
        serde_json::to_string(self).unwrap_or_else(|_| {
            r#"{"type":"error","code":"internal","message":"could not encode frame"}"#.to_owned()
        })
    }

    /// Reads a frame from its JSON text: the `type` first, then that variant's struct from the
    /// same text (which skips the `type` field like any other unknown field). The text is parsed
    /// twice, which costs a client nothing noticeable and keeps the decoder small (see the module
    /// comment). Accepts exactly what [`ServerFrame::to_json`] writes, in any field order.
    pub fn from_json(text: &str) -> Result<Self, serde_json::Error> {
        fn body<T: DeserializeOwned>(text: &str) -> Result<T, serde_json::Error> {
            serde_json::from_str(text)
        }
        let Tag { kind } = body(text)?;
        Ok(match kind.as_str() {
            "hello" => ServerFrame::Hello(body(text)?),
            "message" => ServerFrame::Message(body(text)?),
            "accepted" => ServerFrame::Accepted(body(text)?),
            "receipt" => ServerFrame::Receipt(body(text)?),
            "presence" => ServerFrame::Presence(body(text)?),
            "typing" => ServerFrame::Typing(body(text)?),
            "synced" => ServerFrame::Synced(body(text)?),
            "history_page" => ServerFrame::HistoryPage(body(text)?),
            "pong" => ServerFrame::Pong,
            "resync" => ServerFrame::Resync,
            "error" => ServerFrame::Error(body(text)?),
            "queue" => ServerFrame::Queue(body(text)?),
            "status" => ServerFrame::Status(body(text)?),
            _ => return Err(serde_json::Error::custom("unknown frame type")),
        })
    }
}

#[cfg(test)]
#[path = "server_tests.rs"]
mod tests;
