//! Signing keys (`JWT_SIGNING_KEYS`, newest first: the first signs, all verify, all
//! are published): rotation under a running client across server restarts over one
//! database, forged and altered tokens at the HTTP edge, and `ems keygen`.

use std::cell::{Cell, RefCell};
use std::path::{Path, PathBuf};
use std::rc::Rc;
use std::sync::Arc;
use std::time::Duration;

use adapters_crypto::{jwt, JwtIssuer, JwtKeys};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use domain::ports::TokenIssuer as _;
use domain::session::SessionId;
use domain::token::AccessClaims;
use domain::user::UserId;
use secrecy::ExposeSecret as _;
use serde_json::{json, Value};

use crate::helpers::{refresh_token, token, TestApp, Vars, ADMIN, ADMIN_PASSWORD};
use crate::tls::Scratch;

/// Two signing keys made at test time: `k1` Ed25519 (as `ems keygen` makes it), `k2`
/// ECDSA P-256, so the rotation also changes the algorithm.
struct TestKeys {
    dir: Scratch,
    k1: PathBuf,
    k2: PathBuf,
}

impl TestKeys {
    fn new() -> Self {
        use p256::pkcs8::EncodePrivateKey as _;
        let dir = Scratch::new("keys");
        let k1 = dir.write(
            "k1.pem",
            jwt::generate_ed25519_pem().unwrap().expose_secret(),
        );
        let p256 = p256::SecretKey::random(&mut rand::rngs::OsRng)
            .to_pkcs8_pem(p256::pkcs8::LineEnding::LF)
            .unwrap();
        let k2 = dir.write("k2.pem", &p256);
        Self { dir, k1, k2 }
    }
}

/// `JWT_SIGNING_KEYS` for these files, newest first.
fn signing_keys(paths: &[&Path]) -> impl FnOnce(&mut Vars) {
    let list = paths
        .iter()
        .map(|p| p.to_str().unwrap())
        .collect::<Vec<_>>()
        .join(",");
    move |vars: &mut Vars| {
        vars.insert("JWT_SIGNING_KEYS".into(), list);
    }
}

/// The `kid` a key file is published under.
fn kid_of(path: &Path) -> String {
    JwtKeys::load(&[path.to_owned()])
        .unwrap()
        .signing_kid()
        .to_owned()
}

/// A token's header, decoded (no verification).
fn header_of(token: &str) -> Value {
    let head = token.split('.').next().unwrap();
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(head).unwrap()).unwrap()
}

fn kid_in(token: &str) -> String {
    header_of(token)["kid"].as_str().unwrap().to_owned()
}

