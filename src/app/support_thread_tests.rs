//! Tests of one support conversation: dedupe by seq, pending matched by `client_msg_id`,
//! statuses from `accepted` and read receipts, and what a reconnect sends — on both sides.

use super::*;
use crate::protocol::QueueEntry;

fn msg(role: FromRole, from: &str, seq: u64, body: &str, cid: &str) -> Message {
    Message {
        id: format!("id{seq}"),
        peer: None,
        conversation_id: Some("conv1".into()),
        from: from.into(),
        to: String::new(),
        seq,
        body: body.into(),
        sent_at: "2026-11-23T10:00:00.000Z".into(),
        client_msg_id: cid.into(),
        from_role: Some(role),
    }
}

fn customer_msg(seq: u64, body: &str, cid: &str) -> Message {
    msg(FromRole::Customer, "Quinn", seq, body, cid)
}

fn agent_msg(from: &str, seq: u64, body: &str, cid: &str) -> Message {
    msg(FromRole::Agent, from, seq, body, cid)
}

fn statuses(t: &SupportThread) -> Vec<Option<MsgStatus>> {
    t.rows().into_iter().map(|r| r.status).collect()
}

#[test]
fn customer_send_goes_sending_then_sent_then_read() {
    let mut t = SupportThread::new(Side::Customer, "", "conv1");
    t.apply_history(vec![], false);
    let frame = t.queue_send("c1", "hello");
    assert_eq!(
        frame,
        ClientFrame::Send {
            to: None,
            conversation_id: None,
            body: "hello".into(),
            client_msg_id: "c1".into()
        },
        "a customer names no conversation"
    );
    assert_eq!(statuses(&t), [Some(MsgStatus::Sending)]);
    t.apply_accepted("c1", "id1", 1, "2026-11-23T10:00:00.000Z");
    assert_eq!(statuses(&t), [Some(MsgStatus::Sent)]);
    // The echo of the same message changes nothing.
    t.apply_message(customer_msg(1, "hello", "c1"));
    assert_eq!(t.rows().len(), 1);
    assert_eq!(t.rows()[0].key, "c:c1", "the row keeps its identity");
    t.apply_receipt(1);
    assert_eq!(statuses(&t), [Some(MsgStatus::Read)]);
}

#[test]
fn message_before_accepted_is_matched_by_client_msg_id() {
    let mut t = SupportThread::new(Side::Customer, "", "conv1");
    t.queue_send("c1", "hi");
    t.apply_message(customer_msg(1, "hi", "c1"));
    assert!(t.pending.is_empty());
    t.apply_accepted("c1", "id1", 1, "x");
    assert_eq!(t.rows().len(), 1);
    assert_eq!(statuses(&t), [Some(MsgStatus::Sent)]);
}

#[test]
fn agent_messages_are_the_agents_with_their_name_on_the_customer_side() {
    let mut t = SupportThread::new(Side::Customer, "", "conv1");
    t.apply_history(
        vec![customer_msg(1, "q", "c1"), agent_msg("ann", 2, "a", "a1")],
        false,
    );
    let rows = t.rows();
    assert!(rows[0].own && rows[0].author.is_none());
    assert_eq!(rows[0].role, Some("customer"));
    assert!(!rows[1].own);
    assert_eq!(rows[1].author.as_deref(), Some("ann"));
    assert_eq!(rows[1].role, Some("agent"));
    assert_eq!(rows[1].status, None);
    assert_eq!(t.read_target(), Some(2));
    assert_eq!(
        t.read_frame(2),
        ClientFrame::Read {
            peer: None,
            conversation_id: None,
            up_to_seq: 2
        }
    );
    t.mark_read_sent(2);
    assert_eq!(t.read_target(), None, "reported once");
}

#[test]
fn a_message_seen_twice_is_kept_once_in_seq_order() {
    let mut t = SupportThread::new(Side::Agent, "ann", "conv1");
    assert!(t.apply_message(customer_msg(2, "two", "c2")));
    assert!(t.apply_message(customer_msg(1, "one", "c1")));
    assert!(!t.apply_message(customer_msg(2, "two", "c2")), "not new");
    t.apply_history(vec![customer_msg(1, "one", "c1")], false);
    let bodies: Vec<_> = t.rows().into_iter().map(|r| r.body).collect();
    assert_eq!(bodies, ["one", "two"]);
    assert_eq!(t.customer, "Quinn");
}

