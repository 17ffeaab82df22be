//! The lifecycle of a case as a state machine: which moves exist, and who may make each.
//!
//! ```text
//! recibido ─▶ en revisión ─▶ canalizado ─▶ en atención ─▶ atendido ─▶ cerrado
//!    │             │              │  ▲            │            │          │
//!    │             │              │  └─ (canalizar a otra área)           │
//!    └─────────────┴──────────────┴─▶ cerrado sin acción (duplicado,      │
//!                                      no procede, no es competencia)     │
//!                        atendido ─▶ reabierto (devuelto al área) ◀───────┘
//! ```
//!
//! Participación Ciudadana (`operador`, and `admin`) classifies, routes, closes, reopens and
//! sends back. A department (`area`) sees only the cases routed to it and may only start work
//! on them ("en atención") and file its action report, which makes the case "atendido".
//! Anything else is refused with a reason a person can read.

use super::{CaseStatus, ClosureReason, Role};

/// A change of status someone asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Move {
    /// Participación Ciudadana starts classifying it.
    Review,
    /// Canalizar: to a department (perhaps another one than before).
    Route,
    /// The department starts working on it.
    Start,
    /// The department filed its action report.
    Attend,
    /// Closed: `Resolved` after an attended case; otherwise closed without action.
    Close(ClosureReason),
    /// Opened again: a closed case, or an attended one sent back to its department.
    Reopen,
}

impl Move {
    /// The status the move leads to.
    pub fn target(self) -> CaseStatus {
        match self {
            Move::Review => CaseStatus::InReview,
            Move::Route => CaseStatus::Routed,
            Move::Start => CaseStatus::InProgress,
            Move::Attend => CaseStatus::Attended,
            Move::Close(_) => CaseStatus::Closed,
            Move::Reopen => CaseStatus::Reopened,
        }
    }

    /// Whether `role` may make this move on a case in `from`; the reason, in Spanish, if not.
    pub fn check(self, from: CaseStatus, role: Role) -> Result<(), &'static str> {
        use CaseStatus::*;
        let office = matches!(role, Role::Admin | Role::Operador);
        let allowed_from: &[CaseStatus] = match self {
            Move::Review => &[Received, Reopened],
            Move::Route => &[Received, InReview, Routed, Reopened],
            Move::Start => &[Routed, Reopened],
            Move::Attend => &[Routed, InProgress, Reopened],
            Move::Close(ClosureReason::Resolved) => &[Attended],
            Move::Close(_) => &[Received, InReview, Routed, Reopened],
            Move::Reopen => &[Attended, Closed],
        };
        let by_role = match self {
            Move::Start | Move::Attend => true,
            _ => office,
        };
        if !by_role {
            return Err("Solo Participación Ciudadana puede hacer este cambio.");
        }
        if !allowed_from.contains(&from) {
            return Err(match (self, from) {
                (_, Closed) => "El caso está cerrado; primero hay que reabrirlo.",
                (Move::Close(ClosureReason::Resolved), _) => {
                    "Solo se cierra como resuelto un caso atendido; use otro motivo de cierre."
                }
                (Move::Attend | Move::Start, Received | InReview) => {
                    "El caso aún no se ha canalizado a un área."
                }
                (Move::Attend | Move::Start, Attended) => "El caso ya fue atendido.",
                (Move::Reopen, _) => "Solo se reabre un caso atendido o cerrado.",
                _ => "Ese cambio no es posible desde el estado actual del caso.",
            });
        }
        Ok(())
    }

    /// Like [`Move::check`], knowing whether the case was ever routed to a department: work
    /// on it (starting it, the action report) needs a department to do it, so a case closed
    /// before it was routed and then reopened is routed first.
    pub fn check_case(
        self,
        from: CaseStatus,
        role: Role,
        routed: bool,
    ) -> Result<(), &'static str> {
        self.check(from, role)?;
        if matches!(self, Move::Start | Move::Attend) && !routed {
            return Err("El caso aún no se ha canalizado a un área.");
        }
        Ok(())
    }

    /// The moves `role` may make on a case in `from`, routed or not (for the buttons on the
    /// case page).
    pub fn available_for(from: CaseStatus, role: Role, routed: bool) -> Vec<Move> {
        Move::available(from, role)
            .into_iter()
            .filter(|m| m.check_case(from, role, routed).is_ok())
            .collect()
    }

    /// The moves `role` may make on a case in `from`, by its status alone.
    pub fn available(from: CaseStatus, role: Role) -> Vec<Move> {
        let all = [
            Move::Review,
            Move::Route,
            Move::Start,
            Move::Attend,
            Move::Close(ClosureReason::Resolved),
            Move::Close(ClosureReason::Duplicate),
            Move::Close(ClosureReason::NotApplicable),
            Move::Close(ClosureReason::NotMunicipal),
            Move::Reopen,
        ];
        all.into_iter()
            .filter(|m| m.check(from, role).is_ok())
            .collect()
    }
}

