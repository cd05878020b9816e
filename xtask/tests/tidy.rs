//! Project hygiene, checked as a test so that `cargo xtask test` and CI enforce it: every
//! source file opens with a `//!` module doc saying what it holds, no `dbg!` call is
//! left anywhere in the Rust sources, and no sleep in the crates waits longer than
//! 100 ms unless it says which real timer it waits for, and no file points outside the
//! repository.

use std::fs;
use std::path::{Path, PathBuf};

/// The macro call we hunt, spelled in two halves so that this file does not match it.
const DBG: &str = concat!("dbg", "!(");

fn workspace_root() -> PathBuf {
    // xtask/ sits in the workspace root; an empty path makes the tests below say so.
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_default()
}

/// Every `.rs` file below `dir`, skipping build output and hidden directories.
fn rust_files(dir: &Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    let Ok(entries) = fs::read_dir(dir) else {
        return files;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        let name = entry.file_name();
        let name = name.to_string_lossy();
        if name.starts_with('.') || name == "target" {
            continue;
        }
        if path.is_dir() {
            files.extend(rust_files(&path));
        } else if name.ends_with(".rs") {
            files.push(path);
        }
    }
    files.sort();
    files
}

/// The `src` trees whose files must carry module docs: every crate's, and xtask's.
fn source_files(root: &Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    if let Ok(crates) = fs::read_dir(root.join("crates")) {
        let mut crates: Vec<PathBuf> = crates.flatten().map(|e| e.path()).collect();
        crates.sort();
        for krate in crates {
            files.extend(rust_files(&krate.join("src")));
        }
    }
    files.extend(rust_files(&root.join("xtask").join("src")));
    files
}

/// Whether the file opens with a module doc: `//!`, `/*!` or `#![doc = …]`, possibly
/// after blank lines, plain comments and other inner attributes.
fn has_module_doc(text: &str) -> bool {
    for line in text.lines().map(str::trim) {
        if line.starts_with("//!") || line.starts_with("/*!") || line.starts_with("#![doc") {
            return true;
        }
        let preamble = line.is_empty() || line.starts_with("//") || line.starts_with("#![");
        if !preamble {
            return false;
        }
    }
    false
}

fn relative(root: &Path, path: &Path) -> String {
    path.strip_prefix(root)
        .unwrap_or(path)
        .display()
        .to_string()
}

#[test]
fn every_source_file_starts_with_a_module_doc() {
    let root = workspace_root();
    let files = source_files(&root);
    assert!(
        !files.is_empty(),
        "no sources found under {}",
        root.display()
    );
    let missing: Vec<String> = files
        .iter()
        .filter(|f| !has_module_doc(&fs::read_to_string(f).unwrap_or_default()))
        .map(|f| relative(&root, f))
        .collect();
    assert!(
        missing.is_empty(),
        "these files lack a `//!` module doc at the top saying what they hold:\n  {}",
        missing.join("\n  ")
    );
}

#[test]
fn no_dbg_macro_anywhere() {
    let root = workspace_root();
    let mut files = rust_files(&root.join("crates"));
    files.extend(rust_files(&root.join("xtask")));
    let mut found = Vec::new();
    for file in &files {
        let text = fs::read_to_string(file).unwrap_or_default();
        for (number, line) in text.lines().enumerate() {
            if line.contains(DBG) {
                found.push(format!("{}:{}", relative(&root, file), number + 1));
            }
        }
    }
    assert!(
        found.is_empty(),
        "remove the {DBG}…) calls (use tracing):\n  {}",
        found.join("\n  ")
    );
}

/// The longest literal sleep allowed without a `// real timer: <what>` line above it.
/// Time the server reads comes from its `Clock`, which tests move; longer waits for
/// anything else are polls in short steps.
const LONGEST_UNMARKED_SLEEP_MS: u64 = 100;

