//! Settings (admin only; anyone else gets a 404): the phone menu's categories, the departments,
//! the office hours and transfer number, and the staff accounts. Every change is checked (a menu
//! key is one category's, the menu keeps a category, a department still in use stays active),
//! written with its entry in the settings history, and reaches the phone line's next call
//! without a restart.

use super::views::{self, Choice, Entry};
use super::{ConsoleError, Page, Staff};
use crate::domain::{OfficeHours, PhoneNumber, Role};
use crate::state::AppState;
use crate::store::{
    CategoryEdit, DepartmentEdit, NewUser, OFFICE_HOURS, SettingsRefusal, TRANSFER_NUMBER,
    UserChange,
};
use axum::Form;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;

/// Entries of the settings history shown.
const HISTORY: i64 = 30;

/// Only an admin; anyone else sees what a missing page looks like.
fn admin_only(staff: &Staff) -> Result<(), ConsoleError> {
    if staff.role == Role::Admin {
        Ok(())
    } else {
        Err(ConsoleError::NotFound)
    }
}

#[derive(Debug, Default, Deserialize)]
pub struct DoneQuery {
    hecho: Option<String>,
}

fn notice(done: Option<&str>) -> Option<&'static str> {
    Some(match done? {
        "categoria" => "Categoría guardada. La línea la usa desde la siguiente llamada.",
        "area" => "Área guardada.",
        "linea" => {
            "Horario y transferencia guardados. La línea los usa desde la siguiente llamada."
        }
        "usuario" => "Cuenta guardada.",
        _ => return None,
    })
}

/// `GET /ajustes`.
pub async fn page(
    State(app): State<AppState>,
    staff: Staff,
    Query(q): Query<DoneQuery>,
) -> Result<Response, ConsoleError> {
    admin_only(&staff)?;
    overview(&app, &staff, notice(q.hecho.as_deref()), None, None).await
}

async fn overview(
    app: &AppState,
    staff: &Staff,
    notice: Option<&'static str>,
    problem: Option<String>,
    typed: Option<(&str, &str)>,
) -> Result<Response, ConsoleError> {
    let categories = app.store.category_settings().await?;
    let departments = app.store.department_settings().await?;
    let history = app.store.settings_history(HISTORY).await?;
    let (hours_set, transfer_set) = app.live.overridden();
    let (hours, transfer) = match typed {
        Some((h, t)) => (h.to_owned(), t.to_owned()),
        None => (
            app.live.office_hours().to_string(),
            app.live
                .transfer_number()
                .map(|n| n.as_str().to_owned())
                .unwrap_or_default(),
        ),
    };
    let page = views::Settings {
        page: Page::of(app, staff, "Ajustes"),
        csrf: &staff.csrf,
        notice,
        problem,
        categories: categories
            .iter()
            .map(|c| views::SettingsRow {
                href: format!("/ajustes/categorias/{}", c.id),
                name: c.name.clone(),
                cells: vec![
                    c.digit.clone().unwrap_or_else(|| "—".into()),
                    c.department_name.clone(),
                    if c.asks_urgency { "Sí" } else { "No" }.into(),
                    format!(
                        "{} h / {} d / {} d",
                        c.classify_hours, c.first_response_days, c.resolve_days
                    ),
                    if c.active { "Activa" } else { "Inactiva" }.into(),
                ],
            })
            .collect(),
        departments: departments
            .iter()
            .map(|d| views::SettingsRow {
                href: format!("/ajustes/areas/{}", d.id),
                name: d.name.clone(),
                cells: vec![
                    d.contact_number.clone().unwrap_or_else(|| "—".into()),
                    if d.active { "Activa" } else { "Inactiva" }.into(),
                ],
            })
            .collect(),
        hours,
        transfer,
        hours_from_config: !hours_set,
        transfer_from_config: !transfer_set,
        history: history
            .into_iter()
            .map(|e| Entry {
                when: views::date_time(e.at),
                who: e.actor,
                what: e.what,
                note: e.detail,
            })
            .collect(),
    };
    Ok((status_of(&page.problem), page).into_response())
}

#[derive(Debug, Deserialize)]
pub struct LineForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    horario: String,
    #[serde(default)]
    transferencia: String,
}

/// A Mexican number as typed (10 digits, +52, spaces), or E.164.
fn phone_of(typed: &str) -> Option<PhoneNumber> {
    PhoneNumber::from_typed(typed).ok()
}

