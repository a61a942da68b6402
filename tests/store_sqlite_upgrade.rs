//! Upgrading an existing SQLite database: a store written before migration 0005 (messages
//! clustered by conversation) is opened by this version, which rewrites the messages table in
//! commit order. Every message must survive with its seq and body, a resend of an old
//! `client_msg_id` must still be recognised, and new messages must continue the numbering.
#![cfg(feature = "ssr")]

use confab::server::store::{NewMessage, SqliteStore, Store, WriteOp, WriteOutcome};
use sqlx::migrate::Migrator;
use sqlx::sqlite::{SqliteConnectOptions, SqlitePoolOptions};
use std::path::Path;
use std::str::FromStr;

const MIGRATIONS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/migrations/sqlite");

/// Creates a database with the migrations before `version` only, as an older release left it.
async fn database_before(url: &str, version: i64, dir: &Path) {
    let old = dir.join("old-migrations");
    std::fs::create_dir_all(&old).unwrap();
    for entry in std::fs::read_dir(MIGRATIONS).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        let number: i64 = name.split('_').next().unwrap().parse().unwrap();
        if number < version {
            std::fs::copy(&path, old.join(&name)).unwrap();
        }
    }
    let options = SqliteConnectOptions::from_str(url)
        .unwrap()
        .create_if_missing(true);
    let pool = SqlitePoolOptions::new()
        .connect_with(options)
        .await
        .unwrap();
    Migrator::new(old.as_path())
        .await
        .unwrap()
        .run(&pool)
        .await
        .unwrap();
    // Two users and their conversation, written the way the old schema stored them.
    for statement in [
        "INSERT INTO users VALUES ('alice', 'x', 'user', '2026-01-01T00:00:00Z'), \
                                 ('bob', 'x', 'user', '2026-01-01T00:00:00Z')",
        "INSERT INTO conversations (id, user_lo, user_hi, last_seq, updated_at) \
         VALUES (7, 'alice', 'bob', 3, '2026-01-01T00:00:03Z')",
        "INSERT INTO members VALUES (7, 'alice', 3, 3), (7, 'bob', 2, 1)",
        "INSERT INTO messages VALUES \
         (7, 1, 'm1', 'alice', 'bob', 'first', 'a-1', '2026-01-01T00:00:01Z'), \
         (7, 2, 'm2', 'bob', 'alice', 'second', 'b-1', '2026-01-01T00:00:02Z'), \
         (7, 3, 'm3', 'alice', 'bob', 'third', 'a-2', '2026-01-01T00:00:03Z')",
    ] {
        sqlx::query(statement).execute(&pool).await.unwrap();
    }
    pool.close().await;
}

fn append(sender: &str, recipient: &str, body: &str, client_msg_id: &str) -> WriteOp {
    WriteOp::Append(NewMessage::new(
        sender.into(),
        recipient.into(),
        body.into(),
        client_msg_id.into(),
    ))
}

#[tokio::test]
async fn upgrading_an_old_database_keeps_messages_seqs_and_resend_detection() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("confab.db").display());
    database_before(&url, 5, dir.path()).await;

    let store = SqliteStore::connect(&url)
        .await
        .expect("the upgrade applies");

    let history = store.messages_after("bob", "alice", 0, 100).await.unwrap();
    let kept: Vec<(u64, &str, &str)> = history
        .iter()
        .map(|m| (m.seq, m.sender.as_str(), m.body.as_str()))
        .collect();
    assert_eq!(
        kept,
        [
            (1, "alice", "first"),
            (2, "bob", "second"),
            (3, "alice", "third")
        ]
    );
    // Bob had received up to seq 2 before the upgrade: seq 3 is still owed to him.
    let pending = store.pending_for("bob", 100).await.unwrap();
    assert_eq!(pending.iter().map(|m| m.seq).collect::<Vec<_>>(), [3]);

    let outcomes = store
        .apply_batch(
            [
                append("alice", "bob", "resent", "a-2"),
                append("bob", "alice", "new", "b-2"),
            ]
            .into(),
        )
        .await
        .unwrap();
    match &outcomes[0] {
        WriteOutcome::Appended {
            message, duplicate, ..
        } => {
            assert!(
                *duplicate,
                "a client_msg_id used before the upgrade is a resend"
            );
            assert_eq!((message.seq, message.body.as_str()), (3, "third"));
        }
        other => panic!("expected the original message, got {other:?}"),
    }
    match &outcomes[1] {
        WriteOutcome::Appended {
            message, duplicate, ..
        } => {
            assert!(!*duplicate);
            assert_eq!(message.seq, 4, "numbering continues after the old messages");
        }
        other => panic!("expected a new message, got {other:?}"),
    }
    let (page, has_more) = store
        .messages_before("alice", "bob", None, 2)
        .await
        .unwrap();
    assert_eq!(page.iter().map(|m| m.seq).collect::<Vec<_>>(), [3, 4]);
    assert!(has_more);
}
