//! The office's figures (the console's `/cifras`), and the inbox's list as a spreadsheet.
//!
//! Every figure is over the cases received in a span of time (`created_at` in
//! `[from, until)`), as the viewer may see them ([`Visibility`]), and optionally one
//! department's; the calls are those started in the span. Counts are aggregated by the
//! database. Time series are grouped by spans whose limits are computed in Rust (Mexico City
//! weeks and days, which neither database's date functions spell the same way) and bound as
//! values: [`bucket`] turns them into one `case` expression, a binary search, so the same
//! statement runs on both databases and costs a few comparisons a row however long the span.
//! Percentiles need every duration: [`Store::case_times`] returns one row per case, with its
//! two instants and whether it was reopened, and the arithmetic is done in Rust (see
//! `console::dashboard`).

use super::call_log::{OWED, owed_args};
use super::console::CaseFilter;
use super::query::{Arg, Built, bind_all};
use super::{Store, StoreError, Visibility, with_read_pool};
use crate::domain::{CallOutcome, CaseStatus, Channel, Timestamp, Urgency};

/// Which cases the figures are about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FigureScope {
    pub who: Visibility,
    /// Received from this instant on.
    pub from: Timestamp,
    /// Received before this instant.
    pub until: Timestamp,
    /// Only the cases of this department (the office's filter; a department's user is held to
    /// its own by `who` whatever this says).
    pub department_id: Option<i64>,
}

impl FigureScope {
    /// Opens `where` on the cases `cs` of this scope.
    fn push_where(&self, q: &mut Built) {
        q.push(" where cs.folio is not null", []);
        q.and(
            "cs.created_at >= ? and cs.created_at < ?",
            [Arg::Time(self.from), Arg::Time(self.until)],
        );
        self.who.restrict(q);
        if let Some(id) = self.department_id {
            q.and("cs.department_id = ?", [Arg::I64(id)]);
        }
    }
}

/// Cases received in one span, of one channel and one category.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct ReceivedCount {
    /// Which span (see [`bucket`]).
    pub bucket: i64,
    pub channel: Channel,
    pub category_id: Option<i64>,
    pub category_name: Option<String>,
    pub cases: i64,
}

/// Cases not closed, of one status and one department, and how many of them are overdue.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct OpenCount {
    pub status: CaseStatus,
    pub department_id: Option<i64>,
    pub department_name: Option<String>,
    pub cases: i64,
    /// Past `due_at`, and neither attended nor closed.
    pub overdue: i64,
}

/// A case's two instants of progress, for the percentiles of its category, and whether it
/// came back.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct CaseTimes {
    pub category_id: Option<i64>,
    pub category_name: Option<String>,
    pub created_at: Timestamp,
    /// When it was first routed to a department.
    pub routed_at: Option<Timestamp>,
    /// Its first move to "atendido".
    pub attended_at: Option<Timestamp>,
    /// Whether it was ever reopened.
    pub reopened: bool,
}

/// The calls started in one span.
#[derive(Debug, Clone, Copy, PartialEq, Eq, sqlx::FromRow)]
pub struct CallCount {
    pub bucket: i64,
    /// Every call the line answered.
    pub calls: i64,
    /// Calls that ended without a report, a lookup or a transfer.
    pub abandoned: i64,
    /// Abandoned calls the office still owes a call back (the rule of `/devolver`).
    pub owed: i64,
}

/// A case as the spreadsheet of a case list shows it.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct CaseExportRow {
    pub folio: String,
    pub created_at: Timestamp,
    pub channel: Channel,
    pub category_name: Option<String>,
    pub urgency: Urgency,
    pub status: CaseStatus,
    pub department_name: Option<String>,
    pub caller_number: Option<String>,
    pub address_colonia: Option<String>,
    pub address_street: Option<String>,
    pub due_at: Option<Timestamp>,
    pub answer_by: Option<chrono::NaiveDate>,
}

