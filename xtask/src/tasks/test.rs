//! `cargo xtask test`: the whole suite with the services it needs. The fence first (it
//! is cheap), then the test services, then every target's tests and the doc tests. Every
//! step runs even when an earlier one failed (and cargo runs every test binary,
//! `--no-fail-fast`), so one run shows every failure; the services are stopped in any
//! case, and the exit status is non-zero if anything failed.

use crate::cmd::Cmd;
use crate::error::Result;
use crate::fence;
use crate::flags::Test;
use crate::interrupt;
use crate::paths::Paths;
use crate::services::TestServices;
use crate::tasks::Steps;
use crate::ui;

/// Runs the fence and both `cargo test` invocations.
pub fn run(paths: &Paths, flags: &Test) -> Result<()> {
    let mut steps = Steps::default();
    steps.run("dependency fence", || fence::check(paths));

    let services = match TestServices::start(paths) {
        Ok(services) => services,
        Err(e) => {
            steps.run("start test services", || Err(e));
            return steps.finish();
        }
    };
    let suites: [(&str, &[&str]); 2] = [
        (
            "cargo test --workspace --all-targets",
            &["test", "--workspace", "--all-targets", "--no-fail-fast"],
        ),
        (
            "cargo test --workspace --doc",
            &["test", "--workspace", "--doc", "--no-fail-fast"],
        ),
    ];
    for (name, args) in suites {
        if interrupt::interrupted() {
            steps.skipped(name, "interrupted");
            continue;
        }
        ui::step(name);
        let mut cmd = Cmd::new("cargo")
            .args(args)
            .args(&flags.cargo_args)
            .cwd(&paths.root);
        for (key, value) in services.env() {
            cmd = cmd.env(key, value);
        }
        steps.run(name, || cmd.run());
    }
    steps.run("stop test services", || services.stop());
    steps.finish()
}
