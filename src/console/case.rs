//! A case's page, and what staff do on it: triage while listening, route to a department,
//! change its status along the lifecycle, add notes; and its printable work order.
//!
//! Every action re-reads the case with the viewer's visibility (another department's case is
//! a 404), checks the move against the lifecycle for the viewer's role, and writes it in one
//! transaction with its history entry and SMS. A refused move shows the page again with the
//! reason; nothing is written.

use super::views::{self, Bar, Choice, Entry, Fact, FileLink, HistoryLine, MoveButton, ReportView};
use super::{ConsoleError, Page, Staff};
use crate::domain::lifecycle::status_label;
use crate::domain::promise;
use crate::domain::{
    Address, CallSid, CaseEventKind, CaseStatus, ClosureReason, Folio, Move, RecordingStatus,
    Urgency,
};
use crate::state::AppState;
use crate::store::{CaseFilter, CaseView, Cursor, StatusChange, Triage};
use axum::Form;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;

/// The case, if this person may see it; a 404 otherwise.
pub async fn load(app: &AppState, staff: &Staff, folio: &str) -> Result<CaseView, ConsoleError> {
    app.store
        .case_view(staff.visibility(), folio)
        .await?
        .ok_or(ConsoleError::NotFound)
}

#[derive(Debug, Default, Deserialize)]
pub struct PageQuery {
    hecho: Option<String>,
}

/// What an action came to, said on the page it returns to.
fn notice(done: Option<&str>) -> Option<&'static str> {
    Some(match done? {
        "clasificado" => "Clasificación guardada.",
        "canalizado" => "Caso canalizado al área.",
        "estado" => "Estado actualizado.",
        "nota" => "Nota agregada.",
        "informe" => "Informe guardado; el caso quedó atendido.",
        "registrado" => "Reporte registrado. Dé al ciudadano este folio.",
        _ => return None,
    })
}

/// `GET /casos/{folio}`.
pub async fn page(
    State(app): State<AppState>,
    staff: Staff,
    Path(folio): Path<String>,
    Query(query): Query<PageQuery>,
) -> Result<Response, ConsoleError> {
    let case = load(&app, &staff, &folio).await?;
    render(&app, &staff, &case, notice(query.hecho.as_deref()), None).await
}

/// The case page, with a notice or an error.
async fn render(
    app: &AppState,
    staff: &Staff,
    case: &CaseView,
    notice: Option<&'static str>,
    error: Option<String>,
) -> Result<Response, ConsoleError> {
    let status = if error.is_some() {
        StatusCode::UNPROCESSABLE_ENTITY
    } else {
        StatusCode::OK
    };
    let categories = app.store.categories().await?;
    let departments = app.store.departments().await?;
    let reports = reports(app, case).await?;
    let timeline = timeline(app, case).await?;
    let (call_facts, steps) = call_details(app, staff, case).await?;
    let (history_cases, history_calls, history_all_calls) = history(app, staff, case).await?;
    let next_case = next_case(app, staff, case).await?;
    let (audio, no_audio) = audio(case);
    let bars = bars(case.peaks.as_deref());
    let routed = case.routed_at.is_some();
    let moves = Move::available_for(case.status, staff.role, routed)
        .into_iter()
        .filter_map(|m| button(m, case.status))
        .collect();
    let office = staff.is_office();
    let page = views::Case {
        page: Page::of(app, staff, &format!("Folio {}", case.folio)),
        csrf: &staff.csrf,
        folio: &case.folio,
        status: status_label(case.status),
        urgent: case.urgency == Urgency::Urgent,
        facts: facts(staff, case),
        call_facts,
        steps,
        history_cases,
        history_calls,
        history_all_calls,
        audio,
        no_audio,
        bars_width: bars.len().max(1),
        bars,
        can_triage: office && case.status != CaseStatus::Closed,
        categories: categories
            .iter()
            .map(|c| Choice::new(c.id, &c.name, case.category_id == Some(c.id)))
            .collect(),
        urgencies: Urgency::ALL
            .iter()
            .map(|u| Choice::new(u.code(), views::urgency_label(*u), case.urgency == *u))
            .collect(),
        street: case.address.street.as_deref().unwrap_or(""),
        colonia: case.address.colonia.as_deref().unwrap_or(""),
        between: case.address.between.as_deref().unwrap_or(""),
        references: case.address.references.as_deref().unwrap_or(""),
        description: case.description.as_deref().unwrap_or(""),
        can_route: Move::Route.check(case.status, staff.role).is_ok(),
        departments: departments
            .iter()
            .map(|d| Choice::new(d.id, &d.name, case.department_id == Some(d.id)))
            .collect(),
        moves,
        can_report: Move::Attend
            .check_case(case.status, staff.role, routed)
            .is_ok(),
        today: views::date_value(app.clock.now()),
        reports,
        timeline,
        notice,
        error,
        next_case,
    };
    Ok((status, page).into_response())
}

