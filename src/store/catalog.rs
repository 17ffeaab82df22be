//! Categories and departments: the phone menu is data an admin can change.

use super::{Store, StoreError, with_read_pool};

/// A category as the phone menu needs it.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct Category {
    pub id: i64,
    pub code: String,
    /// "Alumbrado público".
    pub name: String,
    /// The key that picks it in the phone menu.
    pub digit: Option<String>,
    pub department_id: i64,
    pub department_name: String,
    /// Whether the phone line asks if there is immediate risk.
    pub asks_urgency: bool,
    /// Whether a lookup by voice keeps the category, the department and what was done to itself
    /// (status and date only): caller ID can be faked, and for some reports (Seguridad pública)
    /// even that much is too much to tell whoever holds the folio.
    pub sensitive: bool,
}

const SELECT_CATEGORY: &str = r#"
    select c.id, c.code, c.name, c.digit, c.department_id, d.name as department_name, c.asks_urgency,
           c.sensitive
    from categories c
    join departments d on d.id = c.department_id
"#;

impl Store {
    /// The categories offered by phone, in menu order.
    pub async fn phone_menu_categories(&self) -> Result<Vec<Category>, StoreError> {
        let sql = format!(
            "{SELECT_CATEGORY} where c.active and c.digit is not null order by c.position, c.id"
        );
        let rows = with_read_pool!(self, |pool| {
            sqlx::query_as::<_, Category>(&sql).fetch_all(pool).await?
        });
        Ok(rows)
    }

    /// Every category, for staff: active ones, in menu order.
    pub async fn categories(&self) -> Result<Vec<Category>, StoreError> {
        let sql = format!("{SELECT_CATEGORY} where c.active order by c.position, c.id");
        let rows = with_read_pool!(self, |pool| {
            sqlx::query_as::<_, Category>(&sql).fetch_all(pool).await?
        });
        Ok(rows)
    }

    /// One category by id, active or not (cases keep pointing at retired categories).
    pub async fn category(&self, id: i64) -> Result<Option<Category>, StoreError> {
        let sql = format!("{SELECT_CATEGORY} where c.id = $1");
        let row = with_read_pool!(self, |pool| {
            sqlx::query_as::<_, Category>(&sql)
                .bind(id)
                .fetch_optional(pool)
                .await?
        });
        Ok(row)
    }
}
