//! Cases: made once per recording, looked up by folio, changed with a history.

use super::group_commit::{PhoneCaseWork, StepRow, Work};
use super::tx::{Inner, NewCaseEvent, OutboxSms, SmsTiming, WriteTx, with_tx};
use super::{CallStep, Store, StoreError, with_read_pool};
use crate::domain::promise;
use crate::domain::{
    Address, CallOutcome, CallSid, CallbackResult, CaseEventKind, CaseStatus, Channel,
    ClosureReason, Folio, JobKind, MessageTemplate, PhoneNumber, RecordingSid, RecordingStatus,
    Timestamp, Urgency,
};

/// A report made by another channel (in person, a call to the office, WhatsApp, Messenger,
/// e-mail), registered by staff.
#[derive(Debug, Clone)]
pub struct NewStaffCase<'a> {
    pub channel: Channel,
    pub citizen_name: Option<&'a str>,
    pub phone: Option<&'a PhoneNumber>,
    /// The phone is a mobile: the folio SMS and status messages go to it.
    pub mobile: bool,
    pub category_id: i64,
    pub urgency: Urgency,
    pub description: &'a str,
    pub address: &'a Address,
    /// Who registered it (the history's actor) and the history's note.
    pub actor: &'a str,
    pub note: &'a str,
    pub user_id: i64,
    /// Taken on a call back to `phone`: settles the calls owed to it.
    pub on_callback: bool,
    pub at: Timestamp,
}

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
    /// Made after the call, from what the call left behind (the caller heard no folio; the
    /// folio SMS carries it): the case's history says how.
    pub recovered: Option<Recovered>,
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
    /// Where our copy of the recording stands.
    pub recording_status: Option<RecordingStatus>,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
    pub status_changed_at: Timestamp,
    /// The date the citizen was told the case would be answered by.
    pub answer_by: Option<chrono::NaiveDate>,
}

/// An entry of a case's history.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct CaseEvent {
    pub id: i64,
    pub at: Timestamp,
    pub actor: String,
    pub kind: CaseEventKind,
    pub from_status: Option<CaseStatus>,
    pub to_status: Option<CaseStatus>,
    pub note: Option<String>,
}

/// What a citizen may learn about a case: nothing personal.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct CaseStatusView {
    pub folio: String,
    pub category_name: Option<String>,
    pub category_code: Option<String>,
    pub status: CaseStatus,
    pub closure_reason: Option<ClosureReason>,
    pub department_name: Option<String>,
    pub status_changed_at: Timestamp,
    pub action_summary: Option<String>,
    /// Whether the case's category is sensitive (see [`super::Category::sensitive`]); a case
    /// without a category is not.
    pub sensitive: bool,
    /// The date the citizen was told the case would be answered by.
    pub answer_by: Option<chrono::NaiveDate>,
}

/// A change of status by staff (or the system), kept in the case's history.
#[derive(Debug, Clone)]
pub struct StatusChange<'a> {
    pub case_id: i64,
    /// The status the change was decided against (checked against the lifecycle): if the case
    /// is elsewhere by now, the change is a [`StoreError::Conflict`]. `None` takes it as it is.
    pub expected: Option<CaseStatus>,
    pub to: CaseStatus,
    pub closure_reason: Option<ClosureReason>,
    /// Routing: the department the case goes to (its users see it from then on).
    pub department_id: Option<i64>,
    /// Closing as a duplicate: the other case's folio.
    pub duplicate_of: Option<&'a str>,
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
           status_changed_at, answer_by
    from cases
"#;

/// The columns of a [`CaseStatusView`], of a case `cs` with its category `c` and department
/// `d` (joined by `status_view_joins!`). One list for every statement that reads the view.
macro_rules! status_view_columns {
    () => {
        "cs.folio, c.name as category_name, c.code as category_code, cs.status, \
         cs.closure_reason, d.name as department_name, cs.status_changed_at, cs.action_summary, \
         coalesce(c.sensitive, false) as sensitive, cs.answer_by"
    };
}

macro_rules! status_view_joins {
    () => {
        " left join categories c on c.id = cs.category_id \
          left join departments d on d.id = cs.department_id "
    };
}

const SELECT_STATUS_VIEW: &str = concat!(
    "select ",
    status_view_columns!(),
    " from cases cs",
    status_view_joins!()
);