/// The button of a move, if it is made with one (routing and the report have their forms).
fn button(m: Move, from: CaseStatus) -> Option<MoveButton> {
    let (value, label) = match m {
        Move::Review => ("revisar", "Pasar a revisión"),
        Move::Start => ("atender", "Marcar «en atención»"),
        Move::Close(ClosureReason::Resolved) => ("cerrar", "Cerrar como resuelto"),
        Move::Close(ClosureReason::Duplicate) => ("duplicado", "Cerrar: duplicado"),
        Move::Close(ClosureReason::NotApplicable) => ("no_procede", "Cerrar: no procede"),
        Move::Close(ClosureReason::NotMunicipal) => {
            ("no_competencia", "Cerrar: no es competencia municipal")
        }
        Move::Reopen if from == CaseStatus::Attended => ("reabrir", "Devolver al área"),
        Move::Reopen => ("reabrir", "Reabrir"),
        Move::Route | Move::Attend => return None,
    };
    Some(MoveButton {
        value,
        label,
        needs_folio: value == "duplicado",
    })
}

/// The move a button asks for.
fn move_of(value: &str) -> Option<Move> {
    Some(match value {
        "revisar" => Move::Review,
        "atender" => Move::Start,
        "cerrar" => Move::Close(ClosureReason::Resolved),
        "duplicado" => Move::Close(ClosureReason::Duplicate),
        "no_procede" => Move::Close(ClosureReason::NotApplicable),
        "no_competencia" => Move::Close(ClosureReason::NotMunicipal),
        "reabrir" => Move::Reopen,
        _ => return None,
    })
}

fn facts(staff: &Staff, case: &CaseView) -> Vec<Fact> {
    let number = |n: &Option<String>| staff.sees_number(n.as_deref(), "Sin número");
    let mut facts = vec![
        Fact {
            label: "Recibido",
            value: views::date_time(case.created_at),
        },
        Fact {
            label: "Canal",
            value: views::channel_label(case.channel).to_owned(),
        },
        Fact {
            label: "Estado",
            value: views::status_with_reason(case.status, case.closure_reason),
        },
        Fact {
            label: "Categoría",
            value: case
                .category_name
                .clone()
                .unwrap_or_else(|| "Sin clasificar".into()),
        },
        Fact {
            label: "Urgencia",
            value: views::urgency_label(case.urgency).to_owned(),
        },
        Fact {
            label: "Área",
            value: case.department_name.clone().unwrap_or_default(),
        },
        Fact {
            label: "Teléfono",
            value: number(&case.caller_number),
        },
        Fact {
            label: "SMS a",
            value: number(&case.sms_number),
        },
    ];
    if let (Some(name), true) = (&case.citizen_name, staff.is_office()) {
        facts.push(Fact {
            label: "Nombre",
            value: name.clone(),
        });
    }
    if let Some(due) = case.due_at {
        facts.push(Fact {
            label: "Vence",
            value: views::date_time(due),
        });
    }
    // What the citizen was told (with the folio and in every status answer until the case is
    // taken on), so that staff answer with the same date.
    if let Some(date) = case.answer_by {
        facts.push(Fact {
            label: "Respuesta prometida",
            value: promise::long(date),
        });
    }
    if let Some(other) = &case.duplicate_of {
        facts.push(Fact {
            label: "Duplicado de",
            value: other.clone(),
        });
    }
    let address = case.address.one_line();
    facts.push(Fact {
        label: "Dirección",
        value: if address.is_empty() {
            "Sin capturar".into()
        } else {
            address
        },
    });
    facts.push(Fact {
        label: "Descripción",
        value: case
            .description
            .clone()
            .unwrap_or_else(|| "Sin capturar".into()),
    });
    facts
}

