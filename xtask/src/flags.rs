//! The command line: typed subcommands and their flags, parsed by hand (the grammar is
//! small enough that a parser dependency would cost more than it saves).

use std::fmt;

use crate::{interrupt, supervise};

/// One command of `cargo xtask`: the parser knows only the names listed in [`COMMANDS`],
/// and the help is made from the same list, so neither can name a command the other lacks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Command {
    /// What is typed after `cargo xtask`.
    pub name: &'static str,
    /// The name with its flags, as the help shows it.
    pub synopsis: &'static str,
    /// What it does, wrapped, one help line per text line.
    pub about: &'static str,
}

/// Every command, in the order the help lists them.
pub const COMMANDS: [Command; 11] = [
    Command {
        name: "dev",
        synopsis: "dev [--reset]",
        about: "\
Start the dev PostgreSQL cluster (target/ems-pg/dev, port 54320),
create database ems_dev, run `ems migrate`, then `ems serve`
with an admin account whose password is kept in
target/ems-pg/dev-admin-password. Ctrl-C (or SIGTERM) stops the
server, then the cluster. --reset drops and recreates ems_dev first.",
    },
    Command {
        name: "test",
        synopsis: "test [-- ARGS]",
        about: "\
Check the dependency fence, start the test cluster (port 54321)
and a private Redis if redis-server is installed, drop leftover
ems_test_* and ems_tpl_* databases, then run
`cargo test --workspace --all-targets ARGS` and
`cargo test --workspace --doc ARGS`. ARGS go to cargo test, e.g.
`-- login` (a filter) or `-- -- --nocapture` (to the harness).",
    },
    Command {
        name: "migrate",
        synopsis: "migrate",
        about: "\
Apply migrations with `ems migrate` to DATABASE_URL if set, else to
the dev cluster's ems_dev (starting the cluster if needed).",
    },
    Command {
        name: "coverage",
        synopsis: "coverage [--gate] [--fail-under PCT] [--fail-under-crate CRATE=PCT]... [-p CRATE]... [-- ARGS]",
        about: "\
Line coverage with cargo-tarpaulin: a covered/total table per crate
and the total, over the whole workspace (with the test services
running) or over the -p selection. ARGS go to cargo tarpaulin.
--fail-under fails when the total is below PCT, --fail-under-crate
when CRATE is. --gate is the CI gate (what .ci/run runs): domain and
application, each at 80 % or more, without services; then the adapters by
their own tests, printed without a minimum.",
    },
    Command {
        name: "fence",
        synopsis: "fence",
        about: "\
Only the dependency fence: each workspace crate's direct
dependencies must be on its allowlist (xtask/src/fence.rs), and
domain and application must not reach actix-web, actix-http,
diesel, diesel-async, deadpool, redis, paperclip or tokio.",
    },
    Command {
        name: "fuzz",
        synopsis: "fuzz [--max-examples N] [--seed N] [-- ARGS]",
        about: "\
The outside fuzzer: start the test cluster, recreate database
ems_fuzz, build, migrate and serve `ems` on a free loopback port,
then run schemathesis (pip-installed at the pinned version if
missing) over every operation of /api/docs/openapi.json as the
admin. Fails on any 5xx or response that breaks the documented
status codes, content types, headers or schemas. Defaults: 300
examples per operation, seed 42. ARGS go to schemathesis run.
Reports in target/ems-fuzz/report, server log target/ems-fuzz/ems.log.",
    },
    Command {
        name: "bench",
        synopsis: "bench [--quick] [--duration SECS] [--connections N]",
        about: "\
Throughput and latency of the release `ems` under wrk (Debian
package `wrk`), one configuration after another on the same
machine: GET /api/health (the floor), GET /api/v1/profile with the
in-process adapters, with Redis (when redis-server is installed),
with metrics off, and with OTLP tracing on; sign-ins beside the
argon2id bound of the same run and profile reads during a login
flood; the seed's mixed scenario (100 virtual users, about 1,000
req/s, 60 s); then, on 1,000,000 seeded users, list pages, deep
offsets, searches and both exports (rows/s, memory). Defaults: 20 s
per run after a 3 s warm-up, 50 connections. --quick: 3 s runs after 1 s,
a 5 s mixed run and 100,000 users, for a smoke test. Logs in
target/ems-bench/.",
    },
    Command {
        name: "cluster",
        synopsis: "cluster [--release]",
        about: "\
Three `ems serve` on one PostgreSQL (the test cluster, database
ems_cluster) and a private Redis behind nginx (Debian package
nginx-light), all on loopback. Through the proxy: one RATE_LIMIT
and LOGIN_RATE_LIMIT budget, revocation seen by every instance,
the audit chain valid throughout, a rolling restart and a SIGKILL
under ~200 req/s without a lost request or write. Prints a table;
fails on any violated property. --release uses the release build.
Logs in target/ems-cluster/.",
    },
    Command {
        name: "sdk",
        synopsis: "sdk typescript [--no-run]",
        about: "\
Generate the TypeScript client into target/sdk/typescript with the
npm tools pinned by xtask/sdk/typescript/package-lock.json (npm ci):
openapi-typescript types from crates/client/openapi.json, used
through openapi-fetch; type-check and compile with tsc, then serve
`ems` over database ems_sdk of the test cluster and run the journey
script (login, profile, list users, refresh, logout) against it.
--no-run stops after tsc. Needs node 20+ and npm. TypeScript is
the only language so far, and so the default.",
    },
    Command {
        name: "stop",
        synopsis: "stop",
        about: "\
Stop the dev and test clusters and the private Redis, whoever
started them (for servers left running by an earlier run).",
    },
    Command {
        name: "help",
        synopsis: "help",
        about: "This text (also -h, --help).",
    },
];

