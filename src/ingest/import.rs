//! Importing a ledger file the way offices really keep them.
//!
//! The header row is found by its column names, Chinese or English, under any title rows.
//! Merged cells read as their top-left value, and empty 方面 / 问题 cells carry down. Every
//! bad cell is reported with its row and column; an import with any bad cell writes nothing.
//! Rows stream from a reader thread into the store in batches, inside one transaction.

use std::borrow::Cow;
use std::collections::HashMap;
use std::collections::hash_map::Entry;
use std::fmt;
use std::path::Path;

use chrono::{DateTime, Utc};

use crate::core::ledger::parse;
use crate::core::ledger::{Deadline, LedgerLine, Status};
use crate::core::text::Language;
use crate::store::{ImportOutcome, Store, StoreError};

pub mod source;

use source::{Cell, Flow, RowVisitor};

/// How many rows of a sheet are searched for the header.
const HEADER_SEARCH_ROWS: u32 = 30;

/// Lines per batch handed to the store.
pub const BATCH_LINES: usize = 2000;

/// Deadline texts a reader remembers how it read ([`DeadlineMemo`]).
const DEADLINES_REMEMBERED: usize = 4096;

/// What each deadline text read as, for the texts seen first, up to
/// [`DEADLINES_REMEMBERED`]. A ledger writes the same few deadlines over and over (每月底,
/// 2024年6月底前, 长期坚持), and reading one took 4,400 instructions (callgrind, on the
/// bench's ledger: seven forms over 900 days); looking it up takes a hash of the text. Texts
/// that do not read are not kept: their error names the row.
#[derive(Default)]
struct DeadlineMemo(rustc_hash::FxHashMap<String, Deadline>);

impl DeadlineMemo {
    /// What `text` reads as, as [`parse::deadline`] reads it.
    fn read(&mut self, text: &str) -> Result<Deadline, parse::DeadlineError> {
        if let Some(deadline) = self.0.get(text) {
            return Ok(*deadline);
        }
        let deadline = parse::deadline(text)?;
        if self.0.len() < DEADLINES_REMEMBERED {
            self.0.insert(text.to_owned(), deadline);
        }
        Ok(deadline)
    }
}

/// A bad cell: where it is and what is wrong.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CellProblem {
    /// The row, counted from 1 as spreadsheets show it.
    pub row: u32,
    /// The column's header as the file writes it.
    pub column: String,
    /// What is wrong, quoting the cell.
    pub problem: Problem,
}

impl CellProblem {
    /// The problem with its row and column, in `language`: "第7行，完成时限列：……" or
    /// "row 7, column 完成时限: …".
    pub fn text(&self, language: Language) -> String {
        match language {
            Language::Zh if self.row == 0 => self.problem.text(language),
            Language::Zh => format!(
                "第{}行，{}列：{}",
                self.row,
                self.column,
                self.problem.text(language)
            ),
            Language::En => self.to_string(),
        }
    }
}

impl fmt::Display for CellProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "row {}, column {}: {}",
            self.row, self.column, self.problem
        )
    }
}

/// What is wrong with a cell.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Problem {
    /// A needed cell is empty.
    #[error("{} ({}) is empty", .0.header(), .0.english())]
    Empty(Column),
    /// The 序号 cell holds something that is no code.
    #[error("cannot read {0:?} as a code")]
    Code(String),
    /// Two rows give the same code.
    #[error("code {code:?} is already used in row {first}; codes must be unique")]
    DuplicateCode {
        /// The code.
        code: String,
        /// The row that used it first.
        first: u32,
    },
    /// The deadline cannot be read.
    #[error("{0}")]
    Deadline(parse::DeadlineError),
    /// The deadline cell holds neither text, a number nor a date.
    #[error("cannot read {0:?} as a deadline")]
    DeadlineCell(String),
    /// The status is none duban knows.
    #[error("{0}")]
    Status(crate::core::ledger::UnknownStatus),
    /// The header lacks a needed column.
    #[error("the header has no {} column", .0.header())]
    MissingColumn(Column),
    /// The database stopped taking rows.
    #[error("the writer stopped")]
    WriterStopped,
    /// A needed cell is a formula whose result the file does not keep.
    #[error(
        "{} ({}) is a formula whose result the file does not keep: open the file in Excel or WPS, save it, and import it again",
        .0.header(), .0.english()
    )]
    Uncalculated(Column),
}

impl Problem {
    /// The problem in words, in `language`.
    pub fn text(&self, language: Language) -> String {
        if language == Language::En {
            return self.to_string();
        }
        match self {
            Problem::Empty(column) => format!("{}为空", column.header()),
            Problem::Code(text) => format!("无法识别“{text}”为序号"),
            Problem::DuplicateCode { code, first } => {
                format!("序号“{code}”已在第{first}行使用，序号不能重复")
            }
            Problem::Deadline(e) => e.text(language),
            Problem::DeadlineCell(text) => format!("无法识别“{text}”为完成时限"),
            Problem::Status(e) => format!(
                "无法识别状态“{}”（可填未启动、推进中、申请销号、已销号）",
                e.0
            ),
            Problem::MissingColumn(column) => format!("表头缺少“{}”列", column.header()),
            Problem::WriterStopped => "数据库停止写入".to_string(),
            Problem::Uncalculated(column) => format!(
                "{}是公式，但文件中没有保存计算结果（请在Excel或WPS中打开该文件、保存后再导入）",
                column.header()
            ),
        }
    }
}

