//! The real `confab` binary in a child process (for SIGKILL and multi-process tests).

use std::net::SocketAddr;
use std::process::Stdio;
use std::time::Duration;
use tokio::process::{Child, Command};
use tokio::time::Instant;

/// Starts `confab serve` on a free loopback port with `env` added, and waits until `/readyz`
/// answers 200 (database open, listening).
pub async fn spawn_confab(env: &[(&str, String)]) -> (Child, SocketAddr) {
    let addr = {
        let probe = std::net::TcpListener::bind("127.0.0.1:0").expect("free port");
        probe.local_addr().expect("local addr")
    };
    let mut child = Command::new(env!("CARGO_BIN_EXE_confab"))
        .arg("serve")
        .envs(env.iter().map(|(k, v)| (*k, v.as_str())))
        .env("LEPTOS_SITE_ADDR", addr.to_string())
        .env("RUST_LOG", "warn")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("the confab binary starts");
    let client = reqwest::Client::builder().no_proxy().build().unwrap();
    // Waiting for another process to come up: poll its readiness endpoint.
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        if let Ok(r) = client.get(format!("http://{addr}/readyz")).send().await {
            if r.status() == 200 {
                return (child, addr);
            }
        }
        if let Ok(Some(status)) = child.try_wait() {
            panic!("confab exited early: {status}");
        }
        assert!(Instant::now() < deadline, "confab did not become ready");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// SIGKILL, and reap the process.
pub async fn kill_9(child: &mut Child) {
    child.start_kill().expect("SIGKILL");
    child.wait().await.expect("reaped");
}
