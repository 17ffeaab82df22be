//! Configuration: environment variables, optionally preceded by an `atiende.toml`.
//!
//! The names are part of the operator's contract (see the README): `ATIENDE_*`, `DATABASE_URL`
//! and `TWILIO_*`. A TOML file may set the same keys (`ATIENDE_LISTEN = "0.0.0.0:8080"`); the
//! environment wins. Every value is parsed once, here, into a typed [`Config`]; a malformed value
//! stops start-up with one line that names the key.
//!
//! We read the handful of keys ourselves instead of using a layered-config crate: those crates
//! guess types from environment text, which turns a phone number like `+5215512345678` or an
//! all-digit token into a number and then fails to read it back as a string.

use crate::domain::{OfficeHours, PhoneNumber};
use crate::twiml::SAY_MAX_CHARS;
use secrecy::{ExposeSecret, SecretString};
use std::collections::BTreeMap;
use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};
use std::time::Duration;
use url::Url;

/// Every key the service reads; nothing else is taken from the environment or the file.
pub const KEYS: &[&str] = &[
    "ATIENDE_LISTEN",
    "ATIENDE_PUBLIC_URL",
    "DATABASE_URL",
    "ATIENDE_DATA_DIR",
    "ATIENDE_STORAGE_URL",
    "ATIENDE_PROMPTS_DIR",
    "ATIENDE_OFFICE_NAME",
    "ATIENDE_PRIVACY_NOTICE",
    "ATIENDE_VOICE",
    "ATIENDE_OFFICE_HOURS",
    "ATIENDE_TRANSFER_NUMBER",
    "ATIENDE_TRANSFER_TIMEOUT_SECONDS",
    "ATIENDE_RECORD_MAX_SECONDS",
    "ATIENDE_RECORD_SILENCE_SECONDS",
    "ATIENDE_LOG",
    "ATIENDE_WORKERS",
    "ATIENDE_JOB_LEASE_SECONDS",
    "ATIENDE_JOB_BACKOFF_MS",
    "ATIENDE_JOB_MAX_BACKOFF_MS",
    "ATIENDE_JOB_POLL_MS",
    "ATIENDE_RECONCILE_MINUTES",
    "ATIENDE_DELETE_TWILIO_RECORDINGS",
    "ATIENDE_HTTP_TIMEOUT_SECONDS",
    "ATIENDE_SPEECH",
    "ATIENDE_HEADER_TIMEOUT_MS",
    "ATIENDE_BODY_TIMEOUT_MS",
    "ATIENDE_MAX_CONNECTIONS",
    "ATIENDE_MAX_WEBHOOKS",
    "ATIENDE_SHED_AFTER_MS",
    "ATIENDE_IDLE_TIMEOUT_MS",
    "ATIENDE_MAX_CONNECTIONS_PER_CLIENT",
    "ATIENDE_HTTP2",
    "ATIENDE_TRUSTED_PROXIES",
    "ATIENDE_SESSION_IDLE_MINUTES",
    "ATIENDE_SESSION_MAX_HOURS",
    "ATIENDE_METRICS_LISTEN",
    "ATIENDE_METRICS_TOKEN",
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_SESSION_TOKEN",
    "AWS_REGION",
    "AWS_DEFAULT_REGION",
    "AWS_ENDPOINT",
    "AWS_ENDPOINT_URL",
    "TWILIO_ACCOUNT_SID",
    "TWILIO_AUTH_TOKEN",
    "TWILIO_PHONE_NUMBER",
    "TWILIO_MESSAGING_SERVICE_SID",
    "TWILIO_API_BASE",
    "ATIENDE_DEMO",
];

/// The `<Say>` voices that speak Mexican Spanish, as Twilio names them (its text-to-speech voice
/// list): Amazon Polly's es-MX voices, Google's (whose names carry their language: a trailing `*`
/// stands for any ending), and the basic `alice`, which speaks es-MX. `ATIENDE_VOICE` must be one.
pub const ES_MX_VOICES: &[&str] = &[
    "Polly.Mia",
    "Polly.Mia-Neural",
    "Polly.Andres-Neural",
    "Google.es-MX-*",
    "alice",
];

/// Whether `voice` is one of [`ES_MX_VOICES`] (Twilio's voice names ignore case).
fn speaks_es_mx(voice: &str) -> bool {
    ES_MX_VOICES
        .iter()
        .any(|known| match known.strip_suffix('*') {
            Some(prefix) => {
                voice.len() > prefix.len()
                    && voice.is_char_boundary(prefix.len())
                    && voice[..prefix.len()].eq_ignore_ascii_case(prefix)
            }
            None => voice.eq_ignore_ascii_case(known),
        })
}

/// Where Twilio's REST API is in demo mode, unless `TWILIO_API_BASE` says otherwise: the port
/// on which `atiende simulate` serves the recordings it makes (and takes the SMS).
pub const DEMO_API_BASE: &str = "http://127.0.0.1:8089";

/// A configuration problem, always about one key.
#[derive(Debug, thiserror::Error)]
#[error("{key}: {message}")]
pub struct ConfigError {
    pub key: &'static str,
    pub message: String,
}

fn bad(key: &'static str, message: impl Into<String>) -> ConfigError {
    ConfigError {
        key,
        message: message.into(),
    }
}

/// Twilio credentials and numbers. Present only outside demo mode, and then with at least one
/// sender for SMS: a Messaging Service or the office number.
#[derive(Clone, Debug)]
pub struct TwilioConfig {
    pub account_sid: String,
    /// Signs webhooks and authenticates REST calls; `Debug` prints it redacted.
    pub auth_token: SecretString,
    /// The office number: what the help text tells citizens to call, and the number SMS are
    /// sent from when there is no Messaging Service.
    pub phone_number: Option<PhoneNumber>,
    /// A Messaging Service (`MG...`): SMS are sent with `MessagingServiceSid` and Twilio picks
    /// the sender from the service's pool. Wins over `phone_number` for sending: Twilio's Mexico
    /// guidelines do not allow one-way automated SMS from a Mexican mobile number.
    pub messaging_service_sid: Option<String>,
}

