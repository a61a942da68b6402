//! `sync {peer, after_seq}`: every message of the conversation after `after_seq`, then `synced`.

use super::{resolve_peer, Reply};
use crate::protocol::server::Synced;
use crate::protocol::{ErrorCode, ServerFrame};
use crate::server::auth::CurrentUser;
use crate::server::store::WriteOp;
use crate::server::ws::connection::Connection;

/// Messages read per store round trip.
const CHUNK: u32 = 500;
/// Most messages one `sync` returns; `synced.last_seq` says where to continue.
const MAX_PER_SYNC: usize = 10_000;

pub async fn run(
    conn: &mut Connection,
    user: &CurrentUser,
    peer: Option<String>,
    after_seq: u64,
) -> Reply {
    let peer = match resolve_peer(conn, user, peer, "peer", None).await {
        Ok(name) => name,
        Err(frame) => return Reply::frame(frame),
    };
    let me = user.username.clone();
    let mut frames = Vec::new();
    let mut last_seq = after_seq;
    let mut newest_incoming = None;
    while frames.len() < MAX_PER_SYNC {
        let chunk = match conn
            .state
            .store
            .messages_after(&me, peer.as_str(), last_seq, CHUNK)
            .await
        {
            Ok(chunk) => chunk,
            Err(e) => {
                tracing::error!(error = %e, "sync read failed");
                return Reply::error(ErrorCode::Internal, "sync failed; please retry");
            }
        };
        let done = chunk.len() < CHUNK as usize;
        for message in chunk {
            last_seq = message.seq;
            if message.recipient == me {
                newest_incoming = Some(message.seq);
            }
            frames.push(ServerFrame::Message(message.to_wire(&me)));
        }
        if done {
            break;
        }
    }
    // What a client syncs, it has received.
    if let Some(up_to_seq) = newest_incoming {
        conn.state
            .writer
            .submit_detached(WriteOp::MarkDelivered {
                reader: me.clone(),
                peer: peer.as_str().to_owned(),
                up_to_seq,
            })
            .await;
    }
    frames.push(ServerFrame::Synced(Synced {
        peer: Some(peer.into_string()),
        conversation_id: None,
        last_seq,
    }));
    Reply::Frames(frames)
}
