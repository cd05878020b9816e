//! HTTPS in the server itself (`TLS_CERT_FILE` + `TLS_KEY_FILE`, ADR 0013): the PEM
//! files are read once at start into a rustls [`ServerConfig`] with the `ring` provider
//! and rustls' safe defaults (TLS 1.2 and 1.3 only, no client certificates).
//!
//! Every failure is a [`TlsError`] that renders as one line naming the variable and the
//! file. None ever quotes the files' contents: a PEM parser's message can echo a line
//! of the key, so only the kind of problem is reported.

use std::path::Path;
use std::sync::Arc;

use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::{self, PemObject};
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::ServerConfig;
use rustls::sign::{CertifiedKey, SingleCertAndKey};

use crate::config::{var, TlsFiles};

/// Why the TLS files could not be used. Displays as one line, `VARIABLE: problem`,
/// never with key material.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TlsError {
    /// A file could not be read (missing, unreadable, a directory...).
    #[error("{var}: cannot read {path}: {reason}")]
    Read {
        /// `TLS_CERT_FILE` or `TLS_KEY_FILE`.
        var: &'static str,
        /// The file.
        path: String,
        /// The I/O error kind.
        reason: String,
    },
    /// A file is not well-formed PEM.
    #[error("{var}: {path} is not valid PEM")]
    BadPem {
        /// `TLS_CERT_FILE` or `TLS_KEY_FILE`.
        var: &'static str,
        /// The file.
        path: String,
    },
    /// The certificate file holds no `CERTIFICATE` section.
    #[error("{var}: {path} holds no PEM certificate", var = var::TLS_CERT_FILE)]
    NoCertificate {
        /// The file.
        path: String,
    },
    /// The first certificate cannot be parsed as X.509.
    #[error("{var}: the first certificate of {path} is not a valid X.509 certificate", var = var::TLS_CERT_FILE)]
    BadCertificate {
        /// The file.
        path: String,
    },
    /// The key file holds no unencrypted private key.
    #[error("{var}: {path} holds no unencrypted PEM private key (PKCS#8, RSA or SEC1)", var = var::TLS_KEY_FILE)]
    NoKey {
        /// The file.
        path: String,
    },
    /// The key is of a kind or size rustls cannot sign with.
    #[error("{var}: {path} is not a usable private key (RSA 2048+, ECDSA P-256/P-384 or Ed25519)", var = var::TLS_KEY_FILE)]
    UnsupportedKey {
        /// The file.
        path: String,
    },
    /// The key does not belong to the certificate.
    #[error("{var}: {path} does not match the certificate of {cert}", var = var::TLS_KEY_FILE, cert = var::TLS_CERT_FILE)]
    KeyMismatch {
        /// The file.
        path: String,
    },
    /// rustls refused the protocol versions (a build without TLS 1.2/1.3; a bug).
    #[error("{var}: cannot build the TLS configuration: {0}", var = var::TLS_CERT_FILE)]
    Config(String),
}

/// The crypto provider of every TLS connection: `ring`, chosen explicitly rather than
/// through rustls' process-wide default, so another crate enabling `aws-lc-rs` cannot
/// make the choice ambiguous.
fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// Reads the certificate chain and key and builds the server's TLS configuration.
/// Checks that the key matches the first certificate, so a mix-up is a start-up error
/// rather than a handshake failure at the first client.
pub fn load(files: &TlsFiles) -> Result<ServerConfig, TlsError> {
    let certs = read_certs(&files.cert_file)?;
    let key = read_key(&files.key_file)?;
    let provider = provider();
    let key_path = || files.key_file.display().to_string();
    let signer = provider
        .key_provider
        .load_private_key(key)
        .map_err(|_| TlsError::UnsupportedKey { path: key_path() })?;
    let certified = CertifiedKey::new(certs, signer);
    match certified.keys_match() {
        // `Unknown`: the key cannot tell its public half; rustls accepts that too.
        Ok(()) | Err(rustls::Error::InconsistentKeys(rustls::InconsistentKeys::Unknown)) => {}
        Err(rustls::Error::InconsistentKeys(rustls::InconsistentKeys::KeyMismatch)) => {
            return Err(TlsError::KeyMismatch { path: key_path() })
        }
        Err(_) => {
            return Err(TlsError::BadCertificate {
                path: files.cert_file.display().to_string(),
            })
        }
    }
    let config = ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| TlsError::Config(e.to_string()))?
        .with_no_client_auth()
        .with_cert_resolver(Arc::new(SingleCertAndKey::from(certified)));
    Ok(config)
}

