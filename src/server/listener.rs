//! The TCP listener: holds open connections below the process's open-file limit.
//!
//! Past the limit `accept` itself fails (EMFILE) and a server can only stall; so connections are
//! counted, and one beyond `max` is answered at once with `503` and a JSON error body and closed,
//! while every connection already held keeps working. Small frames must not wait for Nagle's
//! algorithm (a 40 ms delayed-ACK stall), so every accepted socket gets TCP_NODELAY.

use super::read_ahead::ReadAhead;
use crate::protocol::{ApiErrorBody, ErrorCode};
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, ReadBuf};
use tokio::net::{TcpListener, TcpStream};

/// File descriptors kept free for everything that is not a client connection (database,
/// Redis, site files, refusals in flight).
const RESERVED_FDS: u64 = 256;

/// Connection counts, shared with `/metrics`.
#[derive(Debug, Default)]
pub struct ConnectionCounts {
    pub open: AtomicUsize,
    pub refused: AtomicU64,
}

pub struct CappedListener {
    inner: TcpListener,
    max: usize,
    counts: Arc<ConnectionCounts>,
}

/// Raises the soft open-file limit to the hard one and returns the connection cap that leaves
/// [`RESERVED_FDS`] free; `configured` (if any) may only lower it.
pub fn connection_cap(configured: Option<usize>) -> usize {
    let limit = raise_nofile_limit();
    let derived = limit.saturating_sub(RESERVED_FDS).max(16) as usize;
    configured.map_or(derived, |c| c.min(derived))
}

fn raise_nofile_limit() -> u64 {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit/setrlimit only read/write the struct passed by pointer.
    unsafe {
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) != 0 {
            return 1024;
        }
        if limit.rlim_cur < limit.rlim_max {
            let raised = libc::rlimit {
                rlim_cur: limit.rlim_max,
                rlim_max: limit.rlim_max,
            };
            if libc::setrlimit(libc::RLIMIT_NOFILE, &raised) == 0 {
                limit.rlim_cur = limit.rlim_max;
            }
        }
    }
    limit.rlim_cur
}

impl CappedListener {
    pub fn new(inner: TcpListener, max: usize, counts: Arc<ConnectionCounts>) -> Self {
        Self { inner, max, counts }
    }
}

impl axum::serve::Listener for CappedListener {
    type Io = CountedStream;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        loop {
            let (stream, addr) = match self.inner.accept().await {
                Ok(accepted) => accepted,
                Err(e) => {
                    // Out of descriptors or another transient failure: wait, do not spin.
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            };
            if let Err(e) = stream.set_nodelay(true) {
                tracing::debug!(error = %e, "cannot set TCP_NODELAY");
            }
            if self.counts.open.load(Ordering::Relaxed) >= self.max {
                self.counts.refused.fetch_add(1, Ordering::Relaxed);
                tokio::spawn(refuse(stream));
                continue;
            }
            self.counts.open.fetch_add(1, Ordering::Relaxed);
            let counts = self.counts.clone();
            let ahead = ReadAhead::default();
            return (
                CountedStream {
                    stream,
                    ahead,
                    counts,
                },
                addr,
            );
        }
    }

    fn local_addr(&self) -> io::Result<Self::Addr> {
        self.inner.local_addr()
    }
}

/// Answers a connection over the cap: `503` with `Retry-After`, then close.
async fn refuse(mut stream: TcpStream) {
    // Read (some of) the request first, so closing does not reset the connection before the
    // client has seen the answer.
    let mut request = [0u8; 2048];
    let _ = tokio::time::timeout(Duration::from_millis(200), stream.read(&mut request)).await;
    let body = serde_json::to_string(&ApiErrorBody::new(
        ErrorCode::Unavailable,
        "the server holds as many connections as it can; retry in a few seconds",
    ))
    .unwrap_or_default();
    let response = format!(
        "HTTP/1.1 503 Service Unavailable\r\ncontent-type: application/json\r\n\
         retry-after: 5\r\nconnection: close\r\ncontent-length: {}\r\n\r\n{body}",
        body.len()
    );
    let _ = tokio::time::timeout(Duration::from_secs(2), async {
        stream.write_all(response.as_bytes()).await?;
        stream.shutdown().await
    })
    .await;
}

/// A held connection; dropping it frees its place under the cap.
pub struct CountedStream {
    stream: TcpStream,
    /// Small reads (a WebSocket's) are made in bigger pieces: see [`ReadAhead`].
    ahead: ReadAhead,
    counts: Arc<ConnectionCounts>,
}

impl Drop for CountedStream {
    fn drop(&mut self) {
        self.counts.open.fetch_sub(1, Ordering::Relaxed);
    }
}

impl AsyncRead for CountedStream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        this.ahead.poll_read(&mut this.stream, cx, buf)
    }
}

impl AsyncWrite for CountedStream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().stream).poll_write(cx, buf)
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().stream).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().stream).poll_shutdown(cx)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().stream).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.stream.is_write_vectored()
    }
}
