//! `cargo xtask coverage`: line coverage with cargo-tarpaulin (its ptrace engine: it needs
//! no llvm-tools), summed per crate (`crates/<name>/`) from its LCOV report. Tarpaulin
//! builds into its own target directory (`target/tarpaulin`) so that it does not evict the
//! normal build cache.
//!
//! Two uses, two costs. `--gate` (what `.ci/run` runs) measures the pure core, `domain`
//! and `application`, whose tests use mocks, and each crate must reach [`GATE`]'s minimum
//! on its own (a well-covered crate cannot carry a poorly covered one); then, in a run of
//! their own with the test services, the adapters ([`SHOWN`]) by their own tests, printed
//! without a minimum. Without `-p`, every crate is measured with the test services running
//! and the full per-crate table printed: an instrumented build and run of every
//! integration test (the HTTP suite above all) under ptrace, too slow for every CI run, so
//! it is run by hand.

use std::fs;

use crate::cmd::{describe, Cmd};
use crate::error::{bail, Context, Result};
use crate::flags::Coverage;
use crate::lcov;
use crate::paths::Paths;
use crate::services::TestServices;
use crate::ui;

/// The CI gate: each crate and the line coverage it must reach on its own (the seed's
/// bar). Both are pure (no I/O, by the fence), so measuring them needs no services.
pub const GATE: [(&str, f64); 2] = [("domain", 80.0), ("application", 80.0)];

/// Crates whose tests need neither PostgreSQL nor Redis: the pure core.
const SELF_CONTAINED: [&str; 2] = ["domain", "application"];

/// The crates `--gate` also measures, each by its own tests (services running), and
/// prints beside the gated ones without a minimum: cheap enough for every CI run.
pub const SHOWN: [&str; 3] = ["adapters-crypto", "adapters-redis", "adapters-postgres"];

/// Crates whose tests are the HTTP suite (`api-actix`'s, which also drives `client`):
/// under ptrace it does not fit a CI run, so only a run without `-p` measures them.
const BY_HAND: [&str; 2] = ["api-actix", "client"];

/// Measures, prints the table, and enforces `--fail-under` and the per-crate minimums;
/// with `--gate` then measures and prints [`SHOWN`] in a run of their own, so that their
/// tests cannot lift the gated crates' figures.
pub fn run(paths: &Paths, flags: &Coverage) -> Result<()> {
    let flags = &with_gate(flags);
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
    let label = if flags.packages.is_empty() {
        "workspace total"
    } else {
        "total of the selection"
    };
    let measured = measured_crates(paths, flags)?;
    let summary = measure(paths, "selection", &measured, flags, label)?;
    if let Some(min) = flags.fail_under {
        let pct = summary.total.percent();
        if pct < min {
            bail!("line coverage {pct:.1}% is below --fail-under {min}%");
        }
        ui::note(format!("line coverage {pct:.1}% meets --fail-under {min}%"));
    }
    let short = below(&summary, &flags.fail_under_crate);
    if !short.is_empty() {
        bail!("line coverage too low: {}", short.join("; "));
    }
    for (name, min) in &flags.fail_under_crate {
        ui::note(format!("{name} meets its minimum of {min}%"));
    }
    if flags.gate {
        let shown: Vec<String> = SHOWN.iter().map(|&n| n.to_owned()).collect();
        let others = Coverage {
            packages: shown.clone(),
            ..flags.clone()
        };
        measure(
            paths,
            "shown",
            &shown,
            &others,
            "total of these (no minimum)",
        )?;
        ui::note(format!(
            "not measured by the gate: {} (their tests are the HTTP suite; \
             `cargo xtask coverage` without -p measures every crate)",
            BY_HAND.join(", ")
        ));
    }
    Ok(())
}

