//! `read {peer, up_to_seq}`: the user has read the peer's messages; the peer gets a receipt.

use super::{resolve_peer, Reply};
use crate::server::auth::CurrentUser;
use crate::server::store::WriteOp;
use crate::server::ws::connection::Connection;

pub async fn run(
    conn: &mut Connection,
    user: &CurrentUser,
    peer: Option<String>,
    up_to_seq: u64,
) -> Reply {
    let peer = match resolve_peer(conn, user, peer, "peer", None).await {
        Ok(name) => name,
        Err(frame) => return Reply::frame(frame),
    };
    // The writer sends the receipt after the watermark is committed.
    conn.state
        .writer
        .submit_detached(WriteOp::MarkRead {
            reader: user.username.clone(),
            peer: peer.into_string(),
            up_to_seq,
        })
        .await;
    Reply::None
}
