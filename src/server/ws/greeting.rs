//! The first frames of a socket — `hello` and the offline replay for users, the newest page and
//! status for support customers — and presence announcements when a user comes or goes.

use super::connection::{write_message, Connection, Customer, End};
use super::outbound::write;
use crate::protocol::server::{Hello, HistoryPage, Presence};
use crate::protocol::{ConversationSummary, ServerFrame};
use crate::server::auth::CurrentUser;
use crate::server::hub::{customer_key, CloseReason, Outbound};
use crate::server::state::AppState;
use crate::server::store::WriteOp;
use crate::server::support::fanout::status_frame;
use axum::extract::ws::Message;
use futures::Sink;
use std::collections::HashMap;

/// Offline messages read from the store per round trip.
const REPLAY_CHUNK: u32 = 500;

/// A customer first gets the newest page of their conversation and its status.
pub(super) async fn start_customer<S>(
    conn: &mut Connection,
    customer: &Customer,
    sink: &mut S,
) -> Result<(), End>
where
    S: Sink<Message> + Unpin + Send,
{
    let state = conn.state.clone();
    let id = &customer.conversation_id;
    let limit = crate::protocol::limits::DEFAULT_HISTORY_LIMIT;
    let (page, conversation) = match (
        state.store.support_messages_before(id, None, limit).await,
        state.store.support_by_id(id).await,
    ) {
        (Ok(page), Ok(Some(conversation))) => (page, conversation),
        _ => {
            return Err(End::Close(CloseReason {
                code: 1011,
                reason: "internal error",
            }))
        }
    };
    let (messages, has_more) = page;
    if let Some(last) = messages.last() {
        conn.sent.insert(customer_key(id), last.seq);
    }
    let history = ServerFrame::HistoryPage(HistoryPage {
        peer: None,
        conversation_id: Some(id.clone()),
        messages: messages
            .iter()
            .map(|m| m.to_wire(&conversation.customer_name))
            .collect(),
        has_more,
    });
    write(sink, &history.to_json()).await?;
    write(sink, &status_frame(&conversation).to_json()).await
}

/// `hello`, then every message that waited for this user.
pub(super) async fn start_user<S>(
    conn: &mut Connection,
    user: &CurrentUser,
    sink: &mut S,
) -> Result<(), End>
where
    S: Sink<Message> + Unpin + Send,
{
    let state = conn.state.clone();
    let me = user.username.clone();
    if user.role.is_agent() {
        // "Away" is remembered across reconnects: a reload must not hand out conversations.
        let available = state.store.agent_available(&me).await.unwrap_or(true);
        state.hub.set_available(&me, available);
        super::commands::agent::take_waiting(&state, &me).await;
    }
    let rows = state.store.conversations(&me).await.map_err(|e| {
        tracing::error!(error = %e, "cannot load conversations");
        End::Close(CloseReason {
            code: 1011,
            reason: "internal error",
        })
    })?;
    let conversations = rows
        .into_iter()
        .map(|row| ConversationSummary {
            online: state.hub.is_online(&row.peer),
            last_message: row.last_message.map(|m| m.to_wire(&me)),
            peer: row.peer,
            last_seq: row.last_seq,
            unread: row.unread,
            peer_delivered_seq: row.peer_delivered_seq,
            peer_read_seq: row.peer_read_seq,
        })
        .collect();
    let hello = ServerFrame::Hello(Hello {
        user: me.clone(),
        conversations,
        role: Some(user.role.as_str().to_owned()),
    });
    write(sink, &hello.to_json()).await?;
    // The socket was registered before this: anything committed since is queued for it live.
    // So the replay covers what the store held then, and stops at the first short chunk rather
    // than chasing new messages (which would leave the live queue unread until it overflows).
    loop {
        let pending = match state.store.pending_for(&me, REPLAY_CHUNK).await {
            Ok(p) if p.is_empty() => return Ok(()),
            Ok(p) => p,
            Err(e) => {
                tracing::error!(error = %e, "cannot load offline messages");
                return Ok(());
            }
        };
        let mut delivered: HashMap<String, u64> = HashMap::new();
        for message in &pending {
            write_message(conn, sink, &message.to_wire(&me)).await?;
            delivered.insert(message.sender.clone(), message.seq);
        }
        // All conversations' watermarks in one commit; awaited, so the next read sees them.
        let marks = delivered.into_iter().map(|(peer, up_to_seq)| {
            state.writer.submit(WriteOp::MarkDelivered {
                reader: me.clone(),
                peer,
                up_to_seq,
            })
        });
        futures::future::join_all(marks).await;
        if pending.len() < REPLAY_CHUNK as usize {
            return Ok(());
        }
    }
}

/// Tells this node's sockets of users who share a conversation with `user` that they came or
/// went (other nodes tell their own sockets; see `cluster::node`).
pub async fn announce_presence(state: &AppState, user: &str, online: bool) {
    let peers = match state.store.peers_of(user).await {
        Ok(peers) => peers,
        Err(e) => {
            tracing::warn!(error = %e, "cannot load peers for presence");
            return;
        }
    };
    let frame = Outbound::frame(
        ServerFrame::Presence(Presence {
            user: user.to_owned(),
            online,
        })
        .to_json(),
    );
    for peer in peers {
        state.hub.deliver(&peer, &frame);
    }
}
