//! Frames of a support customer on `/ws/support`: `send`, `history`, `sync`, `read`, `typing`.
//! The conversation is always the customer's own; ids in frames are ignored.

use super::{support, Reply};
use crate::protocol::server::Typing;
use crate::protocol::{ClientFrame, ErrorCode, FromRole, ServerFrame};
use crate::server::hub::Outbound;
use crate::server::store::support::CUSTOMER_AUTHOR;
use crate::server::ws::connection::{Connection, Customer};

pub async fn dispatch(conn: &mut Connection, customer: &Customer, frame: ClientFrame) -> Reply {
    let id = customer.conversation_id.clone();
    match frame {
        ClientFrame::Send {
            body,
            client_msg_id,
            ..
        } => {
            let to = support::Outgoing {
                conversation_id: id,
                from_role: FromRole::Customer,
                author: CUSTOMER_AUTHOR.to_owned(),
                take_over: false,
            };
            support::send(conn, to, body, client_msg_id).await
        }
        ClientFrame::History {
            before_seq, limit, ..
        } => match support::conversation(conn, &id).await {
            Ok(c) => support::history(conn, &c, before_seq, limit).await,
            Err(frame) => Reply::frame(frame),
        },
        ClientFrame::Sync { after_seq, .. } => match support::conversation(conn, &id).await {
            Ok(c) => support::sync(conn, &c, after_seq).await,
            Err(frame) => Reply::frame(frame),
        },
        ClientFrame::Read { up_to_seq, .. } => {
            support::read(conn, id, FromRole::Customer, up_to_seq).await
        }
        ClientFrame::Typing { .. } => {
            // The name may have changed since this socket opened (start again with a new name).
            let name = match support::conversation(conn, &id).await {
                Ok(c) => c.customer_name,
                Err(_) => customer.name.clone(),
            };
            let frame = ServerFrame::Typing(Typing {
                from: name,
                conversation_id: Some(id),
            });
            conn.state
                .hub
                .send_to_agents(&Outbound::frame(frame.to_json()));
            Reply::None
        }
        ClientFrame::Ping => Reply::frame(ServerFrame::Pong),
        _ => Reply::error(
            ErrorCode::Forbidden,
            "customers can only send, read and page their own conversation",
        ),
    }
}