/// Who an SMS is sent as: the one field of Twilio's `Messages.json` that names the sender.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SmsSender<'a> {
    /// `MessagingServiceSid=MG...`: Twilio picks a number of the service's pool.
    MessagingService(&'a str),
    /// `From=+52...`: the office number itself.
    Number(&'a PhoneNumber),
}

impl<'a> SmsSender<'a> {
    /// The form field and its value.
    pub fn field(self) -> (&'static str, &'a str) {
        match self {
            SmsSender::MessagingService(sid) => ("MessagingServiceSid", sid),
            SmsSender::Number(n) => ("From", n.as_str()),
        }
    }
}

impl TwilioConfig {
    /// Who our SMS are sent as: the Messaging Service when there is one, else the office
    /// number. The configuration refuses an account with neither, so only a value built by
    /// hand can have none.
    pub fn sms_sender(&self) -> Option<SmsSender<'_>> {
        match (&self.messaging_service_sid, &self.phone_number) {
            (Some(sid), _) => Some(SmsSender::MessagingService(sid)),
            (None, Some(number)) => Some(SmsSender::Number(number)),
            (None, None) => None,
        }
    }
}

/// The voice and behaviour of the phone line.
#[derive(Clone, Debug)]
pub struct PhoneLineConfig {
    /// How the office introduces itself: "la Dirección de Participación Ciudadana".
    pub office_name: String,
    /// Replaces the catalogue's privacy notice when set.
    pub privacy_notice: Option<String>,
    /// The `<Say voice>` used on every prompt, e.g. `Polly.Mia-Neural`.
    pub voice: String,
    pub office_hours: OfficeHours,
    /// Where "0, talk to staff" is transferred to; without it the option is never offered.
    pub transfer_number: Option<PhoneNumber>,
    pub transfer_timeout_seconds: u32,
    pub record_max_seconds: u32,
    pub record_silence_seconds: u32,
    /// Menus also listen to speech (`ATIENDE_SPEECH`): "alumbrado", "no hay agua", "consultar".
    pub speech: bool,
}

/// How durable jobs run.
#[derive(Clone, Debug)]
pub struct JobsConfig {
    /// Workers per instance.
    pub workers: usize,
    /// How long a claimed job is a worker's before another may take it (a dead worker's job is
    /// picked up after this).
    pub lease: Duration,
    /// The first retry's wait; each next one doubles (with jitter), up to `max_backoff`.
    pub backoff: Duration,
    pub max_backoff: Duration,
    /// How often idle workers look for due jobs.
    pub poll: Duration,
    /// How often Twilio's recordings are compared with ours, to find a report whose webhooks
    /// never reached a live service (`None`: never; see `reconcile`).
    pub reconcile_every: Option<Duration>,
}

/// S3-compatible storage settings: the usual `AWS_*` variables, read here (not by the S3 library
/// from the process environment) so that a config file can set them too.
#[derive(Clone, Debug, Default)]
pub struct S3Config {
    pub access_key_id: Option<String>,
    pub secret_access_key: Option<SecretString>,
    pub session_token: Option<SecretString>,
    pub region: Option<String>,
    /// For MinIO and other S3-compatible servers: `http://host:9000`.
    pub endpoint: Option<String>,
}

/// The whole configuration, parsed.
#[derive(Clone, Debug)]
pub struct Config {
    pub listen: SocketAddr,
    /// The base URL Twilio uses to reach us.
    pub public_url: Url,
    /// Whether `ATIENDE_PUBLIC_URL` was given; if not, it follows the port actually bound.
    pub public_url_explicit: bool,
    pub database_url: DatabaseUrl,
    pub data_dir: PathBuf,
    pub storage_url: String,
    pub prompts_dir: PathBuf,
    pub log_filter: String,
    /// `None` is demo mode: unsigned webhooks accepted, SMS kept unsent.
    pub twilio: Option<TwilioConfig>,
    pub twilio_api_base: Url,
    pub phone: PhoneLineConfig,
    pub jobs: JobsConfig,
    /// Delete Twilio's copy of a recording once ours is verified.
    pub delete_twilio_recordings: bool,
    /// The whole-request time-out of calls to Twilio's REST API.
    pub http_timeout: Duration,
    pub s3: S3Config,
    /// What the HTTP server allows its clients (see `serve`).
    pub server: ServerLimits,
    /// Where `/metrics` is served (see `metrics`).
    pub metrics: MetricsAccess,
    /// The reverse proxies whose `X-Forwarded-For` is believed (`ATIENDE_TRUSTED_PROXIES`).
    pub trusted_proxies: TrustedProxies,
    /// How long a console session lasts.
    pub sessions: SessionLifetimes,
}

/// How long a console session lasts: `idle` without a request, and `max` from sign-in whatever
/// its use (an absolute limit: a stolen cookie is not good for ever).
#[derive(Clone, Copy, Debug)]
pub struct SessionLifetimes {
    pub idle: Duration,
    pub max: Duration,
}

/// The addresses (single ones or CIDR blocks) of the reverse proxies in front of the service.
/// A request whose peer is one of them is taken to come from the address the proxy appended to
/// `X-Forwarded-For`; from any other peer that header is ignored, since anyone can write it.
#[derive(Clone, Debug, Default)]
pub struct TrustedProxies(Vec<ipnet::IpNet>);

impl TrustedProxies {
    /// Parses a list separated by commas or spaces: `127.0.0.1, 10.0.0.0/8, ::1`.
    pub fn parse(text: &str) -> Result<TrustedProxies, String> {
        let mut nets = Vec::new();
        for item in text
            .split(|c: char| c == ',' || c.is_whitespace())
            .filter(|s| !s.is_empty())
        {
            let net = match item.parse::<ipnet::IpNet>() {
                Ok(net) => net,
                Err(_) => item
                    .parse::<IpAddr>()
                    .map(ipnet::IpNet::from)
                    .map_err(|_| format!("not an address or a CIDR block: {item:?}"))?,
            };
            nets.push(net);
        }
        Ok(TrustedProxies(nets))
    }

    /// Whether `ip` is one of the proxies.
    pub fn contains(&self, ip: IpAddr) -> bool {
        let ip = canonical(ip);
        self.0.iter().any(|net| net.contains(&ip))
    }

