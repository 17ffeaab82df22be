//! The call log and the calls the office owes back.
//!
//! - `/llamadas`: every call, newest first, filtered by outcome, dates and number, in keyset
//!   pages; `/llamadas.csv` the same as a spreadsheet. A department's user sees the numbers
//!   masked, like everywhere.
//! - `/llamadas/{id}`: one call's facts and steps (what it heard and pressed), and, for the
//!   office, the callbacks to its number.
//! - `/devolver` (office only): numbers whose calls were abandoned, with no report from them
//!   and no callback that settled them since, the longest-waiting first; three abandoned calls
//!   from one number are one callback. Marking the result of a callback (or taking a report on
//!   it, through the new-report form) settles them; "no answer" keeps them owed.

use super::csv::{self, CsvBody};
use super::search_limit::SearchLimiter;
use super::views::{self, CallRow, Choice, Entry, Fact, OwedRow, StepRow};
use super::{ConsoleError, Page, Staff};
use crate::domain::{CallOutcome, CallbackResult, PhoneNumber, Timestamp};
use crate::state::AppState;
use crate::store::{CallFilter, CallLogRow, NewCallback, OWED_WINDOW_DAYS};
use axum::Form;
use axum::extract::{Extension, Path, Query, State};
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;

/// Calls on a page.
const PAGE_SIZE: i64 = 50;
/// Rows of a CSV export at most (a year of a busy line).
const CSV_LIMIT: i64 = 100_000;

/// The call log's query string.
#[derive(Debug, Default, Clone, Deserialize)]
pub struct CallsQuery {
    #[serde(default)]
    resultado: String,
    #[serde(default)]
    desde: String,
    #[serde(default)]
    hasta: String,
    #[serde(default)]
    numero: String,
    #[serde(default)]
    antes: String,
}

impl CallsQuery {
    fn filters(&self) -> String {
        let mut q = url::form_urlencoded::Serializer::new(String::new());
        for (k, v) in [
            ("resultado", &self.resultado),
            ("desde", &self.desde),
            ("hasta", &self.hasta),
            ("numero", &self.numero),
        ] {
            if !v.trim().is_empty() {
                q.append_pair(k, v.trim());
            }
        }
        q.finish()
    }
}

/// The store's filter; a number that is not a phone number is said in words. Only the office
/// may search by number (a department sees numbers masked).
fn filter_of(query: &CallsQuery, staff: &Staff) -> (CallFilter, Option<&'static str>) {
    let mut problem = None;
    let number = match query.numero.trim() {
        "" => None,
        _ if !staff.is_office() => None,
        typed => match PhoneNumber::from_typed(typed) {
            Ok(n) => Some(n.as_str().to_owned()),
            Err(_) => {
                problem = Some("Escriba un teléfono de 10 dígitos.");
                Some("-".to_owned())
            }
        },
    };
    let filter = CallFilter {
        outcome: CallOutcome::from_code(&query.resultado),
        in_progress: query.resultado == "en_curso",
        from: super::inbox::day_start(&query.desde, 0),
        until: super::inbox::day_start(&query.hasta, 1),
        number,
        before: decode_cursor(&query.antes),
    };
    (filter, problem)
}

fn decode_cursor(text: &str) -> Option<(Timestamp, i64)> {
    let (micros, id) = text.split_once('.')?;
    let at = chrono::DateTime::from_timestamp_micros(micros.parse().ok()?)?;
    Some((Timestamp::from_utc(at), id.parse().ok()?))
}

fn encode_cursor(row: &CallLogRow) -> String {
    format!("{}.{}", row.started_at.as_utc().timestamp_micros(), row.id)
}

/// A number as this person may see it.
fn number_for(staff: &Staff, number: Option<&str>) -> String {
    staff.sees_number(number, "Número oculto")
}

/// What a call came to, with the step an abandoned call ended at.
fn outcome_of(row: &CallLogRow) -> String {
    match row.outcome {
        Some(CallOutcome::Abandoned) => format!("Abandonada en «{}»", row.last_step),
        other => views::outcome_label(other).to_owned(),
    }
}

