//! Authenticating a raw client right after the WebSocket handshake, before
//! its session starts: from `?token=`, or — when `auth.required` is on and
//! there is none — from a first frame `{"op":"auth","token":…}`.

use std::net::SocketAddr;
use std::time::Duration;

use futures_util::{SinkExt, Stream, StreamExt};
use sockgate_core::{AuthError, ConnectAuth, ConnectRequest, Identity, Protocol};
use tokio_tungstenite::tungstenite::{self, Message};

use crate::close;
use crate::protocol;

/// Decides who the client is, within `timeout` in all.
pub(crate) async fn authenticate<S>(
    socket: &mut S,
    token: Option<String>,
    peer: SocketAddr,
    auth: &ConnectAuth,
    timeout: Duration,
) -> Result<Identity, AuthError>
where
    S: Stream<Item = Result<Message, tungstenite::Error>> + Unpin,
{
    let attempt = async {
        let token = match token {
            Some(token) => Some(token),
            None if auth.required && auth.authenticator.is_some() => Some(first_frame_token(socket).await?),
            None => None,
        };
        let request = ConnectRequest {
            protocol: Protocol::Raw,
            token,
            auth: None,
            peer: Some(peer),
        };
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