/// The milliseconds of a `sleep(…from_millis(N))` or `sleep(…from_secs(N))` call on
/// `line`; `None` when there is none or its duration is computed (not judged here).
fn literal_sleep_ms(line: &str) -> Option<u64> {
    let (_, call) = line.split_once("sleep(")?;
    let (per_unit, path, rest) = if let Some((path, rest)) = call.split_once("from_millis(") {
        (1, path, rest)
    } else {
        let (path, rest) = call.split_once("from_secs(")?;
        (1000, path, rest)
    };
    if !path
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':')
    {
        return None;
    }
    let (number, _) = rest.split_once(')')?;
    let n: u64 = number.replace('_', "").parse().ok()?;
    n.checked_mul(per_unit)
}

#[test]
fn no_unmarked_sleep_longer_than_100_ms_in_the_crates() {
    let root = workspace_root();
    let mut found = Vec::new();
    for file in &rust_files(&root.join("crates")) {
        let text = fs::read_to_string(file).unwrap_or_default();
        let mut above = "";
        for (number, line) in text.lines().enumerate() {
            let long = literal_sleep_ms(line).is_some_and(|ms| ms > LONGEST_UNMARKED_SLEEP_MS);
            if long && !above.trim_start().starts_with("// real timer:") {
                found.push(format!("{}:{}", relative(&root, file), number + 1));
            }
            above = line;
        }
    }
    assert!(
        found.is_empty(),
        "move the server's clock (`TestApp::advance`) or poll in steps of at most \
         {LONGEST_UNMARKED_SLEEP_MS} ms; a sleep for a real timer says so on the line \
         above (`// real timer: <what>`):\n  {}",
        found.join("\n  ")
    );
}

#[test]
fn literal_sleeps_are_measured_and_computed_ones_left_alone() {
    let ms = literal_sleep_ms;
    assert_eq!(
        ms("tokio::time::sleep(Duration::from_millis(2100)).await;"),
        Some(2100)
    );
    assert_eq!(
        ms("sleep(std::time::Duration::from_millis(1_100)).await"),
        Some(1100)
    );
    assert_eq!(ms("thread::sleep(Duration::from_secs(1));"), Some(1000));
    assert_eq!(ms("sleep(Duration::from_millis(50)).await"), Some(50));
    assert_eq!(ms("sleep(Duration::from_millis(delay_ms)).await"), None);
    assert_eq!(ms("sleep(wait + Duration::from_millis(20)).await"), None);
    assert_eq!(ms("let d = Duration::from_secs(5);"), None);
}

#[test]
fn module_doc_detection_accepts_the_usual_openings() {
    assert!(has_module_doc("//! Users.\n\nuse x;"));
    assert!(has_module_doc(
        "#![doc = include_str!(\"../README.md\")]\n\npub mod a;"
    ));
    assert!(has_module_doc(
        "// SPDX-License-Identifier: GPL-3.0-or-later\n//! Users.\n"
    ));
    assert!(has_module_doc("#![forbid(unsafe_code)]\n//! Users.\n"));
    assert!(has_module_doc("\n/*! Users. */\n"));
}

#[test]
fn module_doc_detection_rejects_files_that_start_with_code() {
    assert!(!has_module_doc(""));
    assert!(!has_module_doc("use x;\n//! too late\n"));
    assert!(!has_module_doc(
        "/// An item doc is not a module doc.\npub struct A;\n"
    ));
}

/// The part of a file before its `#[cfg(test)]` module: what ships.
fn shipped(text: &str) -> &str {
    text.split("#[cfg(test)]").next().unwrap_or(text)
}

