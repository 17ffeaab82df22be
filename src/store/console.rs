//! What the staff console reads and writes: the inbox, a case with everything around it,
//! triage, notes, listens, the department's action report and its attachments.
//!
//! Every read takes the viewer's department when the viewer is an `area` user
//! ([`Visibility`]): the filter is in the SQL, so a department's user can never be handed
//! another department's case, whatever the handler above does.

use super::query::{Arg, Built, bind_all};
use super::tx::{NewCaseEvent, WriteTx, with_tx};
use super::{StatusChange, Store, StoreError, with_read_pool};
use crate::domain::{
    Address, CaseEventKind, CaseStatus, Channel, ClosureReason, RecordingStatus, Timestamp, Urgency,
};

/// Whose eyes a query is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Visibility {
    /// Participación Ciudadana and admins: every case.
    All,
    /// A department's users: only cases routed to that department.
    Department(i64),
}

impl Visibility {
    /// Adds the rule to a query whose `where` is open and whose cases are `cs`: the one place
    /// it is written, for every read of the console (but the inbox's counts, which read the
    /// kept `case_counts` by the same rule, see [`Store::status_counts`]).
    pub(super) fn restrict(self, q: &mut Built) {
        if let Visibility::Department(id) = self {
            q.and(
                "cs.department_id = ? and cs.routed_at is not null",
                [Arg::I64(id)],
            );
        }
    }
}

/// The inbox's place in its order (urgent first, then newest): where a page ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cursor {
    pub priority: i64,
    pub created_at: Timestamp,
    pub id: i64,
}

impl Cursor {
    /// `"1.2026-11-27T16:00:00.000000Z.42"`, for a link.
    pub fn encode(&self) -> String {
        format!("{}.{}.{}", self.priority, self.created_at, self.id)
    }

    /// The cursor of a link; `None` if it is not one.
    pub fn decode(text: &str) -> Option<Cursor> {
        let (priority, rest) = text.split_once('.')?;
        let (created, id) = rest.rsplit_once('.')?;
        let created = chrono::DateTime::parse_from_rfc3339(created).ok()?;
        Some(Cursor {
            priority: priority.parse().ok()?,
            created_at: Timestamp::from_utc(created.with_timezone(&chrono::Utc)),
            id: id.parse().ok()?,
        })
    }
}

/// What the inbox shows; every field is optional.
#[derive(Debug, Clone, Default)]
pub struct CaseFilter {
    /// One status; `None` is every open case (all but closed).
    pub status: Option<CaseStatus>,
    pub category_id: Option<i64>,
    pub department_id: Option<i64>,
    pub urgency: Option<Urgency>,
    pub channel: Option<Channel>,
    /// Received from this instant on.
    pub from: Option<Timestamp>,
    /// Received before this instant.
    pub until: Option<Timestamp>,
    /// Only cases past their deadline at this instant.
    pub overdue_at: Option<Timestamp>,
    /// A search: this folio, or this phone number (E.164, the caller's or the one for SMS);
    /// either one matches.
    pub folio: Option<String>,
    pub phone: Option<String>,
    /// Only cases newer than this id (the inbox's polling).
    pub newer_than: Option<i64>,
    /// The page after this place.
    pub after: Option<Cursor>,
}

impl CaseFilter {
    /// Adds this filter's conditions, only those in use, to a query whose `where` is open and
    /// whose cases are `cs` (the inbox, and its CSV export).
    pub(super) fn push_conditions(&self, q: &mut Built) {
        match self.status {
            Some(status) => q.and("cs.status = ?", [Arg::Status(status)]),
            None => q.and("cs.status <> ?", [Arg::Status(CaseStatus::Closed)]),
        }
        if let Some(id) = self.category_id {
            q.and("cs.category_id = ?", [Arg::I64(id)]);
        }
        if let Some(id) = self.department_id {
            q.and("cs.department_id = ?", [Arg::I64(id)]);
        }
        if let Some(urgency) = self.urgency {
            q.and("cs.urgency = ?", [Arg::Urgency(urgency)]);
        }
        if let Some(channel) = self.channel {
            q.and("cs.channel = ?", [Arg::Channel(channel)]);
        }
        if let Some(from) = self.from {
            q.and("cs.created_at >= ?", [Arg::Time(from)]);
        }
        if let Some(until) = self.until {
            q.and("cs.created_at < ?", [Arg::Time(until)]);
        }
        if let Some(at) = self.overdue_at {
            q.and("cs.due_at < ?", [Arg::Time(at)]);
        }
        match (&self.folio, &self.phone) {
            (Some(folio), Some(phone)) => q.and(
                "(cs.folio = ? or cs.caller_number = ? or cs.sms_number = ?)",
                [
                    Arg::Text(folio.clone()),
                    Arg::Text(phone.clone()),
                    Arg::Text(phone.clone()),
                ],
            ),
            (Some(folio), None) => q.and("cs.folio = ?", [Arg::Text(folio.clone())]),
            (None, Some(phone)) => q.and(
                "(cs.caller_number = ? or cs.sms_number = ?)",
                [Arg::Text(phone.clone()), Arg::Text(phone.clone())],
            ),
            (None, None) => {}
        }
        if let Some(id) = self.newer_than {
            q.and("cs.id > ?", [Arg::I64(id)]);
        }
        if let Some(c) = self.after {
            // A row value: both databases read it as one range of the inbox's index.
            q.and(
                "(cs.priority, cs.created_at, cs.id) < (?, ?, ?)",
                [
                    Arg::I64(c.priority),
                    Arg::Time(c.created_at),
                    Arg::I64(c.id),
                ],
            );
        }
    }
}