    /// Whether no proxy is configured.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The client's address: the peer's, unless the peer is a trusted proxy; then the
    /// right-most address of `X-Forwarded-For` that is not itself a trusted proxy (each proxy
    /// appends the address it saw, so the entries to its left are the client's own words). A
    /// proxy that sent no usable header leaves the peer's address.
    pub fn client_address<'a>(
        &self,
        peer: IpAddr,
        forwarded_for: impl IntoIterator<Item = &'a str>,
    ) -> IpAddr {
        let peer = canonical(peer);
        if !self.contains(peer) {
            return peer;
        }
        let entries: Vec<&str> = forwarded_for
            .into_iter()
            .flat_map(|value| value.split(','))
            .collect();
        let mut client = peer;
        for entry in entries.iter().rev() {
            let Some(ip) = parse_forwarded_entry(entry) else {
                // Garbage in the chain: stop at the last address a trusted party vouched for.
                break;
            };
            client = ip;
            if !self.contains(ip) {
                break;
            }
        }
        client
    }
}

/// An IPv4 address written as IPv6 (`::ffff:1.2.3.4`, as a dual-stack socket reports it) is
/// the IPv4 address.
pub fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        v4 => v4,
    }
}

/// One entry of `X-Forwarded-For`: an address, possibly with a port (`1.2.3.4:5678`,
/// `[::1]:5678`).
fn parse_forwarded_entry(entry: &str) -> Option<IpAddr> {
    let entry = entry.trim();
    if let Ok(ip) = entry.parse::<IpAddr>() {
        return Some(canonical(ip));
    }
    entry.parse::<SocketAddr>().ok().map(|a| canonical(a.ip()))
}

/// How `/metrics` may be reached: on an address of its own, and/or on the main address with a
/// bearer token. Neither: not at all.
#[derive(Clone, Debug, Default)]
pub struct MetricsAccess {
    pub listen: Option<SocketAddr>,
    pub token: Option<SecretString>,
}

/// What a client of the HTTP server may take: time to send headers and body, and connections.
#[derive(Clone, Copy, Debug)]
pub struct ServerLimits {
    /// A connection must deliver its first request's headers within this, whatever protocol it
    /// speaks, and each later request's headers within this once it has started one.
    pub header_timeout: Duration,
    /// A request's whole body must arrive within this from its first byte.
    pub body_timeout: Duration,
    /// A connection with no request in flight is closed after this long.
    pub idle_timeout: Duration,
    /// Connections at once (lowered at start to what the open-files limit allows).
    pub max_connections: usize,
    /// Connections at once from one client address that is not a trusted proxy.
    pub max_connections_per_client: usize,
    /// Whether cleartext HTTP/2 (h2c) is served; Twilio and reverse proxies speak HTTP/1.1.
    pub http2: bool,
    /// Menu steps answered at once; one more waits at most `shed_after` for its turn, then
    /// hears the apology (load shedding, see `voice::shed_load`).
    pub max_webhooks: usize,
    pub shed_after: Duration,
}

impl Config {
    /// Reads `atiende.toml` (or the file named by `ATIENDE_CONFIG`) if it exists, then the
    /// environment, which wins.
    pub fn load() -> Result<Config, ConfigError> {
        let path = std::env::var_os("ATIENDE_CONFIG")
            .map(PathBuf::from)
            .unwrap_or_else(|| PathBuf::from("atiende.toml"));
        let mut values = read_toml(&path)?;
        for key in KEYS {
            if let Ok(v) = std::env::var(key) {
                values.insert((*key).to_owned(), v);
            }
        }
        Config::from_values(values)
    }

    /// Builds a configuration from key/value pairs alone (tests, tools).
    pub fn from_pairs<'a>(
        pairs: impl IntoIterator<Item = (&'a str, &'a str)>,
    ) -> Result<Config, ConfigError> {
        Config::from_values(
            pairs
                .into_iter()
                .map(|(k, v)| (k.to_owned(), v.to_owned()))
                .collect(),
        )
    }

    /// Parses every value, one part of the configuration at a time.
    fn from_values(values: BTreeMap<String, String>) -> Result<Config, ConfigError> {
        let v = Values(values);
        let (listen, public_url, public_url_explicit) = v.addresses()?;
        let data_dir = PathBuf::from(v.get("ATIENDE_DATA_DIR").unwrap_or("data"));
        let (twilio, twilio_api_base) = v.twilio(listen)?;
        Ok(Config {
            listen,
            public_url,
            public_url_explicit,
            database_url: DatabaseUrl(v.database_url(&data_dir)?),
            storage_url: v.storage_url(&data_dir)?,
            data_dir,
            prompts_dir: PathBuf::from(v.get("ATIENDE_PROMPTS_DIR").unwrap_or("prompts")),
            log_filter: v.get("ATIENDE_LOG").unwrap_or("info").to_owned(),
            twilio,
            twilio_api_base,
            phone: v.phone_line()?,
            jobs: v.jobs()?,
            delete_twilio_recordings: v.flag("ATIENDE_DELETE_TWILIO_RECORDINGS", false)?,
            http_timeout: Duration::from_secs(v.whole(
                "ATIENDE_HTTP_TIMEOUT_SECONDS",
                60,
                1..=600,
            )?),
            s3: v.s3(),
            metrics: v.metrics()?,
            trusted_proxies: match v.get("ATIENDE_TRUSTED_PROXIES") {
                Some(text) => {
                    TrustedProxies::parse(text).map_err(|e| bad("ATIENDE_TRUSTED_PROXIES", e))?
                }
                None => TrustedProxies::default(),
            },
            sessions: SessionLifetimes {
                idle: Duration::from_secs(
                    60 * v.whole("ATIENDE_SESSION_IDLE_MINUTES", 120, 5..=24 * 60)?,
                ),
                max: Duration::from_secs(
                    3600 * v.whole("ATIENDE_SESSION_MAX_HOURS", 10, 1..=7 * 24)?,
                ),
            },
            server: ServerLimits {
                header_timeout: v.millis("ATIENDE_HEADER_TIMEOUT_MS", 10_000, 50..=120_000)?,
                body_timeout: v.millis("ATIENDE_BODY_TIMEOUT_MS", 10_000, 50..=300_000)?,
                idle_timeout: v.millis("ATIENDE_IDLE_TIMEOUT_MS", 75_000, 50..=3_600_000)?,
                // 16,384 connections, their reserve (1/64) and the service's other files
                // (1,024) fit under 20,000 open files, the hard limit of the machines it runs on.
                max_connections: v.whole("ATIENDE_MAX_CONNECTIONS", 16_384, 1..=100_000)? as usize,
                max_connections_per_client: v.whole(
                    "ATIENDE_MAX_CONNECTIONS_PER_CLIENT",
                    128,
                    1..=100_000,
                )? as usize,
                http2: v.flag("ATIENDE_HTTP2", false)?,
                // 1,024: on a 2-core machine with SQLite, 10,000 calls in progress at four
                // seconds a step were 9-27 % shed at 256 (menu steps waited their turn while
                // the writer had room for more in its group commits) and none at 1,024; see
                // the README's benchmarks.
                max_webhooks: v.whole("ATIENDE_MAX_WEBHOOKS", 1024, 1..=100_000)? as usize,
                shed_after: v.millis("ATIENDE_SHED_AFTER_MS", 2_000, 10..=10_000)?,
            },
        })
    }

    /// Demo mode (asked for with `ATIENDE_DEMO`, or by default on loopback with no Twilio
    /// setting): no auth token, so nothing is signed and no SMS leaves the outbox.
    pub fn demo_mode(&self) -> bool {
        self.twilio.is_none()
    }

    /// The auth token, if any, for signing and checking signatures.
    pub fn auth_token(&self) -> Option<&str> {
        self.twilio.as_ref().map(|t| t.auth_token.expose_secret())
    }

    /// An absolute URL under the public base: `public_url("/twilio/voice/menu?t=1")`.
    pub fn public_url(&self, path_and_query: &str) -> String {
        format!(
            "{}{}",
            self.public_url.as_str().trim_end_matches('/'),
            path_and_query
        )
    }
}