/// How a status is written for staff.
pub fn status_label(status: CaseStatus) -> &'static str {
    match status {
        CaseStatus::Received => "Recibido",
        CaseStatus::InReview => "En revisión",
        CaseStatus::Routed => "Canalizado",
        CaseStatus::InProgress => "En atención",
        CaseStatus::Attended => "Atendido",
        CaseStatus::Closed => "Cerrado",
        CaseStatus::Reopened => "Reabierto",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use CaseStatus::*;

    #[test]
    fn the_office_walks_a_case_from_received_to_closed() {
        let op = Role::Operador;
        assert!(Move::Review.check(Received, op).is_ok());
        assert!(Move::Route.check(InReview, op).is_ok());
        assert!(
            Move::Close(ClosureReason::Resolved)
                .check(Attended, op)
                .is_ok()
        );
        assert!(Move::Reopen.check(Closed, op).is_ok());
        assert!(
            Move::Reopen.check(Attended, op).is_ok(),
            "sent back to the department"
        );
    }

    #[test]
    fn a_department_only_starts_and_attends() {
        let area = Role::Area;
        assert!(Move::Start.check(Routed, area).is_ok());
        assert!(Move::Attend.check(InProgress, area).is_ok());
        assert!(Move::Attend.check(Routed, area).is_ok());
        for m in [
            Move::Review,
            Move::Route,
            Move::Close(ClosureReason::Resolved),
            Move::Close(ClosureReason::Duplicate),
            Move::Reopen,
        ] {
            for from in CaseStatus::ALL {
                assert!(m.check(*from, area).is_err(), "{m:?} from {from:?}");
            }
        }
        assert_eq!(
            Move::available(Routed, area),
            vec![Move::Start, Move::Attend]
        );
        assert!(Move::available(Closed, area).is_empty());
    }

    #[test]
    fn work_starts_only_on_a_routed_case() {
        let op = Role::Operador;
        // Closed before routing, then reopened: route it first.
        assert_eq!(
            Move::Start.check_case(Reopened, op, false),
            Err("El caso aún no se ha canalizado a un área.")
        );
        assert!(Move::Attend.check_case(Reopened, op, false).is_err());
        assert!(Move::Start.check_case(Reopened, op, true).is_ok());
        assert!(Move::Attend.check_case(Reopened, Role::Area, true).is_ok());
        assert!(!Move::available_for(Reopened, op, false).contains(&Move::Start));
        assert!(Move::available_for(Reopened, op, false).contains(&Move::Route));
        // Otherwise the same as by status alone.
        assert!(Move::Route.check_case(Received, op, false).is_ok());
        assert_eq!(
            Move::available_for(Routed, Role::Area, true),
            Move::available(Routed, Role::Area)
        );
    }

    #[test]
    fn invalid_moves_are_refused_with_a_reason() {
        let op = Role::Operador;
        assert_eq!(
            Move::Close(ClosureReason::Resolved).check(Received, op),
            Err("Solo se cierra como resuelto un caso atendido; use otro motivo de cierre.")
        );
        assert!(
            Move::Route
                .check(Closed, op)
                .unwrap_err()
                .contains("cerrado")
        );
        assert!(
            Move::Attend
                .check(Received, op)
                .unwrap_err()
                .contains("canalizado")
        );
        assert!(
            Move::Close(ClosureReason::Duplicate)
                .check(Attended, op)
                .is_err()
        );
        // Every status has a way forward for the office but a closed case, which reopens.
        for from in CaseStatus::ALL {
            assert!(!Move::available(*from, op).is_empty(), "{from:?}");
        }
    }
}
