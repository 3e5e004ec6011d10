//! Request bodies must keep moving: one may pause `api.body_timeout_seconds` (at its start or
//! between pieces), and past that it must have averaged `api.body_min_bytes_per_second`.
//! A body that falls behind ends its request with an error and its connection is closed by
//! the front, so a client dripping a byte every few seconds cannot hold a connection (or a
//! worker's attention) for long. An upload of gigabytes at any usable speed is not affected.

use actix_web::Error;
use actix_web::body::MessageBody;
use actix_web::dev::{Payload, ServiceRequest, ServiceResponse};
use actix_web::error::PayloadError;
use actix_web::middleware::Next;
use actix_web::{HttpMessage, web};
use bytes::Bytes;
use futures_util::Stream;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::time::{Instant, Sleep};

/// The pace a body must keep.
#[derive(Clone, Copy, Debug)]
pub struct Pace {
    pub pause: Duration,
    pub min_bytes_per_second: u64,
}

impl Pace {
    pub fn from_config(api: &shared_modules::config::ApiConfig) -> Self {
        Self {
            pause: Duration::from_secs(api.body_timeout_seconds),
            min_bytes_per_second: api.body_min_bytes_per_second.max(1),
        }
    }
}

pub async fn pace_bodies(
    mut req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, Error> {
    if let Some(state) = req.app_data::<web::Data<super::AppState>>().cloned() {
        let pace = Pace::from_config(&state.config.api);
        let seen_as = req.peer_addr();
        let too_slow = move || {
            tracing::info!(client = %state.client_ip(seen_as), "request body too slow: connection closed");
            if let Some(seen_as) = seen_as {
                state.front.close(seen_as);
            }
        };
        let body = PacedBody::new(req.take_payload(), pace, Box::new(too_slow));
        req.set_payload(Payload::from(
            Box::pin(body) as Pin<Box<dyn Stream<Item = _>>>
        ));
    }
    next.call(req).await
}

/// A body held to `Pace`; `too_slow` runs once when it falls behind.
pub struct PacedBody<S> {
    inner: S,
    pace: Pace,
    started: Instant,
    last_piece: Instant,
    received: u64,
    timer: Pin<Box<Sleep>>,
    too_slow: Option<Box<dyn FnOnce()>>,
    ended: bool,
}

impl<S> PacedBody<S> {
    pub fn new(inner: S, pace: Pace, too_slow: Box<dyn FnOnce()>) -> Self {
        let now = Instant::now();
        Self {
            inner,
            pace,
            started: now,
            last_piece: now,
            received: 0,
            timer: Box::pin(tokio::time::sleep_until(now + pace.pause)),
            too_slow: Some(too_slow),
            ended: false,
        }
    }

    /// When the body falls behind if nothing more arrives: the pause after the last piece,
    /// or the moment its average drops below the minimum, whichever is first.
    fn deadline(&self) -> Instant {
        let earned =
            Duration::from_secs_f64(self.received as f64 / self.pace.min_bytes_per_second as f64);
        (self.last_piece + self.pace.pause).min(self.started + self.pace.pause + earned)
    }
}

impl<S> Stream for PacedBody<S>
where
    S: Stream<Item = Result<Bytes, PayloadError>> + Unpin,
{
    type Item = Result<Bytes, PayloadError>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        if self.ended {
            return Poll::Ready(None);
        }
        match Pin::new(&mut self.inner).poll_next(cx) {
            Poll::Ready(Some(Ok(piece))) => {
                self.received += piece.len() as u64;
                self.last_piece = Instant::now();
                let deadline = self.deadline();
                self.timer.as_mut().reset(deadline);
                Poll::Ready(Some(Ok(piece)))
            }
            Poll::Ready(other) => {
                self.ended = other.is_none();
                Poll::Ready(other)
            }
            Poll::Pending => {
                if self.timer.as_mut().poll(cx).is_pending() {
                    return Poll::Pending;
                }
                self.ended = true;
                if let Some(too_slow) = self.too_slow.take() {
                    too_slow();
                }
                Poll::Ready(Some(Err(PayloadError::Io(std::io::Error::new(
                    std::io::ErrorKind::TimedOut,
                    "the request body came too slowly",
                )))))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures_util::StreamExt;
    use std::cell::Cell;
    use std::rc::Rc;

    fn paced(
        pieces: tokio::sync::mpsc::UnboundedReceiver<Bytes>,
        fired: Rc<Cell<bool>>,
    ) -> PacedBody<impl Stream<Item = Result<Bytes, PayloadError>> + Unpin> {
        let inner = tokio_stream_of(pieces);
        PacedBody::new(
            inner,
            Pace {
                pause: Duration::from_secs(30),
                min_bytes_per_second: 1024,
            },
            Box::new(move || fired.set(true)),
        )
    }

    fn tokio_stream_of(
        mut pieces: tokio::sync::mpsc::UnboundedReceiver<Bytes>,
    ) -> impl Stream<Item = Result<Bytes, PayloadError>> + Unpin {
        Box::pin(futures_util::stream::poll_fn(move |cx| {
            pieces.poll_recv(cx).map(|p| p.map(Ok))
        }))
    }

    #[tokio::test(start_paused = true)]
    async fn a_byte_every_five_seconds_is_cut_after_the_pause() {
        let (send, pieces) = tokio::sync::mpsc::unbounded_channel();
        let fired = Rc::new(Cell::new(false));
        let mut body = paced(pieces, fired.clone());
        let started = Instant::now();
        tokio::spawn(async move {
            for _ in 0..100 {
                if send.send(Bytes::from_static(b"k")).is_err() {
                    return;
                }
                tokio::time::sleep(Duration::from_secs(5)).await;
            }
        });
        let mut pieces = 0;
        let outcome = loop {
            match body.next().await {
                Some(Ok(_)) => pieces += 1,
                other => break other,
            }
        };
        assert!(
            matches!(outcome, Some(Err(PayloadError::Io(_)))),
            "{outcome:?}"
        );
        assert!(fired.get(), "the connection is told to close");
        let took = started.elapsed();
        assert!(
            took >= Duration::from_secs(29) && took <= Duration::from_secs(31),
            "cut after {took:?} and {pieces} pieces"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn a_steady_body_above_the_minimum_is_untouched_however_long() {
        let (send, pieces) = tokio::sync::mpsc::unbounded_channel();
        let fired = Rc::new(Cell::new(false));
        let mut body = paced(pieces, fired.clone());
        tokio::spawn(async move {
            // 2 KiB every second for 10 minutes, then the end.
            for _ in 0..600 {
                let _ = send.send(Bytes::from(vec![b'x'; 2048]));
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
        });
        let mut total = 0;
        while let Some(piece) = body.next().await {
            total += piece.expect("never cut").len();
        }
        assert_eq!(total, 600 * 2048);
        assert!(!fired.get());
    }

    #[tokio::test(start_paused = true)]
    async fn a_pause_longer_than_allowed_cuts_a_fast_body() {
        let (send, pieces) = tokio::sync::mpsc::unbounded_channel();
        let fired = Rc::new(Cell::new(false));
        let mut body = paced(pieces, fired.clone());
        send.send(Bytes::from(vec![b'x'; 10 * 1024 * 1024]))
            .expect("send");
        assert!(body.next().await.expect("piece").is_ok());
        // 10 MiB earned hours at the minimum, but a silence past the pause still ends it.
        let outcome = body.next().await;
        assert!(matches!(outcome, Some(Err(_))), "{outcome:?}");
        assert!(fired.get());
        drop(send);
    }
}
