//! How a call ended, for the call log and the callbacks the office owes.

use super::codes::text_enum;

text_enum!(
    /// What a finished call came to. A later webhook may raise it (a report outranks a lookup,
    /// which outranks "abandoned"), whatever order Twilio sent them in.
    CallOutcome {
        /// The caller left a report.
        Report = "report",
        /// The caller talked to staff.
        Transferred = "transferred",
        /// The caller heard the status of a case.
        Lookup = "lookup",
        /// None of those: a callback the office owes.
        Abandoned = "abandoned",
    }
);

text_enum!(
    /// How a call back to a number with abandoned calls went.
    CallbackResult {
        /// Reached, and a report was taken (the callback names its case).
        ReachedReport = "reached_report",
        /// Reached; nothing to report.
        Reached = "reached",
        /// Nobody answered: the calls are still owed.
        NoAnswer = "no_answer",
        /// Not the person who called.
        WrongNumber = "wrong_number",
    }
);
