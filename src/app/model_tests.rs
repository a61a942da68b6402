//! Tests of the chat model: dedupe by seq, pending matched by client_msg_id, statuses from
//! `accepted` and receipts, and what a reconnect sends.

use super::*;
use crate::app::notice::NoticeKind;
use crate::app::thread::MsgStatus;
use crate::protocol::{ConversationSummary, ErrorCode, Message, ReceiptKind};

fn msg(from: &str, to: &str, seq: u64, body: &str, cid: &str) -> Message {
    Message {
        id: format!("id{seq}"),
        peer: None,
        conversation_id: None,
        from: from.into(),
        to: to.into(),
        seq,
        body: body.into(),
        sent_at: "2026-11-23T10:00:00Z".into(),
        client_msg_id: cid.into(),
        from_role: None,
    }
}

fn summary(peer: &str, last_seq: u64, unread: u64, online: bool) -> ConversationSummary {
    ConversationSummary {
        peer: peer.into(),
        last_seq,
        unread,
        online,
        last_message: None,
        peer_delivered_seq: 0,
        peer_read_seq: 0,
    }
}

fn statuses(m: &Model, peer: &str) -> Vec<Option<MsgStatus>> {
    m.conv(peer)
        .unwrap()
        .rows(&m.me)
        .into_iter()
        .map(|r| r.status)
        .collect()
}

#[test]
fn a_message_seen_twice_is_shown_once_in_seq_order() {
    let mut m = Model::new("alice");
    m.apply_message(msg("bob", "alice", 2, "two", "b2"));
    m.apply_message(msg("bob", "alice", 1, "one", "b1"));
    m.apply_message(msg("bob", "alice", 2, "two", "b2"));
    m.apply_history("bob", vec![msg("bob", "alice", 1, "one", "b1")], false);
    let rows = m.conv("bob").unwrap().rows("alice");
    let bodies: Vec<_> = rows.iter().map(|r| r.body.as_str()).collect();
    assert_eq!(bodies, ["one", "two"]);
    assert_eq!(m.conv("bob").unwrap().unread, 1, "only the newest counted");
}

#[test]
fn own_send_goes_sending_then_saved_then_delivered_then_read() {
    let mut m = Model::new("alice");
    let frame = m.queue_send("bob", "c1", "hi");
    assert!(matches!(frame, ClientFrame::Send { ref client_msg_id, .. } if client_msg_id == "c1"));
    assert_eq!(statuses(&m, "bob"), [Some(MsgStatus::Sending)]);

    m.apply_accepted("c1", "m1", 1, false, Some("bob"), None, 0.0);
    assert_eq!(statuses(&m, "bob"), [Some(MsgStatus::SavedForLater)]);
    let notices = m.notices.for_peer(Some("bob"));
    assert_eq!(notices.len(), 1);
    assert_eq!(notices[0].kind, NoticeKind::Info);
    assert!(notices[0].text.contains("when bob comes online"));

    // The echo of the same message does not add a row and keeps the hint.
    m.apply_message(msg("alice", "bob", 1, "hi", "c1"));
    assert_eq!(statuses(&m, "bob"), [Some(MsgStatus::SavedForLater)]);

    m.apply_receipt("bob", ReceiptKind::Delivered, 1);
    assert_eq!(statuses(&m, "bob"), [Some(MsgStatus::Delivered)]);
    m.apply_receipt("bob", ReceiptKind::Read, 1);
    assert_eq!(statuses(&m, "bob"), [Some(MsgStatus::Read)]);
}

#[test]
fn message_before_accepted_is_matched_by_client_msg_id() {
    let mut m = Model::new("alice");
    m.queue_send("bob", "c1", "hi");
    m.apply_message(msg("alice", "bob", 1, "hi", "c1"));
    let conv = m.conv("bob").unwrap();
    assert!(conv.pending.is_empty());
    assert_eq!(conv.rows("alice").len(), 1);
    m.apply_accepted("c1", "id1", 1, true, Some("bob"), None, 0.0);
    assert_eq!(statuses(&m, "bob"), [Some(MsgStatus::Delivered)]);
    assert!(m.notices.for_peer(Some("bob")).is_empty());

    // Saved for later: the blue notice shows even though the echo came first, and only once.
    m.queue_send("bob", "c2", "later");
    m.apply_message(msg("alice", "bob", 2, "later", "c2"));
    m.apply_accepted("c2", "id2", 2, false, Some("bob"), None, 0.0);
    assert_eq!(m.notices.for_peer(Some("bob")).len(), 1);
    m.notices.dismiss(m.notices.for_peer(Some("bob"))[0].id);
    m.apply_accepted("c2", "id2", 2, false, Some("bob"), None, 0.0);
    assert!(
        m.notices.for_peer(Some("bob")).is_empty(),
        "a repeated accepted says nothing"
    );
}