/// Why an import failed. Nothing was written in any case.
#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    /// The file cannot be opened or is not a readable workbook.
    #[error("cannot read {path}: {message}")]
    Open {
        /// The file.
        path: String,
        /// What the reader said.
        message: String,
    },
    /// The file is not there.
    #[error("cannot read {0}: there is no such file")]
    NotFound(String),
    /// The extension names no format duban reads.
    #[error("cannot import {0}: use an .xlsx, .xls, .ods or .csv file")]
    Format(String),
    /// `--sheet` names a sheet the file does not have.
    #[error("no sheet named {sheet:?}; the file has: {}", .sheets.join(", "))]
    NoSheet {
        /// The sheet asked for.
        sheet: String,
        /// The sheets the file has.
        sheets: Vec<String>,
    },
    /// No sheet has a header row with the needed columns.
    #[error(
        "no header row found in the first {HEADER_SEARCH_ROWS} rows of {}: a header needs a 整改措施 (measure) column \
         and at least two of 序号, 牵头单位, 完成时限, 问题, 责任单位, 责任领导, 状态",
        if .0.is_empty() { "the file".to_string() } else { format!("sheet(s) {}", .0.join(", ")) }
    )]
    NoHeader(Vec<String>),
    /// The file, or a part of it unpacked, is larger than `import.max_megabytes`.
    #[error(
        "cannot import {path}: {} is larger than {limit_megabytes} MB (import.max_megabytes)",
        match .part { Some(part) => format!("its part {part}, unpacked,"), None => "the file".to_string() }
    )]
    TooLarge {
        /// The file.
        path: String,
        /// The part of an .xlsx or .ods file, when it is one part.
        part: Option<String>,
        /// The limit.
        limit_megabytes: u64,
    },
    /// A part of an .xlsx or .ods file is damaged: it unpacks to more than it declares, or
    /// fails its checksum.
    #[error("cannot import {path}: its part {part} is damaged ({message}); nothing was imported")]
    DamagedPart {
        /// The file.
        path: String,
        /// The part.
        part: String,
        /// What the archive reader said.
        message: String,
    },
    /// A cell holds more characters than Excel allows in one.
    #[error(
        "sheet {sheet}, row {row}, column {column}: the cell holds {chars} characters, more than Excel's {} per cell; nothing was imported",
        source::MAX_CELL_CHARS
    )]
    CellTooLong {
        /// The sheet.
        sheet: String,
        /// The row, from 1.
        row: u32,
        /// The column's letters.
        column: String,
        /// How many characters it holds.
        chars: usize,
    },
    /// Cells that cannot be read; every one is listed.
    #[error("{} problem(s) in the ledger; nothing was imported:\n{}", .0.len(), list(.0))]
    Cells(Vec<CellProblem>),
    /// The database failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl ImportError {
    /// The error in words, in `language`; every bad cell on a line of its own.
    pub fn text(&self, language: Language) -> String {
        if language == Language::En {
            return self.to_string();
        }
        match self {
            // The reader's own words are English; the office reads what it can do about it.
            ImportError::Open { path, .. } => format!(
                "无法读取“{path}”：文件已损坏，或不是其扩展名所示的格式（请在 Excel 或 WPS 中打开后另存为 .xlsx 再导入）"
            ),
            ImportError::NotFound(path) => format!("找不到文件“{path}”"),
            ImportError::Format(path) => {
                format!("无法导入{path}：请使用 .xlsx、.xls、.ods 或 .csv 文件")
            }
            ImportError::NoSheet { sheet, sheets } => {
                format!(
                    "没有名为“{sheet}”的工作表；文件中的工作表：{}",
                    sheets.join("、")
                )
            }
            ImportError::NoHeader(sheets) => format!(
                "在{}的前{HEADER_SEARCH_ROWS}行中没有找到表头：表头须有“整改措施”列，并至少有序号、牵头单位、完成时限、问题、责任单位、责任领导、状态中的两列",
                if sheets.is_empty() {
                    "文件".to_string()
                } else {
                    format!("工作表{}", sheets.join("、"))
                }
            ),
            ImportError::Cells(problems) => format!(
                "台账中有{}处问题，未导入任何内容：\n{}",
                problems.len(),
                problems
                    .iter()
                    .map(|p| format!("  {}", p.text(language)))
                    .collect::<Vec<_>>()
                    .join("\n")
            ),
            ImportError::TooLarge {
                path,
                part,
                limit_megabytes,
            } => match part {
                Some(part) => format!(
                    "无法导入“{path}”：其中的{part}解压后超过{limit_megabytes}MB（import.max_megabytes），未导入任何内容"
                ),
                None => format!(
                    "无法导入“{path}”：文件超过{limit_megabytes}MB（import.max_megabytes），未导入任何内容"
                ),
            },
            ImportError::DamagedPart { path, part, .. } => format!(
                "无法导入“{path}”：其中的{part}已损坏（解压后的内容与文件记录的大小或校验值不符），未导入任何内容"
            ),
            ImportError::CellTooLong {
                sheet,
                row,
                column,
                chars,
            } => format!(
                "工作表{sheet}第{row}行{column}列：单元格有{chars}个字符，超过Excel每格{}个字符的上限，未导入任何内容",
                source::MAX_CELL_CHARS
            ),
            ImportError::Store(e) => format!("数据库：{e}"),
        }
    }
}

