//! Offline delivery: stored messages, delivery on connect, delivered receipts, restarts.
#![cfg(feature = "ssr")]

mod common;

use common::{conversation, seqs, spawn_app};
use serde_json::json;

#[tokio::test]
async fn send_is_accepted_with_delivered_false_when_the_peer_is_offline() {
    let app = spawn_app().await;
    let (_, mut alice) = app.user("alice").await;
    app.register("bob").await;
    let accepted = alice.dm("bob", "are you there?", "o1").await;
    assert_eq!(accepted["delivered"], false, "{accepted}");
    assert_eq!(accepted["seq"], 1);
    // The sender's own copy still arrives.
    let own = alice.expect_message("o1").await;
    assert_eq!(own["peer"], "bob");
}

#[tokio::test]
async fn offline_messages_arrive_after_hello_in_seq_order_when_the_recipient_connects() {
    let app = spawn_app().await;
    let (_, mut alice) = app.user("alice").await;
    let (_, mut carol) = app.user("carol").await;
    let bob_cookie = app.register("bob").await;
    for i in 1..=3 {
        let a = alice
            .dm("bob", &format!("from alice {i}"), &format!("a{i}"))
            .await;
        assert_eq!(a["delivered"], false);
    }
    for i in 1..=2 {
        carol
            .dm("bob", &format!("from carol {i}"), &format!("c{i}"))
            .await;
    }

    let mut bob = app.connect(&bob_cookie).await; // asserts hello comes first
    let conv = conversation(&bob.hello, "alice").expect("alice listed");
    assert_eq!(conv["last_seq"], 3);
    assert_eq!(conv["unread"], 3);
    assert_eq!(conversation(&bob.hello, "carol").unwrap()["unread"], 2);

    let messages = bob.expect_n("message", 5).await;
    let from_alice: Vec<_> = messages
        .iter()
        .filter(|m| m["peer"] == "alice")
        .cloned()
        .collect();
    let from_carol: Vec<_> = messages
        .iter()
        .filter(|m| m["peer"] == "carol")
        .cloned()
        .collect();
    assert_eq!(
        seqs(&from_alice),
        vec![1, 2, 3],
        "seq order per conversation"
    );
    assert_eq!(seqs(&from_carol), vec![1, 2]);
    assert_eq!(from_alice[0]["body"], "from alice 1");
    assert_eq!(from_alice[2]["client_msg_id"], "a3");
    assert_eq!(from_carol[1]["body"], "from carol 2");

    // Delivered once: after the senders hear it was delivered, a second socket gets the hello
    // but not the same messages again.
    for (sender, last) in [(&mut alice, 3), (&mut carol, 2)] {
        sender
            .expect_where("delivered receipt", |f| {
                f["type"] == "receipt" && f["kind"] == "delivered" && f["up_to_seq"] == last
            })
            .await;
    }
    let mut bob2 = app.connect(&bob_cookie).await;
    bob2.ping_pong().await;
    assert!(!bob2.saw(|f| f["type"] == "message"), "{:?}", bob2.seen);
}

#[tokio::test]
async fn sender_gets_a_delivered_receipt_when_the_offline_recipient_connects() {
    let app = spawn_app().await;
    let alice_cookie = app.register("alice").await;
    let mut alice = app.connect(&alice_cookie).await;
    let mut alice_tab = app.connect(&alice_cookie).await;
    let bob_cookie = app.register("bob").await;
    for i in 1..=3 {
        alice.dm("bob", &format!("m{i}"), &format!("m{i}")).await;
    }
    let mut bob = app.connect(&bob_cookie).await;
    bob.expect_n("message", 3).await;

    for socket in [&mut alice, &mut alice_tab] {
        let receipt = socket
            .expect_where("delivered receipt", |f| {
                f["type"] == "receipt" && f["kind"] == "delivered" && f["up_to_seq"] == 3
            })
            .await;
        assert_eq!(
            receipt,
            json!({"type": "receipt", "peer": "bob", "kind": "delivered", "up_to_seq": 3})
        );
    }
    let alice3 = app.connect(&alice_cookie).await;
    let conv = conversation(&alice3.hello, "bob").unwrap();
    assert_eq!(conv["peer_delivered_seq"], 3, "extension: {}", alice3.hello);
    assert_eq!(conv["peer_read_seq"], 0, "delivered is not read");
}

#[tokio::test]
async fn offline_sender_gets_the_delivered_state_in_hello_when_delivery_happened_meanwhile() {
    let app = spawn_app().await;
    let alice_cookie = app.register("alice").await;
    let bob_cookie = app.register("bob").await;
    let mut alice = app.connect(&alice_cookie).await;
    alice.dm("bob", "later", "l1").await;
    alice.close().await;
    let mut bob = app.connect(&bob_cookie).await;
    bob.expect_message("l1").await;
    bob.ping_pong().await;
    let alice = app.connect(&alice_cookie).await;
    let conv = conversation(&alice.hello, "bob").unwrap();
    assert_eq!(conv["peer_delivered_seq"], 1, "{}", alice.hello);
}

