//! Read-ahead for sockets whose reader asks for a few hundred bytes at a time.
//!
//! A WebSocket keeps a small read buffer (256 bytes, see `ws::with_frame_limits`) because it stays
//! allocated for the socket's whole life, and most sockets are idle. But a busy client pipelines
//! its frames, and reading them 256 bytes at a time costs a `recvfrom` per frame or more, plus
//! one that finds the socket empty. Here a small read is made into a 4 KiB buffer on the stack;
//! what the caller had no room for is kept (on the heap, only then) and handed out before the
//! socket is read again. The stash is freed as soon as it is drained, so an idle socket holds
//! nothing extra.
//!
//! Measured with `confab-bench` (W=10, `perf` counting the server's system calls): `recvfrom`
//! per delivered message fell from 0.7 to 0.12, and throughput rose about 8 % (7 interleaved
//! pairs). Making the WebSocket's own buffer 2 KiB did nearly as well, but cost every idle
//! socket that buffer.

use std::io;
use std::mem::MaybeUninit;
use std::pin::Pin;
use std::task::{ready, Context, Poll};
use tokio::io::{AsyncRead, ReadBuf};

/// How much one read from the socket may bring in.
pub const READ_AHEAD_BYTES: usize = 4096;

/// Bytes read from the socket but not yet handed to the reader.
#[derive(Debug, Default)]
pub struct ReadAhead {
    stash: Vec<u8>,
    /// How much of `stash` was handed out.
    taken: usize,
}

impl ReadAhead {
    /// Reads from `inner` into `buf`: from the stash first; a read at least as big as the
    /// read-ahead goes straight to the socket.
    pub fn poll_read<S: AsyncRead + Unpin>(
        &mut self,
        inner: &mut S,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        if buf.remaining() == 0 {
            return Poll::Ready(Ok(()));
        }
        if self.held() > 0 {
            self.hand_out(buf);
            return Poll::Ready(Ok(()));
        }
        if buf.remaining() >= READ_AHEAD_BYTES {
            return Pin::new(inner).poll_read(cx, buf);
        }
        let mut space = [MaybeUninit::<u8>::uninit(); READ_AHEAD_BYTES];
        let mut ahead = ReadBuf::uninit(&mut space);
        ready!(Pin::new(inner).poll_read(cx, &mut ahead))?;
        let read = ahead.filled();
        let now = read.len().min(buf.remaining());
        buf.put_slice(&read[..now]);
        if now < read.len() {
            self.stash.extend_from_slice(&read[now..]);
        }
        Poll::Ready(Ok(()))
    }

    fn hand_out(&mut self, buf: &mut ReadBuf<'_>) {
        let left = &self.stash[self.taken..];
        let n = left.len().min(buf.remaining());
        buf.put_slice(&left[..n]);
        self.taken += n;
        if self.taken == self.stash.len() {
            // Drained: give the memory back (an idle socket should hold none).
            self.stash = Vec::new();
            self.taken = 0;
        }
    }

    /// Bytes held for the reader.
    pub fn held(&self) -> usize {
        self.stash.len() - self.taken
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::VecDeque;

    /// A socket that returns its chunks one per read and counts the reads.
    struct Chunks {
        chunks: VecDeque<Vec<u8>>,
        reads: usize,
    }

    impl AsyncRead for Chunks {
        fn poll_read(
            mut self: Pin<&mut Self>,
            _cx: &mut Context<'_>,
            buf: &mut ReadBuf<'_>,
        ) -> Poll<io::Result<()>> {
            self.reads += 1;
            if let Some(mut chunk) = self.chunks.pop_front() {
                let n = chunk.len().min(buf.remaining());
                buf.put_slice(&chunk[..n]);
                if n < chunk.len() {
                    self.chunks.push_front(chunk.split_off(n));
                }
            }
            Poll::Ready(Ok(()))
        }
    }

    fn read_all(ahead: &mut ReadAhead, socket: &mut Chunks, size: usize) -> Vec<u8> {
        let mut out = Vec::new();
        let mut cx = Context::from_waker(std::task::Waker::noop());
        loop {
            let mut space = vec![0u8; size];
            let mut buf = ReadBuf::new(&mut space);
            match ahead.poll_read(socket, &mut cx, &mut buf) {
                Poll::Ready(Ok(())) if buf.filled().is_empty() => return out,
                Poll::Ready(Ok(())) => out.extend_from_slice(buf.filled()),
                other => panic!("unexpected {other:?}"),
            }
        }
    }

    #[test]
    fn small_reads_get_every_byte_in_order_from_one_socket_read() {
        let data: Vec<u8> = (0..3000u32).map(|i| (i % 251) as u8).collect();
        let mut socket = Chunks {
            chunks: VecDeque::from([data.clone()]),
            reads: 0,
        };
        let mut ahead = ReadAhead::default();
        let got = read_all(&mut ahead, &mut socket, 256);
        assert_eq!(got, data);
        // One read brought everything in, one more found the end.
        assert_eq!(socket.reads, 2);
        assert_eq!(ahead.held(), 0);
        assert_eq!(ahead.stash.capacity(), 0, "a drained stash is freed");
    }

    #[test]
    fn big_reads_go_straight_to_the_socket_and_chunks_keep_their_order() {
        let chunks: Vec<Vec<u8>> = (0..5u8).map(|i| vec![i; 5000]).collect();
        let mut socket = Chunks {
            chunks: chunks.iter().cloned().collect(),
            reads: 0,
        };
        let mut ahead = ReadAhead::default();
        let got = read_all(&mut ahead, &mut socket, 8192);
        assert_eq!(got, chunks.concat());
        assert_eq!(ahead.held(), 0);

        // Mixed: small reads that stash, then a big one that must not skip the stash.
        let mut socket = Chunks {
            chunks: VecDeque::from([vec![1u8; 1000], vec![2u8; 5000]]),
            reads: 0,
        };
        let mut cx = Context::from_waker(std::task::Waker::noop());
        let mut small = [0u8; 100];
        let mut buf = ReadBuf::new(&mut small);
        assert!(ahead.poll_read(&mut socket, &mut cx, &mut buf).is_ready());
        assert_eq!(buf.filled(), &[1u8; 100][..]);
        assert_eq!(ahead.held(), 900);
        let rest = read_all(&mut ahead, &mut socket, 8192);
        assert_eq!(rest, [vec![1u8; 900], vec![2u8; 5000]].concat());
    }
}
