//! Who works in the staff console, and what each may do.

use super::codes::text_enum;

text_enum!(
    /// What a staff member may do.
    Role {
        /// Everything, including settings and users.
        Admin = "admin",
        /// Participación Ciudadana: every case.
        Operador = "operador",
        /// One department: only the cases routed to it.
        Area = "area",
    }
);
