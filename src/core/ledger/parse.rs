//! Readers for the cells of a hand-kept ledger: deadlines, unit lists, statuses and codes.
//!
//! Every reader is pure and returns a message that names the bad text; the importer adds
//! the row and column. Full-width digits and punctuation are read like their ASCII forms.

use std::borrow::Cow;

use chrono::{Datelike, Days, NaiveDate};

use super::{Deadline, ReportCycle, Status, UnknownStatus};

/// The Excel 1900 date system's day zero, with Lotus's leap-year bug folded in.
fn excel_epoch() -> NaiveDate {
    NaiveDate::from_ymd_opt(1899, 12, 30).expect("valid date")
}

/// Why a deadline cell cannot be read; [`DeadlineError::text`] says it in either language.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DeadlineError {
    /// The cell is empty.
    #[error("完成时限 (deadline) is empty")]
    Empty,
    /// The text names no deadline duban knows.
    #[error(
        "cannot read {0:?} as a deadline (write a date such as 2024-06-30, 2024年6月底前, or 立行立改 / 长期坚持)"
    )]
    Unreadable(String),
    /// A number that is no date serial, year or year and month.
    #[error("cannot read {0} as a deadline")]
    Number(String),
    /// A date in the text that cannot be: its year out of range, its month or day unknown.
    #[error("cannot read {text:?} as a deadline: {why}")]
    BadDate {
        /// The cell as written.
        text: String,
        /// What is wrong with the date in it.
        why: DateProblem,
    },
    /// A date cell outside 2000–2100.
    #[error("the date {0} is out of range (2000–2100)")]
    OutOfRange(NaiveDate),
    /// Excel turned 2023.10 into 2023.1: the month is 1 or 10.
    #[error(
        "{value} is ambiguous: Excel stores both {year}.1 and {year}.10 as {value}; write {year}-01 or {year}-10"
    )]
    Ambiguous {
        /// The number as Excel stores it.
        value: String,
        /// Its year.
        year: i32,
    },
}

/// What is wrong with a date inside a deadline's text.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DateProblem {
    /// The year lies outside 2000–2100.
    #[error("year {0} is out of range")]
    Year(i32),
    /// There is no such month.
    #[error("month {0} does not exist")]
    Month(u32),
    /// There is no such day in the month.
    #[error("{0:04}-{1:02}-{2:02} does not exist")]
    Day(i32, u32, u32),
}

impl DeadlineError {
    /// The problem in words, in `language`.
    pub fn text(&self, language: crate::core::text::Language) -> String {
        use crate::core::text::Language;
        if language == Language::En {
            return self.to_string();
        }
        match self {
            DeadlineError::Empty => "完成时限为空".to_string(),
            DeadlineError::Unreadable(text) => format!(
                "无法识别“{text}”为完成时限（请写日期，如2024年6月30日、2024年6月底前，或写立行立改、长期坚持）"
            ),
            DeadlineError::Number(text) => format!("无法识别{text}为完成时限"),
            DeadlineError::BadDate { text, why } => {
                let why = match why {
                    DateProblem::Year(year) => format!("年份{year}超出范围（2000—2100年）"),
                    DateProblem::Month(month) => format!("没有{month}月"),
                    DateProblem::Day(y, m, d) => format!("没有{y}年{m}月{d}日这一天"),
                };
                format!("无法识别“{text}”为完成时限：{why}")
            }
            DeadlineError::OutOfRange(date) => format!(
                "日期{}超出范围（2000—2100年）",
                crate::core::text::date(*date, language)
            ),
            DeadlineError::Ambiguous { value, year } => format!(
                "{value}有歧义：Excel把{year}.1和{year}.10都存成{value}，请写成{year}-01或{year}-10"
            ),
        }
    }
}

/// The earliest and latest year a deadline may name; anything outside is surely a typo.
const FIRST_YEAR: i32 = 2000;
const LAST_YEAR: i32 = 2100;

/// Words that mark a long-term measure (长期坚持).
const LONG_TERM_WORDS: [&str; 8] = [
    "长期坚持",
    "持续推进",
    "长期",
    "常态化",
    "持续",
    "long-term",
    "longterm",
    "ongoing",
];

/// Words that mark an immediate measure (立行立改).
const IMMEDIATE_WORDS: [&str; 6] = [
    "立行立改",
    "立即整改",
    "立即",
    "马上",
    "immediately",
    "immediate",
];

