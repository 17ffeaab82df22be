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

impl ServiceFigures {
    /// From the rows of calls, cases, jobs and SMS, each `(a, b, count)` (`b` empty for calls
    /// and SMS).
    fn from_rows([calls, cases, jobs, sms]: [Vec<(String, String, i64)>; 4]) -> ServiceFigures {
        ServiceFigures {
            calls_by_outcome: calls.into_iter().map(|(a, _, n)| (a, n)).collect(),
            cases_by_category_channel: cases,
            jobs_by_kind_state: jobs,
            sms_by_status: sms.into_iter().map(|(a, _, n)| (a, n)).collect(),
        }
    }
}

impl Store {
    /// Reads the totals `/metrics` shows from `service_counts`, which triggers keep as the rows
    /// change (migration 0013): a few dozen rows, however many calls and cases there are.
    pub async fn service_figures(&self) -> Result<ServiceFigures, StoreError> {
        const KEPT: &str = "select a, b, cast(sum(n) as bigint) from service_counts \
             where family = $1 group by a, b having sum(n) <> 0 order by a, b";
        let rows: [Vec<(String, String, i64)>; 4] = with_read_pool!(self, |pool| {
            let (calls, cases, jobs, sms) = tokio::try_join!(
                sqlx::query_as(KEPT).bind("calls").fetch_all(pool),
                sqlx::query_as(
                    r#"
                    select coalesce(c.code, 'none'), s.b, cast(sum(s.n) as bigint)
                    from service_counts s left join categories c on c.id = cast(s.a as integer)
                    where s.family = 'cases'
                    group by 1, 2 having sum(s.n) <> 0 order by 1, 2
                    "#,
                )
                .fetch_all(pool),
                sqlx::query_as(KEPT).bind("jobs").fetch_all(pool),
                sqlx::query_as(KEPT).bind("sms").fetch_all(pool),
            )?;
            [calls, cases, jobs, sms]
        });
        Ok(ServiceFigures::from_rows(rows))
    }

    /// The same totals counted over the whole tables: what the kept ones must equal (tests).
    pub async fn service_figures_recounted(&self) -> Result<ServiceFigures, StoreError> {
        let rows: [Vec<(String, String, i64)>; 4] = with_read_pool!(self, |pool| {
            [
                sqlx::query_as(
                    "select coalesce(outcome, 'in_progress'), '', count(*) from calls group by 1 order by 1",
                )
                .fetch_all(pool)
                .await?,
                sqlx::query_as(
                    r#"
                    select coalesce(c.code, 'none'), k.channel, count(*)
                    from cases k left join categories c on c.id = k.category_id
                    group by 1, 2 order by 1, 2
                    "#,
                )
                .fetch_all(pool)
                .await?,
                sqlx::query_as("select kind, state, count(*) from jobs group by 1, 2 order by 1, 2")
                    .fetch_all(pool)
                    .await?,
                sqlx::query_as(
                    "select status, '', count(*) from messages where direction = 'outbound' group by 1 order by 1",
                )
                .fetch_all(pool)
                .await?,
            ]
        });
        Ok(ServiceFigures::from_rows(rows))
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
