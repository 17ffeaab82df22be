//! The staff console: the web app Participación Ciudadana and the departments work in.
//!
//! Server-rendered HTML (askama templates, checked at compile time, escaping everything), one
//! stylesheet and one small script, both built into the binary: an office network needs no
//! internet. Every page works without the script; it only adds new cases appearing in the
//! inbox and keyboard triage.
//!
//! - [`auth`]: signing in and out, sessions ([`session`]), CSRF, who may see what.
//! - [`inbox`]: the cases, newest and most urgent first, with filters and keyset pages.
//! - [`case`]: a case's page: the recording, triage, routing, notes, the action report,
//!   closing, and the printable work order.
//! - [`media`]: the recording (with HTTP Range) and attachments, to staff allowed to see them.
//! - [`dashboard`]: the office's figures (`/cifras`), charts drawn by [`chart`] with their
//!   tables.
//!
//! Authorisation is decided here on the server for every request, from the role and the
//! department of the signed-in account; a case a user may not see is a 404 like one that does
//! not exist. Every answer carries a Content-Security-Policy without inline script.

mod assets;
mod auth;
mod calls;
mod case;
mod chart;
mod csv;
mod dashboard;
mod inbox;
mod media;
mod new_case;
mod search_limit;
mod session;
mod settings;
mod sign_in_guard;
mod views;

pub use auth::Staff;

use crate::state::AppState;
use crate::store::StoreError;
use axum::Router;
use axum::extract::{DefaultBodyLimit, Request};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use tower_sessions::cookie::SameSite;
use tower_sessions::{Expiry, SessionManagerLayer};

/// The console's routes, with their session layer and security headers.
pub fn router(app: &AppState) -> Router<AppState> {
    auth::warm_up();
    let secure = app.config.public_url.scheme() == "https";
    let lifetimes = app.config.sessions;
    let idle = time::Duration::try_from(lifetimes.idle).unwrap_or(time::Duration::hours(2));
    let sessions = SessionManagerLayer::new(session::DbSessions::new(
        app.store.clone(),
        app.clock.clone(),
        lifetimes,
    ))
    .with_name("atiende_sesion")
    .with_http_only(true)
    .with_same_site(SameSite::Strict)
    .with_secure(secure)
    .with_path("/")
    .with_expiry(Expiry::OnInactivity(idle))
    // Saved on every request, so the idle limit counts from the last use; the absolute limit
    // (`auth`) from sign-in. tower-sessions never saves a session that holds nothing, so a
    // visitor who has not signed in writes no row.
    .with_always_save(true);
    Router::new()
        .route("/", get(inbox::page))
        .route("/bandeja/nuevos", get(inbox::newer))
        .route("/casos.csv", get(inbox::cases_csv))
        .route("/cifras", get(dashboard::page))
        .route("/cifras.csv", get(dashboard::figures_csv))
        .route("/entrar", get(auth::login_page).post(auth::login))
        .route("/salir", post(auth::logout))
        .route("/casos/nuevo", get(new_case::form).post(new_case::create))
        .route("/casos/{folio}", get(case::page))
        .route("/casos/{folio}/clasificar", post(case::triage))
        .route("/casos/{folio}/canalizar", post(case::route))
        .route("/casos/{folio}/estado", post(case::change_status))
        .route("/casos/{folio}/nota", post(case::note))
        // Up to five files of 10 MB each: far above axum's default limit of 2 MB per body.
        .route(
            "/casos/{folio}/informe",
            post(media::action_report).layer(DefaultBodyLimit::max(media::MAX_REPORT_BYTES)),
        )
        .route("/casos/{folio}/orden", get(case::work_order))
        .route("/casos/{folio}/grabacion", get(media::recording))
        .route("/adjuntos/{id}", get(media::attachment))
        .route("/llamadas", get(calls::log))
        .route("/llamadas.csv", get(calls::log_csv))
        .route("/llamadas/{id}", get(calls::call))
        .route("/devolver", get(calls::owed).post(calls::mark))
        .route("/ajustes", get(settings::page))
        .route("/ajustes/linea", post(settings::save_line))
        .route("/ajustes/categorias", post(settings::save_category))
        .route("/ajustes/categorias/nueva", get(settings::new_category))
        .route(
            "/ajustes/categorias/{id}",
            get(settings::category).post(settings::save_category),
        )
        .route("/ajustes/areas", post(settings::save_department))
        .route("/ajustes/areas/nueva", get(settings::new_department))
        .route(
            "/ajustes/areas/{id}",
            get(settings::department).post(settings::save_department),
        )
        .route(
            "/ajustes/usuarios",
            get(settings::users).post(settings::create_user),
        )
        .route("/ajustes/usuarios/{id}", post(settings::change_user))
        .route("/ajustes/accesos", get(settings::sign_ins))
        .route_layer(sessions)
        .layer(axum::Extension(search_limit::SearchLimiter::new()))
        .layer(axum::Extension(sign_in_guard::Keys::new()))
        .layer(axum::Extension(sign_in_guard::SignInRate::new()))
        .merge(assets::router())
        // Only on the console's own routes: an unknown URL keeps the service's fallback (under
        // /twilio/voice, the caller's apology).
        .route_layer(middleware::from_fn(security_headers))
}