/// Width of the synopsis column; a longer synopsis gets a line of its own.
const SYNOPSIS_WIDTH: usize = 20;

/// What `cargo xtask help` prints.
pub fn help() -> String {
    let mut text = String::from(
        "\
cargo xtask — EMS developer and CI commands

USAGE:
    cargo xtask <COMMAND> [OPTIONS] [-- ARGS...]

COMMANDS:
",
    );
    let indent = " ".repeat(4 + SYNOPSIS_WIDTH);
    for command in COMMANDS {
        let mut lines = command.about.lines();
        if command.synopsis.len() < SYNOPSIS_WIDTH {
            let first = lines.next().unwrap_or_default();
            text.push_str(&format!(
                "    {:<width$}{first}\n",
                command.synopsis,
                width = SYNOPSIS_WIDTH
            ));
        } else {
            text.push_str(&format!("    {}\n", command.synopsis));
        }
        for line in lines {
            text.push_str(&format!("{indent}{line}\n"));
        }
    }
    text.push_str(&format!(
        "\n\
STOPPING:
    SIGINT (Ctrl-C), SIGTERM or SIGHUP sent to xtask is passed on to every program it
    started (as SIGTERM); what still runs after {grace} s is killed, the clusters and Redis
    this run started are stopped, and xtask exits with status {code}. A second signal
    exits at once, without clean-up (`cargo xtask stop` then stops the clusters).

ENVIRONMENT:
    BIND_ADDR           dev: where `ems serve` listens (default 127.0.0.1:8080).
    DATABASE_URL        migrate: the database to migrate instead of the dev cluster.
    CARGO_TARGET_DIR    Where target/ is; clusters live in <target>/ems-pg/.
",
        grace = supervise::GRACE.as_secs(),
        code = interrupt::EXIT_CODE,
    ));
    text
}

/// A parsed command line.
#[derive(Debug, Clone, PartialEq)]
pub enum Task {
    /// Print [`help`].
    Help,
    /// Run the server against the dev cluster.
    Dev(Dev),
    /// Run every test with the services they need.
    Test(Test),
    /// Apply migrations.
    Migrate,
    /// Measure line coverage.
    Coverage(Coverage),
    /// Check the dependency fence only.
    Fence,
    /// Run schemathesis against a running server.
    Fuzz(Fuzz),
    /// Load-test the release server.
    Bench(Bench),
    /// Three instances behind nginx, checked from outside.
    Cluster(Cluster),
    /// Generate and exercise a client SDK.
    Sdk(Sdk),
    /// Stop leftover servers.
    Stop,
}

/// Flags of `bench`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Bench {
    /// Seconds of each measured run.
    pub duration_secs: u32,
    /// Open connections wrk keeps.
    pub connections: u32,
    /// Short runs on a tenth of the users: a smoke test, not a measurement.
    pub quick: bool,
}

