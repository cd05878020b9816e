//! `ems`: `ems migrate` applies pending migrations and exits (`--revert N` rolls the
//! newest N back with their `down.sql`); `ems serve` (the default)
//! serves the API; `ems keygen PATH` writes a new JWT signing key for
//! `JWT_SIGNING_KEYS`; `ems backup DIR` archives the database into DIR and `ems restore
//! FILE` loads an archive into an empty one. Configuration comes from the environment
//! (see the README).

use std::ffi::OsString;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use adapters_crypto::{jwt, JwtKeys};
use api_actix::config::{LogFormat, Settings};
use api_actix::startup::Application;
use api_actix::telemetry;
use secrecy::ExposeSecret;

enum Command {
    Migrate,
    /// `migrate --revert N`: roll the newest N migrations back.
    Revert(usize),
    Serve,
    Keygen(PathBuf),
    Backup(PathBuf),
    Restore(PathBuf),
}

fn command() -> Result<Command, String> {
    // `args_os`: a key path need not be UTF-8.
    let args: Vec<OsString> = std::env::args_os().skip(1).collect();
    let words: Vec<Option<&str>> = args.iter().map(|a| a.to_str()).collect();
    match (words.as_slice(), args.as_slice()) {
        ([] | [Some("serve")], _) => Ok(Command::Serve),
        ([Some("migrate")], _) => Ok(Command::Migrate),
        ([Some("migrate"), Some("--revert"), Some(n)], _) => n
            .parse()
            .map(Command::Revert)
            .map_err(|_| format!("ems migrate --revert N: N must be a whole number (got {n:?})")),
        ([Some("keygen"), _], [_, path]) => Ok(Command::Keygen(PathBuf::from(path))),
        ([Some("backup"), _], [_, dir]) => Ok(Command::Backup(PathBuf::from(dir))),
        ([Some("restore"), _], [_, file]) => Ok(Command::Restore(PathBuf::from(file))),
        _ => Err(format!(
            "usage: ems [serve|migrate [--revert N]|keygen PATH|backup DIR|restore FILE] (got: {})",
            args.iter()
                .map(|a| a.to_string_lossy())
                .collect::<Vec<_>>()
                .join(" ")
        )),
    }
}

fn main() -> ExitCode {
    let command = match command() {
        Ok(command) => command,
        Err(usage) => {
            eprintln!("{usage}");
            return ExitCode::from(2);
        }
    };
    // Needs no settings: a key is made before there is anything to configure.
    if let Command::Keygen(path) = &command {
        return match keygen(path) {
            Ok(kid) => {
                println!(
                    "ems keygen: wrote a new Ed25519 signing key to {} (kid {kid}); \
                     list it first in JWT_SIGNING_KEYS",
                    path.display()
                );
                ExitCode::SUCCESS
            }
            Err(line) => {
                eprintln!("ems keygen: {line}");
                ExitCode::FAILURE
            }
        };
    }
    let settings = match Settings::from_env() {
        Ok(settings) => settings,
        Err(err) => {
            eprintln!("ems: configuration error: {err}");
            return ExitCode::from(2);
        }
    };
    let format = settings.log.format;
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(err) => {
            eprintln!("ems: cannot start the async runtime: {err}");
            return ExitCode::FAILURE;
        }
    };
    // Lives until `main` returns, so every queued line is written before exit. Built
    // inside the runtime, where the OTLP exporter's connection runs.
    let logs = {
        let _inside = runtime.enter();
        telemetry::init_from_settings(&settings)
    };
    let log_guard = match logs {
        Ok(guard) => guard,
        Err(err) => {
            eprintln!("ems: configuration error: {err}");
            return ExitCode::from(2);
        }
    };
    let result = runtime.block_on(async move {
        match command {
            Command::Migrate => migrate(&settings).await,
            Command::Revert(count) => revert(&settings, count).await,
            Command::Serve => serve(settings).await,
            Command::Backup(dir) => backup(&settings, &dir).await,
            Command::Restore(file) => restore(&settings, &file).await,
            // Handled before the settings are read.
            Command::Keygen(_) => Ok(()),
        }
    });
    // The runtime's workers still run the exporter's connection here.
    log_guard.flush_traces();
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(line) => {
            if format == LogFormat::Json {
                tracing::error!(error = %line, "ems stopped");
            }
            eprintln!("ems: {line}");
            ExitCode::FAILURE
        }
    }
}

