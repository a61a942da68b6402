//! `confab user add NAME --role agent`: the only way to make an agent.
#![cfg(feature = "ssr")]

mod common;

use common::{spawn_app, TestApp};
use std::process::Stdio;
use tokio::io::AsyncWriteExt;
use tokio::process::Command;

/// Runs `confab user add <name> --role <role>` against the app's database with `stdin` piped
/// in; returns (success, stdout, stderr).
async fn user_add(app: &TestApp, name: &str, role: &str, stdin: &str) -> (bool, String, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_confab"))
        .args(["user", "add", name, "--role", role])
        .env("DATABASE_URL", &app.settings.database_url)
        .env("RUST_LOG", "warn")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("the confab binary starts");
    let mut input = child.stdin.take().unwrap();
    input.write_all(stdin.as_bytes()).await.unwrap();
    drop(input);
    let out = tokio::time::timeout(common::TIMEOUT * 4, child.wait_with_output())
        .await
        .expect("confab user add finishes")
        .expect("output");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[tokio::test]
async fn cli_user_add_creates_an_agent_who_can_log_in_and_use_the_console() {
    let app = spawn_app().await;
    let (ok, stdout, stderr) = user_add(&app, "ann", "agent", "ann-secret-pass\n").await;
    assert!(ok, "stdout: {stdout}\nstderr: {stderr}");
    assert!(
        !stdout.contains("ann-secret-pass") && !stderr.contains("ann-secret-pass"),
        "the password is never echoed"
    );

    let login = app.login_reply("ann", "ann-secret-pass").await;
    assert_eq!(login.status, 200, "{login:?}");
    assert_eq!(login.json.as_ref().unwrap()["role"], "agent");
    let cookie = login.session_cookie().unwrap();
    let me = app.get("/api/me", Some(&cookie)).await;
    assert_eq!(me.status, 200);
    assert_eq!(me.json.as_ref().unwrap()["username"], "ann");
    assert_eq!(me.json.as_ref().unwrap()["role"], "agent");

    let mut ws = app.connect(&cookie).await;
    assert_eq!(ws.hello["role"], "agent");
    ws.send_json(serde_json::json!({"type": "queue"})).await;
    assert_eq!(
        ws.expect("queue").await["conversations"],
        serde_json::json!([])
    );

    // The same name again is refused.
    let (again, _, stderr) = user_add(&app, "ann", "agent", "another-password\n").await;
    assert!(!again, "a second ann: {stderr}");
}

#[tokio::test]
async fn cli_user_add_refuses_a_short_password_or_unknown_role_with_a_failure_exit() {
    let app = spawn_app().await;
    let (ok, _, stderr) = user_add(&app, "bob", "agent", "short\n").await;
    assert!(!ok, "a 5-character password is refused");
    assert!(!stderr.is_empty(), "and the reason is printed");
    assert_eq!(app.login_reply("bob", "short").await.status, 401);

    let (ok, _, _) = user_add(&app, "carl", "wizard", "long-enough-pass\n").await;
    assert!(!ok, "unknown role");
    assert_eq!(
        app.login_reply("carl", "long-enough-pass").await.status,
        401,
        "nobody was created"
    );
}
