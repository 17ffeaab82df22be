//! The local journal: what the phone line could not write to the database, kept on this
//! instance's disk until the database is back.
//!
//! A caller who reports while the database is down (stopped, unreachable, out of disk, its file
//! read-only) still leaves the report: the voice handlers answer from the prompts alone, and
//! every write they could not make (the call's steps, the report with its recording's address,
//! the end of the call, a recording Twilio says is missing) is appended here as one JSON line
//! and flushed to disk (`fsync`) *before* Twilio gets its answer. Nothing the caller was told
//! exists only in memory.
//!
//! When the database answers again, [`Journal::replay`] applies the entries in order. Each
//! entry is applied by the same store method the webhook would have used, and those are
//! idempotent where it matters: a report is keyed by its call and recording, so replaying it
//! twice (or after the recording callback already made the case) makes one case. The case made
//! from the journal says so in its history, and its folio SMS carries the folio the caller
//! could not hear.
//!
//! On disk, in `<data dir>/journal/`:
//! - `current.jsonl`: where entries are appended (one `open(O_APPEND)`, write, `fdatasync` per
//!   entry, under a lock, so lines never interleave).
//! - `segment-<nanos>.jsonl`: a replay first renames `current.jsonl` to a segment (new entries
//!   go to a fresh `current.jsonl`), then applies segments oldest first.
//! - `segment-<nanos>.done`: how many lines of that segment are applied, written atomically
//!   (temporary file, `fsync`, rename) after each one. A crash during replay resumes after the
//!   last line counted; at most the one line applied but not yet counted is applied again
//!   (harmless for a report or the end of a call; a call step would be logged twice). A segment
//!   fully applied is deleted.
//! - `rejected.jsonl`: an entry the database refused for a reason other than being unavailable
//!   (kept for a person to read, and logged as an error), so one bad line cannot block the rest.
//!
//! A line cut short by a crash while it was written was never acknowledged to Twilio; it is
//! skipped with a warning.

use crate::domain::{
    CallSid, CallerId, PhoneNumber, RecordingSid, RecordingStatus, Timestamp, Urgency,
};
use crate::store::{CallEnd, CallStep, NewPhoneCase, Recovered, StepKind, Store, StoreError};
use serde::{Deserialize, Serialize};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

const CURRENT: &str = "current.jsonl";
const REJECTED: &str = "rejected.jsonl";

/// One write the phone line could not make. Times are the webhook's, not the replay's.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "entry", rename_all = "snake_case")]
pub enum Entry {
    /// A step of a call ([`CallStep`]).
    Step {
        call_sid: String,
        /// The caller's number as Twilio sent it (`None` when withheld).
        from: Option<String>,
        to: Option<String>,
        step: String,
        detail: Option<String>,
        /// A callback from Twilio rather than the caller's own move.
        callback: bool,
        at: String,
    },
    /// A recorded report ([`NewPhoneCase`]): becomes a case at replay.
    Report {
        call_sid: String,
        from: Option<String>,
        category_id: Option<i64>,
        urgency: String,
        recording_sid: String,
        recording_url: Option<String>,
        recording_duration_seconds: Option<i64>,
        at: String,
    },
    /// The end of a call ([`CallEnd`]).
    CallEnd {
        call_sid: String,
        status: String,
        duration_seconds: Option<i64>,
        at: String,
    },
    /// Twilio reported a recording absent or failed.
    RecordingMissing {
        recording_sid: String,
        note: String,
        error_code: Option<String>,
        at: String,
    },
}

impl Entry {
    pub fn step(step: &CallStep<'_>) -> Entry {
        Entry::Step {
            call_sid: step.call_sid.as_str().to_owned(),
            from: step.caller.number().map(|n| n.as_str().to_owned()),
            to: step.to.map(str::to_owned),
            step: step.step.to_owned(),
            detail: step.detail.map(str::to_owned),
            callback: step.kind == StepKind::Callback,
            at: step.at.to_string(),
        }
    }

    pub fn report(new: &NewPhoneCase<'_>) -> Entry {
        Entry::Report {
            call_sid: new.call_sid.as_str().to_owned(),
            from: new.caller.map(|n| n.as_str().to_owned()),
            category_id: new.category_id,
            urgency: new.urgency.code().to_owned(),
            recording_sid: new.recording_sid.as_str().to_owned(),
            recording_url: new.recording_url.map(str::to_owned),
            recording_duration_seconds: new.recording_duration_seconds,
            at: new.at.to_string(),
        }
    }