impl Bench {
    /// Seconds of wrk before each measured run: 3, or 1 for `--quick` (its runs are
    /// smoke tests, not measurements).
    pub fn warmup_secs(&self) -> u32 {
        if self.quick {
            1
        } else {
            3
        }
    }
}

impl Default for Bench {
    fn default() -> Self {
        Self {
            duration_secs: 20,
            connections: 50,
            quick: false,
        }
    }
}

/// Flags of `cluster`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Cluster {
    /// Serve the release build instead of the debug one.
    pub release: bool,
}

/// Flags of `sdk`; its one language, `typescript`, may be named or left out.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Sdk {
    /// Generate and type-check only; do not run the journey against a server.
    pub no_run: bool,
}

/// Flags of `dev`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Dev {
    /// Drop and recreate `ems_dev` before migrating.
    pub reset: bool,
}

/// Flags of `test`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Test {
    /// Appended to both `cargo test` invocations.
    pub cargo_args: Vec<String>,
}

/// Flags of `coverage`.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Coverage {
    /// The CI gate: its crates and their minimums (`coverage::GATE`) join the selection.
    pub gate: bool,
    /// Fail when the workspace total is below this percentage.
    pub fail_under: Option<f64>,
    /// Fail when one of these crates is below its percentage.
    pub fail_under_crate: Vec<(String, f64)>,
    /// Measure only these packages instead of the whole workspace.
    pub packages: Vec<String>,
    /// Appended to `cargo tarpaulin`.
    pub tarpaulin_args: Vec<String>,
}

/// Flags of `fuzz`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fuzz {
    /// Test cases per operation and phase (`--max-examples`).
    pub max_examples: u32,
    /// Hypothesis seed, fixed so that a run can be repeated.
    pub seed: u64,
    /// Appended to `schemathesis run`.
    pub schemathesis_args: Vec<String>,
}

impl Default for Fuzz {
    fn default() -> Self {
        Self {
            max_examples: 300,
            seed: 42,
            schemathesis_args: Vec::new(),
        }
    }
}

/// A command line that does not parse.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UsageError(String);

impl fmt::Display for UsageError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for UsageError {}

fn usage(message: impl Into<String>) -> UsageError {
    UsageError(message.into())
}

