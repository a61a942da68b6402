//! The message log: where a direct-message batch becomes durable on SQLite.
//!
//! A batch is one record appended to the current segment file and `fdatasync`ed: a few hundred
//! bytes per message, where a SQLite commit of the same batch wrote every B-tree page it touched
//! (two or three 4 KiB pages per conversation) to the WAL and fsynced that. The indexer
//! ([`super::sqlite_index`]) copies records into the SQLite tables afterwards, many batches per
//! transaction, and only then may a segment go.
//!
//! # Format
//! A segment is named by the first record's number (`00000000000000000042.log`) and holds
//! records back to back, each `[payload length: u32][CRC-32 of number and payload: u32]
//! [record number: u64][payload]`, little-endian. Reading stops at the first record that is
//! short or fails its checksum: a batch whose write was cut off by a crash was never
//! acknowledged. Segments are only ever written by one process, front to back, and a new one
//! is started on every start, so such a record can only be a segment's last. A segment may be
//! zero-filled ahead of use ([`super::sqlite_log_prepare`]): its unwritten rest is zeros,
//! where reading stops too.

use super::sqlite_log_prepare::{self as prepare, Preparing};
use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// A segment is closed (and a new one started) once it is this long.
const SEGMENT_BYTES: u64 = 64 * 1024 * 1024;

const HEADER_BYTES: usize = 16;

/// A record refused before it is written: nothing on disk changes.
const MAX_RECORD_BYTES: usize = u32::MAX as usize;

/// A segment file and the number of its first record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Segment {
    pub(super) first: u64,
    pub(super) path: PathBuf,
}

/// The segment files of the log in `dir`, in order.
pub(super) fn segments(dir: &Path) -> io::Result<Vec<Segment>> {
    let mut found = Vec::new();
    for entry in fs::read_dir(dir)? {
        let path = entry?.path();
        let first = path
            .file_name()
            .and_then(|n| n.to_str())
            .and_then(|n| n.strip_suffix(".log"))
            .and_then(|n| n.parse::<u64>().ok());
        if let Some(first) = first {
            found.push(Segment { first, path });
        }
    }
    found.sort_by_key(|segment| segment.first);
    Ok(found)
}

/// Calls `each(number, payload)` for every whole record of `segment`, in order. Records are
/// numbered one after another from the segment's first; reading stops at the first record that
/// is cut off, damaged or out of sequence, which only a crash in the middle of writing it (or
/// damage) leaves behind.
pub(super) fn read_segment(
    segment: &Segment,
    mut each: impl FnMut(u64, &[u8]) -> io::Result<()>,
) -> io::Result<()> {
    let mut bytes = Vec::new();
    File::open(&segment.path)?.read_to_end(&mut bytes)?;
    let mut at = 0usize;
    let mut expected = segment.first;
    while let Some((number, payload)) = record_at(&bytes, at).filter(|(n, _)| *n == expected) {
        each(number, payload)?;
        at += HEADER_BYTES + payload.len();
        expected += 1;
    }
    // A zero-filled segment's unwritten rest is no damage.
    if bytes[at..].iter().any(|&b| b != 0) {
        tracing::warn!(
            segment = %segment.path.display(),
            ignored_bytes = bytes.len() - at,
            "the message log ends in an incomplete record (a write cut off by a crash)"
        );
    }
    Ok(())
}

/// The record starting at `at`, if it is whole and intact.
fn record_at(bytes: &[u8], at: usize) -> Option<(u64, &[u8])> {
    let header = bytes.get(at..at + HEADER_BYTES)?;
    let len = u32::from_le_bytes(header[0..4].try_into().ok()?) as usize;
    let crc = u32::from_le_bytes(header[4..8].try_into().ok()?);
    let number = u64::from_le_bytes(header[8..16].try_into().ok()?);
    let start = at + HEADER_BYTES;
    let payload = bytes.get(start..start.checked_add(len)?)?;
    (checksum(number, payload) == crc).then_some((number, payload))
}

