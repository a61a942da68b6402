//! `history {peer, before_seq?, limit?}`: one page of older messages, oldest first.

use super::{resolve_peer, Reply};
use crate::protocol::limits::{DEFAULT_HISTORY_LIMIT, MAX_HISTORY_LIMIT};
use crate::protocol::{ErrorCode, ServerFrame};
use crate::server::auth::CurrentUser;
use crate::server::ws::connection::Connection;

pub async fn run(
    conn: &mut Connection,
    user: &CurrentUser,
    peer: Option<String>,
    before_seq: Option<u64>,
    limit: Option<u32>,
) -> Reply {
    let peer = match resolve_peer(conn, user, peer, "peer", None).await {
        Ok(name) => name,
        Err(frame) => return Reply::frame(frame),
    };
    let limit = limit
        .unwrap_or(DEFAULT_HISTORY_LIMIT)
        .clamp(1, MAX_HISTORY_LIMIT);
    let me = &user.username;
    match conn
        .state
        .store
        .messages_before(me, peer.as_str(), before_seq, limit)
        .await
    {
        Ok((page, has_more)) => Reply::frame(ServerFrame::HistoryPage {
            messages: page.iter().map(|m| m.to_wire(me)).collect(),
            peer: Some(peer.into_string()),
            conversation_id: None,
            has_more,
        }),
        Err(e) => {
            tracing::error!(error = %e, "history read failed");
            Reply::error(ErrorCode::Internal, "history failed; please retry")
        }
    }
}
