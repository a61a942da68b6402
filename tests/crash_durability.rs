//! "Nothing acknowledged is lost by a crash (kill -9)": runs the real `confab` binary, kills it
//! with SIGKILL right after the last `accepted`, and starts it again on the same database.
#![cfg(feature = "ssr")]

mod common;

use common::process::kill_9;
use common::{seqs, TestApp};
use std::net::SocketAddr;
use tokio::process::Child;

/// Starts `confab serve` on `database_url` in a child process.
async fn start_binary(database_url: &str) -> (Child, SocketAddr) {
    common::process::spawn_confab(&[("DATABASE_URL", database_url.to_owned())]).await
}

#[tokio::test]
async fn accepted_messages_survive_kill_9_when_the_server_is_started_again() {
    let database = common::fresh_database().await;
    let (mut child, addr) = start_binary(&database.url).await;
    let mut app = TestApp::external(addr, database);

    let alice_cookie = app.register("alice").await;
    let bob_cookie = app.register("bob").await;
    let mut alice = app.connect(&alice_cookie).await;
    let mut accepted = Vec::new();
    for i in 1..=5 {
        accepted.push(
            alice
                .dm("bob", &format!("durable {i}"), &format!("k{i}"))
                .await,
        );
    }
    // No graceful anything: the process dies the moment the last ack arrived.
    kill_9(&mut child).await;
    assert!(
        matches!(
            alice.expect_closed().await,
            common::Closed::Dropped(_) | common::Closed::NoCode
        ),
        "a killed server sends no close code"
    );

    let (mut child, addr) = start_binary(&app.settings.database_url).await;
    app.addr = addr;
    // Sessions survive too.
    assert_eq!(app.get("/api/me", Some(&bob_cookie)).await.status, 200);

    let mut bob = app.connect(&bob_cookie).await;
    let conv = common::conversation(&bob.hello, "alice").expect("conversation survived");
    assert_eq!(conv["last_seq"], 5);
    assert_eq!(conv["unread"], 5);
    let messages = bob.expect_n("message", 5).await;
    assert_eq!(seqs(&messages), vec![1, 2, 3, 4, 5]);
    for (m, a) in messages.iter().zip(&accepted) {
        assert_eq!(m["id"], a["id"]);
    }
    assert_eq!(messages[4]["body"], "durable 5");

    // The last send is still known: resending it is idempotent, and numbering continues.
    let mut alice = app.connect(&alice_cookie).await;
    let again = alice.dm("bob", "durable 5", "k5").await;
    assert_eq!(again["id"], accepted[4]["id"]);
    assert_eq!(again["seq"], 5);
    assert_eq!(alice.dm("bob", "after the crash", "k6").await["seq"], 6);
    kill_9(&mut child).await;
}