fn checksum(number: u64, payload: &[u8]) -> u32 {
    let mut hasher = crc32fast::Hasher::new();
    hasher.update(&number.to_le_bytes());
    hasher.update(payload);
    hasher.finalize()
}

/// Appends records to the newest segment; owned by the one thread that logs batches. Writing
/// a record and making it durable are separate steps ([`LogWriter::write`], then `sync_data`
/// on [`Written::file`]), so the next batch can be decided and written while the previous one's
/// `fdatasync` runs on another thread.
pub(super) struct LogWriter {
    dir: PathBuf,
    path: PathBuf,
    file: Arc<File>,
    len: u64,
    /// One record's bytes, reused.
    buffer: Vec<u8>,
    /// Bytes a segment takes before the next one starts.
    segment_bytes: u64,
    /// This segment was zero-filled ahead (its syncs commit no journal).
    prepared: bool,
    /// The next segment, being zero-filled.
    next: Option<Preparing>,
}

/// A record written, not yet durable.
pub(super) struct Written {
    /// The segment holding it: once `sync_data` on it returns, the record is durable.
    pub(super) file: Arc<File>,
    /// The segment this record closed, if it did (its records may go once indexed).
    pub(super) closed: Option<PathBuf>,
}

impl LogWriter {
    /// Starts a new segment in `dir` (created if missing) whose first record is `first`.
    pub(super) fn create(dir: &Path, first: u64) -> io::Result<Self> {
        Self::with_segment_bytes(dir, first, SEGMENT_BYTES)
    }

    fn with_segment_bytes(dir: &Path, first: u64, segment_bytes: u64) -> io::Result<Self> {
        fs::create_dir_all(dir)?;
        prepare::remove_stale(dir);
        let path = segment_path(dir, first);
        let file = empty_segment(dir, &path)?;
        Ok(Self {
            dir: dir.to_owned(),
            path,
            file: Arc::new(file),
            len: 0,
            buffer: Vec::new(),
            segment_bytes,
            prepared: false,
            next: None,
        })
    }

    /// After a record: moves on to the next segment if this one is full, or if a zero-filled
    /// one is ready while this one is not zero-filled; starts preparing the next one once
    /// this one has seen some traffic. Returns the segment it closed.
    fn roll(&mut self, first: u64) -> io::Result<Option<PathBuf>> {
        let full = self.len >= self.segment_bytes;
        let ready = match &self.next {
            Some(next) if full || !self.prepared => next.ready(),
            _ => None,
        };
        if ready.is_some() {
            // Done, one way or the other.
            self.next = None;
        }
        let prepared = match ready {
            Some(Ok(file)) => Some(file),
            Some(Err(e)) => {
                tracing::warn!(error = %e, "preparing a log segment failed; appending instead");
                None
            }
            None => None,
        };
        if !full && prepared.is_none() {
            let prepare_after = prepare::PREPARE_AFTER_BYTES.min(self.segment_bytes / 2);
            if self.next.is_none() && self.len >= prepare_after {
                self.next = Some(Preparing::start(&self.dir, self.segment_bytes));
            }
            return Ok(None);
        }
        let path = segment_path(&self.dir, first);
        let (file, prepared) = match prepared {
            Some(file) => {
                fs::rename(prepare::prepared_path(&self.dir), &path)?;
                // As for a new segment: the name is durable before any record under it.
                sync_dir(&self.dir)?;
                (file, true)
            }
            None => (empty_segment(&self.dir, &path)?, false),
        };
        self.file = Arc::new(file);
        self.len = 0;
        self.prepared = prepared;
        Ok(Some(std::mem::replace(&mut self.path, path)))
    }