/// Replaces full-width digits, letters and punctuation with their ASCII forms and drops
/// whitespace and zero-width characters.
pub fn normalize(text: &str) -> String {
    text.chars()
        .filter_map(|c| match c {
            '\u{FF01}'..='\u{FF5E}' => char::from_u32(c as u32 - 0xFEE0),
            '\u{3000}' | '\u{200B}' | '\u{FEFF}' => None,
            c if c.is_whitespace() => None,
            c => Some(c),
        })
        .collect()
}

/// Reads a deadline cell written as text: dates in the forms offices use, 立行立改, 长期坚持.
///
/// When a cell names several dates ("9月底前初步完成,12月底前全面完成") the latest one is
/// the deadline.
pub fn deadline(text: &str) -> Result<Deadline, DeadlineError> {
    let norm = normalize(text).to_lowercase();
    if norm.is_empty() {
        return Err(DeadlineError::Empty);
    }
    let dates = find_dates(&norm).map_err(|why| DeadlineError::BadDate {
        text: text.to_string(),
        why,
    })?;
    let latest = dates.into_iter().max();
    if IMMEDIATE_WORDS.iter().any(|w| norm.contains(w)) {
        return Ok(Deadline::Immediate(latest));
    }
    if let Some(date) = latest {
        return Ok(Deadline::Date(date));
    }
    if LONG_TERM_WORDS.iter().any(|w| norm.contains(w)) {
        return Ok(Deadline::LongTerm(report_cycle(&norm)));
    }
    if let Some(date) = serial_text(&norm) {
        return Ok(Deadline::Date(date?));
    }
    Err(DeadlineError::Unreadable(text.to_string()))
}

/// Reads a deadline cell that Excel hands over as a number: a date serial such as 45291,
/// a year such as 2024, or a year and month typed as 2023.12.
pub fn deadline_number(value: f64) -> Result<Deadline, DeadlineError> {
    if value.fract() == 0.0 {
        let whole = value as i64;
        if (i64::from(FIRST_YEAR)..=i64::from(LAST_YEAR)).contains(&whole) {
            return Ok(Deadline::Date(year_end(whole as i32)));
        }
        return serial(whole).map(Deadline::Date);
    }
    if value > 3000.0 {
        return serial(value.floor() as i64).map(Deadline::Date);
    }
    let year = value.trunc() as i32;
    let hundredths = value * 100.0;
    if !(FIRST_YEAR..=LAST_YEAR).contains(&year) || (hundredths - hundredths.round()).abs() > 1e-6 {
        return Err(DeadlineError::Number(value.to_string()));
    }
    let month = ((value - value.trunc()) * 100.0).round() as u32;
    if month == 10 {
        return Err(DeadlineError::Ambiguous {
            value: value.to_string(),
            year,
        });
    }
    let month = if month.is_multiple_of(10) {
        month / 10
    } else {
        month
    };
    month_end(year, month)
        .map(Deadline::Date)
        .ok_or_else(|| DeadlineError::Number(value.to_string()))
}

/// Checks a date cell: a deadline outside 2000–2100 is surely a typo.
pub fn deadline_date(date: NaiveDate) -> Result<Deadline, DeadlineError> {
    if !(FIRST_YEAR..=LAST_YEAR).contains(&date.year()) {
        return Err(DeadlineError::OutOfRange(date));
    }
    Ok(Deadline::Date(date))
}

/// Reads an Excel date serial (days since 1899-12-30).
pub fn serial(days: i64) -> Result<NaiveDate, DeadlineError> {
    let date = u64::try_from(days)
        .ok()
        .and_then(|d| excel_epoch().checked_add_days(Days::new(d)));
    match date {
        Some(date) if (FIRST_YEAR..=LAST_YEAR).contains(&date.year()) => Ok(date),
        _ => Err(DeadlineError::Number(days.to_string())),
    }
}

fn serial_text(norm: &str) -> Option<Result<NaiveDate, DeadlineError>> {
    if !norm.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    match norm.len() {
        4 => match deadline_number(norm.parse().ok()?) {
            Ok(Deadline::Date(date)) => Some(Ok(date)),
            _ => None,
        },
        5 => Some(serial(norm.parse().ok()?)),
        _ => None,
    }
}