#[test]
fn agent_side_names_the_conversation_and_labels_colleagues() {
    let mut t = SupportThread::new(Side::Agent, "ann", "conv1");
    t.apply_history(
        vec![
            customer_msg(1, "q", "c1"),
            agent_msg("bob", 2, "bob here", "b1"),
            agent_msg("ann", 3, "ann here", "a1"),
        ],
        true,
    );
    let rows = t.rows();
    assert_eq!(
        rows.iter().map(|r| r.own).collect::<Vec<_>>(),
        [false, true, true]
    );
    assert_eq!(rows[1].author.as_deref(), Some("bob"));
    assert_eq!(rows[2].author, None);
    match t.queue_send("a2", "more") {
        ClientFrame::Send {
            conversation_id, ..
        } => assert_eq!(conversation_id.as_deref(), Some("conv1")),
        other => panic!("{other:?}"),
    }
    match t.load_older() {
        Some(ClientFrame::History {
            conversation_id,
            before_seq,
            ..
        }) => {
            assert_eq!(conversation_id.as_deref(), Some("conv1"));
            assert_eq!(before_seq, Some(1));
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(t.load_older(), None, "one page at a time");
}

#[test]
fn a_colleagues_message_with_my_client_msg_id_does_not_settle_my_pending_send() {
    let mut t = SupportThread::new(Side::Agent, "ann", "conv1");
    t.queue_send("same", "mine");
    t.apply_message(agent_msg("bob", 1, "his", "same"));
    assert_eq!(t.pending.len(), 1);
}

#[test]
fn resume_syncs_after_the_newest_seq_and_resends_unacknowledged_sends() {
    let mut t = SupportThread::new(Side::Customer, "", "conv1");
    assert_eq!(t.resume_frames(), vec![], "nothing held, nothing to ask");
    t.apply_history(
        vec![customer_msg(4, "a", "c4"), agent_msg("ann", 5, "b", "a5")],
        true,
    );
    t.queue_send("c6", "waiting");
    t.queue_send("c7", "refused");
    t.fail("c7", "too many frames");
    assert_eq!(
        t.resume_frames(),
        vec![
            ClientFrame::Sync {
                peer: None,
                conversation_id: None,
                after_seq: 5
            },
            ClientFrame::Send {
                to: None,
                conversation_id: None,
                body: "waiting".into(),
                client_msg_id: "c6".into()
            },
        ]
    );
}

#[test]
fn a_reconnect_page_does_not_forget_older_pages() {
    let mut t = SupportThread::new(Side::Customer, "", "conv1");
    t.apply_history(
        vec![customer_msg(1, "a", "c1"), customer_msg(2, "b", "c2")],
        false,
    );
    // The new socket's first page is the newest 50 (here: seq 2..3, "has more").
    t.apply_history(
        vec![customer_msg(2, "b", "c2"), customer_msg(3, "c", "c3")],
        true,
    );
    assert!(!t.has_more, "seq 1 is already loaded");
    assert_eq!(t.oldest_seq(), Some(1));
}

#[test]
fn refused_send_can_be_retried_with_the_same_id_or_dropped() {
    let mut t = SupportThread::new(Side::Customer, "", "conv1");
    t.queue_send("c1", "x");
    assert!(t.fail("c1", "rate limited"));
    assert!(!t.fail("nope", "x"));
    assert_eq!(statuses(&t), [Some(MsgStatus::Failed)]);
    assert!(matches!(
        t.retry("c1"),
        Some(ClientFrame::Send { client_msg_id, .. }) if client_msg_id == "c1"
    ));
    assert_eq!(statuses(&t), [Some(MsgStatus::Sending)]);
    t.discard("c1");
    assert!(t.rows().is_empty());
}

#[test]
fn typing_expires_and_stops_when_they_write() {
    let mut t = SupportThread::new(Side::Customer, "", "conv1");
    t.apply_typing("ann", 1000.0);
    assert_eq!(t.typing_now(500.0), Some("ann"));
    assert_eq!(t.typing_now(1500.0), None);
    t.apply_typing("ann", 1000.0);
    t.apply_message(agent_msg("ann", 1, "hi", "a1"));
    assert_eq!(t.typing_now(500.0), None);
}

#[test]
fn queue_entries_and_status_frames_set_status_and_assignee() {
    let mut t = SupportThread::new(Side::Agent, "ann", "conv1");
    t.apply_entry(&QueueEntry {
        conversation_id: "conv1".into(),
        customer: "Quinn".into(),
        status: "assigned".into(),
        assignee: Some("bob".into()),
        last_message: None,
        unread: 2,
        last_seq: 7,
        waiting_since: None,
    });
    assert_eq!(t.status, SupportStatus::Assigned);
    assert_eq!(t.assignee.as_deref(), Some("bob"));
    assert_eq!(t.last_seq, 7);
    t.apply_status("resolved", Some("bob".into()));
    assert_eq!(t.status, SupportStatus::Resolved);
    assert_eq!(SupportStatus::parse("whatever"), SupportStatus::Open);
}

#[test]
fn a_seq_gap_asks_the_agent_side_for_one_sync_of_that_conversation() {
    let mut t = SupportThread::new(Side::Agent, "ann", "conv1");
    t.apply_history(vec![customer_msg(1, "a", "c1")], false);
    assert_eq!(t.gap_sync(), None, "nothing missing");
    t.apply_message(customer_msg(3, "c", "c3"));
    assert_eq!(
        t.gap_sync(),
        Some(ClientFrame::Sync {
            peer: None,
            conversation_id: Some("conv1".into()),
            after_seq: 1
        })
    );
    assert_eq!(t.gap_sync(), None, "asked once per hole");
    t.apply_message(customer_msg(2, "b", "c2"));
    assert_eq!(t.gap_sync(), None, "the hole is filled");
}