/// A row of the inbox.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct InboxRow {
    pub id: i64,
    pub folio: String,
    pub created_at: Timestamp,
    pub priority: i64,
    pub channel: Channel,
    pub category_name: Option<String>,
    pub urgency: Urgency,
    pub status: CaseStatus,
    pub department_name: Option<String>,
    pub caller_number: Option<String>,
    pub recording_status: Option<RecordingStatus>,
    pub recording_duration_seconds: Option<i64>,
    pub due_at: Option<Timestamp>,
}

impl InboxRow {
    pub fn cursor(&self) -> Cursor {
        Cursor {
            priority: self.priority,
            created_at: self.created_at,
            id: self.id,
        }
    }
}

/// A case with the names and facts its page shows.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct CaseView {
    pub id: i64,
    pub folio: String,
    pub channel: Channel,
    pub status: CaseStatus,
    pub closure_reason: Option<ClosureReason>,
    pub urgency: Urgency,
    pub category_id: Option<i64>,
    pub category_name: Option<String>,
    pub department_id: Option<i64>,
    pub department_name: Option<String>,
    pub caller_number: Option<String>,
    pub sms_number: Option<String>,
    pub call_id: Option<i64>,
    pub call_sid: Option<String>,
    pub description: Option<String>,
    #[sqlx(flatten)]
    pub address: Address,
    pub duplicate_of: Option<String>,
    pub action_summary: Option<String>,
    pub recording_sid: Option<String>,
    pub recording_status: Option<RecordingStatus>,
    pub recording_duration_seconds: Option<i64>,
    pub storage_key: Option<String>,
    pub recording_duration_ms: Option<i64>,
    pub peaks: Option<String>,
    pub recording_error: Option<String>,
    pub created_at: Timestamp,
    pub status_changed_at: Timestamp,
    pub routed_at: Option<Timestamp>,
    pub due_at: Option<Timestamp>,
    pub priority: i64,
    /// The date the citizen was told the case would be answered by.
    pub answer_by: Option<chrono::NaiveDate>,
    /// The citizen's name, when a report by another channel gave it.
    pub citizen_name: Option<String>,
}

/// A department, for routing.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct Department {
    pub id: i64,
    pub code: String,
    pub name: String,
    pub contact_number: Option<String>,
}

/// What staff type while listening.
#[derive(Debug, Clone)]
pub struct Triage<'a> {
    pub case_id: i64,
    pub category_id: Option<i64>,
    pub urgency: Urgency,
    pub address: &'a Address,
    pub description: Option<&'a str>,
    pub actor: &'a str,
    pub at: Timestamp,
}

/// A department's action report, with its files (already stored).
#[derive(Debug, Clone)]
pub struct NewActionReport<'a> {
    pub case_id: i64,
    pub summary: &'a str,
    pub done_on: Timestamp,
    pub done_by: &'a str,
    pub user_id: i64,
    pub attachments: &'a [NewAttachment],
    pub at: Timestamp,
}

/// A file attached to an action report.
#[derive(Debug, Clone)]
pub struct NewAttachment {
    pub storage_key: String,
    pub content_type: String,
    pub size_bytes: i64,
    pub sha256: String,
    pub file_name: String,
}

/// An action report as stored.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct ActionReport {
    pub id: i64,
    pub summary: String,
    pub done_on: Timestamp,
    pub done_by: String,
    pub created_at: Timestamp,
}

