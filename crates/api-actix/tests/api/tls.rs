//! HTTPS: with `TLS_CERT_FILE` + `TLS_KEY_FILE` the server speaks TLS only and every
//! response carries HSTS; without them, plain HTTP and never HSTS. The certificate is
//! made at test time and trusted by the test's own client.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use adapters_postgres::testing::TestDatabase;
use api_actix::config::Settings;
use api_actix::startup::Application;
use rustls::pki_types::CertificateDer;

use crate::helpers::{TestApp, ADMIN, ADMIN_PASSWORD};

/// The HSTS value every response over TLS carries.
const HSTS: &str = "max-age=63072000; includeSubDomains";

/// A scratch directory of one test, removed when dropped.
pub struct Scratch(PathBuf);

impl Scratch {
    /// A fresh, empty directory under the system temp dir.
    pub fn new(name: &str) -> Self {
        let dir =
            std::env::temp_dir().join(format!("ems-test-{name}-{}", uuid::Uuid::new_v4().simple()));
        std::fs::create_dir_all(&dir).unwrap();
        Self(dir)
    }

    /// The path of `name` inside.
    pub fn path(&self, name: &str) -> PathBuf {
        self.0.join(name)
    }

    /// Writes `contents` to `name` inside and returns its path.
    pub fn write(&self, name: &str, contents: &str) -> PathBuf {
        let path = self.path(name);
        std::fs::write(&path, contents).unwrap();
        path
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A self-signed certificate for 127.0.0.1 and localhost, written as PEM.
struct TestCert {
    der: CertificateDer<'static>,
    cert_file: PathBuf,
    key_file: PathBuf,
}

impl TestCert {
    fn new(dir: &Scratch) -> Self {
        let made = rcgen::generate_simple_self_signed(vec![
            "127.0.0.1".to_owned(),
            "localhost".to_owned(),
        ])
        .unwrap();
        Self {
            der: made.cert.der().clone(),
            cert_file: dir.write("cert.pem", &made.cert.pem()),
            key_file: dir.write("key.pem", &made.signing_key.serialize_pem()),
        }
    }

    fn vars(&self, vars: &mut crate::helpers::Vars) {
        vars.insert("TLS_CERT_FILE".into(), path_text(&self.cert_file));
        vars.insert("TLS_KEY_FILE".into(), path_text(&self.key_file));
    }
}

fn path_text(path: &Path) -> String {
    path.to_str().unwrap().to_owned()
}

/// An HTTPS client that trusts only `cert`, limited to one TLS version.
fn client_trusting(
    cert: &TestCert,
    version: &'static rustls::SupportedProtocolVersion,
) -> awc::Client {
    let mut roots = rustls::RootCertStore::empty();
    roots.add(cert.der.clone()).unwrap();
    let config = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_protocol_versions(&[version])
    .unwrap()
    .with_root_certificates(roots)
    .with_no_client_auth();
    awc::Client::builder()
        .connector(awc::Connector::new().rustls_0_23(Arc::new(config)))
        .timeout(Duration::from_secs(30))
        .disable_redirects()
        .finish()
}

async fn tls_app(cert: &TestCert) -> TestApp {
    TestApp::spawn_with(|v| cert.vars(v))
        .await
        .with_client(client_trusting(cert, &rustls::version::TLS13))
}

#[actix_rt::test]
async fn health_answers_over_https_with_hsts() {
    let dir = Scratch::new("tls");
    let cert = TestCert::new(&dir);
    let app = tls_app(&cert).await;

    let health = app.call("GET", "/api/health", None, None).await;

    assert!(app.address.starts_with("https://"), "{}", app.address);
    assert_eq!(health.status, 200, "{}", health.body);
    assert_eq!(health.body["status"], "ok");
    assert_eq!(
        health.header("strict-transport-security").as_deref(),
        Some(HSTS)
    );
}

#[actix_rt::test]
async fn errors_and_signed_in_calls_over_https_carry_hsts_too() {
    let dir = Scratch::new("tls");
    let cert = TestCert::new(&dir);
    let app = tls_app(&cert).await;

    let missing = app.call("GET", "/api/nowhere", None, None).await;
    let token = app.admin_token().await;
    let profile = app.call("GET", "/api/v1/profile", Some(&token), None).await;

    missing.assert_error(404, "NOT_FOUND");
    assert_eq!(
        missing.header("strict-transport-security").as_deref(),
        Some(HSTS)
    );
    assert_eq!(profile.status, 200, "{}", profile.body);
    assert_eq!(profile.body["username"], ADMIN);
    assert_eq!(
        profile.header("strict-transport-security").as_deref(),
        Some(HSTS)
    );
}

#[actix_rt::test]
async fn tls_1_2_and_tls_1_3_clients_are_both_served() {
    let dir = Scratch::new("tls");
    let cert = TestCert::new(&dir);
    let app = tls_app(&cert).await;
    let url = format!("{}/api/health", app.address);

    for version in [&rustls::version::TLS12, &rustls::version::TLS13] {
        let res = client_trusting(&cert, version).get(&url).send().await;

        let res = res.unwrap_or_else(|e| panic!("{:?}: {e}", version.version));
        assert_eq!(res.status(), 200, "{:?}", version.version);
    }
}

#[actix_rt::test]
async fn the_tls_port_does_not_answer_plain_http() {
    let dir = Scratch::new("tls");
    let cert = TestCert::new(&dir);
    let app = tls_app(&cert).await;
    let plain = app.address.replacen("https://", "http://", 1);

    let res = awc::Client::builder()
        .timeout(Duration::from_secs(10))
        .finish()
        .get(format!("{plain}/api/health"))
        .send()
        .await;

    assert!(
        res.is_err(),
        "plain HTTP got an answer: {:?}",
        res.map(|r| r.status())
    );
}

#[actix_rt::test]
async fn a_plain_http_server_never_sends_hsts() {
    let app = TestApp::spawn().await;

    let health = app
        .send(
            "GET",
            "/api/health",
            None,
            None,
            &[("X-Forwarded-Proto", "https"), ("Forwarded", "proto=https")],
        )
        .await;

    assert!(app.address.starts_with("http://"), "{}", app.address);
    assert_eq!(health.status, 200);
    assert_eq!(health.header("strict-transport-security"), None);
}

/// Settings for a server over `db` with the given TLS files.
fn settings_with_tls(db: &TestDatabase, cert: &Path, key: &Path) -> Settings {
    Settings::from_vars(
        [
            ("DATABASE_URL", db.url()),
            ("BIND_ADDR", "127.0.0.1:0"),
            ("APP_ENV", "test"),
            ("ADMIN_USERNAME", ADMIN),
            ("ADMIN_PASSWORD", ADMIN_PASSWORD),
            ("TLS_CERT_FILE", &path_text(cert)),
            ("TLS_KEY_FILE", &path_text(key)),
        ]
        .map(|(k, v)| (k.to_owned(), v.to_owned())),
    )
    .unwrap()
}

async fn start_error(settings: Settings) -> String {
    match Application::build(settings).await {
        Ok(_) => panic!("the server started with bad TLS files"),
        Err(e) => e.to_string(),
    }
}

#[actix_rt::test]
async fn a_bad_or_missing_key_file_stops_the_start_with_one_line() {
    let db = TestDatabase::new().await;
    let dir = Scratch::new("tls");
    let cert = TestCert::new(&dir);
    let other = Scratch::new("tls-other");
    let other_cert = TestCert::new(&other);
    let garbage = dir.write(
        "garbage.pem",
        "-----BEGIN PRIVATE KEY-----\nc2VjcmV0!!\n-----END PRIVATE KEY-----\n",
    );

    let missing = start_error(settings_with_tls(
        &db,
        &cert.cert_file,
        &dir.path("none.pem"),
    ))
    .await;
    let broken = start_error(settings_with_tls(&db, &cert.cert_file, &garbage)).await;
    let foreign = start_error(settings_with_tls(
        &db,
        &cert.cert_file,
        &other_cert.key_file,
    ))
    .await;
    let no_cert = start_error(settings_with_tls(&db, &cert.key_file, &cert.key_file)).await;

    for line in [&missing, &broken, &foreign] {
        assert!(line.starts_with("TLS_KEY_FILE: "), "{line}");
        assert!(!line.contains('\n') && !line.contains("c2VjcmV0"), "{line}");
    }
    assert!(missing.contains("cannot read"), "{missing}");
    assert!(foreign.contains("does not match"), "{foreign}");
    assert!(no_cert.starts_with("TLS_CERT_FILE: "), "{no_cert}");
}
