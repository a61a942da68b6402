//! A customer's identity: `POST /api/support/start` and who may open `/ws/support`.
#![cfg(feature = "ssr")]

mod common;

use common::support::{self, new_customer, start, support_cookie, AgentConsole, SupportClient};
use common::{spawn_app, ws};
use serde_json::json;

#[tokio::test]
async fn start_creates_a_conversation_and_sets_an_httponly_secret_cookie() {
    let app = spawn_app().await;
    // An empty body is fine.
    let reply = start(&app, None, None).await;
    assert_eq!(reply.status, 201, "{reply:?}");
    let id = reply.json.as_ref().unwrap()["conversation_id"]
        .as_str()
        .expect("conversation_id is a string")
        .to_string();
    assert!(!id.is_empty());
    let set_cookie = reply
        .set_cookies
        .iter()
        .find(|c| c.starts_with("confab_support="))
        .expect("the support cookie is set")
        .to_ascii_lowercase();
    assert!(set_cookie.contains("httponly"), "{set_cookie}");
    assert!(set_cookie.contains("samesite=lax"), "{set_cookie}");
    assert!(set_cookie.contains("path=/"), "{set_cookie}");
    let cookie = support_cookie(&reply).unwrap();
    let secret = cookie.trim_start_matches("confab_support=");
    assert!(
        secret.len() >= 22,
        "a random secret of >= 128 bits: {secret}"
    );
    assert!(
        !secret.contains(&id),
        "the cookie is a secret, not the conversation id"
    );

    // `{}` is an empty body too; the default name is used.
    let other = start(&app, Some(json!({})), None).await;
    assert_eq!(other.status, 201, "{other:?}");
}

#[tokio::test]
async fn start_with_the_cookie_returns_the_same_conversation_and_a_new_name_renames() {
    let app = spawn_app().await;
    let first = new_customer(&app, "Alice").await;
    let again = start(&app, None, Some(&first.cookie)).await;
    assert_eq!(again.status, 200, "{again:?}");
    assert_eq!(
        again.json.as_ref().unwrap()["conversation_id"],
        first.conversation_id.as_str()
    );

    let mut socket = SupportClient::connect(&app, &first.cookie).await;
    assert_eq!(socket.say("hello", "s1").await["seq"], 1);
    assert_eq!(socket.expect_message("s1").await["from"], "Alice");

    let renamed = start(
        &app,
        Some(json!({"name": "Alice Smith"})),
        Some(&first.cookie),
    )
    .await;
    assert_eq!(renamed.status, 200, "{renamed:?}");
    assert_eq!(
        renamed.json.as_ref().unwrap()["conversation_id"],
        first.conversation_id.as_str()
    );
    assert_eq!(socket.say("it's me", "s2").await["seq"], 2);
    assert_eq!(socket.expect_message("s2").await["from"], "Alice Smith");
    let (_, mut ann) = support::agent(&app, "ann").await;
    let queue = ann.queue_snapshot().await;
    let entry = queue
        .iter()
        .find(|e| e["conversation_id"] == first.conversation_id.as_str())
        .expect("in the queue");
    assert_eq!(entry["customer"], "Alice Smith");
}

#[tokio::test]
async fn start_without_a_cookie_or_with_a_made_up_one_creates_a_new_conversation() {
    let app = spawn_app().await;
    let a = new_customer(&app, "A").await;
    let b = new_customer(&app, "B").await;
    assert_ne!(a.conversation_id, b.conversation_id);
    assert_ne!(a.cookie, b.cookie);

    let made_up = start(&app, None, Some("confab_support=guessed-secret-value")).await;
    assert_eq!(made_up.status, 201, "{made_up:?}");
    let c = made_up.json.as_ref().unwrap()["conversation_id"].clone();
    assert_ne!(c, a.conversation_id.as_str());
    assert_ne!(c, b.conversation_id.as_str());
    let new_cookie = support_cookie(&made_up).expect("a fresh cookie replaces the bad one");
    assert_ne!(new_cookie, "confab_support=guessed-secret-value");
}

#[tokio::test]
async fn start_rejects_a_name_longer_than_64_chars_with_400_invalid_input() {
    let app = spawn_app().await;
    let long = "é".repeat(65);
    let reply = start(&app, Some(json!({ "name": long })), None).await;
    assert_eq!(reply.status, 400, "{reply:?}");
    assert_eq!(reply.error_code(), "invalid_input");
    assert!(support_cookie(&reply).is_none(), "no conversation was made");

    let ok = start(&app, Some(json!({"name": "é".repeat(64)})), None).await;
    assert_eq!(ok.status, 201, "64 characters are allowed: {ok:?}");

    let bad_json = app.post_raw("/api/support/start", "{not json", None).await;
    assert_eq!(bad_json.status, 400, "{bad_json:?}");
    assert_eq!(bad_json.error_code(), "invalid_input");
}

#[tokio::test]
async fn support_socket_is_refused_with_401_without_a_valid_customer_cookie() {
    let app = spawn_app().await;
    let user_session = app.register("alice").await;
    for cookie in [
        None,
        Some("confab_support=not-a-real-secret"),
        Some(user_session.as_str()),
    ] {
        let reply = app.raw_upgrade("/ws/support", cookie, None).await;
        assert_eq!(reply.status, 401, "cookie {cookie:?}: {reply:?}");
        assert_eq!(reply.error_code(), "unauthorized");
    }
    match ws::open(&SupportClient::url(&app), None, None).await {
        Err(tokio_tungstenite::tungstenite::Error::Http(resp)) => {
            assert_eq!(resp.status().as_u16(), 401)
        }
        Err(other) => panic!("expected an HTTP 401 refusal, got {other:?}"),
        Ok(_) => panic!("a support socket without a cookie was accepted"),
    }
}

#[tokio::test]
async fn customer_cookie_does_not_open_the_account_socket() {
    let app = spawn_app().await;
    let c = new_customer(&app, "A").await;
    let reply = app.raw_upgrade("/ws", Some(&c.cookie), None).await;
    assert_eq!(reply.status, 401, "{reply:?}");
}

#[tokio::test]
async fn support_socket_is_refused_with_403_when_the_origin_is_foreign() {
    let app = spawn_app().await;
    let c = new_customer(&app, "A").await;
    let foreign = format!("http://evil.example:{}", app.addr.port());
    for origin in ["http://evil.example", foreign.as_str(), "null"] {
        let reply = app
            .raw_upgrade("/ws/support", Some(&c.cookie), Some(origin))
            .await;
        assert_eq!(reply.status, 403, "Origin {origin}: {reply:?}");
        assert_eq!(reply.error_code(), "bad_origin");
    }
    let own = app
        .raw_upgrade("/ws/support", Some(&c.cookie), Some(&app.origin()))
        .await;
    assert_eq!(own.status, 101, "the site's own origin is allowed: {own:?}");
}

#[tokio::test]
async fn support_socket_starts_with_an_empty_history_page_then_status_open() {
    let app = spawn_app().await;
    let c = new_customer(&app, "A").await;
    let socket = SupportClient::connect(&app, &c.cookie).await;
    assert_eq!(
        socket.history["conversation_id"],
        c.conversation_id.as_str()
    );
    assert_eq!(socket.history["messages"], json!([]));
    assert_eq!(socket.history["has_more"], false);
    assert_eq!(socket.status["status"], "open");
    assert_eq!(socket.status["assignee"], serde_json::Value::Null);
}
