//! Who the client really is behind a reverse proxy: `Forwarded`
//! (RFC 7239), `X-Forwarded-For` and `X-Forwarded-Proto`, believed only
//! when they come from a proxy the operator trusts.
//!
//! Anyone can send these headers, so they mean nothing unless the peer
//! that sent them is a known proxy. [`TrustedProxies`] lists those proxies
//! (addresses or CIDR ranges); [`resolve`] walks the forwarded chain from
//! the right, skipping trusted hops, and takes the first untrusted address
//! as the client, as nginx's `real_ip_recursive on` does. A peer that is
//! not trusted is the client, whatever it claims. This module performs no
//! I/O.

use crate::types::Headers;
use std::fmt;
use std::net::{IpAddr, SocketAddr};
use std::str::FromStr;

/// TrustedProxies is the set of peer addresses whose forwarding headers
/// are believed.
///
/// # Examples
/// ```
/// use sockhttp::TrustedProxies;
/// let trusted: TrustedProxies = "127.0.0.1, 10.0.0.0/8, ::1".parse().unwrap();
/// assert!(trusted.contains("10.1.2.3".parse().unwrap()));
/// assert!(!trusted.contains("192.0.2.1".parse().unwrap()));
/// ```
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TrustedProxies {
    nets: Vec<(IpAddr, u8)>,
}

/// InvalidProxy is the error of parsing a trusted proxy that is neither an
/// IP address nor a CIDR range.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InvalidProxy(pub String);

impl fmt::Display for InvalidProxy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "not an IP address or CIDR range: {:?}", self.0)
    }
}

impl std::error::Error for InvalidProxy {}

impl TrustedProxies {
    /// Makes an empty set: no forwarding header is believed.
    pub fn none() -> TrustedProxies {
        TrustedProxies::default()
    }

    /// Adds an address (`127.0.0.1`, `::1`) or a CIDR range (`10.0.0.0/8`).
    ///
    /// # Errors
    /// [`InvalidProxy`] if `spec` is neither.
    pub fn add(&mut self, spec: &str) -> Result<(), InvalidProxy> {
        let bad = || InvalidProxy(spec.to_owned());
        let (ip, bits) = match spec.trim().split_once('/') {
            Some((ip, bits)) => {
                let ip = IpAddr::from_str(ip).map_err(|_| bad())?;
                let bits: u8 = bits.parse().map_err(|_| bad())?;
                (ip, bits)
            }
            None => {
                let ip = IpAddr::from_str(spec.trim()).map_err(|_| bad())?;
                (ip, if ip.is_ipv4() { 32 } else { 128 })
            }
        };
        let max = if ip.is_ipv4() { 32 } else { 128 };
        if bits > max {
            return Err(bad());
        }
        self.nets.push((ip, bits));
        Ok(())
    }

    /// Reports whether the set holds no proxy.
    pub fn is_empty(&self) -> bool {
        self.nets.is_empty()
    }

    /// Reports whether `ip` is a trusted proxy. IPv4-mapped IPv6
    /// addresses (`::ffff:127.0.0.1`) match their IPv4 form.
    pub fn contains(&self, ip: IpAddr) -> bool {
        let ip = canonical(ip);
        self.nets
            .iter()
            .any(|&(net, bits)| in_net(ip, canonical(net), bits))
    }
}

impl FromStr for TrustedProxies {
    type Err = InvalidProxy;

    /// Parses a comma-separated list of addresses and CIDR ranges.
    fn from_str(s: &str) -> Result<TrustedProxies, InvalidProxy> {
        let mut t = TrustedProxies::none();
        for part in s.split(',').filter(|p| !p.trim().is_empty()) {
            t.add(part)?;
        }
        Ok(t)
    }
}

fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        v4 => v4,
    }
}

