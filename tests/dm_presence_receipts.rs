//! Read receipts, unread counts and presence.
#![cfg(feature = "ssr")]

mod common;

use common::{conversation, spawn_app};
use serde_json::json;

#[tokio::test]
async fn read_sends_a_read_receipt_to_the_peers_sockets_and_clears_unread() {
    let app = spawn_app().await;
    let alice_cookie = app.register("alice").await;
    let bob_cookie = app.register("bob").await;
    let mut alice1 = app.connect(&alice_cookie).await;
    let mut alice2 = app.connect(&alice_cookie).await;
    let mut bob = app.connect(&bob_cookie).await;
    for i in 1..=3 {
        alice1.dm("bob", &format!("m{i}"), &format!("c{i}")).await;
    }
    bob.expect_n("message", 3).await;

    // Before reading: bob's hello on a new socket counts 3 unread.
    let bob_tab = app.connect(&bob_cookie).await;
    let conv = conversation(&bob_tab.hello, "alice").expect("conversation listed");
    assert_eq!(conv["unread"], 3, "{}", bob_tab.hello);
    assert_eq!(conv["last_seq"], 3);
    bob_tab.close().await;

    bob.send_json(json!({"type": "read", "peer": "alice", "up_to_seq": 2}))
        .await;
    for alice in [&mut alice1, &mut alice2] {
        let receipt = alice
            .expect_where("read receipt", |f| {
                f["type"] == "receipt" && f["kind"] == "read"
            })
            .await;
        assert_eq!(
            receipt,
            json!({"type": "receipt", "peer": "bob", "kind": "read", "up_to_seq": 2})
        );
    }
    let bob_tab = app.connect(&bob_cookie).await;
    let conv = conversation(&bob_tab.hello, "alice").unwrap();
    assert_eq!(
        conv["unread"], 1,
        "seq 3 is still unread: {}",
        bob_tab.hello
    );
    bob_tab.close().await;

    bob.send_json(json!({"type": "read", "peer": "alice", "up_to_seq": 3}))
        .await;
    let receipt = alice1
        .expect_where("read receipt 3", |f| {
            f["type"] == "receipt" && f["kind"] == "read" && f["up_to_seq"] == 3
        })
        .await;
    assert_eq!(receipt["peer"], "bob");

    let bob_tab = app.connect(&bob_cookie).await;
    let conv = conversation(&bob_tab.hello, "alice").unwrap();
    assert_eq!(conv["unread"], 0, "{}", bob_tab.hello);
    // Alice's side of the same conversation: bob has read up to 3 (extension).
    let alice3 = app.connect(&alice_cookie).await;
    let conv = conversation(&alice3.hello, "bob").unwrap();
    assert_eq!(
        conv["unread"], 0,
        "alice's own messages are never unread for her"
    );
    assert_eq!(conv["peer_read_seq"], 3, "{}", alice3.hello);
    assert_eq!(conv["peer_delivered_seq"], 3, "{}", alice3.hello);
}

#[tokio::test]
async fn unread_counts_only_messages_from_the_peer_when_both_wrote() {
    let app = spawn_app().await;
    let alice_cookie = app.register("alice").await;
    let bob_cookie = app.register("bob").await;
    let mut alice = app.connect(&alice_cookie).await;
    let mut bob = app.connect(&bob_cookie).await;
    alice.dm("bob", "a1", "a1").await;
    bob.dm("alice", "b1", "b1").await;
    alice.dm("bob", "a2", "a2").await;

    let bob_tab = app.connect(&bob_cookie).await;
    let conv = conversation(&bob_tab.hello, "alice").unwrap();
    assert_eq!(conv["last_seq"], 3);
    assert_eq!(conv["unread"], 2, "{}", bob_tab.hello);
    assert_eq!(conv["last_message"]["body"], "a2");
    let alice_tab = app.connect(&alice_cookie).await;
    let conv = conversation(&alice_tab.hello, "bob").unwrap();
    assert_eq!(conv["unread"], 1, "{}", alice_tab.hello);
}

#[tokio::test]
async fn presence_is_sent_to_conversation_partners_when_first_socket_opens_and_last_closes() {
    let app = spawn_app().await;
    let (_, mut alice) = app.user("alice").await;
    let (_, mut carol) = app.user("carol").await;
    let bob_cookie = app.register("bob").await;
    // Alice shares a conversation with bob; carol does not.
    alice.dm("bob", "are you there?", "p1").await;

    let mut bob1 = app.connect(&bob_cookie).await;
    let online = alice
        .expect_where("presence bob", |f| {
            f["type"] == "presence" && f["user"] == "bob"
        })
        .await;
    assert_eq!(
        online,
        json!({"type": "presence", "user": "bob", "online": true})
    );
    let conv = conversation(&bob1.hello, "alice").unwrap();
    assert_eq!(conv["online"], true);

    // A second socket is not a second "online"; closing it is not "offline".
    let bob2 = app.connect(&bob_cookie).await;
    bob2.close().await;
    bob1.ping_pong().await;
    // Alice is still told about bob's real departure, and that is the next presence she gets.
    bob1.close().await;
    let offline = alice
        .expect_where("presence bob", |f| {
            f["type"] == "presence" && f["user"] == "bob"
        })
        .await;
    assert_eq!(
        offline,
        json!({"type": "presence", "user": "bob", "online": false})
    );

    // Carol shares no conversation with bob: she hears nothing about him.
    carol.ping_pong().await;
    alice.ping_pong().await;
    let about_bob = alice.seen_where(|f| f["type"] == "presence" && f["user"] == "bob");
    assert_eq!(
        about_bob,
        vec![online, offline],
        "exactly one online and one offline for bob's two overlapping sockets"
    );
    assert!(
        !carol.saw(|f| f["type"] == "presence"),
        "carol was told about a stranger: {:?}",
        carol.seen
    );

    // A new hello shows bob offline.
    let alice_cookie2 = app.login("alice").await;
    let alice_tab = app.connect(&alice_cookie2).await;
    assert_eq!(
        conversation(&alice_tab.hello, "bob").unwrap()["online"],
        false
    );
}

#[tokio::test]
async fn presence_reaches_the_peer_when_a_new_conversation_partner_connects() {
    let app = spawn_app().await;
    let alice_cookie = app.register("alice").await;
    let bob_cookie = app.register("bob").await;
    let mut bob = app.connect(&bob_cookie).await;
    // Alice writes while bob is online, then goes and comes back.
    let mut alice = app.connect(&alice_cookie).await;
    alice.dm("bob", "hi", "x1").await;
    alice.close().await;
    let offline = bob
        .expect_where("presence alice", |f| {
            f["type"] == "presence" && f["user"] == "alice"
        })
        .await;
    assert_eq!(offline["online"], false);
    let _alice = app.connect(&alice_cookie).await;
    let online = bob
        .expect_where("presence alice online", |f| {
            f["type"] == "presence" && f["user"] == "alice" && f["online"] == true
        })
        .await;
    assert_eq!(online["online"], true);
}
