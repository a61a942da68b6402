//! Who handles a conversation: automatic assignment (least busy, limit, availability), claim,
//! transfer, resolve and reopen.
#![cfg(feature = "ssr")]

mod common;

use common::support::{self, customer, AgentConsole, Customer, SupportClient};
use common::{spawn_app, spawn_app_with, TestApp};
use serde_json::Value;

/// A customer who has written once: their identity and socket.
async fn writing_customer(app: &TestApp, name: &str) -> (Customer, SupportClient, Value) {
    let (c, mut socket) = customer(app, name).await;
    let accepted = socket.say(&format!("{name} needs help"), name).await;
    (c, socket, accepted)
}

/// Waits until the server clock has passed `sent_at`, so the next message is strictly later.
async fn after(sent_at: &Value) {
    let t = chrono::DateTime::parse_from_rfc3339(sent_at.as_str().unwrap()).unwrap();
    while chrono::Utc::now() <= t {
        tokio::time::sleep(std::time::Duration::from_millis(1)).await;
    }
}

#[tokio::test]
async fn first_customer_message_is_assigned_to_the_online_agent() {
    let app = spawn_app().await;
    let (_, mut ann) = support::agent(&app, "ann").await;
    let (c, mut socket) = customer(&app, "P").await;
    assert_eq!(socket.status["status"], "open");
    socket.say("hi", "as-1").await;
    let status = socket.expect_status("assigned", Some("ann")).await;
    assert_eq!(status["conversation_id"], c.conversation_id.as_str());
    let entry = ann.expect_assigned(&c.conversation_id, "ann").await;
    assert_eq!(entry["last_seq"], 1);
    // Later messages do not assign again.
    socket.say("more", "as-2").await;
    socket.ping_pong().await;
    let statuses = socket.seen[2..].iter().filter(|f| f["type"] == "status");
    assert_eq!(statuses.count(), 1, "{:?}", socket.seen);
}

#[tokio::test]
async fn assignment_goes_to_the_least_busy_agent_and_alphabetically_on_ties() {
    let app = spawn_app().await;
    let (_, mut bob) = support::agent(&app, "bob").await;
    let (_, mut ann) = support::agent(&app, "ann").await;
    let (_, mut s1, _) = writing_customer(&app, "c1").await;
    s1.expect_status("assigned", Some("ann")).await;
    let (_, mut s2, _) = writing_customer(&app, "c2").await;
    s2.expect_status("assigned", Some("bob")).await;
    let (_, mut s3, _) = writing_customer(&app, "c3").await;
    s3.expect_status("assigned", Some("ann")).await;
    // ann has 2, bob 1: bob is less busy.
    let (c4, mut s4, _) = writing_customer(&app, "c4").await;
    s4.expect_status("assigned", Some("bob")).await;
    bob.expect_assigned(&c4.conversation_id, "bob").await;
    ann.expect_assigned(&c4.conversation_id, "bob").await;
}

#[tokio::test]
async fn conversations_wait_when_every_agent_is_at_the_limit_and_go_to_an_agent_who_connects() {
    let app = spawn_app_with(|s| s.max_chats_per_agent = 1).await;
    let (_, mut ann) = support::agent(&app, "ann").await;
    let (_, mut s1, _) = writing_customer(&app, "c1").await;
    s1.expect_status("assigned", Some("ann")).await;
    let (c2, mut s2, _) = writing_customer(&app, "c2").await;
    s2.expect_status("open", None).await;
    ann.expect_queue_entry(&c2.conversation_id, "waiting", |e| {
        e["status"] == "open" && e["assignee"].is_null()
    })
    .await;

    let (_, mut carl) = support::agent(&app, "carl").await;
    s2.expect_status("assigned", Some("carl")).await;
    carl.expect_assigned(&c2.conversation_id, "carl").await;
    ann.expect_assigned(&c2.conversation_id, "carl").await;
}

