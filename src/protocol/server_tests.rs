//! Tests of the server frames: their JSON shape, and that [`ServerFrame::from_json`] reads back
//! every frame the server writes and every example of `docs/protocol.md`.

use super::*;
use crate::protocol::error::ErrorCode;
use crate::protocol::records::{ConversationSummary, FromRole, Message, QueueEntry, ReceiptKind};

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

fn support_message() -> Message {
    Message {
        peer: None,
        conversation_id: Some("4404".into()),
        from: "Dana".into(),
        to: String::new(),
        from_role: Some(FromRole::Customer),
        ..sample_message()
    }
}

/// One frame of every variant, with the optional fields both set and unset somewhere.
fn every_frame() -> Vec<ServerFrame> {
    vec![
        ServerFrame::Hello(Hello {
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
        }),
        ServerFrame::Message(sample_message()),
        ServerFrame::Message(support_message()),
        ServerFrame::Accepted(Accepted {
            client_msg_id: "c1".into(),
            id: "m1".into(),
            seq: 3,
            delivered: false,
            peer: Some("bob".into()),
            conversation_id: None,
            sent_at: None,
        }),
        ServerFrame::Receipt(Receipt {
            peer: "4404".into(),
            kind: ReceiptKind::Read,
            up_to_seq: 3,
            conversation_id: Some("4404".into()),
        }),
        ServerFrame::Presence(Presence {
            user: "bob".into(),
            online: false,
        }),
        ServerFrame::Typing(Typing {
            from: "bob".into(),
            conversation_id: None,
        }),
        ServerFrame::Synced(Synced {
            peer: Some("bob".into()),
            conversation_id: None,
            last_seq: 9,
        }),
        ServerFrame::HistoryPage(HistoryPage {
            peer: Some("bob".into()),
            conversation_id: None,
            messages: vec![sample_message()],
            has_more: true,
        }),
        ServerFrame::Pong,
        ServerFrame::Resync,
        ServerFrame::error(ErrorCode::SelfMessage, "no", Some("c1".into())),
        ServerFrame::Queue(Queue {
            conversations: vec![QueueEntry {
                conversation_id: "4404".into(),
                customer: "Dana".into(),
                status: "open".into(),
                assignee: None,
                last_message: Some(support_message()),
                unread: 2,
                last_seq: 5,
                waiting_since: Some("2026-11-23T11:39:45.292Z".into()),
            }],
        }),
        ServerFrame::Status(Status {
            conversation_id: "x".into(),
            status: "assigned".into(),
            assignee: Some("ann".into()),
        }),
    ]
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
fn direct_message_frames_are_each_sides_message_frame() {
    let m = Message {
        body: "quote \" and \u{e9}, line\nbreak".into(),
        ..sample_message()
    };
    let (for_sender, for_recipient) = DirectMessage {
        id: &m.id,
        from: &m.from,
        to: &m.to,
        seq: m.seq,
        body: &m.body,
        sent_at: &m.sent_at,
        client_msg_id: &m.client_msg_id,
    }
    .frames();
    let seen_by = |peer: &str| {
        ServerFrame::Message(Message {
            peer: Some(peer.into()),
            ..m.clone()
        })
    };
    assert_eq!(ServerFrame::from_json(&for_sender).unwrap(), seen_by("bob"));
    assert_eq!(
        ServerFrame::from_json(&for_recipient).unwrap(),
        seen_by("alice")
    );
    assert!(
        for_sender.starts_with(r#"{"type":"message","peer":"bob","#),
        "{for_sender}"
    );
    // Nothing but the field order differs from the frame serialized whole.
    let whole: serde_json::Value = serde_json::from_str(&seen_by("bob").to_json()).unwrap();
    let built: serde_json::Value = serde_json::from_str(&for_sender).unwrap();
    assert_eq!(built, whole);
}

#[test]
fn direct_message_frames_are_byte_for_byte_what_serde_writes() {
    for body in [
        "plain line",
        "quote \" and \\ and \u{1}",
        "",
        "\u{e9}\u{1f389}",
    ] {
        let m = DirectMessage {
            id: "0190b2c4-5d6e-7f80-9a1b-2c3d4e5f6071",
            from: "alice",
            to: "bob.b-2",
            seq: 12_345,
            body,
            sent_at: "2026-11-23T10:00:00.000Z",
            client_msg_id: "c\"1",
        };
        // The derived serialization of the fields, with `type` and `peer` put first.
        let fields = serde_json::to_string(&m).unwrap();
        let expected = |peer: &str| {
            format!(
                r#"{{"type":"message","peer":{},{}"#,
                serde_json::to_string(peer).unwrap(),
                &fields[1..]
            )
        };
        let (for_sender, for_recipient) = m.frames();
        assert_eq!(for_sender, expected(m.to));
        assert_eq!(for_recipient, expected(m.from));
    }
}

#[test]
fn accepted_frames_are_byte_for_byte_what_serde_writes() {
    let full = Accepted {
        client_msg_id: "c-1 \"quoted\"".into(),
        id: "0190b2c4-5d6e-7f80-9a1b-2c3d4e5f6071".into(),
        seq: u64::MAX,
        delivered: true,
        peer: Some("bob".into()),
        conversation_id: Some("c0ffee".into()),
        sent_at: Some("2026-11-23T10:00:00.000Z".into()),
    };
    let bare = Accepted {
        delivered: false,
        seq: 0,
        peer: None,
        conversation_id: None,
        sent_at: None,
        ..full.clone()
    };
    for accepted in [full, bare] {
        let frame = ServerFrame::Accepted(accepted);
        assert_eq!(frame.to_json(), serde_json::to_string(&frame).unwrap());
        assert_eq!(ServerFrame::from_json(&frame.to_json()).unwrap(), frame);
    }
}

#[test]
fn every_server_frame_round_trips() {
    for frame in every_frame() {
        let text = frame.to_json();
        assert_eq!(ServerFrame::from_json(&text).unwrap(), frame, "{text}");
    }
}

#[test]
fn frames_keep_their_flat_shape_with_type_first() {
    assert_eq!(ServerFrame::Pong.to_json(), r#"{"type":"pong"}"#);
    assert_eq!(
        ServerFrame::Presence(Presence {
            user: "bob".into(),
            online: false
        })
        .to_json(),
        r#"{"type":"presence","user":"bob","online":false}"#
    );
    assert_eq!(
        ServerFrame::error(ErrorCode::TooLarge, "long", None).to_json(),
        r#"{"type":"error","code":"too_large","message":"long"}"#
    );
}

#[test]
fn every_documented_example_decodes() {
    let message = |json: &str| match ServerFrame::from_json(json).unwrap() {
        ServerFrame::Message(m) => m,
        other => panic!("{other:?}"),
    };
    let hello = r#"{"type": "hello", "user": "alice", "role": "user",
        "conversations": [
          {"peer": "bob", "last_seq": 42, "unread": 3, "online": true,
           "last_message": {"id": "01a2", "peer": "bob", "from": "bob", "to": "alice", "seq": 42,
                            "body": "see you", "sent_at": "2026-11-23T10:00:00.123Z", "client_msg_id": "c9"},
           "peer_delivered_seq": 41, "peer_read_seq": 40}
        ]}"#;
    let ServerFrame::Hello(hello) = ServerFrame::from_json(hello).unwrap() else {
        panic!("not hello")
    };
    assert_eq!(hello.role.as_deref(), Some("user"));
    assert_eq!(hello.conversations[0].peer_read_seq, 40);
    assert_eq!(
        hello.conversations[0].last_message.as_ref().unwrap().body,
        "see you"
    );
    let dm = message(
        r#"{"type": "message", "id": "01a2", "peer": "alice", "from": "alice", "to": "bob", "seq": 7,
            "body": "hello bob", "sent_at": "2026-11-23T10:00:00.123Z", "client_msg_id": "c-1"}"#,
    );
    assert_eq!((dm.seq, dm.peer.as_deref()), (7, Some("alice")));
    let support = message(
        r#"{"type":"message","id":"01a2","conversation_id":"4404","from":"Dana","from_role":"customer",
            "to":"","seq":3,"body":"hi","sent_at":"2026-11-23T11:39:45.292Z","client_msg_id":"c-1"}"#,
    );
    assert_eq!(support.from_role, Some(FromRole::Customer));
    let examples = [
        r#"{"type": "accepted", "client_msg_id": "c-1", "id": "01a2", "seq": 7, "delivered": true,
            "peer": "bob", "sent_at": "2026-11-23T10:00:00.123Z"}"#,
        r#"{"type": "receipt", "peer": "bob", "kind": "delivered", "up_to_seq": 7}"#,
        r#"{"type": "receipt", "peer": "bob", "kind": "read", "up_to_seq": 7}"#,
        r#"{"type": "presence", "user": "bob", "online": false}"#,
        r#"{"type": "typing", "from": "bob"}"#,
        r#"{"type": "synced", "peer": "bob", "last_seq": 42}"#,
        r#"{"type": "history_page", "peer": "bob", "messages": [], "has_more": true}"#,
        r#"{"type": "pong"}"#,
        r#"{"type": "resync"}"#,
        r#"{"type": "error", "code": "too_large", "message": "a message holds at most 4000 characters", "client_msg_id": "c-2"}"#,
        r#"{"type":"history_page","conversation_id":"4404","messages":[],"has_more":false}"#,
        r#"{"type":"status","conversation_id":"4404","status":"open","assignee":null}"#,
        r#"{"type":"queue","conversations":[{"conversation_id":"4404","customer":"Dana","status":"open",
            "assignee":null,"last_message":null,"unread":2,"last_seq":5,
            "waiting_since":"2026-11-23T11:39:45.292Z"}]}"#,
    ];
    let expected = [
        ServerFrame::Accepted(Accepted {
            client_msg_id: "c-1".into(),
            id: "01a2".into(),
            seq: 7,
            delivered: true,
            peer: Some("bob".into()),
            conversation_id: None,
            sent_at: Some("2026-11-23T10:00:00.123Z".into()),
        }),
        ServerFrame::Receipt(Receipt {
            peer: "bob".into(),
            kind: ReceiptKind::Delivered,
            up_to_seq: 7,
            conversation_id: None,
        }),
        ServerFrame::Receipt(Receipt {
            peer: "bob".into(),
            kind: ReceiptKind::Read,
            up_to_seq: 7,
            conversation_id: None,
        }),
        ServerFrame::Presence(Presence {
            user: "bob".into(),
            online: false,
        }),
        ServerFrame::Typing(Typing {
            from: "bob".into(),
            conversation_id: None,
        }),
        ServerFrame::Synced(Synced {
            peer: Some("bob".into()),
            conversation_id: None,
            last_seq: 42,
        }),
        ServerFrame::HistoryPage(HistoryPage {
            peer: Some("bob".into()),
            conversation_id: None,
            messages: vec![],
            has_more: true,
        }),
        ServerFrame::Pong,
        ServerFrame::Resync,
        ServerFrame::error(
            ErrorCode::TooLarge,
            "a message holds at most 4000 characters",
            Some("c-2".into()),
        ),
        ServerFrame::HistoryPage(HistoryPage {
            peer: None,
            conversation_id: Some("4404".into()),
            messages: vec![],
            has_more: false,
        }),
        ServerFrame::Status(Status {
            conversation_id: "4404".into(),
            status: "open".into(),
            assignee: None,
        }),
        ServerFrame::Queue(Queue {
            conversations: vec![QueueEntry {
                conversation_id: "4404".into(),
                customer: "Dana".into(),
                status: "open".into(),
                assignee: None,
                last_message: None,
                unread: 2,
                last_seq: 5,
                waiting_since: Some("2026-11-23T11:39:45.292Z".into()),
            }],
        }),
    ];
    for (json, frame) in examples.into_iter().zip(expected) {
        assert_eq!(ServerFrame::from_json(json).unwrap(), frame, "{json}");
    }
}

