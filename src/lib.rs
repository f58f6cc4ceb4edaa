//! duban (督办): keeps a rectification ledger moving.
//!
//! The crate is a pure core with I/O at its edges. [`ledger`], [`calendar`] and [`rules`]
//! never read the clock or touch a file; [`store`], [`import`], [`export`] and the binary do
//! the I/O. See ARCHITECTURE.md for the map.

pub mod bot;
pub mod calendar;
pub mod channel;
pub mod chart;
pub mod chat;
pub mod config;
pub mod console;
pub mod digest;
pub mod export;
pub mod http;
pub mod import;
pub mod ledger;
pub mod metrics;
pub mod outbox;
pub mod remind;
pub mod reply;
pub mod report;
pub mod rules;
pub mod sample;
pub mod service;
pub mod store;
pub mod telegram;
pub mod text;
pub mod workflow;
