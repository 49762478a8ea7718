//! The server side of the RFC 6455 opening handshake, and subprotocol
//! negotiation (also used by the app for socket.io upgrades).

use bytes::Bytes;
use http::header::{
    CONNECTION, SEC_WEBSOCKET_ACCEPT, SEC_WEBSOCKET_KEY, SEC_WEBSOCKET_PROTOCOL, SEC_WEBSOCKET_VERSION,
    UPGRADE,
};
use http::{HeaderMap, HeaderValue, Method, Request, Response, StatusCode};
use tokio_tungstenite::tungstenite::handshake::derive_accept_key;

use crate::HandshakeError;

/// The outcome of subprotocol negotiation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SubprotocolChoice<'a> {
    /// The client offered none; the 101 carries none.
    NoneOffered,
    /// Echo this one in the 101's `Sec-WebSocket-Protocol`.
    Selected(&'a str),
    /// The client offered some and none is accepted.
    Rejected,
}

/// Picks the subprotocol to answer with.
///
/// Many clients (WeChat mini-programs among them) fail the handshake when
/// they offer a subprotocol and the 101 names none, so an accept list of
/// `["*"]` echoes the first name offered; otherwise the first offered name
/// that is on the list wins.
pub fn negotiate_subprotocol<'a>(headers: &'a HeaderMap, accepted: &[String]) -> SubprotocolChoice<'a> {
    let mut offered = headers
        .get_all(SEC_WEBSOCKET_PROTOCOL)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(','))
        .map(str::trim)
        .filter(|name| !name.is_empty())
        .peekable();
    if offered.peek().is_none() {
        return SubprotocolChoice::NoneOffered;
    }
    let accept_any = accepted.iter().any(|name| name == "*");
    offered
        .find(|name| accept_any || accepted.iter().any(|a| a == name))
        .map_or(SubprotocolChoice::Rejected, SubprotocolChoice::Selected)
}

/// Whether the request asks for a WebSocket upgrade at all.
pub(crate) fn wants_upgrade(headers: &HeaderMap) -> bool {
    header_has_token(headers, UPGRADE, "websocket")
}

/// Checks an upgrade request and builds the 101 response for it.
pub(crate) fn accept<B>(
    req: &Request<B>,
    subprotocols: &[String],
) -> Result<Response<Bytes>, HandshakeError> {
    let headers = req.headers();
    if req.method() != Method::GET {
        return Err(HandshakeError::Method);
    }
    if !wants_upgrade(headers) || !header_has_token(headers, CONNECTION, "upgrade") {
        return Err(HandshakeError::NotUpgrade);
    }
    if headers.get(SEC_WEBSOCKET_VERSION).map(HeaderValue::as_bytes) != Some(b"13") {
        return Err(HandshakeError::Version);
    }
    let key = headers.get(SEC_WEBSOCKET_KEY).ok_or(HandshakeError::MissingKey)?;
    let protocol = match negotiate_subprotocol(headers, subprotocols) {
        SubprotocolChoice::NoneOffered => None,
        SubprotocolChoice::Selected(name) => Some(name),
        SubprotocolChoice::Rejected => return Err(HandshakeError::Subprotocol),
    };
    let mut response = Response::builder()
        .status(StatusCode::SWITCHING_PROTOCOLS)
        .header(CONNECTION, "upgrade")
        .header(UPGRADE, "websocket")
        .header(SEC_WEBSOCKET_ACCEPT, derive_accept_key(key.as_bytes()));
    if let Some(protocol) = protocol {
        response = response.header(SEC_WEBSOCKET_PROTOCOL, protocol);
    }
    Ok(response.body(Bytes::new()).expect("static headers are valid"))
}

/// Whether a comma-separated header contains `token` (case-insensitively).
fn header_has_token(headers: &HeaderMap, name: http::header::HeaderName, token: &str) -> bool {
    headers
        .get_all(name)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|t| t.trim().eq_ignore_ascii_case(token))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(protocols: &[&str]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for p in protocols {
            map.append(SEC_WEBSOCKET_PROTOCOL, HeaderValue::from_str(p).unwrap());
        }
        map
    }

    fn list(names: &[&str]) -> Vec<String> {
        names.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn star_echoes_the_first_offer() {
        let h = headers(&["wxapp, json"]);
        assert_eq!(
            negotiate_subprotocol(&h, &list(&["*"])),
            SubprotocolChoice::Selected("wxapp")
        );
    }

    #[test]
    fn a_list_picks_the_first_accepted_offer_across_headers() {
        let h = headers(&["a", "b, c"]);
        assert_eq!(
            negotiate_subprotocol(&h, &list(&["c", "b"])),
            SubprotocolChoice::Selected("b")
        );
        assert_eq!(
            negotiate_subprotocol(&h, &list(&["z"])),
            SubprotocolChoice::Rejected
        );
        assert_eq!(
            negotiate_subprotocol(&headers(&[]), &list(&["z"])),
            SubprotocolChoice::NoneOffered
        );
    }

    #[test]
    fn accept_checks_the_rfc_rules() {
        let base = || {
            Request::get("/ws")
                .header(UPGRADE, "websocket")
                .header(CONNECTION, "keep-alive, Upgrade")
                .header(SEC_WEBSOCKET_VERSION, "13")
                .header(SEC_WEBSOCKET_KEY, "dGhlIHNhbXBsZSBub25jZQ==")
        };
        let ok = accept(&base().body(()).unwrap(), &list(&["*"])).unwrap();
        assert_eq!(ok.status(), StatusCode::SWITCHING_PROTOCOLS);
        assert_eq!(ok.headers()[SEC_WEBSOCKET_ACCEPT], "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
        assert!(ok.headers().get(SEC_WEBSOCKET_PROTOCOL).is_none());

        let with_proto = base().header(SEC_WEBSOCKET_PROTOCOL, "mqtt").body(()).unwrap();
        assert_eq!(
            accept(&with_proto, &list(&["*"])).unwrap().headers()[SEC_WEBSOCKET_PROTOCOL],
            "mqtt"
        );
        assert_eq!(
            accept(&with_proto, &list(&["json"])).unwrap_err(),
            HandshakeError::Subprotocol
        );

        let mut old = base().body(()).unwrap();
        old.headers_mut()
            .insert(SEC_WEBSOCKET_VERSION, HeaderValue::from_static("8"));
        assert_eq!(accept(&old, &list(&["*"])).unwrap_err(), HandshakeError::Version);
        let post = base().method(Method::POST).body(()).unwrap();
        assert_eq!(accept(&post, &list(&["*"])).unwrap_err(), HandshakeError::Method);
    }
}
