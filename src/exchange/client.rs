//! The client's address behind trusted proxies, from `X-Forwarded-For` or
//! `X-Real-IP`. Used for the access log only: nothing else trusts these headers.
//! Behind a PROXY protocol header, the client the header named takes the socket
//! peer's place here: its own `X-Forwarded-For` is believed if it is trusted too.

use std::fmt;
use std::net::IpAddr;
use std::str::FromStr;

use ipnet::IpNet;

use crate::transport::Peer;

/// The proxies whose `X-Forwarded-For` and `X-Real-IP` are believed: addresses and
/// networks, and, with `unix`, every peer on a Unix socket (a process on this host).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TrustedProxies {
    networks: Vec<IpNet>,
    unix: bool,
}

impl TrustedProxies {
    /// Whether `peer` is one of the trusted proxies.
    pub fn trusts(&self, peer: &Peer) -> bool {
        match peer.ip() {
            Some(ip) => self.trusts_ip(ip),
            None => self.unix,
        }
    }

    fn trusts_ip(&self, ip: IpAddr) -> bool {
        self.networks.iter().any(|net| net.contains(&ip))
    }

    /// Whether no IP address is trusted (`unix` may be).
    pub fn trusts_no_ip(&self) -> bool {
        self.networks.is_empty()
    }

    /// Whether no proxy is trusted.
    pub fn is_empty(&self) -> bool {
        self.networks.is_empty() && !self.unix
    }

    /// The client of a request that arrived from `peer`: when `peer` is trusted, the
    /// right-most address of `forwarded_for` (all its fields, in order) that is not
    /// itself trusted, the left-most if all are, or `real_ip` when there is no
    /// `X-Forwarded-For`; otherwise, or when those say nothing usable, `peer`'s
    /// address (`None` for a Unix socket).
    pub fn client<'a>(
        &self,
        peer: &Peer,
        forwarded_for: impl Iterator<Item = &'a str>,
        real_ip: Option<&str>,
    ) -> Option<IpAddr> {
        if !self.trusts(peer) {
            return peer.ip();
        }
        let hops: Vec<&str> = forwarded_for.flat_map(|field| field.split(',')).collect();
        let mut leftmost = None;
        for hop in hops.iter().rev() {
            match hop.trim().parse::<IpAddr>().ok() {
                // A hop that is not an address cannot be followed further.
                None => return leftmost.or(peer.ip()),
                Some(hop) if !self.trusts_ip(hop) => return Some(hop),
                Some(hop) => leftmost = Some(hop),
            }
        }
        if !hops.is_empty() {
            return leftmost.or(peer.ip());
        }
        real_ip.and_then(|ip| ip.trim().parse().ok()).or(peer.ip())
    }
}

impl FromStr for TrustedProxies {
    type Err = String;

    /// A comma-separated list of addresses (`10.0.0.1`, `::1`), networks
    /// (`10.0.0.0/8`, `fd00::/8`) and `unix`; empty for none.
    fn from_str(list: &str) -> Result<Self, String> {
        let mut trusted = TrustedProxies::default();
        for entry in list
            .split(',')
            .map(str::trim)
            .filter(|entry| !entry.is_empty())
        {
            if entry == "unix" {
                trusted.unix = true;
                continue;
            }
            let network = (entry.parse::<IpNet>())
                .or_else(|_| entry.parse::<IpAddr>().map(IpNet::from))
                .map_err(|_| {
                    format!("{entry:?} is neither an IP address, a CIDR network nor `unix`")
                })?;
            trusted.networks.push(network);
        }
        Ok(trusted)
    }
}

impl fmt::Display for TrustedProxies {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let networks = self.networks.iter().map(ToString::to_string);
        let unix = self.unix.then(|| "unix".to_owned());
        let entries: Vec<String> = networks.chain(unix).collect();
        f.write_str(&entries.join(","))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(text: &str) -> IpAddr {
        text.parse().unwrap()
    }

    fn client(trusted: &str, peer: &str, xff: &[&str], real_ip: Option<&str>) -> IpAddr {
        let trusted: TrustedProxies = trusted.parse().unwrap();
        let peer = Peer::Ip(std::net::SocketAddr::new(ip(peer), 4000));
        trusted.client(&peer, xff.iter().copied(), real_ip).unwrap()
    }

