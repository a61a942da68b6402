//! One writer batch, every kind of direct-message write mixed: new pairs, several messages to
//! one conversation, resends (of a stored message and inside the batch), watermarks that move,
//! stay, or name no conversation. The SQLite store and the PostgreSQL store (whose busy batches
//! take set-based statements) must give exactly the outcomes a client expects, write for write.
//!
//! The PostgreSQL half needs `CONFAB_TEST_POSTGRES_URL` (see `tests/store_postgres.rs`).
#![cfg(feature = "ssr")]

mod common;

use common::direct_message as send;
use confab::server::store::{PgStore, SqliteStore, Store, WriteOp, WriteOutcome};

fn delivered(reader: &str, peer: &str, up_to_seq: u64) -> WriteOp {
    WriteOp::MarkDelivered {
        reader: reader.into(),
        peer: peer.into(),
        up_to_seq,
    }
}

/// What a client learns from an outcome.
#[derive(Debug, PartialEq, Eq)]
enum Seen {
    Stored { seq: u64, body: String },
    Resend { seq: u64, body: String },
    Marked(Option<u64>),
}

fn seen(outcome: &WriteOutcome) -> Seen {
    match outcome {
        WriteOutcome::Appended {
            message, duplicate, ..
        } => {
            let (seq, body) = (message.seq, message.body.clone());
            if *duplicate {
                Seen::Resend { seq, body }
            } else {
                Seen::Stored { seq, body }
            }
        }
        WriteOutcome::Marked { advanced_to } => Seen::Marked(*advanced_to),
        other => panic!("not a direct-message outcome: {other:?}"),
    }
}

fn stored(seq: u64, body: &str) -> Seen {
    Seen::Stored {
        seq,
        body: body.into(),
    }
}

fn resend(seq: u64, body: &str) -> Seen {
    Seen::Resend {
        seq,
        body: body.into(),
    }
}

/// The batches and, for each write, what it must come out as.
fn script() -> Vec<Vec<(WriteOp, Seen)>> {
    vec![
        vec![(send("ann", "bob", "a1"), stored(1, "ann: a1"))],
        vec![
            (send("ann", "bob", "a2"), stored(2, "ann: a2")),
            (send("bob", "ann", "b1"), stored(3, "bob: b1")),
            (send("ann", "bob", "a3"), stored(4, "ann: a3")),
            // A new pair in the middle of the run, two messages.
            (send("ann", "cat", "c1"), stored(1, "ann: c1")),
            (send("ann", "cat", "c2"), stored(2, "ann: c2")),
            // A resend of a stored message, then of one from earlier in this batch.
            (send("ann", "bob", "a1"), resend(1, "ann: a1")),
            (send("ann", "cat", "a2"), resend(2, "ann: a2")),
            (send("bob", "ann", "b2"), stored(5, "bob: b2")),
            (delivered("bob", "ann", 2), Seen::Marked(Some(2))),
            // Past the conversation's end: stops at its last seq.
            (delivered("ann", "bob", 99), Seen::Marked(Some(5))),
            (delivered("dan", "ann", 1), Seen::Marked(None)),
            (delivered("cat", "ann", 2), Seen::Marked(Some(2))),
            // Behind the watermark set just before: stays.
            (delivered("bob", "ann", 1), Seen::Marked(None)),
            (delivered("bob", "ann", 4), Seen::Marked(Some(4))),
        ],
        vec![
            (send("bob", "ann", "b3"), stored(6, "bob: b3")),
            (send("bob", "ann", "b3"), resend(6, "bob: b3")),
            (delivered("bob", "ann", 6), Seen::Marked(Some(6))),
        ],
    ]
}

async fn assert_script(store: &dyn Store, name: &str) {
    for (number, batch) in script().into_iter().enumerate() {
        let (ops, expected): (Vec<WriteOp>, Vec<Seen>) = batch.into_iter().unzip();
        let outcomes = store
            .apply_batch(ops.into())
            .await
            .unwrap_or_else(|e| panic!("{name}: batch {number} failed: {e}"));
        let got: Vec<Seen> = outcomes.iter().map(seen).collect();
        assert_eq!(got, expected, "{name}: batch {number}");
    }
    let history = store.messages_after("ann", "bob", 0, 100).await.unwrap();
    let bodies: Vec<(u64, &str)> = history.iter().map(|m| (m.seq, m.body.as_str())).collect();
    assert_eq!(
        bodies,
        [
            (1, "ann: a1"),
            (2, "ann: a2"),
            (3, "bob: b1"),
            (4, "ann: a3"),
            (5, "bob: b2"),
            (6, "bob: b3")
        ],
        "{name}: ann and bob's conversation, each message once, in seq order"
    );
}

#[tokio::test]
async fn mixed_batch_gives_each_write_its_outcome_on_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}/t.db", dir.path().display());
    let store = SqliteStore::connect(&url).await.unwrap();
    assert_script(&store, "SQLite").await;
}

#[tokio::test]
async fn mixed_batch_gives_each_write_its_outcome_on_postgres() {
    let Some(database) = common::cluster::cluster_database("mixed_batch_on_postgres").await else {
        return;
    };
    let store = PgStore::connect(&database.url).await.unwrap();
    assert_script(&store, "PostgreSQL").await;
    store.close().await;
}