#[tokio::test]
async fn waiting_conversations_are_taken_oldest_first_up_to_the_limit() {
    let app = spawn_app_with(|s| s.max_chats_per_agent = 2).await;
    let (_, mut s1, a1) = writing_customer(&app, "older").await;
    after(&a1["sent_at"]).await;
    let (_, mut s2, a2) = writing_customer(&app, "middle").await;
    after(&a2["sent_at"]).await;
    let (c3, mut s3, _) = writing_customer(&app, "newest").await;
    for s in [&mut s1, &mut s2, &mut s3] {
        s.expect_status("open", None).await;
    }
    // Write to the oldest again: waiting_since stays at its first message.
    s1.say("still waiting", "older-2").await;

    let (_, mut ann) = support::agent(&app, "ann").await;
    s1.expect_status("assigned", Some("ann")).await;
    s2.expect_status("assigned", Some("ann")).await;
    let queue = ann.queue_snapshot().await;
    let newest = queue
        .iter()
        .find(|e| e["conversation_id"] == c3.conversation_id.as_str())
        .unwrap();
    assert_eq!(newest["status"], "open", "ann is at her limit of 2");
    assert!(newest["assignee"].is_null());
    s3.ping_pong().await;
    assert!(!s3.saw(|f| f["type"] == "status" && f["status"] == "assigned"));
}

#[tokio::test]
async fn unavailable_agent_gets_no_automatic_assignments_but_can_claim() {
    let app = spawn_app().await;
    let (_, mut ann) = support::agent(&app, "ann").await;
    ann.set_available(false).await;
    let (c, mut socket, _) = writing_customer(&app, "c1").await;
    socket.expect_status("open", None).await;
    // ann still sees the conversation and its messages.
    ann.expect_message("c1").await;
    ann.expect_queue_entry(&c.conversation_id, "waiting", |e| e["status"] == "open")
        .await;

    ann.console("claim", &c.conversation_id).await;
    socket.expect_status("assigned", Some("ann")).await;
    ann.expect_assigned(&c.conversation_id, "ann").await;
}

#[tokio::test]
async fn agent_becoming_available_takes_the_waiting_conversations() {
    let app = spawn_app().await;
    let (_, mut ann) = support::agent(&app, "ann").await;
    ann.set_available(false).await;
    let (c1, mut s1, _) = writing_customer(&app, "c1").await;
    let (_, mut s2, _) = writing_customer(&app, "c2").await;
    s1.expect_status("open", None).await;
    s2.expect_status("open", None).await;

    ann.set_available(true).await;
    s1.expect_status("assigned", Some("ann")).await;
    s2.expect_status("assigned", Some("ann")).await;
    ann.expect_assigned(&c1.conversation_id, "ann").await;
}

#[tokio::test]
async fn claim_takes_a_conversation_from_another_agent_and_from_resolved() {
    let app = spawn_app().await;
    let (_, mut ann) = support::agent(&app, "ann").await;
    let (c, mut socket, _) = writing_customer(&app, "c1").await;
    let id = c.conversation_id.as_str();
    socket.expect_status("assigned", Some("ann")).await;
    let (_, mut bob) = support::agent(&app, "bob").await;

    bob.console("claim", id).await;
    socket.expect_status("assigned", Some("bob")).await;
    ann.expect_assigned(id, "bob").await;

    bob.console("resolve", id).await;
    socket.expect_status("resolved", Some("bob")).await;
    ann.expect_queue_entry(id, "resolved", |e| e["status"] == "resolved")
        .await;

    ann.console("claim", id).await;
    socket.expect_status("assigned", Some("ann")).await;
    bob.expect_assigned(id, "ann").await;
}

#[tokio::test]
async fn transfer_assigns_to_the_named_agent_and_tells_the_customer() {
    let app = spawn_app().await;
    let (_, mut ann) = support::agent(&app, "ann").await;
    let (c, mut socket, _) = writing_customer(&app, "c1").await;
    let id = c.conversation_id.as_str();
    socket.expect_status("assigned", Some("ann")).await;
    // The receiving agent need not be online.
    support::add_account(&app, "dan", confab::protocol::Role::Agent).await;

    ann.send_json(serde_json::json!({"type": "transfer", "conversation_id": id, "to": "DAN"}))
        .await;
    socket.expect_status("assigned", Some("dan")).await;
    ann.expect_assigned(id, "dan").await;
    ann.support_send(id, "still me?", "tf-a").await;
    assert_eq!(ann.expect_error("forbidden").await["client_msg_id"], "tf-a");

    let cookie = app.login("dan").await;
    let mut dan = app.connect(&cookie).await;
    let accepted = dan.support_reply(id, "Dan here", "tf-d").await;
    assert_eq!(accepted["seq"], 2);
    assert_eq!(socket.expect_message("tf-d").await["from"], "dan");
}

