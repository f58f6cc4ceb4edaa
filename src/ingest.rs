//! Ledger files in and out: the importer (.xlsx, .xls, .ods, .csv), the export, the 通报 as
//! a document (.docx), and the sample ledger.

pub mod docx;
pub mod export;
pub mod import;
pub mod sample;
