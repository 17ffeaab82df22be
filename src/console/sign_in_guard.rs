//! What stands between a guesser and the sign-in form, without locking the real staff out.
//!
//! The design is OWASP's "device cookies" with progressive pauses:
//!
//! - A browser that signed in as an account gets a **device cookie** for it: the account's id,
//!   a random nonce and an HMAC over them and the account's password stamp, under the console's
//!   key. Failures from such a browser count against that cookie alone, so a stranger's guesses
//!   never pause a browser the account already uses; a cookie that fails itself
//!   ([`DEVICE_LIMIT`] times) is paused like a stranger, and a new password revokes them all.
//! - Every other browser is a stranger: its failures count against the account (or, for a name
//!   that is no account, the hash of that name) and against the client's address, the real one
//!   read through `ATIENDE_TRUSTED_PROXIES`. Past [`ACCOUNT_LIMIT`] or [`ADDRESS_LIMIT`]
//!   failures within [`WINDOW`], each further try waits a pause that doubles from a minute to
//!   [`MAX_PAUSE`], counted from the latest failure. A try refused by a pause is not checked,
//!   not counted and not written: waiting is enough to get in again.
//! - The sign-in form's CSRF token needs no session: it is the HMAC of a random cookie of the
//!   form's own (a signed double submit), so an anonymous visitor writes nothing.
//! - A name that is no account is never logged or kept as typed (people type their password
//!   there): it becomes `unknown:` and eight hex digits of its keyed hash.

use super::ConsoleError;
use crate::domain::Timestamp;
use crate::state::AppState;
use crate::store::Failures;
use axum::http::{HeaderMap, HeaderValue, header};
use hmac::{Hmac, Mac};
use sha2::Sha256;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use tower_sessions::cookie::{Cookie, SameSite};

/// Failures from strangers' browsers before an account is paused.
pub const ACCOUNT_LIMIT: i64 = 5;
/// Failures from strangers' browsers at one client address before the address is paused: more
/// than an account's, since a whole office may sit behind one address.
pub const ADDRESS_LIMIT: i64 = 30;
/// Failures of one device cookie before it counts for nothing.
pub const DEVICE_LIMIT: i64 = 5;
/// How long a failure counts.
pub const WINDOW: chrono::TimeDelta = chrono::TimeDelta::hours(1);
/// The first pause past a limit; each further failure doubles it, up to [`MAX_PAUSE`].
const FIRST_PAUSE: chrono::TimeDelta = chrono::TimeDelta::minutes(1);
pub const MAX_PAUSE: chrono::TimeDelta = chrono::TimeDelta::minutes(15);

/// How long a device cookie is kept: half a year of not signing in from that browser.
const DEVICE_DAYS: i64 = 183;
/// The sign-in form's own cookie.
const FORM_COOKIE: &str = "atiende_entrar";
/// Device cookies are named after the account's id, so one browser can be known to several
/// accounts (a shared desk).
const DEVICE_COOKIE_PREFIX: &str = "atiende_equipo_";
/// The row of `server_keys` holding the console's key.
const KEY_NAME: &str = "console";

/// Sign-in requests an address may make in a minute, whatever their outcome, from browsers
/// the account does not know: the bound on what one address can make the service write (an
/// attempt row, and on success a session), beside the pauses, which only failures earn. Above
/// [`ADDRESS_LIMIT`], so that failures meet their own pause first.
pub const STRANGER_REQUESTS_PER_MINUTE: u32 = 60;
/// The same for browsers that carry a device cookie, counted apart so that a stranger's flood
/// from the office's own address (a shared NAT, a proxy) does not hold back its staff.
pub const KNOWN_REQUESTS_PER_MINUTE: u32 = 120;

/// How many sign-in requests each address is making, in this instance's memory (GCRA through
/// `governor`; behind a balancer each instance counts its own).
pub struct SignInRate {
    strangers: governor::DefaultKeyedRateLimiter<IpAddr>,
    known: governor::DefaultKeyedRateLimiter<IpAddr>,
    checks: std::sync::atomic::AtomicU64,
}

impl SignInRate {
    pub fn new() -> Arc<SignInRate> {
        let per_minute =
            |n| governor::Quota::per_minute(std::num::NonZeroU32::new(n).expect("not zero"));
        Arc::new(SignInRate {
            strangers: governor::RateLimiter::keyed(per_minute(STRANGER_REQUESTS_PER_MINUTE)),
            known: governor::RateLimiter::keyed(per_minute(KNOWN_REQUESTS_PER_MINUTE)),
            checks: Default::default(),
        })
    }

    /// Whether `address` may make one more sign-in request now; `known` when the browser
    /// carries a device cookie for the account it names.
    pub fn allow(&self, address: IpAddr, known: bool) -> bool {
        // Addresses that have not asked for a while are forgotten now and then, so a flood
        // from many addresses does not grow the table for good.
        let checks = self
            .checks
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        if checks % 4096 == 4095 {
            for limiter in [&self.strangers, &self.known] {
                limiter.retain_recent();
                limiter.shrink_to_fit();
            }
        }
        let limiter = if known { &self.known } else { &self.strangers };
        limiter.check_key(&address).is_ok()
    }
}