    pub fn call_end(end: &CallEnd<'_>) -> Entry {
        Entry::CallEnd {
            call_sid: end.call_sid.as_str().to_owned(),
            status: end.status.to_owned(),
            duration_seconds: end.duration_seconds,
            at: end.at.to_string(),
        }
    }

    /// What kind of write it is (for the log, which never shows a caller's number).
    pub fn kind(&self) -> &'static str {
        match self {
            Entry::Step { .. } => "step",
            Entry::Report { .. } => "report",
            Entry::CallEnd { .. } => "call_end",
            Entry::RecordingMissing { .. } => "recording_missing",
        }
    }

    /// Applies the entry with the store method its webhook would have used. Returns whether it
    /// made a new case.
    async fn apply(&self, store: &Store) -> Result<bool, StoreError> {
        let bad = |what: &str| StoreError::Invalid(format!("journal entry with an invalid {what}"));
        let sid = |s: &str| CallSid::parse(s).ok_or_else(|| bad("CallSid"));
        let at = |s: &str| parse_time(s).ok_or_else(|| bad("time"));
        match self {
            Entry::Step {
                call_sid,
                from,
                to,
                step,
                detail,
                callback,
                at: when,
            } => {
                let caller = CallerId::parse(from.as_deref());
                store
                    .record_call_step(&CallStep {
                        call_sid: &sid(call_sid)?,
                        caller: &caller,
                        to: to.as_deref(),
                        step,
                        detail: detail.as_deref(),
                        kind: if *callback {
                            StepKind::Callback
                        } else {
                            StepKind::Caller
                        },
                        at: at(when)?,
                    })
                    .await?;
                Ok(false)
            }
            Entry::Report {
                call_sid,
                from,
                category_id,
                urgency,
                recording_sid,
                recording_url,
                recording_duration_seconds,
                at: when,
            } => {
                let caller = from.as_deref().and_then(|n| PhoneNumber::parse(n).ok());
                let recording =
                    RecordingSid::parse(recording_sid).ok_or_else(|| bad("RecordingSid"))?;
                let (case, created) = store
                    .create_phone_case(&NewPhoneCase {
                        call_sid: &sid(call_sid)?,
                        caller: caller.as_ref(),
                        category_id: *category_id,
                        urgency: Urgency::from_code(urgency).unwrap_or(Urgency::Unknown),
                        recording_sid: &recording,
                        recording_url: recording_url.as_deref(),
                        recording_duration_seconds: *recording_duration_seconds,
                        at: at(when)?,
                        recovered: Some(Recovered::FromJournal),
                    })
                    .await?;
                if created {
                    tracing::info!(folio = %case.folio, "case made from the journal");
                }
                Ok(created)
            }
            Entry::CallEnd {
                call_sid,
                status,
                duration_seconds,
                at: when,
            } => {
                store
                    .finish_call(&CallEnd {
                        call_sid: &sid(call_sid)?,
                        status,
                        duration_seconds: *duration_seconds,
                        at: at(when)?,
                    })
                    .await?;
                Ok(false)
            }
            Entry::RecordingMissing {
                recording_sid,
                note,
                error_code,
                at: when,
            } => {
                let recording =
                    RecordingSid::parse(recording_sid).ok_or_else(|| bad("RecordingSid"))?;
                store
                    .mark_recording_problem(
                        &recording,
                        RecordingStatus::Missing,
                        note,
                        error_code.as_deref(),
                        None,
                        at(when)?,
                    )
                    .await?;
                Ok(false)
            }
        }
    }
}

fn parse_time(text: &str) -> Option<Timestamp> {
    chrono::DateTime::parse_from_rfc3339(text)
        .ok()
        .map(|t| Timestamp::from_utc(t.to_utc()))
}

/// What a replay did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Replayed {
    /// Entries applied (or set aside as rejected).
    pub applied: usize,
    /// New cases made.
    pub cases: usize,
    /// Entries the database refused for good (in `rejected.jsonl`).
    pub rejected: usize,
    /// Whether entries remain because the database became unavailable again.
    pub interrupted: bool,
}

/// The journal of one instance. See the module documentation.
#[derive(Debug)]
pub struct Journal {
    dir: PathBuf,
    /// Appends and the rename of `current.jsonl` take turns.
    writing: std::sync::Mutex<()>,
    /// One replay at a time.
    replaying: tokio::sync::Mutex<()>,
    /// Whether entries may be waiting (set by an append, cleared when a replay starts).
    pending: AtomicBool,
    /// Entries appended since the journal was opened (for `/metrics`).
    appended: std::sync::atomic::AtomicU64,
}

