//! The agent console on `/ws`: queue, open, replies, read and typing, history and sync.
#![cfg(feature = "ssr")]

mod common;

use common::support::{self, customer, queue_entry, AgentConsole};
use common::{assert_rfc3339_utc, seqs, spawn_app, spawn_app_with};
use serde_json::{json, Value};

#[tokio::test]
async fn agent_sees_a_new_conversation_in_the_queue_and_its_messages_live() {
    let app = spawn_app().await;
    let (_, mut ann) = support::agent(&app, "ann").await;
    let (c, mut socket) = customer(&app, "Dora").await;
    let id = c.conversation_id.as_str();
    let accepted = socket.say("where is my parcel?", "q-1").await;
    assert_eq!(accepted["delivered"], true, "an agent is online");

    let m = ann.expect_message("q-1").await;
    assert_eq!(m["id"], accepted["id"]);
    assert_eq!(m["conversation_id"], id);
    assert_eq!(m["from_role"], "customer");
    assert_eq!(m["from"], "Dora");
    assert_eq!(m["seq"], 1);
    assert_eq!(m["body"], "where is my parcel?");
    assert_rfc3339_utc(&m["sent_at"]);

    let delta = ann
        .expect_queue_entry(id, "with the message", |e| e["last_seq"] == 1)
        .await;
    assert_eq!(delta["customer"], "Dora");
    assert_eq!(delta["unread"], 1);
    assert_eq!(delta["last_message"]["body"], "where is my parcel?");
    assert_eq!(delta["last_message"]["from_role"], "customer");

    ann.expect_assigned(id, "ann").await;
    let queue = ann.queue_snapshot().await;
    let entry = queue
        .iter()
        .find(|e| e["conversation_id"] == id)
        .expect("the conversation is in the queue");
    assert_eq!(entry["customer"], "Dora");
    assert_eq!(entry["status"], "assigned");
    assert_eq!(entry["assignee"], "ann");
    assert_eq!(entry["unread"], 1);
    assert_eq!(entry["last_seq"], 1);
    assert_eq!(entry["last_message"]["id"], accepted["id"]);
}

#[tokio::test]
async fn queue_lists_conversations_with_messages_and_recently_resolved_but_not_empty_ones() {
    let app = spawn_app().await;
    let (_, mut ann) = support::agent(&app, "ann").await;
    let (waiting, mut w) = customer(&app, "W").await;
    let (empty, _e) = customer(&app, "E").await;
    let (done, mut d) = customer(&app, "D").await;
    w.say("help", "l-1").await;
    d.say("help too", "l-2").await;
    ann.expect_assigned(&done.conversation_id, "ann").await;
    ann.console("resolve", &done.conversation_id).await;
    d.expect_status("resolved", Some("ann")).await;

    let queue = ann.queue_snapshot().await;
    let ids: Vec<&Value> = queue.iter().map(|e| &e["conversation_id"]).collect();
    assert!(ids.contains(&&json!(waiting.conversation_id)), "{queue:?}");
    assert!(ids.contains(&&json!(done.conversation_id)), "{queue:?}");
    assert!(
        !ids.contains(&&json!(empty.conversation_id)),
        "a conversation without messages is not in the queue: {queue:?}"
    );
    let resolved = queue
        .iter()
        .find(|e| e["conversation_id"] == done.conversation_id.as_str())
        .unwrap();
    assert_eq!(resolved["status"], "resolved");
}

