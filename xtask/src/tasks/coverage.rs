//! `cargo xtask coverage`: line coverage with cargo-tarpaulin (it needs no llvm-tools)
//! while the test services run, summed per crate from its LCOV report. Tarpaulin builds
//! into its own target directory so that it does not evict the normal build cache.

use std::fs;

use crate::cmd::{describe, Cmd};
use crate::error::{bail, Context, Result};
use crate::flags::Coverage;
use crate::lcov;
use crate::paths::Paths;
use crate::services::TestServices;
use crate::ui;

/// Measures, prints the table, and enforces `--fail-under`.
pub fn run(paths: &Paths, flags: &Coverage) -> Result<()> {
    let installed = Cmd::new("cargo")
        .args(["tarpaulin", "--version"])
        .quiet()
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false);
    if !installed {
        bail!(
            "cargo-tarpaulin is not installed. Install it with:\n\n    \
             cargo install cargo-tarpaulin\n"
        );
    }
    let out_dir = paths.target.join("coverage");
    fs::create_dir_all(&out_dir).with_context(|| format!("cannot create {}", out_dir.display()))?;
    let report = out_dir.join("lcov.info");
    if report.exists() {
        fs::remove_file(&report)
            .with_context(|| format!("cannot remove the old {}", report.display()))?;
    }

    let services = TestServices::start(paths)?;
    ui::step("cargo tarpaulin");
    let mut cmd = Cmd::new("cargo").arg("tarpaulin").cwd(&paths.root);
    if flags.packages.is_empty() {
        cmd = cmd.args(["--workspace", "--exclude", "xtask"]);
    } else {
        for package in &flags.packages {
            cmd = cmd.args(["--packages", package]);
        }
    }
    cmd = cmd
        .args(["--skip-clean", "--timeout", "300", "--out", "Lcov"])
        .arg("--output-dir")
        .arg(&out_dir)
        .arg("--target-dir")
        .arg(paths.target.join("tarpaulin"))
        .args(&flags.tarpaulin_args);
    for (key, value) in services.env() {
        cmd = cmd.env(key, value);
    }
    let status = cmd.status();
    let stopped = services.stop();
    let status = status?;

    // Failing tests still leave a report worth showing.
    if report.exists() {
        let text = fs::read_to_string(&report)
            .with_context(|| format!("cannot read {}", report.display()))?;
        let summary = lcov::summarize(&text, &paths.root);
        ui::step(format!("line coverage ({})", report.display()));
        print!("{}", lcov::render(&summary));
        if !status.success() {
            bail!("cargo tarpaulin failed ({})", describe(status));
        }
        stopped?;
        if let Some(min) = flags.fail_under {
            let pct = summary.total.percent();
            if pct < min {
                bail!("line coverage {pct:.1}% is below --fail-under {min}%");
            }
            ui::note(format!("line coverage {pct:.1}% meets --fail-under {min}%"));
        }
        Ok(())
    } else if !status.success() {
        bail!(
            "cargo tarpaulin failed ({}) and wrote no report",
            describe(status)
        )
    } else {
        bail!("cargo tarpaulin wrote no {}", report.display())
    }
}
