//! Spreadsheet exports: RFC 4180 CSV (through the `csv` crate), UTF-8 with a byte-order mark so
//! Excel in Spanish opens accents correctly, and nothing in a cell that a spreadsheet could run.
//!
//! A spreadsheet takes a cell for a formula when it starts with `=`, `+`, `-` or `@` (or a tab
//! or carriage return before one). Which text starts a cell depends on the reader: Excel and
//! LibreOffice split a line at the list separator of the user's locale, a comma in Mexico but a
//! semicolon in much of the world, and a reader that takes `;` for the separator also reads the
//! commas between our quoted fields as text, so our quotes protect nothing from it. So every
//! place where any reader could start a cell is defused: the cell's start, and the place after
//! each `,`, `;`, tab, `|` or line break inside the text (and any spaces or quotes after it).
//! There a formula character gets an apostrophe before it, which spreadsheets show as the text
//! it guards.

use axum::http::header;
use axum::response::{IntoResponse, Response};

/// The byte-order mark that tells Excel the file is UTF-8.
const BOM: &[u8] = b"\xEF\xBB\xBF";

/// A CSV document being written.
pub struct CsvBody {
    writer: csv::Writer<Vec<u8>>,
}

impl CsvBody {
    /// A document with its header row.
    pub fn new(header: &[&str]) -> CsvBody {
        let mut writer = csv::WriterBuilder::new()
            .terminator(csv::Terminator::CRLF)
            .from_writer(BOM.to_vec());
        writer
            .write_record(header.iter().map(|h| defuse(h)))
            .expect("writing to memory");
        CsvBody { writer }
    }

    /// A row; every cell is defused.
    pub fn row<S: AsRef<str>>(&mut self, cells: &[S]) {
        self.writer
            .write_record(cells.iter().map(|c| defuse(c.as_ref())))
            .expect("writing to memory");
    }

    /// The document's bytes.
    pub fn into_bytes(self) -> Vec<u8> {
        self.writer.into_inner().expect("writing to memory")
    }
}

/// A cell a spreadsheet will show as typed, never evaluate, whatever its list separator: an
/// apostrophe before each formula character that could start a cell (see the module's
/// documentation).
pub fn defuse(cell: &str) -> String {
    let mut out = String::with_capacity(cell.len() + 2);
    // Whether the next character could be the first of a cell, for some reader.
    let mut at_start = true;
    for c in cell.chars() {
        match c {
            '=' | '+' | '-' | '@' if at_start => {
                out.push('\'');
                out.push(c);
                at_start = false;
            }
            // A tab or carriage return first is itself read as the start of a formula.
            '\t' | '\r' if at_start => {
                out.push('\'');
                out.push(c);
            }
            ',' | ';' | '|' | '\n' | '\t' | '\r' => {
                out.push(c);
                at_start = true;
            }
            // Spaces and quotes before a formula do not stop a spreadsheet from running it.
            ' ' | '"' | '\'' if at_start => out.push(c),
            _ => {
                out.push(c);
                at_start = false;
            }
        }
    }
    out
}

/// The document as a download named `name.csv`.
pub fn download(body: CsvBody, name: &str) -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/csv; charset=utf-8".to_owned()),
            (
                header::CONTENT_DISPOSITION,
                format!("attachment; filename=\"{name}.csv\""),
            ),
        ],
        body.into_bytes(),
    )
        .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cells_are_quoted_as_rfc_4180_and_formulas_defused() {
        let mut body = CsvBody::new(&["Folio", "Descripción"]);
        body.row(&["1000014", "Dijo \"urgente\", en la esquina\nde Juárez"]);
        body.row(&["=HYPERLINK(\"http://x\")", "+52 55 1234 5678"]);
        body.row(&["@SUM(A1)", "-1"]);
        let text = String::from_utf8(body.into_bytes()).unwrap();
        assert!(text.starts_with('\u{feff}'), "UTF-8 BOM");
        assert_eq!(
            text.trim_start_matches('\u{feff}'),
            "Folio,Descripción\r\n\
             1000014,\"Dijo \"\"urgente\"\", en la esquina\nde Juárez\"\r\n\
             \"'=HYPERLINK(\"\"http://x\"\")\",'+52 55 1234 5678\r\n\
             '@SUM(A1),'-1\r\n"
        );
    }

    #[test]
    fn no_reader_finds_a_formula_whatever_its_separator() {
        let cells = [
            "Centro;=1+1;@SUM(2+2)",
            "Col. Centro, -5; \"=cmd|' /C calc'!A0\"",
            "renglón\n+1 y\ttab\r\n@x|=y",
            "Juárez 14-B, entre 5 y 6",
        ];
        let mut body = CsvBody::new(&["Dirección"]);
        for cell in cells {
            body.row(&[cell]);
        }
        let text = String::from_utf8(body.into_bytes()).unwrap();
        // Split as every reader might, and strip what a reader strips before deciding.
        for separator in [',', ';', '\t', '|', '\n'] {
            for piece in text.split(separator) {
                let start = piece.trim_start_matches([' ', '"', '\r', '\u{feff}']);
                assert!(
                    !start.starts_with(['=', '+', '-', '@']),
                    "a reader splitting at {separator:?} finds a formula in {piece:?}"
                );
            }
        }
        // What a person reads is still the text: the apostrophes are all that was added.
        assert_eq!(
            defuse("Juárez 14-B, entre 5 y 6"),
            "Juárez 14-B, entre 5 y 6"
        );
        assert_eq!(defuse("Centro;=1+1;@SUM(2+2)"), "Centro;'=1+1;'@SUM(2+2)");
    }
}
