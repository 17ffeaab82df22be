//! The integration suite: one binary, every test over real HTTP on loopback, each on SQLite and
//! on PostgreSQL (see `helpers`), with Twilio's REST API played by `atiende::sim::fake_api`.

mod helpers;

mod browser;
mod budget;
mod cli;
mod console;
mod crash;
mod desk;
mod faults;
mod figures;
mod golden;
mod instances;
mod jobs;
mod languages;
mod lookup;
mod menu;
mod metrics;
mod outage;
mod processes;
mod promise;
mod properties;
mod recordings;
mod report;
mod resilience;
mod retention;
mod security;
mod settings;
mod sign_in;
mod slow_clients;
mod sms;
mod speech;
mod withheld;
