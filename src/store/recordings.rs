//! Our copies of the recordings.

use super::{BeginWrite, Store, StoreError, with_pool, with_read_pool};
use crate::domain::{RecordingSid, RecordingStatus, Timestamp};

/// A recording row.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct RecordingRecord {
    pub id: i64,
    pub recording_sid: String,
    pub case_id: Option<i64>,
    pub source_url: Option<String>,
    pub status: RecordingStatus,
    pub storage_key: Option<String>,
    pub sha256: Option<String>,
    pub size_bytes: Option<i64>,
    pub sample_rate: Option<i64>,
    pub channels: Option<i64>,
    pub bits_per_sample: Option<i64>,
    pub duration_ms: Option<i64>,
    pub peaks: Option<String>,
    pub twilio_error_code: Option<String>,
    pub error: Option<String>,
    pub deleted_from_twilio: bool,
}

/// What we learnt from a verified file.
#[derive(Debug, Clone)]
pub struct StoredRecording<'a> {
    pub storage_key: &'a str,
    pub sha256: &'a str,
    pub size_bytes: i64,
    pub sample_rate: i64,
    pub channels: i64,
    pub bits_per_sample: i64,
    pub duration_ms: i64,
    /// JSON array of peak levels.
    pub peaks: &'a str,
}

const COLUMNS: &str = "id, recording_sid, case_id, source_url, status, storage_key, sha256, size_bytes, sample_rate, channels, bits_per_sample, duration_ms, peaks, twilio_error_code, error, deleted_from_twilio";

impl Store {
    /// A recording by its sid.
    pub async fn recording(
        &self,
        sid: &RecordingSid,
    ) -> Result<Option<RecordingRecord>, StoreError> {
        let sql = format!("select {COLUMNS} from recordings where recording_sid = $1");
        let row = with_read_pool!(self, |pool| {
            sqlx::query_as::<_, RecordingRecord>(&sql)
                .bind(sid.as_str())
                .fetch_optional(pool)
                .await?
        });
        Ok(row)
    }

    /// Records a verified copy, and marks the case's recording as stored.
    pub async fn mark_recording_stored(
        &self,
        sid: &RecordingSid,
        stored: &StoredRecording<'_>,
        at: Timestamp,
    ) -> Result<(), StoreError> {
        with_pool!(self, |pool| {
            let mut tx = pool.begin_write().await?;
            sqlx::query(
                r#"
                update recordings set status = $11, storage_key = $2, sha256 = $3, size_bytes = $4,
                    sample_rate = $5, channels = $6, bits_per_sample = $7, duration_ms = $8, peaks = $9,
                    error = null, updated_at = $10
                where recording_sid = $1
                "#,
            )
            .bind(sid.as_str())
            .bind(stored.storage_key)
            .bind(stored.sha256)
            .bind(stored.size_bytes)
            .bind(stored.sample_rate)
            .bind(stored.channels)
            .bind(stored.bits_per_sample)
            .bind(stored.duration_ms)
            .bind(stored.peaks)
            .bind(at)
            .bind(RecordingStatus::Stored)
            .execute(&mut *tx)
            .await?;
            sqlx::query(
                r#"update cases set recording_status = $3, updated_at = $2 where recording_sid = $1"#,
            )
            .bind(sid.as_str())
            .bind(at)
            .bind(RecordingStatus::Stored)
            .execute(&mut *tx)
            .await?;
            tx.commit().await?;
        });
        Ok(())
    }

    /// Records why a recording is not stored (creating its row if Twilio told us of it before any
    /// case existed), and flags the case. `problem` is one of the statuses that say why
    /// ([`RecordingStatus::is_problem`]).
    pub async fn mark_recording_problem(
        &self,
        sid: &RecordingSid,
        problem: RecordingStatus,
        error: &str,
        twilio_error_code: Option<&str>,
        storage_key: Option<&str>,
        at: Timestamp,
    ) -> Result<(), StoreError> {
        if !problem.is_problem() {
            return Err(StoreError::Invalid(format!(
                "{problem} is not a recording problem"
            )));
        }
        with_pool!(self, |pool| {
            let mut tx = pool.begin_write().await?;
            sqlx::query(
                r#"
                insert into recordings (recording_sid, case_id, status, storage_key, error, twilio_error_code, created_at, updated_at)
                values ($1, (select id from cases where recording_sid = $1), $2, $3, $4, $5, $6, $6)
                on conflict (recording_sid) do update set
                    -- A late or repeated callback never undoes a copy we already have.
                    status = case when recordings.status in ($7, $8)
                                  then recordings.status else excluded.status end,
                    storage_key = coalesce(excluded.storage_key, recordings.storage_key),
                    error = excluded.error,
                    twilio_error_code = coalesce(excluded.twilio_error_code, recordings.twilio_error_code),
                    updated_at = excluded.updated_at
                "#,
            )
            .bind(sid.as_str())
            .bind(problem)
            .bind(storage_key)
            .bind(error)
            .bind(twilio_error_code)
            .bind(at)
            .bind(RecordingStatus::Stored)
            .bind(RecordingStatus::Quarantined)
            .execute(&mut *tx)
            .await?;
            sqlx::query(
                r#"update cases set recording_status = (select status from recordings where recording_sid = $1), updated_at = $2 where recording_sid = $1"#,
            )
                .bind(sid.as_str())
                .bind(at)
                .execute(&mut *tx)
                .await?;
            tx.commit().await?;
        });
        Ok(())
    }

    /// Notes that Twilio's copy was deleted after ours was verified.
    pub async fn mark_recording_deleted_from_twilio(
        &self,
        sid: &RecordingSid,
        at: Timestamp,
    ) -> Result<(), StoreError> {
        with_pool!(self, |pool| {
            sqlx::query("update recordings set deleted_from_twilio = true, updated_at = $2 where recording_sid = $1")
                .bind(sid.as_str())
                .bind(at)
                .execute(pool)
                .await?;
        });
        Ok(())
    }
}