/// Parses the arguments after `cargo xtask`.
pub fn parse<I>(args: I) -> Result<Task, UsageError>
where
    I: IntoIterator<Item = String>,
{
    let mut args = args.into_iter();
    let Some(command) = args.next() else {
        return Ok(Task::Help);
    };
    let mut flags = Vec::new();
    let mut rest = None;
    for arg in args.by_ref() {
        if arg == "--" {
            rest = Some(args.by_ref().collect::<Vec<_>>());
            break;
        }
        if arg == "-h" || arg == "--help" {
            return Ok(Task::Help);
        }
        flags.push(arg);
    }
    let no_rest = |rest: Option<Vec<String>>| match rest {
        Some(_) => Err(usage(format!("`{command}` takes no arguments after `--`"))),
        None => Ok(()),
    };
    if command == "-h" || command == "--help" {
        return Ok(Task::Help);
    }
    if !COMMANDS.iter().any(|known| known.name == command) {
        return Err(unknown_command(&command));
    }
    let task = match command.as_str() {
        "help" => Task::Help,
        "dev" => {
            no_rest(rest)?;
            let mut dev = Dev::default();
            for flag in flags {
                match flag.as_str() {
                    "--reset" => dev.reset = true,
                    other => return Err(unknown(&command, other)),
                }
            }
            Task::Dev(dev)
        }
        "test" => {
            if let Some(flag) = flags.first() {
                return Err(unknown(&command, flag));
            }
            Task::Test(Test {
                cargo_args: rest.unwrap_or_default(),
            })
        }
        "migrate" | "fence" | "stop" => {
            no_rest(rest)?;
            if let Some(flag) = flags.first() {
                return Err(unknown(&command, flag));
            }
            match command.as_str() {
                "migrate" => Task::Migrate,
                "fence" => Task::Fence,
                _ => Task::Stop,
            }
        }
        "coverage" => {
            let mut coverage = Coverage {
                tarpaulin_args: rest.unwrap_or_default(),
                ..Coverage::default()
            };
            let mut flags = flags.into_iter();
            while let Some(flag) = flags.next() {
                let (name, inline) = match flag.split_once('=') {
                    Some((name, value)) => (name.to_owned(), Some(value.to_owned())),
                    None => (flag.clone(), None),
                };
                let mut value = || {
                    inline
                        .clone()
                        .or_else(|| flags.next())
                        .ok_or_else(|| usage(format!("`{name}` needs a value")))
                };
                match name.as_str() {
                    "--gate" if inline.is_none() => coverage.gate = true,
                    "--fail-under" => {
                        coverage.fail_under = Some(percentage("--fail-under", &value()?)?);
                    }
                    "--fail-under-crate" => {
                        let raw = value()?;
                        let Some((krate, pct)) =
                            raw.split_once('=').filter(|(krate, _)| !krate.is_empty())
                        else {
                            return Err(usage(format!(
                                "--fail-under-crate wants CRATE=PCT, not `{raw}`"
                            )));
                        };
                        let pct = percentage("--fail-under-crate", pct)?;
                        coverage.fail_under_crate.push((krate.to_owned(), pct));
                    }
                    "-p" | "--package" => coverage.packages.push(value()?),
                    other => return Err(unknown(&command, other)),
                }
            }
            Task::Coverage(coverage)
        }
        "fuzz" => {
            let mut fuzz = Fuzz {
                schemathesis_args: rest.unwrap_or_default(),
                ..Fuzz::default()
            };
            for (name, raw) in valued(flags)? {
                match name.as_str() {
                    "--max-examples" => {
                        fuzz.max_examples =
                            raw.parse().ok().filter(|n| *n > 0).ok_or_else(|| {
                                usage(format!(
                                    "--max-examples wants a positive number, not `{raw}`"
                                ))
                            })?;
                    }
                    "--seed" => {
                        fuzz.seed = raw
                            .parse()
                            .map_err(|_| usage(format!("--seed wants a number, not `{raw}`")))?;
                    }
                    other => return Err(unknown(&command, other)),
                }
            }
            Task::Fuzz(fuzz)
        }
        "bench" => {
            no_rest(rest)?;
            let mut bench = Bench::default();
            let (switches, flags): (Vec<String>, Vec<String>) =
                flags.into_iter().partition(|f| f == "--quick");
            if !switches.is_empty() {
                bench.quick = true;
                bench.duration_secs = 3;
            }
            for (name, raw) in valued(flags)? {
                let positive = |what: &str| {
                    raw.parse::<u32>().ok().filter(|n| *n > 0).ok_or_else(|| {
                        usage(format!("{what} wants a positive number, not `{raw}`"))
                    })
                };
                match name.as_str() {
                    "--duration" => bench.duration_secs = positive("--duration")?,
                    "--connections" => bench.connections = positive("--connections")?,
                    other => return Err(unknown(&command, other)),
                }
            }
            Task::Bench(bench)
        }
        "cluster" => {
            no_rest(rest)?;
            let mut cluster = Cluster::default();
            for flag in flags {
                match flag.as_str() {
                    "--release" => cluster.release = true,
                    other => return Err(unknown(&command, other)),
                }
            }
            Task::Cluster(cluster)
        }
        "sdk" => {
            no_rest(rest)?;
            let mut sdk = Sdk::default();
            for flag in flags {
                match flag.as_str() {
                    // The only language so far, and so the default.
                    "typescript" => {}
                    "--no-run" => sdk.no_run = true,
                    other if !other.starts_with('-') => {
                        return Err(usage(format!(
                            "`sdk` knows the language `typescript`, not `{other}`"
                        )))
                    }
                    other => return Err(unknown(&command, other)),
                }
            }
            Task::Sdk(sdk)
        }
        // Listed in COMMANDS without an arm here: the tests below catch it.
        other => return Err(unknown_command(other)),
    };
    Ok(task)
}

fn unknown_command(command: &str) -> UsageError {
    usage(format!(
        "unknown command `{command}` (try `cargo xtask help`)"
    ))
}

/// `--name value` and `--name=value` pairs, in order.
fn valued(flags: Vec<String>) -> Result<Vec<(String, String)>, UsageError> {
    let mut pairs = Vec::new();
    let mut flags = flags.into_iter();
    while let Some(flag) = flags.next() {
        let (name, inline) = match flag.split_once('=') {
            Some((name, value)) => (name.to_owned(), Some(value.to_owned())),
            None => (flag.clone(), None),
        };
        let raw = inline
            .or_else(|| flags.next())
            .ok_or_else(|| usage(format!("`{name}` needs a value")))?;
        pairs.push((name, raw));
    }
    Ok(pairs)
}

