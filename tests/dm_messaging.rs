//! Live direct messages: `send`, `accepted`, `message` fan-out to every socket, and seq.
#![cfg(feature = "ssr")]

mod common;

use common::{assert_rfc3339_utc, spawn_app, spawn_app_with};
use confab::protocol::server::Accepted;
use confab::protocol::ServerFrame;
use futures::SinkExt;
use tokio_tungstenite::tungstenite::Message;

#[tokio::test]
async fn send_gives_accepted_to_sender_and_message_to_both_when_peer_is_online() {
    let app = spawn_app().await;
    let (_, mut alice) = app.user("alice").await;
    let (_, mut bob) = app.user("bob").await;

    alice.send_dm("bob", "hello bob", "c-1").await;
    let accepted = alice.expect_accepted("c-1").await;
    assert_eq!(accepted["seq"], 1);
    assert_eq!(accepted["delivered"], true, "bob has a socket open");
    assert_eq!(accepted["peer"], "bob", "extension");
    let id = accepted["id"].as_str().expect("id is a string").to_string();
    assert!(!id.is_empty());
    assert_rfc3339_utc(&accepted["sent_at"]);
    assert!(matches!(
        ServerFrame::from_json(&accepted.to_string()).unwrap(),
        ServerFrame::Accepted(Accepted {
            seq: 1,
            delivered: true,
            ..
        })
    ));

    let at_bob = bob.expect("message").await;
    assert_eq!(at_bob["id"], id.as_str());
    assert_eq!(
        at_bob["peer"], "alice",
        "peer is the other party, seen from bob"
    );
    assert_eq!(at_bob["from"], "alice");
    assert_eq!(at_bob["to"], "bob");
    assert_eq!(at_bob["seq"], 1);
    assert_eq!(at_bob["body"], "hello bob");
    assert_eq!(at_bob["client_msg_id"], "c-1");
    assert_rfc3339_utc(&at_bob["sent_at"]);
    assert_eq!(at_bob["sent_at"], accepted["sent_at"]);

    let at_alice = alice.expect_message("c-1").await;
    assert_eq!(
        at_alice["peer"], "bob",
        "peer is the other party, seen from alice"
    );
    assert_eq!(at_alice["id"], id.as_str());
    assert_eq!(at_alice["from"], "alice");
    assert_eq!(at_alice["to"], "bob");
    assert_eq!(at_alice["seq"], 1);
    assert_eq!(at_alice["body"], "hello bob");
    assert_eq!(at_alice["sent_at"], at_bob["sent_at"]);

    // Only the sender gets `accepted`.
    bob.ping_pong().await;
    assert!(!bob.saw(|f| f["type"] == "accepted"), "{:?}", bob.seen);
}

#[tokio::test]
async fn seq_counts_1_2_3_per_pair_shared_by_both_directions() {
    let app = spawn_app().await;
    let (_, mut alice) = app.user("alice").await;
    let (_, mut bob) = app.user("bob").await;
    let (_, mut carol) = app.user("carol").await;

    assert_eq!(alice.dm("bob", "one", "a1").await["seq"], 1);
    assert_eq!(bob.dm("alice", "two", "b1").await["seq"], 2);
    assert_eq!(alice.dm("bob", "three", "a2").await["seq"], 3);
    // Another pair has its own count.
    assert_eq!(alice.dm("carol", "hi carol", "a1-c").await["seq"], 1);
    assert_eq!(carol.dm("bob", "hi bob", "c1").await["seq"], 1);
    assert_eq!(bob.dm("alice", "four", "b2").await["seq"], 4);

    let at_bob: Vec<u64> = bob
        .expect_n("message", 5)
        .await
        .iter()
        .filter(|m| m["peer"] == "alice")
        .map(|m| m["seq"].as_u64().unwrap())
        .collect();
    assert_eq!(
        at_bob,
        vec![1, 2, 3, 4],
        "bob sees the alice conversation in order"
    );
}

