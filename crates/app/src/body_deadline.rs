//! Request bodies that must arrive in time, and in bounded numbers.
//!
//! hyper bounds how long a request's head may take
//! (`server.header_read_timeout`) but not its body: a client announcing
//! `Content-Length: 100000` and sending one byte held its socket for as
//! long as it liked. Every body the gateway reads (engine.io polling POSTs,
//! API requests) is wrapped in a [`TimedBody`]: once
//! `server.body_read_timeout` has passed since the head arrived, the next
//! read fails, the reader answers with an error and hyper closes the
//! connection, whose body was never finished. While it is read, a body also
//! holds a place among the bodies in flight from its client address, at
//! most `limits.max_connections_per_ip` of them (counted apart from live
//! connections, so a polling session at that limit can still POST).

use std::future::Future as _;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use http_body::{Body, Frame, SizeHint};
use sockgate_core::{ConnectionLimiter, ConnectionPermit, LimitError};
use tokio::time::Sleep;

/// Why a [`TimedBody`] could not be read.
#[derive(Debug, thiserror::Error)]
pub(crate) enum BodyError {
    /// The deadline passed before the body ended.
    #[error("request body not received within {0:?} (server.body_read_timeout)")]
    Timeout(Duration),
    /// The connection failed while the body was read.
    #[error("{0}")]
    Read(#[source] BoxError),
}

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// The bodies being read, per client address (`server.body_read_timeout`,
/// `limits.max_connections_per_ip`).
#[derive(Debug, Clone)]
pub(crate) struct BodyDeadline {
    timeout: Duration,
    in_flight: Arc<ConnectionLimiter>,
}

impl BodyDeadline {
    pub(crate) fn new(timeout: Duration, max_per_ip: usize) -> Self {
        BodyDeadline {
            timeout,
            in_flight: ConnectionLimiter::new(0, max_per_ip),
        }
    }

    /// `body`, bounded in time and counted against `client`'s address
    /// until it is read or dropped; refused when that address already has
    /// as many bodies in flight as the limit allows.
    pub(crate) fn wrap<B>(&self, body: B, client: std::net::IpAddr) -> Result<TimedBody<B>, LimitError> {
        let permit = self.in_flight.admit(client)?;
        Ok(TimedBody {
            inner: body,
            deadline: Box::pin(tokio::time::sleep(self.timeout)),
            timeout: self.timeout,
            permit: Some(permit),
        })
    }
}

/// A request body that fails with [`BodyError::Timeout`] once its deadline passes.
#[derive(Debug)]
pub(crate) struct TimedBody<B> {
    inner: B,
    deadline: Pin<Box<Sleep>>,
    timeout: Duration,
    /// Its place among the bodies in flight, given back once it has ended.
    permit: Option<ConnectionPermit>,
}

impl<B> Body for TimedBody<B>
where
    B: Body + Unpin,
    B::Error: Into<BoxError>,
{
    type Data = B::Data;
    type Error = BodyError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Self::Data>, Self::Error>>> {
        let this = &mut *self;
        if let Poll::Ready(frame) = Pin::new(&mut this.inner).poll_frame(cx) {
            if frame.is_none() {
                this.permit = None;
            }
            return Poll::Ready(frame.map(|frame| frame.map_err(|error| BodyError::Read(error.into()))));
        }
        match this.deadline.as_mut().poll(cx) {
            Poll::Ready(()) => {
                this.permit = None;
                Poll::Ready(Some(Err(BodyError::Timeout(this.timeout))))
            }
            Poll::Pending => Poll::Pending,
        }
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

#[cfg(test)]
mod tests {
    use bytes::Bytes;
    use http_body_util::{BodyExt, Full};

    use super::*;

    /// A body whose bytes never come.
    struct Stalled;

    impl Body for Stalled {
        type Data = Bytes;
        type Error = std::convert::Infallible;

        fn poll_frame(
            self: Pin<&mut Self>,
            _: &mut Context<'_>,
        ) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
            Poll::Pending
        }
    }

    fn local() -> std::net::IpAddr {
        "192.0.2.1".parse().unwrap()
    }

    #[tokio::test(start_paused = true)]
    async fn a_body_that_never_ends_fails_at_its_deadline() {
        let deadline = BodyDeadline::new(Duration::from_secs(10), 4);
        let started = tokio::time::Instant::now();
        let error = deadline
            .wrap(Stalled, local())
            .unwrap()
            .collect()
            .await
            .unwrap_err();
        assert_eq!(started.elapsed(), Duration::from_secs(10));
        assert!(error.to_string().contains("server.body_read_timeout"), "{error}");
    }

    #[tokio::test(start_paused = true)]
    async fn a_whole_body_is_read_and_gives_its_place_back() {
        let deadline = BodyDeadline::new(Duration::from_secs(10), 1);
        let body = deadline
            .wrap(Full::new(Bytes::from_static(b"hello")), local())
            .unwrap();
        // The one place is taken while the body is unread…
        assert!(deadline.wrap(Full::new(Bytes::new()), local()).is_err());
        let read = body.collect().await.unwrap().to_bytes();
        assert_eq!(read, Bytes::from_static(b"hello"));
        // …and free once it was read.
        assert!(deadline.wrap(Full::new(Bytes::new()), local()).is_ok());
    }
}
