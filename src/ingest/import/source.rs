//! Reading the rows of a ledger file: .xlsx streamed cell by cell, .xls and .ods through a
//! sheet range, .csv in UTF-8 or GB18030. Merged areas read as their top-left cell's value.

use std::borrow::Cow;
use std::fs::File;
use std::io::{BufReader, Read};
use std::path::Path;

use calamine::{Data, DataRef, Dimensions, Reader, Xlsx};
use chrono::NaiveDate;

use super::ImportError;

mod merges;

/// What unpacking an .xlsx file for the size check learned on the way: each sheet's part
/// by name, and the merged areas of each sheet part (lower-case path), `None` for one that
/// could not be read.
#[derive(Default)]
struct Unpacked {
    sheets: Option<std::collections::HashMap<String, String>>,
    merges: std::collections::HashMap<String, Option<Vec<Dimensions>>>,
}

impl Unpacked {
    /// The merged areas of sheet `name`, when unpacking read them.
    fn merges_of(&self, name: &str) -> Option<Vec<Dimensions>> {
        let part = self.sheets.as_ref()?.get(name)?;
        self.merges.get(&part.to_lowercase())?.clone()
    }
}

/// One cell's value, whatever the file format. Text borrows from the workbook where it can
/// (an .xlsx file's shared strings), so reading a large file copies only what it keeps.
#[derive(Debug, Clone, PartialEq, Default)]
pub enum Cell<'a> {
    /// Nothing.
    #[default]
    Empty,
    /// Text as written.
    Text(Cow<'a, str>),
    /// A number that is not formatted as a date.
    Number(f64),
    /// A cell formatted as a date.
    Date(NaiveDate),
    /// TRUE or FALSE.
    Bool(bool),
    /// An Excel error such as #REF!.
    Error(String),
    /// A formula whose result the file does not keep (written by a program that does not
    /// calculate): it reads as blank, and a needed cell says why.
    Uncalculated,
}

impl Cell<'_> {
    /// Whether the cell holds nothing but whitespace.
    pub fn is_blank(&self) -> bool {
        match self {
            Cell::Empty | Cell::Uncalculated => true,
            Cell::Text(t) => t.chars().all(|c| c.is_whitespace() || c.is_control()),
            _ => false,
        }
    }

    /// The cell as text people would read in it.
    pub fn display(&self) -> String {
        self.shown().into_owned()
    }

    /// [`Cell::display`], borrowing the cell's text where cleaning it drops nothing but
    /// surrounding whitespace: what the reader only looks at, it does not copy.
    pub fn shown(&self) -> Cow<'_, str> {
        match self {
            Cell::Empty | Cell::Uncalculated => Cow::Borrowed(""),
            Cell::Text(t) => crate::core::text::clean_borrowed(t),
            Cell::Number(n) => Cow::Owned(crate::core::ledger::parse::code_number(*n)),
            // chrono displays a date as `%Y-%m-%d` without parsing a format string.
            Cell::Date(d) => Cow::Owned(d.to_string()),
            Cell::Bool(b) => Cow::Owned(b.to_string()),
            Cell::Error(e) => Cow::Borrowed(e),
        }
    }

    /// The same value, owning its text.
    pub fn into_owned(self) -> Cell<'static> {
        match self {
            Cell::Empty => Cell::Empty,
            Cell::Text(t) => Cell::Text(Cow::Owned(t.into_owned())),
            Cell::Number(n) => Cell::Number(n),
            Cell::Date(d) => Cell::Date(d),
            Cell::Bool(b) => Cell::Bool(b),
            Cell::Error(e) => Cell::Error(e),
            Cell::Uncalculated => Cell::Uncalculated,
        }
    }
}

pub use crate::core::text::clean;

/// What the row visitor wants next.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flow {
    /// Go on with this sheet.
    Continue,
    /// This sheet is not the ledger: go to the next one.
    SkipSheet,
    /// Done: read no more.
    Stop,
}