/// The latest open case of each number the `asked` statement gives (`$2` and `$3` are the
/// statuses of a case no longer open), with the number it was asked for.
macro_rules! open_cases_of {
    ($asked:literal) => {
        concat!(
            "with asked (number) as (",
            $asked,
            ") select a.number, ",
            status_view_columns!(),
            " from asked a join cases cs on cs.id = (select o.id from cases o \
              where o.caller_number = a.number and o.status <> $2 and o.status <> $3 \
              order by o.created_at desc, o.id desc limit 1)",
            status_view_joins!()
        )
    };
}

/// One number's (`$1`).
const OPEN_CASE_OF: &str = open_cases_of!("select cast($1 as text)");
/// SQLite: the numbers of a JSON array (`$1`).
const OPEN_CASES_OF_JSON: &str = open_cases_of!("select value from json_each($1)");
/// PostgreSQL: the numbers of an array (`$1`).
const OPEN_CASES_OF_ARRAY: &str = open_cases_of!("select unnest($1::text[])");

/// A caller's latest open case, and the number it was asked for.
#[derive(sqlx::FromRow)]
pub(super) struct OpenCaseOf {
    pub number: String,
    #[sqlx(flatten)]
    pub case: CaseStatusView,
}

impl WriteTx {
    /// The latest open case of each of `numbers`, read in this transaction (the greeting's
    /// read, in its step's group commit).
    pub(super) async fn open_cases_of(
        &mut self,
        numbers: &[&str],
    ) -> Result<Vec<OpenCaseOf>, StoreError> {
        if numbers.is_empty() {
            return Ok(Vec::new());
        }
        let found = match &mut self.inner {
            Inner::Sqlite(tx) => {
                let json = serde_json::to_string(numbers)
                    .map_err(|e| StoreError::Invalid(e.to_string()))?;
                sqlx::query_as(OPEN_CASES_OF_JSON)
                    .bind(json)
                    .bind(CaseStatus::Attended)
                    .bind(CaseStatus::Closed)
                    .fetch_all(&mut **tx)
                    .await?
            }
            Inner::Postgres(tx) => {
                sqlx::query_as(OPEN_CASES_OF_ARRAY)
                    .bind(numbers)
                    .bind(CaseStatus::Attended)
                    .bind(CaseStatus::Closed)
                    .fetch_all(&mut **tx)
                    .await?
            }
        };
        Ok(found)
    }
}

impl Store {
    /// Makes the case of a recording, exactly once: the `<Record>` action and the recording
    /// status callback both call this, in either order and as often as Twilio repeats them.
    /// Returns the case and whether this call created it.
    pub async fn create_phone_case(
        &self,
        new: &NewPhoneCase<'_>,
    ) -> Result<(CaseRecord, bool), StoreError> {
        self.create_phone_case_with(new, WithCase::default()).await
    }

    /// [`create_phone_case`](Self::create_phone_case), with what the webhook that makes the
    /// case also writes (its step of the call; the download made due): in the case's
    /// transaction, so the webhook waits for one commit, and the step is logged exactly when
    /// the case is made.
    #[tracing::instrument(skip_all, fields(recording_sid = %new.recording_sid))]
    pub async fn create_phone_case_with(
        &self,
        new: &NewPhoneCase<'_>,
        with: WithCase<'_>,
    ) -> Result<(CaseRecord, bool), StoreError> {
        self.gate()?;
        let with = OwnedWithCase::of(with);
        if let super::Backend::Postgres(_) = self.backend {
            // PostgreSQL makes cases in parallel, one transaction each on the pool, and flushes
            // the commits that arrive together at once itself. Through the one writer task
            // they queued instead: 1,182 webhooks/s against 1,677 (README, Benchmarks).
            let mut tx = self.begin_write().await?;
            let made = tx.phone_case_with(new, &with).await?;
            tx.commit().await?;
            if with.step.is_some() {
                self.health
                    .steps_written
                    .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            }
            return Ok(made);
        }
        let (done, answer) = tokio::sync::oneshot::channel();
        self.writer
            .send(Work::PhoneCase(PhoneCaseWork {
                case: OwnedPhoneCase::of(new),
                with,
                done,
            }))
            .await
            .map_err(|_| StoreError::Unavailable)?;
        answer.await.map_err(|_| StoreError::Unavailable)?
    }