/// Reads a flat TOML file of `KEY = value` pairs; a missing file is not an error.
fn read_toml(path: &Path) -> Result<BTreeMap<String, String>, ConfigError> {
    let text = match std::fs::read_to_string(path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(BTreeMap::new()),
        Err(e) => {
            return Err(bad(
                "ATIENDE_CONFIG",
                format!("cannot read {}: {e}", path.display()),
            ));
        }
    };
    let table: toml::Table = text.parse().map_err(|e: toml::de::Error| {
        bad(
            "ATIENDE_CONFIG",
            format!("{}: {}", path.display(), e.message()),
        )
    })?;
    let mut values = BTreeMap::new();
    for (k, v) in table {
        let key = k.to_ascii_uppercase();
        let Some(known) = KEYS.iter().find(|known| **known == key) else {
            return Err(bad(
                "ATIENDE_CONFIG",
                format!("{}: unknown key {k:?}", path.display()),
            ));
        };
        let value = match v {
            toml::Value::String(s) => s,
            toml::Value::Integer(i) => i.to_string(),
            toml::Value::Boolean(b) => b.to_string(),
            _ => {
                return Err(bad(
                    known,
                    format!("expected a string or a number in {}", path.display()),
                ));
            }
        };
        values.insert(key, value);
    }
    Ok(values)
}

/// Whether `sid` is a Twilio SID with this prefix: two letters and 32 hexadecimal digits.
fn is_twilio_sid(sid: &str, prefix: &str) -> bool {
    sid.len() == 34 && sid.starts_with(prefix) && sid[2..].chars().all(|c| c.is_ascii_hexdigit())
}

fn parse_base_url(key: &'static str, v: &str) -> Result<Url, ConfigError> {
    let url = Url::parse(v).map_err(|e| bad(key, format!("{e}: {v:?}")))?;
    if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none() {
        return Err(bad(
            key,
            format!("expected an http:// or https:// URL, got {v:?}"),
        ));
    }
    if url.query().is_some() || url.fragment().is_some() {
        return Err(bad(
            key,
            format!("a base URL has no query or fragment: {v:?}"),
        ));
    }
    Ok(url)
}

/// The raw values, by key, and how each part of the configuration is read from them.
struct Values(BTreeMap<String, String>);

impl Values {
    /// A value, trimmed; an empty one counts as not set.
    fn get(&self, key: &'static str) -> Option<&str> {
        self.0.get(key).map(|v| v.trim()).filter(|v| !v.is_empty())
    }

    /// A whole number within `range`, or `default` when the key is not set.
    fn whole(
        &self,
        key: &'static str,
        default: u64,
        range: std::ops::RangeInclusive<u64>,
    ) -> Result<u64, ConfigError> {
        let Some(v) = self.get(key) else {
            return Ok(default);
        };
        v.parse::<u64>()
            .ok()
            .filter(|n| range.contains(n))
            .ok_or_else(|| {
                bad(
                    key,
                    format!(
                        "expected a whole number from {} to {}, got {v:?}",
                        range.start(),
                        range.end()
                    ),
                )
            })
    }

    /// Seconds as a whole number within `range`.
    fn seconds(
        &self,
        key: &'static str,
        default: u64,
        range: std::ops::RangeInclusive<u64>,
    ) -> Result<u32, ConfigError> {
        // The ranges asked for are far below u32::MAX.
        Ok(self.whole(key, default, range)? as u32)
    }

    /// Milliseconds as a whole number within `range`.
    fn millis(
        &self,
        key: &'static str,
        default: u64,
        range: std::ops::RangeInclusive<u64>,
    ) -> Result<Duration, ConfigError> {
        Ok(Duration::from_millis(self.whole(key, default, range)?))
    }

    /// true/1/yes or false/0/no.
    fn flag(&self, key: &'static str, default: bool) -> Result<bool, ConfigError> {
        match self.get(key) {
            None => Ok(default),
            Some("false" | "0" | "no") => Ok(false),
            Some("true" | "1" | "yes") => Ok(true),
            Some(v) => Err(bad(key, format!("expected true or false, got {v:?}"))),
        }
    }

    /// A phone number in E.164, if set; `hint` follows the error.
    fn phone_number(
        &self,
        key: &'static str,
        hint: &str,
    ) -> Result<Option<PhoneNumber>, ConfigError> {
        self.get(key)
            .map(|v| PhoneNumber::parse(v).map_err(|e| bad(key, format!("{e}: {v:?}{hint}"))))
            .transpose()
    }

