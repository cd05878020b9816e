//! The client IP: the socket peer, unless the peer is a trusted proxy
//! (`TRUSTED_PROXIES`); then the right-most `X-Forwarded-For` entry that is not itself a
//! trusted proxy. Everything that records or limits by client IP (rate limits, audit
//! entries, sessions, the access log) asks [`client_ip`], so they all agree.
//!
//! Only trusted peers are believed because anybody can send `X-Forwarded-For`: from an
//! untrusted peer the header is ignored, so spoofing it gains nothing. Reading from the
//! right skips whatever a client put in front of what our proxies appended. A malformed
//! entry where the walk stops means the chain cannot be believed: the peer is used.
//!
//! [`ClientIpResolver`] is also an actix-governor [`KeyExtractor`], the extension point
//! through which a request is keyed for rate limiting (see ADR 0011 and, for what that
//! import costs, ADR 0016).

use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use actix_governor::KeyExtractor;
use actix_web::dev::ServiceRequest;
use actix_web::http::header::{HeaderName, HeaderValue};
use actix_web::{web, HttpMessage, HttpRequest};
use ipnet::IpNet;

use crate::http::error::{ApiError, ErrorCode};

/// `X-Forwarded-For`.
pub const X_FORWARDED_FOR: HeaderName = HeaderName::from_static("x-forwarded-for");

/// How many `X-Forwarded-For` entries are looked at, at most: a longer chain is not
/// walked further (its left part is client-supplied anyway).
const MAX_HOPS: usize = 32;

/// Resolves client IPs under one `TRUSTED_PROXIES` list. Register it as
/// `web::Data<ClientIpResolver>` app data; without it the peer is the client.
#[derive(Debug, Clone, Default)]
pub struct ClientIpResolver {
    trusted: Arc<[IpNet]>,
}

/// The resolved IP of a request, cached in its extensions.
#[derive(Debug, Clone, Copy)]
struct Resolved(IpAddr);

impl ClientIpResolver {
    /// A resolver believing forwarding headers from `trusted` peers only.
    pub fn new(trusted: Vec<IpNet>) -> Self {
        Self {
            trusted: trusted.into(),
        }
    }

    /// Whether `ip` is a trusted proxy.
    pub fn is_trusted(&self, ip: IpAddr) -> bool {
        let ip = ip.to_canonical();
        self.trusted.iter().any(|net| net.contains(&ip))
    }

    /// The client IP of a request from `peer` carrying these `X-Forwarded-For` values
    /// (in header order).
    pub fn resolve<'a>(
        &self,
        peer: IpAddr,
        forwarded_for: impl IntoIterator<Item = &'a HeaderValue>,
    ) -> IpAddr {
        self.judge(peer, forwarded_for).0
    }

    /// [`resolve`](Self::resolve), logging a forwarding header that was not believed.
    fn resolve_logged<'a>(
        &self,
        peer: IpAddr,
        forwarded_for: impl IntoIterator<Item = &'a HeaderValue>,
    ) -> IpAddr {
        let (ip, verdict) = self.judge(peer, forwarded_for);
        match verdict {
            Verdict::Believed => {}
            Verdict::Untrusted => {
                // Warned once: behind a proxy missing from TRUSTED_PROXIES every request
                // would say it again.
                static WARNED: AtomicBool = AtomicBool::new(false);
                if WARNED.swap(true, Ordering::Relaxed) {
                    tracing::debug!(client.ip = %ip, "X-Forwarded-For from an untrusted peer ignored");
                } else {
                    tracing::warn!(
                        client.ip = %ip,
                        "X-Forwarded-For from a peer not in TRUSTED_PROXIES ignored (list the peer there if it is your proxy); further ones are logged at debug"
                    );
                }
            }
            Verdict::Malformed => {
                tracing::debug!(client.ip = %ip, "malformed X-Forwarded-For from a trusted proxy; using the proxy's address");
            }
        }
        ip
    }

    fn judge<'a>(
        &self,
        peer: IpAddr,
        forwarded_for: impl IntoIterator<Item = &'a HeaderValue>,
    ) -> (IpAddr, Verdict) {
        let peer = peer.to_canonical();
        let mut values = forwarded_for.into_iter().peekable();
        if !self.is_trusted(peer) {
            let verdict = match values.peek() {
                Some(_) => Verdict::Untrusted,
                None => Verdict::Believed,
            };
            return (peer, verdict);
        }
        let mut entries = Vec::new();
        for value in values {
            let Ok(text) = value.to_str() else {
                return (peer, Verdict::Malformed);
            };
            entries.extend(text.split(','));
        }
        let mut leftmost = None;
        for entry in entries.iter().rev().take(MAX_HOPS) {
            let Some(ip) = parse_entry(entry) else {
                return (peer, Verdict::Malformed);
            };
            if !self.is_trusted(ip) {
                return (ip, Verdict::Believed);
            }
            leftmost = Some(ip);
        }
        // Every hop was one of our proxies (or there was no header): the furthest one.
        (leftmost.unwrap_or(peer), Verdict::Believed)
    }
}

