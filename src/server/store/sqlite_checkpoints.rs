//! Keeping SQLite's WAL bounded without stalling the writer.
//!
//! Every commit appends the pages it changed to the WAL. A checkpoint copies them into the
//! database file and fsyncs it. The WAL is rewound (written from its start again) only by a
//! transaction that begins when every frame is already copied; until then it grows.
//!
//! - **Copying** is done by a thread of its own, on a connection of its own, every
//!   [`WalPolicy::every`]. It is PASSIVE, so it never waits for (or blocks) the writer or
//!   readers, and it syncs the database a piece at a time ([`super::sqlite_checkpoint_copy`]),
//!   so that the message log's fsyncs do not queue behind the whole copy.
//! - **Rewinding** needs the last frames copied with no commit in between, and only the writer
//!   can arrange that. Once the WAL is [`WalPolicy::rewind_at_frames`] long, the checkpointer
//!   copies again what was committed during its own pass (less each time), then asks. Before
//!   its next batch the writer copies the rest, a batch or two, and fsyncs the database: a
//!   pause of a millisecond or two, a few times a second at most under full load.
//!
//! Why not SQLite's autocheckpoint (which this replaced, at 8 192 frames): it runs inside
//! whichever commit crosses the threshold, and that commit copied everything since the
//! checkpointer's last pass, up to 200 ms of traffic, then fsynced the database. Under the
//! benchmark's load that was every ~110 ms, those commits took 6–8 ms, and they made the p99.
//! Measured with `confab-bench` (throughput, then latency): W=1 p99 11.9–14.2 → 8.8–10.1 ms,
//! W=10 67–70 k → 72–77 k msgs/s. The autocheckpoint stays, far above, as a backstop.

use super::sqlite_checkpoint_copy::CheckpointCopy;
use super::{StoreError, StoreResult};
use rusqlite::Connection;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{self, RecvTimeoutError};
use std::sync::Arc;
use std::time::Duration;

/// When the checkpointer copies, and when it asks for a rewind.
#[derive(Debug, Clone, Copy)]
pub(super) struct WalPolicy {
    /// How often the checkpointer thread copies committed pages into the database.
    pub every: Duration,
    /// WAL length (frames, one page each) at which the writer is asked to rewind it.
    pub rewind_at_frames: i64,
}

/// Every second; a rewind at 128 MiB of WAL. The WAL now only takes the indexer's commits
/// (every 200 ms, see `sqlite_index`), and every checkpoint's fsync of the database delays the
/// message log's fsyncs on the same disk: copying once a second instead of five times writes
/// each page once for several commits, and the benchmark's W=1 p99 went from 7.5 to 7.1–7.3 ms
/// (two runs each). The rewind threshold trades disk for tail latency: W=1 p99 was 9.5 ms at
/// 16 384 frames and 8.8 ms at 32 768 (with the old write path); 65 536 was no better.
pub(super) const STANDARD: WalPolicy = WalPolicy {
    every: Duration::from_millis(1000),
    rewind_at_frames: 32 * 1024,
};

/// Extra passes at most before a rewind, and the frames committed during a pass that are few
/// enough to leave to the writer.
const CATCH_UP_PASSES: usize = 3;
const SMALL_REST_FRAMES: i64 = 256;

/// Bytes the WAL file is cut back to after a rewind, should it ever have grown past the usual
/// ~`rewind_at_frames` plus a pass's worth (a long read held the copying back).
const WAL_SIZE_LIMIT: i64 = 256 * 1024 * 1024;

impl WalPolicy {
    /// Sets up the write connection for this policy: SQLite's own autocheckpoint stays only as
    /// a backstop, far above the rewinds, in case the checkpointer stops keeping up.
    pub(super) fn configure_writer(&self, conn: &Connection) -> rusqlite::Result<()> {
        conn.pragma_update(None, "wal_autocheckpoint", 4 * self.rewind_at_frames)?;
        conn.pragma_update(None, "journal_size_limit", WAL_SIZE_LIMIT)
    }
}

/// The checkpointer thread, and its request to the writer.
pub(super) struct Checkpoints {
    rewind_due: Arc<AtomicBool>,
    /// Dropped with the writer, which ends the thread.
    _stop: mpsc::Sender<()>,
}

