//! Log segments zero-filled ahead of use.
//!
//! Appending to a file makes every `fdatasync` commit the file system's journal too (the file
//! grew). Overwriting blocks that are already allocated and written does not: the sync writes
//! the record's pages and flushes, nothing else. Measured under the benchmark's W=1 load: a log
//! `fdatasync` took 0.34-0.36 ms in a zero-filled segment against 0.50-0.52 ms appending.
//!
//! So once a segment has seen some traffic ([`PREPARE_AFTER_BYTES`]), the next one is written
//! full of zeros and synced, under a temporary name, by a thread of its own; the log switches
//! to it (renamed to its first record's number, the directory synced) at the next record, or
//! when the current one is full. A quiet server never prepares one. Reading stops at the first
//! header that is not a whole record, which a zero header never is.
//!
//! The zeros reach the disk a step at a time as they are written ([`super::paced_writeback`]):
//! 64 MiB flushed by one `fsync` kept the disk busy for 25 ms, and the log's `fdatasync` waited
//! behind it (21.6 ms, traced with `perf trace` at W=1).

use super::paced_writeback;
use std::fs::{File, OpenOptions};
use std::io::{self, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::mpsc;

/// The temporary name of the segment being prepared; not a segment name, so never read.
const PREPARED_NAME: &str = "next.prep";

/// Bytes written to a segment before the next one is prepared.
pub(super) const PREPARE_AFTER_BYTES: u64 = 1024 * 1024;

pub(super) fn prepared_path(dir: &Path) -> PathBuf {
    dir.join(PREPARED_NAME)
}

/// A prepared segment left by an earlier process (it may be half-filled): it goes.
pub(super) fn remove_stale(dir: &Path) {
    match std::fs::remove_file(prepared_path(dir)) {
        Ok(()) => {}
        Err(e) if e.kind() == io::ErrorKind::NotFound => {}
        Err(e) => tracing::warn!(error = %e, "cannot remove a stale prepared log segment"),
    }
}

/// A segment being zero-filled on its own thread.
pub(super) struct Preparing {
    done: mpsc::Receiver<io::Result<File>>,
}

impl Preparing {
    /// Starts writing `bytes` zeros to the prepared segment of `dir`.
    pub(super) fn start(dir: &Path, bytes: u64) -> Self {
        let (tx, done) = mpsc::sync_channel(1);
        let path = prepared_path(dir);
        let spawned = std::thread::Builder::new()
            .name("sqlite-log-prep".into())
            .spawn(move || {
                super::sqlite_index::in_background();
                let _ = tx.send(zero_filled(&path, bytes));
            });
        if let Err(e) = spawned {
            // The sender went with the closure: `ready` reports the failure.
            tracing::warn!(error = %e, "cannot start preparing a log segment");
        }
        Self { done }
    }

    /// The prepared file once it is ready, positioned at its start; `None` while it is being
    /// filled. `Some(Err)` once if preparing it failed.
    pub(super) fn ready(&self) -> Option<io::Result<File>> {
        match self.done.try_recv() {
            Ok(prepared) => Some(prepared),
            Err(mpsc::TryRecvError::Empty) => None,
            Err(mpsc::TryRecvError::Disconnected) => Some(Err(io::Error::other(
                "the thread preparing a log segment stopped",
            ))),
        }
    }
}

fn zero_filled(path: &Path, bytes: u64) -> io::Result<File> {
    let mut file = OpenOptions::new()
        .create(true)
        .truncate(true)
        .write(true)
        .open(path)?;
    let zeros = vec![0u8; 1024 * 1024];
    let mut at = 0;
    while at < bytes {
        let n = (bytes - at).min(zeros.len() as u64);
        file.write_all(&zeros[..n as usize])?;
        // Written back as it goes, a step at a time (see the module comment for why).
        paced_writeback::write_back(&file, at, n)?;
        at += n;
    }
    // Its blocks and its size are durable before any record is written over them.
    file.sync_all()?;
    file.seek(SeekFrom::Start(0))?;
    Ok(file)
}
