//! Staff accounts, their sessions in the console, and sign-in attempts.

use super::{BeginWrite, Store, StoreError, with_pool, with_read_pool};
use crate::domain::{Role, Timestamp};

/// An account to create.
#[derive(Debug, Clone)]
pub struct NewUser<'a> {
    pub name: &'a str,
    /// A PHC string (Argon2id, from `staff::password::hash`); never the password itself.
    pub password_hash: &'a str,
    pub role: Role,
    pub department_code: Option<&'a str>,
    pub at: Timestamp,
}

/// A staff account as the console needs it.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct StaffUser {
    pub id: i64,
    pub name: String,
    pub role: Role,
    /// The department of an `area` user.
    pub department_id: Option<i64>,
    pub department_name: Option<String>,
    pub active: bool,
    pub password_hash: String,
}

/// A change to an existing account (`atiende user set ...`). `None` keeps the value.
#[derive(Debug, Clone, Default)]
pub struct UserChange<'a> {
    pub password_hash: Option<&'a str>,
    /// The role, with the department code it needs (`area`) or none.
    pub role: Option<(Role, Option<&'a str>)>,
    pub active: Option<bool>,
}

const SELECT_USER: &str = r#"
    select u.id, u.name, u.role, u.department_id, d.name as department_name, u.active,
           u.password_hash
    from users u
    left join departments d on d.id = u.department_id
"#;

/// A sign-in attempt to note (see [`Store::begin_login_attempt`]).
#[derive(Debug, Clone)]
pub struct NewLoginAttempt<'a> {
    /// An account's name, or the keyed hash of a name that is none (never what was typed).
    pub user_name: &'a str,
    /// The client's address (through trusted proxies).
    pub address: &'a str,
    /// The nonce of a valid device cookie for this account, if the browser sent one.
    pub device: Option<&'a str>,
    /// Whether, should it fail, this attempt leaves the account, address or device paused.
    pub paused: bool,
    pub at: Timestamp,
}

/// Whose failures to count (see [`Store::login_failures`]).
#[derive(Debug, Clone, Copy)]
pub enum FailureScope<'a> {
    /// An account (or an unknown name's hash), from browsers without its device cookie.
    Account(&'a str),
    /// A client address, from browsers without a device cookie.
    Address(&'a str),
    /// One device cookie, by its nonce.
    Device(&'a str),
}

/// Failed sign-ins in a window: how many, and the latest.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Failures {
    pub count: i64,
    pub last: Option<Timestamp>,
}

/// A failed sign-in, as the admin's list shows it.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct LoginFailure {
    pub at: Timestamp,
    pub user_name: String,
    /// Whether `user_name` is an account's.
    pub known: bool,
    pub address: String,
    /// Whether the browser had this account's device cookie.
    pub known_device: bool,
    pub paused: bool,
}

/// A session record of the console (see `console::session`).
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct SessionRow {
    pub id: String,
    pub data: String,
    pub expires_at: Timestamp,
}

impl Store {
    /// Creates an account. An existing name is refused ([`StoreError::Conflict`]): changing an
    /// account is [`Store::change_user`], on purpose.
    pub async fn create_user(&self, user: &NewUser<'_>) -> Result<i64, StoreError> {
        check_role(user.role, user.department_code)?;
        let id = with_pool!(self, |pool| {
            let mut tx = pool.begin_write().await?;
            let department_id = match user.department_code {
                None => None,
                Some(code) => Some(department_id!(&mut *tx, code)?),
            };
            let id: Option<i64> = sqlx::query_scalar(
                r#"
                insert into users (name, password_hash, role, department_id, created_at, updated_at)
                values ($1, $2, $3, $4, $5, $5)
                on conflict (name) do nothing
                returning id
                "#,
            )
            .bind(user.name)
            .bind(user.password_hash)
            .bind(user.role)
            .bind(department_id)
            .bind(user.at)
            .fetch_optional(&mut *tx)
            .await?;
            tx.commit().await?;
            id
        });
        id.ok_or(StoreError::Conflict("an account with that name exists"))
    }

    /// Changes an existing account. [`StoreError::NotFound`] if there is none by that name.
    pub async fn change_user(
        &self,
        name: &str,
        change: &UserChange<'_>,
        at: Timestamp,
    ) -> Result<(), StoreError> {
        if let Some((role, department)) = change.role {
            check_role(role, department)?;
        }
        let n = with_pool!(self, |pool| {
            let mut tx = pool.begin_write().await?;
            let (role, department_id, set_role) = match change.role {
                Some((role, Some(code))) => {
                    (Some(role), Some(department_id!(&mut *tx, code)?), true)
                }
                Some((role, None)) => (Some(role), None, true),
                None => (None, None, false),
            };
            let n = sqlx::query(
                r#"
                update users set
                    password_hash = coalesce($2, password_hash),
                    role = coalesce($3, role),
                    department_id = case when $4 then $5 else department_id end,
                    active = coalesce($6, active),
                    updated_at = $7
                where name = $1
                "#,
            )
            .bind(name)
            .bind(change.password_hash)
            .bind(role)
            .bind(set_role)
            .bind(department_id)
            .bind(change.active)
            .bind(at)
            .execute(&mut *tx)
            .await?
            .rows_affected();
            tx.commit().await?;
            n
        });
        if n == 0 {
            return Err(StoreError::NotFound("user"));
        }
        Ok(())
    }