fn in_net(ip: IpAddr, net: IpAddr, bits: u8) -> bool {
    let mask = |width: u32| {
        if bits == 0 {
            0
        } else {
            u128::MAX << (width - u32::from(bits))
        }
    };
    match (ip, net) {
        (IpAddr::V4(a), IpAddr::V4(b)) => {
            let m = mask(32) as u32;
            u32::from(a) & m == u32::from(b) & m
        }
        (IpAddr::V6(a), IpAddr::V6(b)) => {
            let m = mask(128);
            u128::from(a) & m == u128::from(b) & m
        }
        _ => false,
    }
}

/// Forwarded is what the request says about its origin once the proxy
/// chain has been checked.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Forwarded {
    /// The client's address: the peer itself unless it is a trusted proxy
    /// that forwarded for someone else. A forwarded address carries port 0
    /// when the header gave none.
    pub client: SocketAddr,
    /// The scheme the client used (`http` or `https`), when a trusted proxy
    /// said so.
    pub proto: Option<String>,
}

/// Resolves the client behind `peer` from `headers`, believing them only
/// as far as `trusted` allows.
///
/// `Forwarded` is used when present, else `X-Forwarded-For` with
/// `X-Forwarded-Proto`. The chain is walked from the nearest hop: while
/// the hop is a trusted proxy, the address it forwarded for is the next
/// hop; the first untrusted hop is the client. An element that does not
/// parse (`unknown`, an obfuscated name, garbage) stops the walk at the
/// last address known good.
///
/// The scheme is the one reported by the farthest trusted hop that
/// reported one, even when that hop did not name its client
/// (`Forwarded: for=unknown;proto=https`, or `X-Forwarded-Proto` without
/// `X-Forwarded-For`). A value that is not a URI scheme (RFC 3986 §3.1)
/// is ignored.
pub fn resolve(peer: SocketAddr, headers: &Headers, trusted: &TrustedProxies) -> Forwarded {
    let mut out = Forwarded {
        client: peer,
        proto: None,
    };
    if trusted.is_empty() || !trusted.contains(peer.ip()) {
        return out;
    }
    let chain: Vec<(Option<SocketAddr>, Option<String>)> = if headers.contains("forwarded") {
        headers
            .get_all("forwarded")
            .flat_map(parse_forwarded)
            .collect()
    } else {
        let proto = headers
            .get_all("x-forwarded-proto")
            .flat_map(|v| v.split(','))
            .last()
            .map(str::to_owned);
        let mut fors: Vec<(Option<SocketAddr>, Option<String>)> = headers
            .get_all("x-forwarded-for")
            .flat_map(|v| v.split(','))
            .map(|a| (parse_node(a.trim()), None))
            .collect();
        // X-Forwarded-Proto normally has one value, set by the nearest
        // proxy; it goes with the nearest hop, or stands alone when that
        // proxy sent no X-Forwarded-For.
        match fors.last_mut() {
            Some(nearest) => nearest.1 = proto,
            None => fors.push((None, proto)),
        }
        fors
    };
    // Each element was added by the hop that is `out.client` when it is
    // reached, a trusted proxy: its scheme is believed before its address
    // is looked at.
    for (addr, proto) in chain.into_iter().rev() {
        if let Some(p) = proto.as_deref().and_then(parse_scheme) {
            out.proto = Some(p);
        }
        let Some(addr) = addr else {
            break;
        };
        out.client = addr;
        if !trusted.contains(addr.ip()) {
            break;
        }
    }
    out
}

/// Parses a scheme (`http`, `https`): `ALPHA *( ALPHA / DIGIT / "+" /
/// "-" / "." )`, returned in lower case; `None` for anything else.
fn parse_scheme(s: &str) -> Option<String> {
    let s = s.trim();
    let mut bytes = s.bytes();
    let first_ok = bytes.next().is_some_and(|b| b.is_ascii_alphabetic());
    let rest_ok = bytes.all(|b| b.is_ascii_alphanumeric() || matches!(b, b'+' | b'-' | b'.'));
    (first_ok && rest_ok).then(|| s.to_ascii_lowercase())
}