/// An attachment as stored.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct Attachment {
    pub id: i64,
    pub case_id: i64,
    pub report_id: Option<i64>,
    pub storage_key: String,
    pub content_type: String,
    pub size_bytes: i64,
    pub file_name: String,
}

const SELECT_INBOX: &str = r#"
    select cs.id, cs.folio, cs.created_at, cs.priority, cs.channel, c.name as category_name,
           cs.urgency, cs.status, d.name as department_name, cs.caller_number,
           cs.recording_status, cs.recording_duration_seconds, cs.due_at
    from cases cs
    left join categories c on c.id = cs.category_id
    left join departments d on d.id = cs.department_id
"#;

const SELECT_CASE_VIEW: &str = r#"
    select cs.id, cs.folio, cs.channel, cs.status, cs.closure_reason, cs.urgency, cs.category_id,
           c.name as category_name, cs.department_id, d.name as department_name,
           cs.caller_number, cs.sms_number, cs.call_id, cl.call_sid, cs.description, cs.address_street,
           cs.address_colonia, cs.address_between, cs.address_references, cs.duplicate_of,
           cs.action_summary, cs.recording_sid, cs.recording_status,
           cs.recording_duration_seconds, r.storage_key, r.duration_ms as recording_duration_ms,
           r.peaks, r.error as recording_error, cs.created_at, cs.status_changed_at,
           cs.routed_at, cs.due_at, cs.priority, cs.answer_by, cs.citizen_name
    from cases cs
    left join categories c on c.id = cs.category_id
    left join departments d on d.id = cs.department_id
    left join recordings r on r.recording_sid = cs.recording_sid
    left join calls cl on cl.id = cs.call_id
"#;

impl Store {
    /// A page of the inbox, urgent first then newest, `limit` rows at most. Only the filters
    /// in use reach the SQL (see `store::query`), so each page is read from an index.
    pub async fn inbox(
        &self,
        who: Visibility,
        filter: &CaseFilter,
        limit: i64,
    ) -> Result<Vec<InboxRow>, StoreError> {
        let mut q = Built::new(SELECT_INBOX);
        q.push(" where cs.folio is not null", []);
        who.restrict(&mut q);
        filter.push_conditions(&mut q);
        q.push(
            " order by cs.priority desc, cs.created_at desc, cs.id desc limit ?",
            [Arg::I64(limit)],
        );
        let rows = with_read_pool!(self, |pool| {
            bind_all!(sqlx::query_as::<_, InboxRow>(&q.sql), &q.args)
                .fetch_all(pool)
                .await?
        });
        Ok(rows)
    }

    /// How many cases the viewer may see are in each status: read from `case_counts`, which
    /// triggers keep as the cases change (migration 0012), a few rows whatever the number of
    /// cases.
    pub async fn status_counts(
        &self,
        who: Visibility,
    ) -> Result<Vec<(CaseStatus, i64)>, StoreError> {
        let mut q = Built::new("select status, cast(sum(cases) as bigint) from case_counts");
        if let Visibility::Department(id) = who {
            q.push(" where department_id = ? and routed = true", [Arg::I64(id)]);
        }
        q.push(" group by status", []);
        let rows = with_read_pool!(self, |pool| {
            bind_all!(sqlx::query_as::<_, (CaseStatus, i64)>(&q.sql), &q.args)
                .fetch_all(pool)
                .await?
        });
        Ok(rows.into_iter().filter(|(_, n)| *n != 0).collect())
    }

    /// A case by folio, if the viewer may see it.
    pub async fn case_view(
        &self,
        who: Visibility,
        folio: &str,
    ) -> Result<Option<CaseView>, StoreError> {
        let mut q = Built::new(SELECT_CASE_VIEW);
        q.push(" where cs.folio = ?", [Arg::Text(folio.to_owned())]);
        who.restrict(&mut q);
        let row = with_read_pool!(self, |pool| {
            bind_all!(sqlx::query_as::<_, CaseView>(&q.sql), &q.args)
                .fetch_optional(pool)
                .await?
        });
        Ok(row)
    }

    /// Every department, active ones first by name.
    pub async fn departments(&self) -> Result<Vec<Department>, StoreError> {
        let rows = with_read_pool!(self, |pool| {
            sqlx::query_as::<_, Department>(
                r#"select id, code, name, contact_number from departments where active order by name"#,
            )
            .fetch_all(pool)
            .await?
        });
        Ok(rows)
    }

