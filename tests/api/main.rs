//! The integration suite: one binary, every test over real HTTP on loopback, each on SQLite and
//! on PostgreSQL (see `helpers`).

mod helpers;

mod cli;
mod golden;
mod lookup;
mod menu;
mod report;
mod security;
mod withheld;
