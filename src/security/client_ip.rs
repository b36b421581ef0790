//! The client address: the TCP peer, or — when the peer is one of our own proxies — the
//! address that proxy says it received the request from.
//!
//! `X-Forwarded-For` is a list that every proxy appends its peer to, so only the right end is
//! written by machines we trust; anything to the left may have been sent by the client. The
//! list is therefore read right to left and the first address that is not a trusted proxy is
//! the client. A client that does not come through a trusted proxy cannot move its address by
//! sending the header: the header is not read at all.

use std::net::{IpAddr, Ipv6Addr, SocketAddr};

use http::{HeaderMap, HeaderName};
use ipnet::{IpNet, Ipv4Net};

const X_FORWARDED_FOR: HeaderName = HeaderName::from_static("x-forwarded-for");

/// Most `X-Forwarded-For` entries looked at per request; a longer chain stops the walk there.
pub const MAX_FORWARDED_HOPS: usize = 32;

/// An `X-Forwarded-For` line longer than this is treated as garbage.
pub const MAX_FORWARDED_LINE: usize = 8 * 1024;

/// Longest entry worth parsing: `[` + the longest IPv6 text (45) + `]:65535`.
const MAX_ENTRY_LEN: usize = 53;

/// Who the client is: the TCP peer, unless the peer is a trusted proxy.
#[derive(Clone, Debug, Default)]
pub struct ClientIp {
    trusted: Vec<IpNet>,
}

impl ClientIp {
    /// Trusts `trusted_proxies` (none by default: the peer is always the client). IPv4-mapped
    /// IPv6 networks (`::ffff:10.0.0.0/104`) are trusted as the IPv4 networks they map.
    pub fn new(trusted_proxies: &[IpNet]) -> ClientIp {
        ClientIp {
            trusted: trusted_proxies
                .iter()
                .map(|net| canonical_net(*net))
                .collect(),
        }
    }

    /// The client address for a request from `peer`: `peer` itself unless `peer` is trusted;
    /// then `X-Forwarded-For` (every line, in order, as one list) is read right to left and
    /// the first address that is not a trusted proxy is the client. If every hop is trusted,
    /// the left-most one. An entry that is not an address (empty, `unknown`, a hostname, a line
    /// over [`MAX_FORWARDED_LINE`]) stops the walk, as does the [`MAX_FORWARDED_HOPS`]th entry:
    /// the client is then the last trusted hop examined, never a value left of the garbage.
    /// IPv4-mapped IPv6 addresses are read as IPv4.
    pub fn client(&self, peer: IpAddr, headers: &HeaderMap) -> IpAddr {
        let peer = peer.to_canonical();
        if !self.is_trusted(peer) {
            return peer;
        }
        let mut last_trusted = peer;
        let mut examined = 0;
        for line in headers.get_all(X_FORWARDED_FOR).iter().rev() {
            let Some(list) = line.to_str().ok().filter(|l| l.len() <= MAX_FORWARDED_LINE) else {
                return last_trusted;
            };
            for entry in list.rsplit(',') {
                if examined == MAX_FORWARDED_HOPS {
                    return last_trusted;
                }
                examined += 1;
                let Some(hop) = parse_hop(entry) else {
                    return last_trusted;
                };
                if !self.is_trusted(hop) {
                    return hop;
                }
                last_trusted = hop;
            }
        }
        last_trusted
    }

    fn is_trusted(&self, ip: IpAddr) -> bool {
        self.trusted.iter().any(|net| net.contains(&ip))
    }
}

/// One `X-Forwarded-For` entry: `ip`, `[v6]`, `v4:port` or `[v6]:port`, as a canonical address.
fn parse_hop(entry: &str) -> Option<IpAddr> {
    let entry = entry.trim_matches([' ', '\t']);
    if entry.is_empty() || entry.len() > MAX_ENTRY_LEN {
        return None;
    }
    let ip = if let Ok(ip) = entry.parse::<IpAddr>() {
        ip
    } else if let Ok(socket) = entry.parse::<SocketAddr>() {
        socket.ip()
    } else {
        let inner = entry.strip_prefix('[')?.strip_suffix(']')?;
        IpAddr::V6(inner.parse::<Ipv6Addr>().ok()?)
    };
    Some(ip.to_canonical())
}

/// An IPv4-mapped IPv6 network as the IPv4 network it covers; any other network unchanged.
fn canonical_net(net: IpNet) -> IpNet {
    if let IpNet::V6(v6) = net
        && let Some(v4) = v6.network().to_ipv4_mapped()
        && let Some(prefix) = v6.prefix_len().checked_sub(96)
        && let Ok(v4) = Ipv4Net::new(v4, prefix)
    {
        return IpNet::V4(v4);
    }
    net
}

