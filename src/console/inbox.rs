//! The inbox: the cases a person may see, urgent first then newest, with filters, counts per
//! status, and keyset pages (a page ends at a place in the order, never at an offset, so a
//! page costs the same on the thousandth as on the first). The script asks
//! `/bandeja/nuevos` for cases newer than the newest shown, and shows them without a reload.
//! `/casos.csv` is the same list, every page of it, as a spreadsheet.

use super::csv::{self, CsvBody};
use super::search_limit::SearchLimiter;
use super::views::{self, Choice, Count, Row};
use super::{ConsoleError, Page, Staff};
use crate::domain::lifecycle::status_label;
use crate::domain::{CaseStatus, Channel, Folio, PhoneNumber, RecordingStatus, Timestamp, Urgency};
use crate::state::AppState;
use crate::store::{CaseFilter, Cursor, InboxRow};
use axum::extract::{Extension, Query, State};
use axum::response::{IntoResponse, Response};
use chrono::TimeZone;
use serde::Deserialize;

/// Rows on a page.
const PAGE_SIZE: i64 = 50;
/// New rows one poll brings at most: enough for a blackout's burst of calls between two polls
/// (the script takes the newest id it was given, so rows past this would be skipped).
const NEWER_LIMIT: i64 = 500;
/// Rows of a CSV export at most (every case of a busy year).
const CSV_LIMIT: i64 = 100_000;

/// The inbox's query string (every field optional, read leniently).
#[derive(Debug, Default, Clone, Deserialize)]
pub struct InboxQuery {
    #[serde(default)]
    buscar: String,
    #[serde(default)]
    estado: String,
    #[serde(default)]
    categoria: String,
    #[serde(default)]
    area: String,
    #[serde(default)]
    urgencia: String,
    #[serde(default)]
    canal: String,
    #[serde(default)]
    desde: String,
    #[serde(default)]
    hasta: String,
    #[serde(default)]
    vencidos: String,
    #[serde(default)]
    despues: String,
    #[serde(default)]
    despues_id: String,
}

impl InboxQuery {
    /// The query string of these filters (without the page), for links.
    fn filters(&self) -> String {
        let mut q = url::form_urlencoded::Serializer::new(String::new());
        for (k, v) in [
            ("buscar", &self.buscar),
            ("estado", &self.estado),
            ("categoria", &self.categoria),
            ("area", &self.area),
            ("urgencia", &self.urgencia),
            ("canal", &self.canal),
            ("desde", &self.desde),
            ("hasta", &self.hasta),
            ("vencidos", &self.vencidos),
        ] {
            if !v.trim().is_empty() {
                q.append_pair(k, v.trim());
            }
        }
        q.finish()
    }
}

/// The start of a day in Mexico City, from `2026-11-27`.
pub(super) fn day_start(text: &str, plus_days: i64) -> Option<Timestamp> {
    let date = chrono::NaiveDate::parse_from_str(text.trim(), "%Y-%m-%d").ok()?;
    let date = date.checked_add_signed(chrono::Duration::days(plus_days))?;
    let local = chrono_tz::America::Mexico_City
        .from_local_datetime(&date.and_hms_opt(0, 0, 0)?)
        .earliest()?;
    Some(Timestamp::from_utc(local.with_timezone(&chrono::Utc)))
}

/// The store's filter from the query; a search that is neither a folio nor a phone number is
/// said in words.
fn filter_of(
    query: &InboxQuery,
    staff: &Staff,
    now: Timestamp,
) -> (CaseFilter, Option<&'static str>) {
    let mut problem = None;
    let search = query.buscar.trim();
    let (folio, phone) = if search.is_empty() {
        (None, None)
    } else {
        let digits: String = search.chars().filter(char::is_ascii_digit).collect();
        let folio = Folio::parse(&digits).ok().map(|f| f.as_str().to_owned());
        // Someone who sees numbers masked cannot search by number: a match would tell them the
        // digits the mask hides.
        let phone = PhoneNumber::parse(search)
            .or_else(|_| PhoneNumber::mexican(&digits))
            .ok()
            .filter(|_| staff.is_office())
            .map(|p| p.as_str().to_owned());
        if folio.is_none() && phone.is_none() && !staff.is_office() {
            problem = Some("Busque por folio completo: su área ve los teléfonos ocultos.");
            (Some(String::from("-")), None)
        } else if folio.is_none() && phone.is_none() {
            problem = Some("Escriba un folio completo o un teléfono de 10 dígitos.");
            // Nothing matches a search that is neither.
            (Some(String::from("-")), None)
        } else {
            (folio, phone)
        }
    };
    let filter = CaseFilter {
        status: CaseStatus::from_code(&query.estado),
        category_id: query.categoria.parse().ok(),
        department_id: query.area.parse().ok().filter(|_| staff.is_office()),
        urgency: Urgency::from_code(&query.urgencia),
        channel: Channel::from_code(&query.canal),
        from: day_start(&query.desde, 0),
        until: day_start(&query.hasta, 1),
        overdue_at: (!query.vencidos.is_empty()).then_some(now),
        folio,
        phone,
        newer_than: query.despues_id.parse().ok(),
        after: Cursor::decode(&query.despues),
    };
    (filter, problem)
}

