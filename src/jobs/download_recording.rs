//! The `download_recording` job: Twilio's copy of a recording becomes ours, checked, hashed and
//! playable.
//!
//! One job per RecordingSid (enqueued with the case). It fetches `{RecordingUrl}.wav` from
//! Twilio's API host only, streams it to a temporary file (never whole in memory) while hashing
//! it, syncs it, checks it (see [`crate::recordings`]), and moves it atomically into the
//! recording files under a key made from the sid. A 404 (the file is not ready until Twilio says
//! `completed`), a 5xx, a 429 or a time-out is retried with backoff (no sooner than a
//! `Retry-After` Twilio sent). A file that is not a valid
//! WAV is kept in quarantine and the case flagged, never dropped. Running the job again after it
//! succeeded does nothing.

use super::Outcome;
use crate::domain::{RecordingSid, RecordingStatus};
use crate::files::FileKey;
use crate::recordings::{self, WavInfo};
use crate::state::AppState;
use crate::store::{RecordingRecord, StoreError, StoredRecording};
use crate::twilio::rest::BAD_CREDENTIALS;
use futures_util::StreamExt;
use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};
use tokio::io::AsyncWriteExt;

/// The largest recording we accept (an hour of 8 kHz 16-bit mono is 58 MB).
const MAX_BYTES: u64 = 200 * 1024 * 1024;

/// Runs a `download_recording` job. Its payload is the RecordingSid.
pub async fn run(app: &AppState, payload: &str) -> Outcome {
    let Some(sid) = RecordingSid::parse(payload) else {
        return Outcome::Dead(format!("not a RecordingSid: {payload:?}"));
    };
    match ingest(app, &sid).await {
        Ok(outcome) => outcome,
        Err(e) => Outcome::Retry(e),
    }
}

/// The job's steps: what to fetch, fetch it, check it, keep it.
async fn ingest(app: &AppState, sid: &RecordingSid) -> Result<Outcome, String> {
    let row = app.store.recording(sid).await.map_err(db)?;
    let Some(row) = row else {
        return Ok(Outcome::Dead(format!("no recording {sid} in the store")));
    };
    let Some(url) = row.source_url.as_deref() else {
        return Ok(Outcome::Dead(format!("recording {sid} has no URL")));
    };
    let allowed = app.twilio.may_fetch(url);
    if !still_to_do(&row, allowed) {
        return Ok(Outcome::Done);
    }
    if !allowed {
        return refuse(app, sid, url).await;
    }
    let temp = temp_path(app, sid);
    let (size, sha256) = match fetch(app, url, &temp).await? {
        Ok(fetched) => fetched,
        Err(retry) => return Ok(retry),
    };
    let kept = match check(&temp).await {
        Ok(wav) => keep(app, sid, &temp, size, &sha256, &wav).await,
        Err(problem) => quarantine(app, sid, &temp, &problem).await,
    };
    if let Err(e) = kept {
        // Storage full or away, say: the next attempt downloads again, so the copy in hand
        // is not left behind (and a file already moved is gone from here: nothing to do).
        let _ = tokio::fs::remove_file(&temp).await;
        return Err(e);
    }
    Ok(Outcome::Done)
}

/// Stored, quarantined or missing: nothing more to do. A refused one is tried again only if its
/// URL is now acceptable (TWILIO_API_BASE was corrected and the job retried).
fn still_to_do(row: &RecordingRecord, allowed: bool) -> bool {
    row.status == RecordingStatus::Pending || (row.status == RecordingStatus::Refused && allowed)
}

/// A URL outside Twilio's API host is never fetched: the recording is marked refused, staff
/// alerted, and the job left dead (listed by `atiende jobs`, retried from there once fixed).
async fn refuse(app: &AppState, sid: &RecordingSid, url: &str) -> Result<Outcome, String> {
    let now = app.clock.now();
    let url = without_credentials(url);
    tracing::warn!(recording_sid = %sid, url, "refused to fetch a recording URL outside TWILIO_API_BASE");
    let message = format!("URL fuera del servidor de Twilio configurado: {url}");
    app.store
        .mark_recording_problem(sid, RecordingStatus::Refused, &message, None, None, now)
        .await
        .map_err(db)?;
    app.store
        .raise_alert(
            "recording_url_refused",
            &format!("Se rechazó descargar la grabación {sid}: {message}. Si TWILIO_API_BASE estaba mal, corríjalo y use `atiende jobs retry`."),
            now,
        )
        .await
        .map_err(db)?;
    Ok(Outcome::Dead(message))
}

/// Downloads the file to `temp`: its size and SHA-256, or the outcome of a failed attempt.
async fn fetch(
    app: &AppState,
    url: &str,
    temp: &Path,
) -> Result<Result<(u64, String), Outcome>, String> {
    let response = match app.twilio.fetch_recording(url).await {
        Ok(r) => r,
        Err(e) => {
            if e.twilio_code() == Some(BAD_CREDENTIALS) {
                tracing::error!(error = %e, "TWILIO CREDENTIALS REJECTED while downloading a recording");
                app.store
                    .raise_alert(
                        "twilio_credentials",
                        "Twilio rechazó las credenciales (error 20003) al descargar una grabación.",
                        app.clock.now(),
                    )
                    .await
                    .map_err(db)?;
            }
            return Ok(Err(Outcome::retry_rest(e.to_string(), &e)));
        }
    };
    match download(response, temp).await {
        Ok(fetched) => Ok(Ok(fetched)),
        Err(e) => {
            let _ = tokio::fs::remove_file(temp).await;
            Ok(Err(Outcome::Retry(e)))
        }
    }
}

