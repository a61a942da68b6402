//! Tests of the console model: queue merging and filters, tabs, errors in the right place, and
//! what a reconnect sends.

use super::*;
use crate::app::thread::MsgStatus;

fn entry(id: &str, status: &str, assignee: Option<&str>, last_seq: u64) -> QueueEntry {
    QueueEntry {
        conversation_id: id.into(),
        customer: format!("cust-{id}"),
        status: status.into(),
        assignee: assignee.map(Into::into),
        last_message: None,
        unread: 1,
        last_seq,
        waiting_since: (status == "open").then(|| format!("2026-11-23T10:00:0{last_seq}.000Z")),
    }
}

fn message(id: &str, role: FromRole, from: &str, seq: u64, body: &str, cid: &str) -> Message {
    Message {
        id: format!("{id}-{seq}"),
        peer: None,
        conversation_id: Some(id.into()),
        from: from.into(),
        to: String::new(),
        seq,
        body: body.into(),
        sent_at: format!("2026-11-23T10:00:0{seq}.000Z"),
        client_msg_id: cid.into(),
        from_role: Some(role),
    }
}

fn ids(rows: &[QueueRow]) -> Vec<&str> {
    rows.iter().map(|r| r.conversation_id.as_str()).collect()
}

#[test]
fn deltas_merge_by_conversation_id_and_filters_split_the_queue() {
    let mut m = AgentModel::new("ann");
    m.apply_queue(vec![
        entry("w2", "open", None, 2),
        entry("w1", "open", None, 1),
        entry("mine", "assigned", Some("ann"), 3),
        entry("bobs", "assigned", Some("bob"), 4),
        entry("done", "resolved", Some("ann"), 5),
    ]);
    assert_eq!(
        ids(&m.rows(Filter::Waiting, 0.0)),
        ["w1", "w2"],
        "oldest first"
    );
    assert_eq!(ids(&m.rows(Filter::Mine, 0.0)), ["mine"]);
    assert_eq!(m.rows(Filter::AllOpen, 0.0).len(), 4);
    assert_eq!(ids(&m.rows(Filter::Resolved, 0.0)), ["done"]);
    assert_eq!(m.counts(), [2, 1, 4, 1]);

    // A delta: w1 is claimed by ann; the rest stays.
    m.apply_queue(vec![entry("w1", "assigned", Some("ann"), 1)]);
    assert_eq!(ids(&m.rows(Filter::Waiting, 0.0)), ["w2"]);
    assert_eq!(m.counts(), [1, 2, 4, 1]);
    assert_eq!(m.known_agents(), ["ann", "bob"]);
}

#[test]
fn previews_name_the_agent_who_wrote() {
    let mut m = AgentModel::new("ann");
    m.apply_queue(vec![entry("c", "assigned", Some("ann"), 0)]);
    m.apply_message(message("c", FromRole::Customer, "Quinn", 1, "help", "q1"));
    assert_eq!(
        m.rows(Filter::Mine, 0.0)[0].preview.as_deref(),
        Some("help")
    );
    m.apply_message(message("c", FromRole::Agent, "ann", 2, "sure", "a1"));
    assert_eq!(
        m.rows(Filter::Mine, 0.0)[0].preview.as_deref(),
        Some("You: sure")
    );
    m.apply_message(message("c", FromRole::Agent, "bob", 3, "me too", "b1"));
    assert_eq!(
        m.rows(Filter::Mine, 0.0)[0].preview.as_deref(),
        Some("bob: me too")
    );
}

