//! The simulator's stand-in for Twilio's REST API: it serves the recordings the simulator
//! "made" at the URLs it handed to the service (`GET {RecordingUrl}.wav`, as on Twilio) and
//! accepts the SMS the service sends (`POST .../Messages.json`, answered 201 like Twilio), so a
//! simulated call goes all the way through the recording download and the folio SMS.

use axum::Router;
use axum::extract::{Path, State};
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use axum::routing::{get, post};
use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

/// What the stand-in holds: recordings by SID, and the SMS it received.
#[derive(Clone, Default)]
pub struct MediaStore(Arc<Mutex<Inner>>);

#[derive(Default)]
struct Inner {
    recordings: HashMap<String, Arc<[u8]>>,
    /// Served for any RecordingSid not inserted (the load generator's calls).
    default: Option<Arc<[u8]>>,
    /// `(To, Body)` of each SMS received.
    sms: Vec<(String, String)>,
    served: u64,
}

impl MediaStore {
    pub fn insert(&self, sid: &str, wav: Arc<[u8]>) {
        self.0
            .lock()
            .expect("media lock")
            .recordings
            .insert(sid.to_owned(), wav);
    }

    /// Serves `wav` for every recording not inserted.
    pub fn serve_by_default(&self, wav: Arc<[u8]>) {
        self.0.lock().expect("media lock").default = Some(wav);
    }

    /// How many recordings were served.
    pub fn recordings_served(&self) -> u64 {
        self.0.lock().expect("media lock").served
    }

    /// The SMS received so far, as `(To, Body)`.
    pub fn sms(&self) -> Vec<(String, String)> {
        self.0.lock().expect("media lock").sms.clone()
    }
}

/// Serves the stand-in on `addr` until the process ends. Returns the address bound.
pub async fn serve(addr: SocketAddr, store: MediaStore) -> anyhow::Result<SocketAddr> {
    let listener = tokio::net::TcpListener::bind(addr).await?;
    let bound = listener.local_addr()?;
    let app = Router::new()
        .route(
            "/2010-04-01/Accounts/{account}/Recordings/{file}",
            get(recording),
        )
        .route(
            "/2010-04-01/Accounts/{account}/Messages.json",
            post(message),
        )
        .with_state(store);
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    Ok(bound)
}

async fn recording(
    State(store): State<MediaStore>,
    Path((_account, file)): Path<(String, String)>,
) -> axum::response::Response {
    let sid = file.strip_suffix(".wav").unwrap_or(&file);
    let wav = {
        let mut inner = store.0.lock().expect("media lock");
        let wav = inner
            .recordings
            .get(sid)
            .or(inner.default.as_ref())
            .cloned();
        inner.served += u64::from(wav.is_some());
        wav
    };
    match wav {
        Some(bytes) => ([(header::CONTENT_TYPE, "audio/x-wav")], bytes.to_vec()).into_response(),
        None => StatusCode::NOT_FOUND.into_response(),
    }
}

async fn message(
    State(store): State<MediaStore>,
    body: axum::body::Bytes,
) -> axum::response::Response {
    let fields: Vec<(String, String)> = serde_urlencoded::from_bytes(&body).unwrap_or_default();
    let get = |k: &str| {
        fields
            .iter()
            .find(|(n, _)| n == k)
            .map(|(_, v)| v.clone())
            .unwrap_or_default()
    };
    store
        .0
        .lock()
        .expect("media lock")
        .sms
        .push((get("To"), get("Body")));
    // Unique like Twilio's: a second run against the same database must not reuse a sid.
    let sid = format!("SM{}", super::random_hex());
    let reply = serde_json::json!({ "sid": sid, "status": "queued", "num_segments": "1" });
    (
        StatusCode::CREATED,
        [(header::CONTENT_TYPE, "application/json")],
        reply.to_string(),
    )
        .into_response()
}

/// A tone as a recording: `seconds` of 440 Hz at 8 kHz, 16-bit mono PCM, like Twilio's files.
pub fn tone_wav(seconds: u32) -> Vec<u8> {
    let spec = hound::WavSpec {
        channels: 1,
        sample_rate: 8000,
        bits_per_sample: 16,
        sample_format: hound::SampleFormat::Int,
    };
    let mut cursor = std::io::Cursor::new(Vec::new());
    {
        let mut w = hound::WavWriter::new(&mut cursor, spec).expect("in-memory WAV");
        for i in 0..(8000 * seconds) {
            let t = i as f32 / 8000.0;
            let sample = (t * 440.0 * std::f32::consts::TAU).sin() * 0.3 * f32::from(i16::MAX);
            w.write_sample(sample as i16).expect("in-memory WAV");
        }
        w.finalize().expect("in-memory WAV");
    }
    cursor.into_inner()
}

/// The duration of a WAV file in whole seconds (at least 1), checking it is one.
pub fn wav_seconds(bytes: &[u8]) -> anyhow::Result<u32> {
    let reader = hound::WavReader::new(std::io::Cursor::new(bytes))?;
    let spec = reader.spec();
    let seconds = reader.duration() / spec.sample_rate.max(1);
    Ok(seconds.max(1))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tone_is_a_phone_quality_wav() {
        let wav = tone_wav(3);
        let reader = hound::WavReader::new(std::io::Cursor::new(&wav)).unwrap();
        assert_eq!(reader.spec().sample_rate, 8000);
        assert_eq!(reader.spec().channels, 1);
        assert_eq!(wav_seconds(&wav).unwrap(), 3);
    }
}
