//! What an admin types to find users: the term of `/users/search` and the `q` filter of
//! the user list and export.

use crate::error::FieldError;

/// A search term: trimmed, 1–[`SearchTerm::MAX_CHARS`] characters, no control
/// characters. Matched as a substring (or, when short, as a prefix: [`Matching`]), so its
/// length bounds the cost of a search.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct SearchTerm(String);

/// How a term is compared with a user's username, display name and email (case-insensitive).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Matching {
    /// The field starts with the term.
    Prefix,
    /// The term occurs anywhere in the field.
    Substring,
}

impl SearchTerm {
    /// The longest term, in characters after trimming.
    pub const MAX_CHARS: usize = 100;

    /// The shortest term matched anywhere in a field; shorter ones match the start only.
    /// A substring of one or two characters cannot be looked up in a trigram index, so it
    /// would read every user (seconds at a million), and matches too much to help anyway.
    pub const SUBSTRING_MIN_CHARS: usize = 3;

    /// Matches counted exactly for an offset page's `total`. Past this, counting would
    /// cost more than the page itself (every match read), so the total is the database's
    /// estimate instead: see [`SearchTerm::total`].
    pub const COUNTED_MATCHES_MAX: u64 = 1_000;

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

    /// How this term matches: see [`SearchTerm::SUBSTRING_MIN_CHARS`].
    pub fn matching(&self) -> Matching {
        if self.0.chars().count() < Self::SUBSTRING_MIN_CHARS {
            Matching::Prefix
        } else {
            Matching::Substring
        }
    }

    /// The `total` of a filtered offset page: `counted` matches when the count stopped
    /// below the bound (counting at most [`SearchTerm::COUNTED_MATCHES_MAX`] + 1), else
    /// the database's `estimate`, never less than the rows known to exist.
    pub fn total(counted: u64, estimate: u64) -> u64 {
        if counted <= Self::COUNTED_MATCHES_MAX {
            counted
        } else {
            estimate.max(Self::COUNTED_MATCHES_MAX + 1)
        }
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
    fn terms_shorter_than_three_characters_match_as_prefixes() {
        let matching = |raw: &str| SearchTerm::parse(raw).map(|t| t.matching());
        assert_eq!(matching("a"), Ok(Matching::Prefix));
        assert_eq!(matching(" ab "), Ok(Matching::Prefix));
        assert_eq!(
            matching("üß"),
            Ok(Matching::Prefix),
            "characters, not bytes"
        );
        assert_eq!(matching("abc"), Ok(Matching::Substring));
    }

    #[test]
    fn a_total_is_exact_up_to_the_bound_and_an_estimate_past_it() {
        assert_eq!(SearchTerm::total(0, 5_000), 0);
        assert_eq!(SearchTerm::total(1_000, 5_000), 1_000);
        assert_eq!(SearchTerm::total(1_001, 5_000), 5_000);
        assert_eq!(
            SearchTerm::total(1_001, 20),
            1_001,
            "an estimate below what was counted is not believed"
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
