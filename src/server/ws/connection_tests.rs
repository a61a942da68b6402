//! The socket loop driven through channels instead of a network socket.

use super::connection::{run, Who};
use crate::protocol::Role;
use crate::server::auth::CurrentUser;
use crate::server::config::Settings;
use crate::server::startup::build_state;
use axum::extract::ws::Message;
use futures::channel::mpsc;
use futures::{SinkExt, StreamExt};
use std::sync::Arc;
use std::time::Duration;

async fn next_json(rx: &mut mpsc::UnboundedReceiver<Message>) -> serde_json::Value {
    let message = tokio::time::timeout(Duration::from_secs(5), rx.next())
        .await
        .expect("a frame within 5 s")
        .expect("socket still open");
    match message {
        Message::Text(text) => serde_json::from_str(text.as_str()).expect("JSON frame"),
        other => panic!("expected a text frame, got {other:?}"),
    }
}

/// A socket loop for "ann", fed through channels, on a fresh store that has the accounts
/// `users`.
struct Fed {
    state: crate::server::state::AppState,
    input: mpsc::UnboundedSender<Result<Message, axum::Error>>,
    output: mpsc::UnboundedReceiver<Message>,
    task: tokio::task::JoinHandle<()>,
    _dir: tempfile::TempDir,
}

async fn feed_ann(users: &[&str]) -> Fed {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}/t.db", dir.path().display());
    let (state, _writer, _cluster) =
        build_state(Settings::for_tests(url), "127.0.0.1:0".parse().unwrap())
            .await
            .unwrap();
    for name in users {
        state
            .store
            .create_user(name, "x", Role::User)
            .await
            .unwrap();
    }
    let user = CurrentUser {
        username: "ann".into(),
        role: Role::User,
        session_hash: Arc::from("s"),
        expires_at_ms: i64::MAX,
    };
    let (out_tx, output) = mpsc::unbounded::<Message>();
    let (input, in_rx) = mpsc::unbounded::<Result<Message, axum::Error>>();
    let task = tokio::spawn(run(out_tx, in_rx, state.clone(), Who::User(user.into())));
    Fed {
        state,
        input,
        output,
        task,
        _dir: dir,
    }
}

#[tokio::test]
async fn socket_loop_greets_answers_and_reports_bad_frames_when_fed_through_channels() {
    let Fed {
        state,
        input: mut in_tx,
        output: mut out_rx,
        task,
        _dir,
    } = feed_ann(&["ann"]).await;

    let hello = next_json(&mut out_rx).await;
    assert_eq!(hello["type"], "hello");
    assert_eq!(hello["user"], "ann");

    in_tx
        .send(Ok(Message::Text(r#"{"type":"ping"}"#.into())))
        .await
        .unwrap();
    assert_eq!(next_json(&mut out_rx).await["type"], "pong");

    in_tx.send(Ok(Message::Text("{oops".into()))).await.unwrap();
    let error = next_json(&mut out_rx).await;
    assert_eq!(error["type"], "error");
    assert_eq!(error["code"], "bad_frame");

    in_tx
        .send(Ok(Message::Text(
            r#"{"type":"send","to":"ann","body":"me","client_msg_id":"c1"}"#.into(),
        )))
        .await
        .unwrap();
    let error = next_json(&mut out_rx).await;
    assert_eq!(error["code"], "self_message");
    assert_eq!(error["client_msg_id"], "c1");

    // The client leaving ends the loop and takes the socket out of the hub.
    drop(in_tx);
    tokio::time::timeout(Duration::from_secs(5), task)
        .await
        .expect("loop ends when the input ends")
        .unwrap();
    assert!(!state.hub.is_online("ann"));
}

#[tokio::test]
async fn sends_in_flight_together_are_accepted_in_the_order_they_were_sent() {
    let Fed {
        input: mut in_tx,
        output: mut out_rx,
        task,
        _dir,
        ..
    } = feed_ann(&["ann", "bob"]).await;
    assert_eq!(next_json(&mut out_rx).await["type"], "hello");

    // All sent before any is answered: many wait for their commit at once, and a resend of
    // the first sits among them.
    // Fewer than the rate limit's burst (40 frames).
    const SENDS: usize = 30;
    for i in 0..SENDS {
        let frame = format!(r#"{{"type":"send","to":"bob","body":"m{i}","client_msg_id":"c{i}"}}"#);
        in_tx.send(Ok(Message::Text(frame.into()))).await.unwrap();
    }
    let resend = r#"{"type":"send","to":"bob","body":"m0","client_msg_id":"c0"}"#;
    in_tx.send(Ok(Message::Text(resend.into()))).await.unwrap();

    let mut accepted = Vec::new();
    let mut echoed = Vec::new();
    while accepted.len() < SENDS + 1 || echoed.len() < SENDS {
        let frame = next_json(&mut out_rx).await;
        match frame["type"].as_str() {
            Some("accepted") => accepted.push((
                frame["client_msg_id"].as_str().unwrap().to_owned(),
                frame["seq"].as_u64().unwrap(),
            )),
            Some("message") => echoed.push(frame["seq"].as_u64().unwrap()),
            other => panic!("unexpected frame {other:?}: {frame}"),
        }
    }
    let mut expected: Vec<(String, u64)> = (0..SENDS)
        .map(|i| (format!("c{i}"), i as u64 + 1))
        .collect();
    // The resend is answered last, with the original's seq.
    expected.push(("c0".to_owned(), 1));
    assert_eq!(accepted, expected);
    assert_eq!(echoed, (1..=SENDS as u64).collect::<Vec<_>>());

    drop(in_tx);
    tokio::time::timeout(Duration::from_secs(5), task)
        .await
        .expect("loop ends when the input ends")
        .unwrap();
}