    /// An account by name, active or not.
    pub async fn user_by_name(&self, name: &str) -> Result<Option<StaffUser>, StoreError> {
        let sql = format!("{SELECT_USER} where u.name = $1");
        let row = with_read_pool!(self, |pool| {
            sqlx::query_as::<_, StaffUser>(&sql)
                .bind(name)
                .fetch_optional(pool)
                .await?
        });
        Ok(row)
    }

    /// An account by id, active or not.
    pub async fn user(&self, id: i64) -> Result<Option<StaffUser>, StoreError> {
        let sql = format!("{SELECT_USER} where u.id = $1");
        let row = with_read_pool!(self, |pool| {
            sqlx::query_as::<_, StaffUser>(&sql)
                .bind(id)
                .fetch_optional(pool)
                .await?
        });
        Ok(row)
    }

    /// Notes a sign-in attempt before it is checked, as a failure until
    /// [`Store::login_succeeded`] says otherwise; returns its id. Attempts still being checked
    /// count too, so that guesses sent all at once cannot all pass [`Store::login_failures`].
    pub async fn begin_login_attempt(
        &self,
        attempt: &NewLoginAttempt<'_>,
    ) -> Result<i64, StoreError> {
        let id = with_pool!(self, |pool| {
            sqlx::query_scalar::<_, i64>(
                r#"
                insert into login_attempts (user_name, address, device, paused, succeeded, at)
                values ($1, $2, $3, $4, false, $5)
                returning id
                "#,
            )
            .bind(attempt.user_name)
            .bind(attempt.address)
            .bind(attempt.device)
            .bind(attempt.paused)
            .bind(attempt.at)
            .fetch_one(pool)
            .await?
        });
        Ok(id)
    }