    /// Sets a department's contact number (the routing SMS goes there).
    pub async fn set_department_contact(
        &self,
        code: &str,
        number: Option<&str>,
    ) -> Result<(), StoreError> {
        let mut tx = self.begin_write().await?;
        let n = with_tx!(tx, |conn| {
            sqlx::query(r#"update departments set contact_number = $2 where code = $1"#)
                .bind(code)
                .bind(number)
                .execute(conn)
                .await?
                .rows_affected()
        });
        if n == 0 {
            return Err(StoreError::NotFound("department"));
        }
        tx.commit().await
    }

    /// Records what staff typed while listening, and notes it in the case's history.
    pub async fn triage_case(&self, triage: &Triage<'_>) -> Result<(), StoreError> {
        let mut tx = self.begin_write().await?;
        let priority = i64::from(triage.urgency == Urgency::Urgent);
        let n = with_tx!(tx, |conn| {
            sqlx::query(
                r#"
                update cases set category_id = coalesce($2, category_id), urgency = $3,
                       priority = $4, address_street = $5, address_colonia = $6,
                       address_between = $7, address_references = $8, description = $9,
                       department_id = case when routed_at is null and $2 is not null
                           then (select department_id from categories where id = $2)
                           else department_id end,
                       updated_at = $10
                where id = $1
                "#,
            )
            .bind(triage.case_id)
            .bind(triage.category_id)
            .bind(triage.urgency)
            .bind(priority)
            .bind(triage.address.street.as_deref())
            .bind(triage.address.colonia.as_deref())
            .bind(triage.address.between.as_deref())
            .bind(triage.address.references.as_deref())
            .bind(triage.description)
            .bind(triage.at)
            .execute(conn)
            .await?
            .rows_affected()
        });
        if n == 0 {
            return Err(StoreError::NotFound("case"));
        }
        tx.add_case_event(&NewCaseEvent {
            case_id: triage.case_id,
            at: triage.at,
            actor: triage.actor,
            kind: CaseEventKind::Triage,
            from_status: None,
            to_status: None,
            note: Some("Clasificación y dirección actualizadas"),
        })
        .await?;
        tx.commit().await
    }

    /// An internal note on a case.
    pub async fn add_note(
        &self,
        case_id: i64,
        actor: &str,
        text: &str,
        at: Timestamp,
    ) -> Result<(), StoreError> {
        let mut tx = self.begin_write().await?;
        tx.add_case_event(&NewCaseEvent {
            case_id,
            at,
            actor,
            kind: CaseEventKind::Note,
            from_status: None,
            to_status: None,
            note: Some(text),
        })
        .await?;
        tx.commit().await
    }

    /// Notes that `actor` listened to the case's recording; one note per person per ten
    /// minutes (a player asks for the file in pieces, and again on every seek).
    pub async fn note_listen(
        &self,
        case_id: i64,
        actor: &str,
        at: Timestamp,
    ) -> Result<(), StoreError> {
        let since = Timestamp::from_utc(at.as_utc() - chrono::Duration::minutes(10));
        let mut tx = self.begin_write().await?;
        // One at a time per case: a player asks for several pieces at once, and on PostgreSQL
        // two transactions would both count none and both note a listen. This no-op update
        // takes the case's row lock until commit, and the count below then sees the other's
        // note (SQLite runs write transactions one at a time already).
        with_tx!(tx, |conn| {
            sqlx::query(r#"update cases set id = id where id = $1"#)
                .bind(case_id)
                .execute(conn)
                .await?;
        });
        let recent = with_tx!(tx, |conn| {
            sqlx::query_scalar::<_, i64>(
                r#"select count(*) from case_events where case_id = $1 and actor = $2 and kind = $3 and at >= $4"#,
            )
            .bind(case_id)
            .bind(actor)
            .bind(CaseEventKind::Listened)
            .bind(since)
            .fetch_one(conn)
            .await?
        });
        if recent == 0 {
            tx.add_case_event(&NewCaseEvent {
                case_id,
                at,
                actor,
                kind: CaseEventKind::Listened,
                from_status: None,
                to_status: None,
                note: Some("Escuchó la grabación"),
            })
            .await?;
        }
        tx.commit().await
    }

    /// Files a department's action report with its attachments and makes the case
    /// "atendido" (`change`, which queues the citizen's SMS), all in one transaction.
    pub async fn file_action_report(
        &self,
        report: &NewActionReport<'_>,
        change: &StatusChange<'_>,
    ) -> Result<i64, StoreError> {
        let mut tx = self.begin_write().await?;
        tx.change_status(change).await?;
        let id = tx.insert_action_report(report).await?;
        for file in report.attachments {
            tx.insert_attachment(report.case_id, Some(id), report.user_id, file, report.at)
                .await?;
        }
        // The history names the account that filed the report (whoever did the work is in the
        // report itself): a name typed in a form is no one's signature.
        tx.add_case_event(&NewCaseEvent {
            case_id: report.case_id,
            at: report.at,
            actor: change.actor,
            kind: CaseEventKind::ActionReport,
            from_status: None,
            to_status: None,
            note: Some(report.summary),
        })
        .await?;
        tx.commit().await?;
        Ok(id)
    }

    /// The action reports of a case, oldest first.
    pub async fn action_reports(&self, case_id: i64) -> Result<Vec<ActionReport>, StoreError> {
        let rows = with_read_pool!(self, |pool| {
            sqlx::query_as::<_, ActionReport>(
                r#"select id, summary, done_on, done_by, created_at from action_reports where case_id = $1 order by id"#,
            )
            .bind(case_id)
            .fetch_all(pool)
            .await?
        });
        Ok(rows)
    }

    /// The attachments of a case, oldest first.
    pub async fn attachments(&self, case_id: i64) -> Result<Vec<Attachment>, StoreError> {
        let rows = with_read_pool!(self, |pool| {
            sqlx::query_as::<_, Attachment>(
                r#"select id, case_id, report_id, storage_key, content_type, size_bytes, file_name from attachments where case_id = $1 order by id"#,
            )
            .bind(case_id)
            .fetch_all(pool)
            .await?
        });
        Ok(rows)
    }

    /// The folio of a case by its id.
    pub async fn folio_of(&self, case_id: i64) -> Result<Option<String>, StoreError> {
        let folio = with_read_pool!(self, |pool| {
            sqlx::query_scalar::<_, Option<String>>(r#"select folio from cases where id = $1"#)
                .bind(case_id)
                .fetch_optional(pool)
                .await?
        });
        Ok(folio.flatten())
    }

    /// One attachment by id.
    pub async fn attachment(&self, id: i64) -> Result<Option<Attachment>, StoreError> {
        let row = with_read_pool!(self, |pool| {
            sqlx::query_as::<_, Attachment>(
                r#"select id, case_id, report_id, storage_key, content_type, size_bytes, file_name from attachments where id = $1"#,
            )
            .bind(id)
            .fetch_optional(pool)
            .await?
        });
        Ok(row)
    }
}

/// The steps of an action report, inside a write transaction.
impl WriteTx {
    async fn insert_action_report(
        &mut self,
        report: &NewActionReport<'_>,
    ) -> Result<i64, StoreError> {
        let id = with_tx!(self, |conn| {
            sqlx::query_scalar::<_, i64>(
                r#"
                insert into action_reports (case_id, summary, done_on, done_by, user_id, created_at)
                values ($1, $2, $3, $4, $5, $6)
                returning id
                "#,
            )
            .bind(report.case_id)
            .bind(report.summary)
            .bind(report.done_on)
            .bind(report.done_by)
            .bind(report.user_id)
            .bind(report.at)
            .fetch_one(conn)
            .await?
        });
        Ok(id)
    }

    async fn insert_attachment(
        &mut self,
        case_id: i64,
        report_id: Option<i64>,
        user_id: i64,
        file: &NewAttachment,
        at: Timestamp,
    ) -> Result<i64, StoreError> {
        let id = with_tx!(self, |conn| {
            sqlx::query_scalar::<_, i64>(
                r#"
                insert into attachments (case_id, report_id, storage_key, content_type, size_bytes,
                                         sha256, file_name, user_id, created_at)
                values ($1, $2, $3, $4, $5, $6, $7, $8, $9)
                returning id
                "#,
            )
            .bind(case_id)
            .bind(report_id)
            .bind(&file.storage_key)
            .bind(&file.content_type)
            .bind(file.size_bytes)
            .bind(&file.sha256)
            .bind(&file.file_name)
            .bind(user_id)
            .bind(at)
            .fetch_one(conn)
            .await?
        });
        Ok(id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cursor_survives_a_link() {
        let at = chrono::DateTime::parse_from_rfc3339("2026-11-27T16:00:00.123456Z")
            .unwrap()
            .with_timezone(&chrono::Utc);
        let c = Cursor {
            priority: 1,
            created_at: Timestamp::from_utc(at),
            id: 42,
        };
        assert_eq!(Cursor::decode(&c.encode()), Some(c));
        assert_eq!(Cursor::decode("nope"), None);
        assert_eq!(Cursor::decode("1.yesterday.3"), None);
    }
}
