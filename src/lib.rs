//! duban (督办): keeps a rectification ledger moving.
//!
//! The folders are the architecture (see ARCHITECTURE.md): [`core`] is the pure domain (no
//! clock, files, network or database); [`ingest`] reads and writes ledger files; [`store`] is
//! the database; [`channels`] are the chat platforms; [`app`] the use cases that the bot, the
//! CLI and the service share; [`service`] the running service's loops and HTTP; [`web`] the web workbench; [`config`]
//! the configuration's layers.

pub mod app;
pub mod channels;
pub mod config;
pub mod core;
pub mod ingest;
pub mod service;
pub mod store;
pub mod web;