    /// Registers a report made by another channel: the same folio series, lifecycle, promise
    /// and folio SMS (to a mobile) as a phone report, in one transaction; taken on a callback,
    /// the callback is recorded with it.
    pub async fn create_staff_case(
        &self,
        new: &NewStaffCase<'_>,
    ) -> Result<CaseRecord, StoreError> {
        let mut tx = self.begin_write().await?;
        let id = with_tx!(tx, |conn| {
            sqlx::query_scalar::<_, i64>(
                r#"
                insert into cases (channel, category_id, department_id, urgency, status, caller_number,
                                   sms_number, description, address_street, address_colonia,
                                   address_between, address_references, citizen_name, priority,
                                   created_at, updated_at, status_changed_at)
                values ($1, $2, (select department_id from categories where id = $2), $3, $4, $5, $6,
                        $7, $8, $9, $10, $11, $12, $13, $14, $14, $14)
                returning id
                "#,
            )
            .bind(new.channel)
            .bind(new.category_id)
            .bind(new.urgency)
            .bind(CaseStatus::Received)
            .bind(new.phone.map(|p| p.as_str()))
            .bind(new.phone.filter(|_| new.mobile).map(|p| p.as_str()))
            .bind(new.description)
            .bind(new.address.street.as_deref())
            .bind(new.address.colonia.as_deref())
            .bind(new.address.between.as_deref())
            .bind(new.address.references.as_deref())
            .bind(new.citizen_name)
            .bind(i64::from(new.urgency == Urgency::Urgent))
            .bind(new.at)
            .fetch_one(conn)
            .await?
        });
        tx.open_case(id, new.at, new.actor, new.note).await?;
        if let (true, Some(phone)) = (new.on_callback, new.phone) {
            with_tx!(tx, |conn| {
                sqlx::query(
                    r#"
                    insert into callbacks (number, result, case_id, user_id, at)
                    values ($1, $2, $3, $4, $5)
                    "#,
                )
                .bind(phone.as_str())
                .bind(CallbackResult::ReachedReport)
                .bind(id)
                .bind(new.user_id)
                .bind(new.at)
                .execute(conn)
                .await?;
            });
        }
        let case = tx.case_by_id(id).await?;
        tx.commit().await?;
        Ok(case)
    }

    /// A case by its folio.
    pub async fn case_by_folio(&self, folio: &Folio) -> Result<Option<CaseRecord>, StoreError> {
        let sql = format!("{SELECT_CASE} where folio = $1");
        let row = with_read_pool!(self, |pool| {
            sqlx::query_as::<_, CaseRecord>(&sql)
                .bind(folio.as_str())
                .fetch_optional(pool)
                .await?
        });
        Ok(row)
    }

    /// The latest case made during this call, if any.
    pub async fn case_of_call(&self, call_sid: &CallSid) -> Result<Option<CaseRecord>, StoreError> {
        let sql = format!(
            "{SELECT_CASE} where call_id = (select id from calls where call_sid = $1) order by id desc limit 1"
        );
        let row = with_read_pool!(self, |pool| {
            sqlx::query_as::<_, CaseRecord>(&sql)
                .bind(call_sid.as_str())
                .fetch_optional(pool)
                .await?
        });
        Ok(row)
    }

    /// What a caller may hear about a folio.
    pub async fn case_status_by_folio(
        &self,
        folio: &Folio,
    ) -> Result<Option<CaseStatusView>, StoreError> {
        let sql = format!("{SELECT_STATUS_VIEW} where cs.folio = $1");
        let row = with_read_pool!(self, |pool| {
            sqlx::query_as::<_, CaseStatusView>(&sql)
                .bind(folio.as_str())
                .fetch_optional(pool)
                .await?
        });
        Ok(row)
    }

    /// The most recent case still open that was reported from this number. (The greeting gets
    /// it with its step instead: see `record_first_step`.)
    pub async fn latest_open_case_of(
        &self,
        number: &PhoneNumber,
    ) -> Result<Option<CaseStatusView>, StoreError> {
        let row = with_read_pool!(self, |pool| {
            sqlx::query_as::<_, OpenCaseOf>(OPEN_CASE_OF)
                .bind(number.as_str())
                .bind(CaseStatus::Attended)
                .bind(CaseStatus::Closed)
                .fetch_optional(pool)
                .await?
        });
        Ok(row.map(|r| r.case))
    }

