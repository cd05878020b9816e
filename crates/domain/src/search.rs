//! What an admin types to find users: the term of `/users/search` and the `q` filter of
//! the user list and export.

use crate::error::FieldError;

/// A search term: trimmed, 1–[`SearchTerm::MAX_CHARS`] characters, no control
/// characters. Matched as a substring, so its length bounds the cost of a search.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct SearchTerm(String);

impl SearchTerm {
    /// The longest term, in characters after trimming.
    pub const MAX_CHARS: usize = 100;

    /// A term that must be there (`/users/search?q=`): blank is refused.
    pub fn parse(raw: &str) -> Result<Self, FieldError> {
        match Self::read(raw) {
            Ok(Some(term)) => Ok(term),
            _ => Err(FieldError::new(
                "q",
                format!(
                    "must be 1 to {} characters without control characters",
                    Self::MAX_CHARS
                ),
            )),
        }
    }

    /// A filter term (`/users?q=`): blank means no filter.
    pub fn filter(raw: &str) -> Result<Option<Self>, FieldError> {
        Self::read(raw).map_err(|()| {
            FieldError::new(
                "q",
                format!(
                    "must be at most {} characters without control characters",
                    Self::MAX_CHARS
                ),
            )
        })
    }

    /// The trimmed term, `None` when blank; `Err` when too long or holding a control
    /// character (one inside the term: trimming removes those at either end).
    fn read(raw: &str) -> Result<Option<Self>, ()> {
        let term = raw.trim();
        if term.chars().count() > Self::MAX_CHARS || crate::text::has_control(term) {
            return Err(());
        }
        Ok((!term.is_empty()).then(|| Self(term.to_owned())))
    }

    /// The trimmed term.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_term_is_trimmed_and_keeps_its_case() {
        assert_eq!(SearchTerm::parse("  Ann ").map(|t| t.0), Ok("Ann".into()));
        assert_eq!(
            SearchTerm::filter("\tAnn\n").map(|t| t.map(|t| t.0)),
            Ok(Some("Ann".into()))
        );
    }

    #[test]
    fn a_blank_term_is_refused_by_search_and_no_filter_for_the_list() {
        for blank in ["", "   ", "\t"] {
            assert_eq!(
                SearchTerm::parse(blank),
                Err(FieldError::new(
                    "q",
                    "must be 1 to 100 characters without control characters"
                ))
            );
            assert_eq!(SearchTerm::filter(blank), Ok(None));
        }
    }

    #[test]
    fn a_term_is_at_most_100_characters_not_bytes() {
        let longest = "ü".repeat(SearchTerm::MAX_CHARS);
        assert_eq!(
            SearchTerm::parse(&longest).map(|t| t.0),
            Ok(longest.clone())
        );
        let too_long = "x".repeat(SearchTerm::MAX_CHARS + 1);
        assert_eq!(SearchTerm::parse(&too_long).unwrap_err().field, "q");
        assert_eq!(
            SearchTerm::filter(&too_long),
            Err(FieldError::new(
                "q",
                "must be at most 100 characters without control characters"
            ))
        );
    }

    #[test]
    fn a_control_character_inside_the_term_is_refused() {
        for bad in ["a\u{0}b", "a\u{1b}b", "a\nb"] {
            assert!(SearchTerm::parse(bad).is_err(), "{bad:?}");
            assert!(SearchTerm::filter(bad).is_err(), "{bad:?}");
        }
    }
}