#[tokio::test]
async fn customer_message_reopens_a_resolved_conversation_and_it_is_assigned_again() {
    let app = spawn_app().await;
    let (_, mut ann) = support::agent(&app, "ann").await;
    let (c, mut socket, _) = writing_customer(&app, "c1").await;
    let id = c.conversation_id.as_str();
    socket.expect_status("assigned", Some("ann")).await;
    ann.support_reply(id, "done?", "ro-a").await;
    ann.console("resolve", id).await;
    socket.expect_status("resolved", Some("ann")).await;
    ann.expect_queue_entry(id, "resolved", |e| e["status"] == "resolved")
        .await;

    let again = socket.say("one more thing", "ro-2").await;
    assert_eq!(again["seq"], 3);
    socket.expect_status("open", None).await;
    let entry = ann
        .expect_queue_entry(id, "reopened", |e| {
            e["status"] == "open" && e["last_seq"] == 3
        })
        .await;
    assert!(entry["assignee"].is_null());
    assert!(entry["waiting_since"].is_string());
    socket.expect_status("assigned", Some("ann")).await;
    ann.expect_queue_entry(id, "assigned again", |e| {
        e["status"] == "assigned" && e["last_seq"] == 3
    })
    .await;
}

#[tokio::test]
async fn reopened_conversation_waits_when_nobody_is_available() {
    let app = spawn_app().await;
    let (_, mut ann) = support::agent(&app, "ann").await;
    let (c, mut socket, _) = writing_customer(&app, "c1").await;
    let id = c.conversation_id.as_str();
    socket.expect_status("assigned", Some("ann")).await;
    ann.console("resolve", id).await;
    socket.expect_status("resolved", Some("ann")).await;
    // A user who shares a chat with ann sees when she is really gone.
    let (_, mut watcher) = app.user("watcher").await;
    ann.dm("watcher", "brb", "dm-1").await;
    ann.close().await;
    watcher
        .expect_where("ann offline", |f| {
            f["type"] == "presence" && f["user"] == "ann" && f["online"] == false
        })
        .await;

    socket.say("hello again", "rw-2").await;
    socket.expect_status("open", None).await;
    let (_, mut bob) = support::agent(&app, "bob").await;
    socket.expect_status("assigned", Some("bob")).await;
    let queue = bob.queue_snapshot().await;
    let entry = queue.iter().find(|e| e["conversation_id"] == id).unwrap();
    assert_eq!(entry["status"], "assigned");
    assert_eq!(entry["assignee"], "bob");
    assert_eq!(entry["last_seq"], 2);
}

#[tokio::test]
async fn agent_who_frees_a_slot_takes_the_next_waiting_conversation() {
    let app = spawn_app_with(|s| s.max_chats_per_agent = 1).await;
    let (_, mut ann) = support::agent(&app, "ann").await;
    let (c1, mut s1, _) = writing_customer(&app, "c1").await;
    s1.expect_status("assigned", Some("ann")).await;
    let (c2, mut s2, _) = writing_customer(&app, "c2").await;
    s2.expect_status("open", None).await;

    // Resolving c1 frees ann's only slot: c2 stops waiting.
    ann.console("resolve", &c1.conversation_id).await;
    s1.expect_status("resolved", Some("ann")).await;
    s2.expect_status("assigned", Some("ann")).await;
    ann.expect_assigned(&c2.conversation_id, "ann").await;
}

#[tokio::test]
async fn away_is_remembered_when_the_agent_reconnects() {
    let app = spawn_app().await;
    let (cookie, mut ann) = support::agent(&app, "ann").await;
    ann.set_available(false).await;
    ann.ping_pong().await;
    ann.close().await;

    let (c, mut socket, _) = writing_customer(&app, "c1").await;
    socket.expect_status("open", None).await;

    // A reload must not hand ann the waiting conversation behind her back.
    let mut ann = app.connect(&cookie).await;
    ann.ping_pong().await;
    socket.ping_pong().await;
    assert!(
        !socket.saw(|f| f["type"] == "status" && f["status"] == "assigned"),
        "{:?}",
        socket.seen
    );

    // Until she says she is available again.
    ann.set_available(true).await;
    socket.expect_status("assigned", Some("ann")).await;
    ann.expect_assigned(&c.conversation_id, "ann").await;
}
