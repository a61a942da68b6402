//! Agent console frames: `queue`, `open`, `claim`, `resolve`, `transfer`, `availability`, and
//! `send` / `history` / `sync` / `read` / `typing` naming a `conversation_id`.

use super::{support, Reply};
use crate::protocol::server::{Queue, Typing};
use crate::protocol::{ClientFrame, ErrorCode, FromRole, Role, ServerFrame, Username};
use crate::server::auth::CurrentUser;
use crate::server::hub::{customer_key, Outbound};
use crate::server::state::AppState;
use crate::server::store::{SupportChange, SupportStatus, WriteOp};
use crate::server::writer::Written;
use crate::server::ws::connection::Connection;

/// Resolved conversations listed in a full queue.
const RESOLVED_IN_QUEUE: u32 = 50;

pub async fn dispatch(conn: &mut Connection, agent: &CurrentUser, frame: ClientFrame) -> Reply {
    match frame {
        ClientFrame::Queue => queue(conn).await,
        ClientFrame::Availability { available } => {
            if let Err(e) = conn
                .state
                .store
                .set_agent_available(&agent.username, available)
                .await
            {
                tracing::error!(error = %e, "cannot save availability");
                return Reply::error(ErrorCode::Internal, "availability could not be saved");
            }
            conn.state.hub.set_available(&agent.username, available);
            if available {
                take_waiting(&conn.state, &agent.username).await;
            }
            Reply::None
        }
        ClientFrame::Open { conversation_id } => {
            let conversation = match support::conversation(conn, &conversation_id).await {
                Ok(c) => c,
                Err(frame) => return Reply::frame(frame),
            };
            let entry = ServerFrame::Queue(Queue {
                conversations: vec![conversation.to_queue_entry()],
            });
            match support::history(conn, &conversation, None, None).await {
                Reply::Frames(mut frames) => {
                    frames.insert(0, entry);
                    Reply::Frames(frames)
                }
                other => other,
            }
        }
        ClientFrame::Claim { conversation_id } => {
            let change = SupportChange::Claim {
                agent: agent.username.clone(),
            };
            change_status(conn, conversation_id, change).await
        }
        ClientFrame::Resolve { conversation_id } => {
            let reply = change_status(conn, conversation_id, SupportChange::Resolve).await;
            // A freed slot takes the next waiting conversation.
            take_waiting(&conn.state, &agent.username).await;
            reply
        }
        ClientFrame::Transfer {
            conversation_id,
            to,
        } => {
            let to = match agent_named(conn, &to).await {
                Ok(name) => name,
                Err(frame) => return Reply::frame(frame),
            };
            let reply = change_status(conn, conversation_id, SupportChange::Transfer { to }).await;
            take_waiting(&conn.state, &agent.username).await;
            reply
        }
        ClientFrame::Send {
            conversation_id: Some(id),
            body,
            client_msg_id,
            ..
        } => {
            let to = support::Outgoing {
                conversation_id: id,
                from_role: FromRole::Agent,
                author: agent.username.clone(),
                take_over: agent.role == Role::Admin,
            };
            support::send(conn, to, body, client_msg_id).await
        }
        ClientFrame::History {
            conversation_id: Some(id),
            before_seq,
            limit,
            ..
        } => match support::conversation(conn, &id).await {
            Ok(c) => support::history(conn, &c, before_seq, limit).await,
            Err(frame) => Reply::frame(frame),
        },
        ClientFrame::Sync {
            conversation_id: Some(id),
            after_seq,
            ..
        } => match support::conversation(conn, &id).await {
            Ok(c) => support::sync(conn, &c, after_seq).await,
            Err(frame) => Reply::frame(frame),
        },
        ClientFrame::Read {
            conversation_id: Some(id),
            up_to_seq,
            ..
        } => match support::conversation(conn, &id).await {
            Ok(_) => support::read(conn, id, FromRole::Agent, up_to_seq).await,
            Err(frame) => Reply::frame(frame),
        },
        ClientFrame::Typing {
            conversation_id: Some(id),
            ..
        } => {
            if let Err(frame) = support::conversation(conn, &id).await {
                return Reply::frame(frame);
            }
            let frame = ServerFrame::Typing(Typing {
                from: agent.username.clone(),
                conversation_id: Some(id.clone()),
            });
            conn.state
                .hub
                .send_to_user(&customer_key(&id), &Outbound::frame(frame.to_json()));
            Reply::None
        }
        _ => Reply::error(ErrorCode::BadFrame, "this frame needs a conversation_id"),
    }
}

async fn queue(conn: &Connection) -> Reply {
    match conn.state.store.support_queue(RESOLVED_IN_QUEUE).await {
        Ok(conversations) => Reply::frame(ServerFrame::Queue(Queue {
            conversations: conversations.iter().map(|c| c.to_queue_entry()).collect(),
        })),
        Err(e) => {
            tracing::error!(error = %e, "queue read failed");
            Reply::error(ErrorCode::Internal, "the queue could not be loaded")
        }
    }
}

/// Applies a status change; the writer tells the agents and the customer.
async fn change_status(conn: &Connection, conversation_id: String, change: SupportChange) -> Reply {
    let op = WriteOp::SupportChange {
        conversation_id: conversation_id.clone(),
        change,
    };
    match conn.state.writer.submit(op).await {
        Ok(Written::Changed {
            conversation: Some(_),
            ..
        }) => Reply::None,
        Ok(Written::Changed {
            conversation: None, ..
        }) => Reply::error(
            ErrorCode::NotFound,
            format!("no support conversation {conversation_id:?}"),
        ),
        _ => Reply::error(ErrorCode::Internal, "the change could not be saved"),
    }
}

/// The username of an existing agent or admin, or `not_found`.
async fn agent_named(conn: &Connection, raw: &str) -> Result<String, ServerFrame> {
    let not_found =
        || ServerFrame::error(ErrorCode::NotFound, format!("no agent named {raw:?}"), None);
    let name = Username::parse(raw).map_err(|_| not_found())?;
    match conn.state.store.find_user(name.as_str()).await {
        Ok(Some(user)) if user.role.is_agent() => Ok(user.username),
        Ok(_) => Err(not_found()),
        Err(e) => {
            tracing::error!(error = %e, "agent lookup failed");
            Err(ServerFrame::error(
                ErrorCode::Internal,
                "please try again",
                None,
            ))
        }
    }
}

/// An agent who comes online or becomes available takes waiting conversations, oldest
/// first, up to their limit.
pub async fn take_waiting(state: &AppState, agent: &str) {
    if !state.hub.is_available(agent) {
        return;
    }
    let (Ok(queue), Ok(counts)) = (
        state.store.support_queue(0).await,
        state.store.assigned_counts().await,
    ) else {
        return;
    };
    let mine = counts
        .iter()
        .find(|(name, _)| name == agent)
        .map_or(0, |(_, n)| *n as usize);
    let room = state.settings.max_chats_per_agent.saturating_sub(mine);
    let mut waiting: Vec<_> = queue
        .into_iter()
        .filter(|c| c.status == SupportStatus::Open && c.assignee.is_none())
        .collect();
    waiting.sort_by(|a, b| a.waiting_since.cmp(&b.waiting_since));
    for conversation in waiting.into_iter().take(room) {
        let _ = state
            .writer
            .submit(WriteOp::SupportChange {
                conversation_id: conversation.id,
                change: SupportChange::Assign {
                    agent: agent.to_owned(),
                },
            })
            .await;
    }
}
