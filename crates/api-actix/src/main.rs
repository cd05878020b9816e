//! `ems`: `ems migrate` applies pending migrations and exits; `ems serve` (the default)
//! serves the API. Configuration comes from the environment (see the README).

use std::process::ExitCode;

use api_actix::config::{LogFormat, Settings};
use api_actix::startup::Application;
use api_actix::telemetry;
use secrecy::ExposeSecret;

enum Command {
    Migrate,
    Serve,
}

fn command() -> Result<Command, String> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args
        .iter()
        .map(String::as_str)
        .collect::<Vec<_>>()
        .as_slice()
    {
        [] | ["serve"] => Ok(Command::Serve),
        ["migrate"] => Ok(Command::Migrate),
        other => Err(format!(
            "usage: ems [serve|migrate] (got: {})",
            other.join(" ")
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
    let settings = match Settings::from_env() {
        Ok(settings) => settings,
        Err(err) => {
            eprintln!("ems: configuration error: {err}");
            return ExitCode::from(2);
        }
    };
    let format = settings.log_format;
    // Lives until `main` returns, so every queued line is written before exit.
    let _log_guard = match telemetry::init_from_settings(&settings) {
        Ok(guard) => guard,
        Err(err) => {
            eprintln!("ems: configuration error: {err}");
            return ExitCode::from(2);
        }
    };
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
    let result = runtime.block_on(async move {
        match command {
            Command::Migrate => migrate(&settings).await,
            Command::Serve => serve(settings).await,
        }
    });
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

async fn migrate(settings: &Settings) -> Result<(), String> {
    let applied = adapters_postgres::run_migrations(settings.database_url.expose_secret())
        .await
        .map_err(|e| format!("migrate: {e}"))?;
    if applied.is_empty() {
        println!("ems migrate: the database is up to date");
    } else {
        println!("ems migrate: applied {}", applied.join(", "));
    }
    Ok(())
}

async fn serve(settings: Settings) -> Result<(), String> {
    let addr = settings.bind_addr;
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
