//! The PostgreSQL store with several nodes on one database: two `PgStore`s (two processes'
//! worth of pools and writers) write into the same conversations at the same time. Seqs stay
//! exactly 1..=N, and a message resent through both nodes at once is stored once.
//!
//! Needs `CONFAB_TEST_POSTGRES_URL` (see `scripts/postgres.sh`; `scripts/test.sh` sets it for
//! its PostgreSQL pass); without it each test says so and passes, unless
//! `CONFAB_REQUIRE_CLUSTER_TESTS=1` (CI) makes that a failure.
#![cfg(feature = "ssr")]

mod common;

use common::{direct_message as append, TestDatabase};
use confab::protocol::{FromRole, Role};
use confab::server::store::{
    new_message_id, now_rfc3339, AccountStore, NewMessage, NewSupportMessage, PgStore, Store,
    SupportStore, WriteOp, WriteOutcome,
};
use std::collections::HashSet;
use std::sync::Arc;

const TASKS_PER_NODE: usize = 8;
const MESSAGES_PER_TASK: usize = 50;
const BATCH: usize = 5;

/// A fresh database and two stores on it, or `None` (and a note) without PostgreSQL.
async fn two_nodes(test: &str) -> Option<(TestDatabase, Arc<PgStore>, Arc<PgStore>)> {
    let database = common::cluster::cluster_database(test).await?;
    let a = PgStore::connect(&database.url).await.expect("node a");
    let b = PgStore::connect(&database.url).await.expect("node b");
    Some((database, Arc::new(a), Arc::new(b)))
}

fn support_message(
    conversation: &str,
    from_role: FromRole,
    author: &str,
    body: String,
    client_msg_id: String,
) -> WriteOp {
    WriteOp::SupportAppend(NewSupportMessage {
        conversation_id: conversation.into(),
        from_role,
        author: author.into(),
        take_over: false,
        body,
        client_msg_id,
        sent_at: now_rfc3339(),
        id: new_message_id(),
    })
}

fn support_append(conversation: &str, client_msg_id: &str) -> WriteOp {
    support_message(
        conversation,
        FromRole::Customer,
        "customer",
        format!("help {client_msg_id}"),
        client_msg_id.into(),
    )
}

/// (seq, duplicate) of an append outcome.
fn appended(outcome: &WriteOutcome) -> (u64, String, bool) {
    match outcome {
        WriteOutcome::Appended {
            message, duplicate, ..
        } => (message.seq, message.id.clone(), *duplicate),
        WriteOutcome::SupportAppended {
            message, duplicate, ..
        } => (message.seq, message.id.clone(), *duplicate),
        other => panic!("not an append: {other:?}"),
    }
}

/// Runs `TASKS_PER_NODE` tasks per store, each applying `MESSAGES_PER_TASK` ops made by `op`
/// in batches; every outcome's seq.
async fn hammer(
    nodes: [&Arc<PgStore>; 2],
    op: impl Fn(usize, usize, usize) -> WriteOp + Send + Sync + Clone + 'static,
) -> Vec<u64> {
    let mut tasks = Vec::new();
    for (n, store) in nodes.into_iter().enumerate() {
        for t in 0..TASKS_PER_NODE {
            let store = store.clone();
            let op = op.clone();
            tasks.push(tokio::spawn(async move {
                let mut seqs = Vec::new();
                let ops: Vec<WriteOp> = (0..MESSAGES_PER_TASK).map(|i| op(n, t, i)).collect();
                for batch in ops.chunks(BATCH) {
                    let outcomes = store
                        .apply_batch(batch.into())
                        .await
                        .expect("batch commits");
                    for outcome in &outcomes {
                        let (seq, _, duplicate) = appended(outcome);
                        assert!(!duplicate, "every client_msg_id is new");
                        seqs.push(seq);
                    }
                }
                seqs
            }));
        }
    }
    let mut all = Vec::new();
    for task in tasks {
        all.extend(task.await.expect("task"));
    }
    all.sort_unstable();
    all
}

