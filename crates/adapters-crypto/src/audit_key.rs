//! `AUDIT_HMAC_KEY`: the file holding the audit key, read once at start. Its bytes, with
//! surrounding white space trimmed, are the key (at least 32 of them; `openssl rand -hex
//! 32` makes a good one). Errors render as one line naming the variable, never the key.

use std::path::Path;

use domain::audit_evidence::AuditKey;

/// Why the audit key file could not be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AuditKeyFileError {
    /// The file could not be read.
    #[error("cannot read {path}: {reason}")]
    Read {
        /// The file.
        path: String,
        /// The I/O error.
        reason: String,
    },
    /// The file holds too little key material.
    #[error(
        "{path} holds {len} bytes of key material; at least 32 are needed \
         (make one with `openssl rand -hex 32`)"
    )]
    TooShort {
        /// The file.
        path: String,
        /// How many bytes it held (after trimming white space).
        len: usize,
    },
}

/// Reads the key file.
pub fn load(path: &Path) -> Result<AuditKey, AuditKeyFileError> {
    let name = || path.display().to_string();
    let bytes = std::fs::read(path).map_err(|e| AuditKeyFileError::Read {
        path: name(),
        reason: e.kind().to_string(),
    })?;
    let trimmed = bytes.trim_ascii().to_vec();
    let len = trimmed.len();
    AuditKey::new(trimmed).map_err(|_| AuditKeyFileError::TooShort { path: name(), len })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(name: &str, contents: &[u8]) -> std::path::PathBuf {
        let path =
            std::env::temp_dir().join(format!("ems-audit-key-{}-{name}", std::process::id()));
        std::fs::write(&path, contents).unwrap();
        path
    }

    #[test]
    fn a_key_file_of_32_bytes_or_more_loads_and_never_prints() {
        let path = file("ok", b"  0123456789abcdef0123456789abcdef-secret\n");
        let key = load(&path).unwrap();
        assert!(!format!("{key:?}").contains("secret"));
        std::fs::remove_file(path).unwrap();
    }

    #[test]
    fn a_short_or_missing_file_is_one_line_naming_the_variable() {
        let path = file("short", b"0123456789abcdef0123456789abcde\n");
        let e = load(&path).unwrap_err();
        assert!(
            matches!(e, AuditKeyFileError::TooShort { len: 31, .. }),
            "{e}"
        );
        let line = e.to_string();
        assert!(!line.contains('\n'), "{line}");
        assert!(!line.contains("0123456789"), "{line}");
        std::fs::remove_file(path).unwrap();

        let e = load(Path::new("/nonexistent/ems-audit.key")).unwrap_err();
        assert!(matches!(e, AuditKeyFileError::Read { .. }), "{e}");
        assert!(!e.to_string().contains('\n'), "{e}");
    }
}
