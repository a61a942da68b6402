//! Idempotent sends: the same sender + client_msg_id is one message, whatever happens between.
#![cfg(feature = "ssr")]

mod common;

use common::{seqs, spawn_app, WsClient};
use serde_json::json;

/// The fields of `accepted` that identify the stored message.
fn identity(accepted: &serde_json::Value) -> (serde_json::Value, serde_json::Value) {
    (accepted["id"].clone(), accepted["seq"].clone())
}

async fn history_seqs_and_ids(socket: &mut WsClient, peer: &str) -> Vec<(u64, String)> {
    socket
        .send_json(json!({"type": "history", "peer": peer, "limit": 100}))
        .await;
    let page = socket.expect("history_page").await;
    page["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| {
            (
                m["seq"].as_u64().unwrap(),
                m["client_msg_id"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

#[tokio::test]
async fn resend_with_the_same_client_msg_id_returns_the_same_accepted_and_no_second_message() {
    let app = spawn_app().await;
    let (_, mut alice) = app.user("alice").await;
    let (_, mut bob) = app.user("bob").await;

    let first = alice.dm("bob", "only once", "dup-1").await;
    let again = alice.dm("bob", "only once", "dup-1").await;
    assert_eq!(identity(&again), identity(&first));
    assert_eq!(again["client_msg_id"], "dup-1");
    // Even with a different body, the original stands.
    let third = alice.dm("bob", "edited?", "dup-1").await;
    assert_eq!(identity(&third), identity(&first));

    // The next new message is seq 2, and it is the very next message bob and alice see:
    // no duplicate copy was delivered in between.
    let next = alice.dm("bob", "second", "dup-2").await;
    assert_eq!(next["seq"], 2);
    let at_bob = bob.expect_n("message", 2).await;
    assert_eq!(seqs(&at_bob), vec![1, 2]);
    assert_eq!(at_bob[0]["body"], "only once");
    let at_alice = alice.expect_n("message", 2).await;
    assert_eq!(seqs(&at_alice), vec![1, 2]);

    assert_eq!(
        history_seqs_and_ids(&mut bob, "alice").await,
        vec![(1, "dup-1".to_string()), (2, "dup-2".to_string())]
    );
}

#[tokio::test]
async fn client_msg_id_is_per_sender_when_two_users_pick_the_same_one() {
    let app = spawn_app().await;
    let (_, mut alice) = app.user("alice").await;
    let (_, mut bob) = app.user("bob").await;
    let a = alice.dm("bob", "from alice", "same-id").await;
    let b = bob.dm("alice", "from bob", "same-id").await;
    assert_ne!(a["id"], b["id"]);
    assert_eq!(a["seq"], 1);
    assert_eq!(b["seq"], 2);
    assert_eq!(history_seqs_and_ids(&mut alice, "bob").await.len(), 2);
}

#[tokio::test]
async fn reusing_a_client_msg_id_for_another_peer_returns_the_original_accepted() {
    let app = spawn_app().await;
    let (_, mut alice) = app.user("alice").await;
    let (_, mut carol) = app.user("carol").await;
    app.register("bob").await;
    let to_bob = alice.dm("bob", "for bob", "one-id").await;
    let to_carol = alice.dm("carol", "for carol?", "one-id").await;
    assert_eq!(
        identity(&to_carol),
        identity(&to_bob),
        "the id is the sender's, not the pair's"
    );
    assert_eq!(to_carol["peer"], "bob");
    carol.ping_pong().await;
    assert!(!carol.saw(|f| f["type"] == "message"), "{:?}", carol.seen);
    assert!(history_seqs_and_ids(&mut carol, "alice").await.is_empty());
}

#[tokio::test]
async fn resend_after_a_reconnect_returns_the_original_accepted() {
    let app = spawn_app().await;
    let alice_cookie = app.register("alice").await;
    let bob_cookie = app.register("bob").await;
    let mut alice = app.connect(&alice_cookie).await;
    let first = alice.dm("bob", "did this arrive?", "re-1").await;
    assert_eq!(first["delivered"], false);
    alice.close().await;

    // The client did not see the ack (say) and retries on a new socket.
    let mut alice = app.connect(&alice_cookie).await;
    let again = alice.dm("bob", "did this arrive?", "re-1").await;
    assert_eq!(identity(&again), identity(&first));

    let mut bob = app.connect(&bob_cookie).await;
    let conv = common::conversation(&bob.hello, "alice").unwrap();
    assert_eq!(conv["last_seq"], 1);
    assert_eq!(conv["unread"], 1);
    let delivered = bob.expect("message").await;
    assert_eq!(delivered["client_msg_id"], "re-1");
    alice.dm("bob", "next", "re-2").await;
    let next = bob.expect("message").await;
    assert_eq!(next["seq"], 2, "no duplicate before the next message");
    assert_eq!(
        history_seqs_and_ids(&mut bob, "alice").await,
        vec![(1, "re-1".to_string()), (2, "re-2".to_string())]
    );
}

#[tokio::test]
async fn resend_after_a_server_restart_returns_the_original_accepted() {
    let mut app = spawn_app().await;
    let alice_cookie = app.register("alice").await;
    let bob_cookie = app.register("bob").await;
    let mut alice = app.connect(&alice_cookie).await;
    let first = alice.dm("bob", "survive this", "rs-1").await;
    app.restart().await;
    alice.expect_closed().await;

    let mut alice = app.connect(&alice_cookie).await;
    let again = alice.dm("bob", "survive this", "rs-1").await;
    assert_eq!(identity(&again), identity(&first));
    assert_eq!(alice.dm("bob", "after", "rs-2").await["seq"], 2);

    let mut bob = app.connect(&bob_cookie).await;
    let messages = bob.expect_n("message", 2).await;
    assert_eq!(seqs(&messages), vec![1, 2]);
    assert_eq!(
        history_seqs_and_ids(&mut bob, "alice").await,
        vec![(1, "rs-1".to_string()), (2, "rs-2".to_string())]
    );
}

#[tokio::test]
async fn resend_after_the_original_reached_the_tables_returns_the_original_accepted() {
    let app = spawn_app().await;
    let alice_cookie = app.register("alice").await;
    app.register("bob").await;
    let mut alice = app.connect(&alice_cookie).await;
    let first = alice.dm("bob", "indexed soon", "ix-1").await;
    // A history read waits until the tables hold every acknowledged write; the next send then
    // lets the writer forget ix-1, which it can find again only through the tables.
    assert_eq!(
        history_seqs_and_ids(&mut alice, "bob").await,
        vec![(1, "ix-1".to_string())]
    );
    alice.dm("bob", "later", "ix-2").await;
    let again = alice.dm("bob", "indexed soon", "ix-1").await;
    assert_eq!(identity(&again), identity(&first));
    assert_eq!(
        history_seqs_and_ids(&mut alice, "bob").await,
        vec![(1, "ix-1".to_string()), (2, "ix-2".to_string())]
    );
}
