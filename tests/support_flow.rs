//! The whole support flow from the issue, across reconnects and a server restart: nothing is
//! lost, both sides get the full history, resends stay idempotent, and `sync` fills gaps.
#![cfg(feature = "ssr")]

mod common;

use common::support::{self, customer, AgentConsole, SupportClient};
use common::{seqs, spawn_app, Closed};
use serde_json::{json, Value};

fn bodies(messages: &[Value]) -> Vec<String> {
    messages
        .iter()
        .map(|m| m["body"].as_str().unwrap().to_string())
        .collect()
}

#[tokio::test]
async fn support_flow_loses_nothing_across_reconnects_and_a_restart_before_the_reply() {
    let mut app = spawn_app().await;
    let (ann_cookie, mut ann) = support::agent(&app, "ann").await;
    ann.set_available(false).await;

    // The customer starts and writes; the agent sees it waiting in the queue.
    let (c, mut socket) = customer(&app, "Quinn").await;
    let id = c.conversation_id.clone();
    socket.say("hello, my order never came", "f-1").await;
    socket.expect_status("open", None).await;
    ann.expect_message("f-1").await;
    let entry = ann
        .expect_queue_entry(&id, "waiting", |e| e["status"] == "open")
        .await;
    assert_eq!(entry["customer"], "Quinn");
    assert_eq!(entry["last_message"]["body"], "hello, my order never came");

    // The agent claims it; the customer is told who is with them.
    ann.console("claim", &id).await;
    socket.expect_status("assigned", Some("ann")).await;
    ann.expect_assigned(&id, "ann").await;
    socket.say("order number 42", "f-2").await;
    ann.expect_message("f-2").await;

    // The server restarts before the agent answers.
    app.restart().await;
    assert_eq!(socket.expect_closed().await, Closed::Code(1001));
    assert_eq!(ann.expect_closed().await, Closed::Code(1001));

    let mut socket = SupportClient::connect(&app, &c.cookie).await;
    assert_eq!(socket.conversation_id(), id);
    assert_eq!(seqs(&socket.history_messages()), vec![1, 2]);
    assert_eq!(socket.status["status"], "assigned");
    assert_eq!(socket.status["assignee"], "ann");

    let mut ann = app.connect(&ann_cookie).await;
    let queue = ann.queue_snapshot().await;
    let entry = queue
        .iter()
        .find(|e| e["conversation_id"] == id.as_str())
        .expect("the conversation survived the restart");
    assert_eq!(entry["last_seq"], 2);
    assert_eq!(entry["assignee"], "ann");
    ann.console("open", &id).await;
    let page = ann.expect("history_page").await;
    let messages = page["messages"].as_array().unwrap();
    assert_eq!(
        bodies(messages),
        vec!["hello, my order never came", "order number 42"]
    );

    // The reply reaches the customer live.
    let reply = ann
        .support_reply(&id, "Sorry! It ships today.", "f-a")
        .await;
    assert_eq!(reply["seq"], 3);
    assert_eq!(reply["delivered"], true);
    let m = socket.expect_message("f-a").await;
    assert_eq!(
        (m["from_role"].clone(), m["seq"].clone()),
        (json!("agent"), json!(3))
    );

    // Both sides reconnect and get everything.
    socket.close().await;
    ann.close().await;
    let socket = SupportClient::connect(&app, &c.cookie).await;
    let history = socket.history_messages();
    assert_eq!(seqs(&history), vec![1, 2, 3]);
    assert_eq!(
        bodies(&history),
        vec![
            "hello, my order never came",
            "order number 42",
            "Sorry! It ships today."
        ]
    );
    let mut ann = app.connect(&ann_cookie).await;
    ann.console("open", &id).await;
    let page = ann.expect("history_page").await;
    assert_eq!(page["messages"].as_array().unwrap(), &history);
}

#[tokio::test]
async fn resends_stay_idempotent_on_both_sides_across_a_restart() {
    let mut app = spawn_app().await;
    let (ann_cookie, mut ann) = support::agent(&app, "ann").await;
    let (c, mut socket) = customer(&app, "R").await;
    let id = c.conversation_id.clone();
    let mine = socket.say("question", "k-1").await;
    ann.expect_assigned(&id, "ann").await;
    let theirs = ann.support_reply(&id, "answer", "k-a").await;

    app.restart().await;
    socket.expect_closed().await;
    ann.expect_closed().await;
    let mut socket = SupportClient::connect(&app, &c.cookie).await;
    let mut ann = app.connect(&ann_cookie).await;

    let again = socket.say("question", "k-1").await;
    assert_eq!((&again["id"], &again["seq"]), (&mine["id"], &mine["seq"]));
    let again = ann.support_reply(&id, "answer", "k-a").await;
    assert_eq!(
        (&again["id"], &again["seq"]),
        (&theirs["id"], &theirs["seq"])
    );

    assert_eq!(socket.say("next", "k-2").await["seq"], 3);
    ann.expect_message("k-2").await;
    socket.expect_message("k-2").await;
    assert!(
        !ann.saw(|f| f["type"] == "message" && f["client_msg_id"] == "k-1"),
        "no second copy of the resent message: {:?}",
        ann.seen
    );
    assert!(!socket.saw(|f| f["type"] == "message" && f["client_msg_id"] == "k-a"));
    assert_eq!(seqs(&socket.history_messages()), vec![1, 2]);
}

#[tokio::test]
async fn agent_sync_after_reconnect_returns_exactly_the_missing_messages() {
    let app = spawn_app().await;
    let (ann_cookie, mut ann) = support::agent(&app, "ann").await;
    let (c, mut socket) = customer(&app, "S").await;
    let id = c.conversation_id.clone();
    socket.say("one", "g-1").await;
    ann.expect_message("g-1").await;
    ann.support_reply(&id, "two", "g-2").await;
    ann.close().await;
    // While the agent is away the customer writes twice more.
    socket.say("three", "g-3").await;
    socket.say("four", "g-4").await;

    let mut ann = app.connect(&ann_cookie).await;
    ann.send_json(json!({"type": "sync", "conversation_id": id, "after_seq": 2}))
        .await;
    let synced = ann.expect("synced").await;
    assert_eq!(synced["conversation_id"], id.as_str());
    assert_eq!(synced["last_seq"], 4);
    ann.ping_pong().await;
    let got = ann.seen_where(|f| f["type"] == "message");
    assert_eq!(seqs(&got), vec![3, 4], "nothing twice, nothing missing");
    assert_eq!(bodies(&got), vec!["three", "four"]);

    // Live messages after the sync are not repeated either.
    socket.say("five", "g-5").await;
    ann.expect_message("g-5").await;
    ann.ping_pong().await;
    assert_eq!(
        seqs(&ann.seen_where(|f| f["type"] == "message")),
        vec![3, 4, 5]
    );
}
