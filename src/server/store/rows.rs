//! What both SQL stores read back, written once: the column lists their queries share and the
//! mapping from a result row to a stored message or support conversation. Generic over the
//! row type ([`Columns`]), so SQLite and PostgreSQL rows go through the same code.

use super::support::{role_of, SupportConversation, SupportMessage, SupportStatus};
use super::StoredMessage;
use sqlx::{ColumnIndex, Decode, Row, Type};

/// A direct message's columns, table alias `m`.
pub(super) const MESSAGE_COLUMNS: &str =
    "m.seq, m.id, m.sender, m.recipient, m.body, m.client_msg_id, m.sent_at";

/// A support conversation with its unread count and newest message (`m_*` columns).
pub(super) const CONVERSATION_SELECT: &str = "SELECT c.id, c.customer_name, c.status, \
     c.assignee, c.last_seq, c.agent_read_seq, c.customer_read_seq, c.waiting_since, \
     c.created_at, c.updated_at, \
     (SELECT COUNT(*) FROM support_messages u WHERE u.conversation_id = c.id \
      AND u.seq > c.agent_read_seq AND u.from_role = 'customer') AS unread, \
     m.seq AS m_seq, m.id AS m_id, m.from_role AS m_from_role, m.author AS m_author, \
     m.body AS m_body, m.client_msg_id AS m_client_msg_id, m.sent_at AS m_sent_at \
     FROM support_conversations c \
     LEFT JOIN support_messages m ON m.conversation_id = c.id AND m.seq = c.last_seq";

/// Support messages; callers add the WHERE clause in their dialect.
pub(super) const SUPPORT_MESSAGE_SELECT: &str = "SELECT conversation_id, seq, id, from_role, \
     author, body, client_msg_id, sent_at FROM support_messages";

/// Reading columns by name, whatever the database.
pub(super) trait Columns {
    fn text(&self, column: &str) -> String;
    fn maybe_text(&self, column: &str) -> Option<String>;
    fn int(&self, column: &str) -> i64;
    fn maybe_int(&self, column: &str) -> Option<i64>;
}

impl<R> Columns for R
where
    R: Row,
    for<'c> &'c str: ColumnIndex<R>,
    for<'r> String: Decode<'r, R::Database> + Type<R::Database>,
    for<'r> i64: Decode<'r, R::Database> + Type<R::Database>,
{
    fn text(&self, column: &str) -> String {
        self.get(column)
    }

    fn maybe_text(&self, column: &str) -> Option<String> {
        self.get(column)
    }

    fn int(&self, column: &str) -> i64 {
        self.get(column)
    }

    fn maybe_int(&self, column: &str) -> Option<i64> {
        self.get(column)
    }
}

/// A row with [`MESSAGE_COLUMNS`].
pub(super) fn stored_message(row: &impl Columns) -> StoredMessage {
    StoredMessage {
        seq: row.int("seq") as u64,
        id: row.text("id"),
        sender: row.text("sender"),
        recipient: row.text("recipient"),
        body: row.text("body"),
        client_msg_id: row.text("client_msg_id"),
        sent_at: row.text("sent_at"),
    }
}

/// A row of [`SUPPORT_MESSAGE_SELECT`].
pub(super) fn support_message(row: &impl Columns) -> SupportMessage {
    SupportMessage {
        conversation_id: row.text("conversation_id"),
        seq: row.int("seq") as u64,
        id: row.text("id"),
        from_role: role_of(&row.text("from_role")),
        author: row.text("author"),
        body: row.text("body"),
        client_msg_id: row.text("client_msg_id"),
        sent_at: row.text("sent_at"),
    }
}

/// A row of [`CONVERSATION_SELECT`].
pub(super) fn support_conversation(row: &impl Columns) -> SupportConversation {
    let id = row.text("id");
    let last_message = row.maybe_int("m_seq").map(|seq| SupportMessage {
        conversation_id: id.clone(),
        seq: seq as u64,
        id: row.text("m_id"),
        from_role: role_of(&row.text("m_from_role")),
        author: row.text("m_author"),
        body: row.text("m_body"),
        client_msg_id: row.text("m_client_msg_id"),
        sent_at: row.text("m_sent_at"),
    });
    SupportConversation {
        id,
        customer_name: row.text("customer_name"),
        status: SupportStatus::parse(&row.text("status")),
        assignee: row.maybe_text("assignee"),
        last_seq: row.int("last_seq") as u64,
        agent_read_seq: row.int("agent_read_seq") as u64,
        customer_read_seq: row.int("customer_read_seq") as u64,
        waiting_since: row.maybe_text("waiting_since"),
        created_at: row.text("created_at"),
        updated_at: row.text("updated_at"),
        last_message,
        unread: row.int("unread") as u64,
    }
}
