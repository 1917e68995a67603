//! Who the client really is behind a reverse proxy: `Forwarded`
//! (RFC 7239), `X-Forwarded-For` and `X-Forwarded-Proto`, believed only
//! when they come from a proxy the operator trusts.
//!
//! Anyone can send these headers, so they mean nothing unless the peer
//! that sent them is a known proxy. [`TrustedProxies`] lists those proxies
//! (addresses or CIDR ranges) and names the one header family they set
//! ([`ForwardingHeader`]: `X-Forwarded-For` by default, or `Forwarded`);
//! [`resolve`] reads only that family, walks its chain from the right,
//! skipping trusted hops, and takes the first untrusted address as the
//! client, as nginx's `real_ip_header` and `real_ip_recursive on` do. A
//! peer that is not trusted is the client, whatever it claims.
//!
//! A proxy on the same machine may connect over a Unix domain socket,
//! whose peer has no address: `unix:` in the list trusts such peers, as
//! nginx's `set_real_ip_from unix:` does. The chain may name one too
//! (nginx writes `unix:` for a client that came to it over a Unix
//! socket); such a hop is trusted only when `unix:` is.
//!
//! Only one family is read because a proxy sets one and passes the other
//! through as the client sent it: behind nginx, which sets
//! `X-Forwarded-For` and leaves a `Forwarded` header alone, a client
//! sending `Forwarded: for=1.2.3.4` would otherwise become 1.2.3.4. This
//! module performs no I/O.

use crate::peer::Peer;
use crate::types::Headers;
use std::fmt;
use std::net::{IpAddr, SocketAddr};
use std::str::FromStr;

/// TrustedProxies is the set of peer addresses whose forwarding headers
/// are believed, whether peers over a Unix domain socket are, and the
/// header family those peers set ([`ForwardingHeader::XForwardedFor`]
/// unless [`header`](Self::header) says otherwise).
///
/// # Examples
/// ```
/// use sockhttp::{Peer, TrustedProxies};
/// let trusted: TrustedProxies = "127.0.0.1, 10.0.0.0/8, ::1".parse().unwrap();
/// assert!(trusted.contains("10.1.2.3".parse().unwrap()));
/// assert!(!trusted.contains("192.0.2.1".parse().unwrap()));
/// assert!(!trusted.contains_peer(Peer::Unix));
///
/// // nginx on this machine, proxying over a Unix socket.
/// let trusted: TrustedProxies = "unix:".parse().unwrap();
/// assert!(trusted.contains_peer(Peer::Unix));
/// assert_eq!(trusted, TrustedProxies::none().unix(true));
/// ```
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TrustedProxies {
    nets: Vec<(IpAddr, u8)>,
    /// Whether a peer over a Unix domain socket is trusted.
    unix: bool,
    header: ForwardingHeader,
}

/// ForwardingHeader names the header family that trusted proxies set to
/// say who the client is. Only that family is read; the other is ignored
/// entirely, as with nginx's `real_ip_header`.
///
/// A proxy sets its own family and passes every other header through as
/// the client sent it, so a header the proxies do not set is the client's
/// word: believing it would let any client name itself. nginx
/// (`$proxy_add_x_forwarded_for`), HAProxy (`option forwardfor`) and
/// cloud load balancers set `X-Forwarded-For` by default, hence the
/// default; choose [`Forwarded`](Self::Forwarded) only when every trusted
/// proxy sets `Forwarded` (nginx: `proxy_set_header Forwarded ...`;
/// HAProxy: `option forwarded`).
///
/// # Examples
/// ```
/// use sockhttp::forwarded::resolve;
/// use sockhttp::{ForwardingHeader, Headers, TrustedProxies};
///
/// let mut headers = Headers::new();
/// headers.append("X-Forwarded-For", "203.0.113.9");
/// headers.append("Forwarded", "for=192.0.2.60;proto=https");
/// let peer = "10.0.0.1:5000".parse()?;
///
/// // The default: the proxies set X-Forwarded-For; a Forwarded header
/// // came from the client and is ignored.
/// let trusted: TrustedProxies = "10.0.0.0/8".parse()?;
/// assert_eq!(resolve(peer, &headers, &trusted).client.to_string(), "203.0.113.9:0");
///
/// // Proxies that set Forwarded: X-Forwarded-For is ignored instead.
/// let trusted = trusted.header(ForwardingHeader::Forwarded);
/// let client = resolve(peer, &headers, &trusted);
/// assert_eq!(client.client.to_string(), "192.0.2.60:0");
/// assert_eq!(client.proto.as_deref(), Some("https"));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ForwardingHeader {
    /// `X-Forwarded-For`, with the scheme from `X-Forwarded-Proto`; a
    /// `Forwarded` header is ignored. The default.
    #[default]
    XForwardedFor,
    /// `Forwarded` (RFC 7239), with the scheme from its `proto=`
    /// parameter; `X-Forwarded-For` and `X-Forwarded-Proto` are ignored.
    Forwarded,
}