#[test]
fn type_may_come_anywhere_and_unknown_fields_are_skipped() {
    let frame =
        ServerFrame::from_json(r#"{"user":"bob","online":true,"new":[1.5],"type":"presence"}"#)
            .unwrap();
    assert_eq!(
        frame,
        ServerFrame::Presence(Presence {
            user: "bob".into(),
            online: true
        })
    );
}

#[test]
fn unreadable_frames_are_errors() {
    for bad in [
        r#"{"type":"dance"}"#,
        r#"{"user":"bob","online":true}"#,
        r#"{"type":7}"#,
        r#"{"type":"presence","user":"bob"}"#,
        r#"{"type":"receipt","peer":"bob","kind":"seen","up_to_seq":1}"#,
        r#"{"type":"error","code":"no_such_code","message":"x"}"#,
        r#"{"type":"pong"} trailing"#,
        "[1,2]",
        "hello",
    ] {
        assert!(ServerFrame::from_json(bad).is_err(), "{bad}");
    }
}

#[test]
fn receipt_kind_uses_contract_names() {
    let v: serde_json::Value = serde_json::from_str(
        &ServerFrame::Receipt(Receipt {
            peer: "b".into(),
            kind: ReceiptKind::Delivered,
            up_to_seq: 1,
            conversation_id: None,
        })
        .to_json(),
    )
    .unwrap();
    assert_eq!(v["kind"], "delivered");
    assert_eq!(v["type"], "receipt");
}
