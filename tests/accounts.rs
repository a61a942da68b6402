//! Accounts over HTTP: register, login, logout, me, and the session cookie.
#![cfg(feature = "ssr")]

mod common;

use common::{spawn_app, PASSWORD};
use serde_json::json;

/// The value part of `confab_session=<value>`.
fn cookie_value(cookie: &str) -> &str {
    cookie
        .strip_prefix("confab_session=")
        .expect("cookie is confab_session")
}

#[tokio::test]
async fn register_returns_201_user_role_and_session_cookie_when_input_is_valid() {
    let app = spawn_app().await;
    let reply = app.register_reply("alice", PASSWORD).await;
    assert_eq!(reply.status, 201, "{reply:?}");
    assert_eq!(
        reply.json,
        Some(json!({"username": "alice", "role": "user"}))
    );

    let set_cookie = reply
        .session_set_cookie()
        .expect("Set-Cookie confab_session");
    let attrs: Vec<String> = set_cookie
        .split(';')
        .skip(1)
        .map(|a| a.trim().to_ascii_lowercase())
        .collect();
    assert!(attrs.contains(&"httponly".into()), "{set_cookie}");
    assert!(attrs.contains(&"samesite=lax".into()), "{set_cookie}");
    assert!(attrs.contains(&"path=/".into()), "{set_cookie}");

    let cookie = reply.session_cookie().unwrap();
    let value = cookie_value(&cookie);
    assert!(
        value.len() >= 22,
        "a session token carries at least 128 random bits: {value:?}"
    );
    assert!(
        value
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_'),
        "cookie value is base64url/hex: {value:?}"
    );

    let me = app.get("/api/me", Some(&cookie)).await;
    assert_eq!(me.status, 200, "{me:?}");
    assert_eq!(me.json, Some(json!({"username": "alice", "role": "user"})));
}

#[tokio::test]
async fn register_stores_the_username_lowercase_when_given_mixed_case() {
    let app = spawn_app().await;
    let reply = app.register_reply("  Alice_1 ", PASSWORD).await;
    assert_eq!(reply.status, 201, "{reply:?}");
    assert_eq!(reply.json.as_ref().unwrap()["username"], "alice_1");

    let login = app.login_reply("ALICE_1", PASSWORD).await;
    assert_eq!(login.status, 200, "login is case-insensitive: {login:?}");
    assert_eq!(login.json.as_ref().unwrap()["username"], "alice_1");
}

#[tokio::test]
async fn register_returns_409_username_taken_when_the_name_exists_in_any_case() {
    let app = spawn_app().await;
    app.register("bob").await;
    for name in ["bob", "BOB", "Bob"] {
        let reply = app.register_reply(name, "another-password").await;
        assert_eq!(reply.status, 409, "{name}: {reply:?}");
        assert_eq!(reply.error_code(), "username_taken", "{name}");
        assert!(reply.session_cookie().is_none(), "no session for a failure");
    }
}

#[tokio::test]
async fn register_returns_400_invalid_input_when_the_username_is_malformed() {
    let app = spawn_app().await;
    let too_long = "a".repeat(33);
    for name in [
        "ab",
        "",
        too_long.as_str(),
        "al ice",
        "<script>",
        "bob!",
        "ünï",
    ] {
        let reply = app.register_reply(name, PASSWORD).await;
        assert_eq!(reply.status, 400, "{name:?}: {reply:?}");
        assert_eq!(reply.error_code(), "invalid_input", "{name:?}");
    }
    let longest = "b".repeat(32);
    for name in ["abc", longest.as_str(), "bob.smith-2_x"] {
        let reply = app.register_reply(name, PASSWORD).await;
        assert_eq!(reply.status, 201, "{name:?} is a valid username: {reply:?}");
    }
}

#[tokio::test]
async fn register_returns_400_invalid_input_when_the_password_is_shorter_than_8() {
    let app = spawn_app().await;
    let reply = app.register_reply("carol", "1234567").await;
    assert_eq!(reply.status, 400, "{reply:?}");
    assert_eq!(reply.error_code(), "invalid_input");
    assert_eq!(app.register_reply("carol", "12345678").await.status, 201);
}

