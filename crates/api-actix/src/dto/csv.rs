//! CSV as a spreadsheet reads it: the presentation rule against formula injection
//! (OWASP "CSV Injection"), in one place for every CSV the server writes.
//!
//! A spreadsheet runs a cell that starts with `=`, `+`, `-` or `@` (or a tab or CR
//! before one) as a formula. Which characters separate cells depends on the reader's
//! locale (`,` in most, `;` where `,` is the decimal mark, tab when pasted), so a field
//! is dangerous when any part of it, cut at `,`, `;`, tab or a line break, starts with
//! one. Such a field gets a leading `'` (a spreadsheet shows it as text), and so does
//! every dangerous part inside it, so that a reader that cuts the field apart still
//! sees text. Every field of a data row is quoted, too.

/// The characters that make a spreadsheet treat a cell as a formula, with their
/// fullwidth forms (some spreadsheets fold them to ASCII).
const FORMULA_STARTS: [char; 10] = ['=', '+', '-', '@', '\t', '\r', '＝', '＋', '－', '＠'];

/// Where a spreadsheet in some locale, or a paste, may start a new cell.
const CELL_BREAKS: [char; 5] = [',', ';', '\t', '\r', '\n'];

/// Whether a cell starting here (after any spaces, which some readers trim) would be
/// run as a formula.
fn starts_formula(part: &str) -> bool {
    part.trim_start_matches(' ').starts_with(FORMULA_STARTS)
}

/// `text` as a field no spreadsheet runs: unchanged when harmless; otherwise with a
/// `'` before it and before every part (after a `,`, `;`, tab or line break) that
/// would start a formula.
pub fn neutralize(text: &str) -> String {
    // A tab or CR is a separator and a formula start at once: the whole field counts.
    let dangerous = starts_formula(text) || text.split(CELL_BREAKS).any(starts_formula);
    if !dangerous {
        return text.to_owned();
    }
    let mut out = String::with_capacity(text.len() + 4);
    out.push('\'');
    let mut at_part_start = true;
    let mut rest = text;
    while let Some(c) = rest.chars().next() {
        if at_part_start && c != ' ' && starts_formula(rest) && !out.ends_with('\'') {
            out.push('\'');
        }
        if c != ' ' {
            at_part_start = false;
        }
        out.push(c);
        if CELL_BREAKS.contains(&c) {
            at_part_start = true;
        }
        rest = &rest[c.len_utf8()..];
    }
    out
}

/// A writer of data rows: no header, every field quoted.
pub fn row_writer() -> csv::Writer<Vec<u8>> {
    csv::WriterBuilder::new()
        .has_headers(false)
        .quote_style(csv::QuoteStyle::Always)
        .from_writer(Vec::new())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Whether any cell of `field`, cut at any separator, would run as a formula.
    fn runs_somewhere(field: &str) -> bool {
        starts_formula(field) || field.split(CELL_BREAKS).any(starts_formula)
    }

    #[test]
    fn a_field_starting_a_formula_gets_a_quote_mark() {
        for formula in ["=1+1", "+1", "-2+3", "@SUM(A1)", "\tx", "\rx", " =1", "＝1"] {
            let safe = neutralize(formula);
            assert!(safe.starts_with('\''), "{formula:?} -> {safe:?}");
            assert!(!runs_somewhere(&safe), "{formula:?} -> {safe:?}");
        }
    }

    #[test]
    fn a_formula_after_any_separator_is_neutralized_too() {
        for text in [
            "Bob;=1+1", "Bob,@x", "a\t-1", "a;b;+c", "x\n=cmd", "Bob; =1", "a;;=b",
        ] {
            let safe = neutralize(text);
            assert!(safe.starts_with('\''), "{text:?} -> {safe:?}");
            assert!(!runs_somewhere(&safe), "{text:?} -> {safe:?}");
        }
        assert_eq!(neutralize("Bob;=1+1"), "'Bob;'=1+1");
        assert_eq!(neutralize("=a;=b"), "'=a;'=b");
    }

    #[test]
    fn harmless_text_is_left_alone() {
        for text in [
            "Ann = Bob",
            "ann@example.org",
            "ann+tag@example.org",
            "a-b",
            "Zoë",
            "",
        ] {
            assert_eq!(neutralize(text), text);
        }
    }

    #[test]
    fn every_field_of_a_row_is_quoted() {
        let mut w = row_writer();
        w.write_record(["a", "", "b\"c"]).unwrap();
        let out = String::from_utf8(w.into_inner().unwrap()).unwrap();
        assert_eq!(out, "\"a\",\"\",\"b\"\"c\"\n");
    }
}
