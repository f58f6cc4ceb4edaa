//! Reading the rows of a ledger file: .xlsx streamed cell by cell, .xls and .ods through a
//! sheet range, .csv in UTF-8 or GB18030. Merged areas read as their top-left cell's value.

use std::borrow::Cow;
use std::fs::File;
use std::io::{BufReader, Read};
use std::path::Path;

use calamine::{Data, DataRef, Dimensions, Reader, Xlsx};
use chrono::NaiveDate;

use super::ImportError;

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
}

impl Cell<'_> {
    /// Whether the cell holds nothing but whitespace.
    pub fn is_blank(&self) -> bool {
        match self {
            Cell::Empty => true,
            Cell::Text(t) => t.chars().all(|c| c.is_whitespace() || c.is_control()),
            _ => false,
        }
    }

    /// The cell as text people would read in it.
    pub fn display(&self) -> String {
        match self {
            Cell::Empty => String::new(),
            Cell::Text(t) => clean(t),
            Cell::Number(n) => crate::ledger::parse::code_number(*n),
            Cell::Date(d) => d.format("%Y-%m-%d").to_string(),
            Cell::Bool(b) => b.to_string(),
            Cell::Error(e) => e.clone(),
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
        }
    }
}

pub use crate::text::clean;

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
}

/// Reads `path`, choosing the reader by extension.
pub fn read(path: &Path, visitor: &mut dyn RowVisitor) -> Result<(), ImportError> {
    let ext = path
        .extension()
        .and_then(|e| e.to_str())
        .map(str::to_ascii_lowercase)
        .unwrap_or_default();
    let open_error = |message: String| ImportError::Open {
        path: path.display().to_string(),
        message,
    };
    let known = ["xlsx", "xlsm", "xls", "xla", "ods", "xlsb", "csv", "txt"];
    if known.contains(&ext.as_str()) && !path.exists() {
        return Err(ImportError::NotFound(path.display().to_string()));
    }
    match ext.as_str() {
        "xlsx" | "xlsm" => {
            let mut book: Xlsx<BufReader<File>> = calamine::open_workbook(path)
                .map_err(|e: calamine::XlsxError| open_error(e.to_string()))?;
            read_xlsx(&mut book, visitor).map_err(|e| open_error(e.to_string()))
        }
        "xls" | "xla" | "ods" | "xlsb" => {
            let mut book =
                calamine::open_workbook_auto(path).map_err(|e| open_error(e.to_string()))?;
            for name in book.sheet_names() {
                let range = book
                    .worksheet_range(&name)
                    .map_err(|e| open_error(e.to_string()))?;
                let merges = match &mut book {
                    calamine::Sheets::Xls(xls) => {
                        xls.merge_cells_by_sheet_name(&name).unwrap_or_default()
                    }
                    _ => Vec::new(),
                };
                visitor.start_sheet(&name);
                let flow = visit_range(&range, &merges, visitor);
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
                .map_err(|e| open_error(e.to_string()))?;
            read_csv(&bytes, visitor).map_err(open_error)
        }
        _ => Err(ImportError::Format(path.display().to_string())),
    }
}

/// Fills merged areas row by row, in a single pass over rows in ascending order.
struct MergeFill {
    regions: Vec<Dimensions>,
    next: usize,
    active: Vec<(Dimensions, Cell<'static>)>,
}

impl MergeFill {
    fn new(mut regions: Vec<Dimensions>) -> MergeFill {
        regions.sort_by_key(|d| d.start);
        MergeFill {
            regions,
            next: 0,
            active: Vec::new(),
        }
    }

    /// Fills `cells` of 0-based row `row`.
    fn apply<'a>(&mut self, row: u32, cells: &mut Vec<Cell<'a>>) {
        self.active.retain(|(d, _)| d.end.0 >= row);
        while self.next < self.regions.len() && self.regions[self.next].start.0 <= row {
            let d = self.regions[self.next];
            self.next += 1;
            if d.end.0 < row {
                continue;
            }
            let value = if d.start.0 == row {
                cells
                    .get(d.start.1 as usize)
                    .cloned()
                    .unwrap_or_default()
                    .into_owned()
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

fn read_xlsx(
    book: &mut Xlsx<BufReader<File>>,
    visitor: &mut dyn RowVisitor,
) -> Result<(), calamine::XlsxError> {
    for name in book.sheet_names() {
        let merges = book.merge_cells_by_sheet_name(&name)?;
        let mut fill = MergeFill::new(merges);
        visitor.start_sheet(&name);
        let mut reader = book.worksheet_cells_reader(&name)?;
        let mut current: Option<u32> = None;
        let mut cells: Vec<Cell<'_>> = Vec::new();
        let mut flow = Flow::Continue;
        while let Some(cell) = reader.next_cell()? {
            let (row, col) = cell.get_position();
            if current != Some(row) {
                if let Some(done) = current {
                    fill.apply(done, &mut cells);
                    flow = visitor.row(done + 1, &cells);
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
            let (_, value) = (cell.get_position(), cell.get_value().clone());
            cells[col] = from_ref(value);
        }
        if flow == Flow::Continue
            && let Some(done) = current
        {
            fill.apply(done, &mut cells);
            flow = visitor.row(done + 1, &cells);
        }
        drop(reader);
        if flow == Flow::Stop || visitor.end_sheet() == Flow::Stop {
            break;
        }
    }
    Ok(())
}

fn visit_range(
    range: &calamine::Range<Data>,
    merges: &[Dimensions],
    visitor: &mut dyn RowVisitor,
) -> Flow {
    let Some((first_row, first_col)) = range.start() else {
        return Flow::Continue;
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
        let flow = visitor.row(row_index + 1, &cells);
        if flow != Flow::Continue {
            return flow;
        }
    }
    Flow::Continue
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

fn read_csv(bytes: &[u8], visitor: &mut dyn RowVisitor) -> Result<(), String> {
    let text = decode_text(bytes);
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .from_reader(text.as_bytes());
    visitor.start_sheet("csv");
    // Rows are numbered by record, as a spreadsheet shows the file: a quoted cell with a line
    // break is one row, not two.
    for (index, record) in reader.records().enumerate() {
        let record = record.map_err(|e| e.to_string())?;
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
        if visitor.row(line, &cells) != Flow::Continue {
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
