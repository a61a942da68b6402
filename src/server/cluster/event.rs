//! What nodes tell each other over the bus. Every event is wrapped in an [`Envelope`] naming the
//! node that sent it, so a node skips its own events (Redis echoes them to every subscriber).

use crate::server::hub::Outbound;
use serde::{Deserialize, Serialize};
use std::sync::Arc;

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Envelope {
    pub node: String,
    pub event: Event,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "t", rename_all = "snake_case")]
pub enum Event {
    /// Frames for the sockets of one hub key (a user or a support customer) held by other nodes.
    ToKey {
        key: String,
        item: Item,
        /// A node that hands the item to at least one socket records this delivery.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        mark: Option<Mark>,
    },
    /// Frames for every online support agent.
    ToAgents { item: Item },
    /// A session ended (logout): its sockets close on every node.
    CloseSession { session: String },
    /// The first socket of `key` opened on the sending node.
    Online { key: String },
    /// The last socket of `key` on the sending node closed.
    Offline { key: String },
    /// An agent on the sending node changed whether they take automatic assignments.
    Availability { agent: String, available: bool },
    /// The sender's whole presence, sent periodically; it is also the node's heartbeat.
    Snapshot {
        keys: Vec<String>,
        agents: Vec<(String, bool)>,
    },
    /// The sender is shutting down: forget it now instead of waiting for its heartbeat to lapse.
    Leaving,
    /// Events of the sender were lost: every node asks its sockets to resync.
    Resync,
}

/// An [`Outbound`] as it crosses the bus.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "k", rename_all = "snake_case")]
pub enum Item {
    Frame {
        json: String,
    },
    Message {
        peer: String,
        seq: u64,
        json: String,
    },
}

impl From<&Outbound> for Item {
    fn from(item: &Outbound) -> Self {
        match item {
            Outbound::Frame(json) => Item::Frame {
                json: json.to_string(),
            },
            Outbound::Message(m) => Item::Message {
                peer: m.peer.to_string(),
                seq: m.seq,
                json: m.json.to_string(),
            },
        }
    }
}

impl From<Item> for Outbound {
    fn from(item: Item) -> Self {
        match item {
            Item::Frame { json } => Outbound::frame(json),
            Item::Message { peer, seq, json } => {
                Outbound::message(Arc::from(peer), seq, json.into())
            }
        }
    }
}

/// "`reader` has received `peer`'s messages up to `up_to_seq`", committed by whichever node
/// delivered the message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Mark {
    pub reader: String,
    pub peer: String,
    pub up_to_seq: u64,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn envelopes_round_trip_through_json() {
        let envelope = Envelope {
            node: "n1".into(),
            event: Event::ToKey {
                key: "bob".into(),
                item: Item::Message {
                    peer: "ann".into(),
                    seq: 7,
                    json: r#"{"type":"message"}"#.into(),
                },
                mark: Some(Mark {
                    reader: "bob".into(),
                    peer: "ann".into(),
                    up_to_seq: 7,
                }),
            },
        };
        let text = serde_json::to_string(&envelope).unwrap();
        let back: Envelope = serde_json::from_str(&text).unwrap();
        assert_eq!(back.node, "n1");
        match back.event {
            Event::ToKey { key, item, mark } => {
                assert_eq!(key, "bob");
                assert!(matches!(item, Item::Message { seq: 7, .. }));
                assert_eq!(mark.unwrap().up_to_seq, 7);
            }
            other => panic!("unexpected {other:?}"),
        }
    }
}
