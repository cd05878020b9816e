//! The CSV of `POST /users/import`, read as it arrives: `csv_core` (the push parser under
//! the `csv` crate) splits each chunk of the body into fields, so no line is ever held
//! longer than [`MAX_LINE_BYTES`], however long the client made it, and reading stops
//! one row past [`MAX_IMPORT_ROWS`] (the use case refuses that count).
//!
//! `csv_core` never fails: it prefers *a* parse to none (a stray quote becomes text).
//! An import should not guess, so a strict check runs over the same bytes and refuses
//! RFC 4180 violations; so are a wrong header, a wrong column count, invalid UTF-8 and
//! control characters (NUL, a line break inside a quoted field, ...). Each refusal is one
//! 400 `VALIDATION_FAILED` naming the row (the header is row 0, data rows count from 1)
//! and the column (from 1). A leading UTF-8 byte order mark is skipped (spreadsheets
//! write one); CRLF and LF line ends are both accepted; blank lines are skipped.

use application::users::{ImportRow, MAX_IMPORT_ROWS};
use csv_core::{ReadRecordResult, Reader};
use domain::password::Password;

use crate::http::error::{ApiError, FieldDetail};

/// The header, exactly.
pub const HEADER: [&str; COLUMNS] = ["username", "email", "displayName", "role", "password"];

/// Columns of every line.
const COLUMNS: usize = 5;

/// The longest line accepted: every field at its longest (a 254-byte email, 100 and 128
/// characters of up to 4 bytes each, quoted and escaped) fits several times over.
pub const MAX_LINE_BYTES: usize = 4096;

/// The UTF-8 byte order mark.
const BOM: &[u8] = b"\xEF\xBB\xBF";

/// Where the strict quoting check stands within a line.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Quoting {
    /// At the start of a field.
    FieldStart,
    /// Inside a field that did not start with a quote.
    Bare,
    /// Inside a quoted field.
    Quoted,
    /// Just after a quote inside a quoted field: its end, or the first of a pair.
    QuoteInQuoted,
}

/// The incremental reader: feed it chunks, then [`CsvRows::finish`].
pub struct CsvRows {
    reader: Reader,
    /// The current line's unescaped fields, back to back.
    out: Vec<u8>,
    out_len: usize,
    /// Where each field of the current line ends in `out` (one spare slot: a line with
    /// too many columns is caught when it fills).
    ends: [usize; COLUMNS + 1],
    ends_len: usize,
    /// Raw bytes of the current line so far.
    raw_len: usize,
    quoting: Quoting,
    /// The column (from 1) the quoting check is in.
    column: usize,
    /// The row being read: 0 for the header.
    row: usize,
    /// The first bytes, held until it is known whether they are a byte order mark.
    head: Option<Vec<u8>>,
    rows: Vec<ImportRow>,
}

impl Default for CsvRows {
    fn default() -> Self {
        Self::new()
    }
}

/// A refusal at `row`, `column`.
fn at(row: usize, column: usize, what: &str) -> ApiError {
    let field = match HEADER.get(column.wrapping_sub(1)) {
        Some(name) if row > 0 => format!("rows[{row}].{name}"),
        _ => format!("rows[{row}]"),
    };
    ApiError::validation([FieldDetail::new(
        field,
        format!("row {row}, column {column}: {what}"),
    )])
}

impl CsvRows {
    /// A reader before the first byte.
    pub fn new() -> Self {
        Self {
            reader: Reader::new(),
            out: vec![0; MAX_LINE_BYTES],
            out_len: 0,
            ends: [0; COLUMNS + 1],
            ends_len: 0,
            raw_len: 0,
            quoting: Quoting::FieldStart,
            column: 1,
            row: 0,
            head: Some(Vec::new()),
            rows: Vec::new(),
        }
    }

    /// Whether more rows than an import may hold were read: the rest need not be.
    pub fn is_over_limit(&self) -> bool {
        self.rows.len() > MAX_IMPORT_ROWS
    }

