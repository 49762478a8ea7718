//! The engine's errors: [`SendError`] for the layer above, and the refusals
//! of engine.io requests, each with its status and JSON body, in one place.

/// Why `Session::send` did not queue.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum SendError {
    /// The session's outbound queue is full; the session has been closed as a
    /// slow consumer.
    #[error("outbound queue full")]
    Full,
    /// The session is closed.
    #[error("session closed")]
    Closed,
}

/// Why an engine.io request was refused: each refusal's status and body are
/// declared here once (Node's `Server.errors`, and 413 for a POST over
/// `max_payload`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub(crate) enum Refusal {
    /// `transport` is missing or not `polling`/`websocket`.
    #[error("Transport unknown")]
    UnknownTransport,
    /// `sid` names no open session.
    #[error("Session ID unknown")]
    UnknownSid,
    /// A request without `sid` that is not a GET.
    #[error("Bad handshake method")]
    BadHandshakeMethod,
    /// Anything else the protocol does not allow (an overlapping poll, a
    /// polling request for an upgraded session, a malformed upgrade…).
    #[error("Bad request")]
    BadRequest,
    /// Refused by policy.
    #[allow(dead_code)] // the router refuses by policy (origins) before the engine sees the request
    #[error("Forbidden")]
    Forbidden,
    /// `EIO` other than 4 (or 3 when allowed).
    #[error("Unsupported protocol version")]
    UnsupportedProtocol,
    /// A POST body over `max_payload`.
    #[error("Payload too large")]
    PayloadTooLarge,
    /// The engine is shutting down: no new sessions.
    #[error("Server shutting down")]
    ShuttingDown,
}

impl Refusal {
    /// engine.io's numeric code, where it has one.
    fn code(self) -> Option<u8> {
        Some(match self {
            Refusal::UnknownTransport => 0,
            Refusal::UnknownSid => 1,
            Refusal::BadHandshakeMethod => 2,
            Refusal::BadRequest => 3,
            Refusal::Forbidden => 4,
            Refusal::UnsupportedProtocol => 5,
            Refusal::PayloadTooLarge | Refusal::ShuttingDown => return None,
        })
    }

    fn status(self) -> http::StatusCode {
        match self {
            Refusal::Forbidden => http::StatusCode::FORBIDDEN,
            Refusal::PayloadTooLarge => http::StatusCode::PAYLOAD_TOO_LARGE,
            Refusal::ShuttingDown => http::StatusCode::SERVICE_UNAVAILABLE,
            _ => http::StatusCode::BAD_REQUEST,
        }
    }

    /// The answer: `{"code":N,"message":"…"}` as JSON, as Node writes it
    /// (413 has an empty body, as Node's).
    pub(crate) fn into_response(self) -> http::Response<bytes::Bytes> {
        let mut response = match self.code() {
            Some(code) => {
                let body = serde_json::json!({"code": code, "message": self.to_string()}).to_string();
                let mut response = http::Response::new(bytes::Bytes::from(body));
                response.headers_mut().insert(
                    http::header::CONTENT_TYPE,
                    http::HeaderValue::from_static("application/json"),
                );
                response
            }
            None => http::Response::new(bytes::Bytes::new()),
        };
        *response.status_mut() = self.status();
        response
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refusals_answer_as_node_does() {
        let response = Refusal::UnknownSid.into_response();
        assert_eq!(response.status(), 400);
        assert_eq!(
            response.body().as_ref(),
            br#"{"code":1,"message":"Session ID unknown"}"#
        );
        assert_eq!(response.headers()["content-type"], "application/json");
        assert_eq!(Refusal::Forbidden.into_response().status(), 403);
        let response = Refusal::PayloadTooLarge.into_response();
        assert_eq!(response.status(), 413);
        assert!(response.body().is_empty());
    }
}
