//! What an admin changes in the console without calling IT: categories (the phone menu),
//! departments, the office hours and the transfer number. Each change is checked and written in
//! one transaction with its entry in the settings history (who, when, what), as case changes
//! are. The phone line reads categories from the database on every menu, and the hours and
//! transfer number through `state::LiveSettings`, so a change reaches the next call.

use super::{BeginWrite, Store, StoreError, with_pool, with_read_pool};
use crate::domain::Timestamp;

/// Writes an entry of the settings history (a macro: the executor is either backend's).
macro_rules! add_event {
    ($executor:expr, $at:expr, $actor:expr, $what:expr, $detail:expr) => {
        sqlx::query(
            r#"insert into settings_events (at, actor, what, detail) values ($1, $2, $3, $4)"#,
        )
        .bind($at)
        .bind($actor)
        .bind($what)
        .bind($detail)
        .execute($executor)
        .await
    };
}

/// A category as the settings page shows and edits it.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct CategorySettings {
    pub id: i64,
    pub code: String,
    pub name: String,
    pub digit: Option<String>,
    pub department_id: i64,
    pub department_name: String,
    pub asks_urgency: bool,
    pub sensitive: bool,
    pub classify_hours: i64,
    pub first_response_days: i64,
    pub resolve_days: i64,
    pub active: bool,
}

/// A category to create (`id: None`) or change.
#[derive(Debug, Clone)]
pub struct CategoryEdit<'a> {
    pub id: Option<i64>,
    pub name: &'a str,
    pub digit: Option<&'a str>,
    pub department_id: i64,
    pub asks_urgency: bool,
    pub sensitive: bool,
    pub classify_hours: i64,
    pub first_response_days: i64,
    pub resolve_days: i64,
    pub active: bool,
}

/// A department as the settings page shows and edits it.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct DepartmentSettings {
    pub id: i64,
    pub code: String,
    pub name: String,
    pub contact_number: Option<String>,
    pub active: bool,
}

/// A department to create (`id: None`) or change.
#[derive(Debug, Clone)]
pub struct DepartmentEdit<'a> {
    pub id: Option<i64>,
    pub name: &'a str,
    pub contact_number: Option<&'a str>,
    pub active: bool,
}

/// Why a settings change was refused; nothing was written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SettingsRefusal {
    /// The menu key belongs to another category.
    KeyTaken { key: String, by: String },
    /// The phone menu would have no category left.
    EmptyMenu,
    /// Another category or department has that name.
    NameTaken,
    /// Active categories still go to this department.
    DepartmentInUse { categories: Vec<String> },
    /// No such category or department.
    Missing,
}

/// An entry of the settings history.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct SettingsEvent {
    pub at: Timestamp,
    pub actor: String,
    pub what: String,
    pub detail: Option<String>,
}

/// Keys of the `settings` table.
pub const OFFICE_HOURS: &str = "office_hours";
pub const TRANSFER_NUMBER: &str = "transfer_number";

/// A code for a new row, from its name: lower case ASCII letters and `_` ("Bacheo y baches" →
/// `bacheo_y_baches`), made unique with a number if needed.
fn code_of(name: &str, taken: &[String]) -> String {
    let mut base: String = name
        .chars()
        .map(|c| match c.to_lowercase().next().unwrap_or(c) {
            'á' => 'a',
            'é' => 'e',
            'í' => 'i',
            'ó' => 'o',
            'ú' | 'ü' => 'u',
            'ñ' => 'n',
            c if c.is_ascii_alphanumeric() => c,
            _ => '_',
        })
        .collect::<String>()
        .split('_')
        .filter(|p| !p.is_empty())
        .collect::<Vec<_>>()
        .join("_");
    base.truncate(40);
    if base.is_empty() {
        base = "nueva".into();
    }
    let mut code = base.clone();
    let mut n = 2;
    while taken.contains(&code) {
        code = format!("{base}_{n}");
        n += 1;
    }
    code
}

impl Store {
    /// Every category, active or not, in menu order.
    pub async fn category_settings(&self) -> Result<Vec<CategorySettings>, StoreError> {
        let rows = with_read_pool!(self, |pool| {
            sqlx::query_as::<_, CategorySettings>(
                r#"
                select c.id, c.code, c.name, c.digit, c.department_id, d.name as department_name,
                       c.asks_urgency, c.sensitive, c.classify_hours, c.first_response_days,
                       c.resolve_days, c.active
                from categories c join departments d on d.id = c.department_id
                order by c.active desc, c.position, c.id
                "#,
            )
            .fetch_all(pool)
            .await?
        });
        Ok(rows)
    }

    /// Every department, active or not.
    pub async fn department_settings(&self) -> Result<Vec<DepartmentSettings>, StoreError> {
        let rows = with_read_pool!(self, |pool| {
            sqlx::query_as::<_, DepartmentSettings>(
                r#"select id, code, name, contact_number, active from departments order by active desc, name"#,
            )
            .fetch_all(pool)
            .await?
        });
        Ok(rows)
    }

