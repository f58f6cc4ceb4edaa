//! Exporting the ledger back to Excel: the ledger with status, latest progress and a coloured
//! light per measure, and a summary sheet per lead unit.
//!
//! The ledger sheet looks like the files offices keep (a merged title row, 方面 and 问题 merged
//! down over their measures) and imports back unchanged.

use std::path::Path;

use chrono::{Datelike, NaiveDate};
use rust_xlsxwriter::{
    Color, ExcelDateTime, Format, FormatAlign, FormatBorder, Workbook, Worksheet, XlsxError,
};

use crate::core::ledger::{Deadline, Measure};
use crate::core::report::{UnitSummary, reason_text};
use crate::core::rules::{Assessment, Colour};
use crate::core::text::Language;
use crate::ingest::import::Column;

/// Errors while writing the workbook.
#[derive(Debug, thiserror::Error)]
pub enum ExportError {
    /// The writer failed or the file cannot be saved.
    #[error("cannot write {path}: {cause}")]
    Write {
        /// The file.
        path: String,
        /// What the writer said.
        cause: XlsxError,
    },
}

/// The ledger sheet's columns after the ones an import reads.
const EXTRA_HEADERS_ZH: [&str; 4] = ["颜色", "亮灯说明", "到期日", "逾期工作日"];
const EXTRA_HEADERS_EN: [&str; 4] = ["light", "light reason", "due", "working days overdue"];

/// The columns the ledger sheet starts with, in order: every column an import reads back.
pub const LEDGER_COLUMNS: [Column; 11] = Column::ALL;

/// The fill of a light's cell.
pub fn fill(colour: Colour) -> Color {
    match colour {
        Colour::Red => Color::RGB(0xFF_C7CE),
        Colour::Yellow => Color::RGB(0xFF_EB9C),
        Colour::Green => Color::RGB(0xC6_EFCE),
    }
}

fn excel_date(day: NaiveDate) -> Result<ExcelDateTime, XlsxError> {
    ExcelDateTime::from_ymd(day.year() as u16, day.month() as u8, day.day() as u8)
}

