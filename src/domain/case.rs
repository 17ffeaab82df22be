//! The life of a case: its status, why it was closed, how urgent it is, where it came from.
//!
//! The lifecycle follows the office and its peers (FixMyStreet, CDMX's SUAC):
//! recibido → en revisión → canalizado → en atención → atendido → cerrado, with closing outcomes
//! for cases closed without action (duplicado, no procede, no es competencia municipal) and
//! reabierto. Codes are stored in English (`received`, `routed`, ...); what citizens hear and staff
//! read comes from the Spanish catalogue.

use super::codes::text_enum;

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
        /// The phone line (the IVR).
        Phone = "phone",
        Sms = "sms",
        Whatsapp = "whatsapp",
        InPerson = "in_person",
        Messenger = "messenger",
        /// A call to the office's own numbers, taken by staff (a callback, too).
        DirectPhone = "direct_phone",
        Email = "email",
    }
);

text_enum!(
    /// What an entry of a case's history records.
    CaseEventKind {
        /// The case was made.
        Created = "created",
        /// Its status changed (from → to).
        Status = "status",
        /// A caller without caller ID confirmed a number for the SMS.
        SmsNumber = "sms_number",
        /// Staff classified it (category, urgency, address, description).
        Triage = "triage",
        /// Routed (canalizado) to a department.
        Routed = "routed",
        /// An internal note by staff.
        Note = "note",
        /// Someone listened to the recording.
        Listened = "listened",
        /// A department filed its action report.
        ActionReport = "action_report",
        /// A file of the case was deleted by the retention policy.
        Retention = "retention",
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