/// `GET /llamadas`.
pub async fn log(
    State(app): State<AppState>,
    staff: Staff,
    Extension(searches): Extension<SearchLimiter>,
    Query(query): Query<CallsQuery>,
) -> Result<Response, ConsoleError> {
    if !searches.allow(staff.id, &query.numero) {
        return Err(ConsoleError::TooManySearches);
    }
    let (filter, problem) = filter_of(&query, &staff);
    let mut rows = app.store.call_log(&filter, PAGE_SIZE + 1).await?;
    let more = rows.len() as i64 > PAGE_SIZE;
    rows.truncate(PAGE_SIZE as usize);
    let filters = query.filters();
    let next_page = more
        .then(|| {
            rows.last()
                .map(|r| format!("/llamadas?{filters}&antes={}", encode_cursor(r)))
        })
        .flatten();
    let first_page = filter
        .before
        .is_some()
        .then(|| format!("/llamadas?{filters}"));
    let mut outcomes: Vec<Choice> = CallOutcome::ALL
        .iter()
        .map(|o| {
            Choice::new(
                o.code(),
                views::outcome_label(Some(*o)),
                query.resultado == o.code(),
            )
        })
        .collect();
    outcomes.push(Choice::new(
        "en_curso",
        views::outcome_label(None),
        query.resultado == "en_curso",
    ));
    let page = views::Calls {
        page: Page::of(&app, &staff, "Llamadas"),
        office: staff.is_office(),
        outcomes,
        from: &query.desde,
        until: &query.hasta,
        number: if staff.is_office() { &query.numero } else { "" },
        rows: rows
            .iter()
            .map(|r| CallRow {
                href: format!("/llamadas/{}", r.id),
                started: views::date_time(r.started_at),
                number: number_for(&staff, r.from_number.as_deref()),
                duration: r.duration_seconds.map(views::duration).unwrap_or_default(),
                outcome: outcome_of(r),
                folio: r.folio.clone(),
            })
            .collect(),
        next_page,
        first_page,
        csv: format!("/llamadas.csv?{filters}"),
        problem,
    };
    Ok(page.into_response())
}

/// `GET /llamadas.csv`: the filtered call log as a spreadsheet.
pub async fn log_csv(
    State(app): State<AppState>,
    staff: Staff,
    Extension(searches): Extension<SearchLimiter>,
    Query(query): Query<CallsQuery>,
) -> Result<Response, ConsoleError> {
    if !searches.allow(staff.id, &query.numero) {
        return Err(ConsoleError::TooManySearches);
    }
    let (mut filter, _) = filter_of(&query, &staff);
    filter.before = None;
    let rows = app.store.call_log(&filter, CSV_LIMIT).await?;
    let mut body = CsvBody::new(&[
        "Inicio",
        "Número",
        "Duración (s)",
        "Resultado",
        "Último paso",
        "Folio",
    ]);
    for r in &rows {
        body.row(&[
            views::date_time(r.started_at),
            number_for(&staff, r.from_number.as_deref()),
            r.duration_seconds
                .map(|d| d.to_string())
                .unwrap_or_default(),
            views::outcome_label(r.outcome).to_owned(),
            r.last_step.clone(),
            r.folio.clone().unwrap_or_default(),
        ]);
    }
    Ok(csv::download(
        body,
        &format!("llamadas-{}", views::date_value(app.clock.now())),
    ))
}

