//! The console's pages: one askama template each (in `templates/`), and the plain values they
//! show. Templates escape everything they print; the values here are already in Spanish and
//! formatted for people (Mexico City time, masked numbers), so templates hold no logic.

use super::Page;
use crate::domain::lifecycle::status_label;
use crate::domain::{CaseStatus, ClosureReason, Timestamp, Urgency};
use askama::Template;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};

/// Renders a page; a template that cannot render is our error, logged.
fn html(rendered: askama::Result<String>) -> Response {
    match rendered {
        Ok(body) => ([(header::CONTENT_TYPE, "text/html; charset=utf-8")], body).into_response(),
        Err(e) => {
            tracing::error!(error = %e, "a console template failed to render");
            (StatusCode::INTERNAL_SERVER_ERROR, "Error del sistema").into_response()
        }
    }
}

macro_rules! pages {
    ($($name:ident),+) => {
        $(impl IntoResponse for $name<'_> {
            fn into_response(self) -> Response {
                html(self.render())
            }
        })+
    };
}

/// A message page: an error, or something refused.
#[derive(Template)]
#[template(path = "message.html")]
pub struct Message<'a> {
    pub title: &'a str,
    pub message: &'a str,
}

/// The sign-in page.
#[derive(Template)]
#[template(path = "login.html")]
pub struct Login<'a> {
    pub page: Page,
    pub csrf: String,
    pub next: String,
    pub user_name: String,
    pub error: Option<&'a str>,
}

/// One choice of a `<select>`.
#[derive(Debug, Clone)]
pub struct Choice {
    pub value: String,
    pub label: String,
    pub selected: bool,
}

impl Choice {
    pub fn new(value: impl ToString, label: impl ToString, selected: bool) -> Choice {
        Choice {
            value: value.to_string(),
            label: label.to_string(),
            selected,
        }
    }
}

/// A count of the inbox's status bar.
#[derive(Debug, Clone)]
pub struct Count {
    /// `open`, or a status's code: the script adds new cases to it.
    pub code: &'static str,
    pub label: &'static str,
    pub count: i64,
    pub href: String,
    pub current: bool,
}

/// A row of the inbox, ready to show.
#[derive(Debug, Clone)]
pub struct Row {
    pub id: i64,
    /// The status's code, for the script's counts.
    pub status_code: &'static str,
    pub folio: String,
    pub received: String,
    pub category: String,
    pub urgency: &'static str,
    pub urgent: bool,
    pub status: &'static str,
    pub department: String,
    pub phone: String,
    pub recording: String,
    pub due: String,
    pub overdue: bool,
}

/// The inbox.
#[derive(Template)]
#[template(path = "inbox.html")]
pub struct Inbox<'a> {
    pub page: Page,
    pub counts: Vec<Count>,
    pub statuses: Vec<Choice>,
    pub categories: Vec<Choice>,
    pub departments: Vec<Choice>,
    pub urgencies: Vec<Choice>,
    pub search: &'a str,
    pub from: &'a str,
    pub until: &'a str,
    pub overdue: bool,
    pub rows: Vec<Row>,
    pub next_page: Option<String>,
    pub first_page: Option<String>,
    /// Where the script asks for newer cases (on the first page only).
    pub poll: Option<String>,
    pub newest: i64,
    pub problem: Option<&'a str>,
}

/// New rows for the inbox's polling.
#[derive(Template)]
#[template(path = "inbox_rows.html")]
pub struct InboxRows<'a> {
    pub rows: &'a [Row],
}

/// A line of facts: label and value.
#[derive(Debug, Clone)]
pub struct Fact {
    pub label: &'static str,
    pub value: String,
}

/// A bar of the waveform.
#[derive(Debug, Clone)]
pub struct Bar {
    pub x: usize,
    pub y: f64,
    pub height: f64,
}

/// An entry of the timeline.
#[derive(Debug, Clone)]
pub struct Entry {
    pub when: String,
    pub who: String,
    pub what: String,
    pub note: Option<String>,
}

/// A move the user may make.
#[derive(Debug, Clone)]
pub struct MoveButton {
    pub value: &'static str,
    pub label: &'static str,
    pub needs_folio: bool,
}

/// An attachment, for its link.
#[derive(Debug, Clone)]
pub struct FileLink {
    pub href: String,
    pub name: String,
    pub size: String,
}

