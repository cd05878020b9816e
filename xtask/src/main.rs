//! `cargo xtask`: the EMS developer and CI commands, in the manner of rust-analyzer's
//! xtask — plain Rust instead of shell scripts, run through the cargo alias in
//! `.cargo/config.toml`. The commands: `dev` (the server on the dev cluster), `test`
//! (the whole suite with its services), `migrate`, `coverage` (cargo-tarpaulin), `fence`
//! (the dependency fence), `fuzz` (schemathesis against a running server), `bench` (wrk
//! against the release server), `cluster` (three instances behind nginx, checked from
//! outside), `sdk` (the TypeScript client, generated and run against a
//! server), `stop` (servers left running) and `help`, which describes each one.
//!
//! Modules: [`flags`] (command line, and the one list of commands), [`tasks`] (one per
//! subcommand), and the pieces they share: [`pg`] (project-local PostgreSQL clusters),
//! [`redis`] (a private Redis), [`services`] (what the tests need), [`fence`] (dependency
//! fence), [`cmd`] (running programs), [`supervise`] (children that stop with xtask),
//! [`interrupt`] (stop signals), [`sysuser`] (dropping root), [`secret`], [`lcov`],
//! [`paths`], [`ui`] and [`error`].

mod cmd;
mod error;
mod fence;
mod flags;
mod interrupt;
mod lcov;
mod paths;
mod pg;
mod redis;
mod secret;
mod services;
mod supervise;
mod sysuser;
mod tasks;
mod ui;

use std::process::ExitCode;

use crate::error::Result;
use crate::flags::Task;
use crate::paths::Paths;

fn main() -> ExitCode {
    let task = match flags::parse(std::env::args().skip(1)) {
        Ok(task) => task,
        Err(e) => {
            eprintln!("xtask: {e}");
            return ExitCode::from(2);
        }
    };
    let outcome = run(task);
    if let Err(e) = &outcome {
        eprintln!("\nxtask: error: {e}");
    }
    // Stopped by a signal is never a success, even when every step that ran passed.
    if interrupt::interrupted() {
        supervise::wait_for_survivors();
        eprintln!("xtask: interrupted; stopped what it had started");
        return ExitCode::from(interrupt::EXIT_CODE);
    }
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(_) => ExitCode::FAILURE,
    }
}

fn run(task: Task) -> Result<()> {
    if task == Task::Help {
        print!("{}", flags::help());
        return Ok(());
    }
    interrupt::install()?;
    let paths = Paths::discover()?;
    match task {
        Task::Help => Ok(()),
        Task::Dev(flags) => tasks::dev::run(&paths, &flags),
        Task::Test(flags) => tasks::test::run(&paths, &flags),
        Task::Migrate => tasks::migrate::run(&paths),
        Task::Coverage(flags) => tasks::coverage::run(&paths, &flags),
        Task::Fence => fence::check(&paths),
        Task::Fuzz(flags) => tasks::fuzz::run(&paths, &flags),
        Task::Bench(flags) => tasks::bench::run(&paths, &flags),
        Task::Cluster(flags) => tasks::cluster::run(&paths, &flags),
        Task::Sdk(flags) => tasks::sdk::run(&paths, &flags),
        Task::Stop => tasks::stop::run(&paths),
    }
}
