//! Who may do what in support: unknown conversations, non-agents, and conversations another
//! agent handles.
#![cfg(feature = "ssr")]

mod common;

use common::spawn_app;
use common::support::{self, add_account, customer, AgentConsole};
use confab::protocol::Role;
use serde_json::json;

const NO_SUCH: &str = "0123456789abcdef0123456789abcdef";

#[tokio::test]
async fn unknown_conversation_is_not_found_for_every_console_frame() {
    let app = spawn_app().await;
    let (_, mut ann) = support::agent(&app, "ann").await;
    for frame in [
        json!({"type": "open", "conversation_id": NO_SUCH}),
        json!({"type": "claim", "conversation_id": NO_SUCH}),
        json!({"type": "resolve", "conversation_id": NO_SUCH}),
        json!({"type": "transfer", "conversation_id": NO_SUCH, "to": "ann"}),
        json!({"type": "history", "conversation_id": NO_SUCH}),
        json!({"type": "sync", "conversation_id": NO_SUCH, "after_seq": 0}),
        json!({"type": "open", "conversation_id": ""}),
    ] {
        ann.send_json(frame.clone()).await;
        ann.expect_error("not_found").await;
        ann.ping_pong().await;
    }
    let queue = ann.queue_snapshot().await;
    assert!(queue.is_empty(), "nothing was created: {queue:?}");
}

#[tokio::test]
async fn transfer_to_someone_who_is_not_an_agent_is_not_found() {
    let app = spawn_app().await;
    app.register("bob").await;
    let (_, mut ann) = support::agent(&app, "ann").await;
    let (c, mut socket) = customer(&app, "K").await;
    socket.say("hi", "tr-1").await;
    ann.expect_assigned(&c.conversation_id, "ann").await;
    for to in ["bob", "nobody", "", "Not A Name!"] {
        ann.send_json(json!({"type": "transfer", "conversation_id": c.conversation_id, "to": to}))
            .await;
        ann.expect_error("not_found").await;
    }
    ann.ping_pong().await;
    socket.ping_pong().await;
    assert!(
        !socket.seen[2..]
            .iter()
            .any(|f| f["type"] == "status" && f["assignee"] != "ann"),
        "the conversation stayed with ann: {:?}",
        socket.seen
    );
}

#[tokio::test]
async fn non_agent_user_gets_forbidden_for_every_agent_frame() {
    let app = spawn_app().await;
    let (c, mut socket) = customer(&app, "L").await;
    socket.say("private", "f-1").await;
    let (_, mut bob) = app.user("bob").await;
    let id = c.conversation_id.as_str();
    for frame in [
        json!({"type": "queue"}),
        json!({"type": "open", "conversation_id": id}),
        json!({"type": "claim", "conversation_id": id}),
        json!({"type": "resolve", "conversation_id": id}),
        json!({"type": "transfer", "conversation_id": id, "to": "bob"}),
        json!({"type": "availability", "available": true}),
        json!({"type": "send", "conversation_id": id, "body": "x", "client_msg_id": "f-b"}),
        json!({"type": "history", "conversation_id": id}),
        json!({"type": "sync", "conversation_id": id, "after_seq": 0}),
        json!({"type": "read", "conversation_id": id, "up_to_seq": 1}),
        json!({"type": "typing", "conversation_id": id}),
        json!({"type": "open", "conversation_id": NO_SUCH}),
    ] {
        bob.send_json(frame.clone()).await;
        let e = bob.expect_error("forbidden").await;
        assert!(e["message"].is_string(), "{frame}: {e}");
        bob.ping_pong().await;
    }
    assert!(
        !bob.saw(|f| matches!(
            f["type"].as_str(),
            Some("queue" | "history_page" | "message" | "synced" | "accepted")
        )),
        "nothing of the conversation leaked: {:?}",
        bob.seen
    );
    socket.ping_pong().await;
    assert!(
        !socket.saw(|f| f["type"] == "receipt"
            || f["type"] == "typing"
            || f["client_msg_id"] == "f-b"
            || (f["type"] == "status" && f["status"] != "open")),
        "the customer saw none of it: {:?}",
        socket.seen
    );
}

