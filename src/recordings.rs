//! Recording ingest: Twilio's copy becomes ours, checked, hashed and playable.
//!
//! One `download_recording` job per RecordingSid (enqueued with the case). The job fetches
//! `{RecordingUrl}.wav` from Twilio's API host only, streams it to a temporary file (never whole
//! in memory) while hashing it, syncs it, checks it with hound (a RIFF/WAVE PCM file; its sample
//! rate, channels and duration are kept), computes a waveform summary for the console, and moves
//! it atomically into storage under a key made from the sid. A 404 (the file is not ready until
//! Twilio says `completed`), a 5xx, a 429 or a time-out is retried with backoff. A file that is
//! not a valid WAV is kept in quarantine and the case flagged, never dropped. Running the job
//! again after it succeeded does nothing.

use crate::app::AppState;
use crate::domain::RecordingSid;
use crate::jobs::Outcome;
use crate::storage::StorageKey;
use crate::store::{RecordingProblem, StoreError, StoredRecording};
use crate::twilio::rest::{self, BAD_CREDENTIALS};
use futures_util::StreamExt;
use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};
use tokio::io::AsyncWriteExt;

/// How many peak levels the waveform summary has.
pub const PEAKS: usize = 400;

/// The largest recording we accept (an hour of 8 kHz 16-bit mono is 58 MB).
const MAX_BYTES: u64 = 200 * 1024 * 1024;

/// Runs a `download_recording` job.
pub async fn ingest(app: &AppState, sid: &str) -> Outcome {
    let Some(sid) = RecordingSid::parse(sid) else {
        return Outcome::Dead(format!("not a RecordingSid: {sid:?}"));
    };
    match try_ingest(app, &sid).await {
        Ok(outcome) => outcome,
        Err(e) => Outcome::Retry(e),
    }
}

async fn try_ingest(app: &AppState, sid: &RecordingSid) -> Result<Outcome, String> {
    let store = &app.store;
    let now = || app.clock.now();
    let row = store.recording(sid).await.map_err(db)?;
    let Some(row) = row else {
        return Ok(Outcome::Dead(format!("no recording {sid} in the store")));
    };
    let Some(url) = row.source_url.as_deref() else {
        return Ok(Outcome::Dead(format!("recording {sid} has no URL")));
    };
    let allowed = rest::is_api_url(url, &app.config.twilio_api_base);
    // Stored, quarantined or missing: nothing more to do. A refused one is tried again only if
    // its URL is now acceptable (TWILIO_API_BASE was corrected and the job retried).
    if row.status != "pending" && !(row.status == "refused" && allowed) {
        return Ok(Outcome::Done);
    }
    if !allowed {
        let url = without_credentials(url);
        tracing::warn!(recording_sid = %sid, url, "refused to fetch a recording URL outside TWILIO_API_BASE");
        let message = format!("URL fuera del servidor de Twilio configurado: {url}");
        store
            .mark_recording_problem(sid, RecordingProblem::Refused, &message, None, None, now())
            .await
            .map_err(db)?;
        store
            .raise_alert(
                "recording_url_refused",
                &format!("Se rechazó descargar la grabación {sid}: {message}. Si TWILIO_API_BASE estaba mal, corríjalo y use `atiende jobs retry`."),
                now(),
            )
            .await
            .map_err(db)?;
        // Dead, not done: listed by `atiende jobs`, and retried from there once fixed.
        return Ok(Outcome::Dead(message));
    }

    let temp = temp_path(app, sid);
    let response = match rest::fetch_recording(app, url).await {
        Ok(r) => r,
        Err(e) => {
            if e.twilio_code() == Some(BAD_CREDENTIALS) {
                tracing::error!(error = %e, "TWILIO CREDENTIALS REJECTED while downloading a recording");
                store
                    .raise_alert(
                        "twilio_credentials",
                        "Twilio rechazó las credenciales (error 20003) al descargar una grabación.",
                        now(),
                    )
                    .await
                    .map_err(db)?;
            }
            return Ok(Outcome::Retry(e.to_string()));
        }
    };
    let (size, sha256) = match download(response, &temp).await {
        Ok(v) => v,
        Err(e) => {
            let _ = tokio::fs::remove_file(&temp).await;
            return Ok(Outcome::Retry(e));
        }
    };

    let checked = {
        let temp = temp.clone();
        // A reader that panics on a strange file has said it is not a valid WAV.
        tokio::task::spawn_blocking(move || check_wav(&temp))
            .await
            .unwrap_or_else(|e| Err(format!("the WAV reader failed: {e}")))
    };
    match checked {
        Ok(wav) => {
            let key = StorageKey::recording(sid);
            app.storage
                .put_file(&key, &temp)
                .await
                .map_err(|e| e.to_string())?;
            let peaks = serde_json::to_string(&wav.peaks).expect("numbers serialize");
            store
                .mark_recording_stored(
                    sid,
                    &StoredRecording {
                        storage_key: key.as_str(),
                        sha256: &sha256,
                        size_bytes: size as i64,
                        sample_rate: i64::from(wav.sample_rate),
                        channels: i64::from(wav.channels),
                        bits_per_sample: i64::from(wav.bits_per_sample),
                        duration_ms: wav.duration_ms as i64,
                        peaks: &peaks,
                    },
                    now(),
                )
                .await
                .map_err(db)?;
            tracing::info!(recording_sid = %sid, bytes = size, duration_ms = wav.duration_ms, "recording stored");
            let verified = app.storage.size(&key).await.ok() == Some(size);
            if app.config.delete_twilio_recordings && !verified {
                tracing::warn!(recording_sid = %sid, "our copy's size does not match: Twilio's copy is kept");
            }
            if app.config.delete_twilio_recordings && verified {
                match rest::delete_recording(app, sid.as_str()).await {
                    Ok(()) => store
                        .mark_recording_deleted_from_twilio(sid, now())
                        .await
                        .map_err(db)?,
                    // Our copy is safe; Twilio's stays until someone deletes it by hand.
                    Err(e) => {
                        tracing::warn!(recording_sid = %sid, error = %e, "could not delete Twilio's copy")
                    }
                }
            }
        }
        Err(problem) => {
            let key = StorageKey::quarantine(sid);
            app.storage
                .put_file(&key, &temp)
                .await
                .map_err(|e| e.to_string())?;
            tracing::warn!(recording_sid = %sid, problem, "recording is not a valid WAV; kept in quarantine");
            store
                .mark_recording_problem(
                    sid,
                    RecordingProblem::Quarantined,
                    &format!("el archivo no es un WAV válido: {problem}"),
                    None,
                    Some(key.as_str()),
                    now(),
                )
                .await
                .map_err(db)?;
        }
    }
    Ok(Outcome::Done)
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

/// What a verified WAV tells us.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WavInfo {
    pub sample_rate: u32,
    pub channels: u16,
    pub bits_per_sample: u16,
    pub duration_ms: u64,
    pub peaks: Vec<u8>,
}