/// Parses one `Forwarded` field value into its elements' `for` and
/// `proto` parameters (RFC 7239 §4).
fn parse_forwarded(value: &str) -> Vec<(Option<SocketAddr>, Option<String>)> {
    split_unquoted(value, ',')
        .into_iter()
        .map(|element| {
            let mut node = None;
            let mut proto = None;
            for pair in split_unquoted(element, ';') {
                let Some((k, v)) = pair.split_once('=') else {
                    continue;
                };
                let v = v.trim().trim_matches('"');
                match k.trim().to_ascii_lowercase().as_str() {
                    "for" => node = parse_node(v),
                    "proto" => proto = Some(v.to_owned()),
                    _ => {}
                }
            }
            (node, proto)
        })
        .collect()
}

/// Splits on `sep` outside double quotes.
fn split_unquoted(s: &str, sep: char) -> Vec<&str> {
    let mut parts = Vec::new();
    let (mut start, mut quoted) = (0, false);
    for (i, c) in s.char_indices() {
        match c {
            '"' => quoted = !quoted,
            c if c == sep && !quoted => {
                parts.push(&s[start..i]);
                start = i + c.len_utf8();
            }
            _ => {}
        }
    }
    parts.push(&s[start..]);
    parts
}

/// Parses a node: `192.0.2.1`, `192.0.2.1:8080`, `[2001:db8::1]`,
/// `[2001:db8::1]:4711`, or a bare IPv6 address (as `X-Forwarded-For`
/// carries it). A missing port is 0.
fn parse_node(s: &str) -> Option<SocketAddr> {
    if let Ok(a) = s.parse::<SocketAddr>() {
        return Some(a);
    }
    let bare = s
        .strip_prefix('[')
        .and_then(|r| r.strip_suffix(']'))
        .unwrap_or(s);
    bare.parse::<IpAddr>().ok().map(|ip| SocketAddr::new(ip, 0))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&str, &str)]) -> Headers {
        let mut h = Headers::new();
        for (n, v) in pairs {
            h.append(n.to_string(), v.to_string());
        }
        h
    }

    #[test]
    #[allow(clippy::type_complexity)]
    fn resolves_the_client_table() {
        let trusted: TrustedProxies = "127.0.0.1, 10.0.0.0/8".parse().unwrap();
        let proxy: SocketAddr = "127.0.0.1:5000".parse().unwrap();
        let stranger: SocketAddr = "198.51.100.7:5000".parse().unwrap();
        let cases: &[(&str, SocketAddr, &[(&str, &str)], &str, Option<&str>)] = &[
            (
                "untrusted peer is the client",
                stranger,
                &[("X-Forwarded-For", "1.2.3.4")],
                "198.51.100.7:5000",
                None,
            ),
            (
                "trusted proxy, one hop",
                proxy,
                &[
                    ("X-Forwarded-For", "203.0.113.9"),
                    ("X-Forwarded-Proto", "https"),
                ],
                "203.0.113.9:0",
                Some("https"),
            ),
            (
                "spoofed left part ignored",
                proxy,
                &[("X-Forwarded-For", "6.6.6.6, 203.0.113.9")],
                "203.0.113.9:0",
                None,
            ),
            (
                "trusted hops skipped",
                proxy,
                &[("X-Forwarded-For", "203.0.113.9, 10.1.1.1")],
                "203.0.113.9:0",
                None,
            ),
            (
                "all trusted: leftmost",
                proxy,
                &[("X-Forwarded-For", "10.0.0.2, 10.1.1.1")],
                "10.0.0.2:0",
                None,
            ),
            (
                "garbage stops the walk",
                proxy,
                &[("X-Forwarded-For", "evil, 10.1.1.1")],
                "10.1.1.1:0",
                None,
            ),
            ("no header", proxy, &[], "127.0.0.1:5000", None),
            (
                "Forwarded wins",
                proxy,
                &[
                    ("Forwarded", "for=192.0.2.60;proto=HTTPS;by=203.0.113.43"),
                    ("X-Forwarded-For", "6.6.6.6"),
                ],
                "192.0.2.60:0",
                Some("https"),
            ),
            (
                "Forwarded ipv6 with port",
                proxy,
                &[("Forwarded", "for=\"[2001:db8:cafe::17]:4711\"")],
                "[2001:db8:cafe::17]:4711",
                None,
            ),
            (
                "Forwarded list",
                proxy,
                &[("Forwarded", "for=6.6.6.6, for=192.0.2.43")],
                "192.0.2.43:0",
                None,
            ),
            (
                "Forwarded unknown",
                proxy,
                &[("Forwarded", "for=unknown")],
                "127.0.0.1:5000",
                None,
            ),
            (
                "a trusted hop's proto counts when its client is unknown",
                proxy,
                &[("Forwarded", "for=unknown;proto=https")],
                "127.0.0.1:5000",
                Some("https"),
            ),
            (
                "the farthest trusted hop's proto wins",
                proxy,
                &[(
                    "Forwarded",
                    "for=192.0.2.1;proto=https, for=10.0.0.5;proto=http",
                )],
                "192.0.2.1:0",
                Some("https"),
            ),
            (
                "an untrusted hop's proto is not believed",
                proxy,
                &[(
                    "Forwarded",
                    "for=6.6.6.6;proto=gopher, for=192.0.2.43;proto=https",
                )],
                "192.0.2.43:0",
                Some("https"),
            ),
            (
                "X-Forwarded-Proto without X-Forwarded-For",
                proxy,
                &[("X-Forwarded-Proto", "HTTPS")],
                "127.0.0.1:5000",
                Some("https"),
            ),
            (
                "X-Forwarded-Proto from an untrusted peer",
                stranger,
                &[("X-Forwarded-Proto", "https")],
                "198.51.100.7:5000",
                None,
            ),
            (
                "a proto that is not a scheme is ignored",
                proxy,
                &[
                    ("X-Forwarded-For", "203.0.113.9"),
                    ("X-Forwarded-Proto", "https <script>"),
                ],
                "203.0.113.9:0",
                None,
            ),
            (
                "an empty proto is ignored",
                proxy,
                &[("Forwarded", "for=192.0.2.60;proto=\"\"")],
                "192.0.2.60:0",
                None,
            ),
        ];
        for (name, peer, h, want, proto) in cases {
            let got = resolve(*peer, &headers(h), &trusted);
            assert_eq!(got.client.to_string(), *want, "{name}");
            assert_eq!(got.proto.as_deref(), *proto, "{name}");
        }
    }

    #[test]
    fn schemes_parse_in_lower_case_and_nothing_else_does() {
        assert_eq!(parse_scheme("HTTPS").as_deref(), Some("https"));
        assert_eq!(parse_scheme(" git+ssh ").as_deref(), Some("git+ssh"));
        for bad in ["", "1http", "ht tp", "http:", "https/1.1", "é"] {
            assert_eq!(parse_scheme(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn cidr_matching() {
        let t: TrustedProxies = "192.168.0.0/16, fd00::/8, 0.0.0.0/0".parse().unwrap();
        assert!(t.contains("8.8.8.8".parse().unwrap()));
        assert!(t.contains("fd12::1".parse().unwrap()));
        assert!(!t.contains("2001:db8::1".parse().unwrap()));
        let t: TrustedProxies = "127.0.0.1".parse().unwrap();
        assert!(t.contains("::ffff:127.0.0.1".parse().unwrap()));
        assert!("10.0.0.0/33".parse::<TrustedProxies>().is_err());
        assert!("localhost".parse::<TrustedProxies>().is_err());
    }
}