#[tokio::test]
async fn agent_cannot_send_in_a_conversation_another_agent_handles_until_claiming() {
    let app = spawn_app().await;
    let (_, mut ann) = support::agent(&app, "ann").await;
    let (c, mut socket) = customer(&app, "M").await;
    let id = c.conversation_id.as_str();
    socket.say("hi", "x-1").await;
    socket.expect_status("assigned", Some("ann")).await;
    let (_, mut bob) = support::agent(&app, "bob").await;

    bob.support_send(id, "let me butt in", "x-b1").await;
    let e = bob.expect_error("forbidden").await;
    assert_eq!(e["client_msg_id"], "x-b1");
    bob.ping_pong().await;
    assert!(!bob.saw(|f| f["type"] == "accepted"));

    bob.console("claim", id).await;
    socket.expect_status("assigned", Some("bob")).await;
    ann.expect_assigned(id, "bob").await;
    let accepted = bob
        .support_reply(id, "I'll take it from here", "x-b2")
        .await;
    assert_eq!(accepted["seq"], 2, "the refused send stored nothing");
    assert_eq!(socket.expect_message("x-b2").await["from"], "bob");

    ann.support_send(id, "me again", "x-a1").await;
    assert_eq!(ann.expect_error("forbidden").await["client_msg_id"], "x-a1");
    socket.ping_pong().await;
    assert!(!socket.saw(|f| f["client_msg_id"] == "x-b1" || f["client_msg_id"] == "x-a1"));
}

#[tokio::test]
async fn admin_may_send_in_a_conversation_another_agent_handles() {
    let app = spawn_app().await;
    let (_, mut ann) = support::agent(&app, "ann").await;
    let (c, mut socket) = customer(&app, "N").await;
    let id = c.conversation_id.as_str();
    socket.say("hi", "ad-1").await;
    socket.expect_status("assigned", Some("ann")).await;

    add_account(&app, "root", Role::Admin).await;
    let cookie = app.login("root").await;
    let mut root = app.connect(&cookie).await;
    assert_eq!(root.hello["role"], "admin");
    root.console("open", id).await;
    root.expect("history_page").await;
    let accepted = root.support_reply(id, "admin here", "ad-r").await;
    assert_eq!(accepted["seq"], 2);
    let m = socket.expect_message("ad-r").await;
    assert_eq!(m["from"], "root");
    assert_eq!(m["from_role"], "agent");
    ann.expect_message("ad-r").await;
}

#[tokio::test]
async fn agent_send_in_a_waiting_conversation_claims_it() {
    let app = spawn_app().await;
    let (_, mut ann) = support::agent(&app, "ann").await;
    ann.set_available(false).await;
    let (c, mut socket) = customer(&app, "O").await;
    let id = c.conversation_id.as_str();
    socket.say("hello?", "cl-1").await;
    socket.expect_status("open", None).await;
    ann.expect_queue_entry(id, "waiting", |e| {
        e["status"] == "open" && e["assignee"].is_null() && e["waiting_since"].is_string()
    })
    .await;

    ann.support_reply(id, "hi, I'm here", "cl-a").await;
    socket.expect_status("assigned", Some("ann")).await;
    let entry = ann.expect_assigned(id, "ann").await;
    assert_eq!(entry["last_seq"], 2);
    assert!(entry.get("waiting_since").is_none_or(|w| w.is_null()));
}

#[tokio::test]
async fn agent_console_page_is_forbidden_to_signed_in_users_who_are_not_agents() {
    let app = spawn_app().await;
    let user = app.register("plain").await;
    assert_eq!(app.get("/agent", Some(&user)).await.status, 403);

    add_account(&app, "ann", Role::Agent).await;
    let agent = app.login("ann").await;
    assert_eq!(app.get("/agent", Some(&agent)).await.status, 200);
    // Signed out: the page loads and sends the visitor to sign in.
    assert_eq!(app.get("/agent", None).await.status, 200);
    // Other pages are not affected.
    assert_eq!(app.get("/support", Some(&user)).await.status, 200);
}
