//! Validated values of the domain.
//!
//! Everything that arrives from outside (a webhook form, a keypad, a config file) is parsed here
//! into a type that can only hold a valid value ("parse, don't validate"). Past the edge of the
//! service nobody re-checks strings: a `Folio` always has a correct check digit, a `PhoneNumber`
//! is always E.164, a `Timestamp` always sorts correctly in both databases.

pub mod case;
pub mod folio;
pub mod phone;
pub mod schedule;
pub mod time;
pub mod twilio_ids;

pub use case::{CaseStatus, Channel, ClosureReason, Urgency};
pub use folio::Folio;
pub use phone::{CallerId, PhoneNumber};
pub use schedule::OfficeHours;
pub use time::Timestamp;
pub use twilio_ids::{CallSid, RecordingSid};