    /// Reads the next chunk of the body.
    pub fn feed(&mut self, chunk: &[u8]) -> Result<(), ApiError> {
        match self.head.take() {
            None => self.parse(chunk),
            Some(mut head) => {
                head.extend_from_slice(chunk);
                if head.len() < BOM.len() && BOM.starts_with(&head) {
                    self.head = Some(head);
                    return Ok(());
                }
                let rest = head.strip_prefix(BOM).unwrap_or(&head);
                self.parse(rest)
            }
        }
    }

    /// Ends the body and returns its rows.
    pub fn finish(mut self) -> Result<Vec<ImportRow>, ApiError> {
        if self.is_over_limit() {
            // The rest was left unread: the count alone is the answer.
            return Ok(self.rows);
        }
        if let Some(head) = self.head.take() {
            let rest = head.strip_prefix(BOM).unwrap_or(&head).to_vec();
            self.parse(&rest)?;
        }
        if self.quoting == Quoting::Quoted {
            return Err(at(self.row, self.column, "a quoted field is never closed"));
        }
        self.parse(&[])?;
        if self.row == 0 {
            return Err(at(
                0,
                1,
                &format!(
                    "the file is empty: the header `{}` comes first",
                    HEADER.join(",")
                ),
            ));
        }
        Ok(self.rows)
    }

    /// Runs `input` (empty: the end of the body) through the parser and the checks.
    fn parse(&mut self, mut input: &[u8]) -> Result<(), ApiError> {
        loop {
            if self.is_over_limit() {
                return Ok(());
            }
            let (result, nin, nout, nends) = self.reader.read_record(
                input,
                &mut self.out[self.out_len..],
                &mut self.ends[self.ends_len..],
            );
            self.check_quoting(&input[..nin])?;
            input = &input[nin..];
            self.out_len += nout;
            self.ends_len += nends;
            self.raw_len += nin;
            if self.raw_len > MAX_LINE_BYTES {
                return Err(self.too_long());
            }
            match result {
                // At the end the parser answers `Record` or `End`; never loop on it.
                ReadRecordResult::InputEmpty => return Ok(()),
                ReadRecordResult::OutputFull => return Err(self.too_long()),
                ReadRecordResult::OutputEndsFull => {
                    return Err(at(
                        self.row,
                        COLUMNS + 1,
                        &format!("has more than the {COLUMNS} columns of the header"),
                    ))
                }
                ReadRecordResult::Record => self.record()?,
                ReadRecordResult::End => return Ok(()),
            }
        }
    }

    fn too_long(&self) -> ApiError {
        let what = if self.quoting == Quoting::Quoted {
            format!("a quoted field is never closed (the line runs past {MAX_LINE_BYTES} bytes)")
        } else {
            format!("the line is longer than {MAX_LINE_BYTES} bytes")
        };
        at(self.row, self.ends_len + 1, &what)
    }

    /// RFC 4180's quoting, strictly: a quote opens a field, closes it, or is doubled
    /// inside it; nothing else.
    fn check_quoting(&mut self, raw: &[u8]) -> Result<(), ApiError> {
        for &byte in raw {
            self.quoting = match (self.quoting, byte) {
                (Quoting::Quoted, b'"') => Quoting::QuoteInQuoted,
                (Quoting::Quoted, _) => Quoting::Quoted,
                (Quoting::QuoteInQuoted, b'"') | (Quoting::FieldStart, b'"') => Quoting::Quoted,
                (_, b',') => {
                    self.column += 1;
                    Quoting::FieldStart
                }
                (_, b'\n' | b'\r') => {
                    self.column = 1;
                    Quoting::FieldStart
                }
                (Quoting::Bare, b'"') => {
                    return Err(at(
                        self.row,
                        self.column,
                        "a quote inside a field that does not start with one",
                    ))
                }
                (Quoting::QuoteInQuoted, _) => {
                    return Err(at(
                        self.row,
                        self.column,
                        "text after the closing quote of a field",
                    ))
                }
                (Quoting::FieldStart | Quoting::Bare, _) => Quoting::Bare,
            };
        }
        Ok(())
    }

