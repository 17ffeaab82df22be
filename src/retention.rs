//! The retention policy (`atiende retention --days N`, off unless run): recordings and
//! attachments of cases closed more than N days ago are deleted from the storage, each deletion
//! written into its case's history. The case itself, its history, the address, the description
//! and the department's summary are kept: the office's records stay, the personal voice and
//! photos go. Run it from cron, daily; it is safe to run twice at once or to stop half-way (a
//! file deleted but not yet noted is deleted again harmlessly and noted the next time).

use crate::domain::Timestamp;
use crate::files::FileKey;
use crate::state::AppState;

/// Files handled per round (the store reads them in batches).
const BATCH: i64 = 500;

/// What a run of the policy did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RetentionReport {
    pub recordings: usize,
    pub attachments: usize,
}

/// Deletes the files of cases closed more than `days` days before `now`.
pub async fn run(app: &AppState, days: i64, now: Timestamp) -> anyhow::Result<RetentionReport> {
    let before = Timestamp::from_utc(now.as_utc() - chrono::Duration::days(days));
    let mut report = RetentionReport::default();
    loop {
        let files = app.store.expired_files(before, BATCH).await?;
        if files.is_empty() {
            return Ok(report);
        }
        for file in files {
            if let Some(key) = FileKey::stored(&file.storage_key) {
                // A file already gone (a run stopped half-way) is not an error.
                app.files.delete(&key).await?;
            }
            let note = match (&file.recording_sid, &file.file_name) {
                (Some(_), _) => format!(
                    "Grabación eliminada: el caso lleva más de {days} días cerrado (política de conservación)."
                ),
                (None, name) => format!(
                    "Archivo adjunto {} eliminado: el caso lleva más de {days} días cerrado (política de conservación).",
                    name.as_deref().unwrap_or("")
                ),
            };
            app.store
                .note_expired(&file, &note, app.clock.now())
                .await?;
            tracing::info!(folio = %file.folio, key = %file.storage_key, days, "file deleted by the retention policy");
            if file.recording_sid.is_some() {
                report.recordings += 1;
            } else {
                report.attachments += 1;
            }
        }
    }
}