fn list(problems: &[CellProblem]) -> String {
    problems
        .iter()
        .map(|p| format!("  {p}"))
        .collect::<Vec<_>>()
        .join("\n")
}

/// The columns duban understands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Column {
    /// 序号.
    Code,
    /// 方面.
    Aspect,
    /// 问题.
    Problem,
    /// 整改措施.
    Content,
    /// 整改目标.
    Target,
    /// 责任领导.
    Leader,
    /// 牵头单位.
    LeadUnit,
    /// 责任单位.
    Units,
    /// 完成时限.
    Deadline,
    /// 整改进展.
    Progress,
    /// 状态.
    Status,
}

impl Column {
    /// The canonical Chinese header, as duban writes it.
    pub fn header(self) -> &'static str {
        match self {
            Column::Code => "序号",
            Column::Aspect => "方面",
            Column::Problem => "问题",
            Column::Content => "整改措施",
            Column::Target => "整改目标",
            Column::Leader => "责任领导",
            Column::LeadUnit => "牵头单位",
            Column::Units => "责任单位",
            Column::Deadline => "完成时限",
            Column::Progress => "整改进展",
            Column::Status => "状态",
        }
    }

    /// The English name.
    pub fn english(self) -> &'static str {
        match self {
            Column::Code => "code",
            Column::Aspect => "aspect",
            Column::Problem => "problem",
            Column::Content => "measure",
            Column::Target => "target",
            Column::Leader => "leader",
            Column::LeadUnit => "lead unit",
            Column::Units => "responsible units",
            Column::Deadline => "deadline",
            Column::Progress => "progress",
            Column::Status => "status",
        }
    }

    /// The names a header may have, exactly (after normalizing).
    fn names(self) -> &'static [&'static str] {
        match self {
            Column::Code => &[
                "序号",
                "编号",
                "措施编号",
                "序列号",
                "no",
                "no.",
                "code",
                "id",
                "#",
            ],
            Column::Aspect => &["方面", "所属方面", "问题类别", "类别", "aspect", "category"],
            Column::Problem => &[
                "问题",
                "存在问题",
                "问题清单",
                "反馈问题",
                "具体问题",
                "主要问题",
                "问题描述",
                "problem",
                "issue",
            ],
            Column::Content => &[
                "整改措施",
                "措施",
                "具体措施",
                "整改任务",
                "任务",
                "任务清单",
                "measure",
                "measures",
                "content",
                "action",
            ],
            Column::Target => &["整改目标", "目标", "预期目标", "整改要求", "target", "goal"],
            Column::Leader => &[
                "责任领导",
                "牵头领导",
                "分管领导",
                "领导",
                "leader",
                "responsible leader",
            ],
            Column::LeadUnit => &[
                "牵头单位",
                "牵头部门",
                "主责单位",
                "lead unit",
                "lead_unit",
                "lead",
            ],
            Column::Units => &[
                "责任单位",
                "配合单位",
                "责任部门",
                "协同单位",
                "参与单位",
                "units",
                "responsible units",
            ],
            Column::Deadline => &[
                "完成时限",
                "整改时限",
                "时限",
                "完成时间",
                "截止时间",
                "完成期限",
                "deadline",
                "due",
                "due date",
            ],
            Column::Progress => &[
                "整改进展",
                "进展情况",
                "进展",
                "整改情况",
                "完成情况",
                "progress",
            ],
            Column::Status => &[
                "状态",
                "整改状态",
                "完成状态",
                "销号情况",
                "是否销号",
                "status",
            ],
        }
    }

    /// Words that identify the column inside a longer header, such as 整改完成时限.
    fn keywords(self) -> &'static [&'static str] {
        match self {
            Column::LeadUnit => &["牵头单位", "牵头部门"],
            Column::Units => &["责任单位", "配合单位", "责任部门"],
            Column::Leader => &["责任领导", "牵头领导"],
            Column::Deadline => &["时限", "完成时间", "deadline"],
            Column::Progress => &["进展"],
            Column::Status => &["状态"],
            Column::Content => &["整改措施", "措施"],
            Column::Target => &["目标"],
            Column::Problem => &["问题"],
            Column::Aspect => &["方面"],
            Column::Code => &["序号"],
        }
    }

    /// Every column, in the order duban writes them.
    pub const ALL: [Column; 11] = [
        Column::Code,
        Column::Aspect,
        Column::Problem,
        Column::Content,
        Column::Target,
        Column::Leader,
        Column::LeadUnit,
        Column::Units,
        Column::Deadline,
        Column::Progress,
        Column::Status,
    ];

    /// Columns an import cannot do without.
    const REQUIRED: [Column; 4] = [
        Column::Code,
        Column::Content,
        Column::LeadUnit,
        Column::Deadline,
    ];
}

fn header_key(text: &str) -> String {
    let mut norm = parse::normalize(text).to_lowercase();
    // Drop a trailing note in brackets: 完成时限(年月日), 责任单位(牵头单位列首位).
    if let Some(i) = norm.find(['(', '[', '（']) {
        norm.truncate(i);
    }
    norm.trim_matches(['*', ':', ':']).to_string()
}

