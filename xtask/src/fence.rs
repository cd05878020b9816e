//! The dependency fence (ADR 0001, ADR 0017): every workspace crate may depend directly
//! only on the crates its entry in [`ALLOWED`] names, and the pure core (`domain`,
//! `application`) must stay free of frameworks and infrastructure even transitively.
//! Checked on the resolved graph with `cargo tree`, so a framework that sneaks in through
//! an allowed dependency is caught too. A new dependency is a decision: add it here.

use crate::cmd::Cmd;
use crate::error::{Error, Result};
use crate::paths::Paths;
use crate::ui;

/// Each workspace crate and the only crates it may depend on directly (normal
/// dependencies; dev- and build-dependencies are outside the fence). The workspace's own
/// crates appear here too, so the arrows of the hexagon point inwards by construction.
pub const ALLOWED: [(&str, &[&str]); 8] = [
    (
        "domain",
        &[
            "async-trait",
            "chrono",
            "hmac",
            "serde_json",
            "sha2",
            "thiserror",
            "unicode-normalization",
            "uuid",
            "zxcvbn",
        ],
    ),
    (
        "application",
        &[
            "async-trait",
            "chrono",
            "domain",
            "futures-util",
            "serde_json",
            "thiserror",
            "tracing",
            "uuid",
        ],
    ),
    (
        "adapters-postgres",
        &[
            "async-trait",
            "base64",
            "chrono",
            "deadpool",
            "diesel",
            "diesel-async",
            "diesel_migrations",
            "domain",
            "futures-util",
            "rand",
            "rustls",
            "rustls-native-certs",
            "serde",
            "serde_json",
            "sha2",
            "thiserror",
            "tokio",
            "tokio-postgres",
            "tokio-rustls",
            "tracing",
            "uuid",
        ],
    ),
    (
        "adapters-redis",
        &[
            "async-trait",
            "chrono",
            "domain",
            "governor",
            "redis",
            "rustls",
            "serde",
            "serde_json",
            "tokio",
            "tracing",
            "uuid",
        ],
    ),
    (
        "adapters-crypto",
        &[
            "argon2",
            "async-trait",
            "base64",
            "chrono",
            "domain",
            "ed25519-dalek",
            "jsonwebtoken",
            "p256",
            "rand",
            "secrecy",
            "serde",
            "serde_json",
            "sha2",
            "thiserror",
            "tokio",
            "tracing",
            "uuid",
        ],
    ),
    (
        "api-actix",
        &[
            "actix-governor",
            "actix-web",
            "adapters-crypto",
            "adapters-postgres",
            "adapters-redis",
            "application",
            "chrono",
            "csv",
            "csv-core",
            "domain",
            "futures-util",
            "humantime",
            "ipnet",
            "nix",
            "opentelemetry",
            "opentelemetry-otlp",
            "opentelemetry_sdk",
            "paperclip",
            "prometheus",
            "rustls",
            "secrecy",
            "serde",
            "serde_json",
            "sha2",
            "subtle",
            "thiserror",
            "tokio",
            "tracing",
            "tracing-appender",
            "tracing-opentelemetry",
            "tracing-subscriber",
            "uuid",
        ],
    ),
    (
        "client",
        &[
            "chrono",
            "progenitor-client",
            "regress",
            "reqwest",
            "serde",
            "serde_json",
            "uuid",
        ],
    ),
    ("xtask", &["ctrlc", "nix"]),
];

/// The crates whose whole resolved graph must also be free of [`FORBIDDEN`].
pub const FENCED: [&str; 2] = ["domain", "application"];

/// What must not appear anywhere among the pure core's normal dependencies.
pub const FORBIDDEN: [&str; 8] = [
    "actix-web",
    "actix-http",
    "diesel",
    "diesel-async",
    "deadpool",
    "redis",
    "paperclip",
    "tokio",
];

/// Checks every crate's direct dependencies against [`ALLOWED`] and the pure core's
/// graph against [`FORBIDDEN`]; the error names each offender and how it got in.
pub fn check(paths: &Paths) -> Result<()> {
    ui::step(format!(
        "dependency fence: each crate's direct dependencies allowlisted; {} free of {}",
        FENCED.join(", "),
        FORBIDDEN.join(", ")
    ));
    let tree = |args: &[&str]| {
        Cmd::new("cargo")
            .args(["tree", "-e", "normal", "--prefix", "none"])
            .args(args.iter().copied())
            .cwd(&paths.root)
            .read()
    };
    let mut problems = Vec::new();
    let manifest = std::fs::read_to_string(paths.root.join("Cargo.toml"))
        .map_err(|err| Error::msg(format!("cannot read the workspace Cargo.toml: {err}")))?;
    for member in unlisted(&members(&manifest)) {
        problems.push(format!(
            "workspace member `{member}` has no entry in the fence's allowlist \
             (xtask/src/fence.rs, ALLOWED)"
        ));
    }
    for (package, allowed) in ALLOWED {
        let direct = tree(&["-p", package, "--depth", "1"])?;
        for dependency in unlisted_dependencies(&direct, allowed) {
            problems.push(format!(
                "`{package}` depends on `{dependency}`, which its allowlist does not name \
                 (xtask/src/fence.rs, ALLOWED): add it there if that is a decision"
            ));
        }
    }
    for package in FENCED {
        let graph = tree(&["-p", package])?;
        for leaked in leaked(&graph) {
            let path = Cmd::new("cargo")
                .args(["tree", "-p", package, "-e", "normal", "-i", leaked])
                .cwd(&paths.root)
                .quiet()
                .read()
                .unwrap_or_else(|err| format!("(cargo tree -i failed: {err})"));
            problems.push(format!(
                "`{package}` depends on `{leaked}`, which the fence forbids. How it gets in \
                 (`cargo tree -p {package} -e normal -i {leaked}`):\n{}",
                path.trim_end()
            ));
        }
    }
    if problems.is_empty() {
        ui::note("fence holds");
        Ok(())
    } else {
        Err(Error::msg(format!(
            "dependency fence broken:\n{}",
            problems.join("\n")
        )))
    }
}

