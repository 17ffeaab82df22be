//! Who is using the console: signing in and out, the [`Staff`] every page requires, CSRF.
//!
//! - A session holds the user's id and a stamp of their password hash; every request reloads
//!   the account, so a closed account or a changed password ends its sessions at once.
//! - Signing in gives the session a new id (no fixation) and a new CSRF token. Every form
//!   carries the token, and every POST checks it against the session's, in constant time.
//! - Guessing is slowed per account (5 failures in 15 minutes) and per address (30). An
//!   unknown name is checked against a dummy hash, so it costs the time a wrong password does,
//!   and both get the same answer.

use super::{ConsoleError, Page, views};
use crate::domain::Role;
use crate::staff::password;
use crate::state::AppState;
use crate::store::{StaffUser, Visibility};
use axum::extract::{ConnectInfo, Form, FromRequestParts, Query, State};
use axum::http::StatusCode;
use axum::http::request::Parts;
use axum::response::{IntoResponse, Redirect, Response};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::net::SocketAddr;
use std::sync::OnceLock;
use tower_sessions::Session;

/// Session keys.
const SIGNED_IN: &str = "staff";
const CSRF: &str = "csrf";

/// Failures before sign-in is paused, and for how long they count.
const MAX_FAILURES_PER_ACCOUNT: i64 = 5;
const MAX_FAILURES_PER_ADDRESS: i64 = 30;
const FAILURE_WINDOW_MINUTES: i64 = 15;

/// What the session keeps about who signed in.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct SignedIn {
    user_id: i64,
    /// A fingerprint of the password hash at sign-in: a new password ends the session.
    stamp: String,
}

fn stamp(user: &StaffUser) -> String {
    let digest = Sha256::digest(user.password_hash.as_bytes());
    digest.iter().take(12).map(|b| format!("{b:02x}")).collect()
}

