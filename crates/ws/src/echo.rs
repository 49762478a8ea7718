//! `diagnostics.echo_path`: a WebSocket endpoint that sends every message
//! back, so the RFC 6455 layer the raw front runs on can be checked as a
//! black box by conformance suites (Autobahn's fuzzingclient).
//!
//! It shares the raw front's framing settings and close codes, and nothing
//! else: echo connections are not on the bus and count toward no limit but
//! the message size.

use futures_util::{SinkExt, StreamExt};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::WebSocketStream;
use tokio_util::sync::CancellationToken;

use crate::{CloseReason, WsConfig};

/// Echoes text and binary messages until the client closes; a client that
/// breaks the protocol gets the raw front's close code for what it did.
pub(crate) async fn echo<S>(mut socket: WebSocketStream<S>, config: &WsConfig, shutdown: CancellationToken)
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let reason = loop {
        let next = tokio::select! {
            () = shutdown.cancelled() => break CloseReason::ServerShutdown,
            next = socket.next() => next,
        };
        match next {
            Some(Ok(message @ (Message::Text(_) | Message::Binary(_)))) => {
                if socket.send(message).await.is_err() {
                    return;
                }
            }
            // Pings are answered and close frames echoed by tungstenite.
            Some(Ok(_)) => {}
            Some(Err(error)) => break CloseReason::from_error(&error),
            None => return,
        }
    };
    if let Some(frame) = reason.close_frame() {
        let _ = tokio::time::timeout(config.close_timeout, socket.close(Some(frame))).await;
    }
}
