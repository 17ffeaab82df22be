//! Reports that reach the office by other channels: in person, a call to the office's own
//! numbers (a callback too), WhatsApp, Messenger, e-mail. Staff register them with the same
//! folio series, lifecycle, promised date and folio SMS (to a mobile) as the phone line's.
//! Office only; a report taken on a call back (from "Llamadas por devolver") settles the calls
//! owed to that number and links to them.

use super::views::{self, Choice};
use super::{ConsoleError, Page, Staff};
use crate::domain::{Address, Channel, PhoneNumber, Urgency};
use crate::state::AppState;
use crate::store::NewStaffCase;
use axum::Form;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;

/// The channels staff register reports from (the phone line and SMS make their own).
const CHANNELS: &[Channel] = &[
    Channel::InPerson,
    Channel::DirectPhone,
    Channel::Whatsapp,
    Channel::Messenger,
    Channel::Email,
];

/// The form's fields, as typed (kept to show the form again with a problem).
#[derive(Debug, Default, Clone, Deserialize)]
pub struct NewCaseForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    canal: String,
    #[serde(default)]
    nombre: String,
    #[serde(default)]
    telefono: String,
    #[serde(default)]
    celular: String,
    #[serde(default)]
    descripcion: String,
    #[serde(default)]
    calle: String,
    #[serde(default)]
    colonia: String,
    #[serde(default)]
    entre: String,
    #[serde(default)]
    referencias: String,
    #[serde(default)]
    categoria: String,
    #[serde(default)]
    urgencia: String,
    /// "1" when the report is taken on a call back to `telefono`.
    #[serde(default)]
    devolucion: String,
}

/// `GET /casos/nuevo[?telefono=...&devolucion=1]`.
pub async fn form(
    State(app): State<AppState>,
    staff: Staff,
    Query(prefill): Query<NewCaseForm>,
) -> Result<Response, ConsoleError> {
    if !staff.is_office() {
        return Err(ConsoleError::NotFound);
    }
    let mut values = prefill;
    if values.canal.is_empty() && values.devolucion == "1" {
        values.canal = Channel::DirectPhone.code().to_owned();
    }
    values.celular = "1".to_owned();
    render(&app, &staff, &values, None, StatusCode::OK).await
}

async fn render(
    app: &AppState,
    staff: &Staff,
    v: &NewCaseForm,
    problem: Option<&str>,
    status: StatusCode,
) -> Result<Response, ConsoleError> {
    let categories = app.store.categories().await?;
    let page = views::NewCase {
        page: Page::of(app, staff, "Nuevo reporte"),
        csrf: &staff.csrf,
        channels: CHANNELS
            .iter()
            .map(|c| Choice::new(c.code(), views::channel_label(*c), v.canal == c.code()))
            .collect(),
        categories: categories
            .iter()
            .map(|c| Choice::new(c.id, &c.name, v.categoria == c.id.to_string()))
            .collect(),
        urgencies: Urgency::ALL
            .iter()
            .map(|u| Choice::new(u.code(), views::urgency_label(*u), v.urgencia == u.code()))
            .collect(),
        name: &v.nombre,
        phone: &v.telefono,
        mobile: !v.celular.is_empty(),
        description: &v.descripcion,
        street: &v.calle,
        colonia: &v.colonia,
        between: &v.entre,
        references: &v.referencias,
        callback: v.devolucion == "1",
        problem,
    };
    Ok((status, page).into_response())
}

/// A trimmed value, cut to `max` characters; `None` when empty.
fn text(value: &str, max: usize) -> Option<String> {
    let v = value.trim();
    (!v.is_empty()).then(|| v.chars().take(max).collect())
}

/// A Mexican phone number as staff type it: ten digits, spaces and dashes allowed, with or
/// without +52 (or the old 044/045).
fn phone_of(typed: &str) -> Result<Option<PhoneNumber>, ()> {
    if typed.trim().is_empty() {
        return Ok(None);
    }
    PhoneNumber::from_typed(typed).map(Some).map_err(|_| ())
}

/// A form that passed its checks.
struct Checked {
    channel: Channel,
    phone: Option<PhoneNumber>,
    category_id: i64,
    urgency: Urgency,
    description: String,
}

/// The form's checks, each with what to tell the person.
fn check(
    form: &NewCaseForm,
    categories: &[crate::store::Category],
) -> Result<Checked, &'static str> {
    let channel = Channel::from_code(&form.canal)
        .filter(|c| CHANNELS.contains(c))
        .ok_or("Elija por dónde llegó el reporte.")?;
    let phone = phone_of(&form.telefono).map_err(
        |()| "El teléfono debe ser un número de México de 10 dígitos, por ejemplo 55 1234 5678.",
    )?;
    let category_id = form
        .categoria
        .parse::<i64>()
        .ok()
        .filter(|id| categories.iter().any(|c| c.id == *id))
        .ok_or("Elija la categoría del reporte.")?;
    let urgency = Urgency::from_code(&form.urgencia).ok_or("Elija la urgencia.")?;
    let description =
        text(&form.descripcion, 1000).ok_or("Describa el problema: qué pasa y desde cuándo.")?;
    if form.devolucion == "1" && phone.is_none() {
        return Err("Para registrar la llamada devuelta hace falta el teléfono.");
    }
    Ok(Checked {
        channel,
        phone,
        category_id,
        urgency,
        description,
    })
}

/// `POST /casos/nuevo`.
pub async fn create(
    State(app): State<AppState>,
    staff: Staff,
    Form(form): Form<NewCaseForm>,
) -> Result<Response, ConsoleError> {
    staff.check_csrf(&form.csrf)?;
    if !staff.is_office() {
        return Err(ConsoleError::NotFound);
    }
    let categories = app.store.categories().await?;
    let checked = match check(&form, &categories) {
        Ok(checked) => checked,
        Err(why) => {
            return render(
                &app,
                &staff,
                &form,
                Some(why),
                StatusCode::UNPROCESSABLE_ENTITY,
            )
            .await;
        }
    };
    let address = Address {
        street: text(&form.calle, 200),
        colonia: text(&form.colonia, 200),
        between: text(&form.entre, 200),
        references: text(&form.referencias, 300),
    };
    let name = text(&form.nombre, 200);
    let note = format!(
        "Reporte registrado por {} ({})",
        staff.name,
        views::channel_label(checked.channel)
    );
    let case = app
        .store
        .create_staff_case(&NewStaffCase {
            channel: checked.channel,
            citizen_name: name.as_deref(),
            phone: checked.phone.as_ref(),
            mobile: !form.celular.is_empty(),
            category_id: checked.category_id,
            urgency: checked.urgency,
            description: &checked.description,
            address: &address,
            actor: &staff.name,
            note: &note,
            user_id: staff.id,
            on_callback: form.devolucion == "1",
            at: app.clock.now(),
        })
        .await?;
    // Its folio SMS is in the outbox.
    app.wake_workers();
    Ok(Redirect::to(&format!("/casos/{}?hecho=registrado", case.folio)).into_response())
}