/// Appends an expression that numbers the span `column` falls in: 0 before `bounds[0]`, `i`
/// from `bounds[i - 1]` to `bounds[i]`, `bounds.len()` from the last on. `bounds` must be in
/// order. Written as nested `case` expressions halving the bounds each time: a binary search
/// of a dozen comparisons at most for a year of days, the same text on both databases.
pub(crate) fn bucket(q: &mut Built, column: &str, bounds: &[Timestamp]) {
    fn split(q: &mut Built, column: &str, bounds: &[Timestamp], first: usize) {
        if bounds.is_empty() {
            q.push(&first.to_string(), []);
            return;
        }
        let mid = bounds.len() / 2;
        q.push(
            &format!("case when {column} < ? then "),
            [Arg::Time(bounds[mid])],
        );
        split(q, column, &bounds[..mid], first);
        q.push(" else ", []);
        split(q, column, &bounds[mid + 1..], first + mid + 1);
        q.push(" end", []);
    }
    q.push("cast(", []);
    split(q, column, bounds, 0);
    q.push(" as bigint)", []);
}

impl Store {
    /// Cases received per span (limits `bounds`, see [`bucket`]), channel and category.
    pub async fn received_counts(
        &self,
        scope: &FigureScope,
        bounds: &[Timestamp],
    ) -> Result<Vec<ReceivedCount>, StoreError> {
        let mut q = Built::new("select ");
        bucket(&mut q, "cs.created_at", bounds);
        q.push(
            r#" as bucket, cs.channel, cs.category_id, c.name as category_name, count(*) as cases
            from cases cs left join categories c on c.id = cs.category_id"#,
            [],
        );
        scope.push_where(&mut q);
        q.push(" group by bucket, cs.channel, cs.category_id, c.name", []);
        let rows = with_read_pool!(self, |pool| {
            bind_all!(sqlx::query_as::<_, ReceivedCount>(&q.sql), &q.args)
                .fetch_all(pool)
                .await?
        });
        Ok(rows)
    }

    /// The cases not closed per status and department, with those overdue at `now`.
    pub async fn open_counts(
        &self,
        scope: &FigureScope,
        now: Timestamp,
    ) -> Result<Vec<OpenCount>, StoreError> {
        let mut q = Built::new(
            r#"select cs.status, d.id as department_id, d.name as department_name,
                      count(*) as cases, "#,
        );
        q.push(
            "coalesce(sum(case when cs.due_at < ? and cs.status <> ? then 1 else 0 end), 0)",
            [Arg::Time(now), Arg::Status(CaseStatus::Attended)],
        );
        q.push(
            r#" as overdue
            from cases cs left join departments d on d.id = cs.department_id"#,
            [],
        );
        scope.push_where(&mut q);
        q.and("cs.status <> ?", [Arg::Status(CaseStatus::Closed)]);
        q.push(" group by cs.status, d.id, d.name", []);
        let rows = with_read_pool!(self, |pool| {
            bind_all!(sqlx::query_as::<_, OpenCount>(&q.sql), &q.args)
                .fetch_all(pool)
                .await?
        });
        Ok(rows)
    }

    /// Every case received, with when it was first routed and first attended, and whether it
    /// was ever reopened: one row per case, for the percentiles (computed in Rust) and the
    /// share reopened. Each subquery is one probe of a case's history by its index.
    pub async fn case_times(&self, scope: &FigureScope) -> Result<Vec<CaseTimes>, StoreError> {
        let mut q = Built::new(
            r#"select cs.category_id, c.name as category_name, cs.created_at, cs.routed_at, "#,
        );
        q.push(
            r#"(select min(e.at) from case_events e where e.case_id = cs.id and e.to_status = ?)
                   as attended_at,
               exists (select 1 from case_events e where e.case_id = cs.id and e.to_status = ?)
                   as reopened
            from cases cs left join categories c on c.id = cs.category_id"#,
            [
                Arg::Status(CaseStatus::Attended),
                Arg::Status(CaseStatus::Reopened),
            ],
        );
        scope.push_where(&mut q);
        let rows = with_read_pool!(self, |pool| {
            bind_all!(sqlx::query_as::<_, CaseTimes>(&q.sql), &q.args)
                .fetch_all(pool)
                .await?
        });
        Ok(rows)
    }

