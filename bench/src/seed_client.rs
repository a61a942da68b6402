//! The seed's protocol: `GET /ws/{user}?token=…` (any non-empty token), client frames
//! `{"to_user","content","timestamp"}`, delivered as `{"from","content","timestamp","type":"message"}`;
//! the sender gets `{"type":"info",…}` when the recipient is offline and the message is kept.

use crate::clients::{open as open_ws, Ws};
use std::net::SocketAddr;

pub async fn open(addr: SocketAddr, user: &str) -> anyhow::Result<Ws> {
    open_ws(addr, &format!("/ws/{user}?token={user}"), &[]).await
}

pub fn send_frame(to: &str, body: &str) -> String {
    serde_json::json!({
        "to_user": to,
        "content": body,
        "timestamp": crate::util::utc_iso(),
    })
    .to_string()
}
