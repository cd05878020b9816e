//! Whole-database archives: `pg_dump --format=custom` out, `pg_restore` in, and the
//! emptiness check a restore makes first.
//!
//! The PostgreSQL client tools are found on `PATH` (Debian's `postgresql-client`). The
//! password never appears in an argument (where `ps` would show it) nor in an error: the
//! tools get the URL without it and the password in `PGPASSWORD`.

use std::ffi::OsString;
use std::fs::File;
use std::os::unix::ffi::OsStringExt;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use diesel::sql_types::Text;
use diesel::QueryableByName;
use diesel_async::RunQueryDsl;

use crate::pool::{connect, driver_config, redact_url};

/// How many relation names a refusal to restore quotes.
const NAMED: usize = 3;

/// Why an archive could not be written or loaded. Displays as one line without the
/// database password.
#[derive(Debug, thiserror::Error)]
pub enum ArchiveError {
    /// The client tool is not installed (or not on `PATH`).
    #[error("{tool} was not found on PATH (install the PostgreSQL client tools, e.g. Debian's postgresql-client)")]
    ToolMissing {
        /// `pg_dump` or `pg_restore`.
        tool: &'static str,
    },
    /// The tool ran and failed; `message` is its own diagnostic, on one line.
    #[error("{tool} failed: {message}")]
    ToolFailed {
        /// `pg_dump` or `pg_restore`.
        tool: &'static str,
        /// What it reported.
        message: String,
    },
    /// The URL is malformed or the database cannot be reached.
    #[error("cannot connect to the database: {0}")]
    Connect(String),
    /// The target of a restore already holds relations: loading into it would mix two
    /// databases, so nothing was done.
    #[error("{database} is not empty (public holds {count} tables, views or sequences, e.g. {named}); restore into a new, empty database")]
    NotEmpty {
        /// The target, password redacted.
        database: String,
        /// How many relations `public` holds.
        count: usize,
        /// The first few of them.
        named: String,
    },
}

/// Writes a consistent (one snapshot) custom-format archive of the database at `url`
/// into `out`, from its start. `connect_timeout` bounds the tool's connection attempt.
/// On error `out` may hold part of an archive: the caller discards it.
pub async fn dump(url: &str, out: File, connect_timeout: Duration) -> Result<(), ArchiveError> {
    let credentials = Credentials::of(url)?;
    let mut command = Command::new("pg_dump");
    command
        .arg("--format=custom")
        .arg("--no-password")
        .arg(format!("--dbname={}", credentials.url))
        .stdout(Stdio::from(out));
    credentials.apply(&mut command, connect_timeout);
    run("pg_dump", command, &credentials).await
}

/// Loads the archive at `file` into the database at `url`, which must be empty (no
/// table, view or sequence in `public`; checked first). One transaction: a failure
/// leaves the database as empty as it was. Objects are owned by the connecting role.
pub async fn restore(
    url: &str,
    file: &Path,
    connect_timeout: Duration,
) -> Result<(), ArchiveError> {
    let credentials = Credentials::of(url)?;
    let relations = public_relations(url, connect_timeout).await?;
    if !relations.is_empty() {
        return Err(ArchiveError::NotEmpty {
            database: redact_url(url),
            count: relations.len(),
            named: relations
                .iter()
                .take(NAMED)
                .cloned()
                .collect::<Vec<_>>()
                .join(", "),
        });
    }
    let mut command = Command::new("pg_restore");
    command
        .arg("--no-owner")
        .arg("--exit-on-error")
        .arg("--single-transaction")
        .arg("--no-password")
        .arg(format!("--dbname={}", credentials.url))
        .arg(file)
        .stdout(Stdio::null());
    credentials.apply(&mut command, connect_timeout);
    run("pg_restore", command, &credentials).await
}

#[derive(QueryableByName)]
struct Relation {
    #[diesel(sql_type = Text)]
    name: String,
}

/// The tables, views and sequences in `public`, by name.
async fn public_relations(url: &str, timeout: Duration) -> Result<Vec<String>, ArchiveError> {
    let config = driver_config(url, timeout).map_err(ArchiveError::Connect)?;
    let mut conn = connect(config, timeout, None)
        .await
        .map_err(|e| ArchiveError::Connect(e.to_string()))?;
    diesel::sql_query(
        "SELECT c.relname AS name FROM pg_class c \
         JOIN pg_namespace n ON n.oid = c.relnamespace \
         WHERE n.nspname = 'public' AND c.relkind IN ('r', 'p', 'v', 'm', 'S', 'f') \
         ORDER BY c.relname",
    )
    .load::<Relation>(&mut conn)
    .await
    .map(|rows| rows.into_iter().map(|r| r.name).collect())
    .map_err(|e| ArchiveError::Connect(e.to_string()))
}

/// The URL the tools are given and the password they get beside it.
struct Credentials {
    url: String,
    password: Option<Vec<u8>>,
}

impl Credentials {
    fn of(url: &str) -> Result<Self, ArchiveError> {
        let config = driver_config(url, Duration::from_secs(1)).map_err(ArchiveError::Connect)?;
        Ok(Self {
            url: without_password(url),
            password: config.config.get_password().map(<[u8]>::to_vec),
        })
    }