/// Writes a fresh Ed25519 PKCS#8 PEM key to `path`, readable by its owner only (0600),
/// and returns its `kid`. Never overwrites: an existing file may be a key in use, and
/// replacing it would log everybody out.
fn keygen(path: &Path) -> Result<String, String> {
    let pem = jwt::generate_ed25519_pem().map_err(|e| e.to_string())?;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut file = options.open(path).map_err(|e| match e.kind() {
        std::io::ErrorKind::AlreadyExists => format!(
            "{} already exists; refusing to overwrite it (it may be a key in use)",
            path.display()
        ),
        _ => format!("cannot create {}: {e}", path.display()),
    })?;
    let written = file
        .write_all(pem.expose_secret().as_bytes())
        .and_then(|()| file.sync_all());
    if let Err(e) = written {
        drop(file);
        // Half a key is worse than none: it would stop the next start.
        let _ = std::fs::remove_file(path);
        return Err(format!("cannot write {}: {e}", path.display()));
    }
    let keys = JwtKeys::load(&[path.to_owned()]).map_err(|e| e.to_string())?;
    Ok(keys.signing_kid().to_owned())
}

async fn migrate(settings: &Settings) -> Result<(), String> {
    let applied = adapters_postgres::run_migrations(settings.database.url.expose_secret())
        .await
        .map_err(|e| format!("migrate: {e}"))?;
    if applied.is_empty() {
        println!("ems migrate: the database is up to date");
    } else {
        println!("ems migrate: applied {}", applied.join(", "));
    }
    Ok(())
}

/// Reverts the newest `count` migrations (a rollback after a bad deploy: run it with the
/// old binary's schema in mind, before the old instances start again).
async fn revert(settings: &Settings, count: usize) -> Result<(), String> {
    let reverted =
        adapters_postgres::revert_migrations(settings.database.url.expose_secret(), count)
            .await
            .map_err(|e| format!("migrate --revert: {e}"))?;
    if reverted.is_empty() {
        println!("ems migrate --revert: nothing to revert");
    } else {
        println!("ems migrate --revert: reverted {}", reverted.join(", "));
    }
    Ok(())
}

async fn backup(settings: &Settings, dir: &Path) -> Result<(), String> {
    let written = api_actix::backup::backup(&settings.database, &settings.backup, dir)
        .await
        .map_err(|e| format!("backup: {e}"))?;
    println!(
        "ems backup: wrote {} ({} bytes); deleted {} older (BACKUP_KEEP={})",
        written.path.display(),
        written.bytes,
        written.deleted.len(),
        settings.backup.keep
    );
    Ok(())
}

async fn restore(settings: &Settings, file: &Path) -> Result<(), String> {
    api_actix::backup::restore(&settings.database, file)
        .await
        .map_err(|e| format!("restore: {e}"))?;
    println!(
        "ems restore: loaded {} into {}; serve it with the AUDIT_HMAC_KEY of the backed-up server",
        file.display(),
        adapters_postgres::redact_url(settings.database.url.expose_secret())
    );
    Ok(())
}

async fn serve(settings: Settings) -> Result<(), String> {
    let addr = settings.http.bind_addr;
    let app = Application::build(settings)
        .await
        .map_err(|e| e.to_string())?;
    let scheme = if app.is_tls() { "https" } else { "http" };
    tracing::info!(
        server.address = %addr,
        server.port = app.port(),
        url.scheme = scheme,
        "ems is serving"
    );
    app.run_until_stopped()
        .await
        .map_err(|e| format!("server: {e}"))
}
