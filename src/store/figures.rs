//! The office's figures (the console's `/cifras`), and the inbox's list as a spreadsheet.
//!
//! Every figure is over the cases received in a span of time (`created_at` in
//! `[from, until)`), as the viewer may see them ([`Visibility`]), and optionally one
//! department's; the calls are those started in the span. Counts are aggregated by the
//! database. Time series are grouped by spans whose limits are computed in Rust (Mexico City
//! weeks and days, which neither database's date functions spell the same way) and bound as
//! values: [`bucket`] turns them into one `case` expression, a binary search, so the same
//! statement runs on both databases and costs a few comparisons a row however long the span.
//! Percentiles need every duration: [`Store::time_spreads`] reads one light row per case (its
//! category and two durations in seconds) and ranks them in Rust.

use super::call_log::{OWED, owed_args};
use super::console::CaseFilter;
use super::query::{Arg, Built, bind_all};
use super::{Store, StoreError, Visibility, with_read_pool};
use crate::domain::{CallOutcome, CaseStatus, Channel, Timestamp, Urgency};
use std::collections::{BTreeMap, HashMap};

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
    /// Opens `where` on the cases `cs` of this scope. (Every case other readers see has its
    /// folio: it is null only inside the transaction that makes the case.)
    fn push_where(&self, q: &mut Built) {
        q.push(
            " where cs.created_at >= ? and cs.created_at < ?",
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

/// How long the cases of a category (or of every category) took to reach one point: how many
/// got there, the median and the 90th percentile (nearest rank), in seconds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TimeSpread {
    /// Over every category at once (then `category_id` is `None`).
    pub whole: bool,
    pub category_id: Option<i64>,
    pub category_name: Option<String>,
    /// Which point: first routed to a department, or first attended.
    pub to: Progress,
    pub cases: i64,
    pub median_seconds: i64,
    pub p90_seconds: i64,
}

/// A point a case reaches, measured from when it was received.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Progress {
    Routed,
    Attended,
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

/// The p-th percentile of `sorted` (ascending, not empty) by the nearest rank: the
/// ⌈p·n/100⌉-th value, always one that happened (the median of an even count is the lower of
/// the two middle ones).
fn nearest_rank(sorted: &[i64], p: usize) -> i64 {
    let n = sorted.len();
    sorted[(p * n).div_ceil(100).clamp(1, n) - 1]
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
            from "#,
            [],
        );
        q.push(self.figure_cases(), []);
        q.push(" left join categories c on c.id = cs.category_id", []);
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
        q.push(" as overdue from ", []);
        q.push(self.figure_cases(), []);
        q.push(" left join departments d on d.id = cs.department_id", []);
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

    /// The median and 90th percentile (nearest rank) of the time from received to first
    /// routed and to first attended, per category and over all of them, of the cases received
    /// in the scope. The database hands over only each case's category and two durations in
    /// whole seconds, read from the figures' index (first attended is kept on the case,
    /// migration 0012), and they are ranked here. (Reading each case's instants as
    /// timestamps took half a second for twelve weeks of a million cases; ranking with window
    /// functions in the database took longer still, sorting each partition.)
    pub async fn time_spreads(&self, scope: &FigureScope) -> Result<Vec<TimeSpread>, StoreError> {
        // Whole seconds, never negative, as `console::dashboard` rounds them for people.
        let seconds = |column: &str| match self.backend {
            super::Backend::Sqlite { .. } => format!(
                "max(0, cast(round((julianday({column}) - julianday(cs.created_at)) * 86400) as integer))"
            ),
            // (`greatest` skips nulls, so a case never attended is kept null by hand.)
            super::Backend::Postgres(_) => format!(
                "case when {column} is not null then \
                 greatest(0, cast(round(extract(epoch from {column} - cs.created_at)) as bigint)) end"
            ),
        };
        let mut q = Built::new(&format!(
            "select cs.category_id, {}, {} from ",
            seconds("cs.routed_at"),
            seconds("cs.attended_at")
        ));
        q.push(self.figure_cases(), []);
        scope.push_where(&mut q);
        let (rows, names) = with_read_pool!(self, |pool| {
            let rows = bind_all!(
                sqlx::query_as::<_, (Option<i64>, Option<i64>, Option<i64>)>(&q.sql),
                &q.args
            )
            .fetch_all(pool)
            .await?;
            let names = sqlx::query_as::<_, (i64, String)>("select id, name from categories")
                .fetch_all(pool)
                .await?;
            (rows, names)
        });
        let names: HashMap<i64, String> = names.into_iter().collect();
        let mut times: BTreeMap<(bool, Option<i64>, Progress), Vec<i64>> = BTreeMap::new();
        for (category, routed, attended) in rows {
            for (to, seconds) in [(Progress::Routed, routed), (Progress::Attended, attended)] {
                if let Some(seconds) = seconds {
                    times
                        .entry((false, category, to))
                        .or_default()
                        .push(seconds);
                    times.entry((true, None, to)).or_default().push(seconds);
                }
            }
        }
        Ok(times
            .into_iter()
            .map(|((whole, category_id, to), mut seconds)| {
                seconds.sort_unstable();
                TimeSpread {
                    whole,
                    category_id,
                    category_name: category_id.and_then(|id| names.get(&id).cloned()),
                    to,
                    cases: seconds.len() as i64,
                    median_seconds: nearest_rank(&seconds, 50),
                    p90_seconds: nearest_rank(&seconds, 90),
                }
            })
            .collect())
    }

    /// How many cases were received in the scope, and how many of them were ever reopened.
    pub async fn reopened_counts(&self, scope: &FigureScope) -> Result<(i64, i64), StoreError> {
        let mut q = Built::new(
            "select count(*), cast(coalesce(sum(case when cs.reopened then 1 else 0 end), 0) as bigint) from ",
        );
        q.push(self.figure_cases(), []);
        scope.push_where(&mut q);
        let counts = with_read_pool!(self, |pool| {
            bind_all!(sqlx::query_as::<_, (i64, i64)>(&q.sql), &q.args)
                .fetch_one(pool)
                .await?
        });
        Ok(counts)
    }

    /// The cases `cs` as the figures read them: from `cases_figures` (migration 0012), which
    /// holds every column they need. SQLite is told so: without the hint its planner took a
    /// skip-scan of `cases_channel` and read each case's row, 1.1 s for a year of a million
    /// cases instead of about 0.2 s.
    fn figure_cases(&self) -> &'static str {
        match self.backend {
            super::Backend::Sqlite { .. } => "cases cs indexed by cases_figures",
            super::Backend::Postgres(_) => "cases cs",
        }
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
        // At once, each on a read connection of its own.
        let (all, abandoned, owed) = tokio::try_join!(
            self.calls_per_span(from, until, bounds, None),
            self.calls_per_span(
                from,
                until,
                bounds,
                Some(("c.outcome = ?", vec![Arg::Outcome(CallOutcome::Abandoned)])),
            ),
            self.calls_per_span(from, until, bounds, Some((OWED, owed_args(now).to_vec()))),
        )?;
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
    fn percentiles_are_nearest_rank() {
        let ten: Vec<i64> = (1..=10).collect();
        assert_eq!(nearest_rank(&ten, 50), 5);
        assert_eq!(nearest_rank(&ten, 90), 9);
        assert_eq!(nearest_rank(&ten, 91), 10);
        assert_eq!(nearest_rank(&ten, 100), 10);
        assert_eq!(nearest_rank(&ten, 0), 1);
        // An even count: the lower of the two middle values, one that happened.
        assert_eq!(nearest_rank(&[1, 2, 3, 4], 50), 2);
        assert_eq!(nearest_rank(&[7], 90), 7);
        // Nine values: p90 is the ⌈8.1⌉ = 9th.
        let nine: Vec<i64> = (1..=9).collect();
        assert_eq!(nearest_rank(&nine, 90), 9);
        assert_eq!(nearest_rank(&nine, 50), 5);
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