/// `GET /llamadas/{id}`.
pub async fn call(
    State(app): State<AppState>,
    staff: Staff,
    Path(id): Path<i64>,
) -> Result<Response, ConsoleError> {
    let row = app
        .store
        .call_log_entry(id)
        .await?
        .ok_or(ConsoleError::NotFound)?;
    let mut facts = vec![
        Fact {
            label: "Inicio",
            value: views::date_time(row.started_at),
        },
        Fact {
            label: "Número",
            value: number_for(&staff, row.from_number.as_deref()),
        },
        Fact {
            label: "Resultado",
            value: outcome_of(&row),
        },
    ];
    if let Some(seconds) = row.duration_seconds {
        facts.push(Fact {
            label: "Duración",
            value: views::duration(seconds),
        });
    }
    let steps = app
        .store
        .call_events(row.id)
        .await?
        .into_iter()
        .map(|e| StepRow {
            at: views::time_of_day(e.at),
            step: e.step,
            detail: e.detail.unwrap_or_default(),
        })
        .collect();
    let (callbacks, history) = match (&row.from_number, staff.is_office()) {
        (Some(number), true) => {
            let callbacks = app
                .store
                .callbacks_to(number)
                .await?
                .into_iter()
                .map(|c| Entry {
                    when: views::date_time(c.at),
                    who: c.user_name,
                    what: match &c.folio {
                        Some(folio) => {
                            format!("{}: folio {folio}", views::callback_label(c.result))
                        }
                        None => views::callback_label(c.result).to_owned(),
                    },
                    note: c.note,
                })
                .collect();
            let history = format!(
                "/llamadas?{}",
                url::form_urlencoded::Serializer::new(String::new())
                    .append_pair("numero", number)
                    .finish()
            );
            (callbacks, Some(history))
        }
        _ => (Vec::new(), None),
    };
    let page = views::CallPage {
        page: Page::of(&app, &staff, "Llamada"),
        facts,
        folio: row.folio,
        steps,
        callbacks,
        history,
    };
    Ok(page.into_response())
}

#[derive(Debug, Default, Deserialize)]
pub struct OwedQuery {
    hecho: Option<String>,
}

/// The results a callback can be marked with on the list (a report taken goes through the
/// new-report form, which records its callback itself).
const MARKS: &[CallbackResult] = &[
    CallbackResult::Reached,
    CallbackResult::NoAnswer,
    CallbackResult::WrongNumber,
];

/// `GET /devolver`: the calls owed (office only).
pub async fn owed(
    State(app): State<AppState>,
    staff: Staff,
    Query(query): Query<OwedQuery>,
) -> Result<Response, ConsoleError> {
    if !staff.is_office() {
        return Err(ConsoleError::NotFound);
    }
    let rows = app.store.calls_owed(app.clock.now()).await?;
    let new_report = |number: &str| {
        format!(
            "/casos/nuevo?{}",
            url::form_urlencoded::Serializer::new(String::new())
                .append_pair("telefono", number)
                .append_pair("devolucion", "1")
                .finish()
        )
    };
    let page = views::Owed {
        page: Page::of(&app, &staff, "Llamadas por devolver"),
        csrf: &staff.csrf,
        rows: rows
            .iter()
            .map(|r| OwedRow {
                number: r.number.clone(),
                calls: r.calls,
                first: views::date_time(r.first_at),
                last: views::date_time(r.last_at),
                last_call: format!("/llamadas/{}", r.last_call_id),
                attempts: r.attempts,
                new_report: new_report(&r.number),
            })
            .collect(),
        results: MARKS
            .iter()
            .map(|r| Choice::new(r.code(), views::callback_label(*r), false))
            .collect(),
        window_days: OWED_WINDOW_DAYS,
        notice: match query.hecho.as_deref() {
            Some("devuelta") => Some("Llamada registrada."),
            _ => None,
        },
    };
    Ok(page.into_response())
}

#[derive(Debug, Deserialize)]
pub struct CallbackForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    numero: String,
    #[serde(default)]
    resultado: String,
    #[serde(default)]
    nota: String,
}

/// `POST /devolver`: a callback's result.
pub async fn mark(
    State(app): State<AppState>,
    staff: Staff,
    Form(form): Form<CallbackForm>,
) -> Result<Response, ConsoleError> {
    staff.check_csrf(&form.csrf)?;
    if !staff.is_office() {
        return Err(ConsoleError::NotFound);
    }
    let number = PhoneNumber::parse(form.numero.trim())
        .map_err(|_| ConsoleError::Refused("El número no es válido.".into()))?;
    let result = CallbackResult::from_code(&form.resultado)
        .filter(|r| MARKS.contains(r))
        .ok_or_else(|| ConsoleError::Refused("Elija cómo fue la llamada.".into()))?;
    let note: Option<String> = Some(form.nota.trim())
        .filter(|n| !n.is_empty())
        .map(|n| n.chars().take(500).collect());
    app.store
        .add_callback(&NewCallback {
            number: number.as_str(),
            result,
            case_id: None,
            note: note.as_deref(),
            user_id: staff.id,
            at: app.clock.now(),
        })
        .await?;
    Ok(Redirect::to("/devolver?hecho=devuelta").into_response())
}
