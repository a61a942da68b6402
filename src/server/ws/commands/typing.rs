//! `typing {peer}`: forwarded to the peer's sockets as `typing {from}`; never stored.

use super::{resolve_peer, Reply};
use crate::protocol::server::Typing;
use crate::protocol::ServerFrame;
use crate::server::auth::CurrentUser;
use crate::server::hub::Outbound;
use crate::server::ws::connection::Connection;

pub async fn run(conn: &mut Connection, user: &CurrentUser, peer: Option<String>) -> Reply {
    let peer = match resolve_peer(conn, user, peer, "peer", None).await {
        Ok(name) => name,
        Err(frame) => return Reply::frame(frame),
    };
    let frame = ServerFrame::Typing(Typing {
        from: user.username.clone(),
        conversation_id: None,
    });
    conn.state
        .hub
        .send_to_user(peer.as_str(), &Outbound::frame(frame.to_json()));
    Reply::None
}
