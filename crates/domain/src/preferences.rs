//! A user's UI preferences.

use crate::error::FieldError;

/// Colour scheme.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Theme {
    /// Light (default).
    Light,
    /// Dark.
    Dark,
    /// Follow the operating system.
    System,
}

impl Theme {
    /// The contract's spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Light => "light",
            Self::Dark => "dark",
            Self::System => "system",
        }
    }

    /// Parses the contract's spelling.
    pub fn parse(raw: &str) -> Result<Self, FieldError> {
        match raw {
            "light" => Ok(Self::Light),
            "dark" => Ok(Self::Dark),
            "system" => Ok(Self::System),
            _ => Err(FieldError::new("theme", "must be light, dark or system")),
        }
    }
}

/// A BCP 47 language tag of the common shape: a 2–3 letter language, then optional
/// subtags of 2–8 letters or digits (`en`, `de-CH`, `zh-Hant-TW`), at most 35 characters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Language(String);

impl Language {
    /// Parses a language tag.
    pub fn parse(raw: &str) -> Result<Self, FieldError> {
        let invalid = || {
            FieldError::new(
                "language",
                "must be a BCP 47 language tag such as en or de-CH",
            )
        };
        if raw.is_empty() || raw.len() > 35 {
            return Err(invalid());
        }
        let mut parts = raw.split('-');
        let primary = parts.next().unwrap_or_default();
        if !(2..=3).contains(&primary.len()) || !primary.chars().all(|c| c.is_ascii_alphabetic()) {
            return Err(invalid());
        }
        for part in parts {
            if !(2..=8).contains(&part.len()) || !part.chars().all(|c| c.is_ascii_alphanumeric()) {
                return Err(invalid());
            }
        }
        Ok(Self(raw.to_owned()))
    }

    /// The tag.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A user's preferences; defaults light / en / true.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Preferences {
    /// Colour scheme.
    pub theme: Theme,
    /// UI language.
    pub language: Language,
    /// Whether to send notifications.
    pub notifications: bool,
}

impl Default for Preferences {
    fn default() -> Self {
        Self {
            theme: Theme::Light,
            language: Language("en".into()),
            notifications: true,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn language_accepts_common_tags_and_rejects_junk() {
        for ok in ["en", "de-CH", "zh-Hant-TW", "gsw"] {
            assert!(Language::parse(ok).is_ok(), "{ok}");
        }
        for bad in [
            "",
            "e",
            "english",
            "en_US",
            "en-",
            "de-CH-x-toolongsubtag",
            "1n",
        ] {
            assert!(Language::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn theme_parses_its_three_values() {
        assert_eq!(Theme::parse("dark"), Ok(Theme::Dark));
        assert!(Theme::parse("Dark").is_err());
    }
}