/// Every `CERTIFICATE` section of the file, in order (server certificate first).
fn read_certs(path: &Path) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    const VAR: &str = var::TLS_CERT_FILE;
    let certs = CertificateDer::pem_file_iter(path)
        .map_err(|e| pem_error(VAR, path, e))?
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| pem_error(VAR, path, e))?;
    if certs.is_empty() {
        return Err(TlsError::NoCertificate {
            path: path.display().to_string(),
        });
    }
    Ok(certs)
}

/// The first private key section of the file (`PRIVATE KEY`, `RSA PRIVATE KEY` or
/// `EC PRIVATE KEY`).
fn read_key(path: &Path) -> Result<PrivateKeyDer<'static>, TlsError> {
    PrivateKeyDer::from_pem_file(path).map_err(|e| match e {
        pem::Error::NoItemsFound => TlsError::NoKey {
            path: path.display().to_string(),
        },
        other => pem_error(var::TLS_KEY_FILE, path, other),
    })
}

/// An I/O error keeps its kind; any other PEM error is reported without its message
/// (which can quote a line of the file).
fn pem_error(var: &'static str, path: &Path, err: pem::Error) -> TlsError {
    let path = path.display().to_string();
    match err {
        pem::Error::Io(e) => TlsError::Read {
            var,
            path,
            reason: e.kind().to_string(),
        },
        _ => TlsError::BadPem { var, path },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::PathBuf;

    /// A scratch directory of this test, removed when dropped.
    struct Scratch(PathBuf);

    impl Scratch {
        fn new(name: &str) -> Self {
            let dir = std::env::temp_dir().join(format!(
                "ems-tls-{name}-{}-{}",
                std::process::id(),
                uuid::Uuid::new_v4().simple()
            ));
            std::fs::create_dir_all(&dir).unwrap();
            Self(dir)
        }

        fn write(&self, name: &str, contents: &str) -> PathBuf {
            let path = self.0.join(name);
            std::fs::write(&path, contents).unwrap();
            path
        }
    }

    impl Drop for Scratch {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }

    /// A self-signed certificate for `localhost` and its PKCS#8 key, as PEM.
    fn self_signed() -> (String, String) {
        let cert = rcgen::generate_simple_self_signed(vec!["localhost".to_owned()]).unwrap();
        (cert.cert.pem(), cert.signing_key.serialize_pem())
    }

    fn files(cert: PathBuf, key: PathBuf) -> TlsFiles {
        TlsFiles {
            cert_file: cert,
            key_file: key,
        }
    }

    fn error_of(files: &TlsFiles) -> TlsError {
        match load(files) {
            Err(e) => e,
            Ok(_) => panic!("expected an error for {files:?}"),
        }
    }

    #[track_caller]
    fn assert_one_line_naming(err: &TlsError, var: &str) {
        let line = err.to_string();
        assert!(line.starts_with(&format!("{var}: ")), "{line}");
        assert!(!line.contains('\n'), "{line}");
    }

    #[test]
    fn a_matching_certificate_and_key_make_a_tls_1_2_and_1_3_config() {
        let dir = Scratch::new("ok");
        let (cert, key) = self_signed();
        let config = load(&files(
            dir.write("cert.pem", &cert),
            dir.write("key.pem", &key),
        ))
        .unwrap();

        let versions: Vec<_> = config
            .crypto_provider()
            .cipher_suites
            .iter()
            .map(|s| s.version().version)
            .collect();
        assert!(versions.contains(&rustls::ProtocolVersion::TLSv1_3));
        assert!(versions.contains(&rustls::ProtocolVersion::TLSv1_2));
    }

    #[test]
    fn a_chain_with_an_ec_sec1_key_is_accepted() {
        use p256::pkcs8::DecodePrivateKey as _;
        let dir = Scratch::new("sec1");
        let key = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).unwrap();
        let params = rcgen::CertificateParams::new(vec!["localhost".to_owned()]).unwrap();
        let cert = params.self_signed(&key).unwrap();
        // The SEC1 form (`EC PRIVATE KEY`) of the same key, as openssl writes it.
        let secret = p256::SecretKey::from_pkcs8_der(&key.serialize_der()).unwrap();
        let sec1_pem = secret.to_sec1_pem(p256::pkcs8::LineEnding::LF).unwrap();
        let chain = format!("{}{}", cert.pem(), cert.pem());

        let loaded = load(&files(
            dir.write("chain.pem", &chain),
            dir.write("key.pem", &sec1_pem),
        ));

        assert!(loaded.is_ok(), "{:?}", loaded.err());
    }

    #[test]
    fn missing_files_name_their_variable() {
        let dir = Scratch::new("missing");
        let (cert, key) = self_signed();
        let cert = dir.write("cert.pem", &cert);
        let key = dir.write("key.pem", &key);

        let e = error_of(&files(dir.0.join("nope.pem"), key));
        assert!(matches!(e, TlsError::Read { .. }), "{e}");
        assert_one_line_naming(&e, "TLS_CERT_FILE");

        let e = error_of(&files(cert, dir.0.join("nope.pem")));
        assert!(matches!(e, TlsError::Read { .. }), "{e}");
        assert_one_line_naming(&e, "TLS_KEY_FILE");
    }

    #[test]
    fn files_without_the_expected_sections_are_refused() {
        let dir = Scratch::new("empty");
        let (cert, key) = self_signed();
        let cert_path = dir.write("cert.pem", &cert);
        let key_path = dir.write("key.pem", &key);

        // The key where the certificate belongs, and the reverse.
        let e = error_of(&files(key_path.clone(), key_path));
        assert!(matches!(e, TlsError::NoCertificate { .. }), "{e}");
        assert_one_line_naming(&e, "TLS_CERT_FILE");

        let e = error_of(&files(cert_path.clone(), cert_path));
        assert!(matches!(e, TlsError::NoKey { .. }), "{e}");
        assert_one_line_naming(&e, "TLS_KEY_FILE");
    }

    #[test]
    fn a_bad_key_file_is_refused_without_quoting_it() {
        let dir = Scratch::new("badkey");
        let (cert, _) = self_signed();
        let cert = dir.write("cert.pem", &cert);
        let secret_line = "c2VjcmV0LWtleS1tYXRlcmlhbA-not-base64!";
        let key = dir.write(
            "key.pem",
            &format!("-----BEGIN PRIVATE KEY-----\n{secret_line}\n-----END PRIVATE KEY-----\n"),
        );

        let e = error_of(&files(cert, key));

        assert_one_line_naming(&e, "TLS_KEY_FILE");
        assert!(!format!("{e} {e:?}").contains("c2VjcmV0"), "{e:?}");
    }

    #[test]
    fn a_well_formed_key_that_cannot_sign_is_unsupported() {
        let dir = Scratch::new("unsupported");
        let (cert, _) = self_signed();
        let garbage = "-----BEGIN PRIVATE KEY-----\nAAECAwQFBgcICQ==\n-----END PRIVATE KEY-----\n";

        let e = error_of(&files(
            dir.write("cert.pem", &cert),
            dir.write("key.pem", garbage),
        ));

        assert!(matches!(e, TlsError::UnsupportedKey { .. }), "{e}");
        assert_one_line_naming(&e, "TLS_KEY_FILE");
    }

    #[test]
    fn the_key_of_another_certificate_is_a_mismatch() {
        let dir = Scratch::new("mismatch");
        let (cert, _) = self_signed();
        let (_, other_key) = self_signed();

        let e = error_of(&files(
            dir.write("cert.pem", &cert),
            dir.write("key.pem", &other_key),
        ));

        assert!(matches!(e, TlsError::KeyMismatch { .. }), "{e}");
        assert_eq!(
            e.to_string(),
            format!(
                "TLS_KEY_FILE: {} does not match the certificate of TLS_CERT_FILE",
                dir.0.join("key.pem").display()
            )
        );
    }

    #[test]
    fn a_certificate_section_that_is_not_x509_is_refused() {
        let dir = Scratch::new("badcert");
        let (_, key) = self_signed();
        let junk = "-----BEGIN CERTIFICATE-----\nAAECAwQFBgcICQ==\n-----END CERTIFICATE-----\n";

        let e = error_of(&files(
            dir.write("cert.pem", junk),
            dir.write("key.pem", &key),
        ));

        assert!(matches!(e, TlsError::BadCertificate { .. }), "{e}");
        assert_one_line_naming(&e, "TLS_CERT_FILE");
    }
}