/// The `kid`s of the published JWKS, in order.
async fn published_kids(app: &TestApp) -> Vec<String> {
    let jwks = app.call("GET", "/.well-known/jwks.json", None, None).await;
    assert_eq!(jwks.status, 200, "{}", jwks.body);
    jwks.body["keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["kid"].as_str().unwrap().to_owned())
        .collect()
}

/// A client that keeps calling `GET /profile` with the access token it was given,
/// every 20 ms, at whatever server it is pointed at, and notes every answer. Between
/// two servers it gets no answer at all (counted apart), never a wrong one.
struct RunningClient {
    target: Rc<RefCell<String>>,
    answers: Rc<RefCell<Vec<(String, u16)>>>,
    unanswered: Rc<Cell<usize>>,
    stop: Rc<Cell<bool>>,
    task: actix_rt::task::JoinHandle<()>,
}

impl RunningClient {
    fn start(address: &str, access_token: String) -> Self {
        let target = Rc::new(RefCell::new(address.to_owned()));
        let answers = Rc::new(RefCell::new(Vec::new()));
        let unanswered = Rc::new(Cell::new(0));
        let stop = Rc::new(Cell::new(false));
        let task = actix_rt::spawn({
            let (target, answers, unanswered, stop) = (
                target.clone(),
                answers.clone(),
                unanswered.clone(),
                stop.clone(),
            );
            async move {
                let client = awc::Client::builder()
                    .timeout(Duration::from_secs(5))
                    .finish();
                while !stop.get() {
                    let base = target.borrow().clone();
                    let sent = client
                        .get(format!("{base}/api/v1/profile"))
                        .bearer_auth(&access_token)
                        .send()
                        .await;
                    match sent {
                        Ok(res) => answers.borrow_mut().push((base, res.status().as_u16())),
                        Err(_) => unanswered.set(unanswered.get() + 1),
                    }
                    actix_rt::time::sleep(Duration::from_millis(20)).await;
                }
            }
        });
        Self {
            target,
            answers,
            unanswered,
            stop,
            task,
        }
    }

    /// Points the client at another server (the restarted one).
    fn follow(&self, address: &str) {
        *self.target.borrow_mut() = address.to_owned();
    }

    /// Waits until `server` has answered `n` calls (at most 30 s).
    async fn wait_for_answers_from(&self, server: &str, n: usize) {
        for _ in 0..1500 {
            let seen = self
                .answers
                .borrow()
                .iter()
                .filter(|(base, _)| base == server)
                .count();
            if seen >= n {
                return;
            }
            actix_rt::time::sleep(Duration::from_millis(20)).await;
        }
        panic!(
            "{server} answered fewer than {n} calls: {:?}",
            self.answers.borrow()
        );
    }

    /// Stops calling; every answer it got, with the server that gave it.
    async fn finish(self) -> (Vec<(String, u16)>, usize) {
        self.stop.set(true);
        self.task.await.unwrap();
        let answers = self.answers.borrow().clone();
        (answers, self.unanswered.get())
    }
}

#[actix_rt::test]
async fn a_signed_in_client_survives_a_key_rotation_and_the_old_key_can_then_be_retired() {
    let keys = TestKeys::new();
    let (kid1, kid2) = (kid_of(&keys.k1), kid_of(&keys.k2));

    // Server A signs with k1; the client signs in and keeps calling.
    let a = TestApp::spawn_with(signing_keys(&[&keys.k1])).await;
    let pair = a.login(ADMIN, ADMIN_PASSWORD).await;
    let old_access = token(&pair);
    assert_eq!(kid_in(&old_access), kid1);
    let client = RunningClient::start(&a.address, old_access.clone());
    client.wait_for_answers_from(&a.address, 2).await;

    // Restart: A stops, B starts over the same database with k2 first, k1 still listed.
    let a_address = a.address.clone();
    let db = a.stop().await;
    let b = TestApp::spawn_on(db, signing_keys(&[&keys.k2, &keys.k1])).await;
    client.follow(&b.address);
    client.wait_for_answers_from(&b.address, 3).await;
    let (answers, _gap) = client.finish().await;

    assert!(
        answers.iter().all(|(_, status)| *status == 200),
        "the old token was refused somewhere: {answers:?}"
    );
    assert!(answers.iter().any(|(base, _)| *base == a_address));
    assert_eq!(published_kids(&b).await, vec![kid2.clone(), kid1.clone()]);

    // New logins on B get k2 tokens.
    let fresh = b.login(ADMIN, ADMIN_PASSWORD).await;
    assert_eq!(kid_in(&token(&fresh)), kid2);
    assert_eq!(header_of(&token(&fresh))["alg"], "ES256");

    // The client's refresh token from A works on B, and its new access token is k2's.
    let refreshed = b
        .call(
            "POST",
            "/api/v1/auth/refresh",
            None,
            Some(json!({ "refreshToken": refresh_token(&pair) })),
        )
        .await;
    assert_eq!(refreshed.status, 200, "{}", refreshed.body);
    let new_access = token(&refreshed.body);
    assert_eq!(kid_in(&new_access), kid2);
    for access in [&new_access, &old_access] {
        let profile = b.call("GET", "/api/v1/profile", Some(access), None).await;
        assert_eq!(profile.status, 200, "{}", profile.body);
    }

    // Server C lists k2 only: k1's tokens are refused, k2's keep working.
    let db = b.stop().await;
    let c = TestApp::spawn_on(db, signing_keys(&[&keys.k2])).await;
    assert_eq!(published_kids(&c).await, vec![kid2]);
    c.call("GET", "/api/v1/profile", Some(&old_access), None)
        .await
        .assert_error(401, "TOKEN_INVALID");
    for access in [&new_access, &token(&fresh)] {
        let profile = c.call("GET", "/api/v1/profile", Some(access), None).await;
        assert_eq!(profile.status, 200, "{}", profile.body);
    }
    drop(keys.dir);
}

/// What a forger holding (or not holding) a key can make, for one real session.
struct Forge {
    keys: Arc<JwtKeys>,
    user: UserId,
    session: SessionId,
}

impl Forge {
    fn claims(&self, expires_in: i64) -> AccessClaims {
        let now = chrono::Utc::now().timestamp();
        AccessClaims {
            user_id: self.user,
            session_id: self.session,
            token_id: uuid::Uuid::new_v4(),
            issued_at: now,
            expires_at: now + expires_in,
        }
    }

    /// Signed with the server's own key, stamped with `iss` / `aud`.
    fn signed(&self, iss: &str, aud: &str, expires_in: i64) -> String {
        JwtIssuer::new(self.keys.clone(), iss, aud)
            .issue(&self.claims(expires_in))
            .unwrap()
    }
}

fn b64(value: &Value) -> String {
    URL_SAFE_NO_PAD.encode(value.to_string())
}

#[actix_rt::test]
async fn forged_and_altered_access_tokens_are_refused_with_the_contract_codes() {
    let keys = TestKeys::new();
    let app = TestApp::spawn_with(signing_keys(&[&keys.k1])).await;
    let pair = app.login(ADMIN, ADMIN_PASSWORD).await;
    let genuine = token(&pair);
    let forge = Forge {
        keys: Arc::new(JwtKeys::load(std::slice::from_ref(&keys.k1)).unwrap()),
        user: UserId(pair["user"]["id"].as_str().unwrap().parse().unwrap()),
        session: SessionId(pair["sessionId"].as_str().unwrap().parse().unwrap()),
    };
    let kid = kid_of(&keys.k1);
    let (head, body_and_sig) = genuine.split_once('.').unwrap();
    let (body, sig) = body_and_sig.split_once('.').unwrap();

    // The harness makes tokens the server takes: only the alteration is refused below.
    let control = forge.signed("ems", "ems-api", 600);
    let ok = app
        .call("GET", "/api/v1/profile", Some(&control), None)
        .await;
    assert_eq!(ok.status, 200, "{}", ok.body);

    let none_header = b64(&json!({ "alg": "none", "typ": "JWT", "kid": kid }));
    let hs256 = {
        let jwk = &forge.keys.jwks()["keys"][0];
        let public = URL_SAFE_NO_PAD.decode(jwk["x"].as_str().unwrap()).unwrap();
        let mut header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256);
        header.kid = Some(kid.clone());
        let payload: Value =
            serde_json::from_slice(&URL_SAFE_NO_PAD.decode(body).unwrap()).unwrap();
        jsonwebtoken::encode(
            &header,
            &payload,
            &jsonwebtoken::EncodingKey::from_secret(&public),
        )
        .unwrap()
    };
    let bad_signature = {
        let mut raw = URL_SAFE_NO_PAD.decode(sig).unwrap();
        raw[7] ^= 0x01;
        format!("{head}.{body}.{}", URL_SAFE_NO_PAD.encode(raw))
    };
    let stranger = {
        // The right kid, signed by a key the server does not hold.
        let other = TestKeys::new();
        let other_keys = Arc::new(JwtKeys::load(std::slice::from_ref(&other.k1)).unwrap());
        let foreign = Forge {
            keys: other_keys,
            user: forge.user,
            session: forge.session,
        }
        .signed("ems", "ems-api", 600);
        let (_, rest) = foreign.split_once('.').unwrap();
        format!("{head}.{rest}")
    };
    let expired_and_forged = {
        let expired = forge.signed("ems", "ems-api", -60);
        let (signed_part, _) = expired.rsplit_once('.').unwrap();
        format!("{signed_part}.{sig}")
    };
    let cases = [
        (
            "alg none, empty signature",
            format!("{none_header}.{body}."),
        ),
        ("alg none, no signature", format!("{none_header}.{body}")),
        ("HS256 keyed with the public key", hs256),
        ("a flipped signature bit", bad_signature),
        ("another key's signature", stranger),
        ("wrong aud", forge.signed("ems", "another-api", 600)),
        (
            "wrong iss",
            forge.signed("https://evil.example", "ems-api", 600),
        ),
        ("expired but forged", expired_and_forged),
    ];

    for (what, forged) in &cases {
        let reply = app.call("GET", "/api/v1/profile", Some(forged), None).await;
        assert_eq!(
            (reply.status, reply.code()),
            (401, "TOKEN_INVALID"),
            "{what}: {}",
            reply.body
        );
        reply.assert_error(401, "TOKEN_INVALID");
    }
    // Expired with a good signature is the one case told apart.
    app.call(
        "GET",
        "/api/v1/profile",
        Some(&forge.signed("ems", "ems-api", -60)),
        None,
    )
    .await
    .assert_error(401, "TOKEN_EXPIRED");
}