fn report_cycle(norm: &str) -> Option<ReportCycle> {
    let table = [
        ("每周", ReportCycle::Week),
        ("按周", ReportCycle::Week),
        ("周报", ReportCycle::Week),
        ("weekly", ReportCycle::Week),
        ("每半年", ReportCycle::HalfYear),
        ("半年", ReportCycle::HalfYear),
        ("每季", ReportCycle::Quarter),
        ("按季", ReportCycle::Quarter),
        ("季报", ReportCycle::Quarter),
        ("季度", ReportCycle::Quarter),
        ("quarterly", ReportCycle::Quarter),
        ("每月", ReportCycle::Month),
        ("按月", ReportCycle::Month),
        ("月报", ReportCycle::Month),
        ("monthly", ReportCycle::Month),
        ("每年", ReportCycle::Year),
        ("按年", ReportCycle::Year),
        ("年报", ReportCycle::Year),
        ("yearly", ReportCycle::Year),
        ("annually", ReportCycle::Year),
    ];
    table
        .into_iter()
        .find(|(word, _)| norm.contains(word))
        .map(|(_, cycle)| cycle)
}

fn year_end(year: i32) -> NaiveDate {
    NaiveDate::from_ymd_opt(year, 12, 31).expect("valid date")
}

fn month_end(year: i32, month: u32) -> Option<NaiveDate> {
    let first = NaiveDate::from_ymd_opt(year, month, 1)?;
    let next = first.checked_add_months(chrono::Months::new(1))?;
    next.pred_opt()
}

/// A small cursor over the characters of a normalized cell.
struct Cursor<'a> {
    chars: &'a [char],
    pos: usize,
}

impl Cursor<'_> {
    fn peek(&self) -> Option<char> {
        self.chars.get(self.pos).copied()
    }

    fn eat(&mut self, c: char) -> bool {
        if self.peek() == Some(c) {
            self.pos += 1;
            return true;
        }
        false
    }

    fn eat_any(&mut self, set: &[char]) -> Option<char> {
        let c = self.peek()?;
        if set.contains(&c) {
            self.pos += 1;
            return Some(c);
        }
        None
    }

    fn eat_word(&mut self, word: &str) -> bool {
        let rest = &self.chars[self.pos..];
        let mut len = 0;
        for c in word.chars() {
            if rest.get(len) != Some(&c) {
                return false;
            }
            len += 1;
        }
        self.pos += len;
        true
    }

    fn number(&mut self, max_digits: usize) -> Option<u32> {
        let start = self.pos;
        while self.pos < self.chars.len()
            && self.pos - start < max_digits
            && self.chars[self.pos].is_ascii_digit()
        {
            self.pos += 1;
        }
        if self.pos == start {
            return None;
        }
        self.chars[start..self.pos]
            .iter()
            .try_fold(0u32, |n, c| n.checked_mul(10)?.checked_add(c.to_digit(10)?))
    }

    /// A Chinese or Arabic numeral from 1 to 4, as in 第一季度 / 3季度.
    fn quarter_numeral(&mut self) -> Option<u32> {
        let n = match self.peek()? {
            '一' | '1' => 1,
            '二' | '2' => 2,
            '三' | '3' => 3,
            '四' | '4' => 4,
            _ => return None,
        };
        self.pos += 1;
        Some(n)
    }
}

/// Finds every date a normalized cell names. Each starts at a four-digit year.
fn find_dates(norm: &str) -> Result<Vec<NaiveDate>, DateProblem> {
    let chars: Vec<char> = norm.chars().collect();
    let mut found = Vec::new();
    let mut i = 0;
    while i + 4 <= chars.len() {
        let starts_year = chars[i..i + 4].iter().all(|c| c.is_ascii_digit())
            && (i == 0 || !chars[i - 1].is_ascii_digit())
            && chars.get(i + 4).is_none_or(|c| !c.is_ascii_digit());
        if !starts_year {
            i += 1;
            continue;
        }
        let mut cursor = Cursor {
            chars: &chars,
            pos: i,
        };
        match date_at(&mut cursor)? {
            Some(date) => {
                // 2024年3月起 / 开始 / 以来 marks a start, not a deadline.
                let starts = ["起", "开始", "以来"].iter().any(|w| cursor.eat_word(w));
                if !starts {
                    found.push(date);
                }
                i = cursor.pos;
            }
            None => i += 4,
        }
    }
    Ok(found)
}

