//! Hashes the migrations directory so that test templates are named after its content:
//! any change to a migration's name or SQL yields a new template database.

use std::fs;
use std::path::Path;

use sha2::{Digest, Sha256};

fn main() {
    // Read at run time: `env!` would bake in the checkout the script was compiled in.
    let manifest_dir = std::env::var("CARGO_MANIFEST_DIR").unwrap_or_else(|_| ".".into());
    let dir = Path::new(&manifest_dir).join("../../migrations");
    println!("cargo:rerun-if-changed={}", dir.display());
    let mut names: Vec<String> = match fs::read_dir(&dir) {
        Ok(entries) => entries
            .filter_map(Result::ok)
            .filter(|e| e.path().is_dir())
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .collect(),
        Err(e) => panic!("cannot read {}: {e}", dir.display()),
    };
    names.sort();
    let mut hasher = Sha256::new();
    for name in &names {
        hasher.update(name.as_bytes());
        for file in ["up.sql", "down.sql", "metadata.toml"] {
            let path = dir.join(name).join(file);
            println!("cargo:rerun-if-changed={}", path.display());
            if let Ok(sql) = fs::read(&path) {
                hasher.update(file.as_bytes());
                hasher.update(&sql);
            }
        }
    }
    let digest = hasher.finalize();
    let hex: String = digest.iter().map(|b| format!("{b:02x}")).collect();
    println!("cargo:rustc-env=EMS_MIGRATIONS_DIGEST={hex}");
}
