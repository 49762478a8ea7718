//! What an engine.io request asks for, read from its method, query and
//! upgrade headers, and checked as Node's `Server.verify` checks it.

use engineioxide_core::{ProtocolVersion, Sid, TransportType};
use http::{header, Method, Request};

use crate::error::Refusal;
use crate::EngineConfig;

/// A verified engine.io request.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Query {
    pub(crate) protocol: ProtocolVersion,
    pub(crate) transport: TransportType,
    pub(crate) sid: Option<Sid>,
    /// v3: the client cannot take binary payloads (`b64=1`).
    pub(crate) b64: bool,
    /// A websocket upgrade request (`Upgrade: websocket`).
    pub(crate) upgrade: bool,
}

/// Reads and verifies `req`'s engine.io parameters.
pub(crate) fn parse<B>(req: &Request<B>, config: &EngineConfig) -> Result<Query, Refusal> {
    let query = req.uri().query().unwrap_or("");
    let transport = match param(query, "transport") {
        Some("polling") => TransportType::Polling,
        Some("websocket") => TransportType::Websocket,
        _ => return Err(Refusal::UnknownTransport),
    };
    // Node takes anything but "4" for 3 when v3 is allowed; the
    // engine.io-protocol suite expects a missing or unknown EIO refused.
    let protocol = match param(query, "EIO") {
        Some("4") => ProtocolVersion::V4,
        Some("3") if config.allow_eio3 => ProtocolVersion::V3,
        _ => return Err(Refusal::UnsupportedProtocol),
    };
    let upgrade = wants_upgrade(req.headers());
    let sid = match param(query, "sid") {
        Some(sid) => Some(sid.parse::<Sid>().map_err(|_| Refusal::UnknownSid)?),
        None => None,
    };
    if sid.is_none() {
        // A handshake is a GET.
        if req.method() != Method::GET {
            return Err(Refusal::BadHandshakeMethod);
        }
        if transport == TransportType::Websocket && !upgrade {
            return Err(Refusal::BadRequest);
        }
    }
    if transport == TransportType::Polling && upgrade {
        return Err(Refusal::BadRequest);
    }
    let b64 = matches!(param(query, "b64"), Some(v) if !v.is_empty() && v != "0" && v != "false");
    Ok(Query {
        protocol,
        transport,
        sid,
        b64,
        upgrade,
    })
}

/// The first value of `name` in a query string (engine.io's parameters are
/// never percent-encoded).
fn param<'q>(query: &'q str, name: &str) -> Option<&'q str> {
    query.split('&').find_map(|pair| {
        let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
        (key == name).then_some(value)
    })
}

/// Whether the headers ask for a websocket upgrade.
fn wants_upgrade(headers: &http::HeaderMap) -> bool {
    let has_token = |name, token: &str| {
        headers.get_all(name).iter().any(|value| {
            value
                .to_str()
                .map(|v| v.split(',').any(|t| t.trim().eq_ignore_ascii_case(token)))
                .unwrap_or(false)
        })
    };
    has_token(header::UPGRADE, "websocket") && has_token(header::CONNECTION, "upgrade")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn get(uri: &str) -> Request<()> {
        Request::get(uri).body(()).unwrap()
    }

    fn check(req: Request<()>) -> Result<Query, Refusal> {
        parse(&req, &EngineConfig::default())
    }

    #[test]
    fn refusals_follow_node_verify() {
        assert_eq!(check(get("/e/?EIO=4")), Err(Refusal::UnknownTransport));
        assert_eq!(
            check(get("/e/?EIO=4&transport=flash")),
            Err(Refusal::UnknownTransport)
        );
        assert_eq!(
            check(get("/e/?EIO=4&transport=polling&sid=short")),
            Err(Refusal::UnknownSid)
        );
        let post = Request::post("/e/?EIO=4&transport=polling").body(()).unwrap();
        assert_eq!(check(post), Err(Refusal::BadHandshakeMethod));
        assert_eq!(
            check(get("/e/?EIO=4&transport=websocket")),
            Err(Refusal::BadRequest)
        );
        let strict = EngineConfig {
            allow_eio3: false,
            ..EngineConfig::default()
        };
        let v3 = get("/e/?EIO=3&transport=polling");
        assert_eq!(parse(&v3, &strict), Err(Refusal::UnsupportedProtocol));
        assert_eq!(
            check(get("/e/?transport=polling")),
            Err(Refusal::UnsupportedProtocol)
        );
        assert_eq!(
            check(get("/e/?EIO=abc&transport=polling")),
            Err(Refusal::UnsupportedProtocol)
        );
        assert_eq!(
            parse(&get("/e/?transport=polling"), &strict),
            Err(Refusal::UnsupportedProtocol)
        );
    }

    #[test]
    fn reads_a_v3_polling_handshake() {
        let query = check(get("/e/?EIO=3&transport=polling&b64=1&t=N1")).unwrap();
        assert_eq!(query.protocol, ProtocolVersion::V3);
        assert_eq!(query.transport, TransportType::Polling);
        assert!(query.b64 && !query.upgrade && query.sid.is_none());
    }

    #[test]
    fn reads_an_upgrade_with_a_sid() {
        let req = Request::get("/e/?EIO=4&transport=websocket&sid=AAAAAAAAAAAAAAAA")
            .header("upgrade", "websocket")
            .header("connection", "keep-alive, Upgrade")
            .body(())
            .unwrap();
        let query = check(req).unwrap();
        assert!(query.upgrade);
        assert_eq!(query.sid.unwrap().as_str(), "AAAAAAAAAAAAAAAA");
    }
}
