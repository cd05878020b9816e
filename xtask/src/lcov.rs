//! Reading LCOV coverage (what cargo-tarpaulin writes with `--out Lcov`) and summing
//! it per crate: every source file under `crates/<name>/` counts for `<name>`.

use std::collections::{BTreeMap, HashMap};
use std::fmt::Write;
use std::path::Path;

/// Covered and coverable lines.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Lines {
    /// Lines executed at least once.
    pub covered: u64,
    /// Lines that could be executed.
    pub total: u64,
}

impl Lines {
    /// Covered share in percent; 100 for a crate without coverable lines.
    pub fn percent(&self) -> f64 {
        if self.total == 0 {
            100.0
        } else {
            self.covered as f64 * 100.0 / self.total as f64
        }
    }

    fn add(&mut self, other: Lines) {
        self.covered += other.covered;
        self.total += other.total;
    }
}

/// Coverage per crate and for the workspace.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Summary {
    /// Per crate name, sorted.
    pub crates: BTreeMap<String, Lines>,
    /// Everything together.
    pub total: Lines,
}

/// Sums an LCOV report. Paths are made relative to `root` first; a line reported twice
/// (the same file in two records) counts once, covered if either run covered it. Files
/// of a crate's integration tests (`crates/<name>/tests/`) are left out: tarpaulin lists
/// their helpers, and test code covering itself would lift the figure of the product.
pub fn summarize(lcov: &str, root: &Path) -> Summary {
    let mut hits: HashMap<(String, u64), bool> = HashMap::new();
    let mut file: Option<String> = None;
    for line in lcov.lines() {
        let line = line.trim();
        if let Some(path) = line.strip_prefix("SF:") {
            file = Some(path.to_owned());
        } else if line == "end_of_record" {
            file = None;
        } else if let (Some(data), Some(file)) = (line.strip_prefix("DA:"), &file) {
            let mut fields = data.split(',');
            let number = fields.next().and_then(|n| n.trim().parse::<u64>().ok());
            let count = fields.next().and_then(|n| n.trim().parse::<u64>().ok());
            if let (Some(number), Some(count)) = (number, count) {
                *hits.entry((file.clone(), number)).or_insert(false) |= count > 0;
            }
        }
    }
    let mut summary = Summary::default();
    for ((file, _), covered) in hits {
        if is_integration_test(&file, root) {
            continue;
        }
        let lines = Lines {
            covered: u64::from(covered),
            total: 1,
        };
        summary
            .crates
            .entry(crate_of(&file, root))
            .or_default()
            .add(lines);
        summary.total.add(lines);
    }
    summary
}

impl Summary {
    /// Only the crates named in `names`, with the total recomputed over them. Tarpaulin
    /// lists every workspace source file, also those of crates it did not test (at 0%).
    pub fn only(&self, names: &[&str]) -> Summary {
        let mut kept = Summary::default();
        for (name, lines) in &self.crates {
            if names.contains(&name.as_str()) {
                kept.crates.insert(name.clone(), *lines);
                kept.total.add(*lines);
            }
        }
        kept
    }
}

/// `crates/<name>/…` → `<name>`; another file inside the workspace → its top directory;
/// anything else → `(outside)`.
fn crate_of(file: &str, root: &Path) -> String {
    let path = Path::new(file);
    let relative = path.strip_prefix(root).unwrap_or(path);
    if relative.is_absolute() {
        return "(outside)".to_owned();
    }
    let mut parts = relative.iter().map(|p| p.to_string_lossy().into_owned());
    match (parts.next(), parts.next()) {
        (Some(first), Some(second)) if first == "crates" => second,
        (Some(first), Some(_)) => first,
        _ => "(root)".to_owned(),
    }
}

/// `crates/<name>/tests/…`: an integration test of a crate, not the crate's code.
fn is_integration_test(file: &str, root: &Path) -> bool {
    let path = Path::new(file);
    let mut parts = path.strip_prefix(root).unwrap_or(path).iter();
    matches!(
        (parts.next(), parts.next(), parts.next()),
        (Some(first), Some(_), Some(third)) if first == "crates" && third == "tests"
    )
}

