//! Writing a file's dirty pages back to the disk a little at a time, so that the message log's
//! `fdatasync` (the step every acknowledgement waits for) never queues behind a large flush.
//!
//! A plain `fsync` of a file with tens of megabytes in the page cache hands all of it to the disk
//! at once, and a log `fdatasync` issued meanwhile waits for the whole queue. Written back
//! [`STEP_BYTES`] at a time, waiting for each step (`sync_file_range` with `WAIT_BEFORE |
//! WRITE | WAIT_AFTER`), at most one step is ahead of the log's sync. Measured with a
//! standalone logger (300-byte writes, each `fdatasync`ed) beside a file flushing 10 MB a
//! second: the logger's p99.9 was 4.0–4.3 ms against plain flushes, 0.76 ms against 128 KiB
//! steps and 1.73 ms against 512 KiB steps.
//!
//! Used by the checkpointer ([`super::sqlite_checkpoint_copy`]) and by the thread that
//! zero-fills the log's next segment ([`super::sqlite_log_prepare`]). Write-back is only the
//! pacing: each caller still ends with an `fdatasync`/`fsync`, which is what makes it durable.

use std::fs::File;
use std::io;

/// How much of a file may be on its way to the disk at once.
pub(super) const STEP_BYTES: u64 = 128 * 1024;

/// Writes back the dirty pages in `[from, from + len)`, one step at a time, waiting for each.
/// Elsewhere than Linux it does nothing (the caller's sync does all the work).
pub(super) fn write_back(file: &File, from: u64, len: u64) -> io::Result<()> {
    #[cfg(target_os = "linux")]
    {
        use std::os::fd::AsRawFd;
        let flags = libc::SYNC_FILE_RANGE_WAIT_BEFORE
            | libc::SYNC_FILE_RANGE_WRITE
            | libc::SYNC_FILE_RANGE_WAIT_AFTER;
        let end = from.saturating_add(len);
        let mut at = from;
        while at < end {
            let step = STEP_BYTES.min(end - at);
            // SAFETY: a system call on an open descriptor; it touches no memory of ours.
            let rc = unsafe {
                libc::sync_file_range(
                    file.as_raw_fd(),
                    at as libc::off64_t,
                    step as libc::off64_t,
                    flags,
                )
            };
            if rc != 0 {
                return Err(io::Error::last_os_error());
            }
            at += step;
        }
    }
    #[cfg(not(target_os = "linux"))]
    let _ = (file, from, len);
    Ok(())
}

/// Writes the whole file back a step at a time, then `fdatasync`s it (which then has little
/// left to write).
pub(super) fn paced_sync(file: &File) -> io::Result<()> {
    write_back(file, 0, file.metadata()?.len())?;
    file.sync_data()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{Read, Seek, SeekFrom, Write};

    #[test]
    fn a_file_written_back_in_steps_keeps_every_byte() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f");
        let mut file = File::options()
            .create(true)
            .truncate(true)
            .read(true)
            .write(true)
            .open(&path)
            .unwrap();
        // Not a multiple of the step, so the last step is a short one.
        let bytes: Vec<u8> = (0..(3 * STEP_BYTES + 1000))
            .map(|i| (i % 251) as u8)
            .collect();
        file.write_all(&bytes).unwrap();
        write_back(&file, 0, STEP_BYTES + 10).unwrap();
        paced_sync(&file).unwrap();
        let mut back = Vec::new();
        file.seek(SeekFrom::Start(0)).unwrap();
        file.read_to_end(&mut back).unwrap();
        assert_eq!(back, bytes);
        drop(file);
        assert_eq!(std::fs::read(&path).unwrap(), bytes);
    }
}
