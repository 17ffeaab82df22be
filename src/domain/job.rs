//! Durable jobs: what each kind does and where a job stands.

use super::codes::text_enum;

text_enum!(
    /// What a job does. The payload's shape depends on it.
    JobKind {
        /// Copy a recording from Twilio into our files. Payload: the RecordingSid.
        DownloadRecording = "download_recording",
        /// Send one outbound message of the outbox. Payload: the message id.
        SendSms = "send_sms",
    }
);

impl JobKind {
    /// How many attempts before the job is dead. Recordings stay on Twilio for a long time, so
    /// their downloads keep trying for hours; an SMS that cannot go out in a few tries needs a
    /// person to look at it.
    pub fn max_attempts(self) -> i64 {
        match self {
            JobKind::DownloadRecording => 12,
            JobKind::SendSms => 8,
        }
    }
}

text_enum!(
    /// Where a job stands.
    JobState {
        /// Waiting for its `run_at`.
        Queued = "queued",
        /// Claimed by a worker, under a lease.
        Running = "running",
        /// Finished; nothing more to do.
        Done = "done",
        /// Gave up after its last attempt; `atiende jobs retry` queues it again.
        Dead = "dead",
    }
);
