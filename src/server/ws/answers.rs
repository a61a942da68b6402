//! A socket's writes waiting for their commit (a `send`'s `accepted`), answered in the order
//! they came.
//!
//! Each is the writer's [`Answer`] and a plain function that turns the result into the frame,
//! polled where it sits at the front of the socket's queue: no boxed future and no
//! per-send task, which each send used to allocate and wake through.

use crate::protocol::ServerFrame;
use crate::server::diagnostics::Metrics;
use crate::server::writer::{Answer, WriteError, Written};
use std::collections::VecDeque;
use std::future::{poll_fn, Future};
use std::pin::Pin;
use std::task::{Context, Poll};
use tokio::sync::oneshot::error::TryRecvError;

/// Turns a committed write's result into the frame its submitter gets: `client_msg_id` is the
/// one the frame carried (for an error about it).
pub type AnswerFrame = fn(Result<Written, WriteError>, String, &Metrics) -> ServerFrame;

/// One submitted write and how to answer it.
pub struct Later {
    answer: Answer,
    client_msg_id: String,
    frame: AnswerFrame,
}

impl Later {
    pub fn new(answer: Answer, client_msg_id: String, frame: AnswerFrame) -> Self {
        Self {
            answer,
            client_msg_id,
            frame,
        }
    }

    fn into_frame(self, result: Result<Written, WriteError>, metrics: &Metrics) -> ServerFrame {
        (self.frame)(result, self.client_msg_id, metrics)
    }
}

/// The socket's writes in submission order. Empty, it holds no allocation (most sockets are
/// idle).
#[derive(Default)]
pub struct Answers {
    queue: VecDeque<Later>,
}

impl Answers {
    pub fn len(&self) -> usize {
        self.queue.len()
    }

    pub fn is_empty(&self) -> bool {
        self.queue.is_empty()
    }

    pub fn push(&mut self, later: Later) {
        self.queue.push_back(later);
    }

    /// The oldest write's answer frame once it is committed; pending while the queue is empty.
    /// Cancel-safe: a write leaves the queue only in the poll that returns its frame.
    pub async fn next(&mut self, metrics: &Metrics) -> ServerFrame {
        poll_fn(|cx| self.poll_next(cx, metrics)).await
    }

    fn poll_next(&mut self, cx: &mut Context<'_>, metrics: &Metrics) -> Poll<ServerFrame> {
        let Some(front) = self.queue.front_mut() else {
            return Poll::Pending;
        };
        let result = match Pin::new(&mut front.answer).poll(cx) {
            Poll::Ready(Ok(result)) => result,
            Poll::Ready(Err(_)) => Err(WriteError::Stopped),
            Poll::Pending => return Poll::Pending,
        };
        match self.pop(result, metrics) {
            Some(frame) => Poll::Ready(frame),
            None => Poll::Pending,
        }
    }

    /// The oldest write's answer frame if it is already committed.
    pub fn ready(&mut self, metrics: &Metrics) -> Option<ServerFrame> {
        let result = match self.queue.front_mut()?.answer.try_recv() {
            Ok(result) => result,
            Err(TryRecvError::Closed) => Err(WriteError::Stopped),
            Err(TryRecvError::Empty) => return None,
        };
        self.pop(result, metrics)
    }

    /// Answers the oldest write with `result`, its own.
    fn pop(
        &mut self,
        result: Result<Written, WriteError>,
        metrics: &Metrics,
    ) -> Option<ServerFrame> {
        let later = self.queue.pop_front()?;
        Some(later.into_frame(result, metrics))
    }
}