impl Checkpoints {
    /// Starts the checkpointer thread on a connection of its own to the database at `path`.
    pub(super) fn start(path: &Path, policy: WalPolicy) -> StoreResult<Self> {
        let copier = CheckpointCopy::open(path)?;
        let rewind_due = Arc::new(AtomicBool::new(false));
        let (stop, stopped) = mpsc::channel();
        let asks = rewind_due.clone();
        std::thread::Builder::new()
            .name("sqlite-checkpoint".into())
            .spawn(move || {
                super::sqlite_index::in_background();
                while let Err(RecvTimeoutError::Timeout) = stopped.recv_timeout(policy.every) {
                    match pass(|| copier.copy(), policy.rewind_at_frames) {
                        Ok(true) => asks.store(true, Ordering::Relaxed),
                        Ok(false) => {}
                        Err(e) => tracing::warn!(error = %e, "WAL checkpoint failed"),
                    }
                }
            })
            .map_err(|e| StoreError::Other(format!("cannot start the checkpointer: {e}")))?;
        Ok(Self {
            rewind_due,
            _stop: stop,
        })
    }

    /// On the write connection, between batches: if a rewind is due, copies the rest of the
    /// WAL, so that the next batch's commit writes the WAL from its start.
    pub(super) fn rewind_if_due(&self, conn: &Connection) {
        if self.rewind_due.swap(false, Ordering::Relaxed) {
            // Not fatal: a failed or partial copy (a reader still needs old frames) leaves the
            // WAL growing until the next request, and the backstop beyond.
            if let Err(e) = passive_checkpoint(conn) {
                tracing::warn!(error = %e, "WAL checkpoint before a rewind failed");
            }
        }
    }
}

/// One pass of the checkpointer; true if the writer should now rewind the WAL.
///
/// Before asking, it copies again what was committed during its own copying (each time less),
/// so that what is left for the writer, whose batches wait meanwhile, is a batch or two.
fn pass(copy: impl Fn() -> rusqlite::Result<i64>, rewind_at_frames: i64) -> rusqlite::Result<bool> {
    let mut wal_frames = copy()?;
    if wal_frames < rewind_at_frames {
        return Ok(false);
    }
    for _ in 0..CATCH_UP_PASSES {
        let now = copy()?;
        let committed_meanwhile = now - wal_frames;
        wal_frames = now;
        if committed_meanwhile <= SMALL_REST_FRAMES {
            break;
        }
    }
    Ok(true)
}

/// Copies what it can of the WAL into the database; returns the WAL's length in frames.
pub(super) fn passive_checkpoint(conn: &Connection) -> rusqlite::Result<i64> {
    conn.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |row| row.get(1))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Commits `rows` rows of 4 KiB each in one transaction that stays open a millisecond,
    /// like a busy writer's: one commit follows another at once, so a WAL left to itself is
    /// never rewound (the checkpointer's copy never ends between a commit and the next
    /// transaction), while the checkpointer has the time to keep up.
    fn commit_rows(conn: &Connection, rows: usize) {
        conn.execute_batch("BEGIN IMMEDIATE").unwrap();
        for _ in 0..rows {
            conn.execute("INSERT INTO t (x) VALUES (zeroblob(4000))", [])
                .unwrap();
        }
        std::thread::sleep(Duration::from_millis(1));
        conn.execute_batch("COMMIT").unwrap();
    }

    #[test]
    fn wal_is_rewound_between_batches_when_the_checkpointer_asks() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("wal.db");
        let conn = Connection::open(&path).unwrap();
        conn.pragma_update(None, "journal_mode", "WAL").unwrap();
        conn.pragma_update(None, "synchronous", "NORMAL").unwrap();
        // No autocheckpoint: only the checkpointer's requests can rewind the WAL. After a
        // rewind SQLite cuts the file back to this limit, which makes rewinds visible.
        conn.pragma_update(None, "wal_autocheckpoint", 0).unwrap();
        conn.pragma_update(None, "journal_size_limit", 64 * 1024)
            .unwrap();
        conn.execute_batch("CREATE TABLE t (x BLOB)").unwrap();
        let policy = WalPolicy {
            every: Duration::from_millis(2),
            rewind_at_frames: 64,
        };
        let checkpoints = Checkpoints::start(&path, policy).unwrap();
        let wal_bytes = || {
            std::fs::metadata(dir.path().join("wal.db-wal"))
                .unwrap()
                .len()
        };

        // About 8 MiB of WAL in all (2 000 frames, 30 times the threshold); left to itself the
        // file ends at 12 MiB.
        let batches = 500;
        for _ in 0..batches {
            checkpoints.rewind_if_due(&conn);
            commit_rows(&conn, 4);
        }

        let wal = wal_bytes();
        assert!(wal < 3 * 1024 * 1024, "the WAL grew to {wal} bytes");
        let rows: i64 = conn
            .query_row("SELECT count(*) FROM t", [], |row| row.get(0))
            .unwrap();
        assert_eq!(rows, 4 * batches);
    }
}