/// The player's URL, or why there is nothing to play.
fn audio(case: &CaseView) -> (Option<String>, Option<String>) {
    let why = match (case.recording_status, &case.storage_key) {
        (Some(RecordingStatus::Stored), Some(_)) => {
            return (Some(format!("/casos/{}/grabacion", case.folio)), None);
        }
        (Some(RecordingStatus::Pending), _) => {
            "La grabación aún se está copiando desde Twilio; recargue la página en un momento."
        }
        (Some(RecordingStatus::Missing), _) => {
            "Sin grabación: Twilio informó que la llamada no dejó grabación."
        }
        (Some(RecordingStatus::Quarantined), _) => {
            "El archivo de la grabación llegó dañado y se guardó aparte (en cuarentena). Avise a sistemas."
        }
        (Some(RecordingStatus::Refused), _) => {
            "La grabación no se descargó porque su dirección no es de Twilio. Avise a sistemas."
        }
        (Some(RecordingStatus::Expired), _) => {
            "La grabación se eliminó según la política de conservación: el caso se cerró hace tiempo."
        }
        _ => "Este caso no tiene grabación.",
    };
    (None, Some(why.to_owned()))
}

/// The stored waveform summary as bars of an SVG 100 units high.
fn bars(peaks: Option<&str>) -> Vec<Bar> {
    let peaks: Vec<u8> = peaks
        .and_then(|p| serde_json::from_str(p).ok())
        .unwrap_or_default();
    peaks
        .iter()
        .enumerate()
        .map(|(x, p)| {
            let height = (f64::from(*p) / 255.0 * 100.0).max(1.0);
            Bar {
                x,
                y: (100.0 - height) / 2.0,
                height,
            }
        })
        .collect()
}

async fn call_details(
    app: &AppState,
    staff: &Staff,
    case: &CaseView,
) -> Result<(Vec<Fact>, Vec<String>), ConsoleError> {
    let Some(sid) = case.call_sid.as_deref().and_then(CallSid::parse) else {
        return Ok((Vec::new(), Vec::new()));
    };
    let Some(call) = app.store.call(&sid).await? else {
        return Ok((Vec::new(), Vec::new()));
    };
    let number = staff.sees_number(call.from_number.as_deref(), "Número oculto");
    let mut facts = vec![
        Fact {
            label: "Número",
            value: number,
        },
        Fact {
            label: "Inicio",
            value: views::date_time(call.started_at),
        },
    ];
    if let Some(seconds) = call.duration_seconds {
        facts.push(Fact {
            label: "Duración",
            value: views::duration(seconds),
        });
    }
    let steps = app
        .store
        .call_steps(&sid)
        .await?
        .into_iter()
        .map(|(step, detail)| match detail {
            Some(d) => format!("{step}: {d}"),
            None => step,
        })
        .collect();
    Ok((facts, steps))
}

/// Lines of the citizen's history shown on the case page.
const HISTORY_LINES: i64 = 10;

/// The citizen's other cases and calls, by the case's number (the office only: a department
/// sees its own cases).
async fn history(
    app: &AppState,
    staff: &Staff,
    case: &CaseView,
) -> Result<(Vec<HistoryLine>, Vec<HistoryLine>, Option<String>), ConsoleError> {
    let number = case.caller_number.as_deref().or(case.sms_number.as_deref());
    let Some(number) = number.filter(|_| staff.is_office()) else {
        return Ok((Vec::new(), Vec::new(), None));
    };
    let cases = app
        .store
        .cases_of_number(number, case.id, HISTORY_LINES)
        .await?
        .into_iter()
        .map(|c| HistoryLine {
            href: format!("/casos/{}", c.folio),
            label: format!("Folio {}", c.folio),
            what: format!(
                "{} · {} · {}",
                views::date_time(c.created_at),
                c.category_name.as_deref().unwrap_or("Sin clasificar"),
                status_label(c.status)
            ),
        })
        .collect();
    let filter = crate::store::CallFilter {
        number: Some(number.to_owned()),
        ..Default::default()
    };
    let calls = app
        .store
        .call_log(&filter, HISTORY_LINES)
        .await?
        .into_iter()
        .map(|c| HistoryLine {
            href: format!("/llamadas/{}", c.id),
            label: views::date_time(c.started_at),
            what: match (&c.folio, c.outcome) {
                (Some(folio), _) => format!("Reporte, folio {folio}"),
                (None, outcome) => views::outcome_label(outcome).to_owned(),
            },
        })
        .collect();
    let all = format!(
        "/llamadas?{}",
        url::form_urlencoded::Serializer::new(String::new())
            .append_pair("numero", number)
            .finish()
    );
    Ok((cases, calls, Some(all)))
}