    /// Sets the number the case's SMS go to (a caller without caller ID typed it), and queues
    /// the folio SMS to it.
    pub async fn set_case_sms_number(
        &self,
        case_id: i64,
        number: &PhoneNumber,
        at: Timestamp,
    ) -> Result<(), StoreError> {
        let mut tx = self.begin_write().await?;
        with_tx!(tx, |conn| {
            sqlx::query(r#"update cases set sms_number = $2, updated_at = $3 where id = $1"#)
                .bind(case_id)
                .bind(number.as_str())
                .bind(at)
                .execute(conn)
                .await?;
        });
        let note = format!(
            "Número para mensajes con terminación {}",
            number.last_four()
        );
        tx.add_case_event(&NewCaseEvent {
            case_id,
            at,
            actor: "caller",
            kind: CaseEventKind::SmsNumber,
            from_status: None,
            to_status: None,
            note: Some(&note),
        })
        .await?;
        tx.put_sms_in_outbox(&folio_sms(case_id, number.as_str(), at))
            .await?;
        tx.commit().await
    }

    /// Changes a case's status and keeps the change in its history. Fails with
    /// [`StoreError::Conflict`] if the case changed since it was read.
    pub async fn change_case_status(
        &self,
        change: &StatusChange<'_>,
    ) -> Result<CaseRecord, StoreError> {
        let mut tx = self.begin_write().await?;
        let case = tx.change_status(change).await?;
        tx.commit().await?;
        Ok(case)
    }

    /// The history of a case, oldest first.
    pub async fn case_history(&self, case_id: i64) -> Result<Vec<CaseEvent>, StoreError> {
        let rows = with_read_pool!(self, |pool| {
            sqlx::query_as::<_, CaseEvent>(
                r#"select id, at, actor, kind, from_status, to_status, note from case_events where case_id = $1 order by id"#,
            )
            .bind(case_id)
            .fetch_all(pool)
            .await?
        });
        Ok(rows)
    }

    /// How many cases there are (tests and the dashboard).
    pub async fn count_cases(&self) -> Result<i64, StoreError> {
        let n = with_read_pool!(self, |pool| {
            sqlx::query_scalar::<_, i64>(r#"select count(*) from cases"#)
                .fetch_one(pool)
                .await?
        });
        Ok(n)
    }
}

/// The folio SMS of a new case: one per case, whichever way its number came.
/// The history note of a phone report made from the journal (see [`NewPhoneCase::recovered`]).
pub const RECOVERED_NOTE: &str = "Reporte recibido por teléfono durante una falla de la base de datos y registrado después desde el respaldo local del servidor. La persona no escuchó su folio: se le envía por SMS si llamó desde un número conocido.";

/// The history note of a phone report found among Twilio's recordings (see
/// [`Recovered::FromTwilio`]).
pub const FOUND_AT_TWILIO_NOTE: &str = "Reporte recuperado de las grabaciones de Twilio: la grabación nunca llegó al servidor durante la llamada (una caída del servicio). La categoría elegida no se conoce. La persona no escuchó su folio: se le envía por SMS si llamó desde un número conocido.";

impl WriteTx {
    /// What every new case gets, whatever its channel: its folio, its deadline, the date
    /// promised to the citizen, "created" in its history, and the folio SMS if it has a number
    /// to send it to.
    async fn open_case(
        &mut self,
        id: i64,
        at: Timestamp,
        actor: &str,
        note: &str,
    ) -> Result<(), StoreError> {
        // One read and one write: the case's deadlines and number, then its folio, when it is
        // overdue and the date the citizen is promised an answer by.
        let terms = self.terms_of(id).await?;
        self.set_folio_and_dates(
            id,
            terms.due(CaseStatus::Received, at),
            promise::answer_by(
                at,
                terms
                    .first_response_days
                    .unwrap_or(promise::DEFAULT_WORKING_DAYS),
            ),
        )
        .await?;
        self.add_case_event(&NewCaseEvent {
            case_id: id,
            at,
            actor,
            kind: CaseEventKind::Created,
            from_status: None,
            to_status: Some(CaseStatus::Received),
            note: Some(note),
        })
        .await?;
        if let Some(to) = &terms.sms_number {
            self.put_sms_in_outbox(&folio_sms(id, to, at)).await?;
        }
        Ok(())
    }

    /// Makes a phone case (or finds the one its recording made already), with its folio, its
    /// deadline, its promise, its history, its folio SMS and the download of its recording.
    pub(super) async fn phone_case(
        &mut self,
        new: &NewPhoneCase<'_>,
    ) -> Result<(CaseRecord, bool), StoreError> {
        let tx = self;
        // The case belongs to its call's row. Make the row if this is the first step of the
        // call to reach the database (the apology path, after a greeting that could not be
        // logged), so the call is not taken for abandoned and the folio can be found again.
        tx.ensure_call(new).await?;
        let created = match tx.insert_phone_case(new).await? {
            Some(id) => {
                let note = new
                    .recovered
                    .map_or("Reporte recibido por teléfono", Recovered::note);
                tx.open_case(id, new.at, "system", note).await?;
                tx.track_recording(id, new).await?;
                // A report outranks "abandoned" even if the call's end was logged first.
                tx.mark_call_reported(new.call_sid).await?;
                true
            }
            None => false,
        };
        // The job that fetches the recording, once its URL is known: from the notice that made
        // the case, or from the other one if the first came without it.
        let fetch = match (created, new.recording_url) {
            (_, None) => false,
            (true, Some(_)) => true,
            (false, Some(url)) => tx.set_missing_recording_url(new.recording_sid, url).await?,
        };
        if fetch {
            let sid = new.recording_sid.as_str();
            tx.enqueue_job(
                JobKind::DownloadRecording,
                &download_key(new.recording_sid),
                sid,
                new.at,
            )
            .await?;
        }
        let case = tx.case_of_recording(new.recording_sid).await?;
        Ok((case, created))
    }
}

/// What a webhook that makes a case writes with it, in the case's transaction (see
/// [`Store::create_phone_case_with`]).
#[derive(Default)]
pub struct WithCase<'a> {
    /// The webhook's step of the call. Logged before the case as it is; or, with `describe`,
    /// after it, its detail said by `describe` from the case and whether this made it (the
    /// `<Record>` action's step names the folio).
    pub step: Option<CallStep<'a>>,
    pub describe: Option<DescribeStep>,
    /// Twilio said the recording is ready: its download is due now, not at its next retry.
    pub hasten_download: bool,
}

/// Says a step's detail from the case made or found, and whether this made it.
pub type DescribeStep = Box<dyn Fn(&CaseRecord, bool) -> String + Send + Sync>;

/// [`WithCase`] owned, to cross to the group writer's task.
pub(super) struct OwnedWithCase {
    pub step: Option<StepRow>,
    describe: Option<DescribeStep>,
    hasten_download: bool,
}

impl OwnedWithCase {
    fn of(with: WithCase<'_>) -> OwnedWithCase {
        OwnedWithCase {
            step: with.step.as_ref().map(StepRow::of),
            describe: with.describe,
            hasten_download: with.hasten_download,
        }
    }
}

impl WriteTx {
    /// [`phone_case`](Self::phone_case) with what its webhook writes with it.
    pub(super) async fn phone_case_with(
        &mut self,
        new: &NewPhoneCase<'_>,
        with: &OwnedWithCase,
    ) -> Result<(CaseRecord, bool), StoreError> {
        if let (Some(step), None) = (&with.step, &with.describe) {
            self.log_step(step).await?;
        }
        let (case, created) = self.phone_case(new).await?;
        if with.hasten_download {
            self.hasten_job(&download_key(new.recording_sid), new.at)
                .await?;
        }
        if let (Some(step), Some(describe)) = (&with.step, &with.describe) {
            let mut step = step.clone();
            step.detail = Some(describe(&case, created));
            self.log_step(&step).await?;
        }
        Ok((case, created))
    }
}

/// The key of a recording's download job.
pub fn download_key(sid: &RecordingSid) -> String {
    format!("recording:{sid}")
}

/// A [`NewPhoneCase`] that owns its parts, to cross to the group writer's task.
#[derive(Debug, Clone)]
pub(super) struct OwnedPhoneCase {
    call_sid: CallSid,
    caller: Option<PhoneNumber>,
    category_id: Option<i64>,
    urgency: Urgency,
    recording_sid: RecordingSid,
    recording_url: Option<String>,
    recording_duration_seconds: Option<i64>,
    at: Timestamp,
    recovered: Option<Recovered>,
}

impl OwnedPhoneCase {
    fn of(new: &NewPhoneCase<'_>) -> OwnedPhoneCase {
        OwnedPhoneCase {
            call_sid: new.call_sid.clone(),
            caller: new.caller.cloned(),
            category_id: new.category_id,
            urgency: new.urgency,
            recording_sid: new.recording_sid.clone(),
            recording_url: new.recording_url.map(str::to_owned),
            recording_duration_seconds: new.recording_duration_seconds,
            at: new.at,
            recovered: new.recovered,
        }
    }