/// Checks the file off the async threads. A reader that panics on a strange file has said it is
/// not a valid WAV.
async fn check(temp: &Path) -> Result<WavInfo, String> {
    let temp = temp.to_path_buf();
    tokio::task::spawn_blocking(move || recordings::check_wav(&temp))
        .await
        .unwrap_or_else(|e| Err(format!("the WAV reader failed: {e}")))
}

/// Keeps a verified recording, and deletes Twilio's copy when asked to and ours is safe.
async fn keep(
    app: &AppState,
    sid: &RecordingSid,
    temp: &Path,
    size: u64,
    sha256: &str,
    wav: &WavInfo,
) -> Result<(), String> {
    let key = FileKey::recording(sid);
    app.files
        .put_file(&key, temp)
        .await
        .map_err(|e| e.to_string())?;
    let peaks = serde_json::to_string(&wav.peaks).expect("numbers serialize");
    let stored = StoredRecording {
        storage_key: key.as_str(),
        sha256,
        size_bytes: size as i64,
        sample_rate: i64::from(wav.sample_rate),
        channels: i64::from(wav.channels),
        bits_per_sample: i64::from(wav.bits_per_sample),
        duration_ms: wav.duration_ms as i64,
        peaks: &peaks,
    };
    app.store
        .mark_recording_stored(sid, &stored, app.clock.now())
        .await
        .map_err(db)?;
    tracing::info!(recording_sid = %sid, bytes = size, duration_ms = wav.duration_ms, "recording stored");
    if !app.config.delete_twilio_recordings {
        return Ok(());
    }
    if app.files.size(&key).await.ok() != Some(size) {
        tracing::warn!(recording_sid = %sid, "our copy's size does not match: Twilio's copy is kept");
        return Ok(());
    }
    match app.twilio.delete_recording(sid.as_str()).await {
        Ok(()) => app
            .store
            .mark_recording_deleted_from_twilio(sid, app.clock.now())
            .await
            .map_err(db)?,
        // Our copy is safe; Twilio's stays until someone deletes it by hand.
        Err(e) => {
            tracing::warn!(recording_sid = %sid, error = %e, "could not delete Twilio's copy")
        }
    }
    Ok(())
}

/// Keeps a file that is not a valid WAV apart, and flags the case.
async fn quarantine(
    app: &AppState,
    sid: &RecordingSid,
    temp: &Path,
    problem: &str,
) -> Result<(), String> {
    let key = FileKey::quarantine(sid);
    app.files
        .put_file(&key, temp)
        .await
        .map_err(|e| e.to_string())?;
    tracing::warn!(recording_sid = %sid, problem, "recording is not a valid WAV; kept in quarantine");
    app.store
        .mark_recording_problem(
            sid,
            RecordingStatus::Quarantined,
            &format!("el archivo no es un WAV válido: {problem}"),
            None,
            Some(key.as_str()),
            app.clock.now(),
        )
        .await
        .map_err(db)
}

/// A URL as it may be shown: without a user name or password in it.
fn without_credentials(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(mut u) => {
            let _ = u.set_username("");
            let _ = u.set_password(None);
            u.to_string()
        }
        Err(_) => "(not a URL)".to_owned(),
    }
}

fn db(e: StoreError) -> String {
    format!("store: {e}")
}

/// The temporary file of a recording's download. One name per recording: an attempt that
/// follows a killed one truncates and rewrites what the killed one left. (Two attempts at once
/// would need a lease to run out mid-download: leases last minutes, downloads time out in one.)
fn temp_path(app: &AppState, sid: &RecordingSid) -> PathBuf {
    app.config
        .data_dir
        .join("tmp")
        .join(format!("{sid}.wav.part"))
}

/// Streams the body to `path` (created afresh), hashing as it goes, then syncs it.
/// Returns the size and the hex SHA-256.
async fn download(response: reqwest::Response, path: &Path) -> Result<(u64, String), String> {
    if let Some(dir) = path.parent() {
        tokio::fs::create_dir_all(dir)
            .await
            .map_err(|e| e.to_string())?;
    }
    let mut file = tokio::fs::File::create(path)
        .await
        .map_err(|e| e.to_string())?;
    let mut hasher = Sha256::new();
    let mut size: u64 = 0;
    let mut body = response.bytes_stream();
    while let Some(chunk) = body.next().await {
        let chunk = chunk.map_err(|e| {
            let what = if e.is_timeout() {
                "time-out"
            } else {
                "download interrupted"
            };
            format!("{what}: {e}")
        })?;
        size += chunk.len() as u64;
        if size > MAX_BYTES {
            return Err(format!("recording larger than {MAX_BYTES} bytes"));
        }
        hasher.update(&chunk);
        file.write_all(&chunk).await.map_err(|e| e.to_string())?;
    }
    file.sync_all().await.map_err(|e| e.to_string())?;
    let hash = hasher
        .finalize()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    Ok((size, hash))
}
