//! Confab's protocol: accounts over HTTP (`/api/register`, cookie `confab_session`), then one
//! socket on `GET /ws` whose first frame is `hello`.

use crate::clients::{open as open_ws, Ws};
use anyhow::{bail, Context};
use futures_util::stream::{self, StreamExt};
use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

pub const COOKIE: &str = "confab_session";
pub const PASSWORD: &str = "bench-password-1";

/// Opens `GET /ws` with a session cookie (the caller waits for `hello`).
pub async fn open(addr: SocketAddr, cookie: &str) -> anyhow::Result<Ws> {
    open_ws(addr, "/ws", &[("cookie", format!("{COOKIE}={cookie}"))]).await
}

/// Registers each user through `POST /api/register` and returns their session cookies.
pub async fn register_all(
    addr: SocketAddr,
    users: &[String],
    progress: &indicatif::ProgressBar,
) -> anyhow::Result<HashMap<String, String>> {
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .build()?;
    let results: Vec<anyhow::Result<(String, String)>> = stream::iter(users.iter().cloned())
        .map(|user| {
            let http = http.clone();
            async move {
                let cookie = register(&http, addr, &user).await?;
                progress.inc(1);
                Ok((user, cookie))
            }
        })
        // Argon2 runs on the server's blocking pool: more than a few at once only queues.
        .buffer_unordered(4)
        .collect()
        .await;
    results.into_iter().collect()
}

async fn register(http: &reqwest::Client, addr: SocketAddr, user: &str) -> anyhow::Result<String> {
    let response = http
        .post(format!("http://{addr}/api/register"))
        .json(&serde_json::json!({ "username": user, "password": PASSWORD }))
        .send()
        .await
        .with_context(|| format!("registering {user}"))?;
    let status = response.status();
    if status.as_u16() != 201 {
        let text = response.text().await.unwrap_or_default();
        bail!("registering {user}: HTTP {status}: {text}");
    }
    session_cookie(response.headers()).with_context(|| format!("no session cookie for {user}"))
}

/// The value of `confab_session` in a response's `Set-Cookie` headers.
fn session_cookie(headers: &reqwest::header::HeaderMap) -> Option<String> {
    headers
        .get_all(reqwest::header::SET_COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find_map(|v| {
            let pair = v.split(';').next()?;
            let (name, value) = pair.split_once('=')?;
            (name.trim() == COOKIE && !value.is_empty()).then(|| value.trim().to_owned())
        })
}

/// `client_msg_id` must be new for every send of a sender across the whole run: Confab answers a
/// reused one with the original `accepted` and delivers nothing (idempotency). Each sender's ids
/// sort in the order they are sent (zero-padded), like the browser client's time-first ids.
pub fn send_frame(from: &str, to: &str, body: &str, id: u64) -> String {
    static NEXT: AtomicU64 = AtomicU64::new(1);
    let unique = NEXT.fetch_add(1, Ordering::Relaxed);
    serde_json::json!({
        "type": "send",
        "to": to,
        "body": body,
        "client_msg_id": format!("{from}-{unique:012}-{id}"),
    })
    .to_string()
}

pub fn history_frame(peer: &str, before_seq: u64, limit: u32) -> String {
    serde_json::json!({
        "type": "history",
        "peer": peer,
        "before_seq": before_seq,
        "limit": limit,
    })
    .to_string()
}

/// `GET /readyz` answered 200.
pub async fn ready(addr: SocketAddr) -> bool {
    let http = match reqwest::Client::builder()
        .timeout(Duration::from_secs(2))
        .build()
    {
        Ok(h) => h,
        Err(_) => return false,
    };
    matches!(
        http.get(format!("http://{addr}/readyz")).send().await,
        Ok(r) if r.status().is_success()
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_the_session_cookie() {
        let mut h = reqwest::header::HeaderMap::new();
        h.append("set-cookie", "other=1; Path=/".parse().unwrap());
        h.append(
            "set-cookie",
            "confab_session=abc_DEF-1; HttpOnly; SameSite=Lax; Path=/"
                .parse()
                .unwrap(),
        );
        assert_eq!(session_cookie(&h).as_deref(), Some("abc_DEF-1"));
    }
}
