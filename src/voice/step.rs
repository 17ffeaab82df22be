//! The steps of a call: every URL under `/twilio/voice`, named once.
//!
//! The router, the apology (what a failure at a step may still offer), the safety net (which
//! steps are callbacks nobody listens to), the step URLs written into TwiML and the benchmark's
//! report all read this one list.

/// A step of a call, each one a URL under `/twilio/voice`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Step {
    /// A call comes in: greeting, notices, main menu.
    Incoming,
    /// The main menu's answer.
    Main,
    /// The category menu's answer.
    Category,
    /// Is there immediate risk?
    Urgency,
    /// The `<Record>` action: the case is made, the folio said.
    Recorded,
    /// Twilio's recording status callback.
    RecordingStatus,
    /// 1 hears the folio again.
    Folio,
    /// A caller without caller ID typed a number for the SMS.
    SmsNumber,
    /// ... and confirms it.
    SmsConfirm,
    /// A folio typed to check a case.
    Lookup,
    /// After a lookup: another folio, the main menu or goodbye.
    LookupNext,
    /// Staff answered the transfer: the screening they hear before being connected.
    Screen,
    /// Staff pressed a key (or none) at the screening.
    ScreenAnswer,
    /// The `<Dial>` to staff ended.
    TransferDone,
    /// Twilio's call status callback.
    Status,
    /// Twilio could not reach the primary handler.
    Fallback,
}

/// Where in the call a failure happened, which decides what the apology offers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Moment {
    /// The caller has heard nothing yet: the emergency numbers and the privacy notice come
    /// before any recording.
    FirstContact,
    /// Somewhere in the menus: the report can still be recorded.
    MidCall,
    /// The report already exists: never ask for it again (that would make a second case).
    AfterReport,
}

impl Step {
    /// Every step, in the order a call that makes a report walks them, then the rest.
    pub const ALL: [Step; 16] = [
        Step::Incoming,
        Step::Main,
        Step::Category,
        Step::Urgency,
        Step::Recorded,
        Step::RecordingStatus,
        Step::Folio,
        Step::SmsNumber,
        Step::SmsConfirm,
        Step::Lookup,
        Step::LookupNext,
        Step::Screen,
        Step::ScreenAnswer,
        Step::TransferDone,
        Step::Status,
        Step::Fallback,
    ];

    /// The step's path (without the public base).
    pub fn path(self) -> &'static str {
        match self {
            Step::Incoming => "/twilio/voice",
            Step::Main => "/twilio/voice/main",
            Step::Category => "/twilio/voice/category",
            Step::Urgency => "/twilio/voice/urgency",
            Step::Recorded => "/twilio/voice/recorded",
            Step::RecordingStatus => "/twilio/voice/recording-status",
            Step::Folio => "/twilio/voice/folio",
            Step::SmsNumber => "/twilio/voice/sms-number",
            Step::SmsConfirm => "/twilio/voice/sms-confirm",
            Step::Lookup => "/twilio/voice/lookup",
            Step::LookupNext => "/twilio/voice/lookup-next",
            Step::Screen => "/twilio/voice/screen",
            Step::ScreenAnswer => "/twilio/voice/screen-answer",
            Step::TransferDone => "/twilio/voice/transfer-done",
            Step::Status => "/twilio/voice/status",
            Step::Fallback => "/twilio/voice/fallback",
        }
    }

    /// The step's short name, as `/metrics` labels it: the last part of its path
    /// (`recording-status`), `incoming` for the first.
    pub fn name(self) -> &'static str {
        self.path()
            .strip_prefix("/twilio/voice/")
            .unwrap_or("incoming")
    }

    /// The step of a path (a trailing slash is ignored).
    pub fn from_path(path: &str) -> Option<Step> {
        let path = path.trim_end_matches('/');
        Step::ALL.into_iter().find(|s| s.path() == path)
    }

    /// What a failure at this step may still offer the caller.
    pub fn moment(self) -> Moment {
        match self {
            Step::Incoming | Step::Fallback => Moment::FirstContact,
            Step::Folio | Step::SmsNumber | Step::SmsConfirm => Moment::AfterReport,
            _ => Moment::MidCall,
        }
    }

    /// Whether Twilio calls this step about the call, with nobody listening to the answer.
    pub fn is_callback(self) -> bool {
        matches!(self, Step::Status | Step::RecordingStatus)
    }

    /// Whether an overloaded service may answer this step with the apology instead of running
    /// it: the menus, whose apology still takes the report. Never a step that carries a report
    /// or a callback (the recording, the number for the SMS, the call's end), nor a transfer.
    pub fn may_shed(self) -> bool {
        matches!(
            self,
            Step::Incoming
                | Step::Main
                | Step::Category
                | Step::Urgency
                | Step::Lookup
                | Step::LookupNext
        )
    }

    /// Whether running the step twice would count twice (a folio lookup counts toward the
    /// call's limits): a request Twilio sends again is then answered from the first answer
    /// (see `voice::answer_once`). The other steps are idempotent by construction: a case is
    /// keyed by its call and recording, an SMS by its case and kind, an end of call sets the
    /// same values.
    pub fn counts(self) -> bool {
        matches!(self, Step::Lookup | Step::LookupNext)
    }

    /// Whether the answer is heard by the staff member a transfer rang, not by the caller: a
    /// failure there hangs up that leg (the caller is then offered to leave a report), never
    /// the caller's apology.
    pub fn is_staff_leg(self) -> bool {
        matches!(self, Step::Screen | Step::ScreenAnswer)
    }
}

impl Moment {
    /// The moment of a path: an unknown path under `/twilio/voice` is somewhere mid-call.
    pub fn of_path(path: &str) -> Moment {
        Step::from_path(path).map_or(Moment::MidCall, Step::moment)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_step_has_its_own_path() {
        for step in Step::ALL {
            assert_eq!(Step::from_path(step.path()), Some(step));
            assert!(step.path().starts_with("/twilio/voice"));
        }
        assert_eq!(Step::from_path("/twilio/voice/"), Some(Step::Incoming));
        assert_eq!(Step::from_path("/twilio/voice/nope"), None);
        assert_eq!(Moment::of_path("/twilio/voice/nope"), Moment::MidCall);
    }
}