impl std::fmt::Debug for SignInRate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SignInRate")
    }
}

/// The console's secret key, read (or made) once per process from the `server_keys` table, so
/// every instance on the database signs and checks alike.
#[derive(Debug, Default)]
pub struct Keys {
    key: tokio::sync::OnceCell<Key>,
}

impl Keys {
    pub fn new() -> Arc<Keys> {
        Arc::default()
    }

    pub async fn get(&self, app: &AppState) -> Result<&Key, ConsoleError> {
        self.key
            .get_or_try_init(|| async {
                let candidate = random_hex(32);
                let kept = app
                    .store
                    .server_key(KEY_NAME, &candidate, app.clock.now())
                    .await?;
                Key::from_hex(&kept)
                    .ok_or_else(|| ConsoleError::Internal("server_keys: not a key".into()))
            })
            .await
    }
}

/// An HMAC-SHA-256 key.
#[derive(Clone)]
pub struct Key([u8; 32]);

impl std::fmt::Debug for Key {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Key(..)")
    }
}

impl Key {
    fn from_hex(text: &str) -> Option<Key> {
        let bytes = from_hex(text)?;
        Some(Key(bytes.try_into().ok()?))
    }

    /// The MAC of `parts` for `purpose`, in hex. Each part is preceded by its length, so no two
    /// lists of parts sign the same bytes.
    fn mac(&self, purpose: &str, parts: &[&str]) -> String {
        let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(&self.0).expect("any key length");
        for part in std::iter::once(purpose).chain(parts.iter().copied()) {
            mac.update(&(part.len() as u64).to_be_bytes());
            mac.update(part.as_bytes());
        }
        to_hex(&mac.finalize().into_bytes())
    }

    /// How a name that is no account is logged and kept: never as typed.
    pub fn unknown_name(&self, typed: &str) -> String {
        format!("unknown:{}", &self.mac("unknown-name", &[typed])[..8])
    }

    /// The sign-in form's token for the value of its cookie.
    fn form_token(&self, cookie: &str) -> String {
        self.mac("sign-in-form", &[cookie])[..48].to_owned()
    }

    fn device_mac(&self, user_id: i64, stamp: &str, nonce: &str) -> String {
        self.mac("device", &[&user_id.to_string(), stamp, nonce])[..32].to_owned()
    }
}

/// The value of the cookie `name` the browser sent, if any.
fn cookie_value(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(Cookie::split_parse)
        .filter_map(Result::ok)
        .find(|c| c.name() == name)
        .map(|c| c.value().to_owned())
}

/// A cookie only the sign-in page gets, out of reach of scripts and other sites.
fn sign_in_cookie(name: String, value: String, secure: bool) -> Cookie<'static> {
    Cookie::build((name, value))
        .path("/entrar")
        .http_only(true)
        .same_site(SameSite::Strict)
        .secure(secure)
        .build()
}

fn set_cookie(headers: &mut HeaderMap, cookie: &Cookie<'_>) {
    if let Ok(value) = HeaderValue::from_str(&cookie.to_string()) {
        headers.append(header::SET_COOKIE, value);
    }
}

/// The sign-in form's token, and the cookie to set if the browser has none yet.
pub fn form_token(
    key: &Key,
    headers: &HeaderMap,
    secure: bool,
) -> (String, Option<Cookie<'static>>) {
    match cookie_value(headers, FORM_COOKIE).filter(|v| v.len() == 48 && from_hex(v).is_some()) {
        Some(value) => (key.form_token(&value), None),
        None => {
            let value = random_hex(24);
            let token = key.form_token(&value);
            (
                token,
                Some(sign_in_cookie(FORM_COOKIE.into(), value, secure)),
            )
        }
    }
}

/// Whether `typed` is the token of the form cookie this browser sent.
pub fn form_token_matches(key: &Key, headers: &HeaderMap, typed: &str) -> bool {
    cookie_value(headers, FORM_COOKIE)
        .is_some_and(|value| super::auth::same(typed, &key.form_token(&value)))
}

/// Adds the form's cookie to an answer, when it is new.
pub fn with_cookie(
    mut response: axum::response::Response,
    cookie: Option<Cookie<'_>>,
) -> axum::response::Response {
    if let Some(cookie) = cookie {
        set_cookie(response.headers_mut(), &cookie);
    }
    response
}

/// The nonce of this browser's device cookie for the account, if it has a valid one.
pub fn device_of(key: &Key, headers: &HeaderMap, user_id: i64, stamp: &str) -> Option<String> {
    let value = cookie_value(headers, &format!("{DEVICE_COOKIE_PREFIX}{user_id}"))?;
    let (nonce, mac) = value.split_once('.')?;
    (nonce.len() == 32 && super::auth::same(mac, &key.device_mac(user_id, stamp, nonce)))
        .then(|| nonce.to_owned())
}