    #[test]
    fn behind_a_proxy_protocol_header_the_named_client_takes_the_peers_place() {
        let trusted: TrustedProxies = "127.0.0.1,10.0.0.0/8".parse().unwrap();
        let proxy = std::net::SocketAddr::new(ip("127.0.0.1"), 9);
        let proxied = |client| Peer::proxied(std::net::SocketAddr::new(ip(client), 4000), proxy);
        let xff = ["1.2.3.4"];
        // The balancer is trusted, the client it named is not: its header is not believed.
        let client = trusted.client(&proxied("198.51.100.7"), xff.iter().copied(), None);
        assert_eq!(client, Some(ip("198.51.100.7")));
        // A trusted one (an HTTP proxy behind the TCP balancer) is believed.
        let client = trusted.client(&proxied("10.1.2.3"), xff.iter().copied(), None);
        assert_eq!(client, Some(ip("1.2.3.4")));
        assert_eq!(proxied("10.1.2.3").socket_peer(), Peer::Ip(proxy));
        assert_eq!(
            proxied("10.1.2.3").to_string(),
            "10.1.2.3:4000 via 127.0.0.1:9"
        );
    }

    #[test]
    fn an_untrusted_peer_is_the_client_whatever_it_claims() {
        assert_eq!(
            client("", "198.51.100.7", &["1.2.3.4"], Some("5.6.7.8")),
            ip("198.51.100.7")
        );
        assert_eq!(
            client("10.0.0.0/8", "192.0.2.1", &["1.2.3.4"], None),
            ip("192.0.2.1")
        );
    }

    /// X-Forwarded-For fields, X-Real-IP, the client, and why, behind 127.0.0.1.
    const TRUSTED_PEER_CASES: [(&[&str], Option<&str>, &str, &str); 9] = [
        (
            &["6.6.6.6, 203.0.113.9", "10.1.2.3"],
            None,
            "203.0.113.9",
            "right-most untrusted; the client wrote the left",
        ),
        (
            &["10.0.0.2, 10.0.0.1"],
            None,
            "10.0.0.2",
            "all trusted: the left-most",
        ),
        (&["2001:db8::1"], None, "2001:db8::1", "IPv6"),
        (
            &[],
            Some("203.0.113.9"),
            "203.0.113.9",
            "X-Real-IP without X-Forwarded-For",
        ),
        (
            &["192.0.2.5"],
            Some("203.0.113.9"),
            "192.0.2.5",
            "X-Forwarded-For wins",
        ),
        (
            &[],
            Some("not an address"),
            "127.0.0.1",
            "unusable X-Real-IP: the peer",
        ),
        (
            &["garbage, 10.0.0.3"],
            None,
            "10.0.0.3",
            "garbage stops the walk",
        ),
        (
            &["10.0.0.3, garbage"],
            None,
            "127.0.0.1",
            "garbage at once: the peer",
        ),
        (
            &[" 198.51.100.1 ,10.0.0.9 "],
            None,
            "198.51.100.1",
            "spaces around hops",
        ),
    ];

    #[test]
    fn a_trusted_peer_names_the_client() {
        let proxies = "127.0.0.1,10.0.0.0/8";
        for (xff, real_ip, expected, why) in TRUSTED_PEER_CASES {
            assert_eq!(
                client(proxies, "127.0.0.1", xff, real_ip),
                ip(expected),
                "{why}"
            );
        }
    }

    #[test]
    fn the_list_parses_addresses_and_networks() {
        let trusted: TrustedProxies = " 127.0.0.1, 10.0.0.0/8,::1 ".parse().unwrap();
        assert_eq!(trusted.to_string(), "127.0.0.1/32,10.0.0.0/8,::1/128");
        assert!(trusted.trusts_ip(ip("10.200.0.1")) && !trusted.trusts_ip(ip("11.0.0.1")));
        assert!(!trusted.trusts(&Peer::Unix));
        assert!("".parse::<TrustedProxies>().unwrap().is_empty());
        let error = "10.0.0.0/33".parse::<TrustedProxies>().unwrap_err();
        assert!(error.contains("10.0.0.0/33"), "{error}");
    }

    #[test]
    fn unix_trusts_local_processes_on_a_unix_socket() {
        let xff = ["203.0.113.9"];
        let untrusted = TrustedProxies::default();
        assert_eq!(
            untrusted.client(&Peer::Unix, xff.iter().copied(), None),
            None
        );
        let trusted: TrustedProxies = "unix".parse().unwrap();
        let client = trusted.client(&Peer::Unix, xff.iter().copied(), None);
        assert_eq!(client, Some(ip("203.0.113.9")));
        assert_eq!(trusted.client(&Peer::Unix, [].into_iter(), None), None);
        assert_eq!(trusted.to_string(), "unix");
    }
}
