//! The checkpointer's copy of the WAL into the database, made durable without stalling the
//! message log's `fdatasync`s.
//!
//! SQLite's own checkpoint copies the pages into the database file and then fsyncs it: tens of
//! megabytes reach the disk at once, and every `fdatasync` of the message log (the step every
//! acknowledgement waits for) queues behind them. Traced on the benchmark's W=1 load
//! (`strace -T`): the log's `fdatasync` took 0.14 ms at the median, 10–45 ms while a
//! checkpoint's fsync (10–21 ms) was running.
//!
//! So the copy runs on a connection with `synchronous=OFF` (SQLite writes the pages but does not
//! fsync), and this module makes them durable itself, a step at a time
//! ([`super::paced_writeback`]), then `fdatasync`s the file. Until that has succeeded, pages copied
//! out of the WAL exist only in the page cache, so the WAL must not be rewound over their frames:
//! a read transaction ([`CheckpointCopy::guard`]), begun before the copy and ended only after the
//! sync, holds a WAL read lock, and SQLite rewinds a WAL only when no reader holds one. (A
//! reader that began after everything was copied holds the lock that makes a checkpoint copy
//! nothing; either way no frame is lost before its page is on disk.) The WAL's own frames were
//! fsynced by the indexer's commits (`synchronous=FULL`) before the copy could read them.
//!
//! Measured with `confab-bench` (W=1, 11 interleaved pairs): p99 better in 9, mean 7.66 →
//! 7.29 ms; the log's `fdatasync` p99 1.82 → 1.28 ms in a traced run each. The scan costs the
//! checkpointer about 0.15 µs more CPU per message at W=10 (a page-cache walk per step of a
//! file of a few hundred megabytes); W=10 throughput did not change beyond noise.

use super::paced_writeback::paced_sync;
use super::{StoreError, StoreResult};
use rusqlite::{Connection, OpenFlags};
use std::fs::File;
use std::path::Path;

pub(super) struct CheckpointCopy {
    conn: Connection,
    /// Holds a read transaction from before a copy until the copy is durable.
    guard: Connection,
    db: File,
}

impl CheckpointCopy {
    pub(super) fn open(path: &Path) -> StoreResult<Self> {
        let flags = OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX;
        let conn = Connection::open_with_flags(path, flags)?;
        conn.pragma_update(None, "synchronous", "OFF")?;
        let guard = Connection::open_with_flags(
            path,
            OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )?;
        let db = File::open(path)
            .map_err(|e| StoreError::Other(format!("cannot open the database file: {e}")))?;
        Ok(Self { conn, guard, db })
    }

    /// Copies what it can of the WAL into the database and makes it durable; returns the WAL's
    /// length in frames. If it fails, the guard stays held until a later call has synced.
    pub(super) fn copy(&self) -> rusqlite::Result<i64> {
        if self.guard.is_autocommit() {
            self.hold()?;
        }
        let frames = super::sqlite_checkpoints::passive_checkpoint(&self.conn)?;
        paced_sync(&self.db).map_err(|e| {
            rusqlite::Error::SqliteFailure(
                rusqlite::ffi::Error::new(rusqlite::ffi::SQLITE_IOERR_FSYNC),
                Some(format!("syncing the checkpointed database: {e}")),
            )
        })?;
        self.guard.execute_batch("COMMIT")?;
        Ok(frames)
    }

    /// Begins the guard's read transaction.
    fn hold(&self) -> rusqlite::Result<()> {
        self.guard.execute_batch("BEGIN")?;
        // The first read starts the read transaction, and with it the WAL read lock.
        self.guard
            .query_row("SELECT count(*) FROM sqlite_schema", [], |_| Ok(()))
    }
}

impl Drop for CheckpointCopy {
    fn drop(&mut self) {
        // The last connection to close checkpoints the WAL and deletes it, with its own
        // synchronous setting: this one must not do that without an fsync.
        let _ = self.conn.pragma_update(None, "synchronous", "FULL");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn wal_frames(conn: &Connection) -> i64 {
        conn.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |row| row.get(1))
            .unwrap()
    }

    /// A WAL database whose WAL holds a table of about 100 KB, never checkpointed by itself.
    fn wal_with_a_table(dir: &Path) -> (Connection, CheckpointCopy) {
        let path = dir.join("wal.db");
        let writer = Connection::open(&path).unwrap();
        writer.pragma_update(None, "journal_mode", "WAL").unwrap();
        writer.pragma_update(None, "wal_autocheckpoint", 0).unwrap();
        writer
            .execute_batch("CREATE TABLE t (x BLOB); INSERT INTO t VALUES (zeroblob(100000));")
            .unwrap();
        let copy = CheckpointCopy::open(&path).unwrap();
        (writer, copy)
    }

    #[test]
    fn copied_pages_reach_the_database_and_the_wal_can_rewind_after_the_copy() {
        let dir = tempfile::tempdir().unwrap();
        let (writer, copy) = wal_with_a_table(dir.path());

        let frames = copy.copy().unwrap();
        assert!(frames > 20, "the WAL held the table's pages: {frames}");
        assert!(
            copy.guard.is_autocommit(),
            "the guard is let go once synced"
        );
        // Everything was copied, so the writer's next transaction starts the WAL over.
        writer
            .execute_batch("INSERT INTO t VALUES (x'01')")
            .unwrap();
        assert!(wal_frames(&writer) < frames, "the WAL was rewound");
        let rows: i64 = writer
            .query_row("SELECT count(*) FROM t", [], |row| row.get(0))
            .unwrap();
        assert_eq!(rows, 2);
    }

    #[test]
    fn wal_is_not_rewound_while_a_copy_is_not_yet_durable() {
        let dir = tempfile::tempdir().unwrap();
        let (writer, copy) = wal_with_a_table(dir.path());
        // The copy as `copy` makes it, stopped before its sync: the guard is still held.
        copy.hold().unwrap();
        let frames = super::super::sqlite_checkpoints::passive_checkpoint(&copy.conn).unwrap();

        writer
            .execute_batch("INSERT INTO t VALUES (x'01')")
            .unwrap();
        assert!(
            wal_frames(&writer) > frames,
            "the WAL grew instead of being rewound over unsynced frames"
        );
        // Once synced and let go, the next copy takes the rest and the WAL may start over.
        copy.guard.execute_batch("COMMIT").unwrap();
        copy.copy().unwrap();
        writer
            .execute_batch("INSERT INTO t VALUES (x'02')")
            .unwrap();
        assert!(
            wal_frames(&writer) <= frames,
            "rewound once the copy was durable"
        );
    }
}