async fn reports(app: &AppState, case: &CaseView) -> Result<Vec<ReportView>, ConsoleError> {
    let reports = app.store.action_reports(case.id).await?;
    let files = app.store.attachments(case.id).await?;
    Ok(reports
        .into_iter()
        .map(|r| ReportView {
            summary: r.summary,
            done_on: views::date_value(r.done_on),
            done_by: r.done_by,
            files: files
                .iter()
                .filter(|f| f.report_id == Some(r.id))
                .map(|f| FileLink {
                    href: format!("/adjuntos/{}", f.id),
                    // Uploads from before names were cleaned are cleaned when shown.
                    name: super::media::shown_name(
                        &f.file_name,
                        super::media::checked_type(&f.content_type).1,
                    ),
                    size: format!("{:.1} MB", f.size_bytes as f64 / 1_048_576.0),
                })
                .collect(),
        })
        .collect())
}

async fn timeline(app: &AppState, case: &CaseView) -> Result<Vec<Entry>, ConsoleError> {
    let events = app.store.case_history(case.id).await?;
    Ok(events
        .into_iter()
        .rev()
        .map(|e| {
            let what = match e.kind {
                CaseEventKind::Created => "Caso creado".to_owned(),
                CaseEventKind::Status => format!(
                    "Estado: {} → {}",
                    e.from_status.map_or("—", status_label),
                    e.to_status.map_or("—", status_label)
                ),
                CaseEventKind::SmsNumber => "Número para SMS confirmado".to_owned(),
                CaseEventKind::Triage => "Clasificación".to_owned(),
                CaseEventKind::Routed => "Canalizado".to_owned(),
                CaseEventKind::Note => "Nota".to_owned(),
                CaseEventKind::Listened => "Escuchó la grabación".to_owned(),
                CaseEventKind::ActionReport => "Informe de atención".to_owned(),
                CaseEventKind::Retention => "Archivo eliminado por antigüedad".to_owned(),
            };
            let note = e
                .note
                .filter(|n| !(e.kind == CaseEventKind::Listened && n == "Escuchó la grabación"));
            Entry {
                when: views::date_time(e.at),
                who: match e.actor.as_str() {
                    "system" => "Sistema".to_owned(),
                    "caller" => "Ciudadano".to_owned(),
                    name => name.to_owned(),
                },
                what,
                note,
            }
        })
        .collect())
}

/// The next case in the inbox's order after this one, for the keyboard's `n`.
async fn next_case(
    app: &AppState,
    staff: &Staff,
    case: &CaseView,
) -> Result<Option<String>, ConsoleError> {
    let filter = CaseFilter {
        after: Some(Cursor {
            priority: case.priority,
            created_at: case.created_at,
            id: case.id,
        }),
        ..CaseFilter::default()
    };
    let next = app.store.inbox(staff.visibility(), &filter, 1).await?;
    Ok(next.first().map(|r| format!("/casos/{}", r.folio)))
}

/// The case page again with the reason a request was refused (422); nothing was written.
async fn refuse(
    app: &AppState,
    staff: &Staff,
    case: &CaseView,
    why: impl Into<String>,
) -> Result<Response, ConsoleError> {
    render(app, staff, case, None, Some(why.into())).await
}

/// Back to the case page, saying what was done.
fn done(folio: &str, what: &str) -> Response {
    Redirect::to(&format!("/casos/{folio}?hecho={what}")).into_response()
}

