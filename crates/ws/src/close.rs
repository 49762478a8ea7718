//! Why a raw session ended, and the close frame each reason sends: the one
//! place close codes are chosen.

use tokio_tungstenite::tungstenite::error::ProtocolError;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::tungstenite::Error;

/// Why a raw WebSocket session ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CloseReason {
    /// The client sent a close frame (already answered by the protocol layer).
    ClientClosed,
    /// The TCP connection ended or failed without a close handshake.
    ConnectionLost,
    /// The client sent a message over `limits.max_message_bytes`.
    MessageTooBig,
    /// The client's outbound queue filled up.
    SlowConsumer,
    /// The client kept sending over `limits.messages_per_second`.
    RateLimited,
    /// The client broke the WebSocket protocol (bad framing, masking, …).
    ProtocolError,
    /// The client sent a text frame that is not valid UTF-8.
    InvalidUtf8,
    /// The client stopped answering pings.
    PingTimeout,
    /// The gateway is shutting down.
    ServerShutdown,
    /// The backend disconnected the client through the HTTP API.
    Kicked,
}

impl CloseReason {
    /// Why a read from the client failed: its message was too big, its
    /// text was not UTF-8, it broke the framing rules, or it went away.
    pub fn from_error(error: &Error) -> Self {
        match error {
            Error::Capacity(_) => CloseReason::MessageTooBig,
            Error::Utf8(_) => CloseReason::InvalidUtf8,
            Error::Protocol(ProtocolError::ResetWithoutClosingHandshake) => CloseReason::ConnectionLost,
            Error::Protocol(_) => CloseReason::ProtocolError,
            _ => CloseReason::ConnectionLost,
        }
    }

    /// The close frame to send, or `None` when the peer is gone or already
    /// started the close handshake.
    pub fn close_frame(self) -> Option<CloseFrame> {
        let (code, reason) = match self {
            CloseReason::ClientClosed | CloseReason::ConnectionLost => return None,
            CloseReason::MessageTooBig => (CloseCode::Size, "message too big"),
            CloseReason::SlowConsumer => (CloseCode::Policy, "slow consumer"),
            CloseReason::RateLimited => (CloseCode::Policy, "rate limit exceeded"),
            CloseReason::ProtocolError => (CloseCode::Protocol, "protocol error"),
            CloseReason::InvalidUtf8 => (CloseCode::Invalid, "invalid utf-8"),
            CloseReason::PingTimeout => (CloseCode::Away, "ping timeout"),
            CloseReason::ServerShutdown => (CloseCode::Away, "going away"),
            CloseReason::Kicked => (CloseCode::from(4000), "disconnected by the server"),
        };
        Some(CloseFrame {
            code,
            reason: reason.into(),
        })
    }

    /// A short label for logs.
    pub fn as_str(self) -> &'static str {
        match self {
            CloseReason::ClientClosed => "client closed",
            CloseReason::ConnectionLost => "connection lost",
            CloseReason::MessageTooBig => "message too big",
            CloseReason::SlowConsumer => "slow consumer",
            CloseReason::RateLimited => "rate limit exceeded",
            CloseReason::ProtocolError => "protocol error",
            CloseReason::InvalidUtf8 => "invalid utf-8",
            CloseReason::PingTimeout => "ping timeout",
            CloseReason::ServerShutdown => "server shutdown",
            CloseReason::Kicked => "disconnected by the server",
        }
    }
}

/// The close frame refusing a client that failed authentication: 4001
/// with the reason (cut to the 123 bytes a close frame can carry).
pub(crate) fn unauthorized(reason: &str) -> CloseFrame {
    let mut end = reason.len().min(123);
    while !reason.is_char_boundary(end) {
        end -= 1;
    }
    CloseFrame {
        code: CloseCode::from(4001),
        reason: reason[..end].into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_match_the_documented_contract() {
        let code = |r: CloseReason| r.close_frame().map(|f| u16::from(f.code));
        assert_eq!(code(CloseReason::MessageTooBig), Some(1009));
        assert_eq!(code(CloseReason::SlowConsumer), Some(1008));
        assert_eq!(code(CloseReason::ProtocolError), Some(1002));
        assert_eq!(code(CloseReason::InvalidUtf8), Some(1007));
        assert_eq!(code(CloseReason::PingTimeout), Some(1001));
        assert_eq!(code(CloseReason::ServerShutdown), Some(1001));
        assert_eq!(code(CloseReason::Kicked), Some(4000));
        assert_eq!(code(CloseReason::ClientClosed), None);
        let refusal = unauthorized(&"é".repeat(100));
        assert_eq!(u16::from(refusal.code), 4001);
        assert_eq!(refusal.reason.len(), 122);
    }
}
