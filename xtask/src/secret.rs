//! The dev admin password: random once, then kept in a 0600 file so that the account
//! `ems serve` bootstraps in the dev database keeps working across runs.

use std::fs;
use std::io::{ErrorKind, Read, Write};
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::Path;

use crate::error::{bail, Context, Result};

const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";

/// 24 characters of 62: about 143 bits, far beyond any strength estimator's bar.
const LENGTH: usize = 24;

/// A stored password and whether this call made it.
#[derive(Debug)]
pub struct Stored {
    /// The password. Printed once for the developer, never logged elsewhere.
    pub password: String,
    /// True when the file did not exist (or was empty) and a new password was written.
    pub created: bool,
}

/// Reads the password kept at `path`, or generates one and keeps it there (mode 0600).
/// `avoid` is a word the password must not contain (the admin user name).
pub fn load_or_create(path: &Path, avoid: &str) -> Result<Stored> {
    match fs::read_to_string(path) {
        Ok(text) if !text.trim().is_empty() => {
            let mode = fs::metadata(path)
                .with_context(|| format!("cannot inspect {}", path.display()))?
                .permissions()
                .mode();
            if mode & 0o077 != 0 {
                fs::set_permissions(path, fs::Permissions::from_mode(0o600))
                    .with_context(|| format!("cannot restrict {}", path.display()))?;
            }
            return Ok(Stored {
                password: text.trim().to_owned(),
                created: false,
            });
        }
        Ok(_) => {}
        Err(e) if e.kind() == ErrorKind::NotFound => {}
        Err(e) => bail!("cannot read {}: {e}", path.display()),
    }
    let password = generate(avoid)?;
    write_private(path, &password)?;
    Ok(Stored {
        password,
        created: true,
    })
}

/// Keeps `len` random letters and digits at `path` (mode 0600) unless it already holds
/// something: the dev server's `AUDIT_HMAC_KEY`. Returns whether it was made now.
pub fn ensure_key(path: &Path, len: usize) -> Result<bool> {
    match fs::read(path) {
        Ok(bytes) if !bytes.trim_ascii().is_empty() => return Ok(false),
        Ok(_) => {}
        Err(e) if e.kind() == ErrorKind::NotFound => {}
        Err(e) => bail!("cannot read {}: {e}", path.display()),
    }
    let key = random_chars(len)?;
    write_private(path, &key)?;
    Ok(true)
}

/// A random password of [`LENGTH`] letters and digits with at least one of each kind,
/// not containing `avoid` (case-insensitively).
pub fn generate(avoid: &str) -> Result<String> {
    let avoid = avoid.to_lowercase();
    for _ in 0..100 {
        let candidate = random_chars(LENGTH)?;
        let has = |f: fn(&char) -> bool| candidate.chars().any(|c| f(&c));
        let mixed = has(char::is_ascii_lowercase)
            && has(char::is_ascii_uppercase)
            && has(char::is_ascii_digit);
        if mixed && (avoid.is_empty() || !candidate.to_lowercase().contains(&avoid)) {
            return Ok(candidate);
        }
    }
    bail!("could not generate a password (is /dev/urandom broken?)")
}

/// `n` uniformly random characters of [`ALPHABET`] from the kernel's CSPRNG
/// (rejection sampling, so no character is likelier than another).
fn random_chars(n: usize) -> Result<String> {
    let mut urandom = fs::File::open("/dev/urandom").context("cannot open /dev/urandom")?;
    let limit = (256 / ALPHABET.len() * ALPHABET.len()) as u8; // 248
    let mut out = String::with_capacity(n);
    let mut buf = [0u8; 64];
    while out.len() < n {
        urandom
            .read_exact(&mut buf)
            .context("cannot read /dev/urandom")?;
        for b in buf {
            if b < limit && out.len() < n {
                out.push(char::from(ALPHABET[usize::from(b) % ALPHABET.len()]));
            }
        }
    }
    Ok(out)
}

/// Writes `secret` and a newline to `path`, readable by its owner only (mode 0600),
/// creating the directory first.
fn write_private(path: &Path, secret: &str) -> Result<()> {
    if let Some(dir) = path.parent() {
        fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    }
    let mut file = fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)
        .with_context(|| format!("cannot create {}", path.display()))?;
    file.write_all(format!("{secret}\n").as_bytes())
        .with_context(|| format!("cannot write {}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_passwords_are_long_mixed_and_different() {
        let a = generate("admin").unwrap();
        let b = generate("admin").unwrap();
        assert_eq!(a.len(), LENGTH);
        assert!(a.chars().all(|c| c.is_ascii_alphanumeric()));
        assert!(!a.to_lowercase().contains("admin"));
        assert_ne!(a, b);
    }

    #[test]
    fn a_key_is_made_once_with_mode_0600_and_then_kept() {
        let dir = std::env::temp_dir().join(format!("xtask-key-{}", std::process::id()));
        let path = dir.join("dev-audit-key");
        assert!(ensure_key(&path, 64).unwrap());
        let first = fs::read_to_string(&path).unwrap();
        assert_eq!(first.trim().len(), 64);
        assert_eq!(
            fs::metadata(&path).unwrap().permissions().mode() & 0o777,
            0o600
        );
        assert!(!ensure_key(&path, 64).unwrap());
        assert_eq!(fs::read_to_string(&path).unwrap(), first);
        fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn the_password_is_created_once_with_mode_0600_and_then_reused() {
        let dir = std::env::temp_dir().join(format!("xtask-secret-{}", std::process::id()));
        let path = dir.join("nested").join("dev-admin-password");
        let first = load_or_create(&path, "admin").unwrap();
        assert!(first.created);
        let mode = fs::metadata(&path).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
        let second = load_or_create(&path, "admin").unwrap();
        assert!(!second.created);
        assert_eq!(first.password, second.password);
        fs::remove_dir_all(&dir).unwrap();
    }
}
