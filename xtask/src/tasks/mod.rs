//! One module per subcommand, plus what several of them share: running the `ems`
//! binary through cargo, and a summary of steps that keeps going after a failure.

pub mod coverage;
pub mod dev;
pub mod migrate;
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

/// Outcomes of the steps of a run, printed as a summary at the end.
#[derive(Debug, Default)]
pub struct Steps {
    outcomes: Vec<(String, Result<()>, f64)>,
}

impl Steps {
    /// Runs one step and records its outcome; the error is kept, not returned.
    pub fn run(&mut self, name: &str, step: impl FnOnce() -> Result<()>) -> bool {
        let started = Instant::now();
        let result = step();
        if let Err(e) = &result {
            ui::warn(format!("{name}: {e}"));
        }
        let ok = result.is_ok();
        self.outcomes
            .push((name.to_owned(), result, started.elapsed().as_secs_f64()));
        ok
    }

    /// Records a step that was not run.
    pub fn skipped(&mut self, name: &str, why: &str) {
        self.outcomes.push((
            name.to_owned(),
            Err(Error::msg(format!("skipped: {why}"))),
            0.0,
        ));
    }

    /// Prints the summary; an error naming the failed steps if any failed.
    pub fn finish(self) -> Result<()> {
        ui::step("summary");
        let mut failed = Vec::new();
        for (name, result, secs) in &self.outcomes {
            let verdict = if result.is_ok() { "ok  " } else { "FAIL" };
            ui::note(format!("{verdict} {name} ({secs:.0}s)"));
            if result.is_err() {
                failed.push(name.as_str());
            }
        }
        if failed.is_empty() {
            Ok(())
        } else {
            Err(Error::msg(format!("failed: {}", failed.join(", "))))
        }
    }
}
