//! The database's totals that `/metrics` shows at each scrape.

use super::{Backend, Store, StoreError, with_read_pool};

/// Totals across the whole database (the same on every instance).
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct ServiceFigures {
    /// Calls by outcome (`in_progress` for calls not ended).
    pub calls_by_outcome: Vec<(String, i64)>,
    /// Cases by category code (`none` when not classified) and channel.
    pub cases_by_category_channel: Vec<(String, String, i64)>,
    /// Jobs by kind and state.
    pub jobs_by_kind_state: Vec<(String, String, i64)>,
    /// Outbound messages by status.
    pub sms_by_status: Vec<(String, i64)>,
}

impl Store {
    /// Reads the totals `/metrics` shows (four grouped counts).
    pub async fn service_figures(&self) -> Result<ServiceFigures, StoreError> {
        let figures = with_read_pool!(self, |pool| {
            ServiceFigures {
                calls_by_outcome: sqlx::query_as(
                    "select coalesce(outcome, 'in_progress'), count(*) from calls group by 1 order by 1",
                )
                .fetch_all(pool)
                .await?,
                cases_by_category_channel: sqlx::query_as(
                    r#"
                    select coalesce(c.code, 'none'), k.channel, count(*)
                    from cases k left join categories c on c.id = k.category_id
                    group by 1, 2 order by 1, 2
                    "#,
                )
                .fetch_all(pool)
                .await?,
                jobs_by_kind_state: sqlx::query_as(
                    "select kind, state, count(*) from jobs group by 1, 2 order by 1, 2",
                )
                .fetch_all(pool)
                .await?,
                sms_by_status: sqlx::query_as(
                    "select status, count(*) from messages where direction = 'outbound' group by 1 order by 1",
                )
                .fetch_all(pool)
                .await?,
            }
        });
        Ok(figures)
    }

    /// Each pool's name, connections open and connections idle.
    pub fn pool_states(&self) -> Vec<(&'static str, u32, u32)> {
        match &self.backend {
            Backend::Sqlite { write, read } => vec![
                ("sqlite_write", write.size(), write.num_idle() as u32),
                ("sqlite_read", read.size(), read.num_idle() as u32),
            ],
            Backend::Postgres(pool) => vec![("postgres", pool.size(), pool.num_idle() as u32)],
        }
    }
}
