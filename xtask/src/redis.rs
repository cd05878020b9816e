//! A private, memory-only Redis for the tests, on 127.0.0.1:56379, when `redis-server`
//! is installed. Without it the Redis adapter tests that need a server skip, and the
//! in-process twins are tested as usual. Talks RESP over a plain TCP socket, so
//! `redis-cli` is not needed.

use std::fs;
use std::io::{Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpStream};
use std::path::PathBuf;
use std::thread;
use std::time::{Duration, Instant};

use crate::cmd::{on_path, Cmd};
use crate::error::{bail, Context, Result};
use crate::paths::Paths;
use crate::ui;

/// The port of the private test Redis.
pub const PORT: u16 = 56379;

/// A Redis server on [`PORT`]. Shut down when dropped if we started it.
#[derive(Debug)]
pub struct PrivateRedis {
    dir: PathBuf,
    owned: bool,
    stopped: bool,
}

impl PrivateRedis {
    /// Starts one if `redis-server` is on `PATH`, reuses one already answering on
    /// [`PORT`], or returns `None` (with a note) when Redis is not installed.
    pub fn start_if_available(paths: &Paths) -> Result<Option<Self>> {
        let dir = paths.redis_dir();
        if ping(PORT) {
            ui::step(format!(
                "Redis: already answering on 127.0.0.1:{PORT}, reusing it"
            ));
            return Ok(Some(Self {
                dir,
                owned: false,
                stopped: false,
            }));
        }
        let Some(server) = on_path("redis-server") else {
            ui::step("Redis: redis-server is not installed; tests needing a Redis server skip");
            return Ok(None);
        };
        ui::step(format!(
            "Redis: starting a private server on 127.0.0.1:{PORT}"
        ));
        fs::create_dir_all(&dir).with_context(|| format!("cannot create {}", dir.display()))?;
        Cmd::new(server)
            .args(["--bind", "127.0.0.1", "--port", &PORT.to_string()])
            .args(["--save", "", "--appendonly", "no", "--daemonize", "yes"])
            .arg("--pidfile")
            .arg(dir.join("redis.pid"))
            .arg("--logfile")
            .arg(dir.join("redis.log"))
            .arg("--dir")
            .arg(&dir)
            .run()?;
        let redis = Self {
            dir,
            owned: true,
            stopped: false,
        };
        let deadline = Instant::now() + Duration::from_secs(10);
        while !ping(PORT) {
            if Instant::now() >= deadline {
                bail!(
                    "redis-server started but does not answer on port {PORT}; see {}",
                    redis.dir.join("redis.log").display()
                );
            }
            thread::sleep(Duration::from_millis(100));
        }
        Ok(Some(redis))
    }

    /// The URL the tests read from `EMS_TEST_REDIS_URL`.
    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{PORT}")
    }

    /// Shuts the server down if we started it.
    pub fn stop(mut self) -> Result<()> {
        self.stop_inner()
    }

    fn stop_inner(&mut self) -> Result<()> {
        if self.stopped {
            return Ok(());
        }
        self.stopped = true;
        if !self.owned {
            ui::note("leaving Redis running: it was running before (`cargo xtask stop` stops it)");
            return Ok(());
        }
        ui::step(format!("stopping the private Redis on port {PORT}"));
        shutdown(PORT, &self.dir)
    }
}

impl Drop for PrivateRedis {
    fn drop(&mut self) {
        if let Err(e) = self.stop_inner() {
            ui::warn(e);
        }
    }
}

/// Stops whatever private Redis runs on [`PORT`]; true when one did.
pub fn stop_any(paths: &Paths) -> Result<bool> {
    if !ping(PORT) {
        return Ok(false);
    }
    shutdown(PORT, &paths.redis_dir())?;
    Ok(true)
}

/// `SHUTDOWN NOSAVE`, then wait for the port to close; fall back to the pidfile.
fn shutdown(port: u16, dir: &std::path::Path) -> Result<()> {
    // The server closes the connection instead of answering; the reply does not matter.
    let _ = request(port, "SHUTDOWN NOSAVE\r\n");
    let deadline = Instant::now() + Duration::from_secs(5);
    while ping(port) {
        if Instant::now() >= deadline {
            let pidfile = dir.join("redis.pid");
            let pid = fs::read_to_string(&pidfile).with_context(|| {
                format!(
                    "Redis ignores SHUTDOWN and {} is unreadable",
                    pidfile.display()
                )
            })?;
            return Cmd::new("kill").arg(pid.trim()).cleanup().run();
        }
        thread::sleep(Duration::from_millis(100));
    }
    Ok(())
}

/// Whether a Redis answers `PING` on 127.0.0.1:`port`.
pub fn ping(port: u16) -> bool {
    request(port, "PING\r\n")
        .map(|reply| reply.starts_with("+PONG"))
        .unwrap_or(false)
}

/// Sends one inline command and reads the first reply bytes.
fn request(port: u16, command: &str) -> std::io::Result<String> {
    let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
    let mut stream = TcpStream::connect_timeout(&addr, Duration::from_millis(300))?;
    stream.set_read_timeout(Some(Duration::from_secs(2)))?;
    stream.set_write_timeout(Some(Duration::from_secs(2)))?;
    stream.write_all(command.as_bytes())?;
    let mut buf = [0u8; 64];
    let n = stream.read(&mut buf)?;
    Ok(String::from_utf8_lossy(&buf[..n]).into_owned())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::TcpListener;

    #[test]
    fn nothing_listening_means_no_redis() {
        // Bind then drop: the port is free for a moment.
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map(|a| a.port())
            .unwrap();
        assert!(!ping(port));
    }

    #[test]
    fn a_server_answering_pong_is_a_redis() {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let server = thread::spawn(move || {
            let (mut conn, _) = listener.accept().unwrap();
            let mut buf = [0u8; 16];
            let n = conn.read(&mut buf).unwrap();
            assert_eq!(&buf[..n], b"PING\r\n");
            conn.write_all(b"+PONG\r\n").unwrap();
        });
        assert!(ping(port));
        server.join().unwrap();
    }
}
