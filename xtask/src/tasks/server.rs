//! A release or debug `ems serve` as a child process on a free loopback port, for the
//! commands that drive a real server from outside (`fuzz`, `bench`, `cluster`), and the two plain
//! HTTP/1.0 exchanges they need (xtask has no HTTP client and needs none for this).

use std::fs;
use std::io::{Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use crate::error::{bail, Context, Result};
use crate::interrupt;
use crate::supervise::{self, Role, Supervised};

/// The `ems serve` child process, stopped with xtask (see [`supervise`]).
pub struct Server {
    child: Supervised,
    addr: SocketAddr,
    log: PathBuf,
}

impl Server {
    /// Starts `ems serve` on `addr` with `env` (on top of this process's environment),
    /// its output going to `log`.
    pub fn start(ems: &Path, addr: SocketAddr, env: &[(&str, String)], log: &Path) -> Result<Self> {
        let out =
            fs::File::create(log).with_context(|| format!("cannot create {}", log.display()))?;
        let err = out
            .try_clone()
            .with_context(|| format!("cannot reopen {}", log.display()))?;
        let mut command = Command::new(ems);
        command
            .arg("serve")
            .env("BIND_ADDR", addr.to_string())
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err);
        for (key, value) in env {
            command.env(key, value);
        }
        let child = supervise::spawn(&mut command, Role::Work)
            .with_context(|| format!("cannot start {}", ems.display()))?;
        Ok(Self {
            child,
            addr,
            log: log.to_owned(),
        })
    }

    /// Its process id.
    pub fn pid(&self) -> u32 {
        self.child.pid()
    }

    /// Where it listens.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Polls `GET /api/health` until it answers 200.
    pub fn wait_healthy(&self, timeout: Duration) -> Result<()> {
        let deadline = Instant::now() + timeout;
        loop {
            if health_ok(self.addr) {
                return Ok(());
            }
            if Instant::now() >= deadline || interrupt::interrupted() {
                bail!(
                    "ems did not become healthy on {} within {}s; see {}",
                    self.addr,
                    timeout.as_secs(),
                    self.log.display()
                );
            }
            thread::sleep(Duration::from_millis(200));
        }
    }

    /// SIGTERM, then SIGKILL when it has not exited within [`supervise::GRACE`].
    pub fn stop(mut self) -> Result<()> {
        let exited_early = self.child.try_wait().ok().flatten().is_some();
        if exited_early && !interrupt::interrupted() {
            bail!("ems exited during the run; see {}", self.log.display());
        }
        self.child
            .stop()
            .with_context(|| format!("cannot stop ems; see {}", self.log.display()))?;
        Ok(())
    }
}

impl Server {
    /// SIGKILL at once, as a crash: no drain, in-flight requests are cut off.
    pub fn kill(self) -> Result<()> {
        self.child
            .kill()
            .with_context(|| format!("cannot kill ems; see {}", self.log.display()))?;
        Ok(())
    }
}

/// A port nobody listens on right now (the kernel's pick; released before `ems` binds
/// it, so a race with another program is possible but unlikely).
pub fn free_loopback_port() -> Result<SocketAddr> {
    let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
        .context("cannot find a free port on 127.0.0.1")?;
    listener
        .local_addr()
        .context("cannot read the port the kernel picked")
}

/// One HTTP/1.0 exchange; the whole response, head and body.
fn exchange(addr: SocketAddr, request: &str) -> std::io::Result<String> {
    let mut stream = TcpStream::connect_timeout(&addr, Duration::from_secs(1))?;
    stream.set_read_timeout(Some(Duration::from_secs(10)))?;
    stream.write_all(request.as_bytes())?;
    let mut response = Vec::new();
    stream.read_to_end(&mut response)?;
    Ok(String::from_utf8_lossy(&response).into_owned())
}