/// A trimmed, non-empty value of a form.
fn text(value: &str) -> Option<String> {
    let value = value.trim();
    (!value.is_empty()).then(|| value.to_owned())
}

/// A trimmed, non-empty value of a form, cut to `max` characters (the form's `maxlength`,
/// which only the browser enforces).
fn text_max(value: &str, max: usize) -> Option<String> {
    text(value).map(|v| v.chars().take(max).collect())
}

#[derive(Debug, Deserialize)]
pub struct TriageForm {
    /// Missing is the same as wrong: refused as a bad token (403), never a parse error.
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    categoria: String,
    #[serde(default)]
    urgencia: String,
    #[serde(default)]
    calle: String,
    #[serde(default)]
    colonia: String,
    #[serde(default)]
    entre: String,
    #[serde(default)]
    referencias: String,
    #[serde(default)]
    descripcion: String,
}

/// `POST /casos/{folio}/clasificar`: category, urgency, address, description.
pub async fn triage(
    State(app): State<AppState>,
    staff: Staff,
    Path(folio): Path<String>,
    Form(form): Form<TriageForm>,
) -> Result<Response, ConsoleError> {
    staff.check_csrf(&form.csrf)?;
    let case = load(&app, &staff, &folio).await?;
    if !staff.is_office() || case.status == CaseStatus::Closed {
        let why = if staff.is_office() {
            "El caso está cerrado; primero hay que reabrirlo."
        } else {
            "Solo Participación Ciudadana clasifica los casos."
        };
        return refuse(&app, &staff, &case, why).await;
    }
    let categories = app.store.categories().await?;
    let category_id = form
        .categoria
        .parse::<i64>()
        .ok()
        .filter(|id| categories.iter().any(|c| c.id == *id));
    let Some(urgency) = Urgency::from_code(&form.urgencia) else {
        return refuse(&app, &staff, &case, "Elija la urgencia.").await;
    };
    let address = Address {
        street: text_max(&form.calle, 200),
        colonia: text_max(&form.colonia, 200),
        between: text_max(&form.entre, 200),
        references: text_max(&form.referencias, 300),
    };
    let description = text_max(&form.descripcion, 1000);
    app.store
        .triage_case(&Triage {
            case_id: case.id,
            category_id,
            urgency,
            address: &address,
            description: description.as_deref(),
            actor: &staff.name,
            at: app.clock.now(),
        })
        .await?;
    Ok(done(&case.folio, "clasificado"))
}

#[derive(Debug, Deserialize)]
pub struct RouteForm {
    /// Missing is the same as wrong: refused as a bad token (403), never a parse error.
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    area: String,
    #[serde(default)]
    nota: String,
}

/// `POST /casos/{folio}/canalizar`: to a department, whose users see it from now on and
/// whose contact number gets an SMS; the citizen gets one too.
pub async fn route(
    State(app): State<AppState>,
    staff: Staff,
    Path(folio): Path<String>,
    Form(form): Form<RouteForm>,
) -> Result<Response, ConsoleError> {
    staff.check_csrf(&form.csrf)?;
    let case = load(&app, &staff, &folio).await?;
    if let Err(why) = Move::Route.check(case.status, staff.role) {
        return refuse(&app, &staff, &case, why).await;
    }
    let departments = app.store.departments().await?;
    let Some(department) = form
        .area
        .parse::<i64>()
        .ok()
        .and_then(|id| departments.iter().find(|d| d.id == id))
    else {
        return refuse(&app, &staff, &case, "Elija un área.").await;
    };
    let note =
        text_max(&form.nota, 500).unwrap_or_else(|| format!("Canalizado a {}", department.name));
    app.store
        .change_case_status(&StatusChange {
            case_id: case.id,
            expected: Some(case.status),
            to: CaseStatus::Routed,
            closure_reason: None,
            department_id: Some(department.id),
            duplicate_of: None,
            action_summary: None,
            actor: &staff.name,
            note: Some(&note),
            at: app.clock.now(),
        })
        .await?;
    Ok(done(&case.folio, "canalizado"))
}

