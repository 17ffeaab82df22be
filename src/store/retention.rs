//! The retention policy's reads and writes: the files of cases closed long ago, and the note
//! that each was deleted (`retention::run` does the deleting).

use super::tx::{NewCaseEvent, with_tx};
use super::{Store, StoreError, with_read_pool};
use crate::domain::{CaseEventKind, CaseStatus, RecordingStatus, Timestamp};

/// A stored file of a case closed before the policy's limit.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct ExpiredFile {
    pub case_id: i64,
    pub folio: String,
    pub storage_key: String,
    /// A recording's SID, or an attachment's id.
    pub recording_sid: Option<String>,
    pub attachment_id: Option<i64>,
    pub file_name: Option<String>,
}

impl Store {
    /// Up to `limit` stored files (recordings, then attachments) of cases closed before
    /// `closed_before`.
    pub async fn expired_files(
        &self,
        closed_before: Timestamp,
        limit: i64,
    ) -> Result<Vec<ExpiredFile>, StoreError> {
        let rows = with_read_pool!(self, |pool| {
            sqlx::query_as::<_, ExpiredFile>(
                r#"
                select * from (
                    select cs.id as case_id, cs.folio, r.storage_key, r.recording_sid,
                           cast(null as bigint) as attachment_id, cast(null as text) as file_name
                    from cases cs join recordings r on r.recording_sid = cs.recording_sid
                    where cs.status = $2 and cs.status_changed_at < $1 and r.status = $3
                      and r.storage_key is not null
                    union all
                    select cs.id, cs.folio, a.storage_key, cast(null as text), a.id, a.file_name
                    from attachments a join cases cs on cs.id = a.case_id
                    where cs.status = $2 and cs.status_changed_at < $1
                ) files
                order by case_id, storage_key
                limit $4
                "#,
            )
            .bind(closed_before)
            .bind(CaseStatus::Closed)
            .bind(RecordingStatus::Stored)
            .bind(limit)
            .fetch_all(pool)
            .await?
        });
        Ok(rows)
    }

    /// Records that a file was deleted: the recording marked expired (its case too), or the
    /// attachment's row removed, and a line in the case's history saying so.
    pub async fn note_expired(
        &self,
        file: &ExpiredFile,
        note: &str,
        at: Timestamp,
    ) -> Result<(), StoreError> {
        let mut tx = self.begin_write().await?;
        if let Some(sid) = &file.recording_sid {
            with_tx!(tx, |conn| {
                sqlx::query(
                    r#"update recordings set status = $2, storage_key = null, updated_at = $3 where recording_sid = $1"#,
                )
                .bind(sid)
                .bind(RecordingStatus::Expired)
                .bind(at)
                .execute(&mut *conn)
                .await?;
                sqlx::query(r#"update cases set recording_status = $2 where id = $1"#)
                    .bind(file.case_id)
                    .bind(RecordingStatus::Expired)
                    .execute(&mut *conn)
                    .await?;
            });
        }
        if let Some(id) = file.attachment_id {
            with_tx!(tx, |conn| {
                sqlx::query(r#"delete from attachments where id = $1"#)
                    .bind(id)
                    .execute(conn)
                    .await?;
            });
        }
        tx.add_case_event(&NewCaseEvent {
            case_id: file.case_id,
            at,
            actor: "system",
            kind: CaseEventKind::Retention,
            from_status: None,
            to_status: None,
            note: Some(note),
        })
        .await?;
        tx.commit().await?;
        Ok(())
    }
}