/// Whether `GET /api/health` answers 200.
fn health_ok(addr: SocketAddr) -> bool {
    exchange(
        addr,
        &format!("GET /api/health HTTP/1.0\r\nHost: {addr}\r\n\r\n"),
    )
    .is_ok_and(|response| is_ok_status_line(response.as_bytes()))
}

/// "HTTP/1.x 200 …".
fn is_ok_status_line(head: &[u8]) -> bool {
    let text = String::from_utf8_lossy(head);
    let mut words = text.split_whitespace();
    matches!(
        (words.next(), words.next()),
        (Some(version), Some("200")) if version.starts_with("HTTP/1.")
    )
}

/// Signs in and returns the access token.
pub fn login(addr: SocketAddr, username: &str, password: &str) -> Result<String> {
    let body = login_body(username, password);
    let request = format!(
        "POST /api/v1/auth/login HTTP/1.0\r\nHost: {addr}\r\nContent-Type: application/json\r\n\
         Content-Length: {}\r\n\r\n{body}",
        body.len()
    );
    let response = exchange(addr, &request).context("cannot reach ems to sign in")?;
    if !is_ok_status_line(response.as_bytes()) {
        bail!("signing in as {username} failed");
    }
    match access_token(&response) {
        Some(token) => Ok(token),
        None => bail!("the login answer has no accessToken"),
    }
}

/// The `ETag` of `GET path` as `token` reads it.
pub fn etag(addr: SocketAddr, token: &str, path: &str) -> Result<String> {
    let request =
        format!("GET {path} HTTP/1.0\r\nHost: {addr}\r\nAuthorization: Bearer {token}\r\n\r\n");
    let response = exchange(addr, &request).context("cannot reach ems to read a tag")?;
    if !is_ok_status_line(response.as_bytes()) {
        bail!("GET {path} failed");
    }
    let head = response.split("\r\n\r\n").next().unwrap_or_default();
    let tag = head.lines().find_map(|line| {
        let (name, value) = line.split_once(':')?;
        name.eq_ignore_ascii_case("etag")
            .then(|| value.trim().to_owned())
    });
    match tag {
        Some(tag) => Ok(tag),
        None => bail!("GET {path} has no ETag"),
    }
}

/// The `accessToken` of a TokenPair body (a JWT holds no quotes or escapes).
fn access_token(response: &str) -> Option<String> {
    let key = "\"accessToken\":\"";
    let start = response.find(key)? + key.len();
    let len = response[start..].find('"')?;
    Some(response[start..start + len].to_owned())
}

/// The JSON body of `POST /api/v1/auth/login` for these credentials.
pub fn login_body(username: &str, password: &str) -> String {
    format!(
        "{{\"username\":{},\"password\":{}}}",
        json_string(username),
        json_string(password)
    )
}

/// `s` as a JSON string literal.
fn json_string(s: &str) -> String {
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

    #[test]
    fn only_a_200_status_line_is_healthy() {
        assert!(is_ok_status_line(b"HTTP/1.1 200 OK\r\n"));
        assert!(is_ok_status_line(b"HTTP/1.0 200 "));
        assert!(!is_ok_status_line(b"HTTP/1.1 503 Service"));
        assert!(!is_ok_status_line(b""));
    }

    #[test]
    fn a_free_port_is_on_loopback() {
        let addr = free_loopback_port().unwrap();
        assert!(addr.ip().is_loopback());
        assert_ne!(addr.port(), 0);
    }

    #[test]
    fn the_access_token_is_read_from_a_token_pair() {
        let response = "HTTP/1.1 200 OK\r\n\r\n{\"accessToken\":\"a.b.c\",\"refreshToken\":\"r\"}";
        assert_eq!(access_token(response).as_deref(), Some("a.b.c"));
        assert_eq!(access_token("HTTP/1.1 200 OK\r\n\r\n{}"), None);
    }

    #[test]
    fn credentials_are_json_escaped() {
        assert_eq!(json_string("a\"b\\c\n"), "\"a\\\"b\\\\c\\u000a\"");
    }
}
