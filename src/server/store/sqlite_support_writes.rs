//! The support writes of a SQLite batch, inside the transaction [`super::sqlite_writes`] opened.

use super::rows::{self, CONVERSATION_SELECT, SUPPORT_MESSAGE_SELECT};
use super::sqlite_writes::LiteRow;
use super::support::{plan_append, AppendPlan, SupportChange, SupportConversation};
use super::{now_rfc3339, seq_param, NewSupportMessage, StoreResult, WriteOp, WriteOutcome};
use crate::protocol::FromRole;
use rusqlite::{params, Connection, OptionalExtension};

fn load(conn: &Connection, id: &str) -> StoreResult<Option<SupportConversation>> {
    Ok(conn
        .prepare_cached(&format!("{CONVERSATION_SELECT} WHERE c.id = ?"))?
        .query_row([id], |row| Ok(rows::support_conversation(&LiteRow(row))))
        .optional()?)
}

/// Applies one support write inside the batch transaction.
pub(super) fn apply(conn: &Connection, op: &WriteOp) -> StoreResult<WriteOutcome> {
    match op {
        WriteOp::SupportAppend(message) => append(conn, message),
        WriteOp::SupportChange {
            conversation_id,
            change,
        } => {
            let (sql, agent): (&str, Option<&str>) = match change {
                SupportChange::Claim { agent } => (
                    "UPDATE support_conversations SET status = 'assigned', assignee = ?1, \
                     waiting_since = NULL, updated_at = ?2 WHERE id = ?3 \
                     AND NOT (status = 'assigned' AND assignee IS ?1)",
                    Some(agent),
                ),
                SupportChange::Assign { agent } => (
                    "UPDATE support_conversations SET status = 'assigned', assignee = ?1, \
                     waiting_since = NULL, updated_at = ?2 WHERE id = ?3 \
                     AND status = 'open' AND assignee IS NULL",
                    Some(agent),
                ),
                SupportChange::Transfer { to } => (
                    "UPDATE support_conversations SET status = 'assigned', assignee = ?1, \
                     waiting_since = NULL, updated_at = ?2 WHERE id = ?3 \
                     AND NOT (status = 'assigned' AND assignee IS ?1)",
                    Some(to),
                ),
                SupportChange::Resolve => (
                    "UPDATE support_conversations SET status = 'resolved', waiting_since = NULL, \
                     updated_at = ?2 WHERE id = ?3 AND status <> 'resolved' AND ?1 IS NULL",
                    None,
                ),
            };
            let changed = conn.prepare_cached(sql)?.execute(params![
                agent,
                now_rfc3339(),
                conversation_id
            ])?;
            Ok(WriteOutcome::SupportChanged {
                conversation: load(conn, conversation_id)?.map(Box::new),
                changed: changed > 0,
            })
        }
        WriteOp::SupportRead {
            conversation_id,
            by,
            up_to_seq,
        } => {
            let sql = match by {
                FromRole::Agent => {
                    "UPDATE support_conversations SET agent_read_seq = MIN(?1, last_seq) \
                     WHERE id = ?2 AND agent_read_seq < MIN(?1, last_seq) \
                     RETURNING agent_read_seq"
                }
                FromRole::Customer => {
                    "UPDATE support_conversations SET customer_read_seq = MIN(?1, last_seq) \
                     WHERE id = ?2 AND customer_read_seq < MIN(?1, last_seq) \
                     RETURNING customer_read_seq"
                }
            };
            let target: Option<i64> = conn
                .prepare_cached(sql)?
                .query_row(params![seq_param(*up_to_seq), conversation_id], |row| {
                    row.get(0)
                })
                .optional()?;
            Ok(WriteOutcome::Marked {
                advanced_to: target.map(|t| t as u64),
            })
        }
        WriteOp::Append { .. } | WriteOp::MarkDelivered { .. } | WriteOp::MarkRead { .. } => {
            unreachable!("direct-message writes are applied by sqlite_writes")
        }
    }
}

fn append(conn: &Connection, m: &NewSupportMessage) -> StoreResult<WriteOutcome> {
    let NewSupportMessage {
        conversation_id,
        from_role,
        author,
        body,
        client_msg_id,
        sent_at,
        id,
        ..
    } = m;
    let existing = conn
        .prepare_cached(&format!(
            "{SUPPORT_MESSAGE_SELECT} WHERE conversation_id = ? AND from_role = ? AND author = ? \
             AND client_msg_id = ?"
        ))?
        .query_row(
            params![conversation_id, from_role.as_str(), author, client_msg_id],
            |row| Ok(rows::support_message(&LiteRow(row))),
        )
        .optional()?;
    let (before, next) = match plan_append(load(conn, conversation_id)?, existing, m) {
        AppendPlan::Write { before, next } => (before, next),
        AppendPlan::Done(outcome) => return Ok(outcome),
    };
    let seq: i64 = conn
        .prepare_cached(
            "UPDATE support_conversations SET last_seq = last_seq + 1, status = ?, \
             assignee = ?, waiting_since = ?, updated_at = ? WHERE id = ? RETURNING last_seq",
        )?
        .query_row(
            params![
                next.status.as_str(),
                next.assignee,
                next.waiting_since,
                sent_at,
                conversation_id
            ],
            |row| row.get(0),
        )?;
    conn.prepare_cached(
        "INSERT INTO support_messages (conversation_id, seq, id, from_role, author, body, \
         client_msg_id, sent_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
    )?
    .execute(params![
        conversation_id,
        seq,
        id,
        from_role.as_str(),
        author,
        body,
        client_msg_id,
        sent_at
    ])?;
    let conversation = load(conn, conversation_id)?.unwrap_or(before);
    Ok(WriteOutcome::support_appended(
        m,
        seq as u64,
        conversation,
        next.changed,
    ))
}