/// Reads a WAV file through: PCM integer samples, at least one; the waveform summary is the
/// peak level (0-255) of each of [`PEAKS`] equal slices.
pub fn check_wav(path: &Path) -> Result<WavInfo, String> {
    let mut reader = hound::WavReader::open(path).map_err(|e| e.to_string())?;
    let spec = reader.spec();
    if spec.sample_format != hound::SampleFormat::Int {
        return Err("not PCM integer samples".into());
    }
    if spec.channels == 0 || spec.sample_rate == 0 {
        return Err("no channels or no sample rate".into());
    }
    let frames = u64::from(reader.duration());
    let duration_ms = frames * 1000 / u64::from(spec.sample_rate);
    let full_scale = (1i64 << (spec.bits_per_sample.clamp(1, 32) - 1)) as f64;
    let total_samples = frames * u64::from(spec.channels);
    let per_slice = total_samples.div_ceil(PEAKS as u64).max(1);
    let mut peaks = Vec::with_capacity(PEAKS);
    let mut current: i64 = 0;
    let mut count: u64 = 0;
    for sample in reader.samples::<i32>() {
        let sample = sample.map_err(|e| format!("truncated or corrupt samples: {e}"))?;
        current = current.max(i64::from(sample).abs());
        count += 1;
        if count == per_slice {
            peaks.push(((current as f64 / full_scale).min(1.0) * 255.0).round() as u8);
            current = 0;
            count = 0;
        }
    }
    if count > 0 {
        peaks.push(((current as f64 / full_scale).min(1.0) * 255.0).round() as u8);
    }
    if frames == 0 {
        return Err("no samples".into());
    }
    Ok(WavInfo {
        sample_rate: spec.sample_rate,
        channels: spec.channels,
        bits_per_sample: spec.bits_per_sample,
        duration_ms,
        peaks,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_tone_is_measured_and_summarised() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.wav");
        std::fs::write(&path, crate::sim::media::tone_wav(3)).unwrap();
        let info = check_wav(&path).unwrap();
        assert_eq!(info.sample_rate, 8000);
        assert_eq!(info.channels, 1);
        assert_eq!(info.duration_ms, 3000);
        assert!(
            info.peaks.len() <= PEAKS && info.peaks.len() >= PEAKS - 1,
            "{}",
            info.peaks.len()
        );
        assert!(
            info.peaks.iter().all(|p| (70..=80).contains(p)),
            "a 0.3 full-scale tone"
        );
    }

    #[test]
    fn garbage_and_truncated_files_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("bad.wav");
        std::fs::write(&path, b"RIFF....WAVEfmt garbage").unwrap();
        assert!(check_wav(&path).is_err());
        let mut wav = crate::sim::media::tone_wav(1);
        wav.truncate(wav.len() / 2);
        std::fs::write(&path, wav).unwrap();
        assert!(check_wav(&path).is_err());
    }
}
