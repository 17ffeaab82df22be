//! Where our copy of a call's recording stands.

use super::codes::text_enum;

/// The longest recording that counts as silence while the caller is still on the line. Twilio
/// may keep a recording of a breath or a key press (even with `trim-silence`) and call the action
/// for it; after a hang-up a short recording is still a report (someone spoke, then hung up).
/// Recordings found only at Twilio this short are silence too.
pub const SILENT_SECONDS: i64 = 1;

text_enum!(
    /// Where our copy of a recording stands (shown to staff beside the case).
    RecordingStatus {
        /// Not fetched yet.
        Pending = "pending",
        /// Fetched, verified and kept.
        Stored = "stored",
        /// The file is not a valid WAV: kept apart, the case flagged.
        Quarantined = "quarantined",
        /// Twilio says there is no recording (absent, failed): "sin grabación".
        Missing = "missing",
        /// Its URL is not on Twilio's API host: never fetched.
        Refused = "refused",
        /// Deleted by the retention policy (`atiende retention`): the case was closed long ago.
        Expired = "expired",
    }
);

impl RecordingStatus {
    /// Whether this status says why a recording is not stored.
    pub fn is_problem(self) -> bool {
        matches!(
            self,
            RecordingStatus::Quarantined | RecordingStatus::Missing | RecordingStatus::Refused
        )
    }
}