    /// Where to listen, and the public URL (and whether it was given or made from the address).
    fn addresses(&self) -> Result<(SocketAddr, Url, bool), ConfigError> {
        let listen: SocketAddr = match self.get("ATIENDE_LISTEN") {
            Some(v) => v.parse().map_err(|_| {
                bad(
                    "ATIENDE_LISTEN",
                    format!("not an address such as 127.0.0.1:8080: {v:?}"),
                )
            })?,
            None => SocketAddr::from(([127, 0, 0, 1], 8080)),
        };
        let (public_url, explicit) = match self.get("ATIENDE_PUBLIC_URL") {
            Some(v) => (parse_base_url("ATIENDE_PUBLIC_URL", v)?, true),
            None => (
                parse_base_url("ATIENDE_PUBLIC_URL", &format!("http://{listen}"))?,
                false,
            ),
        };
        Ok((listen, public_url, explicit))
    }

    /// `sqlite://...` or `postgres://...`; by default a SQLite file in the data folder.
    fn database_url(&self, data_dir: &Path) -> Result<String, ConfigError> {
        match self.get("DATABASE_URL") {
            Some(v)
                if v.starts_with("sqlite:")
                    || v.starts_with("postgres://")
                    || v.starts_with("postgresql://") =>
            {
                Ok(v.to_owned())
            }
            Some(v) => Err(bad(
                "DATABASE_URL",
                format!(
                    "expected sqlite://PATH or postgres://..., got {:?}",
                    redact_url(v)
                ),
            )),
            None => Ok(format!(
                "sqlite://{}",
                data_dir.join("atiende.db").display()
            )),
        }
    }

    /// A folder or `s3://bucket/prefix`; by default `recordings` in the data folder.
    fn storage_url(&self, data_dir: &Path) -> Result<String, ConfigError> {
        let url = match self.get("ATIENDE_STORAGE_URL") {
            Some(v) => v.to_owned(),
            None => data_dir.join("recordings").display().to_string(),
        };
        if !(url.starts_with("s3://") || !url.contains("://") || url.starts_with("file://")) {
            return Err(bad(
                "ATIENDE_STORAGE_URL",
                format!("expected a folder or s3://bucket/prefix, got {url:?}"),
            ));
        }
        Ok(url)
    }

    /// The Twilio account (none in demo mode) and where its REST API is.
    /// Whether demo mode is on: as `ATIENDE_DEMO` says; by default only while the service
    /// listens on a loopback address and no Twilio account setting is present. A missing token
    /// never turns it on by itself. (`TWILIO_API_BASE` is not an account setting: the simulator
    /// and the tests point it at their fake in demo mode too.)
    fn demo(&self, listen: SocketAddr) -> Result<bool, ConfigError> {
        let account = [
            "TWILIO_ACCOUNT_SID",
            "TWILIO_AUTH_TOKEN",
            "TWILIO_PHONE_NUMBER",
            "TWILIO_MESSAGING_SERVICE_SID",
        ]
        .iter()
        .any(|key| self.get(key).is_some());
        self.flag("ATIENDE_DEMO", listen.ip().is_loopback() && !account)
    }

    fn twilio(&self, listen: SocketAddr) -> Result<(Option<TwilioConfig>, Url), ConfigError> {
        // In demo mode there is no Twilio account to reach: recordings come from
        // `atiende simulate`, which serves them where the service expects Twilio's API.
        let default_api = if self.get("TWILIO_AUTH_TOKEN").is_some() {
            "https://api.twilio.com"
        } else {
            DEMO_API_BASE
        };
        let api_base = parse_base_url(
            "TWILIO_API_BASE",
            self.get("TWILIO_API_BASE").unwrap_or(default_api),
        )?;
        let phone_number = self.phone_number("TWILIO_PHONE_NUMBER", " (use E.164, +52...)")?;
        let messaging_service_sid = self.get("TWILIO_MESSAGING_SERVICE_SID");
        if let Some(sid) = messaging_service_sid
            && !is_twilio_sid(sid, "MG")
        {
            return Err(bad(
                "TWILIO_MESSAGING_SERVICE_SID",
                "expected MG followed by 32 hexadecimal digits (the Messaging Service's SID)",
            ));
        }
        let demo = self.demo(listen)?;
        let token = self.get("TWILIO_AUTH_TOKEN");
        let token = match (demo, token) {
            (true, None) => return Ok((None, api_base)),
            (true, Some(_)) => {
                return Err(bad(
                    "ATIENDE_DEMO",
                    "demo mode accepts unsigned webhooks and sends no SMS: it cannot go with \
                     TWILIO_AUTH_TOKEN; remove one of the two",
                ));
            }
            (false, None) => {
                return Err(bad(
                    "TWILIO_AUTH_TOKEN",
                    "required outside demo mode (it signs every webhook); to try the service \
                     without Twilio, listen on a loopback address with no TWILIO_* setting, or \
                     set ATIENDE_DEMO=true",
                ));
            }
            (false, Some(token)) => token,
        };
        let account_sid = self.get("TWILIO_ACCOUNT_SID").ok_or_else(|| {
            bad(
                "TWILIO_ACCOUNT_SID",
                "required when TWILIO_AUTH_TOKEN is set",
            )
        })?;
        if !(account_sid.starts_with("AC") && account_sid.len() == 34) {
            return Err(bad(
                "TWILIO_ACCOUNT_SID",
                "expected AC followed by 32 characters",
            ));
        }
        if phone_number.is_none() && messaging_service_sid.is_none() {
            return Err(bad(
                "TWILIO_MESSAGING_SERVICE_SID",
                "required when TWILIO_AUTH_TOKEN is set, unless TWILIO_PHONE_NUMBER is: SMS need \
                 a sender (in Mexico, a Messaging Service whose pool Twilio allows for automated \
                 SMS)",
            ));
        }
        let account = TwilioConfig {
            account_sid: account_sid.to_owned(),
            auth_token: SecretString::from(token.to_owned()),
            phone_number,
            messaging_service_sid: messaging_service_sid.map(str::to_owned),
        };
        Ok((Some(account), api_base))
    }

