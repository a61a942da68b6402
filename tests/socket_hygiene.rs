//! Socket lifecycle: logout, shutdown, idle timeout, server pings; diagnostics endpoints.
#![cfg(feature = "ssr")]

mod common;

use common::{spawn_app, spawn_app_with, ws, Closed};
use futures::{SinkExt, StreamExt};
use std::time::Duration;
use tokio_tungstenite::tungstenite::Message;

#[tokio::test]
async fn logout_closes_that_sessions_sockets_with_1008_and_keeps_other_sessions_open() {
    let app = spawn_app().await;
    let laptop = app.register("alice").await;
    let phone = app.login("alice").await;
    let mut laptop1 = app.connect(&laptop).await;
    let mut laptop2 = app.connect(&laptop).await;
    let mut phone1 = app.connect(&phone).await;

    // Another client holding the same cookie logs out.
    assert_eq!(app.logout(&laptop).await.status, 204);
    for socket in [&mut laptop1, &mut laptop2] {
        let closed = socket.expect_closed().await;
        assert_eq!(closed, Closed::Code(1008), "revoked session");
    }
    phone1.ping_pong().await;

    // The phone still sends and receives.
    let (_, mut bob) = app.user("bob").await;
    phone1.dm("bob", "still here", "p1").await;
    bob.expect_message("p1").await;
    let reply = app.raw_upgrade("/ws", Some(&laptop), None).await;
    assert_eq!(reply.status, 401, "the revoked cookie cannot reconnect");
}

#[tokio::test]
async fn graceful_stop_closes_open_sockets_with_1001() {
    let mut app = spawn_app().await;
    let (_, mut alice) = app.user("alice").await;
    let (_, mut bob) = app.user("bob").await;
    alice.dm("bob", "bye", "b1").await;
    bob.expect_message("b1").await;
    app.stop().await;
    assert_eq!(alice.expect_closed().await, Closed::Code(1001));
    assert_eq!(bob.expect_closed().await, Closed::Code(1001));
}

#[tokio::test]
async fn socket_is_closed_with_1001_when_the_client_stays_silent_past_the_idle_timeout() {
    let app = spawn_app_with(|s| {
        s.ping_interval_secs = 1;
        s.idle_timeout_secs = 2;
    })
    .await;
    let (_, alice) = app.user("alice").await;
    // Not reading means not answering the server's pings: the client is silent. The silence is
    // the behaviour under test, so this waits in real time.
    tokio::time::sleep(Duration::from_millis(4500)).await;
    let closed = alice.raw_close_code().await;
    assert_eq!(
        closed,
        Closed::Code(1001),
        "idle sockets are closed as going away"
    );
}

#[tokio::test]
async fn socket_stays_open_past_the_idle_timeout_when_the_client_answers_pings() {
    let app = spawn_app_with(|s| {
        s.ping_interval_secs = 1;
        s.idle_timeout_secs = 2;
    })
    .await;
    let (_, mut alice) = app.user("alice").await;
    // Reading answers pings automatically (WebSocket pong), which counts as hearing from us.
    let closed = alice.listen_for(Duration::from_millis(4500)).await;
    assert_eq!(closed, None, "a responsive client is not idle");
    assert!(
        alice.pings >= 2,
        "the server pings every second: {}",
        alice.pings
    );
    alice.ping_pong().await;
}

#[tokio::test]
async fn echo_socket_echoes_text_frames() {
    let app = spawn_app().await;
    let url = format!("ws://{}/ws/echo", app.addr);
    let mut socket = ws::open(&url, None, None)
        .await
        .expect("echo needs no session");
    for text in ["hello", "{\"type\":\"ping\"}", "ünïcödé ✓"] {
        socket.send(Message::text(text)).await.unwrap();
        let echoed = tokio::time::timeout(common::TIMEOUT, socket.next())
            .await
            .expect("echo in time")
            .expect("socket open")
            .expect("frame");
        assert_eq!(echoed, Message::text(text));
    }
}

#[tokio::test]
async fn healthz_and_readyz_answer_200_when_the_server_is_up() {
    let app = spawn_app().await;
    assert_eq!(app.get("/healthz", None).await.status, 200);
    assert_eq!(app.get("/readyz", None).await.status, 200);
    let metrics = app.get("/metrics", None).await;
    assert_eq!(metrics.status, 200);
    assert!(
        metrics
            .content_type
            .as_deref()
            .is_some_and(|c| c.starts_with("text/plain")),
        "{metrics:?}"
    );
    assert!(
        metrics.text.contains("# TYPE "),
        "Prometheus text: {}",
        metrics.text
    );
}

#[tokio::test]
async fn metrics_count_every_commit_in_a_commit_time_histogram_when_messages_are_sent() {
    let app = spawn_app().await;
    let (_, mut alice) = app.user("alice").await;
    let _bob = app.user("bob").await;
    for n in 0..3 {
        // One at a time: each waits for its commit, so each is a batch of its own.
        alice.dm("bob", "hi", &format!("c-{n}")).await;
    }

    let text = app.get("/metrics", None).await.text;
    let value = |line_start: &str| -> f64 {
        text.lines()
            .find_map(|l| l.strip_prefix(line_start))
            .unwrap_or_else(|| panic!("no {line_start} in {text}"))
            .trim()
            .parse()
            .unwrap()
    };
    assert!(text.contains("# TYPE confab_writer_commit_seconds histogram"));
    let buckets: Vec<f64> = ["0.001", "0.002", "0.005", "0.01", "0.02", "0.05", "+Inf"]
        .iter()
        .map(|le| {
            value(&format!(
                "confab_writer_commit_seconds_bucket{{le=\"{le}\"}} "
            ))
        })
        .collect();
    let count = value("confab_writer_commit_seconds_count ");
    assert!(count >= 3.0, "three sends, three commits at least: {text}");
    assert!(
        buckets.windows(2).all(|w| w[0] <= w[1]),
        "cumulative buckets: {buckets:?}"
    );
    assert_eq!(buckets[6], count, "+Inf holds every commit");
    assert!(value("confab_writer_commit_seconds_sum ") > 0.0);
}