/// 422 when the page shows why a change was refused, else 200.
fn status_of(problem: &Option<String>) -> StatusCode {
    if problem.is_some() {
        StatusCode::UNPROCESSABLE_ENTITY
    } else {
        StatusCode::OK
    }
}

/// `POST /ajustes/linea`: office hours and transfer number (empty: the configuration's).
pub async fn save_line(
    State(app): State<AppState>,
    staff: Staff,
    Form(form): Form<LineForm>,
) -> Result<Response, ConsoleError> {
    staff.check_csrf(&form.csrf)?;
    admin_only(&staff)?;
    let hours = form.horario.trim();
    let transfer = form.transferencia.trim();
    let typed = Some((hours, transfer));
    if !hours.is_empty() && hours.parse::<OfficeHours>().is_err() {
        let why =
            "El horario no se entiende. Escríbalo como «lun-vie 09:00-15:00; sab 09:00-13:00».";
        return overview(&app, &staff, None, Some(why.into()), typed).await;
    }
    let number = match transfer {
        "" => None,
        t => match phone_of(t) {
            Some(n) => Some(n),
            None => {
                let why =
                    "El número de transferencia debe ser un teléfono de México de 10 dígitos.";
                return overview(&app, &staff, None, Some(why.into()), typed).await;
            }
        },
    };
    let number_text = number
        .as_ref()
        .map(|n| n.as_str().to_owned())
        .unwrap_or_default();
    let detail = format!(
        "horario: {}; transferencia: {}",
        if hours.is_empty() {
            "el de la configuración"
        } else {
            hours
        },
        if number_text.is_empty() {
            "la de la configuración"
        } else {
            &number_text
        }
    );
    app.store
        .save_settings(
            &[(OFFICE_HOURS, hours), (TRANSFER_NUMBER, &number_text)],
            &staff.name,
            "Horario y transferencia",
            &detail,
            app.clock.now(),
        )
        .await?;
    app.reload_settings().await?;
    Ok(Redirect::to("/ajustes?hecho=linea").into_response())
}

#[derive(Debug, Default, Clone, Deserialize)]
pub struct CategoryForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    nombre: String,
    #[serde(default)]
    tecla: String,
    #[serde(default)]
    area: String,
    #[serde(default)]
    urgencia: String,
    #[serde(default)]
    sensible: String,
    #[serde(default)]
    horas_clasificar: String,
    #[serde(default)]
    dias_respuesta: String,
    #[serde(default)]
    dias_resolver: String,
    #[serde(default)]
    activa: String,
}

/// `GET /ajustes/categorias/nueva`.
pub async fn new_category(
    State(app): State<AppState>,
    staff: Staff,
) -> Result<Response, ConsoleError> {
    admin_only(&staff)?;
    let form = CategoryForm {
        horas_clasificar: "24".into(),
        dias_respuesta: "5".into(),
        dias_resolver: "40".into(),
        activa: "1".into(),
        ..CategoryForm::default()
    };
    category_page(&app, &staff, None, &form, None).await
}

/// `GET /ajustes/categorias/{id}`.
pub async fn category(
    State(app): State<AppState>,
    staff: Staff,
    Path(id): Path<i64>,
) -> Result<Response, ConsoleError> {
    admin_only(&staff)?;
    let categories = app.store.category_settings().await?;
    let c = categories
        .iter()
        .find(|c| c.id == id)
        .ok_or(ConsoleError::NotFound)?;
    let flag = |b: bool| if b { "1".to_owned() } else { String::new() };
    let form = CategoryForm {
        csrf: String::new(),
        nombre: c.name.clone(),
        tecla: c.digit.clone().unwrap_or_default(),
        area: c.department_id.to_string(),
        urgencia: flag(c.asks_urgency),
        sensible: flag(c.sensitive),
        horas_clasificar: c.classify_hours.to_string(),
        dias_respuesta: c.first_response_days.to_string(),
        dias_resolver: c.resolve_days.to_string(),
        activa: flag(c.active),
    };
    category_page(&app, &staff, Some(id), &form, None).await
}

