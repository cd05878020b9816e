//! The cluster test's HTTP client: one HTTP/1.0 exchange per connection, each from a
//! loopback source address of the caller's choice. The instances see the proxy as the
//! socket peer and take the client IP from `X-Forwarded-For`, which nginx sets to this
//! source address, so every simulated client has its own rate budget: the load and the
//! checks spend nothing from the budget the rate test measures.

use std::io::{self, Read, Write};
use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4, TcpStream};
use std::os::fd::AsRawFd;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use nix::sys::socket::{bind, connect, socket, AddressFamily, SockFlag, SockType, SockaddrIn};

/// Source addresses handed out by [`fresh_ip`]: 127.1.0.0 onwards (all of 127/8 is local
/// on Linux), so that no two requests share a client IP unless a test asks for it.
static NEXT_IP: AtomicU32 = AtomicU32::new(0x7f01_0000);

/// A client IP nobody has used in this run.
pub fn fresh_ip() -> Ipv4Addr {
    Ipv4Addr::from(NEXT_IP.fetch_add(1, Ordering::Relaxed))
}

/// One answer: its status, the headers the test reads, and the body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Response {
    /// The status code.
    pub status: u16,
    /// `Retry-After`, when present.
    pub retry_after: Option<String>,
    /// `X-Upstream` (the instances nginx tried, in order), when present.
    pub upstream: Option<String>,
    /// `X-Proxy-Error`: set by nginx on its own 503 for an upstream that failed.
    pub proxy_error: bool,
    /// The body as text.
    pub body: String,
}

impl Response {
    /// 503 with `Retry-After`: the client is told to retry.
    pub fn told_to_retry(&self) -> bool {
        self.status == 503 && self.retry_after.is_some()
    }

    /// The instances nginx tried, in order.
    pub fn upstreams(&self) -> Vec<&str> {
        // nginx separates the servers it tried with ", " and internal redirects with " : ".
        self.upstream
            .as_deref()
            .map(|list| {
                list.split(',')
                    .flat_map(|part| part.split(" : "))
                    .filter_map(|addr| addr.trim().rsplit_once(':').map(|(_, port)| port))
                    .collect()
            })
            .unwrap_or_default()
    }

    /// The port of the instance that gave the answer (the last one nginx tried).
    pub fn served_by(&self) -> Option<u16> {
        self.upstreams().last().and_then(|p| p.parse().ok())
    }

    /// Whether nginx tried more than one instance (a failover it hid from the client).
    pub fn failed_over(&self) -> bool {
        self.upstreams().len() > 1
    }

    /// The string value of `"key":"…"`, the first occurrence (values the server writes
    /// here hold no escapes: ids, tokens, names this test chose).
    pub fn field(&self, key: &str) -> Option<&str> {
        let needle = format!("\"{key}\":\"");
        let start = self.body.find(&needle)? + needle.len();
        let len = self.body[start..].find('"')?;
        Some(&self.body[start..start + len])
    }

    /// Whether the body holds `"key":true`.
    pub fn is_true(&self, key: &str) -> bool {
        self.body.contains(&format!("\"{key}\":true"))
    }
}

/// A request to send.
#[derive(Debug, Clone)]
pub struct Request<'a> {
    /// `GET`, `POST`, ...
    pub method: &'a str,
    /// Path and query.
    pub path: &'a str,
    /// Bearer token, if any.
    pub token: Option<&'a str>,
    /// JSON body, if any.
    pub body: Option<&'a str>,
}

impl<'a> Request<'a> {
    /// A request without token or body.
    pub fn new(method: &'a str, path: &'a str) -> Self {
        Self {
            method,
            path,
            token: None,
            body: None,
        }
    }

    /// With `Authorization: Bearer token`.
    pub fn token(mut self, token: &'a str) -> Self {
        self.token = Some(token);
        self
    }

    /// With a JSON body.
    pub fn json(mut self, body: &'a str) -> Self {
        self.body = Some(body);
        self
    }

    /// Sends it to `to` from `from`; an error only when no answer came.
    pub fn send(&self, from: Ipv4Addr, to: SocketAddr) -> io::Result<Response> {
        let mut stream = connect_from(from, to)?;
        stream.set_read_timeout(Some(Duration::from_secs(30)))?;
        stream.set_write_timeout(Some(Duration::from_secs(10)))?;
        let mut head = format!(
            "{} {} HTTP/1.0\r\nHost: {to}\r\nUser-Agent: ems-xtask-cluster\r\n",
            self.method, self.path
        );
        if let Some(token) = self.token {
            head.push_str(&format!("Authorization: Bearer {token}\r\n"));
        }
        let body = self.body.unwrap_or("");
        if self.body.is_some() {
            head.push_str("Content-Type: application/json\r\n");
        }
        // Always, as HTTP/1.0 has no other way to say where a body ends.
        head.push_str(&format!("Content-Length: {}\r\n", body.len()));
        head.push_str("\r\n");
        head.push_str(body);
        stream.write_all(head.as_bytes())?;
        let mut raw = Vec::new();
        stream.read_to_end(&mut raw)?;
        parse(&String::from_utf8_lossy(&raw))
            .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidData, "not an HTTP response"))
    }
}