#[test]
fn opening_a_tab_asks_once_and_fills_it_from_the_queue() {
    let mut m = AgentModel::new("ann");
    m.apply_queue(vec![entry("c", "open", None, 2)]);
    m.apply_receipt("c", 1);
    assert_eq!(
        m.open_tab("c"),
        Some(ClientFrame::Open {
            conversation_id: "c".into()
        })
    );
    assert_eq!(m.open_tab("c"), None);
    assert_eq!(m.tabs, ["c"]);
    let t = m.thread("c").unwrap();
    assert_eq!(t.customer, "cust-c");
    assert_eq!(t.history, HistoryState::Loading);
    assert_eq!(t.other_read_seq, 1);

    m.apply_history(
        "c",
        vec![message("c", FromRole::Customer, "Quinn", 1, "a", "q1")],
        false,
    );
    // Messages of conversations not open only move the queue.
    m.apply_message(message("other", FromRole::Customer, "Zed", 1, "z", "z1"));
    assert!(m.thread("other").is_none());
    let (seq, frame) = m.read_frame("c").unwrap();
    assert_eq!(seq, 1);
    assert_eq!(
        frame,
        ClientFrame::Read {
            peer: None,
            conversation_id: Some("c".into()),
            up_to_seq: 1
        }
    );
    m.mark_read_sent("c", 1);
    assert!(m.read_frame("c").is_none());
    m.close_tab("c");
    assert!(m.tabs.is_empty() && m.thread("c").is_none());
}

#[test]
fn a_refused_reply_is_marked_and_other_errors_go_to_the_last_action() {
    let mut m = AgentModel::new("ann");
    m.open_tab("a");
    m.open_tab("b");
    m.apply_history("a", vec![], false);
    m.apply_history("b", vec![], false);
    m.thread_mut("a").unwrap().queue_send("x1", "hello");
    m.apply_error(
        ErrorCode::Forbidden,
        "bob is handling this",
        Some("x1"),
        0.0,
    );
    let rows = m.thread("a").unwrap().rows();
    assert_eq!(rows[0].status, Some(MsgStatus::Failed));
    assert_eq!(m.notices.for_peer(Some("a")).len(), 1);

    let transfer = ClientFrame::Transfer {
        conversation_id: "b".into(),
        to: "nobody".into(),
    };
    m.action("b", transfer);
    m.apply_error(ErrorCode::NotFound, "no agent named \"nobody\"", None, 0.0);
    let notices = m.notices.for_peer(Some("b"));
    assert_eq!(notices.len(), 1);
    assert!(notices[0].text.contains("nobody"));
    assert_eq!(
        m.notices.for_peer(Some("a")).len(),
        1,
        "a's notice stays a's"
    );
}

#[test]
fn opening_a_conversation_that_does_not_exist_stops_loading() {
    let mut m = AgentModel::new("ann");
    m.open_tab("ghost");
    m.apply_error(ErrorCode::NotFound, "no support conversation", None, 0.0);
    assert_eq!(m.thread("ghost").unwrap().history, HistoryState::Loaded);
}

#[test]
fn resume_asks_for_the_queue_and_each_tab_by_its_own_last_seq() {
    let mut m = AgentModel::new("ann");
    m.open_tab("a");
    m.open_tab("b");
    m.apply_history(
        "a",
        vec![message("a", FromRole::Customer, "Q", 7, "x", "q7")],
        true,
    );
    m.thread_mut("a").unwrap().queue_send("r1", "reply");
    // b's page never came (the socket dropped first).
    assert_eq!(
        m.resume_frames(),
        vec![
            ClientFrame::Queue,
            ClientFrame::Sync {
                peer: None,
                conversation_id: Some("a".into()),
                after_seq: 7
            },
            ClientFrame::Send {
                to: None,
                conversation_id: Some("a".into()),
                body: "reply".into(),
                client_msg_id: "r1".into()
            },
            ClientFrame::Open {
                conversation_id: "b".into()
            },
        ]
    );
}

#[test]
fn customer_typing_shows_until_it_expires_or_they_write() {
    let mut m = AgentModel::new("ann");
    m.apply_queue(vec![entry("c", "open", None, 1)]);
    m.apply_typing("c", 1000.0);
    assert!(m.rows(Filter::Waiting, 500.0)[0].typing);
    assert!(!m.rows(Filter::Waiting, 1500.0)[0].typing);
    m.apply_message(message("c", FromRole::Customer, "Q", 2, "x", "q2"));
    assert!(!m.is_typing("c", 500.0));
    assert!(m.prune(2000.0) || m.typing.is_empty());
}