#[tokio::test]
async fn message_reaches_every_socket_of_both_parties_when_they_have_many_tabs() {
    let app = spawn_app().await;
    let alice_cookie = app.register("alice").await;
    let bob_cookie = app.register("bob").await;
    let bob_phone = app.login("bob").await;
    let mut alice1 = app.connect(&alice_cookie).await;
    let mut alice2 = app.connect(&alice_cookie).await;
    let mut bob1 = app.connect(&bob_cookie).await;
    let mut bob2 = app.connect(&bob_phone).await;

    let accepted = alice1.dm("bob", "to all tabs", "m1").await;
    for (who, socket, peer) in [
        ("alice tab 1", &mut alice1, "bob"),
        ("alice tab 2", &mut alice2, "bob"),
        ("bob tab 1", &mut bob1, "alice"),
        ("bob phone", &mut bob2, "alice"),
    ] {
        let m = socket.expect_message("m1").await;
        assert_eq!(m["id"], accepted["id"], "{who}");
        assert_eq!(m["seq"], 1, "{who}");
        assert_eq!(m["peer"], peer, "{who}");
        assert_eq!(m["body"], "to all tabs", "{who}");
    }

    // A reply from bob's phone reaches alice's tabs and bob's other tab.
    bob2.dm("alice", "reply", "r1").await;
    for socket in [&mut alice1, &mut alice2, &mut bob1] {
        let m = socket.expect_message("r1").await;
        assert_eq!(m["seq"], 2);
        assert_eq!(m["from"], "bob");
    }
    bob2.expect_message("r1").await;

    // `accepted` goes to the sending socket only.
    alice2.ping_pong().await;
    bob1.ping_pong().await;
    assert!(
        !alice2.saw(|f| f["type"] == "accepted"),
        "{:?}",
        alice2.seen
    );
    assert!(!bob1.saw(|f| f["type"] == "accepted"), "{:?}", bob1.seen);
}

#[tokio::test]
async fn body_is_trimmed_when_sent_with_surrounding_whitespace() {
    let app = spawn_app().await;
    let (_, mut alice) = app.user("alice").await;
    let (_, mut bob) = app.user("bob").await;
    alice.dm("bob", "  \n\t hi there \n ", "t1").await;
    let m = bob.expect_message("t1").await;
    assert_eq!(m["body"], "hi there");
    // Markup is data, not something the server interprets.
    alice.dm("bob", "<b>bold</b> & co", "t2").await;
    assert_eq!(bob.expect_message("t2").await["body"], "<b>bold</b> & co");
}

#[tokio::test]
async fn username_in_send_is_case_insensitive_when_addressing_a_peer() {
    let app = spawn_app().await;
    let (_, mut alice) = app.user("alice").await;
    let (_, mut bob) = app.user("bob").await;
    let accepted = alice.dm("BoB", "caps", "k1").await;
    assert_eq!(accepted["seq"], 1);
    let m = bob.expect_message("k1").await;
    assert_eq!(m["to"], "bob");
    assert_eq!(m["peer"], "alice");
}

#[tokio::test]
async fn typing_reaches_the_peer_as_typing_from_when_sent() {
    let app = spawn_app().await;
    let (_, mut alice) = app.user("alice").await;
    let bob_cookie = app.register("bob").await;
    let mut bob1 = app.connect(&bob_cookie).await;
    let mut bob2 = app.connect(&bob_cookie).await;

    alice
        .send_json(serde_json::json!({"type": "typing", "peer": "bob"}))
        .await;
    for bob in [&mut bob1, &mut bob2] {
        let typing = bob.expect("typing").await;
        assert_eq!(typing["from"], "alice");
    }
    alice.ping_pong().await;
    assert!(
        !alice.saw(|f| f["type"] == "typing"),
        "the typist is not told"
    );
}

