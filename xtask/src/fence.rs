//! The dependency fence: `domain` and `application` must stay free of frameworks and
//! infrastructure (ADR 0001). Checked on the resolved graph with `cargo tree`, so a
//! framework that sneaks in through a transitive dependency is caught too.

use crate::cmd::Cmd;
use crate::error::{Error, Result};
use crate::paths::Paths;
use crate::ui;

/// The crates behind the fence.
pub const FENCED: [&str; 2] = ["domain", "application"];

/// What must not appear among their normal (non-dev, non-build) dependencies.
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

/// Checks every fenced crate; the error names each leaked crate and how it got in.
pub fn check(paths: &Paths) -> Result<()> {
    ui::step(format!(
        "dependency fence: {} must not depend on {}",
        FENCED.join(", "),
        FORBIDDEN.join(", ")
    ));
    let mut problems = Vec::new();
    for package in FENCED {
        let tree = Cmd::new("cargo")
            .args(["tree", "-p", package, "-e", "normal", "--prefix", "none"])
            .cwd(&paths.root)
            .read()?;
        for leaked in leaked(&tree) {
            let path = Cmd::new("cargo")
                .args(["tree", "-p", package, "-e", "normal", "-i", leaked])
                .cwd(&paths.root)
                .quiet()
                .read()
                .unwrap_or_default();
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
    fn names_match_exactly_not_by_prefix() {
        assert!(leaked("redis-test v0.1.0\ndeadpool-runtime v0.1.4\n").is_empty());
    }
}