/// A percentage between 0 and 100, for the flag `flag`.
fn percentage(flag: &str, raw: &str) -> Result<f64, UsageError> {
    let pct: f64 = raw
        .parse()
        .map_err(|_| usage(format!("{flag} wants a percentage, not `{raw}`")))?;
    if !(0.0..=100.0).contains(&pct) {
        return Err(usage(format!(
            "{flag} wants a percentage between 0 and 100, not {raw}"
        )));
    }
    Ok(pct)
}

fn unknown(command: &str, flag: &str) -> UsageError {
    usage(format!(
        "`{command}` does not take `{flag}` (try `cargo xtask help`)"
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The command that names `task` in [`COMMANDS`] (exhaustive: a new task needs one).
    fn name_of(task: &Task) -> &'static str {
        match task {
            Task::Help => "help",
            Task::Dev(_) => "dev",
            Task::Test(_) => "test",
            Task::Migrate => "migrate",
            Task::Coverage(_) => "coverage",
            Task::Fence => "fence",
            Task::Fuzz(_) => "fuzz",
            Task::Bench(_) => "bench",
            Task::Cluster(_) => "cluster",
            Task::Sdk(_) => "sdk",
            Task::Stop => "stop",
        }
    }

    fn parse_str(line: &str) -> Result<Task, UsageError> {
        parse(line.split_whitespace().map(str::to_owned))
    }

    #[test]
    fn no_command_and_help_print_help() {
        assert_eq!(parse_str(""), Ok(Task::Help));
        assert_eq!(parse_str("help"), Ok(Task::Help));
        assert_eq!(parse_str("test --help"), Ok(Task::Help));
    }

    #[test]
    fn dev_takes_reset() {
        assert_eq!(parse_str("dev"), Ok(Task::Dev(Dev { reset: false })));
        assert_eq!(parse_str("dev --reset"), Ok(Task::Dev(Dev { reset: true })));
        assert!(parse_str("dev --nope").is_err());
        assert!(parse_str("dev -- x").is_err());
    }

    #[test]
    fn test_passes_everything_after_the_separator_to_cargo() {
        assert_eq!(
            parse_str("test -- login -- --nocapture"),
            Ok(Task::Test(Test {
                cargo_args: vec!["login".into(), "--".into(), "--nocapture".into()]
            }))
        );
        assert!(parse_str("test --release").is_err());
    }

    #[test]
    fn coverage_reads_its_flags_in_both_spellings() {
        let Ok(Task::Coverage(c)) =
            parse_str("coverage --fail-under 75.5 -p domain --package=application -- --verbose")
        else {
            panic!("not coverage");
        };
        assert_eq!(c.fail_under, Some(75.5));
        assert_eq!(c.packages, vec!["domain", "application"]);
        assert_eq!(c.tarpaulin_args, vec!["--verbose"]);
        assert!(matches!(
            parse_str("coverage --fail-under=80"),
            Ok(Task::Coverage(Coverage { fail_under: Some(f), .. })) if f == 80.0
        ));
    }

    #[test]
    fn coverage_rejects_bad_thresholds() {
        assert!(parse_str("coverage --fail-under").is_err());
        assert!(parse_str("coverage --fail-under lots").is_err());
        assert!(parse_str("coverage --fail-under 101").is_err());
        assert!(parse_str("coverage --fail-under-crate domain").is_err());
        assert!(parse_str("coverage --fail-under-crate =80").is_err());
        assert!(parse_str("coverage --fail-under-crate domain=lots").is_err());
        assert!(parse_str("coverage --fail-under-crate domain=-1").is_err());
        assert!(parse_str("coverage --gate=yes").is_err());
    }

    #[test]
    fn coverage_reads_the_gate_and_per_crate_minimums() {
        let Ok(Task::Coverage(c)) = parse_str(
            "coverage --gate --fail-under-crate domain=80 --fail-under-crate=application=72.5",
        ) else {
            panic!("not coverage");
        };
        assert!(c.gate);
        assert_eq!(
            c.fail_under_crate,
            vec![
                ("domain".to_owned(), 80.0),
                ("application".to_owned(), 72.5)
            ]
        );
        assert!(c.packages.is_empty());
        assert_eq!(c.fail_under, None);
    }

    #[test]
    fn sdk_names_its_language_and_may_skip_the_run() {
        assert_eq!(
            parse_str("sdk typescript"),
            Ok(Task::Sdk(Sdk { no_run: false }))
        );
        assert_eq!(
            parse_str("sdk typescript --no-run"),
            Ok(Task::Sdk(Sdk { no_run: true }))
        );
        assert_eq!(parse_str("sdk"), Ok(Task::Sdk(Sdk { no_run: false })));
        assert!(parse_str("sdk python").is_err());
        assert!(parse_str("sdk typescript --nope").is_err());
        assert!(parse_str("sdk typescript -- x").is_err());
    }

    #[test]
    fn fuzz_reads_its_flags_and_passes_the_rest_to_schemathesis() {
        assert_eq!(parse_str("fuzz"), Ok(Task::Fuzz(Fuzz::default())));
        assert_eq!(
            parse_str("fuzz --max-examples 20 --seed=7 -- --phases fuzzing"),
            Ok(Task::Fuzz(Fuzz {
                max_examples: 20,
                seed: 7,
                schemathesis_args: vec!["--phases".into(), "fuzzing".into()],
            }))
        );
        assert!(parse_str("fuzz --max-examples 0").is_err());
        assert!(parse_str("fuzz --seed").is_err());
        assert!(parse_str("fuzz --workers 2").is_err());
    }

    #[test]
    fn every_listed_command_parses_to_its_own_task() {
        for command in COMMANDS {
            let task = parse_str(command.name)
                .unwrap_or_else(|e| panic!("`{}` is listed but does not parse: {e}", command.name));
            assert_eq!(name_of(&task), command.name);
        }
    }

    #[test]
    fn the_help_shows_every_command_with_its_synopsis() {
        let help = help();
        for command in COMMANDS {
            let line = format!("\n    {}", command.synopsis);
            assert!(
                help.contains(&line),
                "help lacks `{}`:\n{help}",
                command.synopsis
            );
            assert!(command.synopsis.starts_with(command.name));
        }
    }

    #[test]
    fn the_crate_description_and_module_doc_name_every_command() {
        let manifest = include_str!("../Cargo.toml");
        let description = manifest
            .lines()
            .find(|l| l.starts_with("description"))
            .unwrap();
        let module_doc: String = include_str!("main.rs")
            .lines()
            .take_while(|l| l.starts_with("//!"))
            .collect::<Vec<_>>()
            .join("\n");
        for command in COMMANDS {
            let word = |text: &str| {
                text.split(|c: char| !c.is_ascii_alphanumeric())
                    .any(|w| w == command.name)
            };
            assert!(
                word(description),
                "Cargo.toml's description lacks `{}`",
                command.name
            );
            assert!(
                word(&module_doc),
                "main.rs's module doc lacks `{}`",
                command.name
            );
        }
    }

    #[test]
    fn simple_commands_take_nothing() {
        assert_eq!(parse_str("migrate"), Ok(Task::Migrate));
        assert_eq!(parse_str("fence"), Ok(Task::Fence));
        assert_eq!(parse_str("stop"), Ok(Task::Stop));
        assert!(parse_str("migrate --x").is_err());
        assert_eq!(parse_str("bench"), Ok(Task::Bench(Bench::default())));
        assert_eq!(
            parse_str("bench --duration 5 --connections=8"),
            Ok(Task::Bench(Bench {
                duration_secs: 5,
                connections: 8,
                quick: false,
            }))
        );
        assert_eq!(
            parse_str("bench --quick"),
            Ok(Task::Bench(Bench {
                duration_secs: 3,
                quick: true,
                ..Bench::default()
            }))
        );
        assert!(parse_str("bench --duration 0").is_err());
        assert!(parse_str("bench --fast").is_err());
        assert!(parse_str("benchmark").is_err());
        assert_eq!(
            parse_str("cluster"),
            Ok(Task::Cluster(Cluster { release: false }))
        );
        assert_eq!(
            parse_str("cluster --release"),
            Ok(Task::Cluster(Cluster { release: true }))
        );
        assert!(parse_str("cluster --fast").is_err());
        assert!(parse_str("cluster -- x").is_err());
    }
}
