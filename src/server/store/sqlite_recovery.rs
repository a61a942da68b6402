//! Recovery: on start, the message log's records the tables do not hold yet are applied
//! before anything else runs, so a crash loses nothing that was acknowledged.

use super::sqlite_entries::{self, Entry};
use super::sqlite_index;
use super::sqlite_log;
use super::sqlite_writes::log_error;
use super::StoreResult;
use rusqlite::Connection;
use std::path::Path;

/// Entries at most per transaction when recovery applies the log.
const RECOVERY_ENTRIES_PER_COMMIT: usize = 20_000;

/// Applies the log records the tables do not hold yet, then removes the log's segments.
/// Returns the newest record number.
pub(super) fn recover(conn: &mut Connection, dir: &Path) -> StoreResult<u64> {
    let applied = sqlite_index::applied(conn)?;
    if !dir.exists() {
        return Ok(applied);
    }
    let segments = sqlite_log::segments(dir).map_err(log_error)?;
    let mut last = applied;
    let mut pending: Vec<Entry> = Vec::new();
    let mut replayed = 0usize;
    for segment in &segments {
        let mut records = Vec::new();
        sqlite_log::read_segment(segment, |number, payload| {
            if number > last {
                let entries = sqlite_entries::decode(payload).map_err(std::io::Error::other)?;
                records.push((number, entries));
                last = number;
            }
            Ok(())
        })
        .map_err(log_error)?;
        for (number, entries) in records {
            replayed += entries.len();
            pending.extend(entries);
            if pending.len() >= RECOVERY_ENTRIES_PER_COMMIT {
                let chunk = std::mem::take(&mut pending);
                sqlite_index::apply_logged(conn, || &chunk, number)?;
            }
        }
    }
    if last > applied {
        sqlite_index::apply_logged(conn, || &pending, last)?;
        tracing::info!(
            records = last - applied,
            entries = replayed,
            "applied the message log's records the tables did not hold"
        );
    }
    for segment in segments {
        std::fs::remove_file(&segment.path).map_err(log_error)?;
    }
    Ok(last)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::server::store::sqlite_log::LogWriter;
    use crate::server::store::sqlite_writes::log_dir;
    use crate::server::store::{
        NewMessage, SqliteStore, Store, StoredMessage, WriteOp, WriteOutcome,
    };
    use std::path::PathBuf;
    use std::sync::Arc;

    fn message(from: &str, to: &str, seq: u64, body: &str) -> Arc<StoredMessage> {
        Arc::new(StoredMessage {
            id: format!("id-{from}-{seq}"),
            seq,
            sender: from.into(),
            recipient: to.into(),
            body: body.into(),
            client_msg_id: format!("{from}-{seq}"),
            sent_at: format!("2026-12-04T00:00:{seq:02}.000Z"),
        })
    }

    /// A migrated database whose log holds records the tables have not seen: what a crash
    /// between an acknowledgement and the indexer's commit leaves.
    async fn store_with_logged_records(records: &[Vec<Entry>]) -> (tempfile::TempDir, PathBuf) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.db");
        let url = format!("sqlite://{}", path.display());
        let store = SqliteStore::connect(&url).await.unwrap();
        store.close().await;
        drop(store);
        // The store removed its (empty) log on start; put a crashed run's log in its place.
        let log_dir = log_dir(&path);
        for segment in sqlite_log::segments(&log_dir).unwrap() {
            std::fs::remove_file(segment.path).unwrap();
        }
        let mut log = LogWriter::create(&log_dir, 1).unwrap();
        for (n, entries) in records.iter().enumerate() {
            log.append(n as u64 + 1, &sqlite_entries::encode(entries))
                .unwrap();
        }
        (dir, path)
    }

    fn conversation(id: i64, lo: &str, hi: &str) -> Entry {
        Entry::Conversation {
            id,
            lo: lo.into(),
            hi: hi.into(),
            at: "2026-12-04T00:00:00.000Z".into(),
        }
    }

    fn logged(conversation_id: i64, message: Arc<StoredMessage>) -> Entry {
        Entry::Message {
            conversation_id,
            message,
        }
    }

    #[tokio::test]
    async fn logged_writes_the_tables_missed_are_applied_when_the_store_opens_again() {
        let records = vec![
            vec![
                conversation(1, "ann", "bob"),
                logged(1, message("ann", "bob", 1, "first")),
            ],
            vec![
                logged(1, message("bob", "ann", 2, "second")),
                Entry::Marks {
                    conversation_id: 1,
                    username: "bob".into(),
                    delivered_seq: 1,
                    read_seq: 1,
                },
            ],
        ];
        let (dir, path) = store_with_logged_records(&records).await;
        let url = format!("sqlite://{}", path.display());
        let store = SqliteStore::connect(&url).await.unwrap();

        let (page, more) = store.messages_before("ann", "bob", None, 10).await.unwrap();
        assert!(!more);
        let bodies: Vec<(u64, &str)> = page.iter().map(|m| (m.seq, m.body.as_str())).collect();
        assert_eq!(bodies, vec![(1, "first"), (2, "second")]);
        let bob = store.conversations("bob").await.unwrap();
        assert_eq!(
            (bob[0].peer.as_str(), bob[0].last_seq, bob[0].unread),
            ("ann", 2, 0)
        );
        // Numbering and resends go on from what the log held.
        let next = store
            .apply_batch(Arc::from([
                WriteOp::Append(NewMessage::new(
                    "ann".into(),
                    "bob".into(),
                    "third".into(),
                    "c3".into(),
                )),
                WriteOp::Append(NewMessage::new(
                    "ann".into(),
                    "bob".into(),
                    "again".into(),
                    "ann-1".into(),
                )),
            ]))
            .await
            .unwrap();
        assert!(
            matches!(&next[0], WriteOutcome::Appended { message, duplicate: false, .. } if message.seq == 3)
        );
        assert!(
            matches!(&next[1], WriteOutcome::Appended { message, duplicate: true, .. } if message.body == "first")
        );
        store.close().await;
        drop(store);

        // Applied once: opening again replays nothing twice.
        let store = SqliteStore::connect(&url).await.unwrap();
        let (page, _) = store.messages_before("ann", "bob", None, 10).await.unwrap();
        assert_eq!(
            page.iter().map(|m| m.seq).collect::<Vec<_>>(),
            vec![1, 2, 3]
        );
        drop(dir);
    }

    #[tokio::test]
    async fn a_record_cut_off_by_a_crash_is_not_applied_and_the_records_before_it_are() {
        let records = vec![
            vec![
                conversation(1, "ann", "bob"),
                logged(1, message("ann", "bob", 1, "whole")),
            ],
            vec![logged(1, message("ann", "bob", 2, "cut off"))],
        ];
        let (dir, path) = store_with_logged_records(&records).await;
        let segment = sqlite_log::segments(&log_dir(&path)).unwrap().remove(0);
        let len = std::fs::metadata(&segment.path).unwrap().len();
        let file = std::fs::OpenOptions::new()
            .write(true)
            .open(&segment.path)
            .unwrap();
        file.set_len(len - 3).unwrap();

        let url = format!("sqlite://{}", path.display());
        let store = SqliteStore::connect(&url).await.unwrap();
        let (page, _) = store.messages_before("ann", "bob", None, 10).await.unwrap();
        assert_eq!(
            page.iter().map(|m| m.body.as_str()).collect::<Vec<_>>(),
            vec!["whole"]
        );
        // The next message takes the seq the lost one never had.
        let next = store
            .apply_batch(Arc::from([WriteOp::Append(NewMessage::new(
                "bob".into(),
                "ann".into(),
                "reply".into(),
                "r1".into(),
            ))]))
            .await
            .unwrap();
        assert!(matches!(&next[0], WriteOutcome::Appended { message, .. } if message.seq == 2));
        drop(dir);
    }
}
