//! Password policy and the stored hash.

use std::fmt;

use crate::user::Username;

/// The minimum zxcvbn score (0–4) a new password must reach.
pub const MIN_STRENGTH_SCORE: u8 = 3;

/// A plaintext password as a client sent it, for verification only. Never printed.
#[derive(Clone, PartialEq, Eq)]
pub struct Password(String);

impl Password {
    /// Wraps a candidate password.
    pub fn new(raw: impl Into<String>) -> Self {
        Self(raw.into())
    }

    /// The secret itself; call only to hash or verify it.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Password {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Password(***)")
    }
}

/// Why a new password was refused. Messages never contain the password.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PasswordError {
    /// Fewer than 10 characters.
    #[error("password must be at least 10 characters long")]
    TooShort,
    /// More than 128 characters.
    #[error("password must be at most 128 characters long")]
    TooLong,
    /// Contains the username (case-insensitively).
    #[error("password must not contain the username")]
    ContainsUsername,
    /// The strength estimator judged it guessable; its advice is attached.
    #[error("password is too weak")]
    Weak {
        /// The estimator's warning and suggestions, in that order.
        feedback: Vec<String>,
    },
}

/// A new password that meets the policy: 10–128 characters, not containing the
/// username, and judged strong enough by zxcvbn. Never printed.
#[derive(Clone, PartialEq, Eq)]
pub struct NewPassword(Password);

impl NewPassword {
    /// Checks `raw` against the policy for `username`. `context` are other words the
    /// estimator should treat as guessable (email, display name).
    pub fn parse(raw: &str, username: &Username, context: &[&str]) -> Result<Self, PasswordError> {
        let len = raw.chars().count();
        if len < 10 {
            return Err(PasswordError::TooShort);
        }
        if len > 128 {
            return Err(PasswordError::TooLong);
        }
        if raw
            .to_lowercase()
            .contains(&username.as_str().to_lowercase())
        {
            return Err(PasswordError::ContainsUsername);
        }
        let mut inputs = vec![username.as_str()];
        inputs.extend_from_slice(context);
        let estimate = zxcvbn::zxcvbn(raw, &inputs);
        if u8::from(estimate.score()) < MIN_STRENGTH_SCORE {
            let mut feedback = Vec::new();
            if let Some(advice) = estimate.feedback() {
                if let Some(warning) = advice.warning() {
                    feedback.push(warning.to_string());
                }
                feedback.extend(advice.suggestions().iter().map(ToString::to_string));
            }
            if feedback.is_empty() {
                feedback.push("Add more words or characters that are hard to guess.".into());
            }
            return Err(PasswordError::Weak { feedback });
        }
        Ok(Self(Password(raw.to_owned())))
    }

    /// The password for hashing.
    pub fn as_password(&self) -> &Password {
        &self.0
    }
}

impl fmt::Debug for NewPassword {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("NewPassword(***)")
    }
}

/// A password hash in PHC string format (argon2id). Opaque to the core.
#[derive(Clone, PartialEq, Eq)]
pub struct PasswordHash(String);

impl PasswordHash {
    /// Wraps a PHC string produced by a hasher or read from storage.
    pub fn new(phc: impl Into<String>) -> Self {
        Self(phc.into())
    }

    /// The PHC string, for storage and verification.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for PasswordHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("PasswordHash(***)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ann() -> Username {
        Username::parse("ann").unwrap_or_else(|e| panic!("{e}"))
    }

    #[test]
    fn a_long_random_passphrase_is_accepted() {
        assert!(NewPassword::parse("correct-Horse-battery-9-staple", &ann(), &[]).is_ok());
    }

    #[test]
    fn length_bounds_are_enforced() {
        assert_eq!(
            NewPassword::parse("Sh0rt!x", &ann(), &[]),
            Err(PasswordError::TooShort)
        );
        let long = "aB3$".repeat(33);
        assert_eq!(
            NewPassword::parse(&long, &ann(), &[]),
            Err(PasswordError::TooLong)
        );
    }

    #[test]
    fn the_username_may_not_appear_in_any_case() {
        assert_eq!(
            NewPassword::parse("xyzANNqwerty-Pl4net", &ann(), &[]),
            Err(PasswordError::ContainsUsername)
        );
    }

    #[test]
    fn a_common_password_is_weak_with_feedback() {
        match NewPassword::parse("password123", &ann(), &[]) {
            Err(PasswordError::Weak { feedback }) => assert!(!feedback.is_empty()),
            other => panic!("expected Weak, got {other:?}"),
        }
    }

    #[test]
    fn secrets_never_print() {
        let p = Password::new("hunter2hunter2");
        assert!(!format!("{p:?}").contains("hunter2"));
        let h = PasswordHash::new("$argon2id$v=19$secret");
        assert!(!format!("{h:?}").contains("secret"));
    }
}