    /// The phone line's voice, office, hours and recording limits.
    fn phone_line(&self) -> Result<PhoneLineConfig, ConfigError> {
        let office_hours = self
            .get("ATIENDE_OFFICE_HOURS")
            .unwrap_or("mon-fri 09:00-15:00")
            .parse::<OfficeHours>()
            .map_err(|e| bad("ATIENDE_OFFICE_HOURS", e.to_string()))?;
        let privacy_notice = self.get("ATIENDE_PRIVACY_NOTICE");
        if let Some(notice) = privacy_notice {
            let chars = notice.chars().count();
            if chars > SAY_MAX_CHARS {
                return Err(bad(
                    "ATIENDE_PRIVACY_NOTICE",
                    format!(
                        "{chars} characters; the line says it in one <Say>, which holds at most \
                         {SAY_MAX_CHARS}: shorten it and publish the full notice elsewhere"
                    ),
                ));
            }
        }
        let voice = self.get("ATIENDE_VOICE").unwrap_or("Polly.Mia-Neural");
        if !speaks_es_mx(voice) {
            return Err(bad(
                "ATIENDE_VOICE",
                format!(
                    "{voice:?} is not a voice that speaks Mexican Spanish (es-MX); use one of {}",
                    ES_MX_VOICES.join(", ")
                ),
            ));
        }
        Ok(PhoneLineConfig {
            office_name: self
                .get("ATIENDE_OFFICE_NAME")
                .unwrap_or("la Dirección de Participación Ciudadana")
                .to_owned(),
            privacy_notice: privacy_notice.map(str::to_owned),
            voice: voice.to_owned(),
            office_hours,
            transfer_number: self.phone_number("ATIENDE_TRANSFER_NUMBER", "")?,
            transfer_timeout_seconds: self.seconds(
                "ATIENDE_TRANSFER_TIMEOUT_SECONDS",
                20,
                5..=120,
            )?,
            record_max_seconds: self.seconds("ATIENDE_RECORD_MAX_SECONDS", 180, 10..=3600)?,
            record_silence_seconds: self.seconds("ATIENDE_RECORD_SILENCE_SECONDS", 5, 2..=30)?,
            speech: self.flag("ATIENDE_SPEECH", false)?,
        })
    }

    /// How many workers, their leases, backoff and polling.
    fn jobs(&self) -> Result<JobsConfig, ConfigError> {
        Ok(JobsConfig {
            workers: self.whole("ATIENDE_WORKERS", 2, 0..=64)? as usize,
            lease: Duration::from_secs(self.whole("ATIENDE_JOB_LEASE_SECONDS", 20, 1..=86_400)?),
            backoff: self.millis("ATIENDE_JOB_BACKOFF_MS", 5_000, 1..=3_600_000)?,
            max_backoff: self.millis("ATIENDE_JOB_MAX_BACKOFF_MS", 3_600_000, 1..=86_400_000)?,
            poll: self.millis("ATIENDE_JOB_POLL_MS", 1_000, 10..=60_000)?,
            reconcile_every: match self.whole("ATIENDE_RECONCILE_MINUTES", 10, 0..=1_440)? {
                0 => None,
                minutes => Some(Duration::from_secs(minutes * 60)),
            },
        })
    }

    /// `ATIENDE_METRICS_LISTEN` and `ATIENDE_METRICS_TOKEN` (at least 16 characters: it is all
    /// that guards the figures on the public address).
    fn metrics(&self) -> Result<MetricsAccess, ConfigError> {
        let listen = match self.get("ATIENDE_METRICS_LISTEN") {
            Some(v) => Some(v.parse().map_err(|_| {
                bad(
                    "ATIENDE_METRICS_LISTEN",
                    format!("not an address such as 127.0.0.1:9464: {v:?}"),
                )
            })?),
            None => None,
        };
        let token = match self.get("ATIENDE_METRICS_TOKEN") {
            Some(t) if t.len() < 16 => {
                return Err(bad(
                    "ATIENDE_METRICS_TOKEN",
                    "too short: use at least 16 random characters",
                ));
            }
            Some(t) => Some(SecretString::from(t.to_owned())),
            None => None,
        };
        Ok(MetricsAccess { listen, token })
    }

    /// S3 credentials, region and endpoint, from the usual `AWS_*` variables.
    fn s3(&self) -> S3Config {
        let secret = |key| self.get(key).map(|v| SecretString::from(v.to_owned()));
        S3Config {
            access_key_id: self.get("AWS_ACCESS_KEY_ID").map(str::to_owned),
            secret_access_key: secret("AWS_SECRET_ACCESS_KEY"),
            session_token: secret("AWS_SESSION_TOKEN"),
            region: self
                .get("AWS_REGION")
                .or(self.get("AWS_DEFAULT_REGION"))
                .map(str::to_owned),
            endpoint: self
                .get("AWS_ENDPOINT_URL")
                .or(self.get("AWS_ENDPOINT"))
                .map(str::to_owned),
        }
    }
}

/// A database URL with its password hidden, for error messages.
/// The database's URL. Its password never prints: `Debug` and `Display` show `***` in its place
/// (the configuration, the state and every error or log line that includes them); the whole URL
/// is only handed to the database driver, through `Deref`.
#[derive(Clone, PartialEq, Eq)]
pub struct DatabaseUrl(String);

impl DatabaseUrl {
    /// The URL itself, password included: for the database driver only.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::ops::Deref for DatabaseUrl {
    type Target = str;
    fn deref(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for DatabaseUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:?}", redact_url(&self.0))
    }
}

impl std::fmt::Display for DatabaseUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&redact_url(&self.0))
    }
}

