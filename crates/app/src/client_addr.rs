//! The client's address: the TCP peer, or — when that peer is a trusted
//! proxy — the address the proxies report in the one forwarding header
//! they are configured to write (never taken from an untrusted peer, who
//! could write anything).
//!
//! Why the chain is read right to left: each proxy appends the address it
//! received the request from, so the end of the chain was written by the
//! proxies we trust and the front by whoever sent the first request — the
//! client, who may have written anything there. Walking from the nearest
//! hop outwards, every trusted address vouches for the entry to its left;
//! the first address that is not trusted is the client. An entry that is
//! not an address (`unknown`, an obfuscated name, junk) ends the walk: no
//! one we trust vouches for anything beyond it, so the client is taken to
//! be the last trusted hop reached.

use std::net::{IpAddr, SocketAddr};

use http::HeaderMap;
use ipnet::IpNet;

use crate::ForwardedHeader;

/// `server.trusted_proxies` and `server.forwarded_header`, and how to read
/// past the proxies to the client.
#[derive(Debug, Clone)]
pub(crate) struct TrustedProxies {
    networks: Vec<IpNet>,
    header: ForwardedHeader,
}

impl TrustedProxies {
    pub(crate) fn new(networks: Vec<IpNet>, header: ForwardedHeader) -> Self {
        TrustedProxies { networks, header }
    }

    fn trusts(&self, ip: IpAddr) -> bool {
        let ip = match ip {
            IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(IpAddr::V6(v6), IpAddr::V4),
            v4 => v4,
        };
        self.networks.iter().any(|network| network.contains(&ip))
    }

    /// The client behind `peer` (see the module doc). Its port is unknown
    /// when it comes from a header, so it is 0.
    pub(crate) fn client(&self, peer: SocketAddr, headers: &HeaderMap) -> SocketAddr {
        if !self.trusts(peer.ip()) {
            return peer;
        }
        let mut nearest_trusted = peer;
        for hop in self.chain(headers).iter().rev() {
            match hop {
                Some(ip) if self.trusts(*ip) => nearest_trusted = SocketAddr::new(*ip, 0),
                Some(ip) => return SocketAddr::new(*ip, 0),
                None => break,
            }
        }
        nearest_trusted
    }

    /// The configured header's entries, farthest first; `None` for an
    /// entry that is not an address. Other forwarding headers are ignored:
    /// a client can write any of them, and only the configured one is
    /// appended to by the proxies.
    fn chain(&self, headers: &HeaderMap) -> Vec<Option<IpAddr>> {
        let entries = headers
            .get_all(self.header.name())
            .iter()
            // A header that is not text is one unreadable entry.
            .flat_map(|value| value.to_str().unwrap_or("\u{0}").split(','))
            .map(str::trim);
        match self.header {
            ForwardedHeader::XForwardedFor => entries.map(parse_ip).collect(),
            ForwardedHeader::Forwarded => entries.map(forwarded_for).collect(),
        }
    }
}

/// The `for=` address of one `Forwarded` element (RFC 7239).
fn forwarded_for(element: &str) -> Option<IpAddr> {
    let value = element
        .split(';')
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(key, _)| key.trim().eq_ignore_ascii_case("for"))?
        .1;
    parse_ip(value.trim().trim_matches('"'))
}

