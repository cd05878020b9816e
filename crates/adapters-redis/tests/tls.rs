//! `rediss://`: a private redis-server that listens on TLS only (a certificate for
//! `localhost` from a throwaway CA, trusted through `SSL_CERT_FILE` as an operator would
//! trust a private CA) serves the adapters; plain text to it gets nowhere. Its own test
//! binary, because `SSL_CERT_FILE` is process-wide.

// Test code: a failed expectation is a failed test.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use adapters_redis::{RedisConfig, RedisConnection, RedisRateLimiter};
use domain::ports::{HealthCheck, RateLimiter};
use domain::rate_limit::Quota;
use rcgen::{BasicConstraints, CertificateParams, IsCa, Issuer, KeyPair};

/// A redis-server on a TLS port, killed when dropped.
struct TlsRedis {
    child: Child,
    port: u16,
    dir: std::path::PathBuf,
}

impl Drop for TlsRedis {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn start() -> TlsRedis {
    let dir = std::env::temp_dir().join(format!("ems-tls-redis-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(&dir).unwrap();
    let ca_key = KeyPair::generate().unwrap();
    let mut ca = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    let ca_cert = ca.self_signed(&ca_key).unwrap();
    let issuer = Issuer::new(ca, ca_key);
    let key = KeyPair::generate().unwrap();
    let cert = CertificateParams::new(vec!["localhost".to_owned()])
        .unwrap()
        .signed_by(&key, &issuer)
        .unwrap();
    let file = |name: &str, text: String| {
        let path = dir.join(name);
        std::fs::write(&path, text).unwrap();
        path.to_str().unwrap().to_owned()
    };
    let ca_file = file("ca.pem", ca_cert.pem());
    let cert_file = file("server.crt", cert.pem());
    let key_file = file("server.key", key.serialize_pem());
    // Read by rustls-native-certs when the first TLS connection is configured.
    std::env::set_var("SSL_CERT_FILE", &ca_file);
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let child = Command::new("redis-server")
        .args(["--port", "0", "--bind", "127.0.0.1", "--tls-port"])
        .arg(port.to_string())
        .args(["--tls-cert-file", &cert_file, "--tls-key-file", &key_file])
        .args(["--tls-ca-cert-file", &ca_file, "--tls-auth-clients", "no"])
        .args(["--save", "", "--appendonly", "no"])
        .stdout(Stdio::null())
        .spawn()
        .expect("redis-server (with TLS) is installed");
    TlsRedis { child, port, dir }
}

fn connection(url: String) -> RedisConnection {
    RedisConnection::connect_lazy(&RedisConfig {
        url,
        timeout: Duration::from_secs(2),
        key_prefix: adapters_redis::DEFAULT_KEY_PREFIX.into(),
    })
    .unwrap()
}

#[tokio::test]
async fn a_rediss_url_reaches_a_redis_that_speaks_only_tls() {
    let redis = start();
    let tls = connection(format!("rediss://localhost:{}", redis.port));

    // The server takes a moment to listen; a failed call pauses the next ones 1 s.
    let deadline = Instant::now() + Duration::from_secs(20);
    while tls.ping().await.is_err() {
        assert!(Instant::now() < deadline, "no TLS answer from redis-server");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let limiter = RedisRateLimiter::new(tls);
    let quota = Quota::per_minute(5).unwrap();
    assert!(limiter.acquire("login", "tls-client", quota).await.is_ok());

    let plain = connection(format!("redis://localhost:{}", redis.port));
    assert!(
        plain.ping().await.is_err(),
        "plain text to a TLS port fails"
    );
}