/// The table `cargo xtask coverage` prints; the last row is labelled `total_label`.
pub fn render(summary: &Summary, total_label: &str) -> String {
    let width = summary
        .crates
        .keys()
        .map(String::len)
        .chain([total_label.len()])
        .max()
        .unwrap_or(0);
    let mut out = String::new();
    let row = |out: &mut String, name: &str, lines: Lines| {
        let _ = writeln!(
            out,
            "{name:<width$}  {:>8}  {:>8}  {:>7.1}%",
            lines.covered,
            lines.total,
            lines.percent()
        );
    };
    let _ = writeln!(
        out,
        "{:<width$}  {:>8}  {:>8}  {:>8}",
        "crate", "covered", "lines", "percent"
    );
    let _ = writeln!(out, "{}", "-".repeat(width + 32));
    for (name, lines) in &summary.crates {
        row(&mut out, name, *lines);
    }
    let _ = writeln!(out, "{}", "-".repeat(width + 32));
    row(&mut out, total_label, summary.total);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const LCOV: &str = "\
TN:
SF:/w/crates/domain/src/user.rs
FN:3,new
DA:3,4
DA:4,0
DA:5,1
LF:3
LH:2
end_of_record
SF:/w/crates/domain/src/user.rs
DA:4,2
end_of_record
SF:/w/crates/api-actix/src/main.rs
DA:1,0
DA:2,0
end_of_record
SF:/w/xtask/src/main.rs
DA:1,1
end_of_record
";

    #[test]
    fn lines_are_summed_per_crate_and_deduplicated() {
        let s = summarize(LCOV, Path::new("/w"));
        assert_eq!(
            s.crates["domain"],
            Lines {
                covered: 3,
                total: 3
            }
        );
        assert_eq!(
            s.crates["api-actix"],
            Lines {
                covered: 0,
                total: 2
            }
        );
        assert_eq!(
            s.crates["xtask"],
            Lines {
                covered: 1,
                total: 1
            }
        );
        assert_eq!(
            s.total,
            Lines {
                covered: 4,
                total: 6
            }
        );
    }

    #[test]
    fn integration_test_files_do_not_count_for_their_crate() {
        let lcov = "SF:/w/crates/domain/src/user.rs\nDA:1,0\nend_of_record\n\
                    SF:/w/crates/domain/tests/rules.rs\nDA:1,1\nDA:2,1\nend_of_record\n";
        let s = summarize(lcov, Path::new("/w"));
        assert_eq!(
            s.crates["domain"],
            Lines {
                covered: 0,
                total: 1
            }
        );
        assert_eq!(s.total, s.crates["domain"]);
        assert!(!is_integration_test(
            "/w/crates/domain/src/tests.rs",
            Path::new("/w")
        ));
    }

    #[test]
    fn relative_and_foreign_paths_are_grouped_sensibly() {
        assert_eq!(
            crate_of("crates/domain/src/lib.rs", Path::new("/w")),
            "domain"
        );
        assert_eq!(crate_of("/elsewhere/lib.rs", Path::new("/w")), "(outside)");
        assert_eq!(crate_of("/w/build.rs", Path::new("/w")), "(root)");
    }

    #[test]
    fn the_table_ends_with_the_workspace_total() {
        let table = render(&summarize(LCOV, Path::new("/w")), "workspace total");
        let last = table.lines().last().unwrap();
        assert!(last.starts_with("workspace total"), "{table}");
        assert!(last.ends_with("66.7%"), "{table}");
        assert!(table.contains("api-actix"));
    }

    #[test]
    fn a_selection_keeps_only_the_named_crates_and_their_total() {
        let s = summarize(LCOV, Path::new("/w")).only(&["domain", "api-actix"]);
        assert_eq!(s.crates.len(), 2);
        assert_eq!(
            s.total,
            Lines {
                covered: 3,
                total: 5
            }
        );
    }

    #[test]
    fn an_empty_crate_counts_as_fully_covered() {
        assert_eq!(Lines::default().percent(), 100.0);
    }
}