/// A random token for forms.
fn new_token() -> String {
    use rand::Rng;
    let bytes: [u8; 24] = rand::rng().random();
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Equal, in time that does not depend on where they differ.
fn same(a: &str, b: &str) -> bool {
    a.len() == b.len()
        && a.bytes()
            .zip(b.bytes())
            .fold(0u8, |acc, (x, y)| acc | (x ^ y))
            == 0
}

/// A signed-in member of staff, reloaded from the store on every request.
#[derive(Debug, Clone)]
pub struct Staff {
    pub id: i64,
    pub name: String,
    pub role: Role,
    pub department_id: Option<i64>,
    pub department_name: Option<String>,
    /// The session's CSRF token, for the forms of the page.
    pub csrf: String,
    /// How many numbers the office owes a call back (the navigation shows it to the office).
    pub owed_calls: Option<i64>,
}

impl Staff {
    /// Which cases this person may see.
    pub fn visibility(&self) -> Visibility {
        match (self.role, self.department_id) {
            (Role::Area, Some(id)) => Visibility::Department(id),
            // An area account without a department sees nothing: department 0 does not exist.
            (Role::Area, None) => Visibility::Department(0),
            _ => Visibility::All,
        }
    }

    /// Participación Ciudadana or an admin.
    pub fn is_office(&self) -> bool {
        matches!(self.role, Role::Admin | Role::Operador)
    }

    /// A citizen's number as this person may see it: whole for the office, the last four
    /// digits for a department; `none` when there is no number.
    pub fn sees_number(&self, number: Option<&str>, none: &str) -> String {
        match number {
            Some(n) if self.is_office() => n.to_owned(),
            Some(n) => super::views::masked(n),
            None => none.to_owned(),
        }
    }

    /// Refuses a form whose token is not this session's.
    pub fn check_csrf(&self, token: &str) -> Result<(), ConsoleError> {
        if same(token, &self.csrf) {
            Ok(())
        } else {
            Err(ConsoleError::BadToken)
        }
    }
}

impl FromRequestParts<AppState> for Staff {
    type Rejection = ConsoleError;

    async fn from_request_parts(parts: &mut Parts, app: &AppState) -> Result<Staff, ConsoleError> {
        let next = parts
            .uri
            .path_and_query()
            .map_or("/", |pq| pq.as_str())
            .to_owned();
        let session = Session::from_request_parts(parts, app)
            .await
            .map_err(|_| ConsoleError::NotSignedIn { next: next.clone() })?;
        let signed_in: Option<SignedIn> = session.get(SIGNED_IN).await.map_err(session_error)?;
        let Some(signed_in) = signed_in else {
            return Err(ConsoleError::NotSignedIn { next });
        };
        let user = app.store.user(signed_in.user_id).await?;
        let Some(user) = user.filter(|u| u.active && stamp(u) == signed_in.stamp) else {
            session.flush().await.map_err(session_error)?;
            return Err(ConsoleError::NotSignedIn { next });
        };
        let csrf = session_token(&session).await?;
        let office = matches!(user.role, Role::Admin | Role::Operador);
        let owed_calls = if office {
            Some(app.store.calls_owed_count(app.clock.now()).await?)
        } else {
            None
        };
        Ok(Staff {
            id: user.id,
            name: user.name,
            role: user.role,
            department_id: user.department_id,
            department_name: user.department_name,
            csrf,
            owed_calls,
        })
    }
}

fn session_error(e: tower_sessions::session::Error) -> ConsoleError {
    ConsoleError::Internal(format!("session: {e}"))
}

/// The CSRF token of the session, made if it has none (the sign-in form's).
async fn session_token(session: &Session) -> Result<String, ConsoleError> {
    if let Some(token) = session.get::<String>(CSRF).await.map_err(session_error)? {
        return Ok(token);
    }
    let token = new_token();
    session.insert(CSRF, &token).await.map_err(session_error)?;
    Ok(token)
}

/// Where to go after signing in: a path of ours, never another site. Browsers drop tabs and
/// line breaks from a URL (so `/\t/evil.example` is `//evil.example`) and read `\` as `/`: a
/// path with any of those, or any other control character or space, is refused.
fn safe_next(next: Option<&str>) -> String {
    match next {
        Some(n)
            if n.starts_with('/')
                && !n.starts_with("//")
                && !n.contains('\\')
                && !n.chars().any(|c| c.is_control() || c.is_whitespace()) =>
        {
            n.to_owned()
        }
        _ => "/".to_owned(),
    }
}

#[derive(Debug, Deserialize)]
pub struct LoginQuery {
    siguiente: Option<String>,
}

/// `GET /entrar`: the sign-in form.
pub async fn login_page(
    State(app): State<AppState>,
    session: Session,
    Query(query): Query<LoginQuery>,
) -> Result<Response, ConsoleError> {
    let csrf = session_token(&session).await?;
    let page = views::Login {
        page: Page::anonymous(&app, "Entrar"),
        csrf,
        next: safe_next(query.siguiente.as_deref()),
        user_name: String::new(),
        error: None,
    };
    Ok(page.into_response())
}

#[derive(Debug, Deserialize)]
pub struct LoginForm {
    #[serde(default)]
    usuario: String,
    #[serde(default)]
    contrasena: String,
    /// Missing is the same as wrong: refused as a bad token (403), never a parse error.
    #[serde(default)]
    csrf: String,
    siguiente: Option<String>,
}

/// The hash an unknown name is checked against, so that it costs what a wrong password does.
fn dummy_hash() -> &'static str {
    static DUMMY: OnceLock<String> = OnceLock::new();
    DUMMY.get_or_init(|| password::hash("una contraseña que nadie tiene").expect("hashes"))
}

/// Makes the dummy hash ahead of the first sign-in, on a thread of its own, so that the first
/// unknown name does not cost a hash more than a wrong password.
pub fn warm_up() {
    std::thread::spawn(|| {
        dummy_hash();
    });
}

