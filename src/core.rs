//! The pure core: the ledger, the working-day calendar, the rule engine, the workflow after a
//! reminder, reports, the digest and its chart, reminders planned, replies read, chat types
//! and the language of messages.
//!
//! Nothing here reads the clock, the environment, files or the network, or uses the
//! runtime, the database driver, a chat library or an HTTP crate: "today" and the calendar
//! are arguments. `tests/layout.rs` reads these files to hold it so.

pub mod calendar;
pub mod chart;
pub mod chat;
pub mod digest;
pub mod ledger;
pub mod notice;
pub mod office;
pub mod remind;
pub mod reply;
pub mod report;
pub mod rules;
pub mod text;
pub mod workflow;
