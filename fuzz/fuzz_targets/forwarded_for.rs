//! The client address behind trusted proxies: `ClientIp::client` on any `X-Forwarded-For`
//! lines.
//!
//! Input: one control byte (bits 0-1 pick the TCP peer, bits 2-3 the trusted networks), then
//! the header lines, separated by `\n`; a line that is not a valid header value is dropped, as
//! the HTTP parser would refuse it. Invariants: nothing panics; an untrusted peer is the client
//! whatever the header says; the answer is canonical (IPv4-mapped addresses read as IPv4).
#![no_main]

use std::net::IpAddr;
use std::sync::OnceLock;

use gatehouse::security::client_ip::ClientIp;
use http::{HeaderMap, HeaderValue};
use ipnet::IpNet;
use libfuzzer_sys::fuzz_target;

const PEERS: [&str; 4] = ["10.0.0.1", "::ffff:10.0.0.1", "fd00::1", "203.0.113.9"];

const TRUSTED: [&[&str]; 4] = [
    &[],
    &["10.0.0.0/8"],
    &["10.0.0.0/8", "192.168.0.0/16", "fd00::/8"],
    &["::ffff:10.0.0.0/104", "0.0.0.0/0"],
];

fn configs() -> &'static [ClientIp] {
    static CONFIGS: OnceLock<Vec<ClientIp>> = OnceLock::new();
    CONFIGS.get_or_init(|| {
        TRUSTED
            .iter()
            .map(|nets| {
                let nets: Vec<IpNet> = nets.iter().map(|n| n.parse().unwrap()).collect();
                ClientIp::new(&nets)
            })
            .collect()
    })
}

fuzz_target!(|data: &[u8]| {
    let Some((&control, rest)) = data.split_first() else {
        return;
    };
    let peer: IpAddr = PEERS[usize::from(control & 3)].parse().unwrap();
    let config = usize::from((control >> 2) & 3);
    let client_ip = &configs()[config];

    let mut headers = HeaderMap::new();
    for line in rest.split(|&b| b == b'\n') {
        if let Ok(value) = HeaderValue::from_bytes(line) {
            headers.append("x-forwarded-for", value);
        }
    }
    let client = client_ip.client(peer, &headers);
    assert_eq!(client, client.to_canonical(), "non-canonical answer");
    let untrusted = ClientIp::new(&[]).client(peer, &headers);
    assert_eq!(
        untrusted,
        peer.to_canonical(),
        "the header moved an untrusted peer"
    );
    if config == 0 {
        assert_eq!(client, peer.to_canonical());
    }
});