    pub(super) fn borrowed(&self) -> NewPhoneCase<'_> {
        NewPhoneCase {
            call_sid: &self.call_sid,
            caller: self.caller.as_ref(),
            category_id: self.category_id,
            urgency: self.urgency,
            recording_sid: &self.recording_sid,
            recording_url: self.recording_url.as_deref(),
            recording_duration_seconds: self.recording_duration_seconds,
            at: self.at,
            recovered: self.recovered,
        }
    }
}

/// How a phone report made after its call was found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Recovered {
    /// From the instance's journal, kept while the database was down.
    FromJournal,
    /// Among Twilio's recordings: neither the `<Record>` action nor the recording callback
    /// reached a live service.
    FromTwilio,
}

impl Recovered {
    pub fn note(self) -> &'static str {
        match self {
            Recovered::FromJournal => RECOVERED_NOTE,
            Recovered::FromTwilio => FOUND_AT_TWILIO_NOTE,
        }
    }
}

fn folio_sms(case_id: i64, to: &str, at: Timestamp) -> OutboxSms<'_> {
    OutboxSms {
        case_id,
        to,
        template: MessageTemplate::FolioCreated,
        dedup_key: format!("sms-folio:{case_id}"),
        at,
        // The caller just asked for it: at once, even at night.
        timing: SmsTiming::AtOnce,
    }
}