#[cfg(test)]
mod tests {
    use super::*;

    use http::HeaderValue;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    fn trusting(nets: &[&str]) -> ClientIp {
        let nets: Vec<IpNet> = nets.iter().map(|n| n.parse().unwrap()).collect();
        ClientIp::new(&nets)
    }

    fn forwarded(lines: &[&str]) -> HeaderMap {
        let mut headers = HeaderMap::new();
        for line in lines {
            headers.append(X_FORWARDED_FOR, HeaderValue::from_str(line).unwrap());
        }
        headers
    }

    const PROXY: &str = "10.0.0.1";

    #[test]
    fn untrusted_peer_ignores_the_header() {
        let client_ip = trusting(&["10.0.0.0/8"]);
        let headers = forwarded(&["1.2.3.4"]);
        assert_eq!(
            client_ip.client(ip("203.0.113.9"), &headers),
            ip("203.0.113.9")
        );
        // Nothing trusted at all: the same.
        let headers = forwarded(&["10.0.0.5"]);
        assert_eq!(
            ClientIp::default().client(ip("203.0.113.9"), &headers),
            ip("203.0.113.9")
        );
    }

    #[test]
    fn trusted_peer_without_header_is_the_client() {
        let client_ip = trusting(&["10.0.0.0/8"]);
        assert_eq!(client_ip.client(ip(PROXY), &HeaderMap::new()), ip(PROXY));
    }

    #[test]
    fn trusted_peer_names_the_client() {
        let client_ip = trusting(&["10.0.0.1/32"]);
        let headers = forwarded(&["1.2.3.4"]);
        assert_eq!(client_ip.client(ip(PROXY), &headers), ip("1.2.3.4"));
    }

    #[test]
    fn trusted_hops_are_skipped_from_the_right() {
        let client_ip = trusting(&["10.0.0.0/8", "192.168.0.0/16"]);
        let headers = forwarded(&["9.9.9.9, 1.2.3.4, 192.168.1.1, 10.1.2.3"]);
        assert_eq!(client_ip.client(ip(PROXY), &headers), ip("1.2.3.4"));
    }

    #[test]
    fn addresses_prepended_by_the_client_are_ignored() {
        let client_ip = trusting(&["10.0.0.1/32"]);
        let headers = forwarded(&["6.6.6.6, 1.2.3.4"]);
        assert_eq!(client_ip.client(ip(PROXY), &headers), ip("1.2.3.4"));
        // Even a trusted address written by the client does not move the answer left.
        let headers = forwarded(&["10.0.0.1, 1.2.3.4"]);
        assert_eq!(client_ip.client(ip(PROXY), &headers), ip("1.2.3.4"));
    }

    #[test]
    fn every_hop_trusted_gives_the_left_most() {
        let client_ip = trusting(&["10.0.0.0/8"]);
        let headers = forwarded(&["10.0.0.7, 10.0.0.8"]);
        assert_eq!(client_ip.client(ip(PROXY), &headers), ip("10.0.0.7"));
    }

    #[test]
    fn garbage_stops_the_walk_at_the_last_trusted_hop() {
        let client_ip = trusting(&["10.0.0.0/8"]);
        let cases = [
            ("1.2.3.4, garbage, 10.0.0.2", "10.0.0.2"),
            ("1.2.3.4, unknown", PROXY),
            ("1.2.3.4, , 10.0.0.2", "10.0.0.2"),
            ("1.2.3.4,", PROXY),
            ("", PROXY),
            ("1.2.3.4, proxy.example.com, 10.0.0.2", "10.0.0.2"),
            ("1.2.3.4, 1.2.3.4.5", PROXY),
            ("1.2.3.4, fe80::1%eth0", PROXY),
            // Garbage to the left of the client is never reached.
            ("garbage, 1.2.3.4", "1.2.3.4"),
        ];
        for (line, want) in cases {
            let headers = forwarded(&[line]);
            assert_eq!(client_ip.client(ip(PROXY), &headers), ip(want), "{line:?}");
        }
    }

