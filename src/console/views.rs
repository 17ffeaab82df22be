//! The console's pages: one askama template each (in `templates/`), and the plain values they
//! show. Templates escape everything they print; the values here are already in Spanish and
//! formatted for people (Mexico City time, masked numbers), so templates hold no logic.

use super::Page;
use crate::domain::lifecycle::status_label;
use crate::domain::{
    CallOutcome, CallbackResult, CaseStatus, Channel, ClosureReason, Timestamp, Urgency,
};
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
pub struct Login {
    pub page: Page,
    pub csrf: String,
    pub next: String,
    pub user_name: String,
    pub error: Option<String>,
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
    pub channels: Vec<Choice>,
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
    /// The same filters as a spreadsheet (`/casos.csv`).
    pub csv: String,
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

/// A line of the citizen's history: a link and what it is.
#[derive(Debug, Clone)]
pub struct HistoryLine {
    pub href: String,
    pub label: String,
    pub what: String,
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
    /// The citizen's other cases and calls (office only): "a repeated problem, a caller who
    /// already called three times".
    pub history_cases: Vec<HistoryLine>,
    pub history_calls: Vec<HistoryLine>,
    pub history_all_calls: Option<String>,
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

/// A call of the log, ready to show.
#[derive(Debug, Clone)]
pub struct CallRow {
    pub href: String,
    pub started: String,
    pub number: String,
    pub duration: String,
    pub outcome: String,
    pub folio: Option<String>,
}

/// The call log.
#[derive(Template)]
#[template(path = "calls.html")]
pub struct Calls<'a> {
    pub page: Page,
    /// The office may search by number.
    pub office: bool,
    pub outcomes: Vec<Choice>,
    pub from: &'a str,
    pub until: &'a str,
    pub number: &'a str,
    pub rows: Vec<CallRow>,
    pub next_page: Option<String>,
    pub first_page: Option<String>,
    pub csv: String,
    pub problem: Option<&'a str>,
}

/// A step of a call, shown.
#[derive(Debug, Clone)]
pub struct StepRow {
    pub at: String,
    pub step: String,
    pub detail: String,
}

/// One call: its facts and steps, and the callbacks to its number.
#[derive(Template)]
#[template(path = "call.html")]
pub struct CallPage {
    pub page: Page,
    pub facts: Vec<Fact>,
    pub folio: Option<String>,
    pub steps: Vec<StepRow>,
    pub callbacks: Vec<Entry>,
    pub history: Option<String>,
}

/// A number owed a call back, ready to show.
#[derive(Debug, Clone)]
pub struct OwedRow {
    pub number: String,
    pub calls: i64,
    pub first: String,
    pub last: String,
    pub last_call: String,
    pub attempts: i64,
    pub new_report: String,
}

/// The calls the office owes back.
#[derive(Template)]
#[template(path = "owed.html")]
pub struct Owed<'a> {
    pub page: Page,
    pub csrf: &'a str,
    pub rows: Vec<OwedRow>,
    pub results: Vec<Choice>,
    pub window_days: i64,
    pub notice: Option<&'a str>,
}

/// The form of a report from another channel.
#[derive(Template)]
#[template(path = "new_case.html")]
pub struct NewCase<'a> {
    pub page: Page,
    pub csrf: &'a str,
    pub channels: Vec<Choice>,
    pub categories: Vec<Choice>,
    pub urgencies: Vec<Choice>,
    pub name: &'a str,
    pub phone: &'a str,
    pub mobile: bool,
    pub description: &'a str,
    pub street: &'a str,
    pub colonia: &'a str,
    pub between: &'a str,
    pub references: &'a str,
    pub callback: bool,
    pub problem: Option<&'a str>,
}

/// A row of a settings table: its name (a link to edit it) and other cells.
#[derive(Debug, Clone)]
pub struct SettingsRow {
    pub href: String,
    pub name: String,
    pub cells: Vec<String>,
}

/// The settings overview.
#[derive(Template)]
#[template(path = "settings.html")]
pub struct Settings<'a> {
    pub page: Page,
    pub csrf: &'a str,
    pub notice: Option<&'a str>,
    pub problem: Option<String>,
    pub categories: Vec<SettingsRow>,
    pub departments: Vec<SettingsRow>,
    pub hours: String,
    pub transfer: String,
    pub hours_from_config: bool,
    pub transfer_from_config: bool,
    pub history: Vec<Entry>,
}

/// A category's settings form.
#[derive(Template)]
#[template(path = "settings_category.html")]
pub struct SettingsCategory<'a> {
    pub page: Page,
    pub csrf: &'a str,
    pub action: String,
    pub new: bool,
    pub name: &'a str,
    pub keys: Vec<Choice>,
    pub departments: Vec<Choice>,
    pub asks_urgency: bool,
    pub sensitive: bool,
    pub classify_hours: &'a str,
    pub first_response_days: &'a str,
    pub resolve_days: &'a str,
    pub active: bool,
    pub problem: Option<String>,
}

/// A department's settings form.
#[derive(Template)]
#[template(path = "settings_department.html")]
pub struct SettingsDepartment<'a> {
    pub page: Page,
    pub csrf: &'a str,
    pub action: String,
    pub new: bool,
    pub name: &'a str,
    pub contact: &'a str,
    pub active: bool,
    pub problem: Option<String>,
}

