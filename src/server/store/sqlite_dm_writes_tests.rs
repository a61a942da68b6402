//! The writer's memory of logged messages: what it forgets once they are indexed, and when.

use super::*;
use crate::server::store::sqlite::migrated_for_test as tables;
use crate::server::store::sqlite_sent_filter::SentFilter;
use crate::server::store::{NewMessage, WriteOp};

fn send(client_msg_id: &str) -> WriteOp {
    WriteOp::Append(NewMessage::new(
        "ann".into(),
        "bob".into(),
        format!("body of {client_msg_id}"),
        client_msg_id.into(),
    ))
}

/// Decides messages `m{first}`.. as one batch and keeps it as logged in `record`.
fn log_batch(state: &mut DmState, conn: &Connection, record: u64, ids: std::ops::Range<usize>) {
    let mut batch = state.batch(conn, ids.len());
    for i in ids {
        batch.apply(&send(&format!("m{i}"))).unwrap();
    }
    let (_entries, decided) = batch.finish();
    state.keep(decided, Some(record));
}

/// One send decided in a batch of its own: the message it answers with, and whether that is
/// an earlier original (a resend).
fn decide_alone(state: &DmState, conn: &Connection, op: &WriteOp) -> (Arc<StoredMessage>, bool) {
    let mut batch = state.batch(conn, 1);
    match batch.apply(op).unwrap() {
        WriteOutcome::Appended {
            message, duplicate, ..
        } => (message, duplicate),
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn indexed_messages_are_forgotten_a_bounded_number_per_batch_and_unindexed_ones_kept() {
    let (_dir, conn) = tables().await;
    let mut state = DmState::load(&conn, SentKeys::Unavailable).unwrap();
    for record in 1..=4u64 {
        let first = (record as usize - 1) * 300;
        log_batch(&mut state, &conn, record, first..first + 300);
    }
    assert_eq!(state.recent.len(), 1200);

    // Records 1–3 are indexed: a batch of 10 writes forgets its budget of them, no more.
    state.forget_indexed(3, 10);
    assert_eq!(state.recent.len(), 1200 - forget_budget(10));
    for _ in 0..10 {
        state.forget_indexed(3, 10);
    }
    assert_eq!(state.recent.len(), 300, "record 4 is not indexed: kept");

    // The tables hold none of these messages: a resend of the newest is answered from memory,
    // with the original's seq; one of a forgotten message would be looked for in the tables.
    let (message, duplicate) = decide_alone(&state, &conn, &send("m1199"));
    assert!(duplicate);
    assert_eq!(
        (message.seq, message.body.as_str()),
        (1200, "body of m1199")
    );
}

#[tokio::test]
async fn a_resend_of_an_unindexed_message_is_answered_from_memory_when_the_filter_is_ready() {
    let (_dir, conn) = tables().await;
    let filter = SentKeys::Ready(SentFilter::empty());
    let mut state = DmState::load(&conn, filter).unwrap();
    log_batch(&mut state, &conn, 1, 0..6);

    // The filter is consulted before the remembered messages: it must know every one of them.
    let (resent, duplicate) = decide_alone(&state, &conn, &send("m3"));
    assert_eq!((resent.seq, duplicate), (4, true));
    let (new, duplicate) = decide_alone(&state, &conn, &send("m6"));
    assert_eq!((new.seq, duplicate), (7, false));
}
