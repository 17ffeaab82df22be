//! Staff accounts.

use super::{BeginWrite, Store, StoreError, with_pool, with_read_pool};
use crate::domain::{Role, Timestamp};

/// An account to create or update.
#[derive(Debug, Clone)]
pub struct NewUser<'a> {
    pub name: &'a str,
    /// A PHC string (Argon2id, from `staff::password::hash`); never the password itself.
    pub password_hash: &'a str,
    pub role: Role,
    pub department_code: Option<&'a str>,
    pub at: Timestamp,
}

impl Store {
    /// Creates the account, or updates its password, role and department if the name exists.
    /// Returns whether it was created.
    pub async fn upsert_user(&self, user: &NewUser<'_>) -> Result<bool, StoreError> {
        if user.role == Role::Area && user.department_code.is_none() {
            return Err(StoreError::Invalid(
                "an area user needs --department".into(),
            ));
        }
        let created = with_pool!(self, |pool| {
            let mut tx = pool.begin_write().await?;
            let department_id: Option<i64> = match user.department_code {
                None => None,
                Some(code) => Some(
                    sqlx::query_scalar(r#"select id from departments where code = $1"#)
                        .bind(code)
                        .fetch_optional(&mut *tx)
                        .await?
                        .ok_or_else(|| {
                            StoreError::Invalid(format!("no department with code {code:?}"))
                        })?,
                ),
            };
            let existed: Option<i64> =
                sqlx::query_scalar(r#"select id from users where name = $1"#)
                    .bind(user.name)
                    .fetch_optional(&mut *tx)
                    .await?;
            sqlx::query(
                r#"
                insert into users (name, password_hash, role, department_id, created_at, updated_at)
                values ($1, $2, $3, $4, $5, $5)
                on conflict (name) do update set
                    password_hash = excluded.password_hash, role = excluded.role,
                    department_id = excluded.department_id, active = true, updated_at = excluded.updated_at
                "#,
            )
            .bind(user.name)
            .bind(user.password_hash)
            .bind(user.role)
            .bind(department_id)
            .bind(user.at)
            .execute(&mut *tx)
            .await?;
            tx.commit().await?;
            existed.is_none()
        });
        Ok(created)
    }

    /// The stored password hash and role of an active account.
    pub async fn user_credentials(&self, name: &str) -> Result<Option<(String, Role)>, StoreError> {
        let row = with_read_pool!(self, |pool| {
            sqlx::query_as::<_, (String, Role)>(
                r#"select password_hash, role from users where name = $1 and active"#,
            )
            .bind(name)
            .fetch_optional(pool)
            .await?
        });
        Ok(row)
    }
}
