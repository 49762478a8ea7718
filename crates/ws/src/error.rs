//! Why a WebSocket upgrade request was refused.

use http::StatusCode;

/// A refused upgrade; each variant names the broken rule of RFC 6455 §4.2.1.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum HandshakeError {
    /// The request method is not GET.
    #[error("a WebSocket handshake must use GET")]
    Method,
    /// `Upgrade: websocket` or `Connection: upgrade` is missing.
    #[error("missing 'Upgrade: websocket' / 'Connection: Upgrade' headers")]
    NotUpgrade,
    /// `Sec-WebSocket-Version` is not 13.
    #[error("unsupported Sec-WebSocket-Version (only 13 is supported)")]
    Version,
    /// `Sec-WebSocket-Key` is missing.
    #[error("missing Sec-WebSocket-Key header")]
    MissingKey,
    /// The client offered subprotocols and none is in `raw.subprotocols`.
    #[error("none of the offered subprotocols is accepted (see raw.subprotocols)")]
    Subprotocol,
}

impl HandshakeError {
    /// The HTTP status answered for this refusal.
    pub fn status(&self) -> StatusCode {
        match self {
            HandshakeError::Method => StatusCode::METHOD_NOT_ALLOWED,
            HandshakeError::Version => StatusCode::UPGRADE_REQUIRED,
            HandshakeError::NotUpgrade | HandshakeError::MissingKey | HandshakeError::Subprotocol => {
                StatusCode::BAD_REQUEST
            }
        }
    }
}