/// Reads one date starting at a four-digit year; `None` when the year stands alone in a way
/// that names no date (it is then just a number in the text).
fn date_at(c: &mut Cursor<'_>) -> Result<Option<NaiveDate>, DateProblem> {
    let year = c.number(4).expect("four digits") as i32;
    let check_year = || {
        if (FIRST_YEAR..=LAST_YEAR).contains(&year) {
            Ok(())
        } else {
            Err(DateProblem::Year(year))
        }
    };
    let sep = c.eat_any(&['-', '/', '.', '年']);
    let Some(sep) = sep else {
        return Ok(None);
    };
    if sep == '年' {
        if c.eat_word("底") || c.eat_word("末") || c.eat_word("年底") || c.eat_word("年末") {
            check_year()?;
            return Ok(Some(year_end(year)));
        }
        if c.eat_word("上半年") {
            check_year()?;
            return Ok(NaiveDate::from_ymd_opt(year, 6, 30));
        }
        if c.eat_word("下半年") || c.eat_word("内") || c.eat_word("全年") {
            check_year()?;
            return Ok(Some(year_end(year)));
        }
        let save = c.pos;
        c.eat('第');
        if let Some(q) = c.quarter_numeral()
            && (c.eat_word("季度") || c.eat_word("季"))
        {
            check_year()?;
            return Ok(month_end(year, q * 3));
        }
        c.pos = save;
    }
    let Some(month) = c.number(2) else {
        // A bare year is a deadline (the year's end) only when nothing but a closing word
        // follows: 2024年, 2024年完成. In 2024年持续巩固 it only says when.
        // house-style: data (what may close a year in a cell)
        let ends = c.peek().is_none_or(|ch| ",.;、)]。".contains(ch))
            || c.chars[c.pos..].starts_with(&['完', '成']);
        if sep == '年' && ends {
            check_year()?;
            return Ok(Some(year_end(year)));
        }
        return Ok(None);
    };
    check_year()?;
    if !(1..=12).contains(&month) {
        return Err(DateProblem::Month(month));
    }
    let month_sep = if sep == '年' {
        c.eat('月');
        None
    } else {
        c.eat_any(&[sep])
    };
    let after_month = c.pos;
    if sep == '年' || month_sep.is_some() {
        if let Some(day) = c.number(2) {
            c.eat_any(&['日', '号']);
            return NaiveDate::from_ymd_opt(year, month, day)
                .map(Some)
                .ok_or(DateProblem::Day(year, month, day));
        }
        c.pos = after_month;
    }
    if c.eat_word("上旬") || c.eat_word("初") {
        return Ok(NaiveDate::from_ymd_opt(year, month, 10));
    }
    if c.eat_word("中旬") {
        return Ok(NaiveDate::from_ymd_opt(year, month, 20));
    }
    c.eat_word("下旬");
    c.eat_word("底");
    c.eat_word("末");
    Ok(month_end(year, month))
}

/// A unit's or person's name in one canonical form, so that one unit is one unit however a
/// ledger typed it: trimmed, zero-width characters dropped, runs of spaces made one, and
/// brackets full-width in Chinese names (区委办(区政府办) → 区委办（区政府办）), ASCII in others.
pub fn name(text: &str) -> String {
    canonical_name(text).into_owned()
}

/// [`name`], borrowing `text` when it is already in canonical form, as nearly every name is.
pub fn canonical_name(text: &str) -> Cow<'_, str> {
    if text.bytes().all(|b| !may_change_name(b)) {
        return Cow::Borrowed(text);
    }
    Cow::Owned(rewrite_name(text))
}

/// Whether a name holding byte `b` may read otherwise in canonical form: ASCII spaces and
/// brackets, and the first bytes of every other character [`rewrite_name`] changes or drops
/// (spaces U+0085, U+00A0 → C2; U+1680 → E1; U+2000–U+205F, zero-width U+200B–U+200D → E2;
/// U+3000 → E3; U+FEFF and full-width brackets → EF). Other characters starting so are
/// left as they are by the rewrite, only looked at.
fn may_change_name(b: u8) -> bool {
    matches!(
        b,
        b'\t'..=b'\r' | b' ' | b'(' | b')' | 0xC2 | 0xE1 | 0xE2 | 0xE3 | 0xEF
    )
}

/// The canonical form of a name, character by character.
fn rewrite_name(text: &str) -> String {
    let chinese = text.chars().any(|c| ('\u{4E00}'..='\u{9FFF}').contains(&c));
    let mut out = String::with_capacity(text.len());
    let mut space = false;
    for c in text.trim().chars() {
        let c = match c {
            '\u{200B}' | '\u{200C}' | '\u{200D}' | '\u{FEFF}' => continue,
            '(' | '\u{FF08}' => {
                if chinese {
                    '\u{FF08}'
                } else {
                    '('
                }
            }
            ')' | '\u{FF09}' => {
                if chinese {
                    '\u{FF09}'
                } else {
                    ')'
                }
            }
            c if c.is_whitespace() => {
                space = true;
                continue;
            }
            c => c,
        };
        if space && !out.is_empty() {
            out.push(' ');
        }
        space = false;
        out.push(c);
    }
    out
}

