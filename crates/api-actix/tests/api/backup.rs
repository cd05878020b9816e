//! `ems backup DIR` and `ems restore FILE`, run as the built binary against the test
//! cluster: a backup restored into a fresh database serves the same users, sessions and a
//! valid audit log of the same length; retention keeps the newest `BACKUP_KEEP`; every
//! failure is one line on stderr and leaves the older backups as they were; a restore
//! refuses a database that is not empty and rolls back a damaged archive.

use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::Command;

use adapters_postgres::testing::TestDatabase;
use serde_json::{json, Value};

use crate::helpers::{audit_key_file, refresh_token, sealed, token, TestApp, Vars, STRONG};

/// An archive name of the past, as `ems backup` writes them.
const OLD: &str = "ems-20200101T000000.000Z.dump";

/// A directory of the test's own, deleted with it.
struct Scratch(PathBuf);

impl Scratch {
    fn new(tag: &str) -> Self {
        let dir = std::env::temp_dir().join(format!("ems-backup-{tag}-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir(&dir).unwrap();
        Self(dir)
    }

    fn path(&self) -> &Path {
        &self.0
    }

    fn arg(&self) -> &str {
        self.0.to_str().unwrap()
    }

    /// The names in the directory, sorted.
    fn names(&self) -> Vec<String> {
        let mut names: Vec<String> = std::fs::read_dir(&self.0)
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        names.sort();
        names
    }

    /// The names `ems backup` wrote now (not in the past, as [`OLD`]).
    fn new_backups(&self) -> Vec<String> {
        self.names()
            .into_iter()
            .filter(|n| n.starts_with("ems-20") && !n.starts_with("ems-2020"))
            .collect()
    }

    fn write(&self, name: &str, contents: &str) {
        std::fs::write(self.0.join(name), contents).unwrap();
    }

    fn read(&self, name: &str) -> String {
        std::fs::read_to_string(self.0.join(name)).unwrap()
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::set_permissions(&self.0, std::fs::Permissions::from_mode(0o755));
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// The test cluster's client tools first (xtask's cluster is PostgreSQL 15), then the
/// usual `PATH`.
fn path_with_pg_tools() -> String {
    format!(
        "/usr/lib/postgresql/15/bin:{}",
        std::env::var("PATH").unwrap_or_default()
    )
}

/// `command` with only the given environment (and `PATH`).
fn environment(mut command: Command, env: &[(&str, &str)]) -> Command {
    command
        .env_clear()
        .env("PATH", path_with_pg_tools())
        .env("LOG_FORMAT", "pretty")
        .envs(env.iter().copied());
    command
}

/// `ems ARGS` with only the given environment.
fn ems(args: &[&str], env: &[(&str, &str)]) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_ems"));
    command.args(args);
    environment(command, env)
}

/// How a run ended.
struct Outcome {
    code: Option<i32>,
    stdout: String,
    stderr: String,
}

impl Outcome {
    #[track_caller]
    fn assert_success(&self) {
        assert_eq!(
            self.code,
            Some(0),
            "stdout: {}\nstderr: {}",
            self.stdout,
            self.stderr
        );
    }

    /// Asserts a failure reported in exactly one line on stderr, and returns it.
    #[track_caller]
    fn one_line_failure(&self, code: i32) -> &str {
        assert_eq!(self.code, Some(code), "stderr: {}", self.stderr);
        assert_eq!(self.stderr.trim().lines().count(), 1, "{}", self.stderr);
        self.stderr.trim()
    }
}

/// Runs `command` off the test's runtime thread (the servers share it).
async fn run(mut command: Command) -> Outcome {
    let out = tokio::task::spawn_blocking(move || command.output().unwrap())
        .await
        .unwrap();
    Outcome {
        code: out.status.code(),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// `ems backup DIR` of `db`, asserting success; the new archive's path.
async fn backup(db: &TestDatabase, dir: &Scratch) -> PathBuf {
    let before = dir.new_backups();
    run(ems(&["backup", dir.arg()], &[("DATABASE_URL", db.url())]))
        .await
        .assert_success();
    let added: Vec<String> = dir
        .new_backups()
        .into_iter()
        .filter(|n| !before.contains(n))
        .collect();
    assert_eq!(added.len(), 1, "one new archive: {:?}", dir.names());
    dir.path().join(&added[0])
}

/// The same kept signing key for every server of a test, as in production.
fn signing_key(vars: &mut Vars) {
    vars.insert(
        "JWT_SIGNING_KEYS".into(),
        concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../adapters-crypto/tests/fixtures/jwt-ed25519.pem"
        )
        .into(),
    );
}

/// `GET path` as `token`, asserting 200: the ids and one field of the list's items.
async fn items(app: &TestApp, path: &str, token: &str, field: &str) -> Vec<(String, Value)> {
    let reply = app.call("GET", path, Some(token), None).await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    let mut items: Vec<(String, Value)> = reply.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|item| (item["id"].as_str().unwrap().to_owned(), item[field].clone()))
        .collect();
    items.sort_by(|a, b| a.0.cmp(&b.0));
    items
}

/// Tables, views and sequences in `public`.
async fn relations(db: &TestDatabase) -> i64 {
    db.query_i64(
        "SELECT count(*) AS n FROM pg_class c JOIN pg_namespace s ON s.oid = c.relnamespace \
         WHERE s.nspname = 'public' AND c.relkind IN ('r', 'p', 'v', 'm', 'S', 'f')",
    )
    .await
}

#[actix_rt::test]
async fn a_backup_restored_into_a_fresh_database_serves_the_same_users_sessions_and_audit_log() {
    let source = TestApp::spawn_with(signing_key).await;
    let admin = source.admin_token().await;
    let alice = source.create_user(&admin, "alice", "USER").await;
    let alice_id = alice["id"].as_str().unwrap();
    source.create_user(&admin, "bob", "USER").await;
    let alice_pair = source.login("alice", STRONG).await;
    source.login("bob", STRONG).await;
    let rows = source
        .db
        .query_i64("SELECT count(*) AS n FROM audit_logs")
        .await;
    let verified = sealed(&source, &admin, rows).await;
    assert_eq!(
        verified,
        json!({"valid": true, "checked": rows, "firstBrokenId": null})
    );
    let users = items(&source, "/api/v1/users?limit=100", &admin, "username").await;
    assert_eq!(users.len(), 3, "root, alice and bob: {users:?}");
    let sessions_path = format!("/api/v1/users/{alice_id}/sessions");
    let sessions = items(&source, &sessions_path, &admin, "expiresAt").await;
    assert_eq!(sessions.len(), 1, "{sessions:?}");

    let dir = Scratch::new("round-trip");
    let archive = backup(&source.db, &dir).await;
    let metadata = std::fs::metadata(&archive).unwrap();
    assert_eq!(
        metadata.mode() & 0o777,
        0o600,
        "the archive is its owner's only"
    );
    eprintln!("archive of {rows} audit entries: {} bytes", metadata.len());

    let target = TestDatabase::empty().await;
    run(ems(
        &["restore", archive.to_str().unwrap()],
        &[("DATABASE_URL", target.url())],
    ))
    .await
    .assert_success();
    let audit_key = audit_key_file(&source.db);
    let restored = TestApp::spawn_on(target, |vars| {
        signing_key(vars);
        vars.insert("AUDIT_HMAC_KEY".into(), audit_key.to_str().unwrap().into());
    })
    .await;

    // First, before anything new is audited: the same log, still valid.
    let reply = restored
        .call("GET", "/api/v1/audit-logs/verify", Some(&admin), None)
        .await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    assert_eq!(
        reply.body, verified,
        "the restored log verifies, same count"
    );
    assert_eq!(
        items(&restored, "/api/v1/users?limit=100", &admin, "username").await,
        users
    );
    assert_eq!(
        items(&restored, &sessions_path, &admin, "expiresAt").await,
        sessions
    );
    // The sessions are live: alice's tokens of the old server work on the restored one.
    let profile = restored
        .call("GET", "/api/v1/profile", Some(&token(&alice_pair)), None)
        .await;
    assert_eq!(profile.status, 200, "{}", profile.body);
    assert_eq!(profile.body["username"], "alice");
    let refreshed = restored
        .call(
            "POST",
            "/api/v1/auth/refresh",
            None,
            Some(json!({ "refreshToken": refresh_token(&alice_pair) })),
        )
        .await;
    assert_eq!(refreshed.status, 200, "{}", refreshed.body);
    assert_eq!(refreshed.body["sessionId"], alice_pair["sessionId"]);
}

#[actix_rt::test]
async fn a_backup_keeps_the_newest_backup_keep_archives_and_no_other_file_is_touched() {
    let db = TestDatabase::new().await;
    let dir = Scratch::new("keep");
    for name in [
        OLD,
        "ems-20200102T000000.000Z.dump",
        "ems-20200103T000000.000Z.dump",
        "ems-before-upgrade.dump",
        "notes.txt",
    ] {
        dir.write(name, "older");
    }
    let keep = |dir: &Scratch| {
        ems(
            &["backup", dir.arg()],
            &[("DATABASE_URL", db.url()), ("BACKUP_KEEP", "2")],
        )
    };

    let first = run(keep(&dir)).await;
    first.assert_success();
    let new = dir.new_backups();
    assert_eq!(new.len(), 1);
    assert_eq!(
        dir.names(),
        [
            "ems-20200103T000000.000Z.dump",
            new[0].as_str(),
            "ems-before-upgrade.dump",
            "notes.txt"
        ]
    );
    assert!(first.stdout.contains("deleted 2 older"), "{}", first.stdout);

    run(keep(&dir)).await.assert_success();
    let newer = dir.new_backups();
    assert_eq!(newer.len(), 2);
    assert_eq!(newer[0], new[0]);
    assert_eq!(
        dir.names(),
        [
            new[0].as_str(),
            newer[1].as_str(),
            "ems-before-upgrade.dump",
            "notes.txt"
        ]
    );
}

#[actix_rt::test]
async fn a_backup_into_an_unwritable_directory_fails_with_one_line_and_keeps_the_older_ones() {
    let db = TestDatabase::new().await;
    let dir = Scratch::new("unwritable");
    dir.write(OLD, "older backup");
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o555)).unwrap();
    let mut command = ems(&["backup", dir.arg()], &[("DATABASE_URL", db.url())]);
    // Root writes anywhere; as nobody the directory is read-only again.
    if std::fs::metadata(dir.path()).unwrap().uid() == 0 {
        command.uid(65534).gid(65534);
    }

    let outcome = run(command).await;

    let line = outcome.one_line_failure(1);
    assert!(
        line.starts_with(&format!(
            "ems: backup: cannot write a backup into {}: Permission denied",
            dir.arg()
        )),
        "{line}"
    );
    assert_eq!(dir.names(), [OLD]);
    assert_eq!(dir.read(OLD), "older backup");
}

#[actix_rt::test]
async fn a_backup_that_cannot_be_written_whole_leaves_no_partial_file_and_keeps_the_older_ones() {
    let db = TestDatabase::new().await;
    let dir = Scratch::new("full");
    dir.write(OLD, "older backup");
    // A file size limit of 1 KiB stands in for a full disk: pg_dump's writes fail part-way.
    let mut command = Command::new("sh");
    command
        .arg("-c")
        .arg("ulimit -f 2 && exec \"$0\" backup \"$1\"")
        .arg(env!("CARGO_BIN_EXE_ems"))
        .arg(dir.arg());
    let command = environment(command, &[("DATABASE_URL", db.url())]);

    let outcome = run(command).await;

    let line = outcome.one_line_failure(1);
    assert!(line.starts_with("ems: backup: pg_dump failed: "), "{line}");
    assert!(line.ends_with("(no backup was written; older backups were left as they were)"));
    assert_eq!(dir.names(), [OLD], "no partial file is left");
    assert_eq!(dir.read(OLD), "older backup");
}

#[actix_rt::test]
async fn a_backup_of_an_unreachable_database_fails_with_one_line_that_hides_the_password() {
    let dir = Scratch::new("unreachable");
    dir.write(OLD, "older backup");
    let url = "postgres://ems:Sup3r-s3cret-pw@127.0.0.1:1/ems";

    let outcome = run(ems(&["backup", dir.arg()], &[("DATABASE_URL", url)])).await;

    let line = outcome.one_line_failure(1);
    assert!(line.starts_with("ems: backup: pg_dump failed: "), "{line}");
    assert!(line.contains("127.0.0.1"), "{line}");
    assert!(!outcome.stderr.contains("s3cret") && !outcome.stdout.contains("s3cret"));
    assert_eq!(dir.names(), [OLD]);
}

#[actix_rt::test]
async fn a_backup_without_pg_dump_on_the_path_says_what_to_install() {
    let db = TestDatabase::new().await;
    let dir = Scratch::new("no-pg-dump");
    dir.write(OLD, "older backup");

    let outcome = run(ems(
        &["backup", dir.arg()],
        &[("DATABASE_URL", db.url()), ("PATH", "/nonexistent")],
    ))
    .await;

    let line = outcome.one_line_failure(1);
    assert!(line.contains("pg_dump was not found on PATH"), "{line}");
    assert!(line.contains("postgresql-client"), "{line}");
    assert_eq!(dir.names(), [OLD]);
}

#[actix_rt::test]
async fn backup_keep_below_one_stops_with_one_line_naming_it() {
    let dir = Scratch::new("keep-zero");

    let outcome = run(ems(
        &["backup", dir.arg()],
        &[
            ("DATABASE_URL", "postgres://nobody@127.0.0.1:1/none"),
            ("BACKUP_KEEP", "0"),
        ],
    ))
    .await;

    let line = outcome.one_line_failure(2);
    assert_eq!(
        line,
        "ems: configuration error: BACKUP_KEEP: must be at least 1 (the backup just written)"
    );
    assert!(dir.names().is_empty());
}

#[actix_rt::test]
async fn a_restore_into_a_database_that_is_not_empty_refuses_and_changes_nothing() {
    let app = TestApp::spawn().await;
    let admin = app.admin_token().await;
    app.create_user(&admin, "alice", "USER").await;
    let dir = Scratch::new("not-empty");
    let archive = backup(&app.db, &dir).await;
    let users = app.db.query_i64("SELECT count(*) AS n FROM users").await;

    let outcome = run(ems(
        &["restore", archive.to_str().unwrap()],
        &[("DATABASE_URL", app.db.url())],
    ))
    .await;

    let line = outcome.one_line_failure(1);
    assert!(line.starts_with("ems: restore: "), "{line}");
    assert!(
        line.contains("is not empty") && line.contains("restore into a new, empty database"),
        "{line}"
    );
    assert_eq!(
        app.db.query_i64("SELECT count(*) AS n FROM users").await,
        users
    );
}

#[actix_rt::test]
async fn a_restore_of_a_damaged_archive_fails_with_one_line_and_leaves_the_database_empty() {
    let source = TestDatabase::new().await;
    let dir = Scratch::new("damaged");
    let archive = backup(&source, &dir).await;
    // The table data comes last: cut there, the schema is created before pg_restore fails.
    let bytes = std::fs::read(&archive).unwrap();
    std::fs::write(&archive, &bytes[..bytes.len() - 16]).unwrap();
    let target = TestDatabase::empty().await;

    let outcome = run(ems(
        &["restore", archive.to_str().unwrap()],
        &[("DATABASE_URL", target.url())],
    ))
    .await;

    let line = outcome.one_line_failure(1);
    assert!(
        line.starts_with("ems: restore: pg_restore failed: "),
        "{line}"
    );
    assert_eq!(
        relations(&target).await,
        0,
        "the one transaction rolled back"
    );
}

#[actix_rt::test]
async fn a_restore_of_a_missing_file_fails_with_one_line_naming_it() {
    let target = TestDatabase::empty().await;

    let outcome = run(ems(
        &["restore", "/nonexistent/ems.dump"],
        &[("DATABASE_URL", target.url())],
    ))
    .await;

    let line = outcome.one_line_failure(1);
    assert!(
        line.starts_with("ems: restore: cannot read /nonexistent/ems.dump: "),
        "{line}"
    );
    assert_eq!(relations(&target).await, 0);
}

#[actix_rt::test]
async fn ems_migrate_revert_rolls_the_newest_back_and_migrate_applies_them_again() {
    let db = TestDatabase::new().await;
    let newest = adapters_postgres::embedded_versions()
        .unwrap()
        .last()
        .cloned()
        .unwrap();
    let env = [("DATABASE_URL", db.url())];

    let reverted = run(ems(&["migrate", "--revert", "1"], &env)).await;
    reverted.assert_success();
    assert!(reverted.stdout.contains(&newest), "{}", reverted.stdout);

    let applied = run(ems(&["migrate"], &env)).await;
    applied.assert_success();
    assert!(applied.stdout.contains(&newest), "{}", applied.stdout);

    let too_many = run(ems(&["migrate", "--revert", "9999"], &env)).await;
    assert!(
        too_many.one_line_failure(1).contains("only"),
        "{}",
        too_many.stderr
    );
    let bad = run(ems(&["migrate", "--revert", "one"], &env)).await;
    assert!(
        bad.one_line_failure(2).contains("whole number"),
        "{}",
        bad.stderr
    );
    let unchanged = run(ems(&["migrate"], &env)).await;
    assert!(
        unchanged.stdout.contains("up to date"),
        "{}",
        unchanged.stdout
    );
}