#[test]
fn handlers_and_dtos_reach_the_core_only_through_use_cases() {
    // ARCHITECTURE.md, api-actix: no port and no adapter is named by a handler, a DTO or
    // a middleware; the rate-limit middleware is the one edge code that spends budgets
    // through the RateLimiter port itself (ADR 0011).
    let root = workspace_root();
    let edge = root.join("crates/api-actix/src");
    let mut offenders = Vec::new();
    for dir in ["routes", "dto", "http"] {
        let files = rust_files(&edge.join(dir));
        assert!(!files.is_empty(), "no sources found under {dir}");
        for file in files {
            let Ok(text) = fs::read_to_string(&file) else {
                offenders.push(format!("{}: unreadable", relative(&root, &file)));
                continue;
            };
            let name = relative(&root, &file);
            let allowed_ports = name.ends_with("http/rate_limit.rs");
            for (n, line) in shipped(&text).lines().enumerate() {
                let names_adapter = ["adapters_postgres", "adapters_redis", "adapters_crypto"]
                    .iter()
                    .any(|adapter| line.contains(adapter));
                let names_port = line.contains("domain::ports");
                if names_adapter || (names_port && !allowed_ports) {
                    offenders.push(format!("{name}:{}: {}", n + 1, line.trim()));
                }
            }
        }
    }
    assert!(
        offenders.is_empty(),
        "the edge calls a port or an adapter directly:\n{}",
        offenders.join("\n")
    );
}

#[test]
fn application_errors_are_mapped_in_one_match_without_a_catch_all() {
    let root = workspace_root();
    let path = root.join("crates/api-actix/src/http/error/from_app.rs");
    let text = fs::read_to_string(&path).expect("the AppError mapping exists");
    let code = shipped(&text);
    let arms: Vec<&str> = code
        .lines()
        .filter(|line| line.starts_with("            ") && !line.starts_with("             "))
        .map(str::trim)
        .filter(|line| !line.starts_with('}') && !line.starts_with("//"))
        .collect();
    assert!(arms.len() >= 10, "the match was not found: {arms:?}");
    let catch_all: Vec<&&str> = arms
        .iter()
        .filter(|arm| !arm.starts_with("AppError::"))
        .collect();
    assert!(
        catch_all.is_empty(),
        "an arm of the AppError mapping is not a named variant: {catch_all:?}"
    );
}

#[test]
fn only_the_postgres_adapter_writes_sql() {
    let root = workspace_root();
    let sql = ["SELECT ", "INSERT INTO ", "DELETE FROM ", "sql_query("];
    let mut offenders = Vec::new();
    for file in source_files(&root) {
        let name = relative(&root, &file);
        if name.starts_with("crates/adapters-postgres/") || name.starts_with("xtask/") {
            continue;
        }
        let Ok(text) = fs::read_to_string(&file) else {
            continue;
        };
        for (n, line) in shipped(&text).lines().enumerate() {
            if sql.iter().any(|s| line.contains(s)) && !line.trim_start().starts_with("//") {
                offenders.push(format!("{name}:{}: {}", n + 1, line.trim()));
            }
        }
    }
    assert!(
        offenders.is_empty(),
        "SQL outside crates/adapters-postgres:\n{}",
        offenders.join("\n")
    );
}

/// References to files beside the checkout that a user who clones the repository does
/// not have; spelled in parts so that this file does not match them.
const OUTSIDE: [&str; 2] = [concat!("..", "/shared"), concat!("contract", ".md")];

/// Every file of the repository, hidden ones too, skipping `.git` and build output.
fn repository_files(dir: &Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    let Ok(entries) = fs::read_dir(dir) else {
        return files;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        let name = entry.file_name();
        if name == ".git" || name == "target" || name == "node_modules" {
            continue;
        }
        if path.is_dir() {
            files.extend(repository_files(&path));
        } else {
            files.push(path);
        }
    }
    files.sort();
    files
}

#[test]
fn no_file_points_outside_the_repository() {
    let root = workspace_root();
    let mut offenders = Vec::new();
    let files = repository_files(&root);
    for file in &files {
        // Binary files are not read as text, and refer to nothing.
        let Ok(text) = fs::read_to_string(file) else {
            continue;
        };
        for (n, line) in text.lines().enumerate() {
            let lower = line.to_lowercase();
            if OUTSIDE.iter().any(|o| lower.contains(o)) {
                offenders.push(format!(
                    "{}:{}: {}",
                    relative(&root, file),
                    n + 1,
                    line.trim()
                ));
            }
        }
    }
    assert!(
        files.len() > 100,
        "the repository was walked: {}",
        files.len()
    );
    assert!(
        offenders.is_empty(),
        "references to files outside the repository (docs/API.md is the API reference):\n{}",
        offenders.join("\n")
    );
}