/// `POST /entrar`.
pub async fn login(
    State(app): State<AppState>,
    session: Session,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    Form(form): Form<LoginForm>,
) -> Result<Response, ConsoleError> {
    let expected = session_token(&session).await?;
    if !same(&form.csrf, &expected) {
        return Err(ConsoleError::BadToken);
    }
    let name = form.usuario.trim().to_owned();
    let address = peer.ip().to_string();
    let now = app.clock.now();
    let since = crate::domain::Timestamp::from_utc(
        now.as_utc() - chrono::Duration::minutes(FAILURE_WINDOW_MINUTES),
    );
    let retry = |error: &'static str, status: StatusCode| {
        let page = views::Login {
            page: Page::anonymous(&app, "Entrar"),
            csrf: expected.clone(),
            next: safe_next(form.siguiente.as_deref()),
            user_name: name.clone(),
            error: Some(error),
        };
        (status, page).into_response()
    };
    // The attempt is noted (as a failure) before it is counted or checked: guesses sent all at
    // once each count the others already noted, so no more than the limit are ever checked.
    // Both counts include this attempt; a refused one stays a failure (waiting means waiting).
    let attempt = app.store.begin_login_attempt(&name, &address, now).await?;
    let (by_account, by_address) = app.store.failed_logins(&name, &address, since).await?;
    if by_account > MAX_FAILURES_PER_ACCOUNT || by_address > MAX_FAILURES_PER_ADDRESS {
        tracing::warn!(
            user = name,
            address,
            "sign-in paused after too many failures"
        );
        return Ok(retry(
            "Demasiados intentos fallidos. Espere 15 minutos e intente de nuevo.",
            StatusCode::TOO_MANY_REQUESTS,
        ));
    }
    let user = app.store.user_by_name(&name).await?.filter(|u| u.active);
    // One Argon2 verification whatever the name: the same time for an unknown user.
    // Off the async threads, the dummy hash included (made once, see `warm_up`).
    let hash = user.as_ref().map(|u| u.password_hash.clone());
    let typed = form.contrasena.clone();
    let matches = tokio::task::spawn_blocking(move || {
        password::verify(&typed, hash.as_deref().unwrap_or_else(|| dummy_hash()))
    })
    .await
    .unwrap_or(false);
    let user = user.filter(|_| matches);
    if user.is_some() {
        app.store.login_succeeded(attempt).await?;
    }
    let Some(user) = user else {
        tracing::info!(user = name, address, "sign-in refused");
        return Ok(retry(
            "Usuario o contraseña incorrectos.",
            StatusCode::UNAUTHORIZED,
        ));
    };
    // A new id at sign-in: a session id seen before it is worth nothing after.
    session.cycle_id().await.map_err(session_error)?;
    session
        .insert(
            SIGNED_IN,
            SignedIn {
                user_id: user.id,
                stamp: stamp(&user),
            },
        )
        .await
        .map_err(session_error)?;
    session
        .insert(CSRF, new_token())
        .await
        .map_err(session_error)?;
    tracing::info!(user = name, role = %user.role, "signed in");
    Ok(Redirect::to(&safe_next(form.siguiente.as_deref())).into_response())
}

#[derive(Debug, Deserialize)]
pub struct TokenForm {
    #[serde(default)]
    pub csrf: String,
}

/// `POST /salir`: the session ends.
pub async fn logout(
    staff: Staff,
    session: Session,
    Form(form): Form<TokenForm>,
) -> Result<Response, ConsoleError> {
    staff.check_csrf(&form.csrf)?;
    session.flush().await.map_err(session_error)?;
    Ok(Redirect::to("/entrar").into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_our_own_paths_are_followed_after_sign_in() {
        assert_eq!(safe_next(Some("/casos/1000016")), "/casos/1000016");
        assert_eq!(safe_next(Some("//evil.example/")), "/");
        assert_eq!(safe_next(Some("https://evil.example/")), "/");
        assert_eq!(safe_next(Some("/\\evil.example")), "/");
        assert_eq!(safe_next(Some("/\t/evil.example")), "/");
        assert_eq!(safe_next(Some("/\n/evil.example")), "/");
        assert_eq!(safe_next(Some("/ /evil.example")), "/");
        assert_eq!(safe_next(None), "/");
    }

    #[test]
    fn tokens_compare_whole() {
        assert!(same("abc", "abc"));
        assert!(!same("abc", "abd"));
        assert!(!same("abc", "ab"));
        assert_eq!(new_token().len(), 48);
        assert_ne!(new_token(), new_token());
    }
}
