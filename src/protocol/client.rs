//! Frames a client sends to the server.

use super::error::ErrorCode;
use serde::{Deserialize, Serialize};

/// Every client → server frame. Unknown fields are ignored (forward compatibility); an unknown
/// `type` or a wrong shape is reported by [`ClientFrame::parse`] as a [`FrameError`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ClientFrame {
    /// Send a message. Direct messages name `to`; agents name `conversation_id`; customers on
    /// `/ws/support` name neither.
    Send {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        to: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        conversation_id: Option<String>,
        body: String,
        client_msg_id: String,
    },
    /// Resend everything in the conversation with `peer` after `after_seq`, then `synced`.
    Sync {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        peer: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        conversation_id: Option<String>,
        #[serde(default)]
        after_seq: u64,
    },
    /// An older page of a conversation: messages with seq < `before_seq` (newest page if absent).
    History {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        peer: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        conversation_id: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        before_seq: Option<u64>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        limit: Option<u32>,
    },
    /// Everything from `peer` up to `up_to_seq` has been read.
    Read {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        peer: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        conversation_id: Option<String>,
        up_to_seq: u64,
    },
    /// The user is typing to `peer`.
    Typing {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        peer: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        conversation_id: Option<String>,
    },
    Ping,
    // Agent console frames (support).
    Queue,
    Open {
        conversation_id: String,
    },
    Claim {
        conversation_id: String,
    },
    Resolve {
        conversation_id: String,
    },
    Transfer {
        conversation_id: String,
        to: String,
    },
    /// An agent marks themselves available for automatic assignment, or away.
    Availability {
        available: bool,
    },
}

/// Frame types the server understands, to tell `unknown_type` from `bad_frame`.
pub const KNOWN_TYPES: &[&str] = &[
    "send",
    "sync",
    "history",
    "read",
    "typing",
    "ping",
    "queue",
    "open",
    "claim",
    "resolve",
    "transfer",
    "availability",
];

/// A frame that could not be understood: the code and message of the `error` frame to answer with.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{code}: {message}")]
pub struct FrameError {
    pub code: ErrorCode,
    pub message: String,
    /// The `client_msg_id` of the offending frame, when one could be read.
    pub client_msg_id: Option<String>,
}

/// A `send` frame's fields, read straight from the text. serde reads an internally tagged enum
/// by first copying the whole object into a buffer of its own, then reading the variant from
/// that. Anything this does not take as a `send` (another type, a missing or mistyped field, a
/// `type` written with escapes) goes through [`ClientFrame`] itself, so both ways accept the
/// same frames.
#[derive(Deserialize)]
struct SendFields<'a> {
    #[serde(rename = "type")]
    kind: &'a str,
    #[serde(default)]
    to: Option<String>,
    #[serde(default)]
    conversation_id: Option<String>,
    #[serde(default)]
    body: Option<String>,
    #[serde(default)]
    client_msg_id: Option<String>,
}

impl ClientFrame {
    /// Turns the text of a WebSocket frame into a frame, or into the error to report.
    pub fn parse(text: &str) -> Result<Self, FrameError> {
        // Fastest path: a well-formed `send`, nearly every frame a busy server reads.
        if let Ok(SendFields {
            kind: "send",
            to,
            conversation_id,
            body: Some(body),
            client_msg_id: Some(client_msg_id),
        }) = serde_json::from_str::<SendFields>(text)
        {
            return Ok(ClientFrame::Send {
                to,
                conversation_id,
                body,
                client_msg_id,
            });
        }
        // Fast path: other well-formed frames parse once more.
        match serde_json::from_str::<ClientFrame>(text) {
            Ok(frame) => Ok(frame),
            Err(shape_error) => Err(Self::classify(text, shape_error)),
        }
    }

