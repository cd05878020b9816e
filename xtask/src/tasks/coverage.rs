//! `cargo xtask coverage`: line coverage with cargo-tarpaulin (it needs no llvm-tools)
//! while the test services run, summed per crate (`crates/<name>/`) from its LCOV
//! report. Tarpaulin builds into its own target directory (`target/tarpaulin`) so that
//! it does not evict the normal build cache.

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
        let measured = measured_crates(paths, flags)?;
        let names: Vec<&str> = measured.iter().map(String::as_str).collect();
        let summary = lcov::summarize(&text, &paths.root).only(&names);
        ui::step(format!("line coverage ({})", report.display()));
        let label = if flags.packages.is_empty() {
            "workspace total"
        } else {
            "total of the selection"
        };
        print!("{}", lcov::render(&summary, label));
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

/// The crates the run measured: the `-p` selection, else every crate under `crates/`
/// (xtask is tooling, not product, and is left out).
fn measured_crates(paths: &Paths, flags: &Coverage) -> Result<Vec<String>> {
    if !flags.packages.is_empty() {
        return Ok(flags.packages.clone());
    }
    let dir = paths.root.join("crates");
    let mut names: Vec<String> = fs::read_dir(&dir)
        .with_context(|| format!("cannot list {}", dir.display()))?
        .filter_map(|e| e.ok())
        .filter(|e| e.path().join("Cargo.toml").is_file())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    Ok(names)
}