/// Maps a row to columns when it looks like a header: at least three known columns, one of
/// them 整改措施. Exact names win over keywords; the first column of a kind wins. A text that
/// fills several cells (a merged title) counts once, so a title that names columns is no
/// header.
fn header_map(cells: &[Cell<'_>]) -> Option<HashMap<Column, (usize, String)>> {
    let mut map: HashMap<Column, (usize, String)> = HashMap::new();
    let mut keys: Vec<(usize, String, String)> = Vec::new();
    let mut filled = 0;
    for (i, cell) in cells.iter().enumerate() {
        let Cell::Text(text) = cell else { continue };
        let raw = text.trim();
        if raw.is_empty() {
            continue;
        }
        filled += 1;
        if !keys.iter().any(|(_, _, seen)| seen == raw) {
            keys.push((i, header_key(raw), raw.to_string()));
        }
    }
    // One text over most of the row is a merged title, whatever words it uses.
    if keys.len() * 2 <= filled {
        return None;
    }
    let mut taken = vec![false; cells.len()];
    for (i, key, raw) in &keys {
        if let Some(col) = Column::ALL
            .into_iter()
            .find(|c| c.names().iter().any(|n| header_key(n) == *key))
            && !map.contains_key(&col)
        {
            map.insert(col, (*i, raw.clone()));
            taken[*i] = true;
        }
    }
    for (i, key, raw) in &keys {
        if taken[*i] {
            continue;
        }
        let found = Column::ALL.into_iter().find(|c| {
            !map.contains_key(c) && c.keywords().iter().any(|k| key.contains(&header_key(k)))
        });
        if let Some(col) = found {
            map.insert(col, (*i, raw.clone()));
            taken[*i] = true;
        }
    }
    if map.len() >= 3 && map.contains_key(&Column::Content) {
        return Some(map);
    }
    None
}

/// The required columns a header lacks.
fn missing_columns(map: &HashMap<Column, (usize, String)>) -> Vec<Column> {
    Column::REQUIRED
        .into_iter()
        .filter(|c| !map.contains_key(c))
        .collect()
}

/// A two-row header as one row: where the lower row names a column (牵头单位 and 配合单位
/// under a merged 责任单位), its name wins.
fn combine_header_rows<'a>(upper: &[Cell<'a>], lower: &[Cell<'a>]) -> Vec<Cell<'a>> {
    (0..upper.len().max(lower.len()))
        .map(|i| match lower.get(i) {
            Some(cell) if !cell.is_blank() && cell != upper.get(i).unwrap_or(&Cell::Empty) => {
                cell.clone()
            }
            _ => upper.get(i).cloned().unwrap_or_default(),
        })
        .collect()
}

/// A non-fatal remark about the file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Warning {
    /// 逾期 in the 状态 column: duban computes it, so the row reads as 推进中.
    OverdueStatus {
        /// The row.
        row: u32,
        /// The cell as written.
        text: String,
    },
    /// A merged area reached past the sheet's data (a whole column merged, or
    /// `I30:XFD1048576`): it was read as far as the data goes.
    MergeClipped {
        /// The sheet.
        sheet: String,
        /// The area as the file gives it.
        area: String,
        /// The part of it read, or none when it lay wholly outside the data.
        kept: Option<String>,
    },
}

impl Warning {
    /// The remark in words, in `language`.
    pub fn text(&self, language: Language) -> String {
        match (self, language) {
            (Warning::MergeClipped { sheet, area, kept }, Language::Zh) => match kept {
                Some(kept) => format!("工作表{sheet}的合并区域{area}超出数据范围，按{kept}读取"),
                None => format!("工作表{sheet}的合并区域{area}在数据范围之外，已忽略"),
            },
            (Warning::MergeClipped { sheet, area, kept }, Language::En) => match kept {
                Some(kept) => format!(
                    "sheet {sheet}: the merged area {area} reaches past the data; read as {kept}"
                ),
                None => {
                    format!("sheet {sheet}: the merged area {area} lies outside the data; ignored")
                }
            },
            (Warning::OverdueStatus { row, text }, Language::Zh) => format!(
                "第{row}行：状态“{text}”由duban根据完成时限计算，不单独记录，按“推进中”读取"
            ),
            (Warning::OverdueStatus { row, text }, Language::En) => format!(
                "row {row}: 状态 {text:?} is computed by duban from the deadline, not stored; read as 推进中"
            ),
        }
    }
}