fn one_to_n(n: usize) -> Vec<u64> {
    (1..=n as u64).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn seqs_are_exactly_one_to_n_when_two_nodes_append_to_one_conversation_at_once() {
    let Some((_db, a, b)) = two_nodes("seqs_are_exactly_one_to_n").await else {
        return;
    };
    let seqs = hammer([&a, &b], |n, t, i| {
        // Both directions of the same pair: one conversation.
        let (from, to) = if (t + i) % 2 == 0 {
            ("alice", "bob")
        } else {
            ("bob", "alice")
        };
        append(from, to, &format!("n{n}-t{t}-m{i}"))
    })
    .await;
    let total = 2 * TASKS_PER_NODE * MESSAGES_PER_TASK;
    assert_eq!(
        seqs,
        one_to_n(total),
        "acknowledged seqs: no gaps, no duplicates"
    );

    let stored = a
        .messages_after("alice", "bob", 0, total as u32 + 10)
        .await
        .unwrap();
    let stored_seqs: Vec<u64> = stored.iter().map(|m| m.seq).collect();
    assert_eq!(
        stored_seqs,
        one_to_n(total),
        "stored seqs, as node b sees them"
    );
    let conversations = b.conversations("bob").await.unwrap();
    assert_eq!(conversations.len(), 1);
    assert_eq!(conversations[0].last_seq, total as u64);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn every_batch_commits_gaplessly_when_two_nodes_lock_two_conversations_in_opposite_order() {
    let Some((_db, a, b)) = two_nodes("every_batch_commits_gaplessly").await else {
        return;
    };
    // Node a's batches write carol→dave then carol→erin, node b's the other way round: the
    // transactions deadlock, and the aborted one is run again.
    let seqs = hammer([&a, &b], |n, t, i| {
        let first = if n == 0 { "dave" } else { "erin" };
        let second = if n == 0 { "erin" } else { "dave" };
        let to = if i % 2 == 0 { first } else { second };
        append("carol", to, &format!("n{n}-t{t}-m{i}"))
    })
    .await;
    assert_eq!(seqs.len(), 2 * TASKS_PER_NODE * MESSAGES_PER_TASK);
    for peer in ["dave", "erin"] {
        let stored = a.messages_after("carol", peer, 0, 10_000).await.unwrap();
        let stored_seqs: Vec<u64> = stored.iter().map(|m| m.seq).collect();
        assert_eq!(
            stored_seqs,
            one_to_n(TASKS_PER_NODE * MESSAGES_PER_TASK),
            "carol and {peer}"
        );
    }
}

/// Applies `op` on both nodes at the same moment; both outcomes.
async fn at_once(a: &Arc<PgStore>, b: &Arc<PgStore>, op: WriteOp) -> [(u64, String, bool); 2] {
    let mut other = op.clone();
    // The second node's copy has its own server-side id, as a different process would give it.
    match &mut other {
        WriteOp::Append(NewMessage { id, .. })
        | WriteOp::SupportAppend(NewSupportMessage { id, .. }) => *id = new_message_id(),
        _ => {}
    }
    let (a, b) = (a.clone(), b.clone());
    let first = tokio::spawn(async move { a.apply_batch([op].into()).await });
    let second = tokio::spawn(async move { b.apply_batch([other].into()).await });
    let first = first.await.unwrap().expect("node a commits");
    let second = second.await.unwrap().expect("node b commits");
    [appended(&first[0]), appended(&second[0])]
}

fn assert_one_original(round: usize, outcomes: &[(u64, String, bool); 2]) {
    let [(seq_a, id_a, dup_a), (seq_b, id_b, dup_b)] = outcomes;
    assert_eq!(
        (seq_a, id_a),
        (seq_b, id_b),
        "round {round}: both nodes answer with the same message"
    );
    assert!(dup_a ^ dup_b, "round {round}: exactly one is the duplicate");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn resend_is_stored_once_when_both_nodes_receive_it_at_the_same_time() {
    let Some((_db, a, b)) = two_nodes("resend_is_stored_once").await else {
        return;
    };
    const ROUNDS: usize = 40;
    for round in 0..ROUNDS {
        let outcomes = at_once(&a, &b, append("alice", "bob", &format!("k{round}"))).await;
        assert_one_original(round, &outcomes);
        assert_eq!(
            outcomes[0].0,
            round as u64 + 1,
            "no seq is spent on the duplicate"
        );
    }
    // The same client_msg_id to two different peers at once (the key is per sender, so this
    // is a resend too): one row, and neither conversation loses a seq.
    for round in 0..ROUNDS {
        let key = format!("x{round}");
        let op_a = append("carol", "dave", &key);
        let op_b = append("carol", "erin", &key);
        let (a2, b2) = (a.clone(), b.clone());
        let first = tokio::spawn(async move { a2.apply_batch([op_a].into()).await });
        let second = tokio::spawn(async move { b2.apply_batch([op_b].into()).await });
        let first = appended(&first.await.unwrap().expect("node a commits")[0]);
        let second = appended(&second.await.unwrap().expect("node b commits")[0]);
        assert_one_original(round, &[first, second]);
    }
    let to_dave = a.messages_after("carol", "dave", 0, 1000).await.unwrap();
    let to_erin = a.messages_after("carol", "erin", 0, 1000).await.unwrap();
    assert_eq!(
        to_dave.len() + to_erin.len(),
        ROUNDS,
        "one row per client_msg_id"
    );
    for stored in [&to_dave, &to_erin] {
        let seqs: Vec<u64> = stored.iter().map(|m| m.seq).collect();
        assert_eq!(seqs, one_to_n(stored.len()), "no gaps");
    }
    let stored = b.messages_after("alice", "bob", 0, 1000).await.unwrap();
    let keys: HashSet<&str> = stored.iter().map(|m| m.client_msg_id.as_str()).collect();
    assert_eq!(stored.len(), ROUNDS);
    assert_eq!(keys.len(), ROUNDS);
}

/// A support conversation with an agent `ann` who exists (claims need the account).
async fn support_conversation(store: &PgStore) -> String {
    store
        .create_user("ann", "not-a-real-hash", Role::Agent)
        .await
        .unwrap();
    let id = uuid::Uuid::new_v4().to_string();
    store
        .create_support_conversation(&id, &format!("secret-{id}"), "Customer")
        .await
        .unwrap();
    id
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn support_seqs_are_exactly_one_to_n_when_two_nodes_append_at_once() {
    let Some((_db, a, b)) = two_nodes("support_seqs_are_exactly_one_to_n").await else {
        return;
    };
    let conversation = support_conversation(&a).await;
    let id = conversation.clone();
    let seqs = hammer([&a, &b], move |n, t, i| {
        if n == 1 && t == 0 {
            // The agent too: the first agent message claims the conversation for ann.
            support_message(
                &id,
                FromRole::Agent,
                "ann",
                format!("answer {i}"),
                format!("ann-{i}"),
            )
        } else {
            support_append(&id, &format!("n{n}-t{t}-m{i}"))
        }
    })
    .await;
    let total = 2 * TASKS_PER_NODE * MESSAGES_PER_TASK;
    assert_eq!(seqs, one_to_n(total));
    let stored = b
        .support_messages_after(&conversation, 0, total as u32 + 10)
        .await
        .unwrap();
    let stored_seqs: Vec<u64> = stored.iter().map(|m| m.seq).collect();
    assert_eq!(stored_seqs, one_to_n(total));
    let after = a.support_by_id(&conversation).await.unwrap().unwrap();
    assert_eq!(after.last_seq, total as u64);
    assert_eq!(after.assignee.as_deref(), Some("ann"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn support_resend_is_stored_once_when_both_nodes_receive_it_at_the_same_time() {
    let Some((_db, a, b)) = two_nodes("support_resend_is_stored_once").await else {
        return;
    };
    let conversation = support_conversation(&a).await;
    const ROUNDS: usize = 40;
    for round in 0..ROUNDS {
        let outcomes = at_once(&a, &b, support_append(&conversation, &format!("k{round}"))).await;
        assert_one_original(round, &outcomes);
        assert_eq!(
            outcomes[0].0,
            round as u64 + 1,
            "no seq is spent on the duplicate"
        );
    }
    let stored = b
        .support_messages_after(&conversation, 0, 1000)
        .await
        .unwrap();
    assert_eq!(stored.len(), ROUNDS, "one row per client_msg_id");
}
