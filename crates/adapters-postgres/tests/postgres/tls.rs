//! TLS to PostgreSQL: a private cluster started for the test with `ssl=on`, a certificate
//! for `localhost` from a throwaway CA, and a `pg_hba.conf` that refuses every connection
//! without TLS, so a ping that succeeds was encrypted. Each `sslmode` keeps libpq's
//! promise: `disable` is refused by the server, `prefer`/`require` connect without
//! checking, `verify-ca` checks the chain, `verify-full` the chain and the host name.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use adapters_postgres::{PgConfig, PgStore};
use domain::ports::HealthCheck;
use domain::RepoError;
use rcgen::{BasicConstraints, CertificateParams, IsCa, Issuer, KeyPair};
use uuid::Uuid;

/// The user PostgreSQL runs as when we are root (as `cargo xtask` does).
const SYSTEM_USER: &str = "ems-pg";

/// A cluster with TLS on, stopped and removed when dropped.
struct TlsCluster {
    dir: PathBuf,
    port: u16,
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
        .unwrap()
}

/// Runs a PostgreSQL tool, as the unprivileged user when we are root.
fn pg_tool(tool: &str, args: &[&str]) {
    let mut command = if is_root() {
        let mut c = Command::new("runuser");
        c.args(["-u", SYSTEM_USER, "--", tool]);
        c
    } else {
        Command::new(tool)
    };
    let out = command.args(args).output().unwrap();
    assert!(
        out.status.success(),
        "{tool} {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A CA and its issuer.
fn ca(name: &str) -> (String, Issuer<'static, KeyPair>) {
    let key = KeyPair::generate().unwrap();
    let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params
        .distinguished_name
        .push(rcgen::DnType::CommonName, name);
    let cert = params.self_signed(&key).unwrap();
    (cert.pem(), Issuer::new(params, key))
}

fn write(path: &Path, text: &str) {
    std::fs::write(path, text).unwrap();
}

impl TlsCluster {
    async fn start() -> Self {
        let dir = std::env::temp_dir().join(format!("ems-tls-pg-{}", Uuid::new_v4().simple()));
        let data = dir.join("data");
        std::fs::create_dir_all(&dir).unwrap();
        let (ca_pem, issuer) = ca("ems test CA");
        let (other_pem, _) = ca("someone else's CA");
        let server_key = KeyPair::generate().unwrap();
        let server = CertificateParams::new(vec!["localhost".to_owned()])
            .unwrap()
            .signed_by(&server_key, &issuer)
            .unwrap();
        write(&dir.join("ca.pem"), &ca_pem);
        write(&dir.join("other-ca.pem"), &other_pem);
        write(&dir.join("server.crt"), &server.pem());
        write(&dir.join("server.key"), &server_key.serialize_pem());
        if is_root() {
            let status = Command::new("chown")
                .args(["-R", &format!("{SYSTEM_USER}:"), dir.to_str().unwrap()])
                .status()
                .unwrap();
            assert!(status.success());
        }
        use std::os::unix::fs::PermissionsExt as _;
        std::fs::set_permissions(
            dir.join("server.key"),
            std::fs::Permissions::from_mode(0o600),
        )
        .unwrap();
        let data_arg = data.to_str().unwrap();
        pg_tool(
            "initdb",
            &[
                "-D",
                data_arg,
                "-U",
                "postgres",
                "--auth=trust",
                "--no-sync",
            ],
        );
        write(
            &data.join("pg_hba.conf"),
            "local all all trust\n\
             hostssl all all 127.0.0.1/32 trust\n\
             hostnossl all all 127.0.0.1/32 reject\n",
        );
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let options = format!(
            "-p {port} -c listen_addresses=127.0.0.1 -c unix_socket_directories={dir} \
             -c ssl=on -c ssl_cert_file={dir}/server.crt -c ssl_key_file={dir}/server.key \
             -c fsync=off",
            dir = dir.display()
        );
        let log = dir.join("server.log");
        pg_tool(
            "pg_ctl",
            &[
                "-D",
                data_arg,
                "-l",
                log.to_str().unwrap(),
                "-o",
                &options,
                "-w",
                "-t",
                "60",
                "start",
            ],
        );
        TlsCluster { dir, port }
    }

    fn url(&self, host: &str, params: &str) -> String {
        format!("postgres://postgres@{host}:{}/postgres{params}", self.port)
    }

    fn file(&self, name: &str) -> String {
        self.dir.join(name).display().to_string()
    }
}

impl Drop for TlsCluster {
    fn drop(&mut self) {
        let data = self.dir.join("data");
        pg_tool(
            "pg_ctl",
            &["-D", data.to_str().unwrap(), "-m", "immediate", "stop"],
        );
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Pings through a fresh store on `url` (short waits: a refusal answers at once).
async fn ping(url: &str) -> Result<(), RepoError> {
    let mut config = PgConfig::new(url);
    config.acquire_timeout = Duration::from_secs(5);
    config.connect_timeout = Duration::from_secs(5);
    PgStore::new(&config)?.ping().await
}

#[tokio::test]
async fn each_sslmode_keeps_libpqs_promise_against_a_server_that_requires_tls() {
    let cluster = TlsCluster::start().await;
    let ca = format!("&sslrootcert={}", cluster.file("ca.pem"));
    let other = format!("&sslrootcert={}", cluster.file("other-ca.pem"));

    // Encrypted without checking: the default (prefer) and require.
    assert!(ping(&cluster.url("127.0.0.1", "")).await.is_ok());
    assert!(ping(&cluster.url("127.0.0.1", "?sslmode=require"))
        .await
        .is_ok());
    // Plain text: the server's pg_hba refuses it.
    let plain = ping(&cluster.url("127.0.0.1", "?sslmode=disable")).await;
    assert!(matches!(plain, Err(RepoError::Unavailable(_))), "{plain:?}");
    // verify-ca: our CA passes whatever the host is called, another CA does not.
    let by_ip = cluster.url("127.0.0.1", &format!("?sslmode=verify-ca{ca}"));
    assert!(ping(&by_ip).await.is_ok());
    let wrong_ca = cluster.url("localhost", &format!("?sslmode=verify-ca{other}"));
    assert!(ping(&wrong_ca).await.is_err());
    // verify-full: the certificate names localhost, not 127.0.0.1.
    let by_name = cluster.url("localhost", &format!("?sslmode=verify-full{ca}"));
    assert!(ping(&by_name).await.is_ok());
    let wrong_name = cluster.url("127.0.0.1", &format!("?sslmode=verify-full{ca}"));
    assert!(ping(&wrong_name).await.is_err());
    // A root file that is not there stops the start, naming the parameter.
    let missing = cluster.url(
        "localhost",
        "?sslmode=verify-full&sslrootcert=/nonexistent.pem",
    );
    let refused = PgStore::new(&PgConfig::new(missing)).map(|_| ());
    assert!(
        matches!(&refused, Err(RepoError::Unknown(e)) if e.to_string().contains("sslrootcert")),
        "{refused:?}"
    );
}

#[tokio::test]
async fn require_against_a_server_without_tls_fails_instead_of_falling_back() {
    let url = std::env::var(adapters_postgres::testing::DATABASE_URL_VAR).unwrap();
    let separator = if url.contains('?') { '&' } else { '?' };
    assert!(ping(&url).await.is_ok(), "prefer falls back to plain text");
    let required = ping(&format!("{url}{separator}sslmode=require")).await;
    assert!(
        matches!(required, Err(RepoError::Unavailable(_))),
        "{required:?}"
    );
}
