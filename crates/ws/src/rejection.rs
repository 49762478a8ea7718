//! Every refusal of an upgrade the raw front answers with, declared once:
//! its status, body and extra headers. Each is a one-line reason in plain
//! text, with no content type.

use bytes::Bytes;
use http::header::SEC_WEBSOCKET_VERSION;
use http::{HeaderValue, Response, StatusCode};
use sockgate_core::LimitError;

use crate::HandshakeError;

/// An upgrade request the raw front does not take.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Refusal {
    /// The handshake broke a rule of RFC 6455 §4.2.1.
    Handshake(HandshakeError),
    /// `limits.max_connections` or `limits.max_connections_per_ip` are open.
    Limit(LimitError),
    /// The front is shutting down.
    ShuttingDown,
}

impl Refusal {
    /// The response: each refusal's status, body and headers, all here.
    pub(crate) fn into_response(self) -> Response<Bytes> {
        match self {
            Refusal::Handshake(error @ HandshakeError::Method) => {
                reason(StatusCode::METHOD_NOT_ALLOWED, error)
            }
            // The version this server speaks, for a client that asked for another.
            Refusal::Handshake(error @ HandshakeError::Version) => {
                let mut response = reason(StatusCode::UPGRADE_REQUIRED, error);
                response
                    .headers_mut()
                    .insert(SEC_WEBSOCKET_VERSION, HeaderValue::from_static("13"));
                response
            }
            Refusal::Handshake(
                error @ (HandshakeError::NotUpgrade
                | HandshakeError::MissingKey
                | HandshakeError::Subprotocol),
            ) => reason(StatusCode::BAD_REQUEST, error),
            Refusal::Limit(error) => reason(StatusCode::SERVICE_UNAVAILABLE, error),
            Refusal::ShuttingDown => reason(StatusCode::SERVICE_UNAVAILABLE, "shutting down"),
        }
    }
}

impl From<HandshakeError> for Refusal {
    fn from(error: HandshakeError) -> Self {
        Refusal::Handshake(error)
    }
}

impl From<LimitError> for Refusal {
    fn from(error: LimitError) -> Self {
        Refusal::Limit(error)
    }
}

/// `status` with `why` on a line of its own.
fn reason(status: StatusCode, why: impl std::fmt::Display) -> Response<Bytes> {
    let mut response = Response::new(Bytes::from(format!("{why}\n")));
    *response.status_mut() = status;
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_version_refusal_names_the_version_spoken() {
        let response = Refusal::Handshake(HandshakeError::Version).into_response();
        assert_eq!(response.status(), StatusCode::UPGRADE_REQUIRED);
        assert_eq!(response.headers()[SEC_WEBSOCKET_VERSION], "13");
        assert_eq!(
            response.body(),
            "unsupported Sec-WebSocket-Version (only 13 is supported)\n"
        );
    }

    #[test]
    fn refusals_carry_no_content_type() {
        for refusal in [
            Refusal::Handshake(HandshakeError::MissingKey),
            Refusal::Limit(LimitError::PerIp),
            Refusal::ShuttingDown,
        ] {
            assert!(refusal.into_response().headers().is_empty(), "{refusal:?}");
        }
        assert_eq!(Refusal::ShuttingDown.into_response().body(), "shutting down\n");
    }
}
