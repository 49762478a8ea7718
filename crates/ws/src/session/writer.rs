//! The writer half of a raw session, a task of its own: queued frames
//! written in batches, the heartbeat, and the close frame.

use std::sync::Arc;
use std::time::Duration;

use futures_util::{Sink, SinkExt};
use tokio_tungstenite::tungstenite::{self, Message};

use super::heartbeat::{Beat, Heartbeat};
use crate::control::{Control, Outbound, Waiter};
use crate::CloseReason;
use sockgate_queue::Receiver;

/// Most queued messages written before one flush.
const WRITE_BATCH: usize = 64;

/// The writer task: writes queued frames in batches, pings on schedule,
/// and sends the close frame once the session starts closing.
pub(super) struct Writer<Si> {
    pub(super) sink: Si,
    pub(super) outbound: Receiver<Outbound>,
    pub(super) control: Arc<Control>,
    pub(super) metrics: Arc<crate::WsMetrics>,
    /// `raw.ping_interval` and `raw.ping_timeout`.
    pub(super) heartbeat: (Duration, Duration),
    pub(super) close_timeout: Duration,
}

impl<Si> Writer<Si>
where
    Si: Sink<Message, Error = tungstenite::Error> + Unpin,
{
    pub(super) async fn run(self) {
        let Writer {
            mut sink,
            mut outbound,
            control,
            metrics,
            heartbeat: (ping_interval, ping_timeout),
            close_timeout,
        } = self;
        let (mut heartbeat, timer) = Heartbeat::new(ping_interval, ping_timeout);
        tokio::pin!(timer);
        // One registration with the close switch for the session's life,
        // not one per wake-up.
        let closed = control.closed(Waiter::Writer);
        tokio::pin!(closed);
        let reason = loop {
            tokio::select! {
                biased;
                reason = &mut closed => break reason,
                first = outbound.recv() => {
                    let Some(first) = first else { break control.reason() };
                    let written = tokio::select! {
                        biased;
                        reason = &mut closed => break reason,
                        written = write_batch(&mut sink, first, &mut outbound, &metrics) => written,
                    };
                    if written.is_err() {
                        control.close(CloseReason::ConnectionLost);
                    }
                }
                () = &mut timer => match heartbeat.fired(timer.as_mut(), &control.liveness) {
                    Beat::Ping => {
                        if sink.send(Message::Ping(Default::default())).await.is_err() {
                            control.close(CloseReason::ConnectionLost);
                        }
                    }
                    Beat::Alive => {}
                    Beat::Dead => control.close(CloseReason::PingTimeout),
                },
            }
        };
        if let Some(frame) = reason.close_frame() {
            let _ = tokio::time::timeout(close_timeout, sink.send(Message::Close(Some(frame)))).await;
        }
        let _ = tokio::time::timeout(close_timeout, sink.close()).await;
    }
}

async fn write_batch<Si>(
    sink: &mut Si,
    first: Outbound,
    outbound: &mut Receiver<Outbound>,
    metrics: &crate::WsMetrics,
) -> Result<(), tungstenite::Error>
where
    Si: Sink<Message, Error = tungstenite::Error> + Unpin,
{
    let counted = |message: Message| {
        metrics.frame_out(message.len());
        message
    };
    sink.feed(counted(into_message(first))).await?;
    for _ in 1..WRITE_BATCH {
        match outbound.try_recv() {
            Some(next) => sink.feed(counted(into_message(next))).await?,
            None => break,
        }
    }
    sink.flush().await
}

fn into_message(outbound: Outbound) -> Message {
    match outbound {
        Outbound::Event(frame) => Message::Text(frame),
        Outbound::Reply(text) => Message::Text(text.into()),
    }
}
