//! Who may open `/ws`: session cookie, Origin check, socket cap, and the `hello` frame.
#![cfg(feature = "ssr")]

mod common;

use common::{conversation, spawn_app, spawn_app_with, ws, TIMEOUT};
use tokio::time::Instant;

#[tokio::test]
async fn ws_upgrade_is_refused_with_401_json_when_the_cookie_is_missing_or_invalid() {
    let app = spawn_app().await;
    let missing = app.raw_upgrade("/ws", None, None).await;
    assert_eq!(missing.status, 401, "{missing:?}");
    assert_eq!(missing.error_code(), "unauthorized");

    let bogus = app
        .raw_upgrade("/ws", Some("confab_session=not-a-real-session-token"), None)
        .await;
    assert_eq!(bogus.status, 401, "{bogus:?}");
    assert_eq!(bogus.error_code(), "unauthorized");

    // The same through a real WebSocket client: the handshake fails with HTTP 401.
    let url = format!("ws://{}/ws", app.addr);
    match ws::open(&url, None, None).await {
        Err(tokio_tungstenite::tungstenite::Error::Http(resp)) => {
            assert_eq!(resp.status().as_u16(), 401)
        }
        Err(other) => panic!("expected an HTTP 401 refusal, got {other:?}"),
        Ok(_) => panic!("a socket without a session was accepted"),
    }
}

#[tokio::test]
async fn ws_upgrade_is_refused_with_401_when_the_session_was_logged_out() {
    let app = spawn_app().await;
    let cookie = app.register("alice").await;
    assert_eq!(app.logout(&cookie).await.status, 204);
    let reply = app.raw_upgrade("/ws", Some(&cookie), None).await;
    assert_eq!(reply.status, 401, "{reply:?}");
    assert_eq!(reply.error_code(), "unauthorized");
}

#[tokio::test]
async fn ws_upgrade_is_refused_with_403_bad_origin_when_the_origin_is_foreign() {
    let app = spawn_app().await;
    let cookie = app.register("alice").await;
    let foreign = format!("http://evil.example:{}", app.addr.port());
    for origin in ["http://evil.example", foreign.as_str(), "null"] {
        let reply = app.raw_upgrade("/ws", Some(&cookie), Some(origin)).await;
        assert_eq!(reply.status, 403, "Origin {origin}: {reply:?}");
        assert_eq!(reply.error_code(), "bad_origin", "Origin {origin}");
    }
}

#[tokio::test]
async fn ws_upgrade_succeeds_when_the_origin_is_the_servers_own() {
    let app = spawn_app().await;
    let cookie = app.register("alice").await;
    let origin = app.origin();
    let reply = app.raw_upgrade("/ws", Some(&cookie), Some(&origin)).await;
    assert_eq!(reply.status, 101, "{reply:?}");

    let mut socket = common::WsClient::connect_with_origin(&app, &cookie, Some(&origin)).await;
    assert_eq!(socket.hello["user"], "alice");
    socket.ping_pong().await;
}

#[tokio::test]
async fn ws_upgrade_succeeds_when_there_is_no_origin_header() {
    let app = spawn_app().await;
    let cookie = app.register("alice").await;
    let reply = app.raw_upgrade("/ws", Some(&cookie), None).await;
    assert_eq!(reply.status, 101, "{reply:?}");
    let mut socket = app.connect(&cookie).await;
    socket.ping_pong().await;
}

#[tokio::test]
async fn hello_is_the_first_frame_with_user_role_and_conversations() {
    let app = spawn_app().await;
    let (_, mut alice) = app.user("Alice").await;
    assert_eq!(alice.hello["user"], "alice", "usernames are lowercase");
    assert_eq!(alice.hello["role"], "user", "role (extension)");
    assert_eq!(alice.hello["conversations"], serde_json::json!([]));

    let bob_cookie = app.register("bob").await;
    alice.dm("bob", "hi bob", "c1").await;
    let bob = app.connect(&bob_cookie).await;
    let with_alice = conversation(&bob.hello, "alice").expect("bob's hello lists alice");
    assert_eq!(with_alice["last_seq"], 1);
    assert_eq!(with_alice["unread"], 1);
    assert_eq!(with_alice["online"], true, "alice has a socket open");
    assert_eq!(with_alice["last_message"]["body"], "hi bob", "extension");
    assert_eq!(
        with_alice["peer_delivered_seq"], 0,
        "extension: bob sent nothing"
    );
    assert_eq!(
        with_alice["peer_read_seq"], 0,
        "extension: bob sent nothing"
    );
}

#[tokio::test]
async fn ws_upgrade_is_refused_with_429_when_the_user_holds_max_sockets() {
    let app = spawn_app_with(|s| s.max_sockets_per_user = 3).await;
    let cookie = app.register("alice").await;
    let mut sockets = Vec::new();
    for _ in 0..3 {
        sockets.push(app.connect(&cookie).await);
    }
    let reply = app.raw_upgrade("/ws", Some(&cookie), None).await;
    assert_eq!(reply.status, 429, "{reply:?}");
    assert_eq!(reply.error_code(), "too_many_sockets");

    // The cap is per user, whatever the session: a second login counts the same sockets.
    let other_session = app.login("alice").await;
    let reply = app.raw_upgrade("/ws", Some(&other_session), None).await;
    assert_eq!(reply.status, 429, "{reply:?}");

    // Other users are not affected.
    let bob = app.register("bob").await;
    app.connect(&bob).await.ping_pong().await;

    // The open ones still work; closing one frees a slot (the server notices the close soon).
    for s in sockets.iter_mut() {
        s.ping_pong().await;
    }
    sockets.pop().unwrap().close().await;
    let deadline = Instant::now() + TIMEOUT;
    loop {
        let reply = app.raw_upgrade("/ws", Some(&cookie), None).await;
        if reply.status == 101 {
            break;
        }
        assert_eq!(reply.status, 429, "{reply:?}");
        assert!(
            Instant::now() < deadline,
            "a closed socket never freed its slot"
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
}