/// `1.2.3.4`, `1.2.3.4:5678`, `::1`, `[::1]`, `[::1]:5678`.
fn parse_ip(text: &str) -> Option<IpAddr> {
    text.parse::<IpAddr>()
        .ok()
        .or_else(|| text.parse::<SocketAddr>().ok().map(|addr| addr.ip()))
        .or_else(|| text.strip_prefix('[')?.strip_suffix(']')?.parse().ok())
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

    fn proxies(header: ForwardedHeader) -> TrustedProxies {
        TrustedProxies::new(
            vec!["10.0.0.0/8".parse().unwrap(), "127.0.0.1/32".parse().unwrap()],
            header,
        )
    }

    fn xff() -> TrustedProxies {
        proxies(ForwardedHeader::XForwardedFor)
    }

    fn client(proxies: &TrustedProxies, pairs: &[(&'static str, &'static str)]) -> String {
        proxies
            .client(PROXY.parse().unwrap(), &headers(pairs))
            .to_string()
    }

    const PROXY: &str = "10.1.2.3:4000";

    #[test]
    fn an_untrusted_peer_is_the_client_whatever_it_claims() {
        let peer: SocketAddr = "198.51.100.7:5555".parse().unwrap();
        let h = headers(&[("x-forwarded-for", "1.1.1.1")]);
        assert_eq!(xff().client(peer, &h), peer);
    }

    #[test]
    fn a_trusted_proxy_names_the_client_and_spoofed_entries_are_skipped() {
        // The client itself wrote "6.6.6.6"; nginx appended the real address.
        let h = [("x-forwarded-for", "6.6.6.6, 203.0.113.9, 10.9.9.9")];
        assert_eq!(client(&xff(), &h), "203.0.113.9:0");
        // Several header lines form one chain, in order.
        let h = [("x-forwarded-for", "6.6.6.6"), ("x-forwarded-for", "203.0.113.9")];
        assert_eq!(client(&xff(), &h), "203.0.113.9:0");
    }

    /// Regression (outside probe): a junk entry used to cut the chain from
    /// the left, so the client-written front of it became the address.
    #[test]
    fn junk_written_by_the_client_cannot_hide_the_appended_address() {
        let h = [("x-forwarded-for", "13.0.0.1, junk, 7.7.7.8")];
        assert_eq!(client(&xff(), &h), "7.7.7.8:0");
        let h = [("x-forwarded-for", "13.0.0.1, unknown, 10.0.0.7, 7.7.7.8")];
        assert_eq!(client(&xff(), &h), "7.7.7.8:0");
    }

    #[test]
    fn junk_next_to_us_leaves_the_last_trusted_hop() {
        let h = [("x-forwarded-for", "13.0.0.1, unknown")];
        assert_eq!(client(&xff(), &h), PROXY);
        let h = [("x-forwarded-for", "13.0.0.1, junk, 10.0.0.7")];
        assert_eq!(client(&xff(), &h), "10.0.0.7:0");
        let h = [("x-forwarded-for", "not-an-ip")];
        assert_eq!(client(&xff(), &h), PROXY);
    }

    #[test]
    fn an_all_trusted_chain_names_its_farthest_hop() {
        let h = [("x-forwarded-for", "10.0.0.5, 10.0.0.6")];
        assert_eq!(client(&xff(), &h), "10.0.0.5:0");
    }

    /// Regression (outside probe): X-Forwarded-For used to win over
    /// Forwarded, so behind a proxy that writes only Forwarded the client
    /// chose its own address.
    #[test]
    fn only_the_configured_header_is_read() {
        let both = [
            ("x-forwarded-for", "6.6.6.6"),
            (
                "forwarded",
                r#"for="[2001:db8::1]:4711";proto=https, for=10.0.0.5"#,
            ),
        ];
        assert_eq!(client(&xff(), &both), "6.6.6.6:0");
        let forwarded = proxies(ForwardedHeader::Forwarded);
        assert_eq!(client(&forwarded, &both), "[2001:db8::1]:0");
        assert_eq!(client(&forwarded, &both[..1]), PROXY);
        assert_eq!(client(&xff(), &both[1..]), PROXY);
    }

    #[test]
    fn forwarded_elements_without_an_address_end_the_walk() {
        let forwarded = proxies(ForwardedHeader::Forwarded);
        let h = [("forwarded", "for=6.6.6.6, for=unknown, for=203.0.113.9")];
        assert_eq!(client(&forwarded, &h), "203.0.113.9:0");
        let h = [("forwarded", "for=6.6.6.6, proto=https")];
        assert_eq!(client(&forwarded, &h), PROXY);
        let h = [("forwarded", "for=_hidden")];
        assert_eq!(client(&forwarded, &h), PROXY);
    }

    #[test]
    fn no_header_leaves_the_peer() {
        assert_eq!(client(&xff(), &[]), PROXY);
    }
}