/// A caller's number as `staff` may see it (a department sees only the last digits).
fn phone_for(staff: &Staff, number: Option<&str>) -> String {
    staff.sees_number(number, "Sin identificador")
}

/// A row as the inbox shows it to `staff`.
pub fn row_of(row: &InboxRow, staff: &Staff, now: Timestamp) -> Row {
    let phone = phone_for(staff, row.caller_number.as_deref());
    let recording = match (row.recording_status, row.recording_duration_seconds) {
        (Some(RecordingStatus::Missing), _) => "Sin grabación".to_owned(),
        (Some(RecordingStatus::Quarantined), _) => "Archivo dañado".to_owned(),
        (Some(RecordingStatus::Refused), _) => "Rechazada".to_owned(),
        (Some(RecordingStatus::Expired), _) => "Eliminada".to_owned(),
        (_, Some(seconds)) => views::duration(seconds),
        _ => "—".to_owned(),
    };
    Row {
        id: row.id,
        folio: row.folio.clone(),
        received: views::date_time(row.created_at),
        category: row
            .category_name
            .clone()
            .unwrap_or_else(|| "Sin clasificar".to_owned()),
        urgency: views::urgency_label(row.urgency),
        urgent: row.urgency == Urgency::Urgent,
        status: status_label(row.status),
        status_code: row.status.code(),
        department: row.department_name.clone().unwrap_or_default(),
        phone,
        recording,
        due: row.due_at.map(views::date_time).unwrap_or_default(),
        overdue: row.due_at.is_some_and(|due| due < now),
    }
}

/// `GET /`: the inbox.
pub async fn page(
    State(app): State<AppState>,
    staff: Staff,
    Extension(searches): Extension<SearchLimiter>,
    Query(query): Query<InboxQuery>,
) -> Result<Response, ConsoleError> {
    if !searches.allow(staff.id, &query.buscar) {
        return Err(ConsoleError::TooManySearches);
    }
    let now = app.clock.now();
    let who = staff.visibility();
    let (filter, problem) = filter_of(&query, &staff, now);
    let mut rows = app.store.inbox(who, &filter, PAGE_SIZE + 1).await?;
    let more = rows.len() as i64 > PAGE_SIZE;
    rows.truncate(PAGE_SIZE as usize);
    let filters = query.filters();
    let next_page = more
        .then(|| {
            rows.last()
                .map(|r| format!("/?{filters}&despues={}", r.cursor().encode()))
        })
        .flatten();
    let first_page = filter.after.is_some().then(|| format!("/?{filters}"));
    let counts = counts(&app, &staff, &query).await?;
    let categories = app.store.categories().await?;
    let departments = if staff.is_office() {
        app.store.departments().await?
    } else {
        Vec::new()
    };
    let newest = rows.iter().map(|r| r.id).max().unwrap_or(0);
    let page = views::Inbox {
        page: Page::of(&app, &staff, "Bandeja"),
        counts,
        statuses: CaseStatus::ALL
            .iter()
            .map(|s| Choice::new(s.code(), status_label(*s), query.estado == s.code()))
            .collect(),
        categories: categories
            .iter()
            .map(|c| Choice::new(c.id, &c.name, query.categoria == c.id.to_string()))
            .collect(),
        departments: departments
            .iter()
            .map(|d| Choice::new(d.id, &d.name, query.area == d.id.to_string()))
            .collect(),
        urgencies: Urgency::ALL
            .iter()
            .map(|u| {
                Choice::new(
                    u.code(),
                    views::urgency_label(*u),
                    query.urgencia == u.code(),
                )
            })
            .collect(),
        channels: Channel::ALL
            .iter()
            .map(|c| Choice::new(c.code(), views::channel_label(*c), query.canal == c.code()))
            .collect(),
        search: &query.buscar,
        from: &query.desde,
        until: &query.hasta,
        overdue: !query.vencidos.is_empty(),
        rows: rows.iter().map(|r| row_of(r, &staff, now)).collect(),
        next_page,
        first_page,
        poll: filter
            .after
            .is_none()
            .then(|| format!("/bandeja/nuevos?{filters}")),
        newest,
        problem,
        csv: format!("/casos.csv?{filters}"),
    };
    Ok(page.into_response())
}