/// An action report, shown.
#[derive(Debug, Clone)]
pub struct ReportView {
    pub summary: String,
    pub done_on: String,
    pub done_by: String,
    pub files: Vec<FileLink>,
}

/// A case's page.
#[derive(Template)]
#[template(path = "case.html")]
pub struct Case<'a> {
    pub page: Page,
    pub csrf: &'a str,
    pub folio: &'a str,
    pub status: &'static str,
    pub urgent: bool,
    pub facts: Vec<Fact>,
    pub call_facts: Vec<Fact>,
    pub steps: Vec<String>,
    /// The recording's URL when there is one to play; otherwise why not, in words.
    pub audio: Option<String>,
    pub no_audio: Option<String>,
    pub bars: Vec<Bar>,
    pub bars_width: usize,
    pub can_triage: bool,
    pub categories: Vec<Choice>,
    pub urgencies: Vec<Choice>,
    pub street: &'a str,
    pub colonia: &'a str,
    pub between: &'a str,
    pub references: &'a str,
    pub description: &'a str,
    pub can_route: bool,
    pub departments: Vec<Choice>,
    pub moves: Vec<MoveButton>,
    pub can_report: bool,
    pub today: String,
    pub reports: Vec<ReportView>,
    pub timeline: Vec<Entry>,
    pub notice: Option<&'static str>,
    pub error: Option<String>,
    pub next_case: Option<String>,
}

/// The printable work order.
#[derive(Template)]
#[template(path = "work_order.html")]
pub struct WorkOrder<'a> {
    pub page: Page,
    pub folio: &'a str,
    pub facts: Vec<Fact>,
    pub description: &'a str,
    pub address: String,
    pub printed: String,
}

pages!(Message, Login, Inbox, InboxRows, Case, WorkOrder);

/// "27/11/2026 10:05", Mexico City time.
pub fn date_time(at: Timestamp) -> String {
    at.as_utc()
        .with_timezone(&chrono_tz::America::Mexico_City)
        .format("%d/%m/%Y %H:%M")
        .to_string()
}

/// "2026-11-27", Mexico City time (a date field's value).
pub fn date_value(at: Timestamp) -> String {
    at.as_utc()
        .with_timezone(&chrono_tz::America::Mexico_City)
        .format("%Y-%m-%d")
        .to_string()
}

/// A number as a department's user may see it: the last four digits.
pub fn masked(number: &str) -> String {
    let digits: String = number.chars().filter(char::is_ascii_digit).collect();
    let last = &digits[digits.len().saturating_sub(4)..];
    format!("•••• {last}")
}

/// "1:05" for 65 seconds.
pub fn duration(seconds: i64) -> String {
    format!("{}:{:02}", seconds / 60, seconds % 60)
}

pub fn urgency_label(urgency: Urgency) -> &'static str {
    match urgency {
        Urgency::Urgent => "Urgente",
        Urgency::NotUrgent => "No urgente",
        Urgency::Unknown => "Sin dato",
    }
}

pub fn closure_label(reason: ClosureReason) -> &'static str {
    match reason {
        ClosureReason::Resolved => "resuelto",
        ClosureReason::Duplicate => "duplicado",
        ClosureReason::NotApplicable => "no procede",
        ClosureReason::NotMunicipal => "no es competencia municipal",
    }
}

/// A status, with its closing reason when it has one.
pub fn status_with_reason(status: CaseStatus, reason: Option<ClosureReason>) -> String {
    match (status, reason) {
        (CaseStatus::Closed, Some(r)) => format!("Cerrado ({})", closure_label(r)),
        _ => status_label(status).to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_are_masked_to_the_last_four_digits() {
        assert_eq!(masked("+525512345678"), "•••• 5678");
        assert_eq!(masked("12"), "•••• 12");
    }

    #[test]
    fn text_is_escaped_in_every_page() {
        let page = Message {
            title: "<b>",
            message: "<script>alert(1)</script>",
        }
        .render()
        .unwrap();
        assert!(!page.contains("<script>alert"), "{page}");
        assert!(
            page.contains("&#60;script&#62;alert(1)&#60;/script&#62;"),
            "{page}"
        );
        assert!(!page.contains("<b>"), "{page}");
    }
}
