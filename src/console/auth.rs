//! Who is using the console: signing in and out, the [`Staff`] every page requires, CSRF.
//!
//! - A session holds the user's id and a stamp of their password hash; every request reloads
//!   the account, so a closed account or a changed password ends its sessions at once.
//! - Signing in gives the session a new id (no fixation) and a new CSRF token. Every form
//!   carries the token, and every POST checks it against the session's, in constant time.
//! - A session has an idle limit (`ATIENDE_SESSION_IDLE_MINUTES`, the session layer's) and an
//!   absolute one (`ATIENDE_SESSION_MAX_HOURS`, from sign-in whatever the use, checked here).
//! - Nothing is written for a visitor who has not signed in: the sign-in form's token lives in
//!   a cookie of its own (see [`sign_in_guard`]), not in a session.
//! - Guessing is slowed per account and per address, and a browser the account already signed
//!   in from is not paused by strangers' failures (see [`sign_in_guard`]). An unknown name is
//!   checked against a dummy hash, so it costs the time a wrong password does, and both get
//!   the same answer.

use super::sign_in_guard::{self as guard, Keys, SignInRate};
use super::{ConsoleError, Page, views};
use crate::domain::Role;
use crate::staff::password;
use crate::state::AppState;
use crate::store::{FailureScope, NewLoginAttempt, StaffUser, Visibility};
use axum::Extension;
use axum::extract::{ConnectInfo, Form, FromRequestParts, Query, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::net::SocketAddr;
use std::sync::{Arc, OnceLock};
use tower_sessions::Session;

/// Session keys.
const SIGNED_IN: &str = "staff";
const CSRF: &str = "csrf";

/// Sign-in attempts are kept this long (the admin's list of recent failures reads them).
const ATTEMPTS_KEPT: chrono::TimeDelta = chrono::TimeDelta::days(30);
/// Rows each sweep may delete, of expired sessions and of old attempts.
const SWEEP_LIMIT: i64 = 500;

/// What the session keeps about who signed in.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(super) struct SignedIn {
    user_id: i64,
    /// A fingerprint of the password hash at sign-in: a new password ends the session.
    stamp: String,
    /// When they signed in (Unix seconds): the session ends a fixed time after, whatever its
    /// use. A session from before this was kept has none, and ends.
    #[serde(default)]
    pub(super) since: Option<i64>,
}

/// The session key of [`SignedIn`], for the session store's absolute expiry.
pub(super) const SIGNED_IN_KEY: &str = SIGNED_IN;

pub(super) fn stamp(user: &StaffUser) -> String {
    let digest = Sha256::digest(user.password_hash.as_bytes());
    guard::to_hex(&digest[..12])
}

/// A random token for forms.
fn new_token() -> String {
    guard::random_hex(24)
}

