//! The use cases: what a person can do to the ledger, written once and called by the bot,
//! the CLI and the service. [`decide`] holds the office's decisions (claims, extensions,
//! flags) with the notes they send; [`measure`] the use cases on one measure from the command
//! line and the web workbench; [`signin`] the workbench's one-time sign-in links; [`bot`] reads a chat update and calls them.

pub mod bot;
pub mod decide;
pub mod measure;
pub mod signin;
