//! At its connection cap (kept below the open-file limit) the server answers new connections
//! with 503 and a JSON error, keeps serving the ones it holds, and takes new ones again as soon
//! as a place is free.
#![cfg(feature = "ssr")]

mod common;

use common::ws::open;
use common::{spawn_app_with, WsClient};
use std::time::Duration;
use tokio::time::Instant;
use tokio_tungstenite::tungstenite;

const CAP: usize = 4;

#[tokio::test]
async fn connections_over_the_cap_get_503_while_held_ones_keep_working() {
    let app = spawn_app_with(|s| s.max_connections = Some(CAP)).await;
    let cookie = app.register("alice").await;
    let url = format!("ws://{}/ws", app.addr);

    // Open sockets until the server refuses one (the test's HTTP client may hold a pooled
    // connection too, so the refusal comes at the cap or just before it).
    let mut held = Vec::new();
    let refusal = loop {
        assert!(held.len() <= CAP, "held more connections than the cap");
        match open(&url, Some(&cookie), None).await {
            Ok(ws) => held.push(ws),
            Err(tungstenite::Error::Http(response)) => break response,
            Err(e) => panic!("expected a clean 503, got {e:?}"),
        }
    };
    assert!(
        held.len() >= CAP - 1,
        "refused too early: {} held",
        held.len()
    );
    assert_eq!(refusal.status(), 503);
    assert_eq!(refusal.headers()["retry-after"], "5");
    let body: serde_json::Value =
        serde_json::from_slice(refusal.body().as_deref().unwrap_or_default()).expect("JSON body");
    assert_eq!(body["error"]["code"], "unavailable");

    // The held sockets still work.
    let mut first = WsClient::from_stream(held.remove(0)).await;
    first.ping_pong().await;
    let mut second = WsClient::from_stream(held.remove(0)).await;
    second.ping_pong().await;

    // A place frees up when a socket closes; then a new connection is served.
    second.close().await;
    let deadline = Instant::now() + Duration::from_secs(5);
    let mut again = loop {
        match open(&url, Some(&cookie), None).await {
            Ok(ws) => break WsClient::from_stream(ws).await,
            Err(_) if Instant::now() < deadline => {
                tokio::time::sleep(Duration::from_millis(50)).await
            }
            Err(e) => panic!("no place freed after a socket closed: {e:?}"),
        }
    };
    again.ping_pong().await;
    first.ping_pong().await;
}