    /// Creates or changes a category, checked against the others in the same transaction:
    /// a key is one category's, and the phone menu keeps at least one category.
    pub async fn save_category(
        &self,
        edit: &CategoryEdit<'_>,
        actor: &str,
        at: Timestamp,
    ) -> Result<Result<i64, SettingsRefusal>, StoreError> {
        with_pool!(self, |pool| {
            let mut tx = pool.begin_write().await?;
            let others: Vec<(i64, String, String, Option<String>, bool)> =
                sqlx::query_as(r#"select id, code, name, digit, active from categories"#)
                    .fetch_all(&mut *tx)
                    .await?;
            let this = edit.id;
            if this.is_some_and(|id| !others.iter().any(|o| o.0 == id)) {
                return Ok(Err(SettingsRefusal::Missing));
            }
            let others_only = || others.iter().filter(|o| Some(o.0) != this);
            if let Some(key) = edit.digit
                && let Some(by) = others_only().find(|o| o.3.as_deref() == Some(key))
            {
                return Ok(Err(SettingsRefusal::KeyTaken {
                    key: key.to_owned(),
                    by: by.2.clone(),
                }));
            }
            if others_only().any(|o| o.2.to_lowercase() == edit.name.to_lowercase()) {
                return Ok(Err(SettingsRefusal::NameTaken));
            }
            let in_menu_after = others_only().filter(|o| o.4 && o.3.is_some()).count()
                + usize::from(edit.active && edit.digit.is_some());
            if in_menu_after == 0 {
                return Ok(Err(SettingsRefusal::EmptyMenu));
            }
            let (id, what) = match this {
                Some(id) => {
                    sqlx::query(
                        r#"
                        update categories set name = $2, digit = $3, department_id = $4,
                            asks_urgency = $5, sensitive = $6, classify_hours = $7,
                            first_response_days = $8, resolve_days = $9, active = $10
                        where id = $1
                        "#,
                    )
                    .bind(id)
                    .bind(edit.name)
                    .bind(edit.digit)
                    .bind(edit.department_id)
                    .bind(edit.asks_urgency)
                    .bind(edit.sensitive)
                    .bind(edit.classify_hours)
                    .bind(edit.first_response_days)
                    .bind(edit.resolve_days)
                    .bind(edit.active)
                    .execute(&mut *tx)
                    .await?;
                    (id, "Categoría modificada")
                }
                None => {
                    let codes: Vec<String> = others.iter().map(|o| o.1.clone()).collect();
                    let id: i64 = sqlx::query_scalar(
                        r#"
                        insert into categories (code, name, digit, position, department_id,
                            asks_urgency, sensitive, classify_hours, first_response_days,
                            resolve_days, active)
                        values ($1, $2, $3, (select coalesce(max(position), 0) + 1 from categories),
                                $4, $5, $6, $7, $8, $9, $10)
                        returning id
                        "#,
                    )
                    .bind(code_of(edit.name, &codes))
                    .bind(edit.name)
                    .bind(edit.digit)
                    .bind(edit.department_id)
                    .bind(edit.asks_urgency)
                    .bind(edit.sensitive)
                    .bind(edit.classify_hours)
                    .bind(edit.first_response_days)
                    .bind(edit.resolve_days)
                    .bind(edit.active)
                    .fetch_one(&mut *tx)
                    .await?;
                    (id, "Categoría creada")
                }
            };
            let detail = format!(
                "{}: tecla {}, área {}, {}urgencia, plazos {} h / {} días / {} días, {}{}",
                edit.name,
                edit.digit.unwrap_or("ninguna"),
                edit.department_id,
                if edit.asks_urgency {
                    "pregunta "
                } else {
                    "sin "
                },
                edit.classify_hours,
                edit.first_response_days,
                edit.resolve_days,
                if edit.active { "activa" } else { "inactiva" },
                if edit.sensitive { ", sensible" } else { "" },
            );
            add_event!(&mut *tx, at, actor, what, Some(detail.as_str()))?;
            tx.commit().await?;
            Ok(Ok(id))
        })
    }

    /// Creates or changes a department; one that active categories still go to stays active.
    pub async fn save_department(
        &self,
        edit: &DepartmentEdit<'_>,
        actor: &str,
        at: Timestamp,
    ) -> Result<Result<i64, SettingsRefusal>, StoreError> {
        with_pool!(self, |pool| {
            let mut tx = pool.begin_write().await?;
            let others: Vec<(i64, String, String)> =
                sqlx::query_as(r#"select id, code, name from departments"#)
                    .fetch_all(&mut *tx)
                    .await?;
            let this = edit.id;
            if this.is_some_and(|id| !others.iter().any(|o| o.0 == id)) {
                return Ok(Err(SettingsRefusal::Missing));
            }
            if others
                .iter()
                .filter(|o| Some(o.0) != this)
                .any(|o| o.2.to_lowercase() == edit.name.to_lowercase())
            {
                return Ok(Err(SettingsRefusal::NameTaken));
            }
            if let (Some(id), false) = (this, edit.active) {
                let categories: Vec<String> = sqlx::query_scalar(
                    r#"select name from categories where department_id = $1 and active order by name"#,
                )
                .bind(id)
                .fetch_all(&mut *tx)
                .await?;
                if !categories.is_empty() {
                    return Ok(Err(SettingsRefusal::DepartmentInUse { categories }));
                }
            }
            let (id, what) = match this {
                Some(id) => {
                    sqlx::query(
                        r#"update departments set name = $2, contact_number = $3, active = $4 where id = $1"#,
                    )
                    .bind(id)
                    .bind(edit.name)
                    .bind(edit.contact_number)
                    .bind(edit.active)
                    .execute(&mut *tx)
                    .await?;
                    (id, "Área modificada")
                }
                None => {
                    let codes: Vec<String> = others.iter().map(|o| o.1.clone()).collect();
                    let id: i64 = sqlx::query_scalar(
                        r#"
                        insert into departments (code, name, contact_number, active)
                        values ($1, $2, $3, $4) returning id
                        "#,
                    )
                    .bind(code_of(edit.name, &codes))
                    .bind(edit.name)
                    .bind(edit.contact_number)
                    .bind(edit.active)
                    .fetch_one(&mut *tx)
                    .await?;
                    (id, "Área creada")
                }
            };
            let detail = format!(
                "{}: contacto {}, {}",
                edit.name,
                edit.contact_number.unwrap_or("ninguno"),
                if edit.active { "activa" } else { "inactiva" }
            );
            add_event!(&mut *tx, at, actor, what, Some(detail.as_str()))?;
            tx.commit().await?;
            Ok(Ok(id))
        })
    }

    /// The settings stored by admins, as `(key, value)`.
    pub async fn settings(&self) -> Result<Vec<(String, String)>, StoreError> {
        let rows = with_read_pool!(self, |pool| {
            sqlx::query_as::<_, (String, String)>(r#"select key, value from settings"#)
                .fetch_all(pool)
                .await?
        });
        Ok(rows)
    }

    /// Stores settings (an empty value removes the key: the configuration's applies again),
    /// with one history entry.
    pub async fn save_settings(
        &self,
        values: &[(&str, &str)],
        actor: &str,
        what: &str,
        detail: &str,
        at: Timestamp,
    ) -> Result<(), StoreError> {
        with_pool!(self, |pool| {
            let mut tx = pool.begin_write().await?;
            for (key, value) in values {
                if value.is_empty() {
                    sqlx::query(r#"delete from settings where key = $1"#)
                        .bind(*key)
                        .execute(&mut *tx)
                        .await?;
                } else {
                    sqlx::query(
                        r#"
                        insert into settings (key, value, updated_at, updated_by)
                        values ($1, $2, $3, $4)
                        on conflict (key) do update set value = excluded.value,
                            updated_at = excluded.updated_at, updated_by = excluded.updated_by
                        "#,
                    )
                    .bind(*key)
                    .bind(*value)
                    .bind(at)
                    .bind(actor)
                    .execute(&mut *tx)
                    .await?;
                }
            }
            add_event!(&mut *tx, at, actor, what, Some(detail))?;
            tx.commit().await?;
        });
        Ok(())
    }

    /// Notes a settings change made elsewhere (accounts), in the settings history.
    pub async fn note_settings_change(
        &self,
        actor: &str,
        what: &str,
        detail: &str,
        at: Timestamp,
    ) -> Result<(), StoreError> {
        with_pool!(self, |pool| {
            sqlx::query(
                r#"insert into settings_events (at, actor, what, detail) values ($1, $2, $3, $4)"#,
            )
            .bind(at)
            .bind(actor.to_owned())
            .bind(what.to_owned())
            .bind(detail.to_owned())
            .execute(pool)
            .await?;
        });
        Ok(())
    }

    /// The settings history, newest first.
    pub async fn settings_history(&self, limit: i64) -> Result<Vec<SettingsEvent>, StoreError> {
        let rows = with_read_pool!(self, |pool| {
            sqlx::query_as::<_, SettingsEvent>(
                r#"select at, actor, what, detail from settings_events order by id desc limit $1"#,
            )
            .bind(limit)
            .fetch_all(pool)
            .await?
        });
        Ok(rows)
    }

    /// Every account, for the settings page.
    pub async fn users(&self) -> Result<Vec<super::StaffUser>, StoreError> {
        let rows = with_read_pool!(self, |pool| {
            sqlx::query_as::<_, super::StaffUser>(
                r#"
                select u.id, u.name, u.role, u.department_id, d.name as department_name, u.active,
                       u.password_hash
                from users u left join departments d on d.id = u.department_id
                order by u.active desc, u.name
                "#,
            )
            .fetch_all(pool)
            .await?
        });
        Ok(rows)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_made_from_names() {
        assert_eq!(code_of("Bacheo y baches", &[]), "bacheo_y_baches");
        assert_eq!(code_of("Parques, jardines", &[]), "parques_jardines");
        assert_eq!(code_of("Alumbrado", &["alumbrado".into()]), "alumbrado_2");
        assert_eq!(code_of("¡!", &[]), "nueva");
    }
}