/// Splits a unit cell into unit names. Separators: 、, full-width and ASCII commas and
/// semicolons, and line breaks. A trailing "(牵头)" marker is dropped, names take their
/// canonical form ([`name`]), and repeats are dropped.
pub fn units(text: &str) -> Vec<String> {
    let mut names = Vec::new();
    let written = write_units(text, &mut names, 0);
    names.truncate(written);
    names
}

/// Writes the unit names of `text` (as [`units`] splits them) into `out` from index `at` on,
/// leaving out those `out[..at]` or the names before them already hold, and returns how
/// many of `out` are names now. The strings `out` holds from `at` on are written over,
/// keeping their room; those past the returned length are stale, for the caller to
/// truncate or write over next time.
pub fn write_units(text: &str, out: &mut Vec<String>, at: usize) -> usize {
    const SEPARATORS: [char; 7] = ['、', ',', '\u{FF0C}', ';', '\u{FF1B}', '\n', '\r'];
    let mut len = at;
    for part in text.split(SEPARATORS) {
        let canonical = canonical_name(part.trim_matches(['"', '\'', '“', '”']));
        let mut unit: &str = &canonical;
        for marker in ["\u{FF08}牵头\u{FF09}", "\u{FF08}牵头单位\u{FF09}", "(lead)"] {
            if let Some(stripped) = unit.strip_suffix(marker) {
                unit = stripped.trim();
            }
        }
        if unit.is_empty() || out[..len].iter().any(|u| u == unit) {
            continue;
        }
        match out.get_mut(len) {
            Some(slot) => unit.clone_into(slot),
            None => out.push(unit.to_string()),
        }
        len += 1;
    }
    len
}

/// A measure's code (序号) in canonical form: full-width digits and dashes as ASCII, no spaces.
pub fn code(text: &str) -> String {
    normalize(text)
}

/// The words a status cell may hold, as each status's stable code or as ledgers write them.
const STATUS_WORDS: [(&[&str], Status); 4] = [
    (
        &[
            "未启动",
            "未开始",
            "尚未启动",
            "未推进",
            "notstarted",
            "not started",
            "todo",
        ],
        Status::NotStarted,
    ),
    (
        &[
            "推进中",
            "正在推进",
            "进行中",
            "整改中",
            "正在整改",
            "基本完成",
            "持续推进",
            "长期坚持",
            "inprogress",
            "in progress",
            "ongoing",
        ],
        Status::InProgress,
    ),
    (
        &[
            "申请销号",
            "待销号",
            "待核验",
            "待验收",
            "已完成待销号",
            "claimed",
            "completion claimed",
            "completionclaimed",
        ],
        Status::Claimed,
    ),
    (
        &[
            "已销号",
            "销号",
            "已完成",
            "完成",
            "已办结",
            "办结",
            "已整改",
            "整改完成",
            "closed",
            "done",
            "completed",
        ],
        Status::Closed,
    ),
];

/// The status whose word, without its spaces, is `compact`.
fn status_word(compact: &str) -> Option<Status> {
    STATUS_WORDS
        .iter()
        .find(|(words, _)| {
            words
                .iter()
                .any(|w| w.chars().filter(|c| *c != ' ').eq(compact.chars()))
        })
        .map(|(_, status)| *status)
}

/// Reads a status cell: a stable code, or a word a ledger uses. `Ok(None)` for an empty cell.
/// Case, spaces, full-width letters, `_` and `-` do not matter.
pub fn status(text: &str) -> Result<Option<Status>, UnknownStatus> {
    // Most cells hold a word as the table writes it; only the others are normalized.
    if let Some(status) = status_word(text.trim()) {
        return Ok(Some(status));
    }
    let norm = normalize(text).to_lowercase();
    if norm.is_empty() {
        return Ok(None);
    }
    let compact: String = norm
        .chars()
        .filter(|c| !matches!(c, '_' | '-' | ' '))
        .collect();
    status_word(&compact)
        .map(Some)
        .ok_or_else(|| UnknownStatus(text.trim().to_string()))
}

/// Reads a code cell (序号): text as written, or a number without a trailing `.0`.
pub fn code_number(value: f64) -> String {
    if value.fract() == 0.0 && value.abs() < 1e15 {
        return format!("{}", value as i64);
    }
    format!("{value}")
}

#[cfg(test)]
mod tests;
