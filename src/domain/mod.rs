//! Validated values of the domain.
//!
//! Everything that arrives from outside (a webhook form, a keypad, a config file) is parsed here
//! into a type that can only hold a valid value ("parse, don't validate"). Past the edge of the
//! service nobody re-checks strings: a `Folio` always has a correct check digit, a `PhoneNumber`
//! is always E.164, a `Timestamp` always sorts correctly in both databases. The enums that reach
//! a table (statuses, kinds, roles, templates) are declared once, with their stored codes, by
//! the `text_enum!` macro of `codes`.

mod codes;

pub mod address;
pub mod call;
pub mod case;
pub mod folio;
pub mod job;
pub mod lifecycle;
pub mod message;
pub mod phone;
pub mod promise;
pub mod recording;
pub mod schedule;
pub mod staff;
pub mod time;
pub mod twilio_ids;

pub use address::Address;
pub use call::{CallOutcome, CallbackResult};
pub use case::{CaseEventKind, CaseStatus, Channel, ClosureReason, Urgency};
pub use folio::Folio;
pub use job::{JobKind, JobState};
pub use lifecycle::Move;
pub use message::{Direction, MessageStatus, MessageTemplate};
pub use phone::{CallerId, PhoneNumber};
pub use promise::Promise;
pub use recording::RecordingStatus;
pub use schedule::OfficeHours;
pub use staff::Role;
pub use time::Timestamp;
pub use twilio_ids::{CallSid, RecordingSid};