/// A TCP connection to `to` whose local address is `from` (std cannot bind before it
/// connects).
fn connect_from(from: Ipv4Addr, to: SocketAddr) -> io::Result<TcpStream> {
    let SocketAddr::V4(to) = to else {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "the cluster runs on IPv4 loopback",
        ));
    };
    let fd = socket(
        AddressFamily::Inet,
        SockType::Stream,
        SockFlag::SOCK_CLOEXEC,
        None,
    )?;
    bind(
        fd.as_raw_fd(),
        &SockaddrIn::from(SocketAddrV4::new(from, 0)),
    )?;
    connect(fd.as_raw_fd(), &SockaddrIn::from(to))?;
    Ok(TcpStream::from(fd))
}

/// Status line, the headers the test reads, body.
fn parse(raw: &str) -> Option<Response> {
    let (head, body) = raw.split_once("\r\n\r\n")?;
    let mut lines = head.lines();
    let status = lines.next()?.split_whitespace().nth(1)?.parse().ok()?;
    let mut response = Response {
        status,
        retry_after: None,
        upstream: None,
        proxy_error: false,
        body: body.to_owned(),
    };
    for line in lines {
        let Some((name, value)) = line.split_once(':') else {
            continue;
        };
        let value = value.trim().to_owned();
        match name.trim().to_ascii_lowercase().as_str() {
            "retry-after" => response.retry_after = Some(value),
            "x-upstream" => response.upstream = Some(value),
            "x-proxy-error" => response.proxy_error = true,
            _ => {}
        }
    }
    Some(response)
}

/// `s` as a JSON string literal.
pub fn json_string(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if u32::from(c) < 0x20 => out.push_str(&format!("\\u{:04x}", u32::from(c))),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::TcpListener;
    use std::thread;

    const ANSWER: &str = "HTTP/1.1 503 Service Unavailable\r\nRetry-After: 1\r\n\
        X-Upstream: 127.0.0.1:4001, 127.0.0.1:4002 : 127.0.0.1:4003\r\nX-Proxy-Error: upstream\r\n\r\n\
        {\"id\":\"abc\",\"valid\":true}";

    #[test]
    fn an_answer_is_read_for_status_headers_and_fields() {
        let r = parse(ANSWER).unwrap();
        assert_eq!(r.status, 503);
        assert!(r.told_to_retry());
        assert!(r.proxy_error);
        assert_eq!(r.upstreams(), vec!["4001", "4002", "4003"]);
        assert_eq!(r.served_by(), Some(4003));
        assert!(r.failed_over());
        assert_eq!(r.field("id"), Some("abc"));
        assert_eq!(r.field("nope"), None);
        assert!(r.is_true("valid"));
        assert_eq!(parse("garbage"), None);
    }

    #[test]
    fn one_upstream_is_no_failover() {
        let r = parse("HTTP/1.1 200 OK\r\nx-upstream: 127.0.0.1:4001\r\n\r\n{}").unwrap();
        assert!(!r.failed_over());
        assert!(!r.told_to_retry());
        assert_eq!(r.served_by(), Some(4001));
    }

    #[test]
    fn fresh_ips_differ_and_are_loopback() {
        let (a, b) = (fresh_ip(), fresh_ip());
        assert_ne!(a, b);
        assert!(a.is_loopback() && b.is_loopback());
    }

    #[test]
    fn a_request_leaves_from_the_chosen_address() {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let server = thread::spawn(move || {
            let (mut conn, peer) = listener.accept().unwrap();
            let mut buf = [0u8; 1024];
            let n = conn.read(&mut buf).unwrap();
            let request = String::from_utf8_lossy(&buf[..n]).into_owned();
            conn.write_all(b"HTTP/1.0 200 OK\r\n\r\nhi").unwrap();
            (peer, request)
        });
        let from = Ipv4Addr::new(127, 9, 8, 7);
        let answer = Request::new("POST", "/x")
            .token("t")
            .json("{}")
            .send(from, addr)
            .unwrap();
        let (peer, request) = server.join().unwrap();
        assert_eq!(peer.ip(), from);
        assert_eq!(answer.status, 200);
        assert_eq!(answer.body, "hi");
        assert!(request.starts_with("POST /x HTTP/1.0\r\n"), "{request}");
        assert!(request.contains("Authorization: Bearer t\r\n"));
        assert!(
            request.ends_with("Content-Length: 2\r\n\r\n{}"),
            "{request}"
        );
    }

    #[test]
    fn strings_are_json_escaped() {
        assert_eq!(json_string("a\"b\\c\n"), "\"a\\\"b\\\\c\\u000a\"");
    }
}