/// Marks this browser as the account's, with a new nonce, after a successful sign-in.
pub fn give_device_cookie(
    key: &Key,
    headers: &mut HeaderMap,
    user_id: i64,
    stamp: &str,
    secure: bool,
) {
    let nonce = random_hex(16);
    let value = format!("{nonce}.{}", key.device_mac(user_id, stamp, &nonce));
    let mut cookie = sign_in_cookie(format!("{DEVICE_COOKIE_PREFIX}{user_id}"), value, secure);
    cookie.set_max_age(time::Duration::days(DEVICE_DAYS));
    set_cookie(headers, &cookie);
}

/// The client's address: the peer's, or the one a trusted proxy forwarded.
pub fn client_address(app: &AppState, peer: SocketAddr, headers: &HeaderMap) -> IpAddr {
    app.config.trusted_proxies.client_address(
        peer.ip(),
        headers
            .get_all("x-forwarded-for")
            .iter()
            .filter_map(|v| v.to_str().ok()),
    )
}

/// How long a scope with these failures must still wait at `now`, if at all: nothing below
/// `limit`, then a pause that doubles with each failure past it, from the latest one.
pub fn pause_left(failures: Failures, limit: i64, now: Timestamp) -> Option<chrono::TimeDelta> {
    if failures.count < limit {
        return None;
    }
    let doublings = u32::try_from(failures.count - limit)
        .unwrap_or(u32::MAX)
        .min(10);
    let pause = (FIRST_PAUSE * 2i32.pow(doublings)).min(MAX_PAUSE);
    let until = failures.last?.as_utc() + pause;
    let left = until - now.as_utc();
    (left > chrono::TimeDelta::zero()).then_some(left)
}

/// The wait in words: "1 minuto", "4 minutos" (whole minutes, rounded up).
pub fn wait_in_words(left: chrono::TimeDelta) -> String {
    let minutes = (left.num_seconds() + 59) / 60;
    match minutes.max(1) {
        1 => "1 minuto".to_owned(),
        n => format!("{n} minutos"),
    }
}

/// `bytes` random bytes in hex: the console's tokens, nonces and form cookies.
pub(super) fn random_hex(bytes: usize) -> String {
    use rand::RngCore;
    let mut buf = vec![0u8; bytes];
    rand::rng().fill_bytes(&mut buf);
    to_hex(&buf)
}

pub(super) fn to_hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn from_hex(text: &str) -> Option<Vec<u8>> {
    if !text.len().is_multiple_of(2) {
        return None;
    }
    (0..text.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(text.get(i..i + 2)?, 16).ok())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(minutes: i64) -> Timestamp {
        let start = chrono::DateTime::parse_from_rfc3339("2026-11-30T10:00:00Z")
            .unwrap()
            .with_timezone(&chrono::Utc);
        Timestamp::from_utc(start + chrono::TimeDelta::minutes(minutes))
    }

    #[test]
    fn pauses_double_from_a_minute_up_to_fifteen() {
        let failures = |count| Failures {
            count,
            last: Some(at(0)),
        };
        assert_eq!(pause_left(failures(4), 5, at(0)), None);
        assert_eq!(
            pause_left(failures(5), 5, at(0)),
            Some(chrono::TimeDelta::minutes(1))
        );
        assert_eq!(pause_left(failures(5), 5, at(1)), None);
        assert_eq!(
            pause_left(failures(7), 5, at(0)),
            Some(chrono::TimeDelta::minutes(4))
        );
        assert_eq!(pause_left(failures(40), 5, at(0)), Some(MAX_PAUSE));
        assert_eq!(pause_left(failures(40), 5, at(15)), None);
    }

    #[test]
    fn waits_read_as_whole_minutes() {
        assert_eq!(wait_in_words(chrono::TimeDelta::seconds(5)), "1 minuto");
        assert_eq!(wait_in_words(chrono::TimeDelta::seconds(61)), "2 minutos");
    }

    #[test]
    fn unknown_names_are_short_stable_keyed_hashes() {
        let key = Key([7; 32]);
        let other = Key([8; 32]);
        let hashed = key.unknown_name("MiClaveSecreta-2024!");
        assert_eq!(hashed.len(), "unknown:".len() + 8);
        assert!(!hashed.contains("MiClave"));
        assert_eq!(hashed, key.unknown_name("MiClaveSecreta-2024!"));
        assert_ne!(hashed, other.unknown_name("MiClaveSecreta-2024!"));
    }

    #[test]
    fn a_device_cookie_is_good_only_for_its_account_and_password() {
        let key = Key([7; 32]);
        let mut headers = HeaderMap::new();
        give_device_cookie(&key, &mut headers, 3, "stamp", false);
        let set = headers.get(header::SET_COOKIE).unwrap().to_str().unwrap();
        let pair = set.split(';').next().unwrap();
        let mut sent = HeaderMap::new();
        sent.insert(header::COOKIE, HeaderValue::from_str(pair).unwrap());
        assert!(device_of(&key, &sent, 3, "stamp").is_some());
        assert!(device_of(&key, &sent, 3, "new password").is_none());
        assert!(device_of(&key, &sent, 4, "stamp").is_none());
        assert!(device_of(&Key([8; 32]), &sent, 3, "stamp").is_none());
    }
}