/// An account, as the settings list it.
#[derive(Debug, Clone)]
pub struct UserRow {
    pub id: i64,
    pub name: String,
    pub role: String,
    pub department: String,
    pub active: bool,
    /// The admin looking at the page.
    pub myself: bool,
}

/// The accounts.
#[derive(Template)]
#[template(path = "settings_users.html")]
pub struct SettingsUsers<'a> {
    pub page: Page,
    pub csrf: &'a str,
    pub notice: Option<&'a str>,
    pub problem: Option<String>,
    pub roles: Vec<Choice>,
    pub departments: Vec<Choice>,
    pub users: Vec<UserRow>,
}

/// A failed sign-in, as the admin reads it.
#[derive(Debug, Clone)]
pub struct FailureRow {
    pub at: String,
    /// The account's name, or "Nombre desconocido (1a2b3c4d)": never what was typed.
    pub user: String,
    pub address: String,
    /// "Equipo conocido" or "Equipo nuevo".
    pub device: &'static str,
    pub paused: bool,
}

/// The recent failed sign-ins.
#[derive(Template)]
#[template(path = "settings_access.html")]
pub struct SettingsAccess {
    pub page: Page,
    pub failures: Vec<FailureRow>,
    pub shown: i64,
}

pages!(
    Message,
    Inbox,
    InboxRows,
    Case,
    WorkOrder,
    Calls,
    Owed,
    NewCase,
    Settings,
    SettingsCategory,
    SettingsDepartment,
    SettingsUsers
);

impl IntoResponse for SettingsAccess {
    fn into_response(self) -> Response {
        html(self.render())
    }
}

impl IntoResponse for Login {
    fn into_response(self) -> Response {
        html(self.render())
    }
}

impl IntoResponse for CallPage {
    fn into_response(self) -> Response {
        html(self.render())
    }
}

/// A series of a chart, as its legend names it (`class` is the series' colour).
#[derive(Debug, Clone)]
pub struct Legend {
    pub class: &'static str,
    pub label: &'static str,
}

/// A chart of the figures: its SVG markup (built and escaped by `console::chart`) and, when
/// it draws more than one series, its legend.
#[derive(Debug, Clone)]
pub struct FigureChart {
    pub svg: String,
    pub legend: Vec<Legend>,
}

impl FigureChart {
    pub fn plain(svg: super::chart::Svg) -> FigureChart {
        FigureChart {
            svg: svg.into_string(),
            legend: Vec::new(),
        }
    }
}

/// A table of the figures: the accessible version of a chart. Each row is its header cell
/// and its values.
#[derive(Debug, Clone)]
pub struct FigureTable {
    pub caption: String,
    pub head: Vec<String>,
    pub rows: Vec<(String, Vec<String>)>,
}

/// One figure of the dashboard: its charts and tables.
#[derive(Debug, Clone)]
pub struct FigureSection {
    pub id: &'static str,
    pub title: String,
    pub note: Option<String>,
    pub charts: Vec<FigureChart>,
    pub tables: Vec<FigureTable>,
}

/// The office's figures.
#[derive(Template)]
#[template(path = "dashboard.html")]
pub struct Dashboard {
    pub page: Page,
    /// The span's first and last days, as the date fields' values.
    pub from: String,
    pub until: String,
    /// The span (and the department) in words.
    pub period: String,
    /// The office's department filter (empty for a department's user).
    pub departments: Vec<Choice>,
    pub problem: Option<String>,
    pub summary: Vec<Fact>,
    pub sections: Vec<FigureSection>,
    pub csv: String,
}

impl IntoResponse for Dashboard {
    fn into_response(self) -> Response {
        html(self.render())
    }
}

/// "27/11/2026 10:05", Mexico City time.
pub fn date_time(at: Timestamp) -> String {
    at.as_utc()
        .with_timezone(&chrono_tz::America::Mexico_City)
        .format("%d/%m/%Y %H:%M")
        .to_string()
}

/// "10:05:12", Mexico City time.
pub fn time_of_day(at: Timestamp) -> String {
    at.as_utc()
        .with_timezone(&chrono_tz::America::Mexico_City)
        .format("%H:%M:%S")
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

/// What a call came to, in words.
pub fn outcome_label(outcome: Option<CallOutcome>) -> &'static str {
    match outcome {
        Some(CallOutcome::Report) => "Reporte",
        Some(CallOutcome::Lookup) => "Consulta",
        Some(CallOutcome::Transferred) => "Transferida",
        Some(CallOutcome::Abandoned) => "Abandonada",
        None => "En curso",
    }
}

/// How a callback went, in words.
pub fn callback_label(result: CallbackResult) -> &'static str {
    match result {
        CallbackResult::ReachedReport => "Contestó; se tomó un reporte",
        CallbackResult::Reached => "Contestó; sin reporte",
        CallbackResult::NoAnswer => "No contestó",
        CallbackResult::WrongNumber => "Número equivocado",
    }
}

/// How a case reached the office, in words.
pub fn channel_label(channel: Channel) -> &'static str {
    match channel {
        Channel::Phone => "Línea telefónica",
        Channel::Sms => "SMS",
        Channel::Whatsapp => "WhatsApp",
        Channel::InPerson => "En persona",
        Channel::Messenger => "Messenger",
        Channel::DirectPhone => "Teléfono de la oficina",
        Channel::Email => "Correo electrónico",
    }
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
