//! The customer's socket: send, history replay, paging, sync, read, typing, and what a
//! customer may not do.
#![cfg(feature = "ssr")]

mod common;

use common::support::{self, customer, AgentConsole, SupportClient};
use common::{assert_rfc3339_utc, seqs, spawn_app, spawn_app_with};
use serde_json::{json, Value};

#[tokio::test]
async fn customer_send_is_accepted_and_comes_back_as_a_customer_message() {
    let app = spawn_app().await;
    let (c, mut socket) = customer(&app, "Ann Customer").await;
    let accepted = socket.say("  my order is late  ", "c-1").await;
    assert_eq!(accepted["seq"], 1);
    assert_eq!(accepted["conversation_id"], c.conversation_id.as_str());
    assert_eq!(accepted["delivered"], false, "no agent is online to see it");
    assert!(accepted["id"].as_str().is_some_and(|id| !id.is_empty()));
    assert_rfc3339_utc(&accepted["sent_at"]);

    let m = socket.expect_message("c-1").await;
    assert_eq!(m["id"], accepted["id"]);
    assert_eq!(m["conversation_id"], c.conversation_id.as_str());
    assert_eq!(m["from_role"], "customer");
    assert_eq!(m["from"], "Ann Customer");
    assert_eq!(m["body"], "my order is late", "trimmed");
    assert_eq!(m["seq"], 1);
    assert_eq!(m["sent_at"], accepted["sent_at"]);

    assert_eq!(socket.say("two", "c-2").await["seq"], 2);
    assert_eq!(socket.say("three", "c-3").await["seq"], 3);
}

#[tokio::test]
async fn customer_is_told_they_wait_when_no_agent_is_available() {
    let app = spawn_app().await;
    let (c, mut socket) = customer(&app, "A").await;
    socket.say("anyone there?", "w-1").await;
    let status = socket.expect_status("open", None).await;
    assert_eq!(status["conversation_id"], c.conversation_id.as_str());
}

#[tokio::test]
async fn customer_gets_full_history_when_reconnecting() {
    let app = spawn_app().await;
    let (c, mut socket) = customer(&app, "Bea").await;
    let (_, mut ann) = support::agent(&app, "ann").await;
    socket.say("hello", "h-1").await;
    ann.expect_message("h-1").await;
    ann.support_reply(&c.conversation_id, "hi Bea, how can I help?", "a-1")
        .await;
    socket.expect_message("a-1").await;
    socket.say("thanks", "h-2").await;
    socket.close().await;

    let again = SupportClient::connect(&app, &c.cookie).await;
    assert_eq!(again.history["conversation_id"], c.conversation_id.as_str());
    assert_eq!(again.history["has_more"], false);
    let messages = again.history_messages();
    assert_eq!(seqs(&messages), vec![1, 2, 3]);
    let who: Vec<(Value, Value, Value)> = messages
        .iter()
        .map(|m| (m["from_role"].clone(), m["from"].clone(), m["body"].clone()))
        .collect();
    assert_eq!(
        who,
        vec![
            (json!("customer"), json!("Bea"), json!("hello")),
            (
                json!("agent"),
                json!("ann"),
                json!("hi Bea, how can I help?")
            ),
            (json!("customer"), json!("Bea"), json!("thanks")),
        ]
    );
    for m in &messages {
        assert_eq!(m["conversation_id"], c.conversation_id.as_str());
        assert_rfc3339_utc(&m["sent_at"]);
    }
    assert_eq!(again.status["status"], "assigned");
    assert_eq!(again.status["assignee"], "ann");
}

#[tokio::test]
async fn customer_history_replays_the_newest_50_and_pages_back_with_history() {
    let app = spawn_app_with(|s| {
        s.rate_per_sec = 1000;
        s.rate_burst = 1000;
    })
    .await;
    let (c, mut socket) = customer(&app, "A").await;
    for i in 1..=55 {
        socket.send(&format!("m{i}"), &format!("p{i}")).await;
    }
    socket.expect_accepted("p55").await;
    socket.close().await;

    let mut again = SupportClient::connect(&app, &c.cookie).await;
    let newest = again.history_messages();
    assert_eq!(seqs(&newest), (6..=55).collect::<Vec<u64>>());
    assert_eq!(again.history["has_more"], true);

    again
        .send_json(json!({"type": "history", "before_seq": 6, "limit": 3}))
        .await;
    let page = again.expect("history_page").await;
    assert_eq!(page["conversation_id"], c.conversation_id.as_str());
    assert_eq!(
        seqs(page["messages"].as_array().unwrap()),
        vec![3, 4, 5],
        "oldest first"
    );
    assert_eq!(page["has_more"], true);
    again
        .send_json(json!({"type": "history", "before_seq": 3}))
        .await;
    let first = again.expect("history_page").await;
    assert_eq!(seqs(first["messages"].as_array().unwrap()), vec![1, 2]);
    assert_eq!(first["has_more"], false);
}

#[tokio::test]
async fn customer_sync_after_seq_returns_exactly_the_missing_messages() {
    let app = spawn_app().await;
    let (c, mut socket) = customer(&app, "A").await;
    let (_, mut ann) = support::agent(&app, "ann").await;
    socket.say("one", "y-1").await;
    socket.expect_message("y-1").await;
    socket.close().await;
    // While the customer is away the agent answers twice.
    ann.expect_message("y-1").await;
    ann.support_reply(&c.conversation_id, "two", "z-2").await;
    ann.support_reply(&c.conversation_id, "three", "z-3").await;

    // A client that had seen seq 1 asks for the rest.
    let mut again = SupportClient::connect(&app, &c.cookie).await;
    let mark = again.seen.len();
    again
        .send_json(json!({"type": "sync", "after_seq": 1}))
        .await;
    let synced = again.expect("synced").await;
    assert_eq!(synced["conversation_id"], c.conversation_id.as_str());
    assert_eq!(synced["last_seq"], 3);
    let resent = again.seen_where(|f| f["type"] == "message");
    assert_eq!(seqs(&resent), vec![2, 3], "nothing twice, nothing missing");
    assert!(again.seen[mark..]
        .iter()
        .filter(|f| f["type"] == "message")
        .all(|m| m["from_role"] == "agent" && m["from"] == "ann"));

    again
        .send_json(json!({"type": "sync", "after_seq": 3}))
        .await;
    assert_eq!(again.expect("synced").await["last_seq"], 3);
    assert_eq!(again.seen_where(|f| f["type"] == "message").len(), 2);
}

