//! Reports known only to Twilio. If both the `<Record>` action and the recording callback of a
//! report reach a service that is not there (killed, restarting, unreachable), the caller's
//! recording exists only at Twilio and nothing of ours points at it. Every
//! `ATIENDE_RECONCILE_MINUTES` (10) an instance lists Twilio's recordings of the last day or
//! two, and each recording of a `<Record>` of a call to the office's number that we have never
//! heard of becomes a case, as if its callback had just arrived: the recording is fetched, the
//! folio goes by SMS to the caller, and the case's history says it was found at Twilio (the
//! category the caller chose is lost with the webhook: staff classify it).
//!
//! A recording younger than [`SETTLE`] is left for its webhooks, which carry the category. Two
//! instances sweeping at once make one case: a phone case is keyed by its call and recording.

use crate::domain::recording::SILENT_SECONDS;
use crate::domain::{CallSid, CallerId, PhoneNumber, RecordingSid, Timestamp, Urgency};
use crate::state::AppState;
use crate::store::{NewPhoneCase, Recovered};
use std::time::Duration;

/// How old a recording must be before it is taken for lost: its webhooks come within seconds.
pub const SETTLE: Duration = Duration::from_secs(10 * 60);

/// What a sweep did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Swept {
    /// Recordings Twilio listed.
    pub listed: usize,
    /// Cases made for recordings we had never heard of.
    pub cases: usize,
}

/// Compares Twilio's recordings since yesterday (GMT) with ours, once.
pub async fn sweep(app: &AppState) -> anyhow::Result<Swept> {
    let now = app.clock.now().as_utc();
    let since = (now - chrono::TimeDelta::days(1)).date_naive();
    let recordings = app.twilio.recordings_since(since).await?;
    let office = app
        .config
        .twilio
        .as_ref()
        .and_then(|t| t.phone_number.clone());
    let mut swept = Swept {
        listed: recordings.len(),
        ..Swept::default()
    };
    for listed in recordings {
        if listed.source.as_deref() != Some("RecordVerb")
            || listed.status.as_deref() != Some("completed")
        {
            continue;
        }
        let Some(created) = listed.created() else {
            continue;
        };
        let settled = (now - created).to_std().is_ok_and(|age| age >= SETTLE);
        let Some(seconds) = listed.seconds().filter(|s| *s > SILENT_SECONDS) else {
            continue;
        };
        let sid = RecordingSid::parse(&listed.sid);
        let call_sid = listed.call_sid.as_deref().and_then(CallSid::parse);
        let (true, Some(sid), Some(call_sid)) = (settled, sid, call_sid) else {
            continue;
        };
        if app.store.recording(&sid).await?.is_some() {
            continue;
        }
        // Only calls to the office's number (the account may serve other lines).
        let parties = app.twilio.call_parties(call_sid.as_str()).await?;
        let called = parties
            .to
            .as_deref()
            .and_then(|t| PhoneNumber::parse(t).ok());
        if office.is_some() && called != office {
            continue;
        }
        let caller = CallerId::parse(parties.from.as_deref());
        let url = app.twilio.recording_url(sid.as_str())?;
        let (case, created) = app
            .store
            .create_phone_case(&NewPhoneCase {
                call_sid: &call_sid,
                caller: caller.number(),
                category_id: None,
                urgency: Urgency::Unknown,
                recording_sid: &sid,
                recording_url: Some(&url),
                recording_duration_seconds: Some(seconds),
                at: Timestamp::from_utc(created),
                recovered: Some(Recovered::FromTwilio),
            })
            .await?;
        if created {
            tracing::warn!(folio = %case.folio, "a report known only to Twilio became a case");
            swept.cases += 1;
        }
    }
    if swept.cases > 0 {
        app.wake_workers();
    }
    Ok(swept)
}

/// Sweeps every `every`, while the database answers, until the task is dropped.
pub async fn keep_sweeping(app: AppState, every: Duration) {
    loop {
        tokio::time::sleep(every).await;
        if app.store.is_down() {
            continue;
        }
        match sweep(&app).await {
            Ok(swept) => tracing::debug!(?swept, "Twilio's recordings compared with ours"),
            Err(e) => tracing::warn!(error = %e, "could not compare Twilio's recordings with ours"),
        }
    }
}
