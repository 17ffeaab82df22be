//! Cases: made once per recording, looked up by folio, changed with a history.

use super::messages::outbox_sms;
use super::{BeginWrite, JobKind, Store, StoreError, with_pool, with_read_pool};
use crate::domain::{
    CallSid, CaseStatus, Channel, ClosureReason, Folio, PhoneNumber, RecordingSid, Timestamp,
    Urgency,
};
use crate::sms::SmsTemplate;

/// A report left on the phone line.
#[derive(Debug, Clone)]
pub struct NewPhoneCase<'a> {
    pub call_sid: &'a CallSid,
    /// The caller's number; `None` takes the one logged for the call (a recording callback
    /// carries no `From`), which may be none at all when the caller ID was withheld.
    pub caller: Option<&'a PhoneNumber>,
    /// `None` (or an id that no longer exists) when the category is not known, as on the
    /// apology path after an internal error: staff classify it.
    pub category_id: Option<i64>,
    pub urgency: Urgency,
    pub recording_sid: &'a RecordingSid,
    pub recording_url: Option<&'a str>,
    pub recording_duration_seconds: Option<i64>,
    pub at: Timestamp,
}

/// A case as stored.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct CaseRecord {
    pub id: i64,
    pub folio: String,
    pub channel: Channel,
    pub category_id: Option<i64>,
    pub department_id: Option<i64>,
    pub urgency: Urgency,
    pub status: CaseStatus,
    pub closure_reason: Option<ClosureReason>,
    pub caller_number: Option<String>,
    pub sms_number: Option<String>,
    pub call_id: Option<i64>,
    pub recording_sid: Option<String>,
    pub recording_url: Option<String>,
    pub recording_duration_seconds: Option<i64>,
    pub action_summary: Option<String>,
    /// Where our copy of the recording stands: pending, stored, quarantined, missing, refused.
    pub recording_status: Option<String>,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
    pub status_changed_at: Timestamp,
}

/// What a citizen may learn about a case: nothing personal.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct CaseStatusView {
    pub folio: String,
    pub category_name: Option<String>,
    pub status: CaseStatus,
    pub closure_reason: Option<ClosureReason>,
    pub department_name: Option<String>,
    pub status_changed_at: Timestamp,
    pub action_summary: Option<String>,
}

/// A change of status by staff (or the system), kept in the case's history.
#[derive(Debug, Clone)]
pub struct StatusChange<'a> {
    pub case_id: i64,
    pub to: CaseStatus,
    pub closure_reason: Option<ClosureReason>,
    /// The department's action report summary, when it files one.
    pub action_summary: Option<&'a str>,
    pub actor: &'a str,
    pub note: Option<&'a str>,
    pub at: Timestamp,
}

const SELECT_CASE: &str = r#"
    select id, folio, channel, category_id, department_id, urgency, status, closure_reason,
           caller_number, sms_number, call_id, recording_sid, recording_url,
           recording_duration_seconds, action_summary, recording_status, created_at, updated_at,
           status_changed_at
    from cases
"#;

const SELECT_STATUS_VIEW: &str = r#"
    select cs.folio, c.name as category_name, cs.status, cs.closure_reason,
           d.name as department_name, cs.status_changed_at, cs.action_summary
    from cases cs
    left join categories c on c.id = cs.category_id
    left join departments d on d.id = cs.department_id
"#;