/// InvalidProxy is the error of parsing a trusted proxy that is neither an
/// IP address, a CIDR range, nor `unix:`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InvalidProxy(pub String);

impl fmt::Display for InvalidProxy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "not an IP address, CIDR range or unix: {:?}", self.0)
    }
}

impl std::error::Error for InvalidProxy {}

impl TrustedProxies {
    /// Makes an empty set: no forwarding header is believed.
    pub fn none() -> TrustedProxies {
        TrustedProxies::default()
    }

    /// Sets the header family the proxies set, the only one read
    /// ([`ForwardingHeader::XForwardedFor`] by default).
    ///
    /// # Examples
    /// ```
    /// use sockhttp::{ForwardingHeader, Server, TrustedProxies};
    ///
    /// // Behind proxies that set `Forwarded: for=...;proto=...`.
    /// let trusted: TrustedProxies = "10.0.0.0/8".parse()?;
    /// let server = Server::bind("127.0.0.1:0")?
    ///     .trusted_proxies(trusted.header(ForwardingHeader::Forwarded));
    /// # drop(server);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[must_use]
    pub fn header(mut self, header: ForwardingHeader) -> TrustedProxies {
        self.header = header;
        self
    }

    /// Sets whether a peer connected over a Unix domain socket is a
    /// trusted proxy (not by default): for nginx on the same machine
    /// proxying to a [`Server::bind_unix`](crate::Server::bind_unix)
    /// socket, as nginx's own `set_real_ip_from unix:` trusts its Unix
    /// socket peers. Only processes that can open the socket file connect
    /// over it, so its permissions decide who is trusted.
    ///
    /// # Examples
    /// ```
    /// use sockhttp::TrustedProxies;
    ///
    /// // nginx over a Unix socket, and the balancer nginx trusts on TCP.
    /// let trusted: TrustedProxies = "10.0.0.5".parse()?;
    /// let trusted = trusted.unix(true);
    /// assert_eq!(trusted, "unix:, 10.0.0.5".parse()?);
    /// # Ok::<(), sockhttp::forwarded::InvalidProxy>(())
    /// ```
    #[must_use]
    pub fn unix(mut self, trusted: bool) -> TrustedProxies {
        self.unix = trusted;
        self
    }

