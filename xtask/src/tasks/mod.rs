//! One module per subcommand, plus what several of them share: running the `ems`
//! binary through cargo, and a summary of steps that keeps going after a failure.

pub mod bench;
pub mod bench_login;
pub mod bench_mix;
pub mod bench_scale;
pub mod cluster;
pub mod coverage;
pub mod dev;
pub mod fuzz;
pub mod migrate;
pub mod sdk;
pub mod server;
pub mod stop;
pub mod test;

use std::time::Instant;

use crate::cmd::Cmd;
use crate::error::{Error, Result};
use crate::paths::Paths;
use crate::ui;

/// `cargo run -p api-actix --bin ems -- <subcommand>`: builds the server if needed.
pub fn ems(paths: &Paths, subcommand: &str) -> Cmd {
    Cmd::new("cargo")
        .args(["run", "-p", "api-actix", "--bin", "ems", "--", subcommand])
        .cwd(&paths.root)
}

/// How one step ended.
#[derive(Debug)]
enum Outcome {
    Passed,
    Failed,
    Skipped(String),
}

/// Outcomes of the steps of a run, printed as a summary at the end.
#[derive(Debug, Default)]
pub struct Steps {
    outcomes: Vec<(String, Outcome, f64)>,
}

impl Steps {
    /// Runs one step and records its outcome; a failure is reported at once and then
    /// counted, not returned, so that later steps still run.
    pub fn run(&mut self, name: &str, step: impl FnOnce() -> Result<()>) -> bool {
        let started = Instant::now();
        let outcome = match step() {
            Ok(()) => Outcome::Passed,
            Err(e) => {
                ui::warn(format!("{name}: {e}"));
                Outcome::Failed
            }
        };
        let passed = matches!(outcome, Outcome::Passed);
        self.outcomes
            .push((name.to_owned(), outcome, started.elapsed().as_secs_f64()));
        passed
    }

    /// Records a step that was not run; it counts as a failure.
    pub fn skipped(&mut self, name: &str, why: &str) {
        self.outcomes
            .push((name.to_owned(), Outcome::Skipped(why.to_owned()), 0.0));
    }

    /// Prints the summary; an error naming the steps that did not pass, if any.
    pub fn finish(self) -> Result<()> {
        ui::step("summary");
        let mut failed = Vec::new();
        for (name, outcome, secs) in &self.outcomes {
            match outcome {
                Outcome::Passed => ui::note(format!("ok   {name} ({secs:.0}s)")),
                Outcome::Failed => ui::note(format!("FAIL {name} ({secs:.0}s)")),
                Outcome::Skipped(why) => ui::note(format!("SKIP {name} ({why})")),
            }
            if !matches!(outcome, Outcome::Passed) {
                failed.push(name.as_str());
            }
        }
        if failed.is_empty() {
            Ok(())
        } else {
            Err(Error::msg(format!("did not pass: {}", failed.join(", "))))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_failed_step_does_not_stop_the_next_and_fails_the_run() {
        let mut steps = Steps::default();
        assert!(!steps.run("first", || Err(Error::msg("boom"))));
        let mut second_ran = false;
        assert!(steps.run("second", || {
            second_ran = true;
            Ok(())
        }));
        steps.skipped("third", "interrupted");
        assert!(second_ran);
        let err = steps.finish().unwrap_err().to_string();
        assert_eq!(err, "did not pass: first, third");
    }

    #[test]
    fn a_run_of_passing_steps_passes() {
        let mut steps = Steps::default();
        steps.run("only", || Ok(()));
        assert!(steps.finish().is_ok());
    }
}
