//! Staff: accounts and, later, the console. Today: password hashing for `atiende user add`.

pub mod password;