/// `GET /casos.csv?...`: the inbox's list with the same filters, whole (not a page), as a
/// spreadsheet; numbers as the viewer may see them.
pub async fn cases_csv(
    State(app): State<AppState>,
    staff: Staff,
    Extension(searches): Extension<SearchLimiter>,
    Query(query): Query<InboxQuery>,
) -> Result<Response, ConsoleError> {
    if !searches.allow(staff.id, &query.buscar) {
        return Err(ConsoleError::TooManySearches);
    }
    let now = app.clock.now();
    let (mut filter, _) = filter_of(&query, &staff, now);
    filter.after = None;
    filter.newer_than = None;
    let rows = app
        .store
        .export_cases(staff.visibility(), &filter, CSV_LIMIT)
        .await?;
    let mut body = CsvBody::new(&[
        "Folio",
        "Recibido",
        "Canal",
        "Categoría",
        "Urgencia",
        "Estado",
        "Área",
        "Teléfono",
        "Colonia",
        "Calle",
        "Vence",
        "Respuesta prometida",
    ]);
    for r in &rows {
        body.row(&[
            r.folio.clone(),
            views::date_time(r.created_at),
            views::channel_label(r.channel).to_owned(),
            r.category_name
                .clone()
                .unwrap_or_else(|| "Sin clasificar".to_owned()),
            views::urgency_label(r.urgency).to_owned(),
            status_label(r.status).to_owned(),
            r.department_name.clone().unwrap_or_default(),
            phone_for(&staff, r.caller_number.as_deref()),
            r.address_colonia.clone().unwrap_or_default(),
            r.address_street.clone().unwrap_or_default(),
            r.due_at.map(views::date_time).unwrap_or_default(),
            r.answer_by
                .map(|d| d.format("%d/%m/%Y").to_string())
                .unwrap_or_default(),
        ]);
    }
    Ok(csv::download(
        body,
        &format!("casos-{}", views::date_value(now)),
    ))
}

/// The counts per status, each a link to that status with the other filters kept.
async fn counts(
    app: &AppState,
    staff: &Staff,
    query: &InboxQuery,
) -> Result<Vec<Count>, ConsoleError> {
    let by_status = app.store.status_counts(staff.visibility()).await?;
    let count_of = |s: CaseStatus| {
        by_status
            .iter()
            .find(|(status, _)| *status == s)
            .map_or(0, |(_, n)| *n)
    };
    let mut rest = query.clone();
    let mut counts = Vec::new();
    rest.estado.clear();
    let open: i64 = CaseStatus::ALL
        .iter()
        .filter(|s| **s != CaseStatus::Closed)
        .map(|s| count_of(*s))
        .sum();
    counts.push(Count {
        code: "open",
        label: "Abiertos",
        count: open,
        href: format!("/?{}", rest.filters()),
        current: query.estado.is_empty(),
    });
    for status in CaseStatus::ALL {
        rest.estado = status.code().to_owned();
        counts.push(Count {
            code: status.code(),
            label: status_label(*status),
            count: count_of(*status),
            href: format!("/?{}", rest.filters()),
            current: query.estado == status.code(),
        });
    }
    Ok(counts)
}

/// `GET /bandeja/nuevos?despues_id=N&...`: the rows newer than the newest shown (for the
/// script), with the same filters.
pub async fn newer(
    State(app): State<AppState>,
    staff: Staff,
    Extension(searches): Extension<SearchLimiter>,
    Query(query): Query<InboxQuery>,
) -> Result<Response, ConsoleError> {
    if !searches.allow(staff.id, &query.buscar) {
        return Err(ConsoleError::TooManySearches);
    }
    let now = app.clock.now();
    let (mut filter, _) = filter_of(&query, &staff, now);
    filter.after = None;
    if filter.newer_than.is_none() {
        return Ok(views::InboxRows { rows: &[] }.into_response());
    }
    let rows = app
        .store
        .inbox(staff.visibility(), &filter, NEWER_LIMIT)
        .await?;
    let rows: Vec<Row> = rows.iter().map(|r| row_of(r, &staff, now)).collect();
    Ok(views::InboxRows { rows: &rows }.into_response())
}
