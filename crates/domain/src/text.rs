//! Free text as the core accepts it. A control character (C0 including NUL, DEL, C1)
//! is never part of a name, address, search term or identifier a person typed; NUL in
//! particular cannot be stored in a PostgreSQL text or jsonb value at all. Every
//! free-text value type refuses them through [`no_control`], so no string reaches a
//! store that the store would reject.

use crate::error::FieldError;

/// Whether `raw` holds a control character anywhere.
pub fn has_control(raw: &str) -> bool {
    raw.chars().any(char::is_control)
}

/// Refuses a control character in `field`, naming the field as the client spells it.
pub fn no_control(field: &str, raw: &str) -> Result<(), FieldError> {
    if has_control(raw) {
        Err(FieldError::new(
            field,
            "must not contain control characters",
        ))
    } else {
        Ok(())
    }
}

/// `raw` with each control character replaced by U+FFFD: for text that is only
/// recorded, never matched (the name of a login attempt that names nobody).
pub fn printable(raw: &str) -> String {
    raw.chars()
        .map(|c| if c.is_control() { '\u{FFFD}' } else { c })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nul_del_c0_and_c1_characters_are_control_characters() {
        for bad in [
            "a\u{0}b",
            "\u{7f}",
            "tab\there",
            "line\n",
            "\u{1b}[31m",
            "\u{85}",
        ] {
            assert!(has_control(bad), "{bad:?}");
            assert_eq!(
                no_control("q", bad),
                Err(FieldError::new("q", "must not contain control characters"))
            );
        }
    }

    #[test]
    fn ordinary_text_in_any_script_passes() {
        for ok in ["Ann Lee", "Zoë", "日本語", "😀", "a-b_c.d", ""] {
            assert!(no_control("q", ok).is_ok(), "{ok:?}");
        }
    }

    #[test]
    fn printable_replaces_only_control_characters() {
        assert_eq!(printable("a\u{0}b\tc ü"), "a\u{FFFD}b\u{FFFD}c ü");
    }
}
