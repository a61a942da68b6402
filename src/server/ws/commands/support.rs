//! Support commands shared by agents and customers: send, history, sync, read.

use super::Reply;
use crate::protocol::limits::{DEFAULT_HISTORY_LIMIT, MAX_HISTORY_LIMIT};
use crate::protocol::server::{Accepted, HistoryPage, Synced};
use crate::protocol::{ClientMsgId, ErrorCode, FromRole, MessageBody, ServerFrame};
use crate::server::diagnostics::Metrics;
use crate::server::store::{
    new_message_id, now_rfc3339, NewSupportMessage, SupportConversation, WriteOp,
};
use crate::server::writer::{WriteError, Written};
use crate::server::ws::connection::Connection;

/// Messages read per store round trip, and most per `sync`.
const CHUNK: u32 = 500;
const MAX_PER_SYNC: usize = 10_000;

/// Loads a conversation or answers `not_found`.
pub async fn conversation(conn: &Connection, id: &str) -> Result<SupportConversation, ServerFrame> {
    match conn.state.store.support_by_id(id).await {
        Ok(Some(c)) => Ok(c),
        Ok(None) => Err(ServerFrame::error(
            ErrorCode::NotFound,
            format!("no support conversation {id:?}"),
            None,
        )),
        Err(e) => {
            tracing::error!(error = %e, "support lookup failed");
            Err(ServerFrame::error(
                ErrorCode::Internal,
                "please try again",
                None,
            ))
        }
    }
}

pub struct Outgoing {
    pub conversation_id: String,
    pub from_role: FromRole,
    pub author: String,
    /// Admins may write into a conversation another agent holds.
    pub take_over: bool,
}

pub async fn send(conn: &Connection, to: Outgoing, body: String, client_msg_id: String) -> Reply {
    let client_msg_id = match ClientMsgId::parse(&client_msg_id) {
        Ok(id) => id,
        Err(e) => return Reply::error(e.code, e.message),
    };
    let body = match MessageBody::parse(&body) {
        Ok(body) => body,
        Err(e) => {
            return Reply::frame(ServerFrame::error(
                e.code,
                e.message,
                Some(client_msg_id.as_str().to_owned()),
            ))
        }
    };
    let op = WriteOp::SupportAppend(NewSupportMessage {
        conversation_id: to.conversation_id,
        from_role: to.from_role,
        author: to.author,
        take_over: to.take_over,
        body: body.into_string(),
        client_msg_id: client_msg_id.as_str().to_owned(),
        sent_at: now_rfc3339(),
        id: new_message_id(),
    });
    Reply::submit(conn, op, client_msg_id.as_str().to_owned(), accepted).await
}

/// A support message's answer once committed: `accepted`, or why it was refused.
fn accepted(
    result: Result<Written, WriteError>,
    client_msg_id: String,
    metrics: &Metrics,
) -> ServerFrame {
    match result {
        Ok(Written::Support {
            message,
            delivered,
            duplicate,
            ..
        }) => {
            let frame = Accepted {
                client_msg_id: message.client_msg_id,
                id: message.id,
                seq: message.seq,
                delivered,
                peer: None,
                conversation_id: Some(message.conversation_id),
                sent_at: Some(message.sent_at),
            };
            super::accepted(frame, duplicate, metrics)
        }
        Ok(Written::Refused { assignee }) => ServerFrame::error(
            ErrorCode::Forbidden,
            format!("{assignee} is handling this conversation; claim it first"),
            Some(client_msg_id),
        ),
        Ok(Written::Changed { .. }) => ServerFrame::error(
            ErrorCode::NotFound,
            "that support conversation does not exist",
            Some(client_msg_id),
        ),
        _ => ServerFrame::error(
            ErrorCode::Internal,
            "the message could not be stored; please resend it",
            Some(client_msg_id),
        ),
    }
}

pub async fn history(
    conn: &Connection,
    conversation: &SupportConversation,
    before_seq: Option<u64>,
    limit: Option<u32>,
) -> Reply {
    let limit = limit
        .unwrap_or(DEFAULT_HISTORY_LIMIT)
        .clamp(1, MAX_HISTORY_LIMIT);
    match conn
        .state
        .store
        .support_messages_before(&conversation.id, before_seq, limit)
        .await
    {
        Ok((page, has_more)) => Reply::frame(ServerFrame::HistoryPage(HistoryPage {
            peer: None,
            conversation_id: Some(conversation.id.clone()),
            messages: page
                .iter()
                .map(|m| m.to_wire(&conversation.customer_name))
                .collect(),
            has_more,
        })),
        Err(e) => {
            tracing::error!(error = %e, "support history failed");
            Reply::error(ErrorCode::Internal, "history failed; please retry")
        }
    }
}

pub async fn sync(conn: &Connection, conversation: &SupportConversation, after_seq: u64) -> Reply {
    let mut frames = Vec::new();
    let mut last_seq = after_seq;
    while frames.len() < MAX_PER_SYNC {
        let chunk = match conn
            .state
            .store
            .support_messages_after(&conversation.id, last_seq, CHUNK)
            .await
        {
            Ok(chunk) => chunk,
            Err(e) => {
                tracing::error!(error = %e, "support sync failed");
                return Reply::error(ErrorCode::Internal, "sync failed; please retry");
            }
        };
        let done = chunk.len() < CHUNK as usize;
        for message in chunk {
            last_seq = message.seq;
            frames.push(ServerFrame::Message(
                message.to_wire(&conversation.customer_name),
            ));
        }
        if done {
            break;
        }
    }
    frames.push(ServerFrame::Synced(Synced {
        peer: None,
        conversation_id: Some(conversation.id.clone()),
        last_seq,
    }));
    Reply::Frames(frames)
}

pub async fn read(
    conn: &Connection,
    conversation_id: String,
    by: FromRole,
    up_to_seq: u64,
) -> Reply {
    conn.state
        .writer
        .submit_detached(WriteOp::SupportRead {
            conversation_id,
            by,
            up_to_seq,
        })
        .await;
    Reply::None
}