#[test]
fn accepted_for_an_unknown_peer_waits_for_its_message() {
    let mut m = Model::new("alice");
    m.apply_accepted("cx", "id1", 1, false, None, None, 0.0);
    m.apply_message(msg("alice", "bob", 1, "hi", "cx"));
    assert_eq!(statuses(&m, "bob"), [Some(MsgStatus::SavedForLater)]);
}

#[test]
fn reconnect_syncs_loaded_conversations_and_resends_pending_with_same_id() {
    let mut m = Model::new("alice");
    m.apply_hello(
        "alice",
        vec![summary("bob", 3, 0, true), summary("carol", 0, 0, false)],
    );
    m.open("bob");
    m.apply_history("bob", vec![msg("bob", "alice", 3, "x", "b3")], true);
    m.queue_send("bob", "c9", "again");
    m.queue_send("carol", "c10", "hey");
    m.apply_error(ErrorCode::RateLimited, "slow down", Some("c10"), None, 0.0);

    let frames = m.resume_frames();
    assert!(frames.contains(&ClientFrame::Sync {
        peer: Some("bob".into()),
        conversation_id: None,
        after_seq: 3
    }));
    let sends: Vec<_> = frames
        .iter()
        .filter_map(|f| match f {
            ClientFrame::Send { client_msg_id, .. } => Some(client_msg_id.as_str()),
            _ => None,
        })
        .collect();
    assert_eq!(sends, ["c9"], "refused messages wait for an explicit retry");
    assert!(m.retry("carol", "c10").is_some());
    assert_eq!(statuses(&m, "carol"), [Some(MsgStatus::Sending)]);
}

#[test]
fn lost_history_request_is_asked_again_after_hello() {
    let mut m = Model::new("alice");
    assert!(m.open("bob").is_some());
    assert!(m.open("bob").is_none(), "asked once");
    let frames = m.resume_frames();
    assert!(frames.iter().any(|f| matches!(
        f,
        ClientFrame::History {
            before_seq: None,
            ..
        }
    )));
}

#[test]
fn older_pages_prepend_and_track_has_more() {
    let mut m = Model::new("alice");
    m.open("bob");
    let page: Vec<_> = (51..=100)
        .map(|s| msg("bob", "alice", s, "x", "b"))
        .collect();
    m.apply_history("bob", page, true);
    let Some(ClientFrame::History { before_seq, .. }) = m.load_older("bob") else {
        panic!("expected a history frame");
    };
    assert_eq!(before_seq, Some(51));
    assert!(m.load_older("bob").is_none(), "one request at a time");
    let older: Vec<_> = (1..=50).map(|s| msg("bob", "alice", s, "x", "b")).collect();
    m.apply_history("bob", older, false);
    let conv = m.conv("bob").unwrap();
    assert_eq!(conv.messages.len(), 100);
    assert!(!conv.has_more);
    assert!(m.load_older("bob").is_none());
}

#[test]
fn read_target_follows_peer_messages_and_resets_unread() {
    let mut m = Model::new("alice");
    m.apply_hello("alice", vec![summary("bob", 2, 2, true)]);
    m.open("bob");
    m.apply_history(
        "bob",
        vec![
            msg("bob", "alice", 1, "a", "b1"),
            msg("bob", "alice", 2, "b", "b2"),
        ],
        false,
    );
    assert_eq!(m.conv("bob").unwrap().read_target(), Some(2));
    m.mark_read_sent("bob", 2);
    assert_eq!(m.conv("bob").unwrap().unread, 0);
    assert_eq!(m.conv("bob").unwrap().read_target(), None);
    m.apply_message(msg("alice", "bob", 3, "mine", "c3"));
    assert_eq!(
        m.conv("bob").unwrap().read_target(),
        None,
        "own messages need no read"
    );
}

#[test]
fn error_marks_the_pending_message_and_shows_red() {
    let mut m = Model::new("alice");
    m.queue_send("nobody", "c1", "hi");
    m.apply_error(
        ErrorCode::UnknownUser,
        "no such user",
        Some("c1"),
        Some("bob"),
        0.0,
    );
    assert_eq!(statuses(&m, "nobody"), [Some(MsgStatus::Failed)]);
    let n = m.notices.for_peer(Some("nobody"));
    assert_eq!(n[0].kind, NoticeKind::Error);
    assert_eq!(n[0].text, "no such user");
    assert!(
        m.notices.for_peer(Some("bob")).is_empty(),
        "scoped to its conversation"
    );
}