/// One tarpaulin run over `flags.packages` (all when empty), its LCOV report written to
/// `target/coverage/<name>/`; prints the table of `crates` and returns it. Failing tests
/// still print the report, then fail.
fn measure(
    paths: &Paths,
    name: &str,
    crates: &[String],
    flags: &Coverage,
    label: &str,
) -> Result<lcov::Summary> {
    let out_dir = paths.target.join("coverage").join(name);
    fs::create_dir_all(&out_dir).with_context(|| format!("cannot create {}", out_dir.display()))?;
    let report = out_dir.join("lcov.info");
    if report.exists() {
        fs::remove_file(&report)
            .with_context(|| format!("cannot remove the old {}", report.display()))?;
    }

    let services = if needs_services(&flags.packages) {
        Some(TestServices::start(paths)?)
    } else {
        None
    };
    ui::step(format!("cargo tarpaulin ({})", crates.join(", ")));
    let mut cmd = Cmd::new("cargo").arg("tarpaulin").cwd(&paths.root);
    if flags.packages.is_empty() {
        cmd = cmd.args(["--workspace", "--exclude", "xtask"]);
    } else {
        for package in &flags.packages {
            cmd = cmd.args(["--packages", package]);
        }
    }
    cmd = cmd
        .args(["--engine", "ptrace", "--skip-clean", "--timeout", "300"])
        .args(["--out", "Lcov"])
        .arg("--output-dir")
        .arg(&out_dir)
        .arg("--target-dir")
        .arg(paths.target.join("tarpaulin"))
        .args(&flags.tarpaulin_args);
    for (key, value) in services.iter().flat_map(TestServices::env) {
        cmd = cmd.env(key, value);
    }
    let status = cmd.status();
    let stopped = services.map_or(Ok(()), TestServices::stop);
    let status = status?;

    if !report.exists() {
        if !status.success() {
            bail!(
                "cargo tarpaulin failed ({}) and wrote no report",
                describe(status)
            );
        }
        bail!("cargo tarpaulin wrote no {}", report.display());
    }
    let text =
        fs::read_to_string(&report).with_context(|| format!("cannot read {}", report.display()))?;
    let names: Vec<&str> = crates.iter().map(String::as_str).collect();
    let summary = lcov::summarize(&text, &paths.root).only(&names);
    ui::step(format!("line coverage ({})", report.display()));
    print!("{}", lcov::render(&summary, label));
    if !status.success() {
        bail!("cargo tarpaulin failed ({})", describe(status));
    }
    stopped?;
    Ok(summary)
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

/// `flags` with `--gate` spelled out: its crates join the selection and their minimums the
/// per-crate ones (a stricter minimum given by hand wins).
fn with_gate(flags: &Coverage) -> Coverage {
    let mut flags = flags.clone();
    if flags.gate {
        for (name, min) in GATE {
            if !flags.packages.iter().any(|p| p == name) {
                flags.packages.push(name.to_owned());
            }
            match flags.fail_under_crate.iter_mut().find(|(n, _)| n == name) {
                Some((_, given)) => *given = given.max(min),
                None => flags.fail_under_crate.push((name.to_owned(), min)),
            }
        }
    }
    flags
}

/// Whether measuring `packages` (all when empty) runs tests that need the test services.
fn needs_services(packages: &[String]) -> bool {
    packages.is_empty()
        || packages
            .iter()
            .any(|p| !SELF_CONTAINED.contains(&p.as_str()))
}

/// One line per crate below its minimum; a crate the report does not hold fails too, so a
/// misspelt or unmeasured crate cannot pass the gate.
fn below(summary: &lcov::Summary, minimums: &[(String, f64)]) -> Vec<String> {
    minimums
        .iter()
        .filter_map(|(name, min)| match summary.crates.get(name) {
            None => Some(format!("{name} was not measured (minimum {min}%)")),
            Some(lines) if lines.percent() < *min => Some(format!(
                "{name} {:.1}% is below its minimum of {min}%",
                lines.percent()
            )),
            Some(_) => None,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;

    const LCOV: &str = "\
SF:/w/crates/domain/src/user.rs
DA:1,1
DA:2,1
DA:3,1
DA:4,0
end_of_record
SF:/w/crates/application/src/login.rs
DA:1,1
DA:2,0
end_of_record
";

    fn minimums(pairs: &[(&str, f64)]) -> Vec<(String, f64)> {
        pairs.iter().map(|(n, m)| ((*n).to_owned(), *m)).collect()
    }

    #[test]
    fn each_crate_is_judged_on_its_own_not_on_the_total() {
        let summary = lcov::summarize(LCOV, Path::new("/w"));
        // The total is 4/6 = 66.7 %: above 60, yet application alone is at 50 %.
        let short = below(
            &summary,
            &minimums(&[("domain", 60.0), ("application", 60.0)]),
        );
        assert_eq!(short, ["application 50.0% is below its minimum of 60%"]);
        assert!(below(
            &summary,
            &minimums(&[("domain", 75.0), ("application", 50.0)])
        )
        .is_empty());
    }

    #[test]
    fn a_crate_missing_from_the_report_fails_its_minimum() {
        let summary = lcov::summarize(LCOV, Path::new("/w"));
        let short = below(&summary, &minimums(&[("adapters-redis", 0.0)]));
        assert_eq!(short, ["adapters-redis was not measured (minimum 0%)"]);
    }

    #[test]
    fn the_gate_selects_its_crates_and_keeps_a_stricter_minimum() {
        let flags = with_gate(&Coverage {
            gate: true,
            fail_under_crate: minimums(&[("domain", 90.0), ("application", 10.0)]),
            ..Coverage::default()
        });
        assert_eq!(flags.packages, ["domain", "application"]);
        assert_eq!(
            flags.fail_under_crate,
            minimums(&[("domain", 90.0), ("application", 80.0)])
        );
        let plain = Coverage::default();
        assert_eq!(with_gate(&plain), plain);
    }

    #[test]
    fn every_crate_is_gated_shown_or_named_as_measured_by_hand() {
        let crates = Path::new(env!("CARGO_MANIFEST_DIR")).join("../crates");
        let mut names: Vec<String> = fs::read_dir(&crates)
            .unwrap()
            .map(|e| e.unwrap())
            .filter(|e| e.path().join("Cargo.toml").is_file())
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        let mut listed: Vec<String> = GATE
            .iter()
            .map(|(n, _)| *n)
            .chain(SHOWN)
            .chain(BY_HAND)
            .map(str::to_owned)
            .collect();
        listed.sort();
        assert_eq!(
            names, listed,
            "a crate the CI coverage step neither measures nor names"
        );
    }

    #[test]
    fn only_the_pure_core_runs_without_services() {
        let names = |n: &[&str]| n.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>();
        assert!(!needs_services(&names(&["domain", "application"])));
        assert!(needs_services(&names(&["domain", "adapters-postgres"])));
        assert!(needs_services(&[]));
    }
}