    /// The password (decoded, as libpq would) and the connect timeout, as environment.
    fn apply(&self, command: &mut Command, connect_timeout: Duration) {
        if let Some(password) = &self.password {
            command.env("PGPASSWORD", OsString::from_vec(password.clone()));
        }
        // libpq's minimum is 2 s; 0 would mean "wait forever".
        command.env(
            "PGCONNECT_TIMEOUT",
            connect_timeout.as_secs().max(2).to_string(),
        );
        command.stdin(Stdio::null()).stderr(Stdio::piped());
    }

    /// `text` with any occurrence of the password masked, should a tool ever echo it.
    fn redact(&self, text: &str) -> String {
        match self.password.as_deref().map(String::from_utf8_lossy) {
            Some(password) if !password.is_empty() => text.replace(password.as_ref(), "***"),
            _ => text.to_owned(),
        }
    }
}

/// Runs the tool to completion off the async workers.
async fn run(
    tool: &'static str,
    mut command: Command,
    credentials: &Credentials,
) -> Result<(), ArchiveError> {
    let output = tokio::task::spawn_blocking(move || command.output())
        .await
        .map_err(|e| ArchiveError::ToolFailed {
            tool,
            message: e.to_string(),
        })?
        .map_err(|e| match e.kind() {
            std::io::ErrorKind::NotFound => ArchiveError::ToolMissing { tool },
            _ => ArchiveError::ToolFailed {
                tool,
                message: format!("cannot start it: {e}"),
            },
        })?;
    if output.status.success() {
        return Ok(());
    }
    let said = one_line(tool, &String::from_utf8_lossy(&output.stderr));
    let message = match (said.is_empty(), output.status.code()) {
        (false, _) => said,
        (true, Some(code)) => format!("exit status {code}"),
        (true, None) => killed(&output.status),
    };
    Err(ArchiveError::ToolFailed {
        tool,
        message: credentials.redact(&message),
    })
}

/// What a status without an exit code says: the signal that stopped the tool.
fn killed(status: &std::process::ExitStatus) -> String {
    use std::os::unix::process::ExitStatusExt;
    match status.signal() {
        // Linux's SIGXFSZ: the output outgrew the file size limit.
        Some(25) => "killed by signal 25 (SIGXFSZ: the file size limit was reached)".into(),
        Some(signal) => format!("killed by signal {signal}"),
        None => status.to_string(),
    }
}

/// The tool's diagnostics on one line, its `tool: error:` prefixes dropped.
fn one_line(tool: &str, stderr: &str) -> String {
    let prefix = format!("{tool}: ");
    stderr
        .lines()
        .map(str::trim)
        .filter(|line| !line.is_empty())
        .map(|line| line.strip_prefix(prefix.as_str()).unwrap_or(line))
        .map(|line| line.strip_prefix("error: ").unwrap_or(line))
        .collect::<Vec<_>>()
        .join("; ")
}

/// `url` without the password of its user info and without a `password` parameter.
fn without_password(url: &str) -> String {
    let (base, query) = match url.split_once('?') {
        Some((base, query)) => (base, Some(query)),
        None => (url, None),
    };
    let base = match base.find("://") {
        Some(scheme_end) => {
            let rest = &base[scheme_end + 3..];
            let authority_end = rest.find('/').unwrap_or(rest.len());
            match rest[..authority_end].rfind('@') {
                Some(at) => {
                    let user = rest[..at].split(':').next().unwrap_or_default();
                    format!("{}{user}{}", &base[..scheme_end + 3], &rest[at..])
                }
                None => base.to_owned(),
            }
        }
        None => base.to_owned(),
    };
    let kept: Vec<&str> = query
        .unwrap_or_default()
        .split('&')
        .filter(|pair| !pair.is_empty() && !pair.starts_with("password="))
        .collect();
    if kept.is_empty() {
        base
    } else {
        format!("{base}?{}", kept.join("&"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_tools_get_the_url_without_its_password() {
        assert_eq!(
            without_password("postgres://ems:s3cret@db:5432/ems?sslmode=disable"),
            "postgres://ems@db:5432/ems?sslmode=disable"
        );
        assert_eq!(
            without_password("postgresql://ems@db/ems?password=s3cret&application_name=x"),
            "postgresql://ems@db/ems?application_name=x"
        );
        assert_eq!(
            without_password("postgres://db/ems?password=s3cret"),
            "postgres://db/ems"
        );
        assert_eq!(without_password("postgres://db/ems"), "postgres://db/ems");
    }

    #[test]
    fn the_password_is_decoded_for_pgpassword() {
        let credentials = Credentials::of("postgres://ems:p%40ss@db/ems").unwrap();
        assert_eq!(credentials.password.as_deref(), Some(&b"p@ss"[..]));
        assert_eq!(credentials.url, "postgres://ems@db/ems");
        assert_eq!(credentials.redact("bad p@ss here"), "bad *** here");
    }

    #[test]
    fn a_tools_diagnostics_become_one_line() {
        let stderr = "pg_dump: error: connection to server at \"127.0.0.1\", port 1 failed: \
                      Connection refused\n\tIs the server running on that host?\n";
        assert_eq!(
            one_line("pg_dump", stderr),
            "connection to server at \"127.0.0.1\", port 1 failed: Connection refused; \
             Is the server running on that host?"
        );
    }
}
