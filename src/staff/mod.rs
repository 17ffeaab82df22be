//! Staff accounts: password hashing (Argon2id), for `atiende user` and the console's sign-in.

pub mod password;
