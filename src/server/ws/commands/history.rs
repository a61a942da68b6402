//! `history {peer, before_seq?, limit?}`: one page of older messages, oldest first; the newest
//! page comes with the peer's `presence`.

use super::{resolve_peer, Reply};
use crate::protocol::limits::{DEFAULT_HISTORY_LIMIT, MAX_HISTORY_LIMIT};
use crate::protocol::server::{HistoryPage, Presence};
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
        Ok((page, has_more)) => {
            let mut frames = vec![ServerFrame::HistoryPage(HistoryPage {
                messages: page.iter().map(|m| m.to_wire(me)).collect(),
                peer: Some(peer.as_str().to_owned()),
                conversation_id: None,
                has_more,
            })];
            // Opening a conversation (the newest page) also tells whether the peer is online:
            // presence frames otherwise reach only existing conversation partners.
            if before_seq.is_none() {
                frames.push(ServerFrame::Presence(Presence {
                    online: conn.state.hub.is_online(peer.as_str()),
                    user: peer.into_string(),
                }));
            }
            Reply::Frames(frames)
        }
        Err(e) => {
            tracing::error!(error = %e, "history read failed");
            Reply::error(ErrorCode::Internal, "history failed; please retry")
        }
    }
}