#[tokio::test]
async fn offline_message_is_delivered_after_a_restart_when_it_was_accepted_before() {
    let mut app = spawn_app().await;
    let alice_cookie = app.register("alice").await;
    let bob_cookie = app.register("bob").await;
    let mut alice = app.connect(&alice_cookie).await;
    let first = alice.dm("bob", "before restart", "r1").await;
    assert_eq!(first["delivered"], false);
    let second = alice.dm("bob", "also before", "r2").await;

    app.restart().await;
    let closed = alice.expect_closed().await;
    assert_eq!(closed.code(), Some(1001), "shutdown closes with going-away");

    let mut bob = app.connect(&bob_cookie).await;
    let conv = conversation(&bob.hello, "alice").expect("conversation survives restart");
    assert_eq!(conv["last_seq"], 2);
    assert_eq!(conv["unread"], 2);
    let messages = bob.expect_n("message", 2).await;
    assert_eq!(seqs(&messages), vec![1, 2]);
    assert_eq!(messages[0]["id"], first["id"]);
    assert_eq!(messages[0]["body"], "before restart");
    assert_eq!(messages[1]["id"], second["id"]);

    // History is intact and the seq keeps counting.
    bob.send_json(json!({"type": "history", "peer": "alice"}))
        .await;
    let page = bob.expect("history_page").await;
    assert_eq!(seqs(page["messages"].as_array().unwrap()), vec![1, 2]);
    let mut alice = app.connect(&alice_cookie).await;
    assert_eq!(alice.dm("bob", "after restart", "r3").await["seq"], 3);
}

#[tokio::test]
async fn sync_resends_messages_after_the_given_seq_then_synced() {
    let app = spawn_app().await;
    let (_, mut alice) = app.user("alice").await;
    let (_, mut bob) = app.user("bob").await;
    for i in 1..=5 {
        let sender = if i % 2 == 0 { &mut bob } else { &mut alice };
        let to = if i % 2 == 0 { "alice" } else { "bob" };
        sender.dm(to, &format!("s{i}"), &format!("s{i}")).await;
    }
    alice.expect_n("message", 5).await;

    alice
        .send_json(json!({"type": "sync", "peer": "bob", "after_seq": 2}))
        .await;
    let resent = alice.expect_n("message", 3).await;
    assert_eq!(seqs(&resent), vec![3, 4, 5], "in seq order");
    assert_eq!(resent[1]["from"], "bob");
    assert_eq!(resent[1]["peer"], "bob");
    assert_eq!(resent[1]["body"], "s4");
    let synced = alice.expect("synced").await;
    assert_eq!(
        synced,
        json!({"type": "synced", "peer": "bob", "last_seq": 5})
    );
    // `synced` comes after the messages it covers.
    let order: Vec<&str> = alice
        .seen
        .iter()
        .rev()
        .take(4)
        .map(|f| f["type"].as_str().unwrap())
        .collect();
    assert_eq!(order, vec!["synced", "message", "message", "message"]);

    alice
        .send_json(json!({"type": "sync", "peer": "bob", "after_seq": 5}))
        .await;
    let synced = alice.expect("synced").await;
    assert_eq!(synced["last_seq"], 5);
    assert_eq!(
        alice.seen.last().unwrap()["type"],
        "synced",
        "nothing to resend"
    );

    // A peer without a conversation syncs to 0.
    app.register("dora").await;
    alice
        .send_json(json!({"type": "sync", "peer": "dora", "after_seq": 0}))
        .await;
    let synced = alice.expect("synced").await;
    assert_eq!(
        synced,
        json!({"type": "synced", "peer": "dora", "last_seq": 0})
    );
}

#[tokio::test]
async fn live_deliveries_are_recorded_so_a_new_socket_does_not_get_them_again() {
    let app = spawn_app().await;
    let (alice_cookie, mut alice) = app.user("alice").await;
    let bob_cookie = app.register("bob").await;
    let mut bob = app.connect(&bob_cookie).await;
    for i in 1..=3 {
        let accepted = alice
            .dm("bob", &format!("live {i}"), &format!("v{i}"))
            .await;
        assert_eq!(accepted["delivered"], true, "{accepted}");
    }
    bob.expect_n("message", 3).await;
    // The watermarks of live deliveries are committed shortly after, coalesced: the sender
    // hears one receipt for the newest.
    alice
        .expect_where("delivered receipt", |f| {
            f["type"] == "receipt" && f["kind"] == "delivered" && f["up_to_seq"] == 3
        })
        .await;
    let mut bob2 = app.connect(&bob_cookie).await;
    bob2.ping_pong().await;
    assert!(!bob2.saw(|f| f["type"] == "message"), "{:?}", bob2.seen);
    let alice2 = app.connect(&alice_cookie).await;
    let conv = conversation(&alice2.hello, "bob").unwrap();
    assert_eq!(conv["peer_delivered_seq"], 3, "{}", alice2.hello);
}