#[derive(Debug, Deserialize)]
pub struct StatusForm {
    /// Missing is the same as wrong: refused as a bad token (403), never a parse error.
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    accion: String,
    #[serde(default)]
    duplicado: String,
    #[serde(default)]
    nota: String,
}

/// `POST /casos/{folio}/estado`: a move along the lifecycle, if this person may make it.
pub async fn change_status(
    State(app): State<AppState>,
    staff: Staff,
    Path(folio): Path<String>,
    Form(form): Form<StatusForm>,
) -> Result<Response, ConsoleError> {
    staff.check_csrf(&form.csrf)?;
    let case = load(&app, &staff, &folio).await?;
    let Some(m) = move_of(&form.accion) else {
        return refuse(&app, &staff, &case, "Ese cambio no existe.").await;
    };
    if let Err(why) = m.check_case(case.status, staff.role, case.routed_at.is_some()) {
        return refuse(&app, &staff, &case, why).await;
    }
    let duplicate_of = match m {
        Move::Close(ClosureReason::Duplicate) => {
            let digits: String = form
                .duplicado
                .chars()
                .filter(char::is_ascii_digit)
                .collect();
            let other = Folio::parse(&digits).ok();
            let exists = match &other {
                Some(f) if f.as_str() != case.folio => app.store.case_by_folio(f).await?.is_some(),
                _ => false,
            };
            if !exists {
                let why = "Escriba el folio de otro reporte existente (el del mismo problema).";
                return refuse(&app, &staff, &case, why).await;
            }
            other.map(|f| f.as_str().to_owned())
        }
        _ => None,
    };
    let closure_reason = match m {
        Move::Close(reason) => Some(reason),
        _ => None,
    };
    let note = text_max(&form.nota, 500);
    app.store
        .change_case_status(&StatusChange {
            case_id: case.id,
            expected: Some(case.status),
            to: m.target(),
            closure_reason,
            department_id: None,
            duplicate_of: duplicate_of.as_deref(),
            action_summary: None,
            actor: &staff.name,
            note: note.as_deref(),
            at: app.clock.now(),
        })
        .await?;
    Ok(done(&case.folio, "estado"))
}

#[derive(Debug, Deserialize)]
pub struct NoteForm {
    /// Missing is the same as wrong: refused as a bad token (403), never a parse error.
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    nota: String,
}

/// `POST /casos/{folio}/nota`: an internal note, by anyone who may see the case.
pub async fn note(
    State(app): State<AppState>,
    staff: Staff,
    Path(folio): Path<String>,
    Form(form): Form<NoteForm>,
) -> Result<Response, ConsoleError> {
    staff.check_csrf(&form.csrf)?;
    let case = load(&app, &staff, &folio).await?;
    let Some(text) = text(&form.nota) else {
        return refuse(&app, &staff, &case, "La nota está vacía.").await;
    };
    let text: String = text.chars().take(2000).collect();
    app.store
        .add_note(case.id, &staff.name, &text, app.clock.now())
        .await?;
    Ok(done(&case.folio, "nota"))
}

/// `GET /casos/{folio}/orden`: the work order for the department's crew, to print.
pub async fn work_order(
    State(app): State<AppState>,
    staff: Staff,
    Path(folio): Path<String>,
) -> Result<Response, ConsoleError> {
    let case = load(&app, &staff, &folio).await?;
    let facts = vec![
        Fact {
            label: "Fecha del reporte",
            value: views::date_time(case.created_at),
        },
        Fact {
            label: "Categoría",
            value: case
                .category_name
                .clone()
                .unwrap_or_else(|| "Sin clasificar".into()),
        },
        Fact {
            label: "Urgencia",
            value: views::urgency_label(case.urgency).to_owned(),
        },
        Fact {
            label: "Área",
            value: case.department_name.clone().unwrap_or_default(),
        },
    ];
    let page = views::WorkOrder {
        page: Page::of(&app, &staff, &format!("Orden de trabajo {}", case.folio)),
        folio: &case.folio,
        facts,
        description: case.description.as_deref().unwrap_or("Sin descripción"),
        address: case.address.one_line(),
        printed: views::date_time(app.clock.now()),
    };
    Ok(page.into_response())
}