/// Runs the built `ems` binary with only `env` in its environment.
fn ems(args: &[&str], env: &[(&str, &str)]) -> std::process::Output {
    std::process::Command::new(env!("CARGO_BIN_EXE_ems"))
        .args(args)
        .env_clear()
        .envs(env.iter().copied())
        .output()
        .unwrap()
}

#[test]
fn ems_keygen_writes_a_0600_key_once_and_refuses_to_overwrite_it() {
    use std::os::unix::fs::PermissionsExt as _;
    let dir = Scratch::new("keygen");
    let path = dir.path("signing-key.pem");
    let path_text = path.to_str().unwrap();

    let first = ems(&["keygen", path_text], &[]);
    let stdout = String::from_utf8_lossy(&first.stdout).into_owned();
    assert!(first.status.success(), "{first:?}");
    let mode = std::fs::metadata(&path).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o600);
    let keys = JwtKeys::load(std::slice::from_ref(&path)).unwrap();
    assert_eq!(keys.jwks()["keys"][0]["alg"], "EdDSA");
    assert!(stdout.contains(keys.signing_kid()), "{stdout}");
    let written = std::fs::read_to_string(&path).unwrap();
    assert!(
        !stdout.contains(written.lines().nth(1).unwrap()),
        "no key material printed"
    );

    let second = ems(&["keygen", path_text], &[]);
    assert_eq!(second.status.code(), Some(1), "{second:?}");
    let stderr = String::from_utf8_lossy(&second.stderr);
    assert!(stderr.contains("already exists"), "{stderr}");
    assert_eq!(stderr.trim().lines().count(), 1, "{stderr}");
    assert_eq!(
        std::fs::read_to_string(&path).unwrap(),
        written,
        "untouched"
    );
}

#[test]
fn ems_keygen_without_a_path_prints_the_usage() {
    let out = ems(&["keygen"], &[]);

    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("keygen PATH"));
}

#[test]
fn a_production_start_without_signing_keys_stops_with_one_line() {
    let out = ems(
        &["serve"],
        &[
            ("DATABASE_URL", "postgres://nobody@127.0.0.1:1/none"),
            ("APP_ENV", "production"),
        ],
    );

    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert_eq!(stderr.trim().lines().count(), 1, "{stderr}");
    assert!(
        stderr.starts_with("ems: configuration error: JWT_SIGNING_KEYS: is required"),
        "{stderr}"
    );
}
