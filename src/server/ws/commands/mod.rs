//! One file per client frame type (support frames for agents in [`agent`], for customers in
//! [`customer`]). [`dispatch`] routes a parsed [`ClientFrame`]; each command validates its own
//! fields and answers with a [`Reply`].

pub mod agent;
mod customer;
mod history;
mod read;
mod send;
mod support;
mod sync;
mod typing;

pub use super::answers::{AnswerFrame, Later};
use super::connection::{Connection, Who};
use crate::protocol::server::Accepted;
use crate::protocol::{ClientFrame, ErrorCode, ServerFrame, Username};
use crate::server::auth::CurrentUser;
use crate::server::diagnostics::Metrics;
use crate::server::store::WriteOp;

/// What a command answers.
pub enum Reply {
    None,
    /// Frames to write now, in order.
    Frames(Vec<ServerFrame>),
    /// A write handed to the writer: its frame is ready once it is committed (a send's
    /// `accepted`).
    Later(Later),
}

impl Reply {
    /// Hands `op` to the writer; `answer` makes the frame once it is committed (or refused).
    pub async fn submit(
        conn: &Connection,
        op: WriteOp,
        client_msg_id: String,
        answer: AnswerFrame,
    ) -> Self {
        match conn.state.writer.enqueue(op).await {
            Ok(committed) => Reply::Later(Later::new(committed, client_msg_id, answer)),
            Err(e) => Reply::frame(answer(Err(e), client_msg_id, &conn.state.metrics)),
        }
    }

    pub fn frame(frame: ServerFrame) -> Self {
        Reply::Frames(vec![frame])
    }

    pub fn error(code: ErrorCode, message: impl Into<String>) -> Self {
        Reply::frame(ServerFrame::error(code, message, None))
    }
}

pub async fn dispatch(conn: &mut Connection, frame: ClientFrame) -> Reply {
    if let ClientFrame::Ping = frame {
        return Reply::frame(ServerFrame::Pong);
    }
    // Only a direct `send` runs inline; every other command is boxed. A socket boxes the
    // future of each frame it handles, and that future is as large as the largest command it
    // may await: the support commands and the reads made it 3 456 bytes, allocated and copied
    // for every message sent.
    match conn.who.clone() {
        Who::Customer(customer) => Box::pin(customer::dispatch(conn, &customer, frame)).await,
        Who::User(user) if is_support_frame(&frame) => {
            if user.role.is_agent() {
                Box::pin(agent::dispatch(conn, &user, frame)).await
            } else {
                Reply::error(ErrorCode::Forbidden, "only support agents may do that")
            }
        }
        Who::User(user) => direct(conn, &user, frame).await,
    }
}

/// Support frames: the agent-only types, and the shared types when they name a conversation.
fn is_support_frame(frame: &ClientFrame) -> bool {
    match frame {
        ClientFrame::Send {
            conversation_id, ..
        }
        | ClientFrame::Sync {
            conversation_id, ..
        }
        | ClientFrame::History {
            conversation_id, ..
        }
        | ClientFrame::Read {
            conversation_id, ..
        }
        | ClientFrame::Typing {
            conversation_id, ..
        } => conversation_id.is_some(),
        ClientFrame::Ping => false,
        ClientFrame::Queue
        | ClientFrame::Open { .. }
        | ClientFrame::Claim { .. }
        | ClientFrame::Resolve { .. }
        | ClientFrame::Transfer { .. }
        | ClientFrame::Availability { .. } => true,
    }
}

/// Direct-message frames.
async fn direct(conn: &mut Connection, user: &CurrentUser, frame: ClientFrame) -> Reply {
    match frame {
        ClientFrame::Send {
            to,
            body,
            client_msg_id,
            ..
        } => send::run(conn, user, to, body, client_msg_id).await,
        ClientFrame::Sync {
            peer, after_seq, ..
        } => Box::pin(sync::run(conn, user, peer, after_seq)).await,
        ClientFrame::History {
            peer,
            before_seq,
            limit,
            ..
        } => Box::pin(history::run(conn, user, peer, before_seq, limit)).await,
        ClientFrame::Read {
            peer, up_to_seq, ..
        } => Box::pin(read::run(conn, user, peer, up_to_seq)).await,
        ClientFrame::Typing { peer, .. } => Box::pin(typing::run(conn, user, peer)).await,
        _ => Reply::error(ErrorCode::BadFrame, "not a direct-message frame"),
    }
}

/// The other party named by a frame: it must be given, be a valid name, not be the user, and
/// exist. Errors carry `client_msg_id` when the frame had one.
pub async fn resolve_peer(
    conn: &Connection,
    user: &CurrentUser,
    peer: Option<String>,
    field: &str,
    client_msg_id: Option<&str>,
) -> Result<Username, ServerFrame> {
    let error =
        |code, message: String| ServerFrame::error(code, message, client_msg_id.map(str::to_owned));
    let Some(raw) = peer else {
        return Err(error(
            ErrorCode::BadFrame,
            format!("this frame needs a {field:?} field"),
        ));
    };
    let name = Username::parse(&raw)
        .map_err(|_| error(ErrorCode::UnknownUser, format!("no user named {raw:?}")))?;
    if name.as_str() == user.username {
        return Err(error(
            ErrorCode::SelfMessage,
            "you cannot message yourself".to_owned(),
        ));
    }
    match conn.state.store.user_exists(name.as_str()).await {
        Ok(true) => Ok(name),
        Ok(false) => Err(error(
            ErrorCode::UnknownUser,
            format!("no user named {:?}", name.as_str()),
        )),
        Err(e) => {
            tracing::error!(error = %e, "user lookup failed");
            Err(error(ErrorCode::Internal, "please try again".to_owned()))
        }
    }
}

/// A committed message's `accepted`; a first send (not a resend) counts as accepted.
pub fn accepted(accepted: Accepted, duplicate: bool, metrics: &Metrics) -> ServerFrame {
    if !duplicate {
        Metrics::inc(&metrics.messages_accepted);
    }
    ServerFrame::Accepted(accepted)
}
