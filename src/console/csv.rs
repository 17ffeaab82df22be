//! Spreadsheet exports: RFC 4180 CSV (through the `csv` crate), UTF-8 with a byte-order mark so
//! Excel in Spanish opens accents correctly, and every cell that a spreadsheet would take for a
//! formula (`=`, `+`, `-`, `@`, or a tab or carriage return first) made text with a leading
//! apostrophe, so that opening an export never runs anything a caller or a user typed.

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

/// A cell a spreadsheet will show as typed, never evaluate.
pub fn defuse(cell: &str) -> String {
    match cell.chars().next() {
        Some('=' | '+' | '-' | '@' | '\t' | '\r') => format!("'{cell}"),
        _ => cell.to_owned(),
    }
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
}