impl Store {
    /// Makes the case of a recording, exactly once: the `<Record>` action and the recording
    /// status callback both call this, in either order and as often as Twilio repeats them.
    /// Returns the case and whether this call created it.
    #[tracing::instrument(skip_all, fields(recording_sid = %new.recording_sid))]
    pub async fn create_phone_case(
        &self,
        new: &NewPhoneCase<'_>,
    ) -> Result<(CaseRecord, bool), StoreError> {
        let select = format!("{SELECT_CASE} where recording_sid = $1");
        let result = with_pool!(self, pool => {
            let mut tx = pool.begin_write().await?;
            // The case belongs to its call's row. Make the row if this is the first step of the
            // call to reach the database (the apology path, after a greeting that could not be
            // logged), so the call is not taken for abandoned and the folio can be found again.
            sqlx::query(
                r#"
                insert into calls (call_sid, from_number, caller_withheld, started_at, updated_at, last_step)
                values ($1, $2, $3, $4, $4, 'recorded')
                on conflict (call_sid) do nothing
                "#,
            )
            .bind(new.call_sid.as_str())
            .bind(new.caller.map(|n| n.as_str()))
            .bind(new.caller.is_none())
            .bind(new.at)
            .execute(&mut *tx)
            .await?;
            let inserted: Option<i64> = sqlx::query_scalar(
                r#"
                insert into cases (channel, category_id, department_id, urgency, status, caller_number,
                                   sms_number, call_id, recording_sid, recording_url,
                                   recording_duration_seconds, created_at, updated_at, status_changed_at)
                values ($1, (select id from categories where id = $2),
                        (select department_id from categories where id = $2), $3, $4,
                        coalesce($5, (select from_number from calls where call_sid = $6)),
                        coalesce($5, (select from_number from calls where call_sid = $6)),
                        (select id from calls where call_sid = $6), $7, $8, $9, $10, $10, $10)
                on conflict (recording_sid) do nothing
                returning id
                "#,
            )
            .bind(Channel::Phone)
            .bind(new.category_id)
            .bind(new.urgency)
            .bind(CaseStatus::Received)
            .bind(new.caller.map(|n| n.as_str()))
            .bind(new.call_sid.as_str())
            .bind(new.recording_sid.as_str())
            .bind(new.recording_url)
            .bind(new.recording_duration_seconds)
            .bind(new.at)
            .fetch_optional(&mut *tx)
            .await?;
            let created = inserted.is_some();
            if let Some(id) = inserted {
                sqlx::query(r#"update cases set folio = $2 where id = $1"#)
                    .bind(id)
                    .bind(Folio::from_sequence(id).as_str())
                    .execute(&mut *tx)
                    .await?;
                sqlx::query(
                    r#"insert into case_events (case_id, at, actor, kind, to_status, note) values ($1, $2, 'system', 'created', $3, $4)"#,
                )
                .bind(id)
                .bind(new.at)
                .bind(CaseStatus::Received)
                .bind("Reporte recibido por teléfono")
                .execute(&mut *tx)
                .await?;
                // Our copy of the recording: a row to track it and the job that fetches it.
                sqlx::query(
                    r#"
                    insert into recordings (recording_sid, case_id, source_url, status, created_at, updated_at)
                    values ($1, $2, $3, 'pending', $4, $4)
                    on conflict (recording_sid) do update set case_id = excluded.case_id,
                        source_url = coalesce(recordings.source_url, excluded.source_url)
                    "#,
                )
                .bind(new.recording_sid.as_str())
                .bind(id)
                .bind(new.recording_url)
                .bind(new.at)
                .execute(&mut *tx)
                .await?;
                sqlx::query(
                    r#"update cases set recording_status = (select status from recordings where recording_sid = $2) where id = $1"#,
                )
                .bind(id)
                .bind(new.recording_sid.as_str())
                .execute(&mut *tx)
                .await?;
                // The folio by SMS, if we have a number to send it to.
                let sms_to: Option<String> =
                    sqlx::query_scalar(r#"select sms_number from cases where id = $1"#)
                        .bind(id)
                        .fetch_one(&mut *tx)
                        .await?;
                if let Some(to) = sms_to {
                    outbox_sms!(tx, id, to, SmsTemplate::FolioCreated.code(), format!("sms-folio:{id}"), new.at);
                }
                // A report outranks "abandoned" even if the call's end was logged first.
                sqlx::query(
                    r#"update calls set made_report = true, outcome = case when outcome is null then null else 'report' end where call_sid = $1"#,
                )
                .bind(new.call_sid.as_str())
                .execute(&mut *tx)
                .await?;
            }
            // The job that fetches the recording, once its URL is known: from the notice that
            // made the case, or from the other one if the first came without it.
            let fetch = match (created, new.recording_url) {
                (_, None) => false,
                (true, Some(_)) => true,
                (false, Some(url)) => {
                    sqlx::query(
                        r#"update recordings set source_url = $2 where recording_sid = $1 and source_url is null"#,
                    )
                    .bind(new.recording_sid.as_str())
                    .bind(url)
                    .execute(&mut *tx)
                    .await?
                    .rows_affected()
                        == 1
                }
            };
            if fetch {
                sqlx::query(super::jobs::ENQUEUE)
                    .bind(JobKind::DownloadRecording.code())
                    .bind(format!("recording:{}", new.recording_sid))
                    .bind(new.recording_sid.as_str())
                    .bind(JobKind::DownloadRecording.max_attempts())
                    .bind(new.at)
                    .execute(&mut *tx)
                    .await?;
            }
            let case = sqlx::query_as::<_, CaseRecord>(&select)
                .bind(new.recording_sid.as_str())
                .fetch_one(&mut *tx)
                .await?;
            tx.commit().await?;
            (case, created)
        });
        Ok(result)
    }

    /// A case by its folio.
    pub async fn case_by_folio(&self, folio: &Folio) -> Result<Option<CaseRecord>, StoreError> {
        let sql = format!("{SELECT_CASE} where folio = $1");
        let row = with_read_pool!(self, pool => {
            sqlx::query_as::<_, CaseRecord>(&sql).bind(folio.as_str()).fetch_optional(pool).await?
        });
        Ok(row)
    }

    /// The latest case made during this call, if any.
    pub async fn case_of_call(&self, call_sid: &CallSid) -> Result<Option<CaseRecord>, StoreError> {
        let sql = format!(
            "{SELECT_CASE} where call_id = (select id from calls where call_sid = $1) order by id desc limit 1"
        );
        let row = with_read_pool!(self, pool => {
            sqlx::query_as::<_, CaseRecord>(&sql).bind(call_sid.as_str()).fetch_optional(pool).await?
        });
        Ok(row)
    }

    /// What a caller may hear about a folio.
    pub async fn case_status_by_folio(
        &self,
        folio: &Folio,
    ) -> Result<Option<CaseStatusView>, StoreError> {
        let sql = format!("{SELECT_STATUS_VIEW} where cs.folio = $1");
        let row = with_read_pool!(self, pool => {
            sqlx::query_as::<_, CaseStatusView>(&sql).bind(folio.as_str()).fetch_optional(pool).await?
        });
        Ok(row)
    }

    /// The most recent case still open that was reported from this number.
    pub async fn latest_open_case_of(
        &self,
        number: &PhoneNumber,
    ) -> Result<Option<CaseStatusView>, StoreError> {
        let sql = format!(
            "{SELECT_STATUS_VIEW} where cs.caller_number = $1 and cs.status <> $2 and cs.status <> $3 \
             order by cs.created_at desc, cs.id desc limit 1"
        );
        let row = with_read_pool!(self, pool => {
            sqlx::query_as::<_, CaseStatusView>(&sql)
                .bind(number.as_str())
                .bind(CaseStatus::Attended)
                .bind(CaseStatus::Closed)
                .fetch_optional(pool)
                .await?
        });
        Ok(row)
    }

    /// Sets the number the case's SMS go to (a caller without caller ID typed it).
    pub async fn set_case_sms_number(
        &self,
        case_id: i64,
        number: &PhoneNumber,
        at: Timestamp,
    ) -> Result<(), StoreError> {
        with_pool!(self, pool => {
            let mut tx = pool.begin_write().await?;
            sqlx::query(r#"update cases set sms_number = $2, updated_at = $3 where id = $1"#)
                .bind(case_id)
                .bind(number.as_str())
                .bind(at)
                .execute(&mut *tx)
                .await?;
            sqlx::query(
                r#"insert into case_events (case_id, at, actor, kind, note) values ($1, $2, 'caller', 'sms_number', $3)"#,
            )
            .bind(case_id)
            .bind(at)
            .bind(format!("Número para mensajes con terminación {}", number.last_four()))
            .execute(&mut *tx)
            .await?;
            outbox_sms!(tx, case_id, number.as_str(), SmsTemplate::FolioCreated.code(), format!("sms-folio:{case_id}"), at);
            tx.commit().await?;
        });
        Ok(())
    }

    /// Changes a case's status and keeps the change in its history. Fails with
    /// [`StoreError::Conflict`] if the case changed since it was read.
    pub async fn change_case_status(
        &self,
        change: &StatusChange<'_>,
    ) -> Result<CaseRecord, StoreError> {
        let select = format!("{SELECT_CASE} where id = $1");
        let case = with_pool!(self, pool => {
            let mut tx = pool.begin_write().await?;
            let from: Option<CaseStatus> = sqlx::query_scalar(r#"select status from cases where id = $1"#)
                .bind(change.case_id)
                .fetch_optional(&mut *tx)
                .await?;
            let from = from.ok_or(StoreError::NotFound("case"))?;
            let updated = sqlx::query(
                r#"
                update cases set status = $2, closure_reason = $3,
                       action_summary = coalesce($4, action_summary),
                       updated_at = $5, status_changed_at = $5
                where id = $1 and status = $6
                "#,
            )
            .bind(change.case_id)
            .bind(change.to)
            .bind(change.closure_reason)
            .bind(change.action_summary)
            .bind(change.at)
            .bind(from)
            .execute(&mut *tx)
            .await?;
            if updated.rows_affected() != 1 {
                return Err(StoreError::Conflict("the case changed meanwhile"));
            }
            let event_id: i64 = sqlx::query_scalar(
                r#"insert into case_events (case_id, at, actor, kind, from_status, to_status, note) values ($1, $2, $3, 'status', $4, $5, $6) returning id"#,
            )
            .bind(change.case_id)
            .bind(change.at)
            .bind(change.actor)
            .bind(from)
            .bind(change.to)
            .bind(change.note)
            .fetch_one(&mut *tx)
            .await?;
            let case = sqlx::query_as::<_, CaseRecord>(&select).bind(change.case_id).fetch_one(&mut *tx).await?;
            // The citizen hears of the changes they care about, one SMS per change.
            if let (Some(template), Some(to)) = (SmsTemplate::for_status(change.to), case.sms_number.as_deref()) {
                outbox_sms!(tx, case.id, to, template.code(), format!("sms-status:{event_id}"), change.at);
            }
            tx.commit().await?;
            case
        });
        Ok(case)
    }

    /// The history of a case, oldest first, as `(kind, from_status, to_status, actor)`.
    pub async fn case_history(
        &self,
        case_id: i64,
    ) -> Result<Vec<(String, Option<String>, Option<String>, String)>, StoreError> {
        let rows = with_read_pool!(self, pool => {
            sqlx::query_as(r#"select kind, from_status, to_status, actor from case_events where case_id = $1 order by id"#)
                .bind(case_id)
                .fetch_all(pool)
                .await?
        });
        Ok(rows)
    }

    /// How many cases there are (tests and the dashboard).
    pub async fn count_cases(&self) -> Result<i64, StoreError> {
        let n = with_read_pool!(self, pool => {
            sqlx::query_scalar::<_, i64>(r#"select count(*) from cases"#).fetch_one(pool).await?
        });
        Ok(n)
    }
}