#[tokio::test]
async fn ping_gets_pong_when_sent_any_time() {
    let app = spawn_app().await;
    let (_, mut alice) = app.user("alice").await;
    for _ in 0..3 {
        alice.send_json(serde_json::json!({"type": "ping"})).await;
        let pong = alice.expect("pong").await;
        assert_eq!(pong, serde_json::json!({"type": "pong"}));
    }
    // Unknown fields are ignored.
    alice
        .send_json(serde_json::json!({"type": "ping", "extra": [1, 2]}))
        .await;
    alice.expect("pong").await;
}

#[tokio::test]
async fn every_conversation_arrives_in_seq_order_without_gaps_when_many_senders_write_at_once() {
    const SENDERS: usize = 4;
    const EACH: u64 = 60;
    let app = spawn_app_with(|s| s.rate_burst = 1_000).await;
    let (_, mut zoe) = app.user("zoe").await;
    let mut senders = Vec::new();
    for k in 0..SENDERS {
        senders.push(app.user(&format!("sender{k}")).await.1);
    }
    // No waiting between sends: the writer commits them in many batches, and fans out one
    // batch while it applies the next.
    for n in 1..=EACH {
        for (k, sender) in senders.iter_mut().enumerate() {
            sender
                .send_dm("zoe", &format!("{k}/{n}"), &format!("s{k}-{n}"))
                .await;
        }
    }

    let at_zoe = zoe.expect_n("message", SENDERS * EACH as usize).await;
    for k in 0..SENDERS {
        let peer = format!("sender{k}");
        let from_peer: Vec<(u64, String)> = at_zoe
            .iter()
            .filter(|m| m["peer"] == peer.as_str())
            .map(|m| {
                (
                    m["seq"].as_u64().unwrap(),
                    m["body"].as_str().unwrap().into(),
                )
            })
            .collect();
        let expected: Vec<(u64, String)> = (1..=EACH).map(|n| (n, format!("{k}/{n}"))).collect();
        assert_eq!(
            from_peer, expected,
            "{peer}'s messages in send order, seq 1, 2, 3…"
        );
    }
    for (k, sender) in senders.iter_mut().enumerate() {
        let accepted = sender.expect_n("accepted", EACH as usize).await;
        let mut seqs: Vec<u64> = accepted
            .iter()
            .map(|a| a["seq"].as_u64().unwrap())
            .collect();
        seqs.sort_unstable();
        assert_eq!(
            seqs,
            (1..=EACH).collect::<Vec<_>>(),
            "sender{k}: every send accepted once"
        );
    }
}

#[tokio::test]
async fn sends_written_back_to_back_in_one_burst_are_each_accepted_and_delivered_in_order() {
    // 40 frames of about 450 bytes reach the server together (one write of ~18 KiB), so its
    // reads cut frames at arbitrary places and hand over the rest later from what they read
    // ahead.
    const SENDS: u64 = 40;
    let app = spawn_app_with(|s| s.rate_burst = 1_000).await;
    let (_, mut alice) = app.user("alice").await;
    let (_, mut bob) = app.user("bob").await;
    for n in 1..=SENDS {
        let frame = serde_json::json!({
            "type": "send", "to": "bob", "body": format!("{n}:{}", "x".repeat(400)),
            "client_msg_id": format!("burst-{n}"),
        });
        alice
            .ws
            .feed(Message::text(frame.to_string()))
            .await
            .expect("queue a frame");
    }
    alice.ws.flush().await.expect("write the burst");

    let delivered = bob.expect_n("message", SENDS as usize).await;
    let got: Vec<(u64, String)> = delivered
        .iter()
        .map(|m| {
            let body = m["body"].as_str().unwrap();
            (
                m["seq"].as_u64().unwrap(),
                body.split(':').next().unwrap().to_owned(),
            )
        })
        .collect();
    let expected: Vec<(u64, String)> = (1..=SENDS).map(|n| (n, n.to_string())).collect();
    assert_eq!(got, expected, "every message once, whole, in send order");
    for n in 1..=SENDS {
        let accepted = alice.expect_accepted(&format!("burst-{n}")).await;
        assert_eq!(accepted["seq"], n);
    }
}
