//! The life of a case: its status, why it was closed, how urgent it is, where it came from.
//!
//! The lifecycle follows the office and its peers (FixMyStreet, CDMX's SUAC):
//! recibido → en revisión → canalizado → en atención → atendido → cerrado, with closing outcomes
//! for cases closed without action (duplicado, no procede, no es competencia municipal) and
//! reabierto. Codes are stored in English (`received`, `routed`, ...); what citizens hear and staff
//! read comes from the Spanish catalogue.

use sqlx::encode::IsNull;
use sqlx::error::BoxDynError;
use sqlx::{Decode, Encode, Postgres, Sqlite, Type};

/// Declares an enum stored as a short text code, with its sqlx mapping on both databases.
macro_rules! text_enum {
    ($(#[$doc:meta])* $name:ident { $($(#[$vdoc:meta])* $variant:ident = $code:literal),+ $(,)? }) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum $name { $($(#[$vdoc])* $variant),+ }

        impl $name {
            /// Every value, in declaration order.
            pub const ALL: &'static [$name] = &[$($name::$variant),+];

            /// The code stored in the database.
            pub fn code(self) -> &'static str {
                match self { $($name::$variant => $code),+ }
            }

            /// The value of a stored code.
            pub fn from_code(code: &str) -> Option<$name> {
                match code { $($code => Some($name::$variant),)+ _ => None }
            }
        }

        impl Type<Sqlite> for $name {
            fn type_info() -> <Sqlite as sqlx::Database>::TypeInfo { <str as Type<Sqlite>>::type_info() }
            fn compatible(ty: &<Sqlite as sqlx::Database>::TypeInfo) -> bool { <str as Type<Sqlite>>::compatible(ty) }
        }
        impl Type<Postgres> for $name {
            fn type_info() -> <Postgres as sqlx::Database>::TypeInfo { <str as Type<Postgres>>::type_info() }
            fn compatible(ty: &<Postgres as sqlx::Database>::TypeInfo) -> bool { <str as Type<Postgres>>::compatible(ty) }
        }
        impl<'q> Encode<'q, Sqlite> for $name {
            fn encode_by_ref(&self, buf: &mut <Sqlite as sqlx::Database>::ArgumentBuffer<'q>) -> Result<IsNull, BoxDynError> {
                <&str as Encode<'q, Sqlite>>::encode(self.code(), buf)
            }
        }
        impl<'q> Encode<'q, Postgres> for $name {
            fn encode_by_ref(&self, buf: &mut <Postgres as sqlx::Database>::ArgumentBuffer<'q>) -> Result<IsNull, BoxDynError> {
                <&str as Encode<'q, Postgres>>::encode(self.code(), buf)
            }
        }
        impl<'r> Decode<'r, Sqlite> for $name {
            fn decode(value: <Sqlite as sqlx::Database>::ValueRef<'r>) -> Result<Self, BoxDynError> {
                let code = <&str as Decode<'r, Sqlite>>::decode(value)?;
                $name::from_code(code).ok_or_else(|| format!("unknown {} code {code:?}", stringify!($name)).into())
            }
        }
        impl<'r> Decode<'r, Postgres> for $name {
            fn decode(value: <Postgres as sqlx::Database>::ValueRef<'r>) -> Result<Self, BoxDynError> {
                let code = <&str as Decode<'r, Postgres>>::decode(value)?;
                $name::from_code(code).ok_or_else(|| format!("unknown {} code {code:?}", stringify!($name)).into())
            }
        }
    };
}

text_enum!(
    /// Where a case stands.
    CaseStatus {
        /// Recibido: registered, nobody has looked at it yet.
        Received = "received",
        /// En revisión: Participación Ciudadana is classifying it.
        InReview = "in_review",
        /// Canalizado: sent to the responsible department.
        Routed = "routed",
        /// En atención: the department is working on it.
        InProgress = "in_progress",
        /// Atendido: the department filed its action report.
        Attended = "attended",
        /// Cerrado: closed by Participación Ciudadana (see the closure reason).
        Closed = "closed",
        /// Reabierto: the citizen or the office reopened a closed or attended case.
        Reopened = "reopened",
    }
);

impl CaseStatus {
    /// Whether the case still needs work (what "open cases" means to a caller).
    pub fn is_open(self) -> bool {
        !matches!(self, CaseStatus::Attended | CaseStatus::Closed)
    }
}

text_enum!(
    /// Why a case was closed.
    ClosureReason {
        /// The department solved it.
        Resolved = "resolved",
        /// Duplicado: another case covers the same problem.
        Duplicate = "duplicate",
        /// No procede: the request cannot be granted.
        NotApplicable = "not_applicable",
        /// No es competencia municipal: it belongs to another authority (CFE, the state...).
        NotMunicipal = "not_municipal",
    }
);

text_enum!(
    /// Whether there is immediate risk to people or property, as the caller said.
    Urgency {
        /// The caller said there is immediate risk.
        Urgent = "urgent",
        /// The caller said there is no immediate risk.
        NotUrgent = "not_urgent",
        /// Not asked (the category does not ask) or not answered.
        Unknown = "unknown",
    }
);

text_enum!(
    /// How the case reached the office.
    Channel {
        Phone = "phone",
        Sms = "sms",
        Whatsapp = "whatsapp",
        InPerson = "in_person",
        Messenger = "messenger",
    }
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_round_trip() {
        for s in CaseStatus::ALL {
            assert_eq!(CaseStatus::from_code(s.code()), Some(*s));
        }
        for r in ClosureReason::ALL {
            assert_eq!(ClosureReason::from_code(r.code()), Some(*r));
        }
        assert_eq!(Urgency::from_code("nope"), None);
        assert!(CaseStatus::Routed.is_open());
        assert!(!CaseStatus::Closed.is_open());
    }
}
