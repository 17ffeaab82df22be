//! Text messages: which way they go, what they say, and where they stand.

use super::case::CaseStatus;
use super::codes::text_enum;

text_enum!(
    /// Which way a message went.
    Direction {
        /// From the office to a citizen.
        Outbound = "outbound",
        /// From a citizen to the office.
        Inbound = "inbound",
    }
);

text_enum!(
    /// What an outbound message says, by its catalogue template. The first five are sent on the
    /// office's own initiative (from the outbox); the rest answer a citizen's message.
    MessageTemplate {
        /// The folio of a new case.
        FolioCreated = "folio_created",
        /// The case was routed to a department.
        Routed = "routed",
        /// The department attended it (with its summary).
        Attended = "attended",
        /// Closed (with the reason when it was closed without action).
        Closed = "closed",
        /// To a department's contact number: a case was routed to it.
        DepartmentRouted = "department_routed",
        /// The status of the folio a citizen asked about.
        StatusReply = "status_reply",
        /// The folio asked about does not exist.
        StatusUnknown = "status_unknown",
        /// The digits asked about are not a valid folio.
        StatusInvalid = "status_invalid",
        /// Too many lookups from this number: lookups refused for a while.
        StatusTooMany = "status_too_many",
        /// BAJA/STOP was recorded.
        OptedOut = "opted_out",
        /// ALTA/START was recorded.
        OptedIn = "opted_in",
        /// Anything else: how to use the line.
        Help = "help",
    }
);

impl MessageTemplate {
    /// The message a change of status sends, if the citizen cares about it.
    pub fn for_status(status: CaseStatus) -> Option<MessageTemplate> {
        match status {
            CaseStatus::Routed => Some(MessageTemplate::Routed),
            CaseStatus::Attended => Some(MessageTemplate::Attended),
            CaseStatus::Closed => Some(MessageTemplate::Closed),
            _ => None,
        }
    }
}

text_enum!(
    /// Where a message stands: Twilio's statuses, and ours before and around them.
    MessageStatus {
        /// In the outbox, not handed to Twilio yet.
        Pending = "pending",
        /// Demo mode: rendered and kept, never sent.
        NotSent = "not_sent",
        /// The citizen answered BAJA: not sent.
        OptedOut = "opted_out",
        /// Twilio refused it for good (a permanent error code).
        Rejected = "rejected",
        /// Our answer to an incoming message, sent by Twilio from our TwiML.
        Replied = "replied",
        /// An incoming message.
        Received = "received",
        Accepted = "accepted",
        Scheduled = "scheduled",
        Queued = "queued",
        Sending = "sending",
        Sent = "sent",
        Delivered = "delivered",
        Undelivered = "undelivered",
        Failed = "failed",
        Read = "read",
        Receiving = "receiving",
        Canceled = "canceled",
        PartiallyDelivered = "partially_delivered",
    }
);

impl MessageStatus {
    /// How far along Twilio's delivery statuses are: a status never goes back to a lower rank
    /// (a late "sent" does not undo "delivered").
    pub fn rank(self) -> i64 {
        match self {
            MessageStatus::Read => 5,
            MessageStatus::Delivered | MessageStatus::Undelivered | MessageStatus::Failed => 4,
            MessageStatus::Sent => 3,
            MessageStatus::Sending => 2,
            _ => 1,
        }
    }
}