#[tokio::test]
async fn register_returns_400_invalid_input_when_the_body_is_not_json() {
    let app = spawn_app().await;
    for body in ["not json", "{\"username\":\"dave\"}", "[]", ""] {
        let reply = app.post_raw("/api/register", body, None).await;
        assert_eq!(reply.status, 400, "{body:?}: {reply:?}");
        assert_eq!(reply.error_code(), "invalid_input", "{body:?}");
    }
}

#[tokio::test]
async fn login_returns_200_and_a_new_cookie_each_time_when_credentials_are_right() {
    let app = spawn_app().await;
    let first = app.register("erin").await;
    let reply = app.login_reply("erin", PASSWORD).await;
    assert_eq!(reply.status, 200, "{reply:?}");
    assert_eq!(
        reply.json,
        Some(json!({"username": "erin", "role": "user"}))
    );
    let set_cookie = reply.session_set_cookie().expect("login sets a cookie");
    assert!(set_cookie.to_ascii_lowercase().contains("httponly"));
    let second = reply.session_cookie().unwrap();
    let third = app.login("erin").await;

    assert_ne!(cookie_value(&first), cookie_value(&second));
    assert_ne!(cookie_value(&second), cookie_value(&third));
    for cookie in [&first, &second, &third] {
        let me = app.get("/api/me", Some(cookie)).await;
        assert_eq!(me.status, 200, "every session is valid: {me:?}");
    }
}

#[tokio::test]
async fn login_fails_with_the_same_401_body_when_password_is_wrong_or_user_unknown() {
    let app = spawn_app().await;
    app.register("frank").await;
    let wrong_password = app.login_reply("frank", "not-the-password").await;
    let unknown_user = app.login_reply("nobody", PASSWORD).await;
    assert_eq!(wrong_password.status, 401, "{wrong_password:?}");
    assert_eq!(unknown_user.status, 401, "{unknown_user:?}");
    assert_eq!(wrong_password.error_code(), "invalid_credentials");
    assert_eq!(
        wrong_password.json, unknown_user.json,
        "the answer does not reveal which usernames exist"
    );
    assert!(wrong_password.session_cookie().is_none());
    assert!(unknown_user.session_cookie().is_none());
}

#[tokio::test]
async fn me_returns_401_unauthorized_when_the_cookie_is_missing_or_bogus() {
    let app = spawn_app().await;
    let missing = app.get("/api/me", None).await;
    assert_eq!(missing.status, 401, "{missing:?}");
    assert_eq!(missing.error_code(), "unauthorized");
    let bogus = app
        .get(
            "/api/me",
            Some("confab_session=AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"),
        )
        .await;
    assert_eq!(bogus.status, 401, "{bogus:?}");
    assert_eq!(bogus.error_code(), "unauthorized");
}

#[tokio::test]
async fn logout_returns_204_and_revokes_only_that_session() {
    let app = spawn_app().await;
    let first = app.register("gina").await;
    let second = app.login("gina").await;

    let reply = app.logout(&first).await;
    assert_eq!(reply.status, 204, "{reply:?}");

    let me = app.get("/api/me", Some(&first)).await;
    assert_eq!(me.status, 401, "the old cookie no longer works: {me:?}");
    assert_eq!(me.error_code(), "unauthorized");
    let me = app.get("/api/me", Some(&second)).await;
    assert_eq!(
        me.status, 200,
        "another session of the same user stays: {me:?}"
    );

    let again = app.logout(&first).await;
    assert_eq!(
        again.status, 401,
        "a revoked session cannot log out: {again:?}"
    );
}

#[tokio::test]
async fn logout_returns_401_when_there_is_no_session() {
    let app = spawn_app().await;
    let reply = app.post_json("/api/logout", &json!({}), None).await;
    assert_eq!(reply.status, 401, "{reply:?}");
    assert_eq!(reply.error_code(), "unauthorized");
}

#[tokio::test]
async fn accounts_survive_a_restart_when_the_database_is_kept() {
    let mut app = spawn_app().await;
    let cookie = app.register("hank").await;
    app.restart().await;
    let me = app.get("/api/me", Some(&cookie)).await;
    assert_eq!(me.status, 200, "sessions are stored, not in memory: {me:?}");
    assert_eq!(app.login_reply("hank", PASSWORD).await.status, 200);
    assert_eq!(app.register_reply("hank", PASSWORD).await.status, 409);
}