    #[test]
    fn header_lines_join_in_order() {
        let client_ip = trusting(&["10.0.0.0/8"]);
        let headers = forwarded(&["6.6.6.6, 1.2.3.4", "10.0.0.3", "10.0.0.2"]);
        assert_eq!(client_ip.client(ip(PROXY), &headers), ip("1.2.3.4"));
        let headers = forwarded(&["1.2.3.4", "5.6.7.8"]);
        assert_eq!(client_ip.client(ip(PROXY), &headers), ip("5.6.7.8"));
        // A garbage line stops the walk even when the next line is clean.
        let headers = forwarded(&["1.2.3.4", "nope", "10.0.0.2"]);
        assert_eq!(client_ip.client(ip(PROXY), &headers), ip("10.0.0.2"));
    }

    #[test]
    fn ports_brackets_and_spacing() {
        let client_ip = trusting(&["10.0.0.0/8", "fd00::/8"]);
        let cases = [
            ("1.2.3.4:8080", "1.2.3.4"),
            ("2001:db8::1", "2001:db8::1"),
            ("[2001:db8::1]", "2001:db8::1"),
            ("[2001:db8::1]:443", "2001:db8::1"),
            ("1.2.3.4, [fd00::1]:80, 10.0.0.2:1234", "1.2.3.4"),
            ("\t1.2.3.4 ,10.0.0.2 ", "1.2.3.4"),
            // IPv4 in brackets is not a form anyone writes.
            ("[1.2.3.4]", PROXY),
            ("[2001:db8::1", PROXY),
            ("1.2.3.4:99999", PROXY),
        ];
        for (line, want) in cases {
            let headers = forwarded(&[line]);
            assert_eq!(client_ip.client(ip(PROXY), &headers), ip(want), "{line:?}");
        }
    }

    #[test]
    fn ipv4_mapped_addresses_compare_as_ipv4() {
        let client_ip = trusting(&["10.0.0.0/8"]);
        let headers = forwarded(&["::ffff:1.2.3.4, ::ffff:10.0.0.9"]);
        assert_eq!(
            client_ip.client(ip("::ffff:10.0.0.1"), &headers),
            ip("1.2.3.4")
        );
        // An untrusted mapped peer comes back as plain IPv4.
        assert_eq!(
            client_ip.client(ip("::ffff:203.0.113.9"), &headers),
            ip("203.0.113.9")
        );
        // A trusted network written in mapped form trusts the IPv4 addresses.
        let mapped = trusting(&["::ffff:10.0.0.0/104"]);
        assert_eq!(
            mapped.client(ip(PROXY), &forwarded(&["1.2.3.4"])),
            ip("1.2.3.4")
        );
        assert_eq!(
            mapped.client(ip("::ffff:10.0.0.1"), &forwarded(&["1.2.3.4"])),
            ip("1.2.3.4")
        );
    }

    #[test]
    fn oversized_line_is_garbage() {
        let client_ip = trusting(&["10.0.0.0/8"]);
        let mut line = "1.1.1.1, ".repeat(MAX_FORWARDED_LINE / 9 + 1);
        line.push_str("1.2.3.4");
        assert!(line.len() > MAX_FORWARDED_LINE);
        let headers = forwarded(&[&line, "10.0.0.2"]);
        assert_eq!(client_ip.client(ip(PROXY), &headers), ip("10.0.0.2"));
        // A single huge entry is garbage too.
        let headers = forwarded(&[&"1".repeat(4000)]);
        assert_eq!(client_ip.client(ip(PROXY), &headers), ip(PROXY));
    }

    #[test]
    fn the_walk_stops_after_the_hop_limit() {
        let client_ip = trusting(&["10.0.0.0/8"]);
        let hops: Vec<String> = (0..100)
            .map(|i| format!("10.0.{}.{}", i / 250, i % 250 + 1))
            .collect();
        let mut line = String::from("1.2.3.4, ");
        line.push_str(&hops.join(", "));
        let headers = forwarded(&[&line]);
        // The 32nd entry from the right is the last one examined.
        let want = &hops[hops.len() - MAX_FORWARDED_HOPS];
        assert_eq!(client_ip.client(ip(PROXY), &headers), ip(want));
        // Within the limit, the client is found.
        let short = format!("1.2.3.4, {}", hops[..MAX_FORWARDED_HOPS - 1].join(", "));
        assert_eq!(
            client_ip.client(ip(PROXY), &forwarded(&[&short])),
            ip("1.2.3.4")
        );
    }

    #[test]
    fn non_ascii_line_is_garbage() {
        let client_ip = trusting(&["10.0.0.0/8"]);
        let mut headers = HeaderMap::new();
        headers.append(
            X_FORWARDED_FOR,
            HeaderValue::from_bytes(b"1.2.3.4\xff").unwrap(),
        );
        assert_eq!(client_ip.client(ip(PROXY), &headers), ip(PROXY));
    }
}