fn redact_url(v: &str) -> String {
    match Url::parse(v) {
        Ok(mut u) if u.password().is_some() => {
            let _ = u.set_password(Some("***"));
            u.to_string()
        }
        _ => v.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_key_read_is_one_the_environment_can_set() {
        // Keys are read from the environment only if listed in KEYS: a key read but not listed
        // would work in tests (from_pairs) and silently do nothing in production.
        let source = include_str!("config.rs");
        let test_part = source.find("#[cfg(test)]").unwrap();
        for (i, _) in source[..test_part].match_indices('"') {
            let rest = &source[i + 1..test_part];
            let Some(end) = rest.find('"') else { continue };
            let literal = &rest[..end];
            let is_key = ["ATIENDE_", "TWILIO_", "AWS_"]
                .iter()
                .any(|p| literal.starts_with(p))
                && literal.chars().all(|c| c.is_ascii_uppercase() || c == '_');
            if is_key && literal != "ATIENDE_CONFIG" {
                assert!(KEYS.contains(&literal), "{literal} is read but not in KEYS");
            }
        }
    }

    #[test]
    fn the_database_password_never_prints() {
        let c = Config::from_pairs([
            (
                "DATABASE_URL",
                "postgres://atiende:s3cr3t-pw@db.example/atiende",
            ),
            ("ATIENDE_DEMO", "true"),
        ])
        .unwrap();
        assert_eq!(
            c.database_url.as_str(),
            "postgres://atiende:s3cr3t-pw@db.example/atiende",
            "the driver gets it whole"
        );
        for shown in [
            format!("{c:?}"),
            format!("{}", c.database_url),
            format!("{:?}", c.database_url),
        ] {
            assert!(!shown.contains("s3cr3t-pw"), "{shown}");
        }
        assert!(format!("{}", c.database_url).contains("atiende:***@db.example"));
    }

    #[test]
    fn defaults_run_in_demo_mode_on_sqlite() {
        let c = Config::from_pairs([]).unwrap();
        assert_eq!(c.listen.to_string(), "127.0.0.1:8080");
        assert_eq!(
            c.public_url("/twilio/voice"),
            "http://127.0.0.1:8080/twilio/voice"
        );
        assert_eq!(c.database_url.as_str(), "sqlite://data/atiende.db");
        assert!(c.demo_mode());
        assert_eq!(c.phone.record_max_seconds, 180);
        assert_eq!(
            c.twilio_api_base.as_str(),
            "http://127.0.0.1:8089/",
            "demo mode: the simulator"
        );
        let c = Config::from_pairs([
            ("TWILIO_AUTH_TOKEN", "t"),
            ("TWILIO_ACCOUNT_SID", "AC00000000000000000000000000000000"),
            ("TWILIO_PHONE_NUMBER", "+525500000000"),
        ])
        .unwrap();
        assert_eq!(c.twilio_api_base.as_str(), "https://api.twilio.com/");
    }

    #[test]
    fn demo_mode_is_asked_for_or_a_loopback_default() {
        // The fresh machine's default: loopback, no Twilio setting.
        assert!(Config::from_pairs([]).unwrap().demo_mode());
        // Asked for explicitly, even beyond loopback (a trial on a LAN): unsigned, no SMS.
        let c = Config::from_pairs([("ATIENDE_DEMO", "true"), ("ATIENDE_LISTEN", "0.0.0.0:8080")])
            .unwrap();
        assert!(c.demo_mode());
        assert_eq!(c.auth_token(), None);
        // The simulator's API base in demo mode is no Twilio account setting.
        assert!(
            Config::from_pairs([("TWILIO_API_BASE", "http://127.0.0.1:9999")])
                .unwrap()
                .demo_mode()
        );
        // Never by a missing token beyond loopback, or with an account setting present.
        for pairs in [
            vec![("ATIENDE_LISTEN", "0.0.0.0:8080")],
            vec![("TWILIO_PHONE_NUMBER", "+525500000000")],
            vec![("ATIENDE_DEMO", "false")],
        ] {
            let e = Config::from_pairs(pairs.clone()).unwrap_err();
            assert_eq!(e.key, "TWILIO_AUTH_TOKEN", "{pairs:?}: {e}");
        }
        // A token is not a demo.
        let real = Config::from_pairs([
            ("TWILIO_AUTH_TOKEN", "t"),
            ("TWILIO_ACCOUNT_SID", "AC00000000000000000000000000000000"),
            ("TWILIO_PHONE_NUMBER", "+525500000000"),
            ("ATIENDE_LISTEN", "0.0.0.0:8080"),
        ])
        .unwrap();
        assert!(!real.demo_mode());
    }

    #[test]
    fn errors_name_the_key() {
        let e = Config::from_pairs([("ATIENDE_LISTEN", "nope")]).unwrap_err();
        assert_eq!(e.key, "ATIENDE_LISTEN");
        assert!(e.to_string().starts_with("ATIENDE_LISTEN: "));
        assert!(!e.to_string().contains('\n'));
        let e = Config::from_pairs([("TWILIO_AUTH_TOKEN", "12345")]).unwrap_err();
        assert_eq!(e.key, "TWILIO_ACCOUNT_SID");
        let e = Config::from_pairs([
            ("TWILIO_AUTH_TOKEN", "12345"),
            ("TWILIO_ACCOUNT_SID", "AC00000000000000000000000000000000"),
        ])
        .unwrap_err();
        assert_eq!(
            e.key, "TWILIO_MESSAGING_SERVICE_SID",
            "SMS need a sender: a Messaging Service or a number"
        );
        assert!(e.to_string().contains("TWILIO_PHONE_NUMBER"), "{e}");
        let e = Config::from_pairs([("ATIENDE_RECORD_MAX_SECONDS", "0")]).unwrap_err();
        assert_eq!(e.key, "ATIENDE_RECORD_MAX_SECONDS");
        let e = Config::from_pairs([("DATABASE_URL", "mysql://u:secret@h/db")]).unwrap_err();
        assert!(!e.to_string().contains("secret"));
        let e = Config::from_pairs([("ATIENDE_PUBLIC_URL", "ftp://x")]).unwrap_err();
        assert_eq!(e.key, "ATIENDE_PUBLIC_URL");
    }

    #[test]
    fn the_voice_must_speak_mexican_spanish() {
        for voice in [
            "Polly.Mia-Neural",
            "Polly.Mia",
            "Polly.Andres-Neural",
            "polly.mia-neural",
            "Google.es-MX-Standard-A",
            "alice",
        ] {
            let c = Config::from_pairs([("ATIENDE_VOICE", voice)]).unwrap();
            assert_eq!(c.phone.voice, voice);
        }
        for voice in [
            "Polly.Lupe-Neural",
            "Polly.Lucia",
            "Polly.Joanna",
            "Google.es-US-Neural2-A",
            "Google.es-MX-",
            "man",
        ] {
            let e = Config::from_pairs([("ATIENDE_VOICE", voice)]).unwrap_err();
            assert_eq!(e.key, "ATIENDE_VOICE", "{voice}");
            assert!(e.to_string().contains("es-MX"), "{e}");
            assert!(e.to_string().contains("Polly.Mia-Neural"), "{e}");
        }
    }

    #[test]
    fn a_privacy_notice_must_fit_in_one_say() {
        let fits = "a ".repeat(SAY_MAX_CHARS / 2);
        let c = Config::from_pairs([("ATIENDE_PRIVACY_NOTICE", fits.as_str())]).unwrap();
        assert_eq!(c.phone.privacy_notice.as_deref(), Some(fits.trim()));
        let long = "á".repeat(SAY_MAX_CHARS + 1);
        let e = Config::from_pairs([("ATIENDE_PRIVACY_NOTICE", long.as_str())]).unwrap_err();
        assert_eq!(e.key, "ATIENDE_PRIVACY_NOTICE");
        assert!(!e.to_string().contains('\n'));
    }

    #[test]
    fn secrets_never_print() {
        let c = Config::from_pairs([
            ("TWILIO_AUTH_TOKEN", "12345"),
            ("TWILIO_ACCOUNT_SID", "AC00000000000000000000000000000000"),
            ("TWILIO_PHONE_NUMBER", "+5215512345678"),
        ])
        .unwrap();
        assert!(!format!("{c:?}").contains("12345"));
        assert_eq!(c.auth_token(), Some("12345"));
        assert_eq!(
            c.twilio.unwrap().phone_number.unwrap().as_str(),
            "+525512345678"
        );
    }

    const SERVICE: &str = "MG0123456789abcdef0123456789abcdef";

    #[test]
    fn sms_go_from_the_messaging_service_when_there_is_one() {
        let account = [
            ("TWILIO_AUTH_TOKEN", "12345"),
            ("TWILIO_ACCOUNT_SID", "AC00000000000000000000000000000000"),
        ];
        // The office number alone: SMS go from it.
        let c = Config::from_pairs(
            account
                .into_iter()
                .chain([("TWILIO_PHONE_NUMBER", "+525500000000")]),
        )
        .unwrap();
        let t = c.twilio.unwrap();
        assert_eq!(
            t.sms_sender().map(|s| s.field()),
            Some(("From", "+525500000000"))
        );
        // A Messaging Service alone is enough: no number needed.
        let c = Config::from_pairs(
            account
                .into_iter()
                .chain([("TWILIO_MESSAGING_SERVICE_SID", SERVICE)]),
        )
        .unwrap();
        let t = c.twilio.unwrap();
        assert_eq!(t.phone_number, None);
        assert_eq!(
            t.sms_sender().map(|s| s.field()),
            Some(("MessagingServiceSid", SERVICE))
        );
        // Both: the service sends, the number stays for the help text.
        let c = Config::from_pairs(account.into_iter().chain([
            ("TWILIO_MESSAGING_SERVICE_SID", SERVICE),
            ("TWILIO_PHONE_NUMBER", "+525500000000"),
        ]))
        .unwrap();
        let t = c.twilio.unwrap();
        assert_eq!(t.sms_sender(), Some(SmsSender::MessagingService(SERVICE)));
        assert_eq!(t.phone_number.unwrap().as_str(), "+525500000000");
        // Neither: refused, naming the key and mentioning the other.
        let e = Config::from_pairs(account).unwrap_err();
        assert_eq!(e.key, "TWILIO_MESSAGING_SERVICE_SID");
        assert!(e.to_string().contains("TWILIO_PHONE_NUMBER"), "{e}");
        // A SID that is not a Messaging Service's.
        for wrong in ["PN0123456789abcdef0123456789abcdef", "MG123", "MGxyz"] {
            let e = Config::from_pairs(
                account
                    .into_iter()
                    .chain([("TWILIO_MESSAGING_SERVICE_SID", wrong)]),
            )
            .unwrap_err();
            assert_eq!(e.key, "TWILIO_MESSAGING_SERVICE_SID", "{wrong}");
        }
        // Checked in demo mode too, like the number.
        let e = Config::from_pairs([("TWILIO_MESSAGING_SERVICE_SID", "MG1")]).unwrap_err();
        assert_eq!(e.key, "TWILIO_MESSAGING_SERVICE_SID");
    }

    #[test]
    fn toml_file_uses_the_same_keys() {
        let dir = std::env::temp_dir().join(format!("atiende-config-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("atiende.toml");
        std::fs::write(
            &path,
            "ATIENDE_LISTEN = \"0.0.0.0:9000\"\natiende_record_max_seconds = 120\natiende_demo = true\n",
        )
        .unwrap();
        let values = read_toml(&path).unwrap();
        let c = Config::from_values(values).unwrap();
        assert_eq!(c.listen.port(), 9000);
        assert_eq!(c.phone.record_max_seconds, 120);
        assert!(c.demo_mode(), "a TOML boolean");
        std::fs::write(&path, "LISTEN = 1\n").unwrap();
        assert_eq!(read_toml(&path).unwrap_err().key, "ATIENDE_CONFIG");
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn forwarded_for_is_believed_only_from_a_trusted_proxy() {
        let ip = |s: &str| s.parse::<IpAddr>().unwrap();
        let proxies = TrustedProxies::parse("127.0.0.1, 10.0.0.0/8 ::1").unwrap();
        assert!(proxies.contains(ip("10.1.2.3")));
        assert!(proxies.contains(ip("::ffff:127.0.0.1")));
        assert!(!proxies.contains(ip("127.0.0.2")));
        // Not a proxy: the header is the client's own words, ignored.
        assert_eq!(
            proxies.client_address(ip("203.0.113.9"), ["198.51.100.1"]),
            ip("203.0.113.9")
        );
        // A proxy: the right-most address that is not a proxy; what the client wrote to the
        // left of it is ignored.
        assert_eq!(
            proxies.client_address(ip("127.0.0.1"), ["6.6.6.6, 198.51.100.7, 10.0.0.2"]),
            ip("198.51.100.7")
        );
        assert_eq!(
            proxies.client_address(ip("127.0.0.1"), ["6.6.6.6", "198.51.100.7:4567"]),
            ip("198.51.100.7")
        );
        // A proxy that sent nothing usable: the proxy's address.
        assert_eq!(proxies.client_address(ip("127.0.0.1"), []), ip("127.0.0.1"));
        assert_eq!(
            proxies.client_address(ip("127.0.0.1"), ["not an address"]),
            ip("127.0.0.1")
        );
        assert!(TrustedProxies::parse("10.0.0.0/33").is_err());
        assert!(TrustedProxies::parse("proxy.example").is_err());
        let config = Config::from_pairs([("ATIENDE_TRUSTED_PROXIES", "nonsense")]);
        assert_eq!(config.unwrap_err().key, "ATIENDE_TRUSTED_PROXIES");
    }
}