/// What every console answer carries: a CSP without inline script, no framing, no sniffing,
/// no referrer beyond our own pages, and (for pages) no caching of personal data.
async fn security_headers(request: Request, next: Next) -> Response {
    let mut response = next.run(request).await;
    let headers = response.headers_mut();
    let set = |h: &mut axum::http::HeaderMap, name, value: &'static str| {
        h.entry(name).or_insert(HeaderValue::from_static(value));
    };
    set(
        headers,
        header::CONTENT_SECURITY_POLICY,
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
         media-src 'self'; connect-src 'self'; form-action 'self'; frame-ancestors 'none'; \
         base-uri 'none'",
    );
    set(headers, header::X_CONTENT_TYPE_OPTIONS, "nosniff");
    set(headers, header::X_FRAME_OPTIONS, "DENY");
    set(headers, header::REFERRER_POLICY, "same-origin");
    set(headers, header::CACHE_CONTROL, "no-store");
    response
}

/// What can go wrong in the console, and what the person sees.
#[derive(Debug)]
pub enum ConsoleError {
    /// Not signed in (or the session ended): to the sign-in page, then back here.
    NotSignedIn { next: String },
    /// No such thing, or not for this user: the same 404 either way.
    NotFound,
    /// A form without this session's token.
    BadToken,
    /// A request that cannot be done, with the reason in Spanish.
    Refused(String),
    /// Too many new searches in a minute (see `search_limit`).
    TooManySearches,
    /// Our fault; logged, never shown.
    Internal(String),
}

impl From<StoreError> for ConsoleError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::Conflict(_) => ConsoleError::Refused(
                "Alguien más cambió este caso mientras tanto. Revise su estado y vuelva a intentarlo."
                    .into(),
            ),
            StoreError::NotFound(_) => ConsoleError::NotFound,
            other => ConsoleError::Internal(other.to_string()),
        }
    }
}

impl From<crate::files::FilesError> for ConsoleError {
    fn from(e: crate::files::FilesError) -> Self {
        ConsoleError::Internal(format!("files: {e}"))
    }
}

impl IntoResponse for ConsoleError {
    fn into_response(self) -> Response {
        let (status, title, message) = match self {
            ConsoleError::NotSignedIn { next } => {
                let to = format!(
                    "/entrar?siguiente={}",
                    url::form_urlencoded::byte_serialize(next.as_bytes()).collect::<String>()
                );
                return Redirect::to(&to).into_response();
            }
            ConsoleError::NotFound => (
                StatusCode::NOT_FOUND,
                "No encontrado",
                "La página que busca no existe o no está a su cargo.".to_owned(),
            ),
            ConsoleError::BadToken => (
                StatusCode::FORBIDDEN,
                "Formulario vencido",
                "El formulario ya no es válido (quizá su sesión cambió). Vuelva a la página, recárguela e intente de nuevo.".to_owned(),
            ),
            ConsoleError::Refused(reason) => (
                StatusCode::UNPROCESSABLE_ENTITY,
                "No se pudo hacer",
                reason,
            ),
            ConsoleError::TooManySearches => (
                StatusCode::TOO_MANY_REQUESTS,
                "Demasiadas búsquedas",
                "Hizo muchas búsquedas seguidas. Espere un minuto y vuelva a buscar.".to_owned(),
            ),
            ConsoleError::Internal(detail) => {
                tracing::error!(detail, "console error");
                (
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "Error del sistema",
                    "Ocurrió un error del sistema; no se guardó nada. Intente de nuevo en un momento.".to_owned(),
                )
            }
        };
        (
            status,
            views::Message {
                title,
                message: &message,
            },
        )
            .into_response()
    }
}

/// Who is signed in, as the layout shows it.
#[derive(Debug, Clone)]
pub struct Who {
    pub name: String,
    pub role: &'static str,
    pub department: Option<String>,
    /// For the sign-out form.
    pub csrf: String,
    /// Participación Ciudadana or admin: sees every case.
    pub office: bool,
    /// How many numbers the office owes a call back (office only).
    pub owed_calls: Option<i64>,
    /// May change the settings.
    pub admin: bool,
}

/// What the layout of every page needs.
#[derive(Debug, Clone)]
pub struct Page {
    pub title: String,
    pub who: Option<Who>,
    pub demo: bool,
}

impl Page {
    pub fn anonymous(app: &AppState, title: &str) -> Page {
        Page {
            title: title.to_owned(),
            who: None,
            demo: app.config.demo_mode(),
        }
    }

    pub fn of(app: &AppState, staff: &Staff, title: &str) -> Page {
        let role = match staff.role {
            crate::domain::Role::Admin => "Administración",
            crate::domain::Role::Operador => "Participación Ciudadana",
            crate::domain::Role::Area => "Área",
        };
        Page {
            title: title.to_owned(),
            who: Some(Who {
                name: staff.name.clone(),
                role,
                department: staff.department_name.clone(),
                csrf: staff.csrf.clone(),
                office: staff.is_office(),
                owed_calls: staff.owed_calls,
                admin: staff.role == crate::domain::Role::Admin,
            }),
            demo: app.config.demo_mode(),
        }
    }
}