/// What became of a request's forwarding header.
enum Verdict {
    /// Used, or there was none.
    Believed,
    /// Sent by a peer that is not a trusted proxy: ignored.
    Untrusted,
    /// Not a list of addresses where it mattered: the peer is used.
    Malformed,
}

/// One `X-Forwarded-For` entry: an IP, or an IP with a port as some proxies write it
/// (`203.0.113.7:4711`, `[2001:db8::1]:4711`).
fn parse_entry(entry: &str) -> Option<IpAddr> {
    let entry = entry.trim();
    entry
        .parse::<IpAddr>()
        .or_else(|_| entry.parse::<SocketAddr>().map(|s| s.ip()))
        .ok()
        .map(|ip| ip.to_canonical())
}

/// The client IP of `req` (`None` when the connection has no IP peer, as in some unit
/// tests), resolved once per request.
pub fn client_ip(req: &HttpRequest) -> Option<IpAddr> {
    let resolver = req.app_data::<web::Data<ClientIpResolver>>();
    resolve(req, resolver.map(|r| r.get_ref()))
}

/// The one resolution, cached in the request's extensions so that every asker agrees.
/// Without a resolver no proxy is trusted: the peer is the client.
fn resolve(req: &HttpRequest, resolver: Option<&ClientIpResolver>) -> Option<IpAddr> {
    if let Some(Resolved(ip)) = req.extensions().get::<Resolved>() {
        return Some(*ip);
    }
    let peer = req.peer_addr()?.ip();
    let ip = match resolver {
        Some(resolver) => resolver.resolve_logged(peer, req.headers().get_all(X_FORWARDED_FOR)),
        None => peer.to_canonical(),
    };
    req.extensions_mut().insert(Resolved(ip));
    Some(ip)
}

impl KeyExtractor for ClientIpResolver {
    type Key = IpAddr;
    type KeyExtractionError = ApiError;