/// Writes the workbook to `path`.
pub fn write_ledger(
    path: &Path,
    rows: &[(&Measure, &Assessment<'_>)],
    summaries: &[UnitSummary],
    as_of: NaiveDate,
    language: Language,
) -> Result<(), ExportError> {
    let wrap = |e| ExportError::Write {
        path: path.display().to_string(),
        cause: e,
    };
    workbook(rows, summaries, as_of, language)
        .and_then(|mut book| book.save(path))
        .map_err(wrap)
}

/// The workbook of [`write_ledger`] as bytes, for a download.
pub fn ledger_bytes(
    rows: &[(&Measure, &Assessment<'_>)],
    summaries: &[UnitSummary],
    as_of: NaiveDate,
    language: Language,
) -> Result<Vec<u8>, ExportError> {
    workbook(rows, summaries, as_of, language)
        .and_then(|mut book| book.save_to_buffer())
        .map_err(|e| ExportError::Write {
            path: "(download)".into(),
            cause: e,
        })
}

fn workbook(
    rows: &[(&Measure, &Assessment<'_>)],
    summaries: &[UnitSummary],
    as_of: NaiveDate,
    language: Language,
) -> Result<Workbook, XlsxError> {
    let mut book = Workbook::new();
    ledger_sheet(book.add_worksheet(), rows, as_of, language)?;
    summary_sheet(book.add_worksheet(), summaries, as_of, language)?;
    Ok(book)
}

fn ledger_sheet(
    sheet: &mut Worksheet,
    rows: &[(&Measure, &Assessment<'_>)],
    as_of: NaiveDate,
    language: Language,
) -> Result<(), XlsxError> {
    let zh = language == Language::Zh;
    sheet.set_name(if zh { "整改台账" } else { "ledger" })?;
    let border = Format::new().set_border(FormatBorder::Thin);
    let title = Format::new()
        .set_bold()
        .set_font_size(16)
        .set_align(FormatAlign::Center)
        .set_align(FormatAlign::VerticalCenter);
    let header = border
        .clone()
        .set_bold()
        .set_background_color(Color::RGB(0xD9_E1F2))
        .set_align(FormatAlign::Center)
        .set_text_wrap();
    let text = border
        .clone()
        .set_text_wrap()
        .set_align(FormatAlign::VerticalCenter);
    let merged = text.clone().set_align(FormatAlign::Center);
    let date = border
        .clone()
        .set_num_format("yyyy-mm-dd")
        .set_align(FormatAlign::VerticalCenter);
    let extra = if zh {
        EXTRA_HEADERS_ZH
    } else {
        EXTRA_HEADERS_EN
    };
    let columns = LEDGER_COLUMNS.len() + extra.len();
    let heading = if zh {
        format!(
            "整改工作台账（截至{}）",
            crate::core::text::date(as_of, language)
        )
    } else {
        format!("Rectification ledger (as of {as_of})")
    };
    sheet.merge_range(0, 0, 0, (columns - 1) as u16, &heading, &title)?;
    sheet.set_row_height(0, 30)?;
    for (i, column) in LEDGER_COLUMNS.iter().enumerate() {
        sheet.write_string_with_format(1, i as u16, column.header(), &header)?;
    }
    for (i, name) in extra.iter().enumerate() {
        sheet.write_string_with_format(1, (LEDGER_COLUMNS.len() + i) as u16, *name, &header)?;
    }
    let widths = [
        7.0, 18.0, 24.0, 48.0, 24.0, 12.0, 14.0, 22.0, 14.0, 36.0, 10.0, 6.0, 22.0, 12.0, 10.0,
    ];
    for (i, w) in widths.iter().enumerate() {
        sheet.set_column_width(i as u16, *w)?;
    }
    sheet.set_freeze_panes(2, 1)?;
    let first = 2u32;
    for (i, (m, a)) in rows.iter().enumerate() {
        let r = first + i as u32;
        sheet.write_string_with_format(r, 0, excel_text(&m.code), &text)?;
        sheet.write_string_with_format(r, 3, excel_text(&m.content), &text)?;
        sheet.write_string_with_format(
            r,
            4,
            excel_text(m.target.as_deref().unwrap_or("")),
            &text,
        )?;
        sheet.write_string_with_format(r, 5, excel_text(&m.leaders.join("、")), &text)?;
        sheet.write_string_with_format(r, 6, excel_text(&m.lead_unit), &text)?;
        sheet.write_string_with_format(r, 7, excel_text(&m.units.join("、")), &text)?;
        match m.deadline {
            Deadline::Date(day) => {
                sheet.write_datetime_with_format(r, 8, excel_date(day)?, &date)?;
            }
            other => {
                sheet.write_string_with_format(r, 8, other.to_cell_text(), &text)?;
            }
        }
        sheet.write_string_with_format(
            r,
            9,
            excel_text(m.latest_progress.as_deref().unwrap_or("")),
            &text,
        )?;
        sheet.write_string_with_format(r, 10, m.status.label_zh(), &text)?;
        let light = border
            .clone()
            .set_background_color(fill(a.colour))
            .set_align(FormatAlign::Center);
        let word = if zh {
            a.colour.label_zh()
        } else {
            a.colour.code()
        };
        sheet.write_string_with_format(r, 11, word, &light)?;
        sheet.write_string_with_format(r, 12, reason_text(a, language), &text)?;
        match a.due {
            Some(due) => sheet.write_datetime_with_format(r, 13, excel_date(due)?, &date)?,
            None => sheet.write_string_with_format(r, 13, "", &text)?,
        };
        sheet.write_number_with_format(r, 14, f64::from(a.overdue_working_days()), &border)?;
    }
    // 方面 and 问题 merged down over their measures, as offices keep them.
    let aspects: Vec<(Option<&str>, ())> = rows
        .iter()
        .map(|(m, _)| (m.aspect.as_deref(), ()))
        .collect();
    merge_down(sheet, first, 1, &aspects, &text, &merged)?;
    let problems: Vec<(Option<&str>, Option<&str>)> = rows
        .iter()
        .map(|(m, _)| (m.problem.as_deref(), m.aspect.as_deref()))
        .collect();
    merge_down(sheet, first, 2, &problems, &text, &merged)?;
    if !rows.is_empty() {
        sheet.autofilter(1, 0, first + rows.len() as u32 - 1, (columns - 1) as u16)?;
    }
    Ok(())
}

/// Writes a column of texts from row `first` down, merging each run of equal values into
/// one cell. Each value comes with a group key: a run never crosses a change of group (a
/// problem of one aspect does not merge with the same title under the next).
pub(crate) fn merge_down<G: PartialEq>(
    sheet: &mut Worksheet,
    first: u32,
    col: u16,
    values: &[(Option<&str>, G)],
    single: &Format,
    merged: &Format,
) -> Result<(), XlsxError> {
    let mut start = 0;
    while start < values.len() {
        let mut end = start;
        while end + 1 < values.len() && values[end + 1] == values[start] {
            end += 1;
        }
        let text = excel_text(values[start].0.unwrap_or(""));
        let (r1, r2) = (first + start as u32, first + end as u32);
        if r1 == r2 {
            sheet.write_string_with_format(r1, col, text, single)?;
        } else {
            sheet.merge_range(r1, col, r2, col, &text, merged)?;
        }
        start = end + 1;
    }
    Ok(())
}

/// The most characters an Excel cell holds.
const EXCEL_CELL_CHARS: usize = 32_767;

/// Text as a cell can hold it: cut, with a marker, past Excel's 32,767 characters (a CSV
/// ledger may carry longer text; the database keeps it whole).
pub(crate) fn excel_text(text: &str) -> std::borrow::Cow<'_, str> {
    const MARK: &str = "…（已截断）";
    if text.chars().count() <= EXCEL_CELL_CHARS {
        return text.into();
    }
    let kept: String = text
        .chars()
        .take(EXCEL_CELL_CHARS - MARK.chars().count())
        .collect();
    format!("{kept}{MARK}").into()
}

fn summary_sheet(
    sheet: &mut Worksheet,
    summaries: &[UnitSummary],
    as_of: NaiveDate,
    language: Language,
) -> Result<(), XlsxError> {
    let zh = language == Language::Zh;
    sheet.set_name(if zh {
        "牵头单位汇总"
    } else {
        "by lead unit"
    })?;
    let border = Format::new().set_border(FormatBorder::Thin);
    let header = border
        .clone()
        .set_bold()
        .set_background_color(Color::RGB(0xD9_E1F2))
        .set_align(FormatAlign::Center);
    let percent = border.clone().set_num_format("0.0%");
    let bold = border.clone().set_bold();
    let headers: [&str; 9] = if zh {
        [
            "牵头单位",
            "总数",
            "已销号",
            "申请销号",
            "推进中",
            "未启动",
            "红灯",
            "黄灯",
            "完成率",
        ]
    } else {
        [
            "lead unit",
            "total",
            "closed",
            "claimed",
            "in progress",
            "not started",
            "red",
            "yellow",
            "closed share",
        ]
    };
    let title = if zh {
        format!(
            "牵头单位整改情况汇总（截至{}）",
            crate::core::text::date(as_of, language)
        )
    } else {
        format!("By lead unit (as of {as_of})")
    };
    sheet.merge_range(
        0,
        0,
        0,
        8,
        &title,
        &Format::new()
            .set_bold()
            .set_font_size(14)
            .set_align(FormatAlign::Center),
    )?;
    for (i, h) in headers.iter().enumerate() {
        sheet.write_string_with_format(1, i as u16, *h, &header)?;
    }
    sheet.set_column_width(0, 22)?;
    let mut total = UnitSummary::default();
    let mut r = 2u32;
    for s in summaries.iter().filter(|s| s.lead > 0) {
        write_summary_row(sheet, r, &s.name, s, &border, &percent)?;
        total.lead += s.lead;
        total.closed += s.closed;
        total.claimed += s.claimed;
        total.in_progress += s.in_progress;
        total.not_started += s.not_started;
        total.red += s.red;
        total.yellow += s.yellow;
        r += 1;
    }
    write_summary_row(
        sheet,
        r,
        if zh { "合计" } else { "total" },
        &total,
        &bold,
        &percent,
    )?;
    Ok(())
}

fn write_summary_row(
    sheet: &mut Worksheet,
    r: u32,
    name: &str,
    s: &UnitSummary,
    format: &Format,
    percent: &Format,
) -> Result<(), XlsxError> {
    sheet.write_string_with_format(r, 0, name, format)?;
    let counts = [
        s.lead,
        s.closed,
        s.claimed,
        s.in_progress,
        s.not_started,
        s.red,
        s.yellow,
    ];
    for (i, n) in counts.iter().enumerate() {
        sheet.write_number_with_format(r, i as u16 + 1, *n as f64, format)?;
    }
    let rate = if s.lead == 0 {
        0.0
    } else {
        s.closed as f64 / s.lead as f64
    };
    sheet.write_number_with_format(r, 8, rate, percent)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_text_is_cut_to_what_a_cell_holds() {
        assert_eq!(excel_text("短"), "短");
        let long = "字".repeat(40_000);
        let cut = excel_text(&long);
        assert_eq!(cut.chars().count(), EXCEL_CELL_CHARS);
        assert!(cut.ends_with("…（已截断）"));
    }
}