/// The crate names of a `cargo tree --prefix none` listing (the root first).
fn names(tree: &str) -> impl Iterator<Item = &str> {
    tree.lines()
        .filter_map(|line| line.split_whitespace().next())
}

/// The direct dependencies in a `cargo tree --depth 1 --prefix none` listing (its first
/// line is the crate itself) that `allowed` does not name, each once.
pub fn unlisted_dependencies<'t>(tree: &'t str, allowed: &[&str]) -> Vec<&'t str> {
    let mut found: Vec<&str> = names(tree)
        .skip(1)
        .filter(|name| !allowed.contains(name))
        .collect();
    found.sort_unstable();
    found.dedup();
    found
}

/// The workspace members of the root manifest's `members = [...]` (each a directory whose
/// last component is the package name, as every member here is).
pub fn members(manifest: &str) -> Vec<&str> {
    let Some(start) = manifest.find("members = [") else {
        return Vec::new();
    };
    let list = &manifest[start..];
    let list = &list[..list.find(']').unwrap_or(list.len())];
    list.split('"')
        .skip(1)
        .step_by(2)
        .map(|path| path.rsplit('/').next().unwrap_or(path))
        .collect()
}

/// The members that have no [`ALLOWED`] entry.
pub fn unlisted<'m>(members: &[&'m str]) -> Vec<&'m str> {
    members
        .iter()
        .copied()
        .filter(|member| !ALLOWED.iter().any(|(listed, _)| listed == member))
        .collect()
}

/// The forbidden crates in a `cargo tree --prefix none` listing, each once, in
/// [`FORBIDDEN`] order. Lines read `name vX.Y.Z [(source)] [(*)]`.
pub fn leaked(tree: &str) -> Vec<&'static str> {
    FORBIDDEN
        .into_iter()
        .filter(|forbidden| {
            tree.lines()
                .filter_map(|line| line.split_whitespace().next())
                .any(|name| name == *forbidden)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_clean_tree_leaks_nothing() {
        let tree =
            "domain v0.1.0 (/w/crates/domain)\nchrono v0.4.38\ntokio-macros v2.5.0\nuuid v1.10.0\n";
        assert!(leaked(tree).is_empty());
    }

    #[test]
    fn forbidden_crates_are_named_once_even_when_repeated() {
        let tree = "application v0.1.0 (/w/crates/application)\ntokio v1.47.1\n\
                    diesel v2.3.0\ntokio v1.47.1 (*)\n";
        assert_eq!(leaked(tree), vec!["diesel", "tokio"]);
    }

    #[test]
    fn a_direct_dependency_off_the_allowlist_is_named_once() {
        let tree = "domain v0.1.0 (/w/crates/domain)\nchrono v0.4.38\ntokio v1.47.1\n\
                    tokio v1.47.1 (*)\nuuid v1.10.0\n";
        assert_eq!(
            unlisted_dependencies(tree, &["chrono", "uuid"]),
            vec!["tokio"]
        );
        assert!(unlisted_dependencies(tree, &["chrono", "tokio", "uuid"]).is_empty());
    }

    #[test]
    fn the_root_line_is_not_a_dependency() {
        assert!(unlisted_dependencies("xtask v0.1.0 (/w/xtask)\n", &[]).is_empty());
    }

    #[test]
    fn a_member_without_an_allowlist_entry_is_named() {
        let manifest = "[workspace]\nmembers = [\n    \"crates/domain\",\n    \
                        \"crates/worker\",\n    \"xtask\",\n]\ndefault-members = [\"x\"]\n";
        assert_eq!(members(manifest), vec!["domain", "worker", "xtask"]);
        assert_eq!(unlisted(&members(manifest)), vec!["worker"]);
    }

    #[test]
    fn every_member_of_this_workspace_has_an_allowlist_entry() {
        let manifest = include_str!("../../Cargo.toml");
        assert!(members(manifest).len() >= ALLOWED.len());
        assert!(unlisted(&members(manifest)).is_empty());
    }

    #[test]
    fn names_match_exactly_not_by_prefix() {
        assert!(leaked("redis-test v0.1.0\ndeadpool-runtime v0.1.4\n").is_empty());
    }
}
