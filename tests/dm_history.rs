//! `history`: pages of a conversation, oldest first, newest page by default.
#![cfg(feature = "ssr")]

mod common;

use common::{seqs, spawn_app, spawn_app_with, WsClient};
use serde_json::{json, Value};

/// Sends `n` messages alice → bob (pipelined, then all `accepted` awaited).
async fn send_many(alice: &mut WsClient, n: u64) {
    for i in 1..=n {
        alice
            .send_dm("bob", &format!("msg {i}"), &format!("h{i}"))
            .await;
    }
    for i in 1..=n {
        alice.expect_accepted(&format!("h{i}")).await;
    }
}

async fn history(socket: &mut WsClient, request: Value) -> Value {
    socket.send_json(request).await;
    let page = socket.expect("history_page").await;
    for m in page["messages"].as_array().expect("messages array") {
        assert_eq!(m["type"], Value::Null, "messages inside a page are records");
        assert!(m["id"].is_string() && m["sent_at"].is_string(), "{m}");
    }
    page
}

#[tokio::test]
async fn history_pages_backwards_oldest_first_until_has_more_is_false() {
    let app = spawn_app().await;
    let (_, mut alice) = app.user("alice").await;
    let (_, mut bob) = app.user("bob").await;
    send_many(&mut alice, 6).await;
    bob.dm("alice", "bob's turn", "b7").await;

    let page = history(
        &mut bob,
        json!({"type": "history", "peer": "alice", "limit": 3}),
    )
    .await;
    assert_eq!(page["peer"], "alice");
    assert_eq!(seqs(page["messages"].as_array().unwrap()), vec![5, 6, 7]);
    assert_eq!(page["has_more"], true);
    let newest = &page["messages"][2];
    assert_eq!(newest["from"], "bob");
    assert_eq!(newest["peer"], "alice", "peer seen from the requester");
    assert_eq!(newest["body"], "bob's turn");
    assert_eq!(newest["client_msg_id"], "b7");
    assert_eq!(page["messages"][0]["from"], "alice");
    assert_eq!(page["messages"][0]["body"], "msg 5");

    let page = history(
        &mut bob,
        json!({"type": "history", "peer": "alice", "before_seq": 5, "limit": 3}),
    )
    .await;
    assert_eq!(seqs(page["messages"].as_array().unwrap()), vec![2, 3, 4]);
    assert_eq!(page["has_more"], true);

    let page = history(
        &mut bob,
        json!({"type": "history", "peer": "alice", "before_seq": 2, "limit": 3}),
    )
    .await;
    assert_eq!(seqs(page["messages"].as_array().unwrap()), vec![1]);
    assert_eq!(page["has_more"], false, "seq 1 reached");

    // An exact fit also ends paging.
    let page = history(
        &mut alice,
        json!({"type": "history", "peer": "bob", "before_seq": 4, "limit": 3}),
    )
    .await;
    assert_eq!(seqs(page["messages"].as_array().unwrap()), vec![1, 2, 3]);
    assert_eq!(page["has_more"], false);
    assert_eq!(page["messages"][0]["peer"], "bob");
}

#[tokio::test]
async fn history_is_empty_without_more_when_there_is_no_conversation() {
    let app = spawn_app().await;
    let (_, mut alice) = app.user("alice").await;
    app.register("bob").await;
    let page = history(&mut alice, json!({"type": "history", "peer": "bob"})).await;
    assert_eq!(
        page,
        json!({"type": "history_page", "peer": "bob", "messages": [], "has_more": false})
    );
}

#[tokio::test]
async fn history_limit_defaults_to_50_and_is_clamped_to_100() {
    let app = spawn_app_with(|s| {
        s.rate_per_sec = 10_000;
        s.rate_burst = 10_000;
    })
    .await;
    let (_, mut alice) = app.user("alice").await;
    app.register("bob").await;
    send_many(&mut alice, 130).await;

    let page = history(&mut alice, json!({"type": "history", "peer": "bob"})).await;
    let got = seqs(page["messages"].as_array().unwrap());
    assert_eq!(
        got,
        (81..=130).collect::<Vec<_>>(),
        "newest 50, oldest first"
    );
    assert_eq!(page["has_more"], true);

    let page = history(
        &mut alice,
        json!({"type": "history", "peer": "bob", "limit": 1000}),
    )
    .await;
    let got = seqs(page["messages"].as_array().unwrap());
    assert_eq!(got, (31..=130).collect::<Vec<_>>(), "clamped to 100");
    assert_eq!(page["has_more"], true);

    let page = history(
        &mut alice,
        json!({"type": "history", "peer": "bob", "before_seq": 31, "limit": 100}),
    )
    .await;
    assert_eq!(
        seqs(page["messages"].as_array().unwrap()),
        (1..=30).collect::<Vec<_>>()
    );
    assert_eq!(page["has_more"], false);
}

#[tokio::test]
async fn opening_a_conversation_tells_whether_the_peer_is_online_even_before_any_message() {
    let app = spawn_app().await;
    let (_, mut alice) = app.user("alice").await;
    let bob_cookie = app.register("bob").await;

    history(&mut alice, json!({"type": "history", "peer": "bob"})).await;
    let offline = alice.expect("presence").await;
    assert_eq!(
        offline,
        json!({"type": "presence", "user": "bob", "online": false})
    );

    let _bob = app.connect(&bob_cookie).await;
    history(&mut alice, json!({"type": "history", "peer": "bob"})).await;
    let online = alice.expect("presence").await;
    assert_eq!(
        online,
        json!({"type": "presence", "user": "bob", "online": true})
    );

    // Older pages do not repeat it.
    history(
        &mut alice,
        json!({"type": "history", "peer": "bob", "before_seq": 1}),
    )
    .await;
    alice.ping_pong().await;
    assert_eq!(
        alice.seen_where(|f| f["type"] == "presence").len(),
        2,
        "{:?}",
        alice.seen
    );
}
