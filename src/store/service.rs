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

/// The advisory lock a fold holds on PostgreSQL ("atiende" folding its service counts).
const FOLD_LOCK: i64 = 0x6174_6965_6e64_6531;

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
    /// change (migration 0013): a few dozen rows, however many calls and cases there are. On
    /// PostgreSQL a total is its row plus the changes not yet folded into it (see
    /// [`fold_service_counts`](Self::fold_service_counts)).
    pub async fn service_figures(&self) -> Result<ServiceFigures, StoreError> {
        let source = match self.backend {
            Backend::Sqlite { .. } => "service_counts",
            Backend::Postgres(_) => {
                "(select family, a, b, n from service_counts \
                  union all select family, a, b, n from service_count_changes)"
            }
        };
        let kept = format!(
            "select a, b, cast(sum(n) as bigint) from {source} s where family = $1 \
             group by a, b having sum(n) <> 0 order by a, b"
        );
        let cases = format!(
            "select coalesce(c.code, 'none'), s.b, cast(sum(s.n) as bigint) \
             from {source} s left join categories c on c.id = cast(s.a as integer) \
             where s.family = 'cases' group by 1, 2 having sum(s.n) <> 0 order by 1, 2"
        );
        let rows: [Vec<(String, String, i64)>; 4] = with_read_pool!(self, |pool| {
            let (calls, cases, jobs, sms) = tokio::try_join!(
                sqlx::query_as(&kept).bind("calls").fetch_all(pool),
                sqlx::query_as(&cases).fetch_all(pool),
                sqlx::query_as(&kept).bind("jobs").fetch_all(pool),
                sqlx::query_as(&kept).bind("sms").fetch_all(pool),
            )?;
            [calls, cases, jobs, sms]
        });
        Ok(ServiceFigures::from_rows(rows))
    }

    /// On PostgreSQL, folds the changes the triggers appended into the totals' rows; returns
    /// how many totals it changed (always 0 on SQLite, whose triggers update them in place).
    /// Each instance calls it every few seconds; two at once do not wait on each other (the
    /// second finds the lock taken and leaves the changes to the next round).
    pub async fn fold_service_counts(&self) -> Result<u64, StoreError> {
        let Backend::Postgres(pool) = &self.backend else {
            return Ok(0);
        };
        self.gate()?;
        let mut tx = pool.begin().await?;
        let ours: bool = sqlx::query_scalar("select pg_try_advisory_xact_lock($1)")
            .bind(FOLD_LOCK)
            .fetch_one(&mut *tx)
            .await?;
        if !ours {
            return Ok(0);
        }
        let folded = sqlx::query(
            r#"
            with moved as (delete from service_count_changes returning family, a, b, n)
            insert into service_counts (family, a, b, n)
            select family, a, b, sum(n) from moved group by family, a, b
            on conflict (family, a, b) do update set n = service_counts.n + excluded.n
            "#,
        )
        .execute(&mut *tx)
        .await?
        .rows_affected();
        tx.commit().await?;
        Ok(folded)
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
