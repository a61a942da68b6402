//! `send {to, body, client_msg_id}`: store durably, then deliver; answer `accepted`.

use super::{resolve_peer, Reply};
use crate::protocol::server::Accepted;
use crate::protocol::{ClientMsgId, ErrorCode, MessageBody, ServerFrame};
use crate::server::auth::CurrentUser;
use crate::server::diagnostics::Metrics;
use crate::server::store::{NewMessage, WriteOp};
use crate::server::writer::{WriteError, Written};
use crate::server::ws::connection::Connection;

pub async fn run(
    conn: &mut Connection,
    user: &CurrentUser,
    to: Option<String>,
    body: String,
    client_msg_id: String,
) -> Reply {
    let client_msg_id = match ClientMsgId::parse_owned(client_msg_id) {
        Ok(id) => id,
        Err(e) => return Reply::error(e.code, e.message),
    };
    let to = match resolve_peer(conn, user, to, "to", Some(client_msg_id.as_str())).await {
        Ok(name) => name,
        Err(frame) => return Reply::frame(frame),
    };
    let body = match MessageBody::parse_owned(body) {
        Ok(body) => body,
        Err(e) => {
            let id = Some(client_msg_id.into_string());
            return Reply::frame(ServerFrame::error(e.code, e.message, id));
        }
    };
    let op = WriteOp::Append(NewMessage::new(
        user.username.clone(),
        to.into_string(),
        body.into_string(),
        client_msg_id.as_str().to_owned(),
    ));
    Reply::submit(conn, op, client_msg_id.into_string(), accepted).await
}

/// The sender's answer once the message is committed: `accepted` (also for a resend, with the
/// original's id and seq), or an error asking to resend.
fn accepted(
    result: Result<Written, WriteError>,
    client_msg_id: String,
    metrics: &Metrics,
) -> ServerFrame {
    match result {
        Ok(Written::Message {
            message,
            delivered,
            duplicate,
        }) => {
            let frame = Accepted {
                client_msg_id: message.client_msg_id.clone(),
                id: message.id.clone(),
                seq: message.seq,
                delivered,
                peer: Some(message.recipient.clone()),
                conversation_id: None,
                sent_at: Some(message.sent_at.clone()),
            };
            super::accepted(frame, duplicate, metrics)
        }
        _ => ServerFrame::error(
            ErrorCode::Internal,
            "the message could not be stored; please resend it",
            Some(client_msg_id),
        ),
    }
}