/// What a case's dates are reckoned from (see [`WriteTx::terms_of`]).
#[derive(sqlx::FromRow)]
struct CaseTerms {
    created_at: Timestamp,
    classify_hours: Option<i64>,
    first_response_days: Option<i64>,
    resolve_days: Option<i64>,
    sms_number: Option<String>,
}

impl CaseTerms {
    /// When a case in `status` is overdue, from its category's deadlines (24 h, 5 days and 40
    /// days when it has no category): to classify while received, in review or reopened; to
    /// answer once routed; to resolve while in progress. None once attended or closed.
    fn due(&self, status: CaseStatus, at: Timestamp) -> Option<Timestamp> {
        let after =
            |from: Timestamp, d: chrono::Duration| Some(Timestamp::from_utc(from.as_utc() + d));
        match status {
            CaseStatus::Received | CaseStatus::InReview | CaseStatus::Reopened => after(
                at,
                chrono::Duration::hours(self.classify_hours.unwrap_or(24)),
            ),
            CaseStatus::Routed => after(
                at,
                chrono::Duration::days(self.first_response_days.unwrap_or(5)),
            ),
            CaseStatus::InProgress => after(
                self.created_at,
                chrono::Duration::days(self.resolve_days.unwrap_or(40)),
            ),
            CaseStatus::Attended | CaseStatus::Closed => None,
        }
    }
}

/// The steps of a case's changes, inside a write transaction.
impl WriteTx {
    /// A change of status with its history entry and the SMS it calls for (to the citizen,
    /// held until 09:00 when the change is made at night, and to the department's contact
    /// number when routed, at once).
    pub(super) async fn change_status(
        &mut self,
        change: &StatusChange<'_>,
    ) -> Result<CaseRecord, StoreError> {
        let tx = self;
        let from = tx.case_status(change.case_id).await?;
        if change.expected.is_some_and(|expected| expected != from) {
            return Err(StoreError::Conflict("the case changed meanwhile"));
        }
        let due = tx.deadline(change.case_id, change.to, change.at).await?;
        tx.set_case_status(change, from, due).await?;
        let event_id = tx
            .add_case_event(&NewCaseEvent {
                case_id: change.case_id,
                at: change.at,
                actor: change.actor,
                kind: CaseEventKind::Status,
                from_status: Some(from),
                to_status: Some(change.to),
                note: change.note,
            })
            .await?;
        let case = tx.case_by_id(change.case_id).await?;
        // The department hears of a case routed to it, at its contact number.
        if change.to == CaseStatus::Routed
            && let Some(contact) = tx.department_contact(case.department_id).await?
        {
            tx.put_sms_in_outbox(&OutboxSms {
                case_id: case.id,
                to: &contact,
                template: MessageTemplate::DepartmentRouted,
                dedup_key: format!("sms-department:{event_id}"),
                at: change.at,
                // Staff, not a citizen: a case routed at night (an urgent one) must be
                // known at once.
                timing: SmsTiming::AtOnce,
            })
            .await?;
        }
        // The citizen hears of the changes they care about, one SMS per change.
        if let (Some(template), Some(to)) = (
            MessageTemplate::for_status(change.to),
            case.sms_number.as_deref(),
        ) {
            tx.put_sms_in_outbox(&OutboxSms {
                case_id: case.id,
                to,
                template,
                dedup_key: format!("sms-status:{event_id}"),
                at: change.at,
                // Caused by staff work, not asked for now: not at night.
                timing: SmsTiming::Daytime,
            })
            .await?;
        }
        Ok(case)
    }