/// Receives the rows of a file, sheet by sheet.
pub trait RowVisitor {
    /// A sheet begins.
    fn start_sheet(&mut self, name: &str);
    /// A row, numbered from 1, with merged areas filled in. Rows with no cells are skipped.
    fn row(&mut self, row: u32, cells: &[Cell<'_>]) -> Flow;
    /// The sheet ended; return [`Flow::Stop`] to read no more sheets.
    fn end_sheet(&mut self) -> Flow;
    /// A merged area of the sheet reached past its data (`I30:XFD1048576`): it is read as
    /// `kept`, the part within the data, or not at all (`None`).
    fn merge_clipped(&mut self, _area: &str, _kept: Option<&str>) {}
}

/// Excel's limit on the characters of one cell: a longer cell would not survive an export.
pub const MAX_CELL_CHARS: usize = 32_767;

/// A merged area is bounded by the sheet's data before it is read when it covers more cells
/// than this: filling a merged area costs a step for each of its cells on each row read.
const LARGE_MERGE_CELLS: u64 = 20_000;

/// The column letters of 0-based column `col` (0 → A, 27 → AB).
pub fn column_letters(col: u32) -> String {
    let mut n = u64::from(col) + 1;
    let mut letters = Vec::new();
    while n > 0 {
        let rem = ((n - 1) % 26) as u8;
        letters.push((b'A' + rem) as char);
        n = (n - 1) / 26;
    }
    letters.iter().rev().collect()
}

/// A merged area in A1 notation.
fn area(d: &Dimensions) -> String {
    format!(
        "{}{}:{}{}",
        column_letters(d.start.1),
        d.start.0 + 1,
        column_letters(d.end.1),
        d.end.0 + 1
    )
}

/// Bounds `merges` by the last row and column holding data (0-based, inclusive), telling
/// `visitor` of every area that reached past them.
fn clip_merges(
    merges: Vec<Dimensions>,
    last: Option<(u32, u32)>,
    visitor: &mut dyn RowVisitor,
) -> Vec<Dimensions> {
    let mut kept = Vec::with_capacity(merges.len());
    for d in merges {
        let Some((last_row, last_col)) = last else {
            visitor.merge_clipped(&area(&d), None);
            continue;
        };
        if d.end.0 <= last_row && d.end.1 <= last_col {
            kept.push(d);
            continue;
        }
        if d.start.0 > last_row || d.start.1 > last_col {
            visitor.merge_clipped(&area(&d), None);
            continue;
        }
        let clipped = Dimensions::new(d.start, (d.end.0.min(last_row), d.end.1.min(last_col)));
        visitor.merge_clipped(&area(&d), Some(&area(&clipped)));
        kept.push(clipped);
    }
    kept
}

/// The number of cells a merged area covers.
fn cells_of(d: &Dimensions) -> u64 {
    (u64::from(d.end.0.saturating_sub(d.start.0)) + 1)
        * (u64::from(d.end.1.saturating_sub(d.start.1)) + 1)
}

/// Checks a row's cells against [`MAX_CELL_CHARS`].
fn check_cells(sheet: &str, row: u32, cells: &[Cell<'_>]) -> Result<(), ImportError> {
    for (col, cell) in cells.iter().enumerate() {
        let Cell::Text(text) = cell else { continue };
        // A character takes a byte at least: most cells need no count.
        if text.len() <= MAX_CELL_CHARS {
            continue;
        }
        let chars = text.chars().count();
        if chars > MAX_CELL_CHARS {
            return Err(ImportError::CellTooLong {
                sheet: sheet.to_string(),
                row,
                column: column_letters(col as u32),
                chars,
            });
        }
    }
    Ok(())
}

/// Hands a row to the visitor once its cells are checked.
fn emit(
    visitor: &mut dyn RowVisitor,
    sheet: &str,
    row: u32,
    cells: &[Cell<'_>],
) -> Result<Flow, ImportError> {
    check_cells(sheet, row, cells)?;
    Ok(visitor.row(row, cells))
}

/// The most parts a zip-based workbook may hold.
const MAX_PARTS: usize = 10_000;

/// Refuses a zip-based workbook (.xlsx, .ods) any part of which declares it unpacks to more
/// than `max_bytes`, naming the part, before anything is unpacked. The archive reader stops a
/// part at the size it declares, so what reads the workbook after this check reads no more
/// than that. Returns the archive, opened, for [`unpack_parts`].
fn check_declared_sizes(
    path: &Path,
    max_bytes: u64,
) -> Result<zip::ZipArchive<BufReader<File>>, ImportError> {
    let mut archive = open_archive(path)?;
    // The unpacking check and calamine each hold the archive's directory while they run side
    // by side; a workbook has a few dozen parts.
    if archive.len() > MAX_PARTS {
        return Err(open_error(
            path,
            format!(
                "the archive holds {} parts; a workbook has far fewer (at most {MAX_PARTS} are read)",
                archive.len()
            ),
        ));
    }
    for i in 0..archive.len() {
        let entry = archive
            .by_index_raw(i)
            .map_err(|e| open_error(path, e.to_string()))?;
        if entry.size() > max_bytes {
            let name = entry.name().map(|n| n.into_owned()).unwrap_or_default();
            return Err(too_large(path, &name, max_bytes));
        }
    }
    Ok(archive)
}

fn open_archive(path: &Path) -> Result<zip::ZipArchive<BufReader<File>>, ImportError> {
    let file = File::open(path).map_err(|e| open_error(path, e.to_string()))?;
    zip::ZipArchive::new(BufReader::new(file)).map_err(|e| open_error(path, e.to_string()))
}

fn open_error(path: &Path, message: String) -> ImportError {
    ImportError::Open {
        path: path.display().to_string(),
        message,
    }
}

fn too_large(path: &Path, part: &str, max_bytes: u64) -> ImportError {
    ImportError::TooLarge {
        path: path.display().to_string(),
        part: Some(part.to_string()),
        limit_megabytes: max_bytes >> 20,
    }
}

/// Unpacks every part of a zip-based workbook into nothing, which checks it against its
/// declared size and checksum, and refuses a damaged part, naming it. On the way it keeps
/// each sheet's merged areas and the names of the sheets' parts.
fn unpack_parts(
    path: &Path,
    mut archive: zip::ZipArchive<BufReader<File>>,
    max_bytes: u64,
) -> Result<Unpacked, ImportError> {
    let mut found = Unpacked::default();
    let (mut workbook, mut rels) = (Vec::new(), Vec::new());
    for i in 0..archive.len() {
        let mut entry = archive
            .by_index(i)
            .map_err(|e| open_error(path, e.to_string()))?;
        let name = entry.name().map(|n| n.into_owned()).unwrap_or_default();
        let lower = name.to_lowercase();
        let mut scanner = merges::MergeScanner::default();
        let mut sink = std::io::sink();
        let into: &mut dyn std::io::Write = match lower.as_str() {
            "xl/workbook.xml" => &mut workbook,
            "xl/_rels/workbook.xml.rels" => &mut rels,
            sheet if sheet.starts_with("xl/worksheets/") && sheet.ends_with(".xml") => &mut scanner,
            _ => &mut sink,
        };
        // The archive reader stops a part at the size it declares, and checks its checksum:
        // a part that says it is small and is not is damaged.
        let unpacked = std::io::copy(&mut (&mut entry).take(max_bytes + 1), into).map_err(|e| {
            ImportError::DamagedPart {
                path: path.display().to_string(),
                part: name.clone(),
                message: e.to_string(),
            }
        })?;
        if lower.starts_with("xl/worksheets/") && lower.ends_with(".xml") {
            found.merges.insert(lower, scanner.areas());
        }
        if unpacked > max_bytes {
            return Err(too_large(path, &name, max_bytes));
        }
    }
    found.sheets = merges::sheet_parts(&workbook, &rels);
    Ok(found)
}

/// Checks a zip-based workbook's parts ([`check_declared_sizes`], then [`unpack_parts`] on a
/// thread of its own) while `open` opens it for reading, which for an .xlsx means reading
/// its shared strings: the two take about as long, and the rows need both. A damaged or
/// oversized part is the error even when the workbook opened.
fn open_checked<B>(
    path: &Path,
    max_bytes: u64,
    open: impl FnOnce() -> Result<B, ImportError>,
) -> Result<(B, Unpacked), ImportError> {
    let archive = check_declared_sizes(path, max_bytes)?;
    std::thread::scope(|scope| {
        let unpacking = std::thread::Builder::new()
            .name("duban-unpack".into())
            .spawn_scoped(scope, || unpack_parts(path, archive, max_bytes))
            .map_err(|e| open_error(path, e.to_string()))?;
        let book = open();
        let unpacked = unpacking
            .join()
            .map_err(|_| open_error(path, "checking the parts failed".into()))??;
        Ok((book?, unpacked))
    })
}

/// Reads `path`, choosing the reader by extension. A file (or, for .xlsx and .ods, a part
/// of it unpacked) larger than `max_bytes` is refused: before it is parsed when the archive
/// declares so, and as damaged as soon as the unpacking check finds a part larger than it
/// declared (calamine, reading meanwhile, stops at the declared size too).
pub fn read(path: &Path, visitor: &mut dyn RowVisitor, max_bytes: u64) -> Result<(), ImportError> {
    let ext = path
        .extension()
        .and_then(|e| e.to_str())
        .map(str::to_ascii_lowercase)
        .unwrap_or_default();
    let open_failed = |message: String| open_error(path, message);
    let known = ["xlsx", "xlsm", "xls", "xla", "ods", "xlsb", "csv", "txt"];
    if known.contains(&ext.as_str()) && !path.exists() {
        return Err(ImportError::NotFound(path.display().to_string()));
    }
    if known.contains(&ext.as_str()) {
        let size = std::fs::metadata(path)
            .map_err(|e| open_failed(e.to_string()))?
            .len();
        if size > max_bytes {
            return Err(ImportError::TooLarge {
                path: path.display().to_string(),
                part: None,
                limit_megabytes: max_bytes >> 20,
            });
        }
    }
    match ext.as_str() {
        "xlsx" | "xlsm" => {
            let (mut book, unpacked) = open_checked(path, max_bytes, || {
                calamine::open_workbook::<Xlsx<BufReader<File>>, _>(path)
                    .map_err(|e| open_error(path, e.to_string()))
            })?;
            read_xlsx(&mut book, &unpacked, visitor, &open_failed)
        }
        "xls" | "xla" | "ods" | "xlsb" => {
            let mut book = if ext == "xls" || ext == "xla" {
                calamine::open_workbook_auto(path).map_err(|e| open_error(path, e.to_string()))?
            } else {
                open_checked(path, max_bytes, || {
                    calamine::open_workbook_auto(path).map_err(|e| open_error(path, e.to_string()))
                })?
                .0
            };
            for name in book.sheet_names() {
                let range = book
                    .worksheet_range(&name)
                    .map_err(|e| open_error(path, e.to_string()))?;
                let merges = match &mut book {
                    calamine::Sheets::Xls(xls) => {
                        xls.merge_cells_by_sheet_name(&name).unwrap_or_default()
                    }
                    _ => Vec::new(),
                };
                visitor.start_sheet(&name);
                let last = range.end().filter(|_| !range.is_empty());
                let merges = clip_merges(merges, last, visitor);
                let flow = visit_range(&name, &range, &merges, visitor)?;
                if flow == Flow::Stop || visitor.end_sheet() == Flow::Stop {
                    break;
                }
            }
            Ok(())
        }
        "csv" | "txt" => {
            let mut bytes = Vec::new();
            File::open(path)
                .and_then(|mut f| f.read_to_end(&mut bytes))
                .map_err(|e| open_failed(e.to_string()))?;
            read_csv(&bytes, visitor, &open_failed)
        }
        _ => Err(ImportError::Format(path.display().to_string())),
    }
}

/// Fills merged areas row by row, in a single pass over rows in ascending order. A merged
/// value borrows from the workbook as its cells do (a shared string): filling the rows under
/// it copies no text.
struct MergeFill<'a> {
    regions: Vec<Dimensions>,
    next: usize,
    active: Vec<(Dimensions, Cell<'a>)>,
}

impl<'a> MergeFill<'a> {
    fn new(mut regions: Vec<Dimensions>) -> MergeFill<'a> {
        regions.sort_by_key(|d| d.start);
        MergeFill {
            regions,
            next: 0,
            active: Vec::new(),
        }
    }

    /// Fills `cells` of 0-based row `row`.
    fn apply(&mut self, row: u32, cells: &mut Vec<Cell<'a>>) {
        self.active.retain(|(d, _)| d.end.0 >= row);
        while self.next < self.regions.len() && self.regions[self.next].start.0 <= row {
            let d = self.regions[self.next];
            self.next += 1;
            if d.end.0 < row {
                continue;
            }
            let value = if d.start.0 == row {
                cells.get(d.start.1 as usize).cloned().unwrap_or_default()
            } else {
                Cell::Empty
            };
            self.active.push((d, value));
        }
        for (d, value) in &self.active {
            let last = d.end.1 as usize;
            if cells.len() <= last {
                cells.resize(last + 1, Cell::Empty);
            }
            for col in d.start.1..=d.end.1 {
                if (row, col) != d.start && cells[col as usize].is_blank() {
                    cells[col as usize] = value.clone();
                }
            }
        }
    }
}

fn date_of(dt: &calamine::ExcelDateTime) -> Option<NaiveDate> {
    if !dt.is_datetime() {
        return None;
    }
    let (y, m, d, ..) = dt.to_ymd_hms_milli();
    NaiveDate::from_ymd_opt(i32::from(y), u32::from(m), u32::from(d))
}

fn from_ref(value: DataRef<'_>) -> Cell<'_> {
    match value {
        DataRef::Empty => Cell::Empty,
        DataRef::Int(i) => Cell::Number(i as f64),
        DataRef::Float(f) => Cell::Number(f),
        DataRef::String(s) => Cell::Text(Cow::Owned(s)),
        DataRef::SharedString(s) => Cell::Text(Cow::Borrowed(s)),
        DataRef::Bool(b) => Cell::Bool(b),
        DataRef::DateTime(dt) => date_of(&dt).map_or(Cell::Number(dt.as_f64()), Cell::Date),
        DataRef::DateTimeIso(s) => iso_date(&s),
        DataRef::DurationIso(s) => Cell::Text(Cow::Owned(s)),
        DataRef::Error(e) => Cell::Error(e.to_string()),
    }
}

fn from_data(value: &Data) -> Cell<'_> {
    match value {
        Data::Empty => Cell::Empty,
        Data::Int(i) => Cell::Number(*i as f64),
        Data::Float(f) => Cell::Number(*f),
        Data::String(s) => Cell::Text(Cow::Borrowed(s)),
        Data::Bool(b) => Cell::Bool(*b),
        Data::DateTime(dt) => date_of(dt).map_or(Cell::Number(dt.as_f64()), Cell::Date),
        Data::DateTimeIso(s) => iso_date(s),
        Data::DurationIso(s) => Cell::Text(Cow::Borrowed(s)),
        Data::Error(e) => Cell::Error(e.to_string()),
    }
}

fn iso_date(text: &str) -> Cell<'static> {
    text.get(..10)
        .and_then(|d| NaiveDate::parse_from_str(d, "%Y-%m-%d").ok())
        .map_or_else(|| Cell::Text(Cow::Owned(text.to_string())), Cell::Date)
}

/// The last row and column holding anything but blanks in an .xlsx sheet (0-based), read in
/// a pass of its own; `None` for a sheet without data.
fn used_extent(
    book: &mut Xlsx<BufReader<File>>,
    name: &str,
) -> Result<Option<(u32, u32)>, calamine::XlsxError> {
    let mut reader = book.worksheet_cells_reader(name)?;
    let mut last: Option<(u32, u32)> = None;
    while let Some(cell) = reader.next_cell()? {
        if matches!(cell.get_value(), DataRef::Empty) {
            continue;
        }
        let blank = match cell.get_value() {
            DataRef::String(t) => t.trim().is_empty(),
            DataRef::SharedString(t) => t.trim().is_empty(),
            _ => false,
        };
        if blank {
            continue;
        }
        let (row, col) = cell.get_position();
        last = Some(last.map_or((row, col), |(r, c)| (r.max(row), c.max(col))));
    }
    Ok(last)
}

fn read_xlsx(
    book: &mut Xlsx<BufReader<File>>,
    unpacked: &Unpacked,
    visitor: &mut dyn RowVisitor,
    open_error: &dyn Fn(String) -> ImportError,
) -> Result<(), ImportError> {
    let xlsx = |e: calamine::XlsxError| open_error(e.to_string());
    for name in book.sheet_names() {
        let merges = match unpacked.merges_of(&name) {
            Some(merges) => merges,
            None => book.merge_cells_by_sheet_name(&name).map_err(xlsx)?,
        };
        visitor.start_sheet(&name);
        // A merged area far larger than a ledger's (a whole column selected and merged, or
        // I30:XFD1048576) is bounded by the data first.
        let merges = if merges.iter().any(|d| cells_of(d) > LARGE_MERGE_CELLS) {
            let last = used_extent(book, &name).map_err(xlsx)?;
            clip_merges(merges, last, visitor)
        } else {
            merges
        };
        let mut fill = MergeFill::new(merges);
        let mut reader = book.worksheet_cells_reader(&name).map_err(xlsx)?;
        let mut current: Option<u32> = None;
        let mut cells: Vec<Cell<'_>> = Vec::new();
        let mut flow = Flow::Continue;
        while let Some(record) = reader.next_cell_with_formula_metadata().map_err(xlsx)? {
            let (row, col) = record.pos;
            if current != Some(row) {
                if let Some(done) = current {
                    fill.apply(done, &mut cells);
                    flow = emit(visitor, &name, done + 1, &cells)?;
                    if flow != Flow::Continue {
                        break;
                    }
                }
                current = Some(row);
                cells.clear();
            }
            let col = col as usize;
            if cells.len() <= col {
                cells.resize(col + 1, Cell::Empty);
            }
            cells[col] = match (record.value, record.formula) {
                (DataRef::Empty, Some(_)) => Cell::Uncalculated,
                (value, _) => from_ref(value),
            };
        }
        if flow == Flow::Continue
            && let Some(done) = current
        {
            fill.apply(done, &mut cells);
            flow = emit(visitor, &name, done + 1, &cells)?;
        }
        drop(reader);
        if flow == Flow::Stop || visitor.end_sheet() == Flow::Stop {
            break;
        }
    }
    Ok(())
}

fn visit_range(
    sheet: &str,
    range: &calamine::Range<Data>,
    merges: &[Dimensions],
    visitor: &mut dyn RowVisitor,
) -> Result<Flow, ImportError> {
    let Some((first_row, first_col)) = range.start() else {
        return Ok(Flow::Continue);
    };
    let mut fill = MergeFill::new(merges.to_vec());
    let mut cells = Vec::new();
    for (i, row) in range.rows().enumerate() {
        let row_index = first_row + i as u32;
        cells.clear();
        cells.resize(first_col as usize, Cell::Empty);
        cells.extend(row.iter().map(from_data));
        fill.apply(row_index, &mut cells);
        if cells.iter().all(Cell::is_blank) {
            continue;
        }
        let flow = emit(visitor, sheet, row_index + 1, &cells)?;
        if flow != Flow::Continue {
            return Ok(flow);
        }
    }
    Ok(Flow::Continue)
}

/// Decodes CSV bytes: UTF-8 (with or without a byte-order mark), else GB18030, as Excel
/// writes CSV on Chinese Windows.
fn decode_text(bytes: &[u8]) -> String {
    let bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
    match std::str::from_utf8(bytes) {
        Ok(text) => text.to_string(),
        Err(_) => encoding_rs::GB18030.decode(bytes).0.into_owned(),
    }
}

fn read_csv(
    bytes: &[u8],
    visitor: &mut dyn RowVisitor,
    open_error: &dyn Fn(String) -> ImportError,
) -> Result<(), ImportError> {
    let text = decode_text(bytes);
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .from_reader(text.as_bytes());
    visitor.start_sheet("csv");
    // Rows are numbered by record, as a spreadsheet shows the file: a quoted cell with a line
    // break is one row, not two.
    for (index, record) in reader.records().enumerate() {
        let record = record.map_err(|e| open_error(e.to_string()))?;
        let line = index as u32 + 1;
        let cells: Vec<Cell<'_>> = record
            .iter()
            .map(|f| {
                if f.trim().is_empty() {
                    Cell::Empty
                } else {
                    Cell::Text(Cow::Borrowed(f))
                }
            })
            .collect();
        if cells.iter().all(Cell::is_blank) {
            continue;
        }
        if emit(visitor, "csv", line, &cells)? != Flow::Continue {
            break;
        }
    }
    visitor.end_sheet();
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn merged_areas_found_while_unpacking_are_calamines() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("ledger.xlsx");
        crate::ingest::sample::write_realistic(&path, 500, 40, 3).unwrap();
        let (mut book, unpacked) = open_checked(&path, 1 << 30, || {
            calamine::open_workbook::<Xlsx<BufReader<File>>, _>(&path)
                .map_err(|e| open_error(&path, e.to_string()))
        })
        .unwrap();
        let names = book.sheet_names();
        assert!(!names.is_empty());
        for name in names {
            let scanned = unpacked
                .merges_of(&name)
                .expect("the unpacking read the merges");
            let parsed = book.merge_cells_by_sheet_name(&name).unwrap();
            assert!(parsed.len() >= 100, "{} merged areas", parsed.len());
            assert_eq!(scanned, parsed, "sheet {name}");
        }
    }

    /// A zip of more parts than any workbook has is refused before its parts are read twice
    /// side by side.
    #[test]
    fn an_archive_of_too_many_parts_is_refused() {
        use std::io::Write;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("parts.xlsx");
        let mut zip = zip::ZipWriter::new(File::create(&path).unwrap());
        for i in 0..=MAX_PARTS {
            zip.start_file(
                format!("xl/part{i}.xml"),
                zip::write::SimpleFileOptions::default(),
            )
            .unwrap();
            zip.write_all(b"<x/>").unwrap();
        }
        zip.finish().unwrap();
        struct Nothing;
        impl RowVisitor for Nothing {
            fn start_sheet(&mut self, _: &str) {}
            fn row(&mut self, _: u32, _: &[Cell<'_>]) -> Flow {
                Flow::Continue
            }
            fn end_sheet(&mut self) -> Flow {
                Flow::Continue
            }
        }
        let error = read(&path, &mut Nothing, 1 << 30).unwrap_err();
        assert!(
            error
                .to_string()
                .contains(&format!("{} parts", MAX_PARTS + 1)),
            "{error}"
        );
    }

    #[test]
    fn merged_areas_take_the_top_left_value() {
        // A problem cell merged down rows 2–4 of column 1, and a title across row 0.
        let mut fill = MergeFill::new(vec![
            Dimensions::new((2, 1), (4, 1)),
            Dimensions::new((0, 0), (0, 3)),
        ]);
        let mut title = vec![Cell::Text("台账".into())];
        fill.apply(0, &mut title);
        assert_eq!(title.len(), 4);
        assert!(title.iter().all(|c| c == &Cell::Text("台账".into())));
        let mut row2 = vec![Cell::Text("1".into()), Cell::Text("问题一".into())];
        fill.apply(2, &mut row2);
        let mut row3 = vec![Cell::Text("2".into())];
        fill.apply(3, &mut row3);
        assert_eq!(row3[1], Cell::Text("问题一".into()));
        let mut row5 = vec![Cell::Text("3".into())];
        fill.apply(5, &mut row5);
        assert_eq!(row5.len(), 1);
    }

    #[test]
    fn control_characters_are_dropped() {
        assert_eq!(clean(" 措施\u{0}一\r\n第二行\u{7} "), "措施一\n第二行");
        assert_eq!(clean("a\tb"), "a\tb");
        assert_eq!(Cell::Text("\u{0}".into()).display(), "");
    }

    #[test]
    fn csv_in_gb18030_reads() {
        let (bytes, _, _) = encoding_rs::GB18030.encode("序号,整改措施\n1,召开会议\n");
        assert_eq!(decode_text(&bytes), "序号,整改措施\n1,召开会议\n");
        assert_eq!(decode_text("\u{FEFF}序号".as_bytes()), "序号");
    }
}
