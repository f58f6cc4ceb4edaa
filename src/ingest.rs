//! Ledger files in and out: the importer (.xlsx, .xls, .ods, .csv), the export, and the
//! sample ledger.

pub mod export;
pub mod import;
pub mod sample;
