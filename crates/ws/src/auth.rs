//! Authenticating a raw client right after the WebSocket handshake, before
//! its session starts: from `?token=`, or — when `auth.required` is on and
//! there is none — from a first frame `{"op":"auth","token":…}`.

use std::net::SocketAddr;
use std::time::Duration;

use futures_util::{SinkExt, Stream, StreamExt};
use sockgate_core::{query_param, AuthError, ConnectAuth, ConnectRequest, Identity, Protocol};
use tokio_tungstenite::tungstenite::{self, Message};

use crate::close;
use crate::protocol;

/// What a raw client presented in its upgrade request.
pub(crate) fn connect_request<B>(req: &http::Request<B>, peer: SocketAddr) -> ConnectRequest {
    let headers = req
        .headers()
        .iter()
        .filter_map(|(name, value)| Some((name.as_str().to_owned(), value.to_str().ok()?.to_owned())))
        .collect();
    ConnectRequest {
        headers,
        query: req.uri().query().map(str::to_owned),
        ..ConnectRequest::new(Protocol::Raw, query_param(req.uri().query(), "token"), Some(peer))
    }
}

/// Decides who the client is, within `timeout` in all.
pub(crate) async fn authenticate<S>(
    socket: &mut S,
    mut request: ConnectRequest,
    auth: &ConnectAuth,
    timeout: Duration,
) -> Result<Identity, AuthError>
where
    S: Stream<Item = Result<Message, tungstenite::Error>> + Unpin,
{
    let attempt = async {
        if request.token.is_none() && auth.wants_token() {
            request.token = Some(first_frame_token(socket).await?);
        }
        auth.check(&request).await
    };
    tokio::time::timeout(timeout, attempt).await.unwrap_or_else(|_| {
        Err(AuthError::Missing(
            "no {\"op\":\"auth\",\"token\":…} frame within auth.timeout".into(),
        ))
    })
}

/// Waits for the first text frame and takes its token.
async fn first_frame_token<S>(socket: &mut S) -> Result<String, AuthError>
where
    S: Stream<Item = Result<Message, tungstenite::Error>> + Unpin,
{
    loop {
        match socket.next().await {
            Some(Ok(Message::Text(text))) => {
                return protocol::auth_token(&text).ok_or_else(|| {
                    AuthError::Missing("the first frame must be {\"op\":\"auth\",\"token\":…}".into())
                });
            }
            Some(Ok(Message::Ping(_) | Message::Pong(_) | Message::Frame(_))) => continue,
            Some(Ok(Message::Binary(_))) => {
                return Err(AuthError::Missing(
                    "the first frame must be {\"op\":\"auth\",\"token\":…}".into(),
                ));
            }
            Some(Ok(Message::Close(_)) | Err(_)) | None => {
                return Err(AuthError::Missing(
                    "connection closed before authenticating".into(),
                ));
            }
        }
    }
}

/// Closes a refused client with 4001 and the reason.
pub(crate) async fn refuse<S>(socket: &mut S, error: &AuthError, close_timeout: Duration)
where
    S: futures_util::Sink<Message, Error = tungstenite::Error> + Unpin,
{
    let frame = close::unauthorized(&error.to_string());
    let _ = tokio::time::timeout(close_timeout, socket.send(Message::Close(Some(frame)))).await;
    let _ = tokio::time::timeout(close_timeout, socket.close()).await;
}
