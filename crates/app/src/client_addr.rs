//! The client's address: the TCP peer, or — when that peer is a trusted
//! proxy — the address the proxy reports in `X-Forwarded-For` or
//! `Forwarded` (never taken from an untrusted peer, who could write anything).

use std::net::{IpAddr, SocketAddr};

use http::HeaderMap;
use ipnet::IpNet;

/// `server.trusted_proxies`, and how to read past them.
#[derive(Debug, Clone, Default)]
pub(crate) struct TrustedProxies(Vec<IpNet>);

impl TrustedProxies {
    pub(crate) fn new(networks: Vec<IpNet>) -> Self {
        TrustedProxies(networks)
    }

    fn trusts(&self, ip: IpAddr) -> bool {
        let ip = match ip {
            IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(IpAddr::V6(v6), IpAddr::V4),
            v4 => v4,
        };
        self.0.iter().any(|network| network.contains(&ip))
    }

    /// The client behind `peer`: walking the forwarded chain from the
    /// nearest hop outwards, the first address that is not a trusted proxy.
    /// Its port is unknown, so it is 0.
    pub(crate) fn client(&self, peer: SocketAddr, headers: &HeaderMap) -> SocketAddr {
        if !self.trusts(peer.ip()) {
            return peer;
        }
        let chain = forwarded_for(headers);
        let client = chain
            .iter()
            .rev()
            .find(|ip| !self.trusts(**ip))
            .or_else(|| chain.first());
        client.map_or(peer, |ip| SocketAddr::new(*ip, 0))
    }
}

/// The addresses in `X-Forwarded-For` (preferred) or `Forwarded: for=`,
/// farthest first; unparsable entries end the chain's trustworthy part.
fn forwarded_for(headers: &HeaderMap) -> Vec<IpAddr> {
    let values = |name: &str| -> Vec<String> {
        headers
            .get_all(name)
            .iter()
            .filter_map(|value| value.to_str().ok())
            .flat_map(|value| value.split(','))
            .map(|entry| entry.trim().to_owned())
            .collect()
    };
    let xff = values("x-forwarded-for");
    if !xff.is_empty() {
        return xff.iter().map_while(|entry| parse_ip(entry)).collect();
    }
    values("forwarded")
        .iter()
        .filter_map(|element| {
            element
                .split(';')
                .filter_map(|pair| pair.trim().split_once('='))
                .find(|(key, _)| key.eq_ignore_ascii_case("for"))
                .map(|(_, value)| value.trim_matches('"').to_owned())
        })
        .map_while(|value| parse_ip(&value))
        .collect()
}

/// `1.2.3.4`, `1.2.3.4:5678`, `::1`, `[::1]:5678`.
fn parse_ip(text: &str) -> Option<IpAddr> {
    text.parse::<IpAddr>()
        .ok()
        .or_else(|| text.parse::<SocketAddr>().ok().map(|addr| addr.ip()))
        .or_else(|| text.trim_start_matches('[').split(']').next()?.parse().ok())
}

#[cfg(test)]
mod tests {
    use http::HeaderValue;

    use super::*;

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.append(*name, HeaderValue::from_static(value));
        }
        map
    }

    fn proxies() -> TrustedProxies {
        TrustedProxies::new(vec![
            "10.0.0.0/8".parse().unwrap(),
            "127.0.0.1/32".parse().unwrap(),
        ])
    }

    const PROXY: &str = "10.1.2.3:4000";

    #[test]
    fn an_untrusted_peer_is_the_client_whatever_it_claims() {
        let peer: SocketAddr = "198.51.100.7:5555".parse().unwrap();
        let h = headers(&[("x-forwarded-for", "1.1.1.1")]);
        assert_eq!(proxies().client(peer, &h), peer);
    }

    #[test]
    fn a_trusted_proxy_names_the_client_and_spoofed_entries_are_skipped() {
        let peer = PROXY.parse().unwrap();
        // The client itself wrote "6.6.6.6"; nginx appended the real address.
        let h = headers(&[("x-forwarded-for", "6.6.6.6, 203.0.113.9, 10.9.9.9")]);
        assert_eq!(proxies().client(peer, &h), "203.0.113.9:0".parse().unwrap());
    }

    #[test]
    fn forwarded_is_read_when_there_is_no_x_forwarded_for() {
        let peer = PROXY.parse().unwrap();
        let h = headers(&[(
            "forwarded",
            r#"for="[2001:db8::1]:4711";proto=https, for=10.0.0.5"#,
        )]);
        assert_eq!(
            proxies().client(peer, &h).ip(),
            "2001:db8::1".parse::<IpAddr>().unwrap()
        );
    }

    #[test]
    fn no_header_or_garbage_leaves_the_peer() {
        let peer: SocketAddr = PROXY.parse().unwrap();
        assert_eq!(proxies().client(peer, &HeaderMap::new()), peer);
        let h = headers(&[("x-forwarded-for", "not-an-ip")]);
        assert_eq!(proxies().client(peer, &h), peer);
    }
}