#[test]
fn typing_and_info_notices_expire() {
    let mut m = Model::new("alice");
    m.apply_typing("bob", 3000.0);
    m.queue_send("bob", "c1", "hi");
    m.apply_accepted("c1", "m1", 1, false, Some("bob"), None, 0.0);
    assert!(m.is_typing("bob", 1000.0));
    assert!(!m.prune(1000.0));
    assert!(m.prune(20_000.0));
    assert!(!m.is_typing("bob", 20_000.0));
    assert!(m.notices.for_peer(Some("bob")).is_empty());
}

#[test]
fn list_is_newest_activity_first_with_previews() {
    let mut m = Model::new("alice");
    m.apply_hello(
        "alice",
        vec![summary("bob", 1, 0, true), summary("carol", 1, 0, false)],
    );
    assert_eq!(
        m.list(0.0)
            .iter()
            .map(|i| i.peer.as_str())
            .collect::<Vec<_>>(),
        ["bob", "carol"]
    );
    m.apply_message(msg("carol", "alice", 2, "<b>new</b>", "k2"));
    let list = m.list(0.0);
    assert_eq!(list[0].peer, "carol");
    assert_eq!(list[0].preview, Some((false, "<b>new</b>".into())));
    assert_eq!(list[0].unread, 1);
    assert_eq!(m.total_unread(), 1);
}

#[test]
fn presence_updates_the_dot_and_new_conversations_inherit_it() {
    let mut m = Model::new("alice");
    m.apply_presence("dave", true);
    m.open("dave");
    assert!(m.conv("dave").unwrap().online);
    m.apply_presence("dave", false);
    assert!(!m.conv("dave").unwrap().online);
    m.apply_message(msg("frank", "alice", 1, "hello", "f1"));
    assert!(
        m.conv("frank").unwrap().online,
        "a new peer who writes is online"
    );
}

#[test]
fn presence_of_a_new_peer_is_inferred_until_the_server_announces_it() {
    let mut m = Model::new("alice");
    m.open("erin");
    assert!(!m.conv("erin").unwrap().online);
    m.queue_send("erin", "c1", "hi");
    m.apply_accepted("c1", "m1", 1, true, Some("erin"), None, 0.0);
    assert!(m.conv("erin").unwrap().online, "delivered at once: online");
    m.apply_presence("erin", false);
    m.queue_send("erin", "c2", "still there?");
    m.apply_accepted("c2", "m2", 2, true, Some("erin"), None, 0.0);
    assert!(!m.conv("erin").unwrap().online, "announced presence wins");
}

#[test]
fn resync_after_a_lost_frame_syncs_from_before_the_gap() {
    let mut m = Model::new("alice");
    m.apply_hello("alice", vec![summary("bob", 2, 0, true)]);
    m.open("bob");
    m.apply_history(
        "bob",
        vec![
            msg("bob", "alice", 1, "a", "b1"),
            msg("bob", "alice", 2, "b", "b2"),
        ],
        false,
    );
    // seq 3 was lost between server nodes; 4 arrived.
    m.apply_message(msg("alice", "bob", 4, "d", "a4"));
    assert!(m.resume_frames().contains(&ClientFrame::Sync {
        peer: Some("bob".into()),
        conversation_id: None,
        after_seq: 2
    }));
    m.apply_message(msg("bob", "alice", 3, "c", "b3"));
    assert!(m.resume_frames().contains(&ClientFrame::Sync {
        peer: Some("bob".into()),
        conversation_id: None,
        after_seq: 4
    }));
}

#[test]
fn a_seq_gap_asks_for_one_sync_from_before_the_hole() {
    let mut m = Model::new("alice");
    m.apply_message(msg("bob", "alice", 1, "a", "b1"));
    assert_eq!(m.gap_sync("bob"), None, "nothing missing");
    m.apply_message(msg("bob", "alice", 3, "c", "b3"));
    let want = ClientFrame::Sync {
        peer: Some("bob".into()),
        conversation_id: None,
        after_seq: 1,
    };
    assert_eq!(m.gap_sync("bob"), Some(want));
    m.apply_message(msg("bob", "alice", 4, "d", "b4"));
    assert_eq!(m.gap_sync("bob"), None, "asked once per hole");
    m.apply_message(msg("bob", "alice", 2, "b", "b2"));
    assert_eq!(m.gap_sync("bob"), None, "the hole is filled");
}