async fn category_page(
    app: &AppState,
    staff: &Staff,
    id: Option<i64>,
    f: &CategoryForm,
    problem: Option<String>,
) -> Result<Response, ConsoleError> {
    let departments = app.store.department_settings().await?;
    let page = views::SettingsCategory {
        page: Page::of(
            app,
            staff,
            if id.is_some() {
                "Categoría"
            } else {
                "Nueva categoría"
            },
        ),
        csrf: &staff.csrf,
        action: match id {
            Some(id) => format!("/ajustes/categorias/{id}"),
            None => "/ajustes/categorias".into(),
        },
        new: id.is_none(),
        name: &f.nombre,
        keys: std::iter::once(Choice::new(
            "",
            "Sin tecla (no está en el menú)",
            f.tecla.is_empty(),
        ))
        .chain((1..=8).map(|k| Choice::new(k, k, f.tecla == k.to_string())))
        .collect(),
        departments: departments
            .iter()
            .filter(|d| d.active || f.area == d.id.to_string())
            .map(|d| Choice::new(d.id, &d.name, f.area == d.id.to_string()))
            .collect(),
        asks_urgency: !f.urgencia.is_empty(),
        sensitive: !f.sensible.is_empty(),
        classify_hours: &f.horas_clasificar,
        first_response_days: &f.dias_respuesta,
        resolve_days: &f.dias_resolver,
        active: !f.activa.is_empty(),
        problem,
    };
    Ok((status_of(&page.problem), page).into_response())
}

/// A whole number within `range`, or the reason in words.
fn number_in(text: &str, range: std::ops::RangeInclusive<i64>, what: &str) -> Result<i64, String> {
    text.trim()
        .parse::<i64>()
        .ok()
        .filter(|n| range.contains(n))
        .ok_or_else(|| {
            format!(
                "{what} debe ser un número entre {} y {}.",
                range.start(),
                range.end()
            )
        })
}

/// Says a refusal in words.
fn refusal_text(r: SettingsRefusal, kind: &str) -> String {
    match r {
        SettingsRefusal::KeyTaken { key, by } => format!(
            "La tecla {key} ya es de la categoría «{by}». Elija otra tecla, o quítesela primero a esa categoría."
        ),
        SettingsRefusal::EmptyMenu => "El menú telefónico quedaría sin categorías: deje al menos una categoría activa con tecla.".into(),
        SettingsRefusal::NameTaken => format!("Ya existe {kind} con ese nombre."),
        SettingsRefusal::DepartmentInUse { categories } => format!(
            "Estas categorías activas van a esa área: {}. Páselas a otra área antes de desactivarla.",
            categories.join(", ")
        ),
        SettingsRefusal::Missing => "Ya no existe; vuelva a la lista de ajustes.".into(),
    }
}

/// `POST /ajustes/categorias` (new) and `POST /ajustes/categorias/{id}`.
pub async fn save_category(
    State(app): State<AppState>,
    staff: Staff,
    id: Option<Path<i64>>,
    Form(form): Form<CategoryForm>,
) -> Result<Response, ConsoleError> {
    staff.check_csrf(&form.csrf)?;
    admin_only(&staff)?;
    let id = id.map(|Path(id)| id);
    let checked = (|| -> Result<CategoryEdit<'_>, String> {
        let name = form.nombre.trim();
        if name.is_empty() || name.chars().count() > 80 {
            return Err("Escriba el nombre de la categoría (hasta 80 caracteres).".into());
        }
        let digit = match form.tecla.trim() {
            "" => None,
            k if k.len() == 1 && ("1"..="8").contains(&k) => Some(k),
            _ => return Err("La tecla del menú va del 1 al 8.".into()),
        };
        let department_id = form
            .area
            .parse::<i64>()
            .map_err(|_| "Elija el área responsable.".to_owned())?;
        Ok(CategoryEdit {
            id,
            name,
            digit,
            department_id,
            asks_urgency: !form.urgencia.is_empty(),
            sensitive: !form.sensible.is_empty(),
            classify_hours: number_in(&form.horas_clasificar, 1..=720, "El plazo para clasificar")?,
            first_response_days: number_in(&form.dias_respuesta, 1..=90, "El plazo de respuesta")?,
            resolve_days: number_in(&form.dias_resolver, 1..=365, "El plazo para resolver")?,
            active: !form.activa.is_empty(),
        })
    })();
    let edit = match checked {
        Ok(edit) => edit,
        Err(why) => return category_page(&app, &staff, id, &form, Some(why)).await,
    };
    let departments = app.store.department_settings().await?;
    if !departments.iter().any(|d| d.id == edit.department_id) {
        let why = "Elija el área responsable.".to_owned();
        return category_page(&app, &staff, id, &form, Some(why)).await;
    }
    match app
        .store
        .save_category(&edit, &staff.name, app.clock.now())
        .await?
    {
        Ok(_) => Ok(Redirect::to("/ajustes?hecho=categoria").into_response()),
        Err(SettingsRefusal::Missing) => Err(ConsoleError::NotFound),
        Err(r) => {
            let why = refusal_text(r, "una categoría");
            category_page(&app, &staff, id, &form, Some(why)).await
        }
    }
}

