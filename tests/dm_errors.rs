//! Error frames: every one leaves the socket open (proved by a following ping/pong).
#![cfg(feature = "ssr")]

mod common;

use common::{conversation, spawn_app, spawn_app_with};
use confab::protocol::server::ErrorFrame;
use confab::protocol::{ErrorCode, ServerFrame};
use serde_json::json;

#[tokio::test]
async fn bad_frame_is_reported_when_the_text_is_not_json_or_has_the_wrong_shape() {
    let app = spawn_app().await;
    let (_, mut alice) = app.user("alice").await;
    app.register("bob").await;
    for text in [
        "hello",
        "{\"type\":",
        "[1,2,3]",
        "42",
        "{\"no_type\":true}",
        "{\"type\":7}",
        "{\"type\":\"sync\",\"peer\":\"bob\",\"after_seq\":\"x\"}",
    ] {
        alice.send_text(text).await;
        let error = alice.expect("error").await;
        assert_eq!(error["code"], "bad_frame", "for {text:?}: {error}");
        alice.ping_pong().await;
    }
    // A send missing its body is a bad frame that still names its client_msg_id.
    alice
        .send_json(json!({"type": "send", "to": "bob", "client_msg_id": "nb-1"}))
        .await;
    let error = alice.expect_error("bad_frame").await;
    assert_eq!(error["client_msg_id"], "nb-1");
    assert!(matches!(
        ServerFrame::from_json(&error.to_string()).unwrap(),
        ServerFrame::Error(ErrorFrame {
            code: ErrorCode::BadFrame,
            ..
        })
    ));
    alice.ping_pong().await;
}

#[tokio::test]
async fn unknown_type_is_reported_when_the_type_is_not_known() {
    let app = spawn_app().await;
    let (_, mut alice) = app.user("alice").await;
    alice
        .send_json(json!({"type": "dance", "style": "tango"}))
        .await;
    let error = alice.expect("error").await;
    assert_eq!(error["code"], "unknown_type", "{error}");
    alice.ping_pong().await;
}

#[tokio::test]
async fn empty_body_is_reported_with_the_client_msg_id_when_the_body_is_only_whitespace() {
    let app = spawn_app().await;
    let (_, mut alice) = app.user("alice").await;
    let (_, mut bob) = app.user("bob").await;
    for (i, body) in ["", "   ", "\n\t \r\n"].iter().enumerate() {
        let id = format!("e{i}");
        alice.send_dm("bob", body, &id).await;
        let error = alice.expect("error").await;
        assert_eq!(error["code"], "empty_body", "{body:?}: {error}");
        assert_eq!(error["client_msg_id"], id.as_str());
        alice.ping_pong().await;
    }
    // Nothing was stored: the next message is seq 1, and bob saw nothing before it.
    assert_eq!(alice.dm("bob", "real", "ok").await["seq"], 1);
    let first = bob.expect("message").await;
    assert_eq!(first["client_msg_id"], "ok");
}

#[tokio::test]
async fn too_large_is_reported_when_the_body_exceeds_4000_chars_and_4000_is_accepted() {
    let app = spawn_app().await;
    let (_, mut alice) = app.user("alice").await;
    let (_, mut bob) = app.user("bob").await;

    alice.send_dm("bob", &"x".repeat(4001), "big").await;
    let error = alice.expect("error").await;
    assert_eq!(error["code"], "too_large", "{error}");
    assert_eq!(error["client_msg_id"], "big");
    alice.ping_pong().await;

    // Characters, not bytes: 4000 two-byte characters fit; padding is trimmed first.
    let exact = "x".repeat(4000);
    let accented = "é".repeat(4000);
    let padded = format!("   {exact}   ");
    assert_eq!(alice.dm("bob", &exact, "exact").await["seq"], 1);
    assert_eq!(alice.dm("bob", &accented, "accented").await["seq"], 2);
    assert_eq!(alice.dm("bob", &padded, "padded").await["seq"], 3);
    let m = bob.expect_n("message", 3).await;
    assert_eq!(m[0]["body"].as_str().unwrap().chars().count(), 4000);
    assert_eq!(m[1]["body"], accented.as_str());
    assert_eq!(m[2]["body"], exact.as_str());

    alice.send_dm("bob", &"é".repeat(4001), "big2").await;
    assert_eq!(
        alice.expect_error("too_large").await["client_msg_id"],
        "big2"
    );
    alice.ping_pong().await;
}

#[tokio::test]
async fn self_message_is_reported_when_sending_to_yourself() {
    let app = spawn_app().await;
    let (_, mut alice) = app.user("alice").await;
    for (to, id) in [("alice", "s1"), ("ALICE", "s2")] {
        alice.send_dm(to, "note to self", id).await;
        let error = alice.expect("error").await;
        assert_eq!(error["code"], "self_message", "to {to}: {error}");
        assert_eq!(error["client_msg_id"], id);
        alice.ping_pong().await;
    }
    assert!(!alice.saw(|f| f["type"] == "message" || f["type"] == "accepted"));
    let cookie = app.login("alice").await;
    let again = app.connect(&cookie).await;
    assert_eq!(again.hello["conversations"], json!([]), "nothing stored");
}