    fn extract(&self, req: &ServiceRequest) -> Result<IpAddr, ApiError> {
        resolve(req.request(), Some(self))
            .ok_or_else(|| ApiError::new(ErrorCode::Internal, "no client address"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use actix_web::test::TestRequest;

    fn resolver(trusted: &[&str]) -> ClientIpResolver {
        ClientIpResolver::new(
            trusted
                .iter()
                .map(|t| {
                    t.parse::<IpNet>()
                        .unwrap_or_else(|_| IpNet::from(t.parse::<IpAddr>().unwrap()))
                })
                .collect(),
        )
    }

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    fn resolve(r: &ClientIpResolver, peer: &str, xff: &[&str]) -> IpAddr {
        let values: Vec<HeaderValue> = xff
            .iter()
            .map(|v| HeaderValue::from_str(v).unwrap())
            .collect();
        r.resolve(ip(peer), values.iter())
    }

    #[test]
    fn without_trusted_proxies_the_peer_is_the_client_whatever_it_forwards() {
        let r = resolver(&[]);
        assert_eq!(
            resolve(&r, "198.51.100.9", &["1.2.3.4"]),
            ip("198.51.100.9")
        );
        let r = resolver(&["10.0.0.0/8"]);
        assert_eq!(
            resolve(&r, "198.51.100.9", &["10.0.0.1", "1.2.3.4"]),
            ip("198.51.100.9"),
            "a spoofed header from an untrusted peer is ignored"
        );
    }

    #[test]
    fn behind_a_trusted_proxy_the_rightmost_untrusted_entry_is_the_client() {
        let r = resolver(&["10.0.0.0/8", "192.0.2.1"]);
        assert_eq!(resolve(&r, "10.0.0.5", &["203.0.113.7"]), ip("203.0.113.7"));
        // The client put 1.1.1.1 in front itself; our proxies appended the rest.
        assert_eq!(
            resolve(
                &r,
                "10.0.0.5",
                &["1.1.1.1, 203.0.113.7, 192.0.2.1, 10.0.0.9"]
            ),
            ip("203.0.113.7")
        );
        // Several headers are one list, in order.
        assert_eq!(
            resolve(&r, "10.0.0.5", &["1.1.1.1", "203.0.113.7,10.1.1.1"]),
            ip("203.0.113.7")
        );
        // No header: the proxy itself.
        assert_eq!(resolve(&r, "10.0.0.5", &[]), ip("10.0.0.5"));
        // Only proxies: the furthest.
        assert_eq!(
            resolve(&r, "10.0.0.5", &["10.2.2.2, 192.0.2.1"]),
            ip("10.2.2.2")
        );
    }

    #[test]
    fn ipv6_peers_entries_and_ports_are_understood() {
        let r = resolver(&["2001:db8:ffff::/48", "127.0.0.1"]);
        assert_eq!(
            resolve(&r, "2001:db8:ffff::1", &["2001:db8::42"]),
            ip("2001:db8::42")
        );
        assert_eq!(
            resolve(&r, "2001:db8:ffff::1", &["[2001:db8::42]:4711"]),
            ip("2001:db8::42")
        );
        assert_eq!(
            resolve(&r, "127.0.0.1", &["203.0.113.7:4711"]),
            ip("203.0.113.7")
        );
        // An IPv4 peer seen on an IPv6 socket is the IPv4 address.
        assert_eq!(
            resolve(&r, "::ffff:127.0.0.1", &["203.0.113.7"]),
            ip("203.0.113.7")
        );
        assert_eq!(
            resolve(&resolver(&[]), "::ffff:192.0.2.3", &[]),
            ip("192.0.2.3")
        );
    }

    #[test]
    fn garbage_where_the_walk_stops_falls_back_to_the_peer() {
        let r = resolver(&["10.0.0.0/8"]);
        for garbage in ["not-an-ip", "", "203.0.113.7;rm", "unknown", "300.1.1.1"] {
            assert_eq!(
                resolve(&r, "10.0.0.5", &[garbage]),
                ip("10.0.0.5"),
                "{garbage:?}"
            );
        }
        assert_eq!(
            resolve(&r, "10.0.0.5", &["203.0.113.7,, 10.0.0.9"]),
            ip("10.0.0.5")
        );
        // Garbage the client put left of a good entry is never read.
        assert_eq!(
            resolve(&r, "10.0.0.5", &["<script>, 203.0.113.7"]),
            ip("203.0.113.7")
        );
        let binary = HeaderValue::from_bytes(b"\xff\xfe").unwrap();
        assert_eq!(r.resolve(ip("10.0.0.5"), [&binary]), ip("10.0.0.5"));
    }

    #[test]
    fn requests_resolve_through_the_registered_resolver_and_the_key_extractor_agrees() {
        let resolver = resolver(&["127.0.0.1"]);
        let req = TestRequest::default()
            .peer_addr("127.0.0.1:5000".parse().unwrap())
            .insert_header(("X-Forwarded-For", "203.0.113.7"))
            .app_data(web::Data::new(resolver.clone()))
            .to_srv_request();
        assert_eq!(resolver.extract(&req), Ok(ip("203.0.113.7")));
        assert_eq!(client_ip(req.request()), Some(ip("203.0.113.7")));

        let bare = TestRequest::default()
            .peer_addr("127.0.0.1:5000".parse().unwrap())
            .insert_header(("X-Forwarded-For", "203.0.113.7"))
            .to_http_request();
        assert_eq!(
            client_ip(&bare),
            Some(ip("127.0.0.1")),
            "no resolver: the peer"
        );
        assert_eq!(client_ip(&TestRequest::default().to_http_request()), None);
    }
}