    /// Writes record `number`, whose payload `encode` appends to the record's buffer (to the
    /// page cache: see [`Written`]). The payload is encoded in place, behind room left for the
    /// header, rather than grown from empty in a buffer of its own (fresh pages to fault in for
    /// every batch) and then copied.
    ///
    /// On failure nothing of the record counts: the file is cut back to where it was, so the
    /// next record follows the last good one (and if even that fails, a new segment starts).
    pub(super) fn write(
        &mut self,
        number: u64,
        encode: impl FnOnce(&mut Vec<u8>),
    ) -> io::Result<Written> {
        self.buffer.clear();
        self.buffer.resize(HEADER_BYTES, 0);
        encode(&mut self.buffer);
        let (header, payload) = self.buffer.split_at_mut(HEADER_BYTES);
        if payload.len() > MAX_RECORD_BYTES {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "a batch too large for one log record",
            ));
        }
        header[..4].copy_from_slice(&(payload.len() as u32).to_le_bytes());
        header[4..8].copy_from_slice(&checksum(number, payload).to_le_bytes());
        header[8..].copy_from_slice(&number.to_le_bytes());
        if let Err(e) = (&*self.file).write_all(&self.buffer) {
            self.undo(number);
            return Err(e);
        }
        self.len += self.buffer.len() as u64;
        let file = self.file.clone();
        // The record is written whatever happens here: a segment that cannot be started only
        // leaves this one growing until the next try.
        let closed = self.roll(number + 1).unwrap_or_else(|e| {
            tracing::error!(error = %e, "cannot start a new message log segment");
            None
        });
        Ok(Written { file, closed })
    }

    /// After a failed write: cut the segment back to its last good record, or, if that cannot
    /// be done, continue in a new segment (reading stops at the damaged record's end of this
    /// one, and the next segment's records follow it).
    fn undo(&mut self, number: u64) {
        let cut = self
            .file
            .set_len(self.len)
            .and_then(|()| self.file.sync_all());
        if cut.is_ok() {
            // The write position is past the end after a short write.
            use std::io::{Seek, SeekFrom};
            if (&*self.file).seek(SeekFrom::Start(self.len)).is_ok() {
                return;
            }
        }
        match Self::with_segment_bytes(&self.dir, number, self.segment_bytes) {
            Ok(next) => *self = next,
            Err(e) => tracing::error!(error = %e, "cannot start a new message log segment"),
        }
    }
}

fn segment_path(dir: &Path, first: u64) -> PathBuf {
    dir.join(format!("{first:020}.log"))
}

/// Creates the empty segment file `path` in `dir`.
fn empty_segment(dir: &Path, path: &Path) -> io::Result<File> {
    let file = OpenOptions::new()
        .create(true)
        .truncate(true)
        .write(true)
        .open(path)?;
    // The new name must survive a power loss as surely as the records written under it.
    file.sync_all()?;
    sync_dir(dir)?;
    Ok(file)
}

fn sync_dir(dir: &Path) -> io::Result<()> {
    File::open(dir)?.sync_all()
}

#[cfg(test)]
mod tests {
    use super::*;

    impl LogWriter {
        /// Writes a record and waits until it is durable.
        pub(in crate::server::store) fn append(
            &mut self,
            number: u64,
            payload: &[u8],
        ) -> io::Result<Option<PathBuf>> {
            let written = self.write(number, |buffer| buffer.extend_from_slice(payload))?;
            written.file.sync_data()?;
            Ok(written.closed)
        }
    }

    fn records(segment: &Segment) -> Vec<(u64, Vec<u8>)> {
        let mut out = Vec::new();
        read_segment(segment, |n, p| {
            out.push((n, p.to_vec()));
            Ok(())
        })
        .unwrap();
        out
    }

    #[test]
    fn records_read_back_in_order_when_a_segment_is_reopened() {
        let dir = tempfile::tempdir().unwrap();
        let mut log = LogWriter::create(dir.path(), 7).unwrap();
        for n in 7..10 {
            assert_eq!(
                log.append(n, format!("batch {n}").as_bytes()).unwrap(),
                None
            );
        }
        let segments = segments(dir.path()).unwrap();
        assert_eq!(segments.len(), 1);
        assert!(segments[0].path.ends_with("00000000000000000007.log"));
        assert_eq!(segments[0].first, 7);
        let read = records(&segments[0]);
        assert_eq!(
            read,
            (7..10)
                .map(|n| (n, format!("batch {n}").into_bytes()))
                .collect::<Vec<_>>()
        );
    }