#[derive(Debug, Default, Clone, Deserialize)]
pub struct DepartmentForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    nombre: String,
    #[serde(default)]
    contacto: String,
    #[serde(default)]
    activa: String,
}

/// `GET /ajustes/areas/nueva`.
pub async fn new_department(
    State(app): State<AppState>,
    staff: Staff,
) -> Result<Response, ConsoleError> {
    admin_only(&staff)?;
    let form = DepartmentForm {
        activa: "1".into(),
        ..DepartmentForm::default()
    };
    department_page(&app, &staff, None, &form, None)
}

/// `GET /ajustes/areas/{id}`.
pub async fn department(
    State(app): State<AppState>,
    staff: Staff,
    Path(id): Path<i64>,
) -> Result<Response, ConsoleError> {
    admin_only(&staff)?;
    let departments = app.store.department_settings().await?;
    let d = departments
        .iter()
        .find(|d| d.id == id)
        .ok_or(ConsoleError::NotFound)?;
    let form = DepartmentForm {
        csrf: String::new(),
        nombre: d.name.clone(),
        contacto: d.contact_number.clone().unwrap_or_default(),
        activa: if d.active { "1".into() } else { String::new() },
    };
    department_page(&app, &staff, Some(id), &form, None)
}

fn department_page(
    app: &AppState,
    staff: &Staff,
    id: Option<i64>,
    f: &DepartmentForm,
    problem: Option<String>,
) -> Result<Response, ConsoleError> {
    let page = views::SettingsDepartment {
        page: Page::of(app, staff, if id.is_some() { "Área" } else { "Nueva área" }),
        csrf: &staff.csrf,
        action: match id {
            Some(id) => format!("/ajustes/areas/{id}"),
            None => "/ajustes/areas".into(),
        },
        new: id.is_none(),
        name: &f.nombre,
        contact: &f.contacto,
        active: !f.activa.is_empty(),
        problem,
    };
    Ok((status_of(&page.problem), page).into_response())
}

/// `POST /ajustes/areas` (new) and `POST /ajustes/areas/{id}`.
pub async fn save_department(
    State(app): State<AppState>,
    staff: Staff,
    id: Option<Path<i64>>,
    Form(form): Form<DepartmentForm>,
) -> Result<Response, ConsoleError> {
    staff.check_csrf(&form.csrf)?;
    admin_only(&staff)?;
    let id = id.map(|Path(id)| id);
    let name = form.nombre.trim();
    if name.is_empty() || name.chars().count() > 120 {
        let why = "Escriba el nombre del área (hasta 120 caracteres).".to_owned();
        return department_page(&app, &staff, id, &form, Some(why));
    }
    let contact = match form.contacto.trim() {
        "" => None,
        typed => match phone_of(typed) {
            Some(n) => Some(n),
            None => {
                let why = "El contacto debe ser un celular de México de 10 dígitos (recibe los avisos por SMS).".to_owned();
                return department_page(&app, &staff, id, &form, Some(why));
            }
        },
    };
    let edit = DepartmentEdit {
        id,
        name,
        contact_number: contact.as_ref().map(|n| n.as_str()),
        active: !form.activa.is_empty(),
    };
    match app
        .store
        .save_department(&edit, &staff.name, app.clock.now())
        .await?
    {
        Ok(_) => Ok(Redirect::to("/ajustes?hecho=area").into_response()),
        Err(SettingsRefusal::Missing) => Err(ConsoleError::NotFound),
        Err(r) => {
            let why = refusal_text(r, "un área");
            department_page(&app, &staff, id, &form, Some(why))
        }
    }
}

/// `GET /ajustes/usuarios`.
pub async fn users(
    State(app): State<AppState>,
    staff: Staff,
    Query(q): Query<DoneQuery>,
) -> Result<Response, ConsoleError> {
    admin_only(&staff)?;
    users_page(&app, &staff, notice(q.hecho.as_deref()), None).await
}