#[tokio::test]
async fn open_returns_the_queue_entry_then_the_newest_history_page() {
    let app = spawn_app().await;
    let (c, mut socket) = customer(&app, "Eve").await;
    socket.say("first", "o-1").await;
    socket.say("second", "o-2").await;
    let (_, mut bob) = support::agent(&app, "bob").await;
    bob.console("open", &c.conversation_id).await;
    let entry = bob
        .expect_where("open's queue entry", |f| {
            f["type"] == "queue" && f["conversations"].as_array().is_some_and(|a| a.len() == 1)
        })
        .await;
    let entry = queue_entry(&entry, &c.conversation_id).expect("the opened conversation");
    assert_eq!(entry["customer"], "Eve");
    assert_eq!(entry["last_seq"], 2);
    let page = bob.expect("history_page").await;
    assert_eq!(page["conversation_id"], c.conversation_id.as_str());
    assert_eq!(page["has_more"], false);
    let messages = page["messages"].as_array().unwrap();
    assert_eq!(seqs(messages), vec![1, 2]);
    assert_eq!(messages[0]["body"], "first");
    assert_eq!(messages[1]["from"], "Eve");
    assert_eq!(messages[1]["from_role"], "customer");
}

#[tokio::test]
async fn agent_reply_reaches_the_customer_and_every_agent_as_an_agent_message() {
    let app = spawn_app().await;
    let (_, mut ann) = support::agent(&app, "ann").await;
    let (_, mut bob) = support::agent(&app, "bob").await;
    let (c, mut socket) = customer(&app, "Finn").await;
    let id = c.conversation_id.as_str();
    socket.say("hi", "r-1").await;
    bob.expect_message("r-1").await;
    ann.expect_assigned(id, "ann").await;

    let accepted = ann.support_reply(id, "Hello Finn!", "r-a").await;
    assert_eq!(accepted["seq"], 2);
    assert_eq!(accepted["conversation_id"], id);
    assert_eq!(accepted["delivered"], true, "the customer is online");
    assert_rfc3339_utc(&accepted["sent_at"]);
    for m in [
        socket.expect_message("r-a").await,
        ann.expect_message("r-a").await,
        bob.expect_message("r-a").await,
    ] {
        assert_eq!(m["id"], accepted["id"]);
        assert_eq!(m["conversation_id"], id);
        assert_eq!(m["from_role"], "agent");
        assert_eq!(m["from"], "ann");
        assert_eq!(m["seq"], 2);
        assert_eq!(m["body"], "Hello Finn!");
    }
    socket.close().await;
    let offline = ann.support_reply(id, "are you still there?", "r-b").await;
    assert_eq!(offline["delivered"], false, "the customer left");
}

#[tokio::test]
async fn agent_resend_with_the_same_client_msg_id_gives_the_same_accepted() {
    let app = spawn_app().await;
    let (_, mut ann) = support::agent(&app, "ann").await;
    let (c, mut socket) = customer(&app, "G").await;
    socket.say("hi", "i-1").await;
    ann.expect_assigned(&c.conversation_id, "ann").await;
    let first = ann.support_reply(&c.conversation_id, "once", "i-a").await;
    let again = ann.support_reply(&c.conversation_id, "once", "i-a").await;
    assert_eq!(again["id"], first["id"]);
    assert_eq!(again["seq"], first["seq"]);
    // The customer's own id space is separate: the same id from the customer is new.
    let theirs = socket.say("mine", "i-a").await;
    assert_eq!(theirs["seq"], 3);
    socket.ping_pong().await;
    let copies = socket.seen_where(|f| f["type"] == "message" && f["from_role"] == "agent");
    assert_eq!(copies.len(), 1, "one agent message: {copies:?}");
}

#[tokio::test]
async fn agent_read_sends_a_receipt_to_the_customer_and_clears_unread() {
    let app = spawn_app().await;
    let (_, mut ann) = support::agent(&app, "ann").await;
    let (c, mut socket) = customer(&app, "H").await;
    let id = c.conversation_id.as_str();
    socket.say("one", "u-1").await;
    socket.say("two", "u-2").await;
    ann.expect_queue_entry(id, "unread 2", |e| e["unread"] == 2)
        .await;

    ann.send_json(json!({"type": "read", "conversation_id": id, "up_to_seq": 2}))
        .await;
    let receipt = socket.expect("receipt").await;
    assert_eq!(receipt["peer"], id);
    assert_eq!(receipt["kind"], "read");
    assert_eq!(receipt["up_to_seq"], 2);
    let queue = ann.queue_snapshot().await;
    let entry = queue.iter().find(|e| e["conversation_id"] == id).unwrap();
    assert_eq!(entry["unread"], 0);

    socket.say("three", "u-3").await;
    ann.expect_queue_entry(id, "unread 1 again", |e| {
        e["last_seq"] == 3 && e["unread"] == 1
    })
    .await;
}