impl Journal {
    /// Opens (creating) the journal folder. A line cut short by a crash at the end of
    /// `current.jsonl` is closed with a newline so that the next entry starts a line of its own.
    pub fn open(dir: &Path) -> std::io::Result<Journal> {
        std::fs::create_dir_all(dir)?;
        let current = dir.join(CURRENT);
        if let Ok(bytes) = std::fs::read(&current)
            && bytes.last().is_some_and(|b| *b != b'\n')
        {
            tracing::warn!(path = %current.display(), "the journal's last line was cut short by a crash; it is skipped");
            let mut f = std::fs::OpenOptions::new().append(true).open(&current)?;
            f.write_all(b"\n")?;
            f.sync_data()?;
        }
        let journal = Journal {
            dir: dir.to_path_buf(),
            writing: std::sync::Mutex::new(()),
            replaying: tokio::sync::Mutex::new(()),
            pending: AtomicBool::new(false),
            appended: Default::default(),
        };
        let waiting = journal.segments()?.len() + usize::from(journal.current_len() > 0);
        if waiting > 0 {
            tracing::warn!(dir = %dir.display(), "the journal has entries from before; they are replayed when the database answers");
            journal.pending.store(true, Ordering::Release);
        }
        Ok(journal)
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Entries appended since the journal was opened.
    pub fn appended(&self) -> u64 {
        self.appended.load(Ordering::Relaxed)
    }

    /// Whether entries may be waiting to be replayed.
    pub fn has_pending(&self) -> bool {
        self.pending.load(Ordering::Acquire)
    }

    fn current_len(&self) -> u64 {
        std::fs::metadata(self.dir.join(CURRENT)).map_or(0, |m| m.len())
    }

    /// Appends `entry` and flushes it to disk before returning.
    pub async fn append(self: &Arc<Self>, entry: &Entry) -> std::io::Result<()> {
        let mut line = serde_json::to_vec(entry).map_err(std::io::Error::other)?;
        line.push(b'\n');
        let journal = self.clone();
        tokio::task::spawn_blocking(move || journal.append_line(&line))
            .await
            .map_err(std::io::Error::other)??;
        self.pending.store(true, Ordering::Release);
        self.appended.fetch_add(1, Ordering::Relaxed);
        tracing::warn!(
            entry = entry.kind(),
            "kept in the journal until the database answers"
        );
        Ok(())
    }

    fn append_line(&self, line: &[u8]) -> std::io::Result<()> {
        let _turn = self.writing.lock().unwrap_or_else(|e| e.into_inner());
        let path = self.dir.join(CURRENT);
        let new = !path.exists();
        let mut file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&path)?;
        file.write_all(line)?;
        file.sync_data()?;
        if new {
            sync_dir(&self.dir)?;
        }
        Ok(())
    }