    /// Makes the call's row if no step of the call was logged yet.
    async fn ensure_call(&mut self, new: &NewPhoneCase<'_>) -> Result<(), StoreError> {
        with_tx!(self, |conn| {
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
            .execute(conn)
            .await?;
        });
        Ok(())
    }

    /// Inserts the case of a recording; `None` if that recording has its case already.
    async fn insert_phone_case(
        &mut self,
        new: &NewPhoneCase<'_>,
    ) -> Result<Option<i64>, StoreError> {
        let id = with_tx!(self, |conn| {
            sqlx::query_scalar::<_, i64>(
                r#"
                insert into cases (channel, category_id, department_id, urgency, status, caller_number,
                                   sms_number, call_id, recording_sid, recording_url,
                                   recording_duration_seconds, created_at, updated_at, status_changed_at,
                                   priority)
                values ($1, (select id from categories where id = $2),
                        (select department_id from categories where id = $2), $3, $4,
                        coalesce($5, (select from_number from calls where call_sid = $6)),
                        coalesce($5, (select from_number from calls where call_sid = $6)),
                        (select id from calls where call_sid = $6), $7, $8, $9, $10, $10, $10, $11)
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
            .bind(i64::from(new.urgency == Urgency::Urgent))
            .fetch_optional(conn)
            .await?
        });
        Ok(id)
    }

    /// Gives a new case its folio (made from its id), when it is overdue and the date the
    /// citizen is told it will be answered by (see [`crate::domain::promise`]).
    async fn set_folio_and_dates(
        &mut self,
        case_id: i64,
        due: Option<Timestamp>,
        answer_by: chrono::NaiveDate,
    ) -> Result<(), StoreError> {
        with_tx!(self, |conn| {
            sqlx::query(
                r#"update cases set folio = $2, due_at = $3, answer_by = $4 where id = $1"#,
            )
            .bind(case_id)
            .bind(Folio::from_sequence(case_id).as_str())
            .bind(due)
            .bind(answer_by)
            .execute(conn)
            .await?;
        });
        Ok(())
    }

    /// Our copy of the recording: a row to track it (perhaps made already by an earlier
    /// callback), and the case's view of where it stands.
    async fn track_recording(
        &mut self,
        case_id: i64,
        new: &NewPhoneCase<'_>,
    ) -> Result<(), StoreError> {
        with_tx!(self, |conn| {
            sqlx::query(
                r#"
                insert into recordings (recording_sid, case_id, source_url, status, created_at, updated_at)
                values ($1, $2, $3, $5, $4, $4)
                on conflict (recording_sid) do update set case_id = excluded.case_id,
                    source_url = coalesce(recordings.source_url, excluded.source_url)
                "#,
            )
            .bind(new.recording_sid.as_str())
            .bind(case_id)
            .bind(new.recording_url)
            .bind(new.at)
            .bind(RecordingStatus::Pending)
            .execute(&mut *conn)
            .await?;
            sqlx::query(
                r#"update cases set recording_status = (select status from recordings where recording_sid = $2) where id = $1"#,
            )
            .bind(case_id)
            .bind(new.recording_sid.as_str())
            .execute(conn)
            .await?;
        });
        Ok(())
    }

    /// Notes that the call made a report: its outcome is "report", whatever came first.
    async fn mark_call_reported(&mut self, call_sid: &CallSid) -> Result<(), StoreError> {
        with_tx!(self, |conn| {
            sqlx::query(
                r#"update calls set made_report = true, outcome = case when outcome is null then null else $2 end where call_sid = $1"#,
            )
            .bind(call_sid.as_str())
            .bind(CallOutcome::Report)
            .execute(conn)
            .await?;
        });
        Ok(())
    }

    /// Sets a recording's URL if it had none. Returns whether it did.
    async fn set_missing_recording_url(
        &mut self,
        sid: &RecordingSid,
        url: &str,
    ) -> Result<bool, StoreError> {
        let n = with_tx!(self, |conn| {
            sqlx::query(
                r#"update recordings set source_url = $2 where recording_sid = $1 and source_url is null"#,
            )
            .bind(sid.as_str())
            .bind(url)
            .execute(conn)
            .await?
            .rows_affected()
        });
        Ok(n == 1)
    }

    /// The case of a recording.
    async fn case_of_recording(&mut self, sid: &RecordingSid) -> Result<CaseRecord, StoreError> {
        let sql = format!("{SELECT_CASE} where recording_sid = $1");
        let case = with_tx!(self, |conn| {
            sqlx::query_as::<_, CaseRecord>(&sql)
                .bind(sid.as_str())
                .fetch_one(conn)
                .await?
        });
        Ok(case)
    }

    /// A case by its id.
    async fn case_by_id(&mut self, case_id: i64) -> Result<CaseRecord, StoreError> {
        let sql = format!("{SELECT_CASE} where id = $1");
        let case = with_tx!(self, |conn| {
            sqlx::query_as::<_, CaseRecord>(&sql)
                .bind(case_id)
                .fetch_one(conn)
                .await?
        });
        Ok(case)
    }

    /// A case's status, read inside the transaction.
    async fn case_status(&mut self, case_id: i64) -> Result<CaseStatus, StoreError> {
        let status = with_tx!(self, |conn| {
            sqlx::query_scalar::<_, CaseStatus>(r#"select status from cases where id = $1"#)
                .bind(case_id)
                .fetch_optional(conn)
                .await?
        });
        status.ok_or(StoreError::NotFound("case"))
    }

    /// What a case's dates are reckoned from: its creation, its category's deadlines, and the
    /// number its SMS go to.
    async fn terms_of(&mut self, case_id: i64) -> Result<CaseTerms, StoreError> {
        let terms = with_tx!(self, |conn| {
            sqlx::query_as::<_, CaseTerms>(
                r#"
                select cs.created_at, c.classify_hours, c.first_response_days, c.resolve_days,
                       cs.sms_number
                from cases cs left join categories c on c.id = cs.category_id
                where cs.id = $1
                "#,
            )
            .bind(case_id)
            .fetch_one(conn)
            .await?
        });
        Ok(terms)
    }

    /// When a case in `status` is overdue (see [`CaseTerms::due`]).
    async fn deadline(
        &mut self,
        case_id: i64,
        status: CaseStatus,
        at: Timestamp,
    ) -> Result<Option<Timestamp>, StoreError> {
        Ok(self.terms_of(case_id).await?.due(status, at))
    }

    /// The contact number of a department, if it has one.
    async fn department_contact(
        &mut self,
        department_id: Option<i64>,
    ) -> Result<Option<String>, StoreError> {
        let Some(id) = department_id else {
            return Ok(None);
        };
        let number = with_tx!(self, |conn| {
            sqlx::query_scalar::<_, Option<String>>(
                r#"select contact_number from departments where id = $1"#,
            )
            .bind(id)
            .fetch_optional(conn)
            .await?
        });
        Ok(number.flatten())
    }

    /// Moves a case from `from` to the change's status; a conflict if it was not at `from`.
    async fn set_case_status(
        &mut self,
        change: &StatusChange<'_>,
        from: CaseStatus,
        due: Option<Timestamp>,
    ) -> Result<(), StoreError> {
        let routed = change.to == CaseStatus::Routed;
        let closed = change.to == CaseStatus::Closed;
        let n = with_tx!(self, |conn| {
            sqlx::query(
                r#"
                update cases set status = $2, closure_reason = $3,
                       action_summary = coalesce($4, action_summary),
                       updated_at = $5, status_changed_at = $5,
                       department_id = coalesce($7, department_id),
                       routed_at = case when $8 then coalesce(routed_at, $5) else routed_at end,
                       duplicate_of = case when $9 then $10 else duplicate_of end,
                       due_at = $11
                where id = $1 and status = $6
                "#,
            )
            .bind(change.case_id)
            .bind(change.to)
            .bind(change.closure_reason)
            .bind(change.action_summary)
            .bind(change.at)
            .bind(from)
            .bind(change.department_id)
            .bind(routed)
            .bind(closed)
            .bind(change.duplicate_of)
            .bind(due)
            .execute(conn)
            .await?
            .rows_affected()
        });
        if n != 1 {
            return Err(StoreError::Conflict("the case changed meanwhile"));
        }
        Ok(())
    }
}