async fn users_page(
    app: &AppState,
    staff: &Staff,
    notice: Option<&'static str>,
    problem: Option<String>,
) -> Result<Response, ConsoleError> {
    let users = app.store.users().await?;
    let departments = app.store.department_settings().await?;
    let page = views::SettingsUsers {
        page: Page::of(app, staff, "Cuentas"),
        csrf: &staff.csrf,
        notice,
        problem,
        roles: [Role::Operador, Role::Area, Role::Admin]
            .iter()
            .map(|r| Choice::new(r.code(), role_label(*r), false))
            .collect(),
        departments: departments
            .iter()
            .filter(|d| d.active)
            .map(|d| Choice::new(&d.code, &d.name, false))
            .collect(),
        users: users
            .iter()
            .map(|u| views::UserRow {
                id: u.id,
                name: u.name.clone(),
                role: role_label(u.role).to_owned(),
                department: u.department_name.clone().unwrap_or_default(),
                active: u.active,
                myself: u.id == staff.id,
            })
            .collect(),
    };
    Ok((status_of(&page.problem), page).into_response())
}

/// Failed sign-ins the admin's list shows.
const FAILURES_SHOWN: i64 = 100;

/// `GET /ajustes/accesos`: the latest failed sign-ins, so an admin sees guessing as it
/// happens. A name that is no account shows as its hash: people type passwords there.
pub async fn sign_ins(State(app): State<AppState>, staff: Staff) -> Result<Response, ConsoleError> {
    admin_only(&staff)?;
    let failures = app.store.recent_login_failures(FAILURES_SHOWN).await?;
    let page = views::SettingsAccess {
        page: Page::of(&app, &staff, "Intentos fallidos de entrar"),
        shown: FAILURES_SHOWN,
        failures: failures
            .into_iter()
            .map(|f| views::FailureRow {
                at: views::date_time(f.at),
                user: match f.user_name.strip_prefix("unknown:") {
                    Some(hash) if !f.known => format!("Nombre desconocido ({hash})"),
                    _ => f.user_name,
                },
                address: f.address,
                device: if f.known_device {
                    "Equipo conocido"
                } else {
                    "Equipo nuevo"
                },
                paused: f.paused,
            })
            .collect(),
    };
    Ok(page.into_response())
}

fn role_label(role: Role) -> &'static str {
    match role {
        Role::Admin => "Administración",
        Role::Operador => "Participación Ciudadana",
        Role::Area => "Área",
    }
}

#[derive(Debug, Default, Deserialize)]
pub struct UserForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    nombre: String,
    #[serde(default)]
    rol: String,
    #[serde(default)]
    area: String,
    #[serde(default)]
    contrasena: String,
    /// For an existing account: `rol`, `contrasena`, `desactivar` or `reactivar`.
    #[serde(default)]
    accion: String,
}

/// The role and department chosen, checked.
fn role_of(form: &UserForm) -> Result<(Role, Option<&str>), &'static str> {
    let role = Role::from_code(&form.rol).ok_or("Elija el rol de la cuenta.")?;
    match (role, form.area.trim()) {
        (Role::Area, "") => Err("Una cuenta de área necesita su área."),
        (Role::Area, code) => Ok((role, Some(code))),
        (_, _) => Ok((role, None)),
    }
}

/// `POST /ajustes/usuarios`: a new account.
pub async fn create_user(
    State(app): State<AppState>,
    staff: Staff,
    Form(form): Form<UserForm>,
) -> Result<Response, ConsoleError> {
    staff.check_csrf(&form.csrf)?;
    admin_only(&staff)?;
    let problem = match new_account(&form) {
        Err(why) => Some(why),
        Ok((name, role, department, hash)) => {
            let created = app
                .store
                .create_user(&NewUser {
                    name: &name,
                    password_hash: &hash,
                    role,
                    department_code: department.as_deref(),
                    at: app.clock.now(),
                })
                .await;
            match created {
                Ok(_) => {
                    let detail = format!(
                        "{name}: {}{}",
                        role_label(role),
                        department.map(|d| format!(", {d}")).unwrap_or_default()
                    );
                    app.store
                        .note_settings_change(
                            &staff.name,
                            "Cuenta creada",
                            &detail,
                            app.clock.now(),
                        )
                        .await?;
                    None
                }
                Err(crate::store::StoreError::Conflict(_)) => {
                    Some("Ya existe una cuenta con ese nombre.".to_owned())
                }
                Err(e) => return Err(e.into()),
            }
        }
    };
    match problem {
        None => Ok(Redirect::to("/ajustes/usuarios?hecho=usuario").into_response()),
        Some(why) => users_page(&app, &staff, None, Some(why)).await,
    }
}

