//! Why a WebSocket upgrade request was refused.

/// A refused upgrade; each variant names the broken rule of RFC 6455 §4.2.1.
#[derive(Debug, Clone, Copy, thiserror::Error, PartialEq, Eq)]
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
    /// How many kinds of refusal there are.
    pub const COUNT: usize = 5;
    /// A short label per kind, in [`HandshakeError::index`] order (metrics).
    pub const REASONS: [&'static str; Self::COUNT] =
        ["method", "not_upgrade", "version", "missing_key", "subprotocol"];

    /// This refusal's position in [`HandshakeError::REASONS`].
    pub fn index(&self) -> usize {
        match self {
            HandshakeError::Method => 0,
            HandshakeError::NotUpgrade => 1,
            HandshakeError::Version => 2,
            HandshakeError::MissingKey => 3,
            HandshakeError::Subprotocol => 4,
        }
    }
}
