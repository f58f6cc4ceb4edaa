//! duban (督办): keeps a rectification ledger moving.
//!
//! The crate is a pure core with I/O at its edges. [`ledger`], [`calendar`] and [`rules`]
//! never read the clock or touch a file; [`store`], [`import`], [`export`] and the binary do
//! the I/O. See ARCHITECTURE.md for the map.

pub mod calendar;
pub mod config;
pub mod export;
pub mod import;
pub mod ledger;
pub mod report;
pub mod rules;
pub mod sample;
pub mod store;