/// A new account's name, role, department and password hash, checked.
fn new_account(form: &UserForm) -> Result<(String, Role, Option<String>, String), String> {
    let name = form.nombre.trim();
    let valid_name = (3..=40).contains(&name.chars().count())
        && name
            .chars()
            .all(|c| c.is_alphanumeric() || matches!(c, '.' | '_' | '-'));
    if !valid_name {
        return Err("El nombre de usuario lleva de 3 a 40 letras, números, punto, guion o guion bajo, sin espacios.".into());
    }
    let (role, department) = role_of(form).map_err(str::to_owned)?;
    let hash = password_hash(&form.contrasena)?;
    Ok((name.to_owned(), role, department.map(str::to_owned), hash))
}

fn password_hash(password: &str) -> Result<String, String> {
    crate::staff::password::hash(password).map_err(|_| {
        format!(
            "La contraseña debe tener al menos {} caracteres.",
            crate::staff::password::MIN_LENGTH
        )
    })
}

/// A change to an existing account, checked, with its history entry.
struct AccountChange {
    role: Option<(Role, Option<String>)>,
    password_hash: Option<String>,
    active: Option<bool>,
    what: &'static str,
    detail: String,
}

/// A change to an existing account, checked: the change, its history entry and detail.
fn account_change(
    form: &UserForm,
    user: &crate::store::StaffUser,
    me: i64,
) -> Result<AccountChange, String> {
    match form.accion.as_str() {
        "rol" => {
            let (role, department) = role_of(form).map_err(str::to_owned)?;
            if user.id == me && role != Role::Admin {
                return Err("No puede quitarse a sí mismo el rol de administración.".into());
            }
            let detail = format!(
                "{}: {}{}",
                user.name,
                role_label(role),
                department.map(|d| format!(", {d}")).unwrap_or_default()
            );
            Ok(AccountChange {
                role: Some((role, department.map(str::to_owned))),
                password_hash: None,
                active: None,
                what: "Rol cambiado",
                detail,
            })
        }
        "contrasena" => {
            let hash = password_hash(&form.contrasena)?;
            let detail = format!("{}: sus sesiones se cerraron", user.name);
            Ok(AccountChange {
                role: None,
                password_hash: Some(hash),
                active: None,
                what: "Contraseña restablecida",
                detail,
            })
        }
        "desactivar" | "reactivar" => {
            let active = form.accion == "reactivar";
            if user.id == me && !active {
                return Err("No puede desactivar su propia cuenta.".into());
            }
            let what = if active {
                "Cuenta reactivada"
            } else {
                "Cuenta desactivada"
            };
            Ok(AccountChange {
                role: None,
                password_hash: None,
                active: Some(active),
                what,
                detail: user.name.clone(),
            })
        }
        _ => Err("Elija qué cambiar.".into()),
    }
}

/// `POST /ajustes/usuarios/{id}`: change an account's role, password, or whether it is active.
pub async fn change_user(
    State(app): State<AppState>,
    staff: Staff,
    Path(id): Path<i64>,
    Form(form): Form<UserForm>,
) -> Result<Response, ConsoleError> {
    staff.check_csrf(&form.csrf)?;
    admin_only(&staff)?;
    let user = app.store.user(id).await?.ok_or(ConsoleError::NotFound)?;
    let problem = match account_change(&form, &user, staff.id) {
        Err(why) => Some(why),
        Ok(AccountChange {
            role,
            password_hash,
            active,
            what,
            detail,
        }) => {
            let change = UserChange {
                role: role.as_ref().map(|(r, d)| (*r, d.as_deref())),
                password_hash: password_hash.as_deref(),
                active,
            };
            app.store
                .change_user(&user.name, &change, app.clock.now())
                .await?;
            app.store
                .note_settings_change(&staff.name, what, &detail, app.clock.now())
                .await?;
            None
        }
    };
    match problem {
        None => Ok(Redirect::to("/ajustes/usuarios?hecho=usuario").into_response()),
        Some(why) => users_page(&app, &staff, None, Some(why)).await,
    }
}
