//! A customer only ever reaches their own conversation: the cookie decides, never an id in a
//! frame, and other customers' traffic never shows up.
#![cfg(feature = "ssr")]

mod common;

use common::support::{self, customer, start, support_cookie, AgentConsole, SupportClient};
use common::{seqs, spawn_app};
use serde_json::json;

#[tokio::test]
async fn a_second_client_without_the_cookie_can_neither_read_nor_write_the_first_conversation() {
    let app = spawn_app().await;
    let (first, mut a) = customer(&app, "First").await;
    a.say("my card number is secret", "iso-a1").await;

    // Another browser: no cookie, so a new conversation with nothing in it.
    let (second, mut b) = customer(&app, "Second").await;
    assert_ne!(second.conversation_id, first.conversation_id);
    assert_eq!(b.history["messages"], json!([]));
    b.say("hello from b", "iso-b1").await;

    // Neither sees the other.
    a.ping_pong().await;
    b.ping_pong().await;
    assert!(!a.saw(|f| f["client_msg_id"] == "iso-b1"), "{:?}", a.seen);
    assert!(!b.saw(|f| f["client_msg_id"] == "iso-a1"), "{:?}", b.seen);
    assert!(!b.saw(|f| f.to_string().contains("secret")));

    // Reconnecting with each cookie gives each conversation only its own messages.
    let a2 = SupportClient::connect(&app, &first.cookie).await;
    assert_eq!(a2.conversation_id(), first.conversation_id);
    let a_history = a2.history_messages();
    assert_eq!(seqs(&a_history), vec![1]);
    assert_eq!(a_history[0]["body"], "my card number is secret");
    let b2 = SupportClient::connect(&app, &second.cookie).await;
    assert_eq!(b2.conversation_id(), second.conversation_id);
    assert_eq!(b2.history_messages()[0]["body"], "hello from b");
    assert_eq!(b2.history_messages().len(), 1);

    // A made-up cookie value gets a fresh conversation from start, and no socket at all.
    let forged = format!("confab_support={}", first.conversation_id);
    let reply = start(&app, None, Some(&forged)).await;
    assert_eq!(reply.status, 201, "{reply:?}");
    assert_ne!(
        reply.json.as_ref().unwrap()["conversation_id"],
        first.conversation_id.as_str()
    );
    let forged_ws = app.raw_upgrade("/ws/support", Some(&forged), None).await;
    assert_eq!(forged_ws.status, 401, "{forged_ws:?}");
    let fresh = SupportClient::connect(&app, &support_cookie(&reply).unwrap()).await;
    assert_eq!(fresh.history["messages"], json!([]));
}

#[tokio::test]
async fn conversation_ids_in_customer_frames_are_ignored() {
    let app = spawn_app().await;
    let (first, mut a) = customer(&app, "First").await;
    a.say("first's message", "ci-a1").await;
    let (second, mut b) = customer(&app, "Second").await;
    let target = first.conversation_id.as_str();

    b.send_json(
        json!({"type": "send", "conversation_id": target, "body": "sneaky",
        "client_msg_id": "ci-b1"}),
    )
    .await;
    let accepted = b.expect_accepted("ci-b1").await;
    assert_eq!(accepted["conversation_id"], second.conversation_id.as_str());
    assert_eq!(
        accepted["seq"], 1,
        "the first message of b's own conversation"
    );

    b.send_json(json!({"type": "history", "conversation_id": target}))
        .await;
    let page = b.expect("history_page").await;
    assert_eq!(page["conversation_id"], second.conversation_id.as_str());
    assert_eq!(page["messages"].as_array().unwrap().len(), 1);
    assert_eq!(page["messages"][0]["body"], "sneaky");

    b.send_json(json!({"type": "sync", "conversation_id": target, "after_seq": 0}))
        .await;
    let synced = b.expect("synced").await;
    assert_eq!(synced["conversation_id"], second.conversation_id.as_str());
    b.send_json(json!({"type": "read", "conversation_id": target, "up_to_seq": 1}))
        .await;
    b.send_json(json!({"type": "typing", "conversation_id": target}))
        .await;
    b.ping_pong().await;
    assert!(!b.saw(|f| f.to_string().contains("first's message")));

    a.ping_pong().await;
    assert!(!a.saw(|f| f["client_msg_id"] == "ci-b1"), "{:?}", a.seen);
    let a2 = SupportClient::connect(&app, &first.cookie).await;
    assert_eq!(
        seqs(&a2.history_messages()),
        vec![1],
        "nothing was added to a"
    );
}

#[tokio::test]
async fn agent_traffic_of_one_conversation_never_reaches_another_customer() {
    let app = spawn_app().await;
    let (_, mut ann) = support::agent(&app, "ann").await;
    let (first, mut a) = customer(&app, "First").await;
    let (_, mut b) = customer(&app, "Second").await;
    a.say("help a", "ag-a1").await;
    b.say("help b", "ag-b1").await;
    ann.expect_assigned(&first.conversation_id, "ann").await;

    ann.support_reply(&first.conversation_id, "for a only", "ag-r1")
        .await;
    ann.send_json(json!({"type": "typing", "conversation_id": first.conversation_id}))
        .await;
    ann.send_json(
        json!({"type": "read", "conversation_id": first.conversation_id, "up_to_seq": 1}),
    )
    .await;
    a.expect_message("ag-r1").await;
    a.expect("typing").await;
    a.expect("receipt").await;
    ann.console("resolve", &first.conversation_id).await;
    a.expect_status("resolved", Some("ann")).await;

    b.ping_pong().await;
    assert!(
        !b.saw(|f| f["conversation_id"] == first.conversation_id.as_str()
            || f["peer"] == first.conversation_id.as_str()),
        "b saw a's conversation: {:?}",
        b.seen
    );
    assert!(!b.saw(|f| f["type"] == "typing" || f["type"] == "receipt"));
}