#[tokio::test]
async fn customer_resend_with_the_same_client_msg_id_gives_the_same_accepted() {
    let app = spawn_app().await;
    let (c, mut socket) = customer(&app, "A").await;
    let first = socket.say("only once", "dup-1").await;
    socket.expect_message("dup-1").await;
    let second = socket.say("only once", "dup-1").await;
    assert_eq!(second["id"], first["id"]);
    assert_eq!(second["seq"], first["seq"]);
    socket.ping_pong().await;
    assert_eq!(
        socket
            .seen_where(|f| f["type"] == "message" && f["client_msg_id"] == "dup-1")
            .len(),
        1,
        "one message, however often it is sent"
    );
    socket.close().await;

    let mut again = SupportClient::connect(&app, &c.cookie).await;
    let third = again.say("only once", "dup-1").await;
    assert_eq!(third["id"], first["id"]);
    assert_eq!(third["seq"], 1);
    assert_eq!(again.say("next", "dup-2").await["seq"], 2, "no gap");
    again.ping_pong().await;
    assert_eq!(
        again
            .seen_where(|f| f["type"] == "message" && f["client_msg_id"] == "dup-1")
            .len(),
        0,
        "a resend produces no second message"
    );
    assert_eq!(seqs(&again.history_messages()), vec![1]);
}

#[tokio::test]
async fn customer_gets_forbidden_for_agent_only_frames_and_stays_connected() {
    let app = spawn_app().await;
    let (c, mut socket) = customer(&app, "A").await;
    let id = c.conversation_id.as_str();
    for frame in [
        json!({"type": "queue"}),
        json!({"type": "open", "conversation_id": id}),
        json!({"type": "claim", "conversation_id": id}),
        json!({"type": "resolve", "conversation_id": id}),
        json!({"type": "transfer", "conversation_id": id, "to": "ann"}),
        json!({"type": "availability", "available": true}),
    ] {
        socket.send_json(frame.clone()).await;
        socket.expect_error("forbidden").await;
        socket.ping_pong().await;
    }
    assert!(!socket.saw(|f| f["type"] == "queue"), "{:?}", socket.seen);
}

#[tokio::test]
async fn customer_empty_or_too_long_body_is_refused_with_the_client_msg_id() {
    let app = spawn_app().await;
    let (_, mut socket) = customer(&app, "A").await;
    socket.send("   ", "e-1").await;
    assert_eq!(
        socket.expect_error("empty_body").await["client_msg_id"],
        "e-1"
    );
    socket.send(&"x".repeat(4001), "e-2").await;
    assert_eq!(
        socket.expect_error("too_large").await["client_msg_id"],
        "e-2"
    );
    assert_eq!(socket.say("fine", "e-3").await["seq"], 1, "nothing stored");
}

#[tokio::test]
async fn customer_typing_and_read_reach_the_agents() {
    let app = spawn_app().await;
    let (c, mut socket) = customer(&app, "Cora").await;
    let (_, mut ann) = support::agent(&app, "ann").await;
    socket.say("question", "t-1").await;
    ann.expect_assigned(&c.conversation_id, "ann").await;
    ann.support_reply(&c.conversation_id, "answer", "t-a").await;
    socket.expect_message("t-a").await;

    socket.send_json(json!({"type": "typing"})).await;
    let typing = ann.expect("typing").await;
    assert_eq!(typing["from"], "Cora");
    assert_eq!(typing["conversation_id"], c.conversation_id.as_str());

    socket
        .send_json(json!({"type": "read", "up_to_seq": 2}))
        .await;
    let receipt = ann.expect("receipt").await;
    assert_eq!(receipt["peer"], c.conversation_id.as_str());
    assert_eq!(receipt["kind"], "read");
    assert_eq!(receipt["up_to_seq"], 2);
}

#[tokio::test]
async fn customer_with_two_tabs_gets_every_message_in_both() {
    let app = spawn_app().await;
    let (c, mut tab1) = customer(&app, "Tabs").await;
    let mut tab2 = SupportClient::connect(&app, &c.cookie).await;
    let (_, mut ann) = support::agent(&app, "ann").await;
    tab1.say("from tab 1", "tab-1").await;
    tab2.expect_message("tab-1").await;
    ann.expect_assigned(&c.conversation_id, "ann").await;
    tab2.expect_status("assigned", Some("ann")).await;
    ann.support_reply(&c.conversation_id, "to both", "tab-a")
        .await;
    for tab in [&mut tab1, &mut tab2] {
        let m = tab.expect_message("tab-a").await;
        assert_eq!(m["seq"], 2);
    }
}

#[tokio::test]
async fn customer_without_a_name_is_called_customer() {
    let app = spawn_app().await;
    let reply = support::start(&app, None, None).await;
    let cookie = support::support_cookie(&reply).unwrap();
    let mut socket = SupportClient::connect(&app, &cookie).await;
    socket.say("hi", "nn-1").await;
    assert_eq!(socket.expect_message("nn-1").await["from"], "Customer");
}