    /// Calls started in `[from, until)` per span (limits `bounds`): all of them, the
    /// abandoned ones, and those of these still owed a call back at `now`. Three counts, each
    /// read from an index of the calls (one statement counting all three would read every
    /// call's row for its outcome).
    pub async fn call_counts(
        &self,
        from: Timestamp,
        until: Timestamp,
        bounds: &[Timestamp],
        now: Timestamp,
    ) -> Result<Vec<CallCount>, StoreError> {
        let all = self.calls_per_span(from, until, bounds, None).await?;
        let abandoned = self
            .calls_per_span(
                from,
                until,
                bounds,
                Some(("c.outcome = ?", vec![Arg::Outcome(CallOutcome::Abandoned)])),
            )
            .await?;
        let owed = self
            .calls_per_span(from, until, bounds, Some((OWED, owed_args(now).to_vec())))
            .await?;
        let count = |of: &[(i64, i64)], bucket: i64| {
            of.iter().find(|(b, _)| *b == bucket).map_or(0, |(_, n)| *n)
        };
        Ok(all
            .iter()
            .map(|(bucket, calls)| CallCount {
                bucket: *bucket,
                calls: *calls,
                abandoned: count(&abandoned, *bucket),
                owed: count(&owed, *bucket),
            })
            .collect())
    }

    /// How many calls started in `[from, until)`, per span, meeting `condition` if given.
    async fn calls_per_span(
        &self,
        from: Timestamp,
        until: Timestamp,
        bounds: &[Timestamp],
        condition: Option<(&str, Vec<Arg>)>,
    ) -> Result<Vec<(i64, i64)>, StoreError> {
        let mut q = Built::new("select ");
        bucket(&mut q, "c.started_at", bounds);
        q.push(" as bucket, count(*) from calls c where ", []);
        q.push(
            "c.started_at >= ? and c.started_at < ?",
            [Arg::Time(from), Arg::Time(until)],
        );
        if let Some((sql, args)) = condition {
            q.and(sql, args);
        }
        q.push(" group by bucket", []);
        let rows = with_read_pool!(self, |pool| {
            bind_all!(sqlx::query_as::<_, (i64, i64)>(&q.sql), &q.args)
                .fetch_all(pool)
                .await?
        });
        Ok(rows)
    }

    /// The cases of an inbox filter, in the inbox's order, `limit` at most, with what a
    /// spreadsheet of them shows.
    pub async fn export_cases(
        &self,
        who: Visibility,
        filter: &CaseFilter,
        limit: i64,
    ) -> Result<Vec<CaseExportRow>, StoreError> {
        let mut q = Built::new(
            r#"
            select cs.folio, cs.created_at, cs.channel, c.name as category_name, cs.urgency,
                   cs.status, d.name as department_name, cs.caller_number, cs.address_colonia,
                   cs.address_street, cs.due_at, cs.answer_by
            from cases cs
            left join categories c on c.id = cs.category_id
            left join departments d on d.id = cs.department_id
            where cs.folio is not null"#,
        );
        who.restrict(&mut q);
        filter.push_conditions(&mut q);
        q.push(
            " order by cs.priority desc, cs.created_at desc, cs.id desc limit ?",
            [Arg::I64(limit)],
        );
        let rows = with_read_pool!(self, |pool| {
            bind_all!(sqlx::query_as::<_, CaseExportRow>(&q.sql), &q.args)
                .fetch_all(pool)
                .await?
        });
        Ok(rows)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(hour: u32) -> Timestamp {
        use chrono::TimeZone;
        Timestamp::from_utc(
            chrono::Utc
                .with_ymd_and_hms(2026, 11, 27, hour, 0, 0)
                .unwrap(),
        )
    }

    #[test]
    fn a_bucket_is_a_binary_search_over_bound_limits() {
        let mut q = Built::new("select ");
        bucket(&mut q, "x", &[at(1), at(2), at(3)]);
        assert_eq!(
            q.sql,
            "select cast(case when x < $1 then case when x < $2 then 0 else 1 end \
             else case when x < $3 then 2 else 3 end end as bigint)"
        );
        assert_eq!(
            q.args,
            vec![Arg::Time(at(2)), Arg::Time(at(1)), Arg::Time(at(3))]
        );
        let mut none = Built::new("select ");
        bucket(&mut none, "x", &[]);
        assert_eq!(none.sql, "select cast(0 as bigint)");
    }
}
