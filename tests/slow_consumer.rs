//! A socket that does not read its frames is closed (1013) instead of the server buffering
//! without bound, and nobody else is held up by it.
#![cfg(feature = "ssr")]

mod common;

use common::{spawn_app_with, Closed};
use std::time::Duration;
use tokio::time::Instant;

/// Upper bound on the flood (16 KB each): far more than loopback socket buffers absorb.
const MAX_MESSAGES: usize = 3000;

#[tokio::test]
async fn recipient_that_never_reads_is_closed_with_1013_while_the_sender_keeps_working() {
    let app = spawn_app_with(|s| {
        s.outbound_queue = 4;
        s.rate_per_sec = 100_000;
        s.rate_burst = 100_000;
    })
    .await;
    let (_, mut alice) = app.user("alice").await;
    let bob_cookie = app.register("bob").await;
    // Bob opens a socket and then never polls it again.
    let mut bob = app.connect(&bob_cookie).await;
    // The largest body allowed: 4000 four-byte characters, about 16 KB per frame.
    let body = "😀".repeat(4000);

    // Alice sends one message at a time (her own queue is small too, and she reads it), until
    // the server reports bob gone: `delivered:false`.
    let started = Instant::now();
    let mut sent = 0;
    loop {
        assert!(
            sent < MAX_MESSAGES,
            "bob was never dropped after {sent} messages of 16 KB: the server buffers without bound"
        );
        assert!(
            started.elapsed() < Duration::from_secs(120),
            "flood took too long ({sent} messages)"
        );
        let id = format!("f{sent}");
        let accepted = alice.dm("bob", &body, &id).await;
        alice.expect_message(&id).await;
        sent += 1;
        if accepted["delivered"] == false {
            break;
        }
    }

    // The sender is unaffected.
    alice.ping_pong().await;
    let after = alice.dm("bob", "are you still there?", "after").await;
    assert_eq!(
        after["delivered"], false,
        "bob's socket is gone from the hub"
    );
    assert_eq!(after["seq"], sent as u64 + 1);

    // When bob finally reads, he finds fewer messages than were sent, then the close.
    let closed = bob.expect_closed_within(Duration::from_secs(60)).await;
    let received = bob.seen_where(|f| f["type"] == "message").len();
    assert_eq!(closed, Closed::Code(1013), "slow consumer close code");
    assert!(
        received < sent,
        "bob got {received} of {sent}: frames were dropped, not buffered"
    );

    // Nothing was lost for bob: on reconnect he gets the rest (messages he never received).
    let mut bob = app.connect(&bob_cookie).await;
    let conv = common::conversation(&bob.hello, "alice").unwrap();
    assert_eq!(conv["last_seq"], sent as u64 + 1);
    bob.send_json(serde_json::json!({"type": "sync", "peer": "alice", "after_seq": received}))
        .await;
    let synced = bob.expect("synced").await;
    assert_eq!(synced["last_seq"], sent as u64 + 1);
    let mut got: Vec<u64> = bob
        .seen_where(|f| f["type"] == "message")
        .iter()
        .map(|m| m["seq"].as_u64().unwrap())
        .collect();
    got.sort_unstable();
    got.dedup();
    let missing: Vec<u64> = (received as u64 + 1..=sent as u64 + 1)
        .filter(|s| got.binary_search(s).is_err())
        .collect();
    assert!(
        missing.is_empty(),
        "sync returns the rest; missing {missing:?}"
    );

    // Alice was told bob went offline when his only socket was dropped.
    let offline = alice
        .expect_where("presence bob offline", |f| {
            f["type"] == "presence" && f["user"] == "bob" && f["online"] == false
        })
        .await;
    assert_eq!(offline["online"], false);
}