/// Equal, in time that does not depend on where they differ.
pub(super) fn same(a: &str, b: &str) -> bool {
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
        let now = app.clock.now().as_utc().timestamp();
        let max = i64::try_from(app.config.sessions.max.as_secs()).unwrap_or(i64::MAX);
        let fresh = signed_in
            .since
            .is_some_and(|since| now < since.saturating_add(max));
        let user = app.store.user(signed_in.user_id).await?;
        let Some(user) = user.filter(|u| fresh && u.active && stamp(u) == signed_in.stamp) else {
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

/// `GET /entrar`: the sign-in form. No session is touched: its token is the form cookie's.
pub async fn login_page(
    State(app): State<AppState>,
    Extension(keys): Extension<Arc<Keys>>,
    headers: HeaderMap,
    Query(query): Query<LoginQuery>,
) -> Result<Response, ConsoleError> {
    let key = keys.get(&app).await?;
    let (csrf, cookie) = guard::form_token(key, &headers, secure(&app));
    let page = views::Login {
        page: Page::anonymous(&app, "Entrar"),
        csrf,
        next: safe_next(query.siguiente.as_deref()),
        user_name: String::new(),
        error: None,
    };
    Ok(guard::with_cookie(page.into_response(), cookie))
}

/// Whether cookies are only for https (the public URL says so).
fn secure(app: &AppState) -> bool {
    app.config.public_url.scheme() == "https"
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

/// `POST /entrar`. Longer than a screen because the order of its steps is the defence, and is
/// easier to check read top to bottom: the form's token; who is asking (account or hashed
/// name, device cookie, client address); the pause, checked before anything is written, so a
/// paused try costs a read and counts for nothing; the attempt noted, then the pause checked
/// again, so guesses sent at once each see the others; only then the password.
pub async fn login(
    State(app): State<AppState>,
    Extension(keys): Extension<Arc<Keys>>,
    Extension(rate): Extension<Arc<SignInRate>>,
    session: Session,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    Form(form): Form<LoginForm>,
) -> Result<Response, ConsoleError> {
    let key = keys.get(&app).await?;
    if !guard::form_token_matches(key, &headers, &form.csrf) {
        return Err(ConsoleError::BadToken);
    }
    let typed = form.usuario.trim().to_owned();
    let client = guard::client_address(&app, peer, &headers);
    let address = client.to_string();
    let now = app.clock.now();
    let retry = |error: String, status: StatusCode| {
        let page = views::Login {
            page: Page::anonymous(&app, "Entrar"),
            csrf: form.csrf.clone(),
            next: safe_next(form.siguiente.as_deref()),
            user_name: typed.clone(),
            error: Some(error),
        };
        (status, page).into_response()
    };
    let account = app.store.user_by_name(&typed).await?;
    // What is logged and kept: an account's name, or else the hash of what was typed.
    let name = match &account {
        Some(user) => user.name.clone(),
        None => key.unknown_name(&typed),
    };
    let device = account
        .as_ref()
        .and_then(|u| guard::device_of(key, &headers, u.id, &stamp(u)));
    // Before anything is written: how fast this address may ask at all.
    if !rate.allow(client, device.is_some()) {
        tracing::warn!(
            address,
            "sign-in requests from this address paused for a moment"
        );
        return Ok(retry(
            "Demasiados intentos seguidos desde este equipo o su red. Espere un minuto e intente de nuevo."
                .to_owned(),
            StatusCode::TOO_MANY_REQUESTS,
        ));
    }
    let limits = Limits {
        app: &app,
        name: &name,
        address: &address,
        now,
    };
    let (device, left) = limits.check(device.as_deref(), None).await?;
    if let Some(left) = left {
        tracing::warn!(
            user = name,
            address,
            "sign-in paused after too many failures"
        );
        return Ok(paused(retry, left));
    }
    let would_pause = limits.would_pause(device.as_deref()).await?;
    let attempt = app
        .store
        .begin_login_attempt(&NewLoginAttempt {
            user_name: &name,
            address: &address,
            device: device.as_deref(),
            paused: would_pause,
            at: now,
        })
        .await?;
    // Others noted at the same moment count now: if they fill the limit, this one is refused
    // unchecked, and taken back (a refused try is no failure).
    if let (_, Some(left)) = limits.check(device.as_deref(), Some(attempt)).await? {
        app.store.forget_login_attempt(attempt).await?;
        tracing::warn!(
            user = name,
            address,
            "sign-in paused after too many failures"
        );
        return Ok(paused(retry, left));
    }
    let user = account.filter(|u| u.active);
    // One Argon2 verification whatever the name: the same time for an unknown user.
    // Off the async threads, the dummy hash included (made once, see `warm_up`).
    let hash = user.as_ref().map(|u| u.password_hash.clone());
    let password = form.contrasena.clone();
    let matches = tokio::task::spawn_blocking(move || {
        password::verify(&password, hash.as_deref().unwrap_or_else(|| dummy_hash()))
    })
    .await
    .unwrap_or(false);
    sweep(&app, now).await;
    let Some(user) = user.filter(|_| matches) else {
        tracing::info!(user = name, address, "sign-in refused");
        return Ok(retry(
            "Usuario o contraseña incorrectos.".to_owned(),
            StatusCode::UNAUTHORIZED,
        ));
    };
    app.store.login_succeeded(attempt).await?;
    // A new id at sign-in: a session id seen before it is worth nothing after.
    session.cycle_id().await.map_err(session_error)?;
    session
        .insert(
            SIGNED_IN,
            SignedIn {
                user_id: user.id,
                stamp: stamp(&user),
                since: Some(now.as_utc().timestamp()),
            },
        )
        .await
        .map_err(session_error)?;
    session
        .insert(CSRF, new_token())
        .await
        .map_err(session_error)?;
    tracing::info!(user = name, role = %user.role, address, "signed in");
    let mut response = Redirect::to(&safe_next(form.siguiente.as_deref())).into_response();
    guard::give_device_cookie(
        key,
        response.headers_mut(),
        user.id,
        &stamp(&user),
        secure(&app),
    );
    Ok(response)
}

/// The answer to a paused try: how long to wait, in words.
fn paused(retry: impl Fn(String, StatusCode) -> Response, left: chrono::TimeDelta) -> Response {
    retry(
        format!(
            "Demasiados intentos fallidos. Por seguridad, espere {} e intente de nuevo.",
            guard::wait_in_words(left)
        ),
        StatusCode::TOO_MANY_REQUESTS,
    )
}

/// The pauses that apply to one sign-in.
struct Limits<'a> {
    app: &'a AppState,
    name: &'a str,
    address: &'a str,
    now: crate::domain::Timestamp,
}

impl Limits<'_> {
    fn since(&self) -> crate::domain::Timestamp {
        crate::domain::Timestamp::from_utc(self.now.as_utc() - guard::WINDOW)
    }

    /// The device cookie that still counts (one paused by its own failures does not: that
    /// browser is a stranger again), and how long this try must wait, if at all. `except` is
    /// this try's own attempt, once noted.
    async fn check(
        &self,
        device: Option<&str>,
        except: Option<i64>,
    ) -> Result<(Option<String>, Option<chrono::TimeDelta>), ConsoleError> {
        let (store, since, except) = (&self.app.store, self.since(), except.unwrap_or(0));
        if let Some(nonce) = device {
            let own = store
                .login_failures(FailureScope::Device(nonce), since, except)
                .await?;
            if guard::pause_left(own, guard::DEVICE_LIMIT, self.now).is_none() {
                return Ok((Some(nonce.to_owned()), None));
            }
        }
        let account = store
            .login_failures(FailureScope::Account(self.name), since, except)
            .await?;
        let address = store
            .login_failures(FailureScope::Address(self.address), since, except)
            .await?;
        let left = [
            guard::pause_left(account, guard::ACCOUNT_LIMIT, self.now),
            guard::pause_left(address, guard::ADDRESS_LIMIT, self.now),
        ]
        .into_iter()
        .flatten()
        .max();
        Ok((None, left))
    }

    /// Whether one more failure would pause this browser (for the admin's list).
    async fn would_pause(&self, device: Option<&str>) -> Result<bool, ConsoleError> {
        let (store, since) = (&self.app.store, self.since());
        let reaches = |count: i64, limit: i64| count + 1 >= limit;
        if let Some(nonce) = device {
            let own = store
                .login_failures(FailureScope::Device(nonce), since, 0)
                .await?;
            return Ok(reaches(own.count, guard::DEVICE_LIMIT));
        }
        let account = store
            .login_failures(FailureScope::Account(self.name), since, 0)
            .await?;
        let address = store
            .login_failures(FailureScope::Address(self.address), since, 0)
            .await?;
        Ok(reaches(account.count, guard::ACCOUNT_LIMIT)
            || reaches(address.count, guard::ADDRESS_LIMIT))
    }
}

/// Deletes expired sessions and old attempts, a bounded batch at each sign-in (after the
/// password check, so it costs the guesser, not the database, the wait). A failure here is
/// logged and does not stop the sign-in.
async fn sweep(app: &AppState, now: crate::domain::Timestamp) {
    let old = crate::domain::Timestamp::from_utc(now.as_utc() - ATTEMPTS_KEPT);
    match app.store.sweep_sign_ins(now, old, SWEEP_LIMIT).await {
        Ok((0, 0)) => {}
        Ok((sessions, attempts)) => tracing::debug!(sessions, attempts, "swept sign-in rows"),
        Err(e) => tracing::warn!(error = %e, "sweeping sign-in rows failed"),
    }
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