    /// Adds an address (`127.0.0.1`, `::1`), a CIDR range (`10.0.0.0/8`),
    /// or `unix:`, which trusts peers over a Unix domain socket (see
    /// [`TrustedProxies::unix`]).
    ///
    /// # Errors
    /// [`InvalidProxy`] if `spec` is none of these.
    pub fn add(&mut self, spec: &str) -> Result<(), InvalidProxy> {
        if spec.trim() == "unix:" {
            self.unix = true;
            return Ok(());
        }
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

    /// Reports whether the set holds no proxy (no address, and not
    /// `unix:`).
    pub fn is_empty(&self) -> bool {
        self.nets.is_empty() && !self.unix
    }

    /// Reports whether `peer` is a trusted proxy: its IP address is in the
    /// set ([`TrustedProxies::contains`]), or it came over a Unix domain
    /// socket and `unix:` is trusted.
    pub fn contains_peer(&self, peer: Peer) -> bool {
        match peer {
            Peer::Tcp(addr) => self.contains(addr.ip()),
            Peer::Unix => self.unix,
        }
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

    /// Parses a comma-separated list of addresses, CIDR ranges and
    /// `unix:` (`"unix:, 127.0.0.1, 10.0.0.0/8"`).
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
/// Only the family `trusted` names is read: `X-Forwarded-For` with
/// `X-Forwarded-Proto` ([`ForwardingHeader::XForwardedFor`], the
/// default), or `Forwarded` ([`ForwardingHeader::Forwarded`]); the other
/// is ignored even when it is the only one present.
///
/// The chain is walked from the nearest hop: while the hop is a trusted
/// proxy, the address it forwarded for is the next hop; the first
/// untrusted hop is the client. An element that does not parse
/// (`unknown`, an obfuscated name, garbage) stops the walk at the last
/// address known good.
///
/// The scheme is the one reported by the farthest trusted hop that
/// reported one, even when that hop did not name its client
/// (`Forwarded: for=unknown;proto=https`, or `X-Forwarded-Proto` without
/// `X-Forwarded-For`). A value that is not a URI scheme (RFC 3986 §3.1)
/// is ignored.
///
/// A hop written `unix:` (one that reached a proxy over a Unix socket) is
/// passed over when `unix:` is trusted, and is otherwise the client, as
/// any untrusted hop. Such a client has no address: this function, which
/// returns one, then returns the last address of the walk (the proxy
/// that forwarded for it), while
/// [`Request::client`](crate::Request::client) says [`Peer::Unix`].
pub fn resolve(peer: SocketAddr, headers: &Headers, trusted: &TrustedProxies) -> Forwarded {
    let resolved = resolve_peer(Peer::Tcp(peer), headers, trusted);
    Forwarded {
        client: resolved.last_addr.unwrap_or(peer),
        proto: resolved.proto,
    }
}

/// Resolved is what [`resolve_peer`] found: the client, of either kind.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Resolved {
    /// The client: the peer itself unless it is a trusted proxy.
    pub(crate) client: Peer,
    /// The scheme the client used, when a trusted proxy said so.
    pub(crate) proto: Option<String>,
    /// The last address of the walk: the client's when it has one.
    last_addr: Option<SocketAddr>,
}

/// Resolves the client behind `peer`, a TCP peer or a Unix socket's, as
/// [`resolve`] does.
pub(crate) fn resolve_peer(peer: Peer, headers: &Headers, trusted: &TrustedProxies) -> Resolved {
    let mut out = Resolved {
        client: peer,
        proto: None,
        last_addr: peer.addr(),
    };
    if trusted.is_empty() || !trusted.contains_peer(peer) {
        return out;
    }
    // Never both: the family the proxies do not set reaches us as the
    // client wrote it.
    let chain: Vec<(Option<Peer>, Option<String>)> = match trusted.header {
        ForwardingHeader::Forwarded => headers
            .get_all("forwarded")
            .flat_map(parse_forwarded)
            .collect(),
        ForwardingHeader::XForwardedFor => {
            let proto = headers
                .get_all("x-forwarded-proto")
                .flat_map(|v| v.split(','))
                .last()
                .map(str::to_owned);
            let mut fors: Vec<(Option<Peer>, Option<String>)> = headers
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
        }
    };
    // Each element was added by the hop that is `out.client` when it is
    // reached, a trusted proxy: its scheme is believed before its address
    // is looked at.
    for (addr, proto) in chain.into_iter().rev() {
        if let Some(p) = proto.as_deref().and_then(parse_scheme) {
            out.proto = Some(p);
        }
        let Some(hop) = addr else {
            break;
        };
        out.client = hop;
        if let Some(addr) = hop.addr() {
            out.last_addr = Some(addr);
        }
        if !trusted.contains_peer(hop) {
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
fn parse_forwarded(value: &str) -> Vec<(Option<Peer>, Option<String>)> {
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
/// carries it); a missing port is 0. `unix:` (with or without a path
/// after it) is a client that came over a Unix domain socket, as nginx
/// writes its `$remote_addr`.
fn parse_node(s: &str) -> Option<Peer> {
    if s.starts_with("unix:") {
        return Some(Peer::Unix);
    }
    if let Ok(a) = s.parse::<SocketAddr>() {
        return Some(Peer::Tcp(a));
    }
    let bare = s
        .strip_prefix('[')
        .and_then(|r| r.strip_suffix(']'))
        .unwrap_or(s);
    bare.parse::<IpAddr>()
        .ok()
        .map(|ip| Peer::Tcp(SocketAddr::new(ip, 0)))
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

    /// One row of the resolution table: what `peer` sent, which family the
    /// trusted proxies set, and the client and scheme that must come out.
    struct Case {
        name: &'static str,
        peer: &'static str,
        header: ForwardingHeader,
        headers: &'static [(&'static str, &'static str)],
        want: &'static str,
        proto: Option<&'static str>,
    }

    const PROXY: &str = "127.0.0.1:5000";
    const STRANGER: &str = "198.51.100.7:5000";
    const XFF: ForwardingHeader = ForwardingHeader::XForwardedFor;
    const RFC7239: ForwardingHeader = ForwardingHeader::Forwarded;

    const CASES: &[Case] = &[
        Case {
            name: "untrusted peer is the client",
            peer: STRANGER,
            header: XFF,
            headers: &[("X-Forwarded-For", "1.2.3.4")],
            want: "198.51.100.7:5000",
            proto: None,
        },
        Case {
            name: "untrusted peer is the client, Forwarded chosen",
            peer: STRANGER,
            header: RFC7239,
            headers: &[("Forwarded", "for=1.2.3.4;proto=https")],
            want: "198.51.100.7:5000",
            proto: None,
        },
        Case {
            name: "trusted proxy, one hop",
            peer: PROXY,
            header: XFF,
            headers: &[
                ("X-Forwarded-For", "203.0.113.9"),
                ("X-Forwarded-Proto", "https"),
            ],
            want: "203.0.113.9:0",
            proto: Some("https"),
        },
        Case {
            name: "spoofed left part ignored",
            peer: PROXY,
            header: XFF,
            headers: &[("X-Forwarded-For", "6.6.6.6, 203.0.113.9")],
            want: "203.0.113.9:0",
            proto: None,
        },
        Case {
            name: "trusted hops skipped",
            peer: PROXY,
            header: XFF,
            headers: &[("X-Forwarded-For", "203.0.113.9, 10.1.1.1")],
            want: "203.0.113.9:0",
            proto: None,
        },
        Case {
            name: "all trusted: leftmost",
            peer: PROXY,
            header: XFF,
            headers: &[("X-Forwarded-For", "10.0.0.2, 10.1.1.1")],
            want: "10.0.0.2:0",
            proto: None,
        },
        Case {
            name: "garbage stops the walk",
            peer: PROXY,
            header: XFF,
            headers: &[("X-Forwarded-For", "evil, 10.1.1.1")],
            want: "10.1.1.1:0",
            proto: None,
        },
        Case {
            name: "no header",
            peer: PROXY,
            header: XFF,
            headers: &[],
            want: "127.0.0.1:5000",
            proto: None,
        },
        Case {
            name: "no header, Forwarded chosen",
            peer: PROXY,
            header: RFC7239,
            headers: &[],
            want: "127.0.0.1:5000",
            proto: None,
        },
        // The default reads X-Forwarded-For only: a proxy that sets it
        // passes a client's own Forwarded header through untouched.
        Case {
            name: "by default a client's Forwarded alone is ignored",
            peer: PROXY,
            header: XFF,
            headers: &[("Forwarded", "for=192.0.2.60;proto=https")],
            want: "127.0.0.1:5000",
            proto: None,
        },
        Case {
            name: "by default a client's Forwarded beside X-Forwarded-For is ignored",
            peer: PROXY,
            header: XFF,
            headers: &[
                ("Forwarded", "for=6.6.6.6;proto=https"),
                ("X-Forwarded-For", "203.0.113.9"),
                ("X-Forwarded-Proto", "http"),
            ],
            want: "203.0.113.9:0",
            proto: Some("http"),
        },
        Case {
            name: "by default a Forwarded proto does not stand in for X-Forwarded-Proto",
            peer: PROXY,
            header: XFF,
            headers: &[
                ("X-Forwarded-For", "203.0.113.9"),
                ("Forwarded", "for=203.0.113.9;proto=https"),
            ],
            want: "203.0.113.9:0",
            proto: None,
        },
        // With Forwarded chosen, the X-Forwarded-* headers are the
        // client's own.
        Case {
            name: "Forwarded chosen: X-Forwarded-For alone is ignored",
            peer: PROXY,
            header: RFC7239,
            headers: &[
                ("X-Forwarded-For", "6.6.6.6"),
                ("X-Forwarded-Proto", "https"),
            ],
            want: "127.0.0.1:5000",
            proto: None,
        },
        Case {
            name: "Forwarded chosen: X-Forwarded-* beside it are ignored",
            peer: PROXY,
            header: RFC7239,
            headers: &[
                ("Forwarded", "for=192.0.2.60;proto=HTTPS;by=203.0.113.43"),
                ("X-Forwarded-For", "6.6.6.6"),
                ("X-Forwarded-Proto", "http"),
            ],
            want: "192.0.2.60:0",
            proto: Some("https"),
        },
        Case {
            name: "Forwarded chosen: X-Forwarded-Proto does not stand in for proto=",
            peer: PROXY,
            header: RFC7239,
            headers: &[
                ("Forwarded", "for=192.0.2.60"),
                ("X-Forwarded-Proto", "https"),
            ],
            want: "192.0.2.60:0",
            proto: None,
        },
        Case {
            name: "Forwarded ipv6 with port",
            peer: PROXY,
            header: RFC7239,
            headers: &[("Forwarded", "for=\"[2001:db8:cafe::17]:4711\"")],
            want: "[2001:db8:cafe::17]:4711",
            proto: None,
        },
        Case {
            name: "Forwarded list",
            peer: PROXY,
            header: RFC7239,
            headers: &[("Forwarded", "for=6.6.6.6, for=192.0.2.43")],
            want: "192.0.2.43:0",
            proto: None,
        },
        Case {
            name: "Forwarded unknown",
            peer: PROXY,
            header: RFC7239,
            headers: &[("Forwarded", "for=unknown")],
            want: "127.0.0.1:5000",
            proto: None,
        },
        Case {
            name: "a trusted hop's proto counts when its client is unknown",
            peer: PROXY,
            header: RFC7239,
            headers: &[("Forwarded", "for=unknown;proto=https")],
            want: "127.0.0.1:5000",
            proto: Some("https"),
        },
        Case {
            name: "the farthest trusted hop's proto wins",
            peer: PROXY,
            header: RFC7239,
            headers: &[(
                "Forwarded",
                "for=192.0.2.1;proto=https, for=10.0.0.5;proto=http",
            )],
            want: "192.0.2.1:0",
            proto: Some("https"),
        },
        Case {
            name: "an untrusted hop's proto is not believed",
            peer: PROXY,
            header: RFC7239,
            headers: &[(
                "Forwarded",
                "for=6.6.6.6;proto=gopher, for=192.0.2.43;proto=https",
            )],
            want: "192.0.2.43:0",
            proto: Some("https"),
        },
        Case {
            name: "X-Forwarded-Proto without X-Forwarded-For",
            peer: PROXY,
            header: XFF,
            headers: &[("X-Forwarded-Proto", "HTTPS")],
            want: "127.0.0.1:5000",
            proto: Some("https"),
        },
        Case {
            name: "X-Forwarded-Proto from an untrusted peer",
            peer: STRANGER,
            header: XFF,
            headers: &[("X-Forwarded-Proto", "https")],
            want: "198.51.100.7:5000",
            proto: None,
        },
        Case {
            name: "a proto that is not a scheme is ignored",
            peer: PROXY,
            header: XFF,
            headers: &[
                ("X-Forwarded-For", "203.0.113.9"),
                ("X-Forwarded-Proto", "https <script>"),
            ],
            want: "203.0.113.9:0",
            proto: None,
        },
        Case {
            name: "an empty proto is ignored",
            peer: PROXY,
            header: RFC7239,
            headers: &[("Forwarded", "for=192.0.2.60;proto=\"\"")],
            want: "192.0.2.60:0",
            proto: None,
        },
    ];

    #[test]
    fn resolves_the_client_table() {
        let trusted: TrustedProxies = "127.0.0.1, 10.0.0.0/8".parse().unwrap();
        for c in CASES {
            let peer: SocketAddr = c.peer.parse().unwrap();
            let trusted = trusted.clone().header(c.header);
            let got = resolve(peer, &headers(c.headers), &trusted);
            assert_eq!(
                (got.client.to_string().as_str(), got.proto.as_deref()),
                (c.want, c.proto),
                "{}: resolve({peer}, {:?}, {:?})",
                c.name,
                c.headers,
                c.header,
            );
            // The same through the resolver of peers of either kind.
            let got = resolve_peer(Peer::Tcp(peer), &headers(c.headers), &trusted);
            assert_eq!(
                (got.client.to_string().as_str(), got.proto.as_deref()),
                (c.want, c.proto),
                "{}: resolve_peer({peer})",
                c.name,
            );
        }
    }

    /// One row of the table of peers over Unix sockets, and of `unix:`
    /// hops: the trusted set too, since it decides whether `unix:` is
    /// believed.
    struct UnixCase {
        name: &'static str,
        trusted: &'static str,
        /// `unix:`, or a TCP peer's address.
        peer: &'static str,
        header: ForwardingHeader,
        headers: &'static [(&'static str, &'static str)],
        /// The client as [`Peer`] writes it.
        want: &'static str,
        proto: Option<&'static str>,
    }

    const NGINX_UNIX: &str = "unix:, 10.0.0.0/8";

    const UNIX_CASES: &[UnixCase] = &[
        UnixCase {
            name: "nginx over a trusted Unix socket names the client",
            trusted: NGINX_UNIX,
            peer: "unix:",
            header: XFF,
            headers: &[
                ("X-Forwarded-For", "203.0.113.9"),
                ("X-Forwarded-Proto", "https"),
            ],
            want: "203.0.113.9:0",
            proto: Some("https"),
        },
        UnixCase {
            name: "a trusted Unix peer with no header is the client",
            trusted: NGINX_UNIX,
            peer: "unix:",
            header: XFF,
            headers: &[],
            want: "unix:",
            proto: None,
        },
        UnixCase {
            name: "behind a Unix socket, a spoofed left part is ignored",
            trusted: NGINX_UNIX,
            peer: "unix:",
            header: XFF,
            headers: &[("X-Forwarded-For", "6.6.6.6, 203.0.113.9")],
            want: "203.0.113.9:0",
            proto: None,
        },
        UnixCase {
            name: "behind a Unix socket, trusted hops are skipped",
            trusted: NGINX_UNIX,
            peer: "unix:",
            header: XFF,
            headers: &[("X-Forwarded-For", "203.0.113.9, 10.1.1.1")],
            want: "203.0.113.9:0",
            proto: None,
        },
        UnixCase {
            name: "behind a Unix socket, Forwarded chosen",
            trusted: NGINX_UNIX,
            peer: "unix:",
            header: RFC7239,
            headers: &[
                ("Forwarded", "for=192.0.2.60;proto=https"),
                ("X-Forwarded-For", "6.6.6.6"),
            ],
            want: "192.0.2.60:0",
            proto: Some("https"),
        },
        UnixCase {
            name: "behind a Unix socket, the other family is ignored",
            trusted: NGINX_UNIX,
            peer: "unix:",
            header: XFF,
            headers: &[("Forwarded", "for=6.6.6.6;proto=https")],
            want: "unix:",
            proto: None,
        },
        UnixCase {
            name: "an untrusted Unix peer is the client, whatever it claims",
            trusted: "127.0.0.1, 10.0.0.0/8",
            peer: "unix:",
            header: XFF,
            headers: &[
                ("X-Forwarded-For", "203.0.113.9"),
                ("X-Forwarded-Proto", "https"),
            ],
            want: "unix:",
            proto: None,
        },
        UnixCase {
            name: "an empty set trusts no Unix peer",
            trusted: "",
            peer: "unix:",
            header: XFF,
            headers: &[("X-Forwarded-For", "203.0.113.9")],
            want: "unix:",
            proto: None,
        },
        UnixCase {
            name: "trusting unix: trusts no TCP peer",
            trusted: "unix:",
            peer: "127.0.0.1:5000",
            header: XFF,
            headers: &[("X-Forwarded-For", "203.0.113.9")],
            want: "127.0.0.1:5000",
            proto: None,
        },
        UnixCase {
            name: "a trusted unix: hop is passed over",
            trusted: NGINX_UNIX,
            peer: "10.0.0.1:5000",
            header: XFF,
            headers: &[("X-Forwarded-For", "203.0.113.9, unix:")],
            want: "203.0.113.9:0",
            proto: None,
        },
        UnixCase {
            name: "an untrusted unix: hop is the client",
            trusted: "10.0.0.0/8",
            peer: "10.0.0.1:5000",
            header: XFF,
            headers: &[("X-Forwarded-For", "203.0.113.9, unix:")],
            want: "unix:",
            proto: None,
        },
        UnixCase {
            name: "a unix: hop with nothing beyond it is the client",
            trusted: NGINX_UNIX,
            peer: "unix:",
            header: RFC7239,
            headers: &[("Forwarded", "for=\"unix:\";proto=https")],
            want: "unix:",
            proto: Some("https"),
        },
    ];

    #[test]
    fn resolves_the_client_behind_unix_sockets_table() {
        for c in UNIX_CASES {
            let trusted: TrustedProxies = c.trusted.parse().unwrap();
            let trusted = trusted.header(c.header);
            let peer = match c.peer {
                "unix:" => Peer::Unix,
                addr => Peer::Tcp(addr.parse().unwrap()),
            };
            let got = resolve_peer(peer, &headers(c.headers), &trusted);
            assert_eq!(
                (got.client.to_string().as_str(), got.proto.as_deref()),
                (c.want, c.proto),
                "{}: resolve_peer({peer}, {:?}) trusting {:?}",
                c.name,
                c.headers,
                c.trusted,
            );
        }
    }

    #[test]
    fn resolve_reports_the_proxy_for_a_client_without_an_address() {
        // `resolve` returns an address: for a client written `unix:`, the
        // proxy that forwarded for it.
        let trusted: TrustedProxies = "10.0.0.0/8".parse().unwrap();
        let peer = "10.0.0.1:5000".parse().unwrap();
        let h = headers(&[("X-Forwarded-For", "203.0.113.9, 10.0.0.7, unix:")]);
        assert_eq!(resolve(peer, &h, &trusted).client, peer);
        let h = headers(&[("X-Forwarded-For", "unix:, 10.0.0.7")]);
        assert_eq!(resolve(peer, &h, &trusted).client.to_string(), "10.0.0.7:0");
    }

    #[test]
    fn unix_is_trusted_by_name_only() {
        let t: TrustedProxies = " unix: ".parse().unwrap();
        assert!(!t.is_empty());
        assert!(t.contains_peer(Peer::Unix));
        assert!(!t.contains("127.0.0.1".parse().unwrap()));
        assert_eq!(t, TrustedProxies::none().unix(true));
        assert!(
            !TrustedProxies::none()
                .unix(true)
                .unix(false)
                .contains_peer(Peer::Unix)
        );
        for bad in ["unix", "unix:/run/app.sock", "UNIX:"] {
            assert_eq!(
                bad.parse::<TrustedProxies>(),
                Err(InvalidProxy(bad.to_owned())),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn x_forwarded_for_is_the_default_header() {
        assert_eq!(ForwardingHeader::default(), ForwardingHeader::XForwardedFor);
        let parsed: TrustedProxies = "127.0.0.1".parse().unwrap();
        assert_eq!(parsed.header, ForwardingHeader::XForwardedFor);
        assert_eq!(
            TrustedProxies::none().header,
            ForwardingHeader::XForwardedFor
        );
        let mut added = TrustedProxies::none().header(ForwardingHeader::Forwarded);
        added.add("10.0.0.0/8").unwrap();
        assert_eq!(
            added.header,
            ForwardingHeader::Forwarded,
            "add keeps the choice"
        );
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