    fn classify(text: &str, shape_error: serde_json::Error) -> FrameError {
        let bad = |message: String, client_msg_id: Option<String>| FrameError {
            code: ErrorCode::BadFrame,
            message,
            client_msg_id,
        };
        let value: serde_json::Value = match serde_json::from_str(text) {
            Ok(v) => v,
            Err(_) => return bad("the frame is not valid JSON".into(), None),
        };
        let Some(object) = value.as_object() else {
            return bad("a frame is a JSON object".into(), None);
        };
        let client_msg_id = object
            .get("client_msg_id")
            .and_then(|v| v.as_str())
            .map(str::to_owned);
        match object.get("type").and_then(|t| t.as_str()) {
            None => bad(
                "a frame needs a string \"type\" field".into(),
                client_msg_id,
            ),
            Some(kind) if !KNOWN_TYPES.contains(&kind) => FrameError {
                code: ErrorCode::UnknownType,
                message: format!("unknown frame type {kind:?}"),
                client_msg_id,
            },
            Some(kind) => bad(
                format!("malformed {kind:?} frame: {shape_error}"),
                client_msg_id,
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn send_frame_parses_from_contract_example() {
        let f = ClientFrame::parse(
            r#"{"type":"send","to":"bob","body":"hi","client_msg_id":"c1","extra":1}"#,
        )
        .unwrap();
        assert_eq!(
            f,
            ClientFrame::Send {
                to: Some("bob".into()),
                conversation_id: None,
                body: "hi".into(),
                client_msg_id: "c1".into()
            }
        );
    }

    #[test]
    fn every_client_frame_round_trips() {
        let frames = vec![
            ClientFrame::Sync {
                peer: Some("bob".into()),
                conversation_id: None,
                after_seq: 12,
            },
            ClientFrame::History {
                peer: Some("bob".into()),
                conversation_id: None,
                before_seq: Some(200),
                limit: Some(50),
            },
            ClientFrame::Read {
                peer: Some("bob".into()),
                conversation_id: None,
                up_to_seq: 40,
            },
            ClientFrame::Typing {
                peer: Some("bob".into()),
                conversation_id: None,
            },
            ClientFrame::Ping,
            ClientFrame::Queue,
            ClientFrame::Transfer {
                conversation_id: "c".into(),
                to: "ann".into(),
            },
            ClientFrame::Availability { available: true },
        ];
        for frame in frames {
            let text = serde_json::to_string(&frame).unwrap();
            assert_eq!(ClientFrame::parse(&text).unwrap(), frame, "{text}");
        }
    }

    #[test]
    fn send_frames_parse_the_same_as_through_the_tagged_enum() {
        let texts = [
            r#"{"type":"send","to":"bob","body":"hi","client_msg_id":"c1"}"#,
            r#"{"client_msg_id":"c1","body":"hi","to":"bob","type":"send"}"#,
            r#"{"type":"send","conversation_id":"k","body":"hi","client_msg_id":"c1"}"#,
            r#"{"type":"send","body":"hi","client_msg_id":"c1"}"#,
            r#"{"type":"send","to":null,"body":"h\u00ef \"q\"","client_msg_id":"c\n1","x":[1]}"#,
            r#"{"type":"se\u006ed","to":"bob","body":"hi","client_msg_id":"c1"}"#,
            r#"{"type":"send","to":"bob","body":null,"client_msg_id":"c1"}"#,
            r#"{"type":"send","to":5,"body":"hi","client_msg_id":"c1"}"#,
            r#"{"type":"send","to":"bob","body":"hi"}"#,
            r#"{"type":"send","type":"send","to":"bob","body":"hi","client_msg_id":"c1"}"#,
            r#"{"type":"sync","peer":"bob","after_seq":3,"body":"hi","client_msg_id":"c1"}"#,
        ];
        for text in texts {
            let tagged = serde_json::from_str::<ClientFrame>(text).ok();
            match ClientFrame::parse(text) {
                Ok(frame) => assert_eq!(Some(frame), tagged, "{text}"),
                Err(e) => assert!(tagged.is_none(), "{text}: {e}"),
            }
        }
        assert_eq!(
            ClientFrame::parse(texts[4]).unwrap(),
            ClientFrame::Send {
                to: None,
                conversation_id: None,
                body: "hï \"q\"".into(),
                client_msg_id: "c\n1".into()
            }
        );
    }

    #[test]
    fn ping_has_the_contract_shape() {
        assert_eq!(
            serde_json::to_string(&ClientFrame::Ping).unwrap(),
            r#"{"type":"ping"}"#
        );
    }

    #[test]
    fn not_json_is_bad_frame() {
        let e = ClientFrame::parse("hello").unwrap_err();
        assert_eq!(e.code, ErrorCode::BadFrame);
    }

    #[test]
    fn unknown_type_is_reported_as_such() {
        let e = ClientFrame::parse(r#"{"type":"dance"}"#).unwrap_err();
        assert_eq!(e.code, ErrorCode::UnknownType);
    }

    #[test]
    fn wrong_shape_is_bad_frame_and_keeps_client_msg_id() {
        let e =
            ClientFrame::parse(r#"{"type":"send","to":"bob","client_msg_id":"c9"}"#).unwrap_err();
        assert_eq!(e.code, ErrorCode::BadFrame);
        assert_eq!(e.client_msg_id.as_deref(), Some("c9"));
        assert_eq!(
            ClientFrame::parse("[1,2]").unwrap_err().code,
            ErrorCode::BadFrame
        );
        assert_eq!(
            ClientFrame::parse(r#"{"type":7}"#).unwrap_err().code,
            ErrorCode::BadFrame
        );
    }
}
