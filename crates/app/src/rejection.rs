//! Every refusal the front listener answers by itself, declared once: its
//! status, content type, body and extra headers.
//!
//! The fronts declare their own: the raw front's upgrade refusals in
//! `sockgate-ws` (`rejection.rs`), the API's errors in `sockgate-backend`
//! (`ApiError`), and engine.io's in `sockgate_engine`.

use std::time::Duration;

use bytes::Bytes;
use http::header::{CONTENT_TYPE, RETRY_AFTER, UPGRADE};
use http::{HeaderValue, Response, StatusCode};

/// A request the listener answers with a refusal of its own.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Refusal {
    /// No endpoint at this path (or outside `server.path_prefix`); upgrades
    /// too: nothing but the fronts ever switches protocols.
    NotFound,
    /// A browser `Origin` that `server.allowed_origins` does not list.
    OriginNotAllowed,
    /// A plain request to a raw WebSocket path.
    UpgradeRequired,
    /// A new connection over `limits.connects_per_second_per_ip`; a token
    /// comes back after `wait`.
    ConnectRate {
        /// Until the address may connect again.
        wait: Duration,
    },
    /// A request body while `limits.max_connections_per_ip` bodies from
    /// the same address are being read.
    BodiesInFlight,
    /// A socket.io upgrade offering only subprotocols that
    /// `raw.subprotocols` does not accept.
    Subprotocol,
    /// `/readyz` while the node should get no clients, and why.
    NotReady(&'static str),
    /// Any path but the metrics' on `metrics.listen`: a bare 404, without
    /// the main listener's content type.
    MetricsNotFound,
}

impl Refusal {
    /// The response: each refusal's status, body and headers, all here.
    pub(crate) fn into_response(self) -> Response<Bytes> {
        match self {
            Refusal::NotFound => plain_text(StatusCode::NOT_FOUND, "not found\n"),
            Refusal::OriginNotAllowed => plain_text(
                StatusCode::FORBIDDEN,
                "origin not allowed (server.allowed_origins)\n",
            ),
            Refusal::UpgradeRequired => with_header(
                plain_text(
                    StatusCode::UPGRADE_REQUIRED,
                    "this path takes WebSocket upgrades only\n",
                ),
                UPGRADE,
                HeaderValue::from_static("websocket"),
            ),
            Refusal::ConnectRate { wait } => with_header(
                plain_text(
                    StatusCode::TOO_MANY_REQUESTS,
                    "too many new connections from this address (limits.connects_per_second_per_ip)\n",
                ),
                RETRY_AFTER,
                // Whole seconds, at least one, at most an hour.
                HeaderValue::from(wait.as_secs_f64().ceil().clamp(1.0, 3600.0) as u64),
            ),
            Refusal::BodiesInFlight => plain_text(
                StatusCode::TOO_MANY_REQUESTS,
                "too many request bodies in flight from this address (limits.max_connections_per_ip)\n",
            ),
            Refusal::Subprotocol => plain_text(
                StatusCode::BAD_REQUEST,
                "none of the offered subprotocols is accepted (see raw.subprotocols)\n",
            ),
            Refusal::NotReady(reason) => {
                plain_text(StatusCode::SERVICE_UNAVAILABLE, format!("not ready: {reason}\n"))
            }
            Refusal::MetricsNotFound => bare(StatusCode::NOT_FOUND, "not found\n"),
        }
    }
}

/// A `text/plain` answer, as the listener writes all of its own (its
/// refusals here, its probes' answers in the router).
pub(crate) fn plain_text(status: StatusCode, body: impl Into<Bytes>) -> Response<Bytes> {
    with_header(
        bare(status, body),
        CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    )
}

/// A status and a body, no headers.
fn bare(status: StatusCode, body: impl Into<Bytes>) -> Response<Bytes> {
    let mut response = Response::new(body.into());
    *response.status_mut() = status;
    response
}

fn with_header(
    mut response: Response<Bytes>,
    name: http::header::HeaderName,
    value: HeaderValue,
) -> Response<Bytes> {
    response.headers_mut().insert(name, value);
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    fn retry_after(wait: Duration) -> String {
        let response = Refusal::ConnectRate { wait }.into_response();
        response.headers()[RETRY_AFTER].to_str().unwrap().to_owned()
    }

    #[test]
    fn retry_after_is_whole_seconds_from_one_to_an_hour() {
        assert_eq!(retry_after(Duration::ZERO), "1");
        assert_eq!(retry_after(Duration::from_millis(2500)), "3");
        assert_eq!(retry_after(Duration::from_secs(86_400)), "3600");
    }

    #[test]
    fn refusals_are_plain_text_but_the_metrics_listener_s() {
        let response = Refusal::UpgradeRequired.into_response();
        assert_eq!(response.status(), StatusCode::UPGRADE_REQUIRED);
        assert_eq!(response.headers()[CONTENT_TYPE], "text/plain; charset=utf-8");
        assert_eq!(response.headers()[UPGRADE], "websocket");
        let response = Refusal::MetricsNotFound.into_response();
        assert_eq!(response.status(), StatusCode::NOT_FOUND);
        assert!(response.headers().is_empty());
    }
}