    /// A complete line: the header, or one more row.
    fn record(&mut self) -> Result<(), ApiError> {
        let (row, count) = (self.row, self.ends_len);
        if count != COLUMNS {
            return Err(at(
                row,
                count.min(COLUMNS) + 1,
                &format!("has {count} columns, the header {COLUMNS}"),
            ));
        }
        let mut fields: Vec<&str> = Vec::with_capacity(COLUMNS);
        let mut start = 0;
        for (i, &end) in self.ends[..COLUMNS].iter().enumerate() {
            let text = std::str::from_utf8(&self.out[start..end])
                .map_err(|_| at(row, i + 1, "is not valid UTF-8"))?;
            if text.chars().any(char::is_control) {
                return Err(at(
                    row,
                    i + 1,
                    "holds a control character (NUL, tab, line break, ...)",
                ));
            }
            fields.push(text);
            start = end;
        }
        if row == 0 {
            if let Some(i) = (0..COLUMNS).find(|&i| fields[i] != HEADER[i]) {
                return Err(at(
                    0,
                    i + 1,
                    &format!(
                        "must be `{}`: the header is exactly `{}`",
                        HEADER[i],
                        HEADER.join(",")
                    ),
                ));
            }
        } else {
            let optional = |s: &str| (!s.is_empty()).then(|| s.to_owned());
            self.rows.push(ImportRow {
                username: fields[0].to_owned(),
                email: optional(fields[1]),
                display_name: fields[2].to_owned(),
                role: optional(fields[3]),
                password: optional(fields[4]).map(Password::new),
            });
        }
        self.row += 1;
        self.out_len = 0;
        self.ends_len = 0;
        self.raw_len = 0;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const HEAD: &str = "username,email,displayName,role,password\n";

    /// Reads `body` in chunks of `size` bytes.
    fn read(body: &[u8], size: usize) -> Result<Vec<ImportRow>, ApiError> {
        let mut rows = CsvRows::new();
        for chunk in body.chunks(size) {
            rows.feed(chunk)?;
        }
        rows.finish()
    }

    fn refusal(body: &[u8]) -> (String, String) {
        let err = read(body, 7).expect_err("refused");
        let detail = err.details.expect("details").remove(0);
        (detail.field, detail.message)
    }

    #[test]
    fn rows_are_read_whatever_the_chunking_with_empty_cells_as_absent() {
        let body = format!(
            "{HEAD}ann,ann@example.org,Ann,ADMIN,Secret-pass-1\r\nbob,,\"Bob, \"\"B\"\"\",,\n"
        );
        for size in [1, 2, 5, 64, 4096] {
            let rows = read(body.as_bytes(), size).unwrap();
            assert_eq!(rows.len(), 2, "chunks of {size}");
            assert_eq!(rows[0].username, "ann");
            assert_eq!(rows[0].role.as_deref(), Some("ADMIN"));
            assert_eq!(rows[0].password.as_ref().unwrap().expose(), "Secret-pass-1");
            assert_eq!(rows[1].display_name, "Bob, \"B\"");
            assert!(rows[1].email.is_none() && rows[1].role.is_none());
            assert!(rows[1].password.is_none());
        }
    }

    #[test]
    fn a_leading_byte_order_mark_is_skipped_even_split_across_chunks() {
        let body = [BOM, HEAD.as_bytes(), b"ann,,Ann,,\n"].concat();
        for size in [1, 2, 3, 100] {
            assert_eq!(read(&body, size).unwrap().len(), 1, "chunks of {size}");
        }
    }

    #[test]
    fn a_wrong_or_missing_header_names_its_column_in_row_0() {
        let (field, message) = refusal(b"username,mail,displayName,role,password\n");
        assert_eq!(field, "rows[0]");
        assert!(
            message.starts_with("row 0, column 2: must be `email`"),
            "{message}"
        );
        let (_, message) = refusal(b"ann,ann@example.org,Ann,USER,pw\n");
        assert!(message.starts_with("row 0, column 1"), "{message}");
        let (_, message) = refusal(b"");
        assert!(message.contains("the file is empty"), "{message}");
    }

    #[test]
    fn bad_quoting_is_refused_where_it_is() {
        let cases: [(&str, &str); 3] = [
            ("ann,a\"b,Ann,,\n", "row 1, column 2: a quote inside"),
            (
                "ann,,\"Ann\"x,,\n",
                "row 1, column 3: text after the closing quote",
            ),
            (
                "ann,,Ann,,\nbob,,\"Bob,,\n",
                "row 2, column 3: a quoted field is never closed",
            ),
        ];
        for (rows, expected) in cases {
            let (_, message) = refusal(format!("{HEAD}{rows}").as_bytes());
            assert!(message.starts_with(expected), "{rows:?}: {message}");
        }
    }

    #[test]
    fn a_wrong_column_count_is_refused() {
        let (field, message) = refusal(format!("{HEAD}ann,,Ann,\n").as_bytes());
        assert_eq!(
            (field.as_str(), message.as_str()),
            (
                "rows[1].password",
                "row 1, column 5: has 4 columns, the header 5"
            )
        );
        let (_, message) = refusal(format!("{HEAD}ann,,Ann,,,x\n").as_bytes());
        assert_eq!(message, "row 1, column 6: has 6 columns, the header 5");
        let (_, message) = refusal(format!("{HEAD}ann,,Ann,,,x,y,z\n").as_bytes());
        assert_eq!(
            message,
            "row 1, column 6: has more than the 5 columns of the header"
        );
    }

    #[test]
    fn nul_bytes_invalid_utf8_and_quoted_line_breaks_are_refused() {
        let nul = [HEAD.as_bytes(), b"ann,,A\0nn,,\n"].concat();
        assert_eq!(refusal(&nul).0, "rows[1].displayName");
        let latin1 = [HEAD.as_bytes(), b"ann,,Zo\xEB,,\n"].concat();
        assert!(refusal(&latin1).1.contains("not valid UTF-8"));
        let broken = format!("{HEAD}ann,,\"A\nnn\",,\n");
        assert!(refusal(broken.as_bytes()).1.contains("control character"));
    }

    #[test]
    fn a_line_longer_than_the_limit_is_refused_without_reading_it_whole() {
        let mut rows = CsvRows::new();
        rows.feed(HEAD.as_bytes()).unwrap();
        rows.feed(b"ann,,").unwrap();
        let long = vec![b'x'; 1024];
        let mut refused = None;
        for _ in 0..10 {
            if let Err(e) = rows.feed(&long) {
                refused = Some(e);
                break;
            }
        }
        let detail = refused
            .expect("refused by the 5th KiB")
            .details
            .unwrap()
            .remove(0);
        assert_eq!(detail.field, "rows[1].displayName");
        assert!(
            detail.message.contains("longer than 4096 bytes"),
            "{}",
            detail.message
        );
    }

    #[test]
    fn reading_stops_one_row_past_the_limit() {
        let mut rows = CsvRows::new();
        rows.feed(HEAD.as_bytes()).unwrap();
        let mut fed = 0;
        while !rows.is_over_limit() {
            rows.feed(format!("user{fed},,U,,\n").as_bytes()).unwrap();
            fed += 1;
        }
        assert_eq!(fed, MAX_IMPORT_ROWS + 1);
        assert_eq!(rows.finish().unwrap().len(), MAX_IMPORT_ROWS + 1);
    }
}