#[tokio::test]
async fn unknown_user_is_reported_and_nothing_stored_when_the_recipient_does_not_exist() {
    let app = spawn_app().await;
    let (_, mut alice) = app.user("alice").await;
    for (to, id) in [("ghost", "u1"), ("no such user!", "u2")] {
        alice.send_dm(to, "boo", id).await;
        let error = alice.expect("error").await;
        assert_eq!(error["code"], "unknown_user", "to {to:?}: {error}");
        assert_eq!(error["client_msg_id"], id);
        alice.ping_pong().await;
    }
    let cookie = app.login("alice").await;
    let again = app.connect(&cookie).await;
    assert!(
        conversation(&again.hello, "ghost").is_none(),
        "{}",
        again.hello
    );
    assert_eq!(again.hello["conversations"], json!([]));

    // Registering the name later does not reveal a stored message.
    let ghost = app.register("ghost").await;
    let mut ghost = app.connect(&ghost).await;
    assert_eq!(ghost.hello["conversations"], json!([]));
    ghost.ping_pong().await;
    assert!(!ghost.saw(|f| f["type"] == "message"));
}

#[tokio::test]
async fn rate_limited_is_reported_when_a_socket_sends_faster_than_its_budget() {
    let app = spawn_app_with(|s| {
        s.rate_per_sec = 1;
        s.rate_burst = 3;
    })
    .await;
    let (_, mut alice) = app.user("alice").await;
    let (_, mut bob) = app.user("bob").await;
    for i in 0..8 {
        alice
            .send_dm("bob", &format!("spam {i}"), &format!("r{i}"))
            .await;
    }
    // Every send is answered, by `accepted` or by an error naming its client_msg_id.
    let (mut allowed, mut refused) = (Vec::new(), Vec::new());
    for i in 0..8 {
        let id = format!("r{i}");
        let answer = alice
            .expect_where(&format!("answer to {id}"), |f| {
                (f["type"] == "accepted" || f["type"] == "error")
                    && f["client_msg_id"] == id.as_str()
            })
            .await;
        if answer["type"] == "accepted" {
            allowed.push(id);
        } else {
            assert_eq!(answer["code"], "rate_limited", "{answer}");
            refused.push(id);
        }
    }
    assert!(allowed.len() >= 3, "the burst of 3 is allowed: {allowed:?}");
    assert!(
        !refused.is_empty(),
        "8 sends at once exceed a burst of 3: {allowed:?}"
    );
    assert_eq!(allowed[..3], ["r0", "r1", "r2"]);

    // The budget refills with time (1 frame per second here): the socket is still usable.
    tokio::time::sleep(std::time::Duration::from_millis(1500)).await;
    alice.ping_pong().await;

    // Refused sends were not stored.
    bob.send_json(json!({"type": "history", "peer": "alice"}))
        .await;
    let page = bob.expect("history_page").await;
    let stored: Vec<String> = page["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["client_msg_id"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(stored, allowed, "exactly the accepted sends are stored");
    let seqs: Vec<u64> = page["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["seq"].as_u64().unwrap())
        .collect();
    assert_eq!(
        seqs,
        (1..=allowed.len() as u64).collect::<Vec<_>>(),
        "no gaps"
    );
}

#[tokio::test]
async fn socket_is_closed_with_1009_when_a_frame_exceeds_64_kib() {
    let app = spawn_app().await;
    let (_, mut alice) = app.user("alice").await;
    app.register("bob").await;
    // Just under the limit is an ordinary (too long) message, not a protocol violation.
    let big_but_ok =
        json!({"type": "send", "to": "bob", "body": "y".repeat(60 * 1024), "client_msg_id": "ok"});
    alice.send_json(big_but_ok).await;
    assert_eq!(alice.expect("error").await["code"], "too_large");
    alice.ping_pong().await;

    let huge = json!({"type": "send", "to": "bob", "body": "z".repeat(70 * 1024), "client_msg_id": "huge"});
    alice.send_json(huge).await;
    let closed = alice.expect_closed().await;
    assert_eq!(closed.code(), Some(1009), "{closed:?}");
}

#[tokio::test]
async fn socket_is_closed_when_a_frame_is_far_beyond_64_kib() {
    let app = spawn_app().await;
    let (_, mut alice) = app.user("alice").await;
    alice.send_text("w".repeat(300 * 1024)).await;
    let closed = alice.expect_closed().await;
    // The server may stop reading mid-frame, so the close frame can be lost to a reset; if it
    // arrives it says 1009.
    if let Some(code) = closed.code() {
        assert_eq!(code, 1009, "{closed:?}");
    }
}

#[tokio::test]
async fn forbidden_is_reported_when_an_ordinary_user_sends_agent_frames() {
    let app = spawn_app().await;
    let (_, mut alice) = app.user("alice").await;
    for frame in [
        json!({"type": "queue"}),
        json!({"type": "claim", "conversation_id": "c1"}),
        json!({"type": "resolve", "conversation_id": "c1"}),
    ] {
        alice.send_json(frame.clone()).await;
        let error = alice.expect("error").await;
        assert_eq!(error["code"], "forbidden", "{frame}: {error}");
        alice.ping_pong().await;
    }
}
