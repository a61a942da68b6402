//! Corner cases of support identity: resends (after a hand-over, with nobody online), an agent
//! whose name collides with the customer's author tag, a username that equals a conversation
//! id, and errors that a client must be able to match to the message it sent.
#![cfg(feature = "ssr")]

mod common;

use common::spawn_app;
use common::support::{self, add_account, customer, AgentConsole};
use confab::protocol::Role;

#[tokio::test]
async fn agent_resend_after_the_conversation_moved_to_another_agent_returns_the_original_accepted()
{
    let app = spawn_app().await;
    let (_, mut ann) = support::agent(&app, "ann").await;
    let (c, mut socket) = customer(&app, "A").await;
    let id = c.conversation_id.as_str();
    socket.say("hi", "mv-1").await;
    socket.expect_status("assigned", Some("ann")).await;
    let first = ann.support_reply(id, "on it", "mv-a").await;

    // bob takes over; ann's client retries the send it is unsure about (e.g. after a reconnect).
    let (_, mut bob) = support::agent(&app, "bob").await;
    bob.console("claim", id).await;
    socket.expect_status("assigned", Some("bob")).await;
    ann.support_send(id, "on it", "mv-a").await;
    let answer = ann
        .expect_where("accepted or error for mv-a", |f| {
            f["client_msg_id"] == "mv-a" && (f["type"] == "accepted" || f["type"] == "error")
        })
        .await;
    assert_eq!(
        answer["type"], "accepted",
        "a resend of a stored message is acknowledged, not refused: {answer}"
    );
    assert_eq!(answer["id"], first["id"]);
    assert_eq!(answer["seq"], first["seq"]);
}

#[tokio::test]
async fn agent_named_customer_is_not_mistaken_for_the_customer_when_deduplicating() {
    let app = spawn_app().await;
    add_account(&app, "customer", Role::Agent).await;
    let cookie = app.login("customer").await;
    let mut agent = app.connect(&cookie).await;
    let (c, mut socket) = customer(&app, "Real Customer").await;
    let id = c.conversation_id.as_str();
    let theirs = socket.say("question", "same-id").await;
    assert_eq!(theirs["seq"], 1);
    agent.expect_message("same-id").await;

    // The agent's client happens to pick the same client_msg_id: it is a different sender.
    let mine = agent.support_reply(id, "answer", "same-id").await;
    assert_eq!(mine["seq"], 2, "a new message from the agent: {mine}");
    assert_ne!(mine["id"], theirs["id"]);
    let m = socket
        .expect_where("the agent's answer", |f| {
            f["type"] == "message" && f["from_role"] == "agent"
        })
        .await;
    assert_eq!(m["body"], "answer");
}

#[tokio::test]
async fn agent_gets_direct_messages_from_a_user_whose_name_equals_a_conversation_id() {
    let app = spawn_app().await;
    let (_, mut ann) = support::agent(&app, "ann").await;
    let (c, mut socket) = customer(&app, "A").await;
    for i in 1..=3 {
        socket
            .say(&format!("support {i}"), &format!("col-{i}"))
            .await;
    }
    ann.expect_message("col-3").await;

    // Conversation ids are valid usernames; the same person may hold both.
    let (_, mut user) = app.user(&c.conversation_id).await;
    user.dm("ann", "a direct message", "col-dm").await;
    let dm = ann.expect_message("col-dm").await;
    assert_eq!(dm["from"], c.conversation_id.as_str());
    assert_eq!(dm["seq"], 1);

    // And support messages keep arriving after the direct one.
    socket.say("support 4", "col-4").await;
    ann.expect_message("col-4").await;
}

#[tokio::test]
async fn agent_send_to_an_unknown_conversation_is_not_found_with_its_client_msg_id() {
    let app = spawn_app().await;
    let (_, mut ann) = support::agent(&app, "ann").await;
    ann.support_send("0123456789abcdef0123456789abcdef", "hello?", "nf-1")
        .await;
    let error = ann.expect_error("not_found").await;
    assert_eq!(
        error["client_msg_id"], "nf-1",
        "the client can tell which pending message failed"
    );
    ann.ping_pong().await;
    assert!(!ann.saw(|f| f["type"] == "accepted"));
}

#[tokio::test]
async fn customer_resend_while_no_agent_is_online_is_not_reported_delivered() {
    let app = spawn_app().await;
    let (_, mut socket) = customer(&app, "A").await;
    let first = socket.say("anyone?", "dl-1").await;
    assert_eq!(first["delivered"], false, "no agent is online");
    let again = socket.say("anyone?", "dl-1").await;
    assert_eq!(again["id"], first["id"]);
    assert_eq!(
        again["delivered"], false,
        "still nobody has seen it: the resend gets the same accepted: {again}"
    );
}

#[tokio::test]
async fn customer_typing_uses_the_new_name_after_a_rename() {
    let app = spawn_app().await;
    let (_, mut ann) = support::agent(&app, "ann").await;
    let (c, mut socket) = customer(&app, "Alice").await;
    socket.say("hi", "rn-1").await;
    ann.expect_message("rn-1").await;

    let renamed = support::start(
        &app,
        Some(serde_json::json!({"name": "Alice Smith"})),
        Some(&c.cookie),
    )
    .await;
    assert_eq!(renamed.status, 200, "{renamed:?}");
    socket.say("renamed", "rn-2").await;
    assert_eq!(ann.expect_message("rn-2").await["from"], "Alice Smith");
    // The same open socket: the agent sees one name for the customer, not two.
    socket
        .send_json(serde_json::json!({"type": "typing"}))
        .await;
    assert_eq!(ann.expect("typing").await["from"], "Alice Smith");
}