/// Reads rows into ledger lines: finds the header, carries merged problems down, checks every
/// cell. Pure: it sees rows, never files.
pub struct LedgerReader {
    sheet: String,
    only_sheet: Option<String>,
    columns: Option<HashMap<Column, (usize, String)>>,
    /// Where each column's cell is in a row, by the column's place in [`Column::ALL`], once
    /// the header is found.
    slots: [Option<usize>; Column::ALL.len()],
    /// A row that looked like a header but lacked required columns: its number, its cells,
    /// and what it lacked. The next row may complete it (a two-row header).
    candidate: Option<(u32, Vec<Cell<'static>>, Vec<Column>)>,
    aspect: Option<String>,
    problem: Option<String>,
    codes: rustc_hash::FxHashMap<String, u32>,
    deadlines: DeadlineMemo,
    batch: Vec<LedgerLine>,
    /// Every bad cell so far.
    pub problems: Vec<CellProblem>,
    /// Remarks that do not stop the import.
    pub warnings: Vec<Warning>,
    /// Measure rows read so far.
    pub lines_read: usize,
    /// The years the deadlines fall in, to check the calendar covers them.
    pub deadline_years: std::collections::BTreeSet<i32>,
    sheets_seen: Vec<String>,
    /// The needed columns of the row being read whose cell is a formula without its result.
    uncalculated: Vec<Column>,
    /// The receiver of batches stopped listening: nothing more is read.
    stopped: bool,
    /// Batches the receiver is done with, to be emptied here and filled again (see
    /// [`LedgerReader::recycling`]).
    written: Option<std::sync::mpsc::Receiver<Vec<LedgerLine>>>,
    /// Lines of written batches, whose strings the next lines are written over.
    spare: Vec<LedgerLine>,
    on_batch: Box<dyn FnMut(Vec<LedgerLine>) -> bool + Send>,
}

impl LedgerReader {
    /// A reader that hands each full batch to `on_batch`, which returns false to stop
    /// the reading. Once a cell is bad, it is handed empty batches (the lines are then only
    /// checked). `sheet` limits it to one sheet.
    pub fn new(
        sheet: Option<String>,
        on_batch: Box<dyn FnMut(Vec<LedgerLine>) -> bool + Send>,
    ) -> LedgerReader {
        LedgerReader {
            sheet: String::new(),
            only_sheet: sheet,
            columns: None,
            slots: [None; Column::ALL.len()],
            candidate: None,
            aspect: None,
            problem: None,
            codes: rustc_hash::FxHashMap::default(),
            deadlines: DeadlineMemo::default(),
            batch: Vec::with_capacity(BATCH_LINES),
            problems: Vec::new(),
            warnings: Vec::new(),
            lines_read: 0,
            deadline_years: std::collections::BTreeSet::new(),
            sheets_seen: Vec::new(),
            uncalculated: Vec::new(),
            stopped: false,
            written: None,
            spare: Vec::new(),
            on_batch,
        }
    }

    /// The same reader, taking back from `written` the batches it handed out once they are
    /// written: the next lines are written over their lines' strings, and what is freed is
    /// freed on this thread, where it was allocated, and a batch's room is filled again
    /// (writing over a line's strings instead of making new ones: 678,000 → 587,000 Rust
    /// allocations in a 20,000-measure import, about 4.5 fewer a line, and 3 % fewer
    /// instructions). Freed on the writing thread instead, each of a batch's
    /// ~30,000 strings locked this thread's memory arena against its own allocations, and
    /// every new batch's 600 kB made the allocator sweep its free lists (together about an
    /// eighth of the writing thread's time and a twentieth of this one's on a 100,000-measure
    /// import).
    pub fn recycling(mut self, written: std::sync::mpsc::Receiver<Vec<LedgerLine>>) -> Self {
        self.written = Some(written);
        self
    }

    /// Whether a header was found.
    pub fn found_header(&self) -> bool {
        self.columns.is_some()
    }

    /// The error to give when no sheet had a header.
    pub fn no_header_error(&self) -> ImportError {
        if let Some(sheet) = &self.only_sheet
            && !self.sheets_seen.contains(sheet)
        {
            return ImportError::NoSheet {
                sheet: sheet.clone(),
                sheets: self.sheets_seen.clone(),
            };
        }
        ImportError::NoHeader(self.sheets_seen.clone())
    }

    fn flush(&mut self) {
        if self.batch.is_empty() {
            return;
        }
        let mut room = None;
        // Every spare line was made for a batch once, and a new one is made only when none
        // is spare: the lines in batches and spare together never outnumber those the
        // batches waiting to be written held at most.
        for mut written in self.written.iter().flat_map(|w| w.try_iter()) {
            self.spare.append(&mut written);
            room = Some(written);
        }
        let room = room.unwrap_or_else(|| Vec::with_capacity(BATCH_LINES));
        let batch = std::mem::replace(&mut self.batch, room);
        // Once a cell is bad the lines are only checked: the receiver gets none, but is
        // still asked whether it listens.
        let batch = if self.problems.is_empty() {
            batch
        } else {
            Vec::new()
        };
        if !self.stopped && !(self.on_batch)(batch) {
            self.stopped = true;
            self.problems.push(CellProblem {
                row: 0,
                column: String::new(),
                problem: Problem::WriterStopped,
            });
        }
    }

    /// Hands over the last partial batch and lets go of the receiver of batches. When no
    /// header was found but a row came close, its missing columns become the problems.
    pub fn finish(&mut self) {
        if self.columns.is_none()
            && let Some((row, _, missing)) = self.candidate.take()
        {
            for column in missing {
                self.problems.push(CellProblem {
                    row,
                    column: column.header().to_string(),
                    problem: Problem::MissingColumn(column),
                });
            }
        }
        self.flush();
        self.on_batch = Box::new(|_| false);
    }

    fn problem(&mut self, row: u32, column: Column, problem: Problem) {
        // A formula without its result reads as empty; the office hears which it is.
        let problem = match problem {
            Problem::Empty(c) if self.uncalculated.contains(&c) => Problem::Uncalculated(c),
            other => other,
        };
        let name = self
            .columns
            .as_ref()
            .and_then(|m| m.get(&column))
            .map_or_else(|| column.header().to_string(), |(_, raw)| raw.clone());
        self.problems.push(CellProblem {
            row,
            column: name,
            problem,
        });
    }

    /// Takes `map` as the sheet's header.
    fn set_columns(&mut self, map: HashMap<Column, (usize, String)>) {
        for (slot, column) in self.slots.iter_mut().zip(Column::ALL) {
            *slot = map.get(&column).map(|(i, _)| *i);
        }
        self.columns = Some(map);
    }