    #[test]
    fn records_continue_in_order_through_zero_filled_segments() {
        let dir = tempfile::tempdir().unwrap();
        let segment_bytes = 16 * 1024;
        let mut log = LogWriter::with_segment_bytes(dir.path(), 1, segment_bytes).unwrap();
        let payload = vec![7u8; 1000];
        let mut next = 1;
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        // Until the log has moved into a segment zero-filled ahead, then a few records more.
        while !log.prepared {
            assert!(
                std::time::Instant::now() < deadline,
                "no segment was prepared"
            );
            log.append(next, &payload).unwrap();
            next += 1;
            std::thread::sleep(std::time::Duration::from_millis(2));
        }
        for _ in 0..3 {
            log.append(next, &payload).unwrap();
            next += 1;
        }
        let segments = segments(dir.path()).unwrap();
        assert!(segments.len() >= 2, "{segments:?}");
        let numbers: Vec<u64> = segments
            .iter()
            .flat_map(|segment| records(segment).into_iter().map(|(n, _)| n))
            .collect();
        assert_eq!(numbers, (1..next).collect::<Vec<_>>());
        // The segment in use is full size on disk: its zero rest reads as no records.
        let last = segments.last().unwrap();
        assert_eq!(fs::metadata(&last.path).unwrap().len(), segment_bytes);
        assert_eq!(records(last).len(), 3);
    }

    #[test]
    fn reading_stops_before_a_record_cut_off_by_a_crash() {
        let dir = tempfile::tempdir().unwrap();
        let mut log = LogWriter::create(dir.path(), 1).unwrap();
        log.append(1, b"first").unwrap();
        log.append(2, b"second").unwrap();
        let segment = segments(dir.path()).unwrap().remove(0);
        let path = segment.path.clone();
        let whole = fs::metadata(&path).unwrap().len();
        // The last record loses its final byte, as if the machine stopped mid-write.
        let file = OpenOptions::new().write(true).open(&path).unwrap();
        file.set_len(whole - 1).unwrap();
        assert_eq!(records(&segment), vec![(1, b"first".to_vec())]);

        // A flipped byte inside a record fails its checksum the same way.
        file.set_len(whole).unwrap();
        let mut bytes = fs::read(&path).unwrap();
        let last = bytes.len() - 2;
        bytes[last] ^= 0xff;
        fs::write(&path, &bytes).unwrap();
        assert_eq!(records(&segment), vec![(1, b"first".to_vec())]);
    }

    #[test]
    fn reading_stops_at_a_record_out_of_sequence() {
        // What a segment's old contents would look like after its first records: intact
        // records with numbers that do not follow.
        let dir = tempfile::tempdir().unwrap();
        let mut log = LogWriter::create(dir.path(), 5).unwrap();
        log.append(5, b"five").unwrap();
        log.append(9, b"stale").unwrap();
        let segment = segments(dir.path()).unwrap().remove(0);
        assert_eq!(records(&segment), vec![(5, b"five".to_vec())]);
    }

    #[test]
    fn segments_are_listed_by_their_first_record_not_by_name_length() {
        let dir = tempfile::tempdir().unwrap();
        for first in [10u64, 9, 100] {
            LogWriter::create(dir.path(), first).unwrap();
        }
        fs::write(dir.path().join("notes.txt"), b"not a segment").unwrap();
        let names: Vec<String> = segments(dir.path())
            .unwrap()
            .iter()
            .map(|s| s.path.file_name().unwrap().to_string_lossy().into_owned())
            .collect();
        assert_eq!(
            names,
            [
                "00000000000000000009.log",
                "00000000000000000010.log",
                "00000000000000000100.log"
            ]
        );
    }
}