    /// Marks a sign-in attempt as the right password.
    pub async fn login_succeeded(&self, attempt_id: i64) -> Result<(), StoreError> {
        with_pool!(self, |pool| {
            sqlx::query(r#"update login_attempts set succeeded = true where id = $1"#)
                .bind(attempt_id)
                .execute(pool)
                .await?;
        });
        Ok(())
    }

    /// Takes back an attempt noted by [`Store::begin_login_attempt`] and then refused unchecked
    /// (others sent at the same moment got there first): a refused try is no failure.
    pub async fn forget_login_attempt(&self, attempt_id: i64) -> Result<(), StoreError> {
        with_pool!(self, |pool| {
            sqlx::query(r#"delete from login_attempts where id = $1"#)
                .bind(attempt_id)
                .execute(pool)
                .await?;
        });
        Ok(())
    }

    /// The failed sign-ins of one scope since `since`, but for the attempt `except`: how many,
    /// and the latest. A success resets an account's count.
    pub async fn login_failures(
        &self,
        scope: FailureScope<'_>,
        since: Timestamp,
        except: i64,
    ) -> Result<Failures, StoreError> {
        // Only browsers without a device cookie count against an account or an address; a
        // device cookie's failures count against it alone.
        let (filter, key) = match scope {
            FailureScope::Account(name) => (
                r#"user_name = $1 and device is null
                   and at > coalesce((select max(at) from login_attempts
                                      where user_name = $1 and succeeded), $2)"#,
                name,
            ),
            FailureScope::Address(address) => ("address = $1 and device is null", address),
            FailureScope::Device(nonce) => ("device = $1", nonce),
        };
        let failed = format!(
            "from login_attempts where {filter} and not succeeded and at >= $2 and id <> $3"
        );
        let count_sql = format!("select count(*) {failed}");
        let last_sql = format!("select at {failed} order by at desc limit 1");
        let failures = with_read_pool!(self, |pool| {
            let count: i64 = sqlx::query_scalar(&count_sql)
                .bind(key)
                .bind(since)
                .bind(except)
                .fetch_one(pool)
                .await?;
            let last: Option<Timestamp> = sqlx::query_scalar(&last_sql)
                .bind(key)
                .bind(since)
                .bind(except)
                .fetch_optional(pool)
                .await?;
            Failures { count, last }
        });
        Ok(failures)
    }

    /// The latest failed sign-ins, newest first, for the admin; `known` says whether the name
    /// is an account's (else it is the hash the console keeps instead of what was typed).
    pub async fn recent_login_failures(&self, limit: i64) -> Result<Vec<LoginFailure>, StoreError> {
        let rows = with_read_pool!(self, |pool| {
            sqlx::query_as::<_, LoginFailure>(
                r#"
                select a.at, a.user_name, u.id is not null as known, a.address,
                       a.device is not null as known_device, a.paused
                from login_attempts a
                left join users u on u.name = a.user_name
                where not a.succeeded
                order by a.at desc, a.id desc
                limit $1
                "#,
            )
            .bind(limit)
            .fetch_all(pool)
            .await?
        });
        Ok(rows)
    }

    /// Deletes up to `limit` expired sessions and up to `limit` sign-in attempts made before
    /// `attempts_before`; returns how many of each. Bounded, so a sweep never holds the
    /// database for long; called often enough, it keeps up.
    pub async fn sweep_sign_ins(
        &self,
        now: Timestamp,
        attempts_before: Timestamp,
        limit: i64,
    ) -> Result<(u64, u64), StoreError> {
        let swept = with_pool!(self, |pool| {
            let sessions = sqlx::query(
                r#"
                delete from sessions where id in
                    (select id from sessions where expires_at <= $1 limit $2)
                "#,
            )
            .bind(now)
            .bind(limit)
            .execute(pool)
            .await?
            .rows_affected();
            let attempts = sqlx::query(
                r#"
                delete from login_attempts where id in
                    (select id from login_attempts where at < $1 limit $2)
                "#,
            )
            .bind(attempts_before)
            .bind(limit)
            .execute(pool)
            .await?
            .rows_affected();
            (sessions, attempts)
        });
        Ok(swept)
    }

    /// A key this service made for itself under `name`: the one already kept, or else
    /// `candidate`, kept from now on. Every instance on the database gets the same.
    pub async fn server_key(
        &self,
        name: &str,
        candidate: &str,
        at: Timestamp,
    ) -> Result<String, StoreError> {
        let key = with_pool!(self, |pool| {
            sqlx::query(
                r#"
                insert into server_keys (name, key, created_at) values ($1, $2, $3)
                on conflict (name) do nothing
                "#,
            )
            .bind(name)
            .bind(candidate)
            .bind(at)
            .execute(pool)
            .await?;
            sqlx::query_scalar::<_, String>(r#"select key from server_keys where name = $1"#)
                .bind(name)
                .fetch_one(pool)
                .await?
        });
        Ok(key)
    }

    /// A session record, if it has not expired.
    pub async fn session(
        &self,
        id: &str,
        now: Timestamp,
    ) -> Result<Option<SessionRow>, StoreError> {
        let row = with_read_pool!(self, |pool| {
            sqlx::query_as::<_, SessionRow>(
                r#"select id, data, expires_at from sessions where id = $1 and expires_at > $2"#,
            )
            .bind(id)
            .bind(now)
            .fetch_optional(pool)
            .await?
        });
        Ok(row)
    }

    /// Writes a session record. With `only_new`, an existing id is left alone and `false`
    /// returned (a new session never takes over another's id).
    pub async fn save_session(&self, row: &SessionRow, only_new: bool) -> Result<bool, StoreError> {
        let sql = if only_new {
            r#"insert into sessions (id, data, expires_at) values ($1, $2, $3) on conflict (id) do nothing"#
        } else {
            r#"
            insert into sessions (id, data, expires_at) values ($1, $2, $3)
            on conflict (id) do update set data = excluded.data, expires_at = excluded.expires_at
            "#
        };
        let n = with_pool!(self, |pool| {
            sqlx::query(sql)
                .bind(&row.id)
                .bind(&row.data)
                .bind(row.expires_at)
                .execute(pool)
                .await?
                .rows_affected()
        });
        Ok(n == 1)
    }

    /// Deletes a session (logout), and those that expired before `now`.
    pub async fn delete_session(&self, id: &str, now: Timestamp) -> Result<(), StoreError> {
        with_pool!(self, |pool| {
            sqlx::query(r#"delete from sessions where id = $1 or expires_at <= $2"#)
                .bind(id)
                .bind(now)
                .execute(pool)
                .await?;
        });
        Ok(())
    }
}

fn check_role(role: Role, department: Option<&str>) -> Result<(), StoreError> {
    match (role, department) {
        (Role::Area, None) => Err(StoreError::Invalid(
            "an area user needs --department".into(),
        )),
        (Role::Admin | Role::Operador, Some(_)) => Err(StoreError::Invalid(
            "only an area user belongs to a department".into(),
        )),
        _ => Ok(()),
    }
}

/// The id of a department by its code (a macro, not a generic function: a future holding a
/// generic `Executor` is not `Send` for every lifetime, which axum's handlers need).
macro_rules! department_id {
    ($conn:expr, $code:expr) => {{
        let code: &str = $code;
        sqlx::query_scalar::<_, i64>(r#"select id from departments where code = $1"#)
            .bind(code)
            .fetch_optional($conn)
            .await?
            .ok_or_else(|| StoreError::Invalid(format!("no department with code {code:?}")))
    }};
}
use department_id;
