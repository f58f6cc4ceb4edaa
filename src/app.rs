//! The use cases: what a person can do to the ledger, written once and called by the bot,
//! the CLI and the service.

pub mod bot;