    /// The segments waiting, oldest first.
    fn segments(&self) -> std::io::Result<Vec<PathBuf>> {
        let mut found: Vec<PathBuf> = std::fs::read_dir(&self.dir)?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| {
                p.file_name()
                    .and_then(|n| n.to_str())
                    .is_some_and(|n| n.starts_with("segment-") && n.ends_with(".jsonl"))
            })
            .collect();
        found.sort();
        Ok(found)
    }

    /// Moves `current.jsonl` aside as a segment, if it has anything.
    fn rotate(&self) -> std::io::Result<()> {
        let _turn = self.writing.lock().unwrap_or_else(|e| e.into_inner());
        if self.current_len() == 0 {
            return Ok(());
        }
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default()
            .as_nanos();
        std::fs::rename(
            self.dir.join(CURRENT),
            self.dir.join(format!("segment-{nanos:024}.jsonl")),
        )?;
        sync_dir(&self.dir)
    }

    /// Applies every waiting entry, in order, until done or the database fails again.
    pub async fn replay(&self, store: &Store) -> std::io::Result<Replayed> {
        let _one = self.replaying.lock().await;
        self.pending.store(false, Ordering::Release);
        let mut done = Replayed::default();
        let result = self.replay_segments(store, &mut done).await;
        if result.is_err() || done.interrupted {
            self.pending.store(true, Ordering::Release);
        }
        if done.applied > 0 {
            tracing::info!(?done, "journal replayed");
        }
        result.map(|()| done)
    }

    async fn replay_segments(&self, store: &Store, done: &mut Replayed) -> std::io::Result<()> {
        self.rotate()?;
        for segment in self.segments()? {
            let checkpoint = segment.with_extension("done");
            let applied: usize = std::fs::read_to_string(&checkpoint)
                .ok()
                .and_then(|t| t.trim().parse().ok())
                .unwrap_or(0);
            let text = std::fs::read_to_string(&segment)?;
            let lines: Vec<&str> = text.lines().collect();
            for (i, line) in lines.iter().enumerate().skip(applied) {
                if !line.trim().is_empty() {
                    match serde_json::from_str::<Entry>(line) {
                        Err(e) => {
                            tracing::warn!(error = %e, line = i + 1, segment = %segment.display(), "a journal line that does not parse (cut short by a crash?) is skipped");
                        }
                        Ok(entry) => match entry.apply(store).await {
                            Ok(created) => done.cases += usize::from(created),
                            Err(e) if store.saw(&e) => {
                                done.interrupted = true;
                                return Ok(());
                            }
                            Err(e) => {
                                tracing::error!(error = %e, entry = entry.kind(), line = i + 1, segment = %segment.display(), "the database refused a journal entry; it is kept in rejected.jsonl");
                                self.reject(line)?;
                                done.rejected += 1;
                            }
                        },
                    }
                }
                done.applied += 1;
                write_atomically(&checkpoint, (i + 1).to_string().as_bytes())?;
            }
            std::fs::remove_file(&segment)?;
            let _ = std::fs::remove_file(&checkpoint);
            sync_dir(&self.dir)?;
        }
        Ok(())
    }

    fn reject(&self, line: &str) -> std::io::Result<()> {
        let mut f = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.dir.join(REJECTED))?;
        f.write_all(line.as_bytes())?;
        f.write_all(b"\n")?;
        f.sync_data()
    }

    /// Runs until `stop`: whenever entries wait or the database is taken for down, asks the
    /// database for an answer every `every` and replays once it answers; `replayed` hears of
    /// new cases (to wake the job workers for their recordings and SMS).
    pub async fn keep_replaying(
        self: Arc<Self>,
        store: Store,
        every: Duration,
        replayed: impl Fn(Replayed) + Send,
    ) {
        loop {
            tokio::time::sleep(every).await;
            if !(self.has_pending() || store.is_down()) {
                continue;
            }
            if !store.probe(Duration::from_secs(2)).await {
                continue;
            }
            if !self.has_pending() {
                continue;
            }
            match self.replay(&store).await {
                Ok(done) => replayed(done),
                Err(e) => {
                    tracing::error!(error = %e, dir = %self.dir.display(), "could not replay the journal")
                }
            }
        }
    }
}

fn sync_dir(dir: &Path) -> std::io::Result<()> {
    std::fs::File::open(dir)?.sync_all()
}

fn write_atomically(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let tmp = path.with_extension("tmp");
    let mut f = std::fs::File::create(&tmp)?;
    f.write_all(bytes)?;
    f.sync_data()?;
    std::fs::rename(&tmp, path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_round_trip_as_one_json_line() {
        let entry = Entry::Report {
            call_sid: "CA0123456789abcdef0123456789abcdef".into(),
            from: Some("+525512345678".into()),
            category_id: Some(3),
            urgency: "urgent".into(),
            recording_sid: "RE0123456789abcdef0123456789abcdef".into(),
            recording_url: Some("https://api.twilio.com/x".into()),
            recording_duration_seconds: Some(12),
            at: "2026-11-30T12:00:00.000000Z".into(),
        };
        let line = serde_json::to_string(&entry).unwrap();
        assert!(!line.contains('\n'));
        assert!(line.starts_with(r#"{"entry":"report""#), "{line}");
        assert_eq!(serde_json::from_str::<Entry>(&line).unwrap(), entry);
        assert!(parse_time("2026-11-30T12:00:00.000000Z").is_some());
    }

    #[test]
    fn a_line_cut_short_by_a_crash_is_closed_at_open() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join(CURRENT), b"{\"entry\":\"step\",\"ca").unwrap();
        let journal = Journal::open(dir.path()).unwrap();
        assert!(journal.has_pending());
        let text = std::fs::read_to_string(dir.path().join(CURRENT)).unwrap();
        assert!(text.ends_with('\n'));
    }
}