    fn cell<'c, 'v>(&self, cells: &'c [Cell<'v>], column: Column) -> &'c Cell<'v> {
        const EMPTY: &Cell<'static> = &Cell::Empty;
        self.slots[column as usize]
            .and_then(|i| cells.get(i))
            .unwrap_or(EMPTY)
    }

    /// The text of `column`'s cell, borrowed where cleaning leaves it as it is; `None` when
    /// the cell is blank.
    fn text<'c>(&self, cells: &'c [Cell<'_>], column: Column) -> Option<Cow<'c, str>> {
        let cell = self.cell(cells, column);
        if cell.is_blank() {
            return None;
        }
        Some(cell.shown())
    }

    fn read_line(&mut self, row: u32, cells: &[Cell<'_>]) {
        self.uncalculated.clear();
        for column in [
            Column::Code,
            Column::Content,
            Column::LeadUnit,
            Column::Deadline,
        ] {
            if *self.cell(cells, column) == Cell::Uncalculated {
                self.uncalculated.push(column);
            }
        }
        let code_cell = self.cell(cells, Column::Code);
        let content = self.text(cells, Column::Content);
        // A heading merged across the row fills every cell with one text. A row with no
        // measure, lead unit or deadline is a heading, a note or a total. Neither is a measure.
        let mut filled = cells.iter().filter(|c| !c.is_blank());
        let first = filled.next();
        let mut others = 0;
        let mut alike = true;
        for cell in filled {
            others += 1;
            alike = alike && Some(cell) == first;
        }
        let merged_heading = others > 0 && alike;
        let has_measure = content.is_some()
            || !self.cell(cells, Column::LeadUnit).is_blank()
            || !self.cell(cells, Column::Deadline).is_blank();
        if merged_heading || !has_measure {
            if let Some(heading) = first
                && alike
            {
                self.heading(heading.display());
            }
            return;
        }
        self.lines_read += 1;
        let before = self.problems.len();
        let mut line = self.spare.pop().unwrap_or_else(blank_line);
        let code = match code_cell {
            Cell::Text(t) if !t.trim().is_empty() => parse::code(t),
            Cell::Number(n) => parse::code_number(*n),
            Cell::Empty | Cell::Uncalculated | Cell::Text(_) => {
                self.problem(row, Column::Code, Problem::Empty(Column::Code));
                String::new()
            }
            other => {
                self.problem(row, Column::Code, Problem::Code(other.display()));
                String::new()
            }
        };
        code.clone_into(&mut line.code);
        if !code.is_empty() {
            match self.codes.entry(code) {
                Entry::Vacant(free) => {
                    free.insert(row);
                }
                Entry::Occupied(used) => {
                    let first = *used.get();
                    let code = used.key().clone();
                    self.problem(row, Column::Code, Problem::DuplicateCode { code, first });
                }
            }
        }
        if content.is_none() {
            self.problem(row, Column::Content, Problem::Empty(Column::Content));
        }
        // Merged 方面 and 问题 cells repeat on every row they span: a copy is made only when
        // the text changes.
        if let Some(aspect) = self.text(cells, Column::Aspect)
            && self.aspect.as_deref() != Some(&*aspect)
        {
            self.problem = None;
            self.aspect = Some(aspect.into_owned());
        }
        if let Some(problem) = self.text(cells, Column::Problem)
            && self.problem.as_deref() != Some(&*problem)
        {
            self.problem = Some(problem.into_owned());
        }
        // The first lead unit leads; the others are responsible units, before those of the
        // 责任单位 column. Names are written over the spare line's strings.
        let lead_text = self.text(cells, Column::LeadUnit).unwrap_or_default();
        let leads = parse::write_units(&lead_text, &mut line.units, 0);
        let mut units = 0;
        if leads == 0 {
            self.problem(row, Column::LeadUnit, Problem::Empty(Column::LeadUnit));
            line.lead_unit.clear();
        } else {
            std::mem::swap(&mut line.lead_unit, &mut line.units[0]);
            line.units[..leads].rotate_left(1);
            units = leads - 1;
        }
        let units_text = self.text(cells, Column::Units).unwrap_or_default();
        units = parse::write_units(&units_text, &mut line.units, units);
        line.units.truncate(units);
        // 责任领导 cells split into people's names as unit cells split into units.
        let leader_text = self.text(cells, Column::Leader).unwrap_or_default();
        let leaders = parse::write_units(&leader_text, &mut line.leaders, 0);
        line.leaders.truncate(leaders);
        let deadline_cell = self.cell(cells, Column::Deadline);
        let deadline = match deadline_cell {
            Cell::Date(d) => parse::deadline_date(*d).map_err(Problem::Deadline),
            Cell::Number(n) => parse::deadline_number(*n).map_err(Problem::Deadline),
            Cell::Text(t) => self.deadlines.read(t).map_err(Problem::Deadline),
            Cell::Empty | Cell::Uncalculated => Err(Problem::Empty(Column::Deadline)),
            other => Err(Problem::DeadlineCell(other.display())),
        };
        let deadline = deadline.unwrap_or_else(|problem| {
            self.problem(row, Column::Deadline, problem);
            Deadline::Immediate(None)
        });
        let status = match self.text(cells, Column::Status) {
            None => None,
            Some(text) if names_overdue(&text) => {
                self.warnings.push(Warning::OverdueStatus {
                    row,
                    text: text.into_owned(),
                });
                Some(Status::InProgress)
            }
            Some(text) => match parse::status(&text) {
                Ok(s) => s,
                Err(e) => {
                    self.problem(row, Column::Status, Problem::Status(e));
                    None
                }
            },
        };
        if self.problems.len() > before {
            self.spare.push(line);
            return;
        }
        if let Some(date) = deadline.date() {
            self.deadline_years.insert(chrono::Datelike::year(&date));
        }
        line.row = row;
        line.aspect.clone_from(&self.aspect);
        line.problem.clone_from(&self.problem);
        content
            .as_deref()
            .unwrap_or_default()
            .clone_into(&mut line.content);
        write_over_optional(
            &mut line.target,
            self.text(cells, Column::Target).as_deref(),
        );
        line.deadline = deadline;
        deadline_cell
            .shown()
            .as_ref()
            .clone_into(&mut line.deadline_text);
        write_over_optional(
            &mut line.progress,
            self.text(cells, Column::Progress).as_deref(),
        );
        line.status = status;
        self.batch.push(line);
        if self.batch.len() >= BATCH_LINES {
            self.flush();
        }
    }

    /// A heading row: (一)/(1) headings name a problem, other headings an aspect, where the
    /// ledger has no column for them.
    fn heading(&mut self, text: String) {
        let sub = text.starts_with(['(', '\u{FF08}']);
        if sub && !self.has(Column::Problem) {
            self.problem = Some(text);
            return;
        }
        if !sub && !self.has(Column::Aspect) {
            self.aspect = Some(text);
            self.problem = None;
        }
    }

    /// Whether a row repeats the header (as printed ledgers do on every page): its 整改措施
    /// and 牵头单位 cells hold the header's own words.
    fn repeats_header(&self, cells: &[Cell<'_>]) -> bool {
        let Some(columns) = &self.columns else {
            return false;
        };
        [Column::Content, Column::LeadUnit].iter().all(|column| {
            columns.get(column).is_some_and(
                |(i, raw)| matches!(cells.get(*i), Some(Cell::Text(t)) if t.trim() == raw.as_str()),
            )
        })
    }

    fn has(&self, column: Column) -> bool {
        self.columns
            .as_ref()
            .is_some_and(|m| m.contains_key(&column))
    }
}

/// A line with nothing in it yet, for [`LedgerReader`] to write a row over.
fn blank_line() -> LedgerLine {
    LedgerLine {
        row: 0,
        code: String::new(),
        aspect: None,
        problem: None,
        content: String::new(),
        target: None,
        leaders: Vec::new(),
        lead_unit: String::new(),
        units: Vec::new(),
        deadline: Deadline::Immediate(None),
        deadline_text: String::new(),
        progress: None,
        status: None,
    }
}

/// Writes `text` over `slot`, keeping its room when both hold text.
fn write_over_optional(slot: &mut Option<String>, text: Option<&str>) {
    match (slot.as_mut(), text) {
        (Some(kept), Some(text)) => text.clone_into(kept),
        (_, text) => *slot = text.map(str::to_string),
    }
}

impl RowVisitor for LedgerReader {
    fn start_sheet(&mut self, name: &str) {
        self.sheet = name.to_string();
        self.sheets_seen.push(name.to_string());
    }

    fn row(&mut self, row: u32, cells: &[Cell<'_>]) -> Flow {
        if self.stopped {
            return Flow::Stop;
        }
        if self.only_sheet.as_ref().is_some_and(|s| *s != self.sheet) {
            return Flow::SkipSheet;
        }
        if self.columns.is_some() {
            if !self.repeats_header(cells) {
                self.read_line(row, cells);
            }
            return Flow::Continue;
        }
        let below = self
            .candidate
            .as_ref()
            .filter(|(r, _, _)| *r + 1 == row)
            .and_then(|(_, upper, _)| header_map(&combine_header_rows(upper, cells)));
        let alone = header_map(cells);
        for map in [below, alone].into_iter().flatten() {
            if missing_columns(&map).is_empty() {
                self.set_columns(map);
                self.candidate = None;
                return Flow::Continue;
            }
        }
        if let Some(map) = header_map(cells) {
            let missing = missing_columns(&map);
            let better = self
                .candidate
                .as_ref()
                .is_none_or(|(_, _, m)| missing.len() <= m.len());
            if better {
                let owned = cells.iter().cloned().map(Cell::into_owned).collect();
                self.candidate = Some((row, owned, missing));
            }
        }
        if row >= HEADER_SEARCH_ROWS {
            return Flow::SkipSheet;
        }
        Flow::Continue
    }

    fn end_sheet(&mut self) -> Flow {
        if self.columns.is_some() {
            return Flow::Stop;
        }
        Flow::Continue
    }

    fn merge_clipped(&mut self, area: &str, kept: Option<&str>) {
        if self.only_sheet.as_ref().is_some_and(|s| *s != self.sheet) {
            return;
        }
        self.warnings.push(Warning::MergeClipped {
            sheet: self.sheet.clone(),
            area: area.to_string(),
            kept: kept.map(str::to_string),
        });
    }
}

/// Whether a status cell says 逾期 (overdue), which duban computes rather than stores. Only
/// a cell that could say it is normalized.
fn names_overdue(text: &str) -> bool {
    let could = text.contains('逾') || text.contains(['o', 'O', '\u{FF4F}', '\u{FF2F}']);
    could && ["逾期", "已逾期", "overdue"].contains(&parse::normalize(text).to_lowercase().as_str())
}

/// The result of an import: what the store did, plus the reader's remarks.
#[derive(Debug, Clone)]
pub struct ImportReport {
    /// What was written (or would be, on a dry run).
    pub outcome: ImportOutcome,
    /// Remarks that did not stop the import.
    pub warnings: Vec<Warning>,
    /// The years the file's deadlines fall in.
    pub deadline_years: std::collections::BTreeSet<i32>,
    /// Whether it was a dry run.
    pub dry_run: bool,
}

/// Options of an import.
#[derive(Debug, Clone)]
pub struct ImportOptions {
    /// Check and report, but write nothing.
    pub dry_run: bool,
    /// Read only this sheet.
    pub sheet: Option<String>,
    /// Who imports, for the history.
    pub actor: String,
    /// When.
    pub at: DateTime<Utc>,
    /// Called with the number of measure rows read so far, every few thousand rows.
    pub progress: Option<fn(usize)>,
    /// A file, or a part of an .xlsx unpacked, larger than this is refused
    /// (`import.max_megabytes`).
    pub max_megabytes: u64,
}

/// Imports `path` into `store`: all or nothing.
pub async fn import_file(
    store: &Store,
    path: &Path,
    options: ImportOptions,
) -> Result<ImportReport, ImportError> {
    Reading::start(path, options).import_into(store).await
}

/// A ledger file being read and checked on a thread of its own, its lines waiting in
/// batches for the store. Started before the database is open, the reading goes on while it
/// opens (on a new database, while its tables are made). Dropped, it stops the reading.
pub struct Reading {
    file: String,
    options: ImportOptions,
    receiver: tokio::sync::mpsc::Receiver<Vec<LedgerLine>>,
    /// Batches written go back to the reader ([`LedgerReader::recycling`]).
    written: std::sync::mpsc::Sender<Vec<LedgerLine>>,
    reading: tokio::task::JoinHandle<(LedgerReader, Result<(), ImportError>)>,
}

impl Reading {
    /// Starts reading `path` as `options` say. Must be called within a Tokio runtime.
    pub fn start(path: &Path, options: ImportOptions) -> Reading {
        let (sender, receiver) = tokio::sync::mpsc::channel::<Vec<LedgerLine>>(4);
        let reader_path = path.to_path_buf();
        let sheet = options.sheet.clone();
        let progress = options.progress;
        let max_bytes = options.max_megabytes.saturating_mul(1 << 20);
        let (written, done) = std::sync::mpsc::channel::<Vec<LedgerLine>>();
        let reading = tokio::task::spawn_blocking(move || {
            let mut seen = 0usize;
            let on_batch = Box::new(move |batch: Vec<LedgerLine>| {
                if batch.is_empty() {
                    return !sender.is_closed();
                }
                seen += batch.len();
                if let Some(report) = progress {
                    report(seen);
                }
                sender.blocking_send(batch).is_ok()
            });
            let mut reader = LedgerReader::new(sheet, on_batch).recycling(done);
            let result = source::read(&reader_path, &mut reader, max_bytes);
            reader.finish();
            (reader, result)
        });
        Reading {
            file: path.display().to_string(),
            options,
            receiver,
            written,
            reading,
        }
    }

    /// Writes what is read into `store`, in one transaction: all or nothing.
    pub async fn import_into(mut self, store: &Store) -> Result<ImportReport, ImportError> {
        let file = self.file.clone();
        let file_name = Path::new(&file)
            .file_name()
            .map_or(file.clone(), |n| n.to_string_lossy().into_owned());
        let mut writer = store
            .begin_import(&file_name, &self.options.actor, self.options.at)
            .await?;
        let mut write_error = None;
        while let Some(batch) = self.receiver.recv().await {
            if write_error.is_some() {
                continue;
            }
            if let Err(e) = writer.write(&batch).await {
                write_error = Some(e);
            }
            let _ = self.written.send(batch);
        }
        let (mut reader, read_result) =
            (&mut self.reading).await.map_err(|e| ImportError::Open {
                path: file.clone(),
                message: format!("the reader failed: {e}"),
            })?;
        let failure = match (read_result, write_error) {
            (Err(e), _) => Some(e),
            (_, Some(e)) => Some(ImportError::Store(e)),
            _ if !reader.problems.is_empty() => Some(ImportError::Cells(reader.problems.clone())),
            _ if !reader.found_header() => Some(reader.no_header_error()),
            _ => None,
        };
        if let Some(failure) = failure {
            // The original error is what the office needs; a failed rollback only adds to it.
            if let Err(e) = writer.abort().await {
                tracing::warn!("rolling back the failed import: {e}");
            }
            return Err(failure);
        }
        let warnings = std::mem::take(&mut reader.warnings);
        let deadline_years = std::mem::take(&mut reader.deadline_years);
        free_elsewhere(reader);
        let outcome = writer.finish(!self.options.dry_run).await?;
        Ok(ImportReport {
            outcome,
            warnings,
            deadline_years,
            dry_run: self.options.dry_run,
        })
    }
}

/// Frees what a reader kept (every code it saw, the lines of batches handed back) on a
/// thread of its own, while the import commits: on a 100,000-measure import freeing it
/// took 40 ms, which the import's end waited for. If no thread starts, the
/// closure holding the reader is dropped here, and the reader with it.
fn free_elsewhere(reader: LedgerReader) {
    let _ = std::thread::Builder::new()
        .name("duban-free".into())
        .spawn(move || drop(reader));
}

#[cfg(test)]
mod tests;