#[tokio::test]
async fn agent_typing_reaches_the_customer() {
    let app = spawn_app().await;
    let (_, mut ann) = support::agent(&app, "ann").await;
    let (c, mut socket) = customer(&app, "I").await;
    socket.say("hi", "ty-1").await;
    ann.expect_assigned(&c.conversation_id, "ann").await;
    ann.send_json(json!({"type": "typing", "conversation_id": c.conversation_id}))
        .await;
    let typing = socket.expect("typing").await;
    assert_eq!(typing["from"], "ann");
    assert_eq!(typing["conversation_id"], c.conversation_id.as_str());
}

#[tokio::test]
async fn agent_pages_history_and_syncs_by_conversation_id() {
    let app = spawn_app().await;
    let (c, mut socket) = customer(&app, "J").await;
    for i in 1..=5 {
        socket.say(&format!("m{i}"), &format!("hs-{i}")).await;
    }
    let (_, mut ann) = support::agent(&app, "ann").await;
    let id = c.conversation_id.as_str();
    ann.send_json(json!({"type": "history", "conversation_id": id, "before_seq": 4, "limit": 2}))
        .await;
    let page = ann.expect("history_page").await;
    assert_eq!(page["conversation_id"], id);
    assert_eq!(seqs(page["messages"].as_array().unwrap()), vec![2, 3]);
    assert_eq!(page["has_more"], true);

    let mark = ann.seen.len();
    ann.send_json(json!({"type": "sync", "conversation_id": id, "after_seq": 3}))
        .await;
    let synced = ann.expect("synced").await;
    assert_eq!(synced["conversation_id"], id);
    assert_eq!(synced["last_seq"], 5);
    let resent: Vec<Value> = ann.seen[mark..]
        .iter()
        .filter(|f| f["type"] == "message")
        .cloned()
        .collect();
    assert_eq!(seqs(&resent), vec![4, 5]);
    assert_eq!(resent[1]["body"], "m5");
}

#[tokio::test]
async fn queue_lists_at_most_50_resolved_conversations() {
    let app = spawn_app_with(|s| {
        s.rate_per_sec = 1000;
        s.rate_burst = 1000;
    })
    .await;
    let (_, mut ann) = support::agent(&app, "ann").await;
    let (live, mut socket) = customer(&app, "Live").await;
    socket.say("still open", "rl-1").await;
    let mut last = String::new();
    for i in 0..52 {
        let (c, mut done) = customer(&app, &format!("done {i}")).await;
        done.say("thanks, solved", &format!("done-{i}")).await;
        ann.console("resolve", &c.conversation_id).await;
        last = c.conversation_id;
    }
    // A conversation without a single message is not worth listing, even once resolved.
    let empty = support::new_customer(&app, "never wrote").await;
    ann.console("resolve", &empty.conversation_id).await;
    ann.expect_queue_entry(&last, "resolved", |e| e["status"] == "resolved")
        .await;
    let queue = ann.queue_snapshot().await;
    let resolved = queue.iter().filter(|e| e["status"] == "resolved").count();
    assert_eq!(resolved, 50, "{} entries", queue.len());
    assert!(queue
        .iter()
        .any(|e| e["conversation_id"] == live.conversation_id.as_str()));
    assert!(queue.iter().any(|e| e["conversation_id"] == last.as_str()));
    assert!(!queue
        .iter()
        .any(|e| e["conversation_id"] == empty.conversation_id.as_str()));
}
