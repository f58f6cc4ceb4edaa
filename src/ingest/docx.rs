//! Documents out: the periodic 通报 as a .docx in the style of an official notice (公文): the
//! title in 小标宋 at 二号, the number under it, the body in 仿宋 at 三号, the ranking as a
//! table, the issuing office and the date at the end.

use docx_rs::{
    AlignmentType, Docx, Paragraph, Run, RunFonts, Table, TableCell, TableRow, WidthType,
};

use crate::core::notice::Notice;
use crate::core::text::Language;

/// Why a document could not be written.
#[derive(Debug, thiserror::Error)]
#[error("writing the document: {0}")]
pub struct DocxError(String);

/// Half-points: 二号 (22 pt) for the title, 三号 (16 pt) for the body, 四号 (14 pt) in the table.
const TITLE: usize = 44;
const BODY: usize = 32;
const TABLE: usize = 28;

fn text(words: &str, size: usize, font: &str) -> Run {
    Run::new()
        .add_text(words)
        .size(size)
        .fonts(RunFonts::new().east_asia(font).ascii("Times New Roman"))
}

fn cell(words: &str) -> TableCell {
    TableCell::new().add_paragraph(
        Paragraph::new()
            .add_run(text(words, TABLE, "仿宋_GB2312"))
            .align(AlignmentType::Center),
    )
}

/// The notice as a .docx, its bytes.
pub fn notice_docx(
    notice: &Notice,
    office: &str,
    language: Language,
) -> Result<Vec<u8>, DocxError> {
    let zh = language == Language::Zh;
    let mut doc = Docx::new()
        .default_fonts(RunFonts::new().east_asia("仿宋_GB2312"))
        .default_size(BODY)
        .add_paragraph(
            Paragraph::new()
                .add_run(text(&notice.title, TITLE, "方正小标宋简体"))
                .align(AlignmentType::Center),
        )
        .add_paragraph(
            Paragraph::new()
                .add_run(text(&notice.number, BODY, "仿宋_GB2312"))
                .align(AlignmentType::Center),
        )
        .add_paragraph(
            Paragraph::new()
                .add_run(text(&notice.period, BODY, "仿宋_GB2312"))
                .align(AlignmentType::Center),
        );
    // The opening and the ranking's heading, then the table, then the rest.
    for paragraph in notice.paragraphs.iter().take(2) {
        doc = doc.add_paragraph(Paragraph::new().add_run(text(paragraph, BODY, "仿宋_GB2312")));
    }
    let header = match zh {
        true => [
            "名次",
            "牵头单位",
            "措施",
            "已销号",
            "完成率",
            "红灯",
            "未反馈天数",
        ],
        false => [
            "Rank",
            "Lead unit",
            "Measures",
            "Closed",
            "Rate",
            "Red",
            "Days silent",
        ],
    };
    let mut rows = vec![TableRow::new(header.iter().map(|h| cell(h)).collect())];
    for r in &notice.ranking {
        rows.push(TableRow::new(vec![
            cell(&r.place.to_string()),
            cell(&r.unit),
            cell(&r.total.to_string()),
            cell(&r.closed.to_string()),
            cell(&format!("{:.1}%", r.rate)),
            cell(&r.red.to_string()),
            cell(&r.silent_days.map_or("—".to_string(), |d| d.to_string())),
        ]));
    }
    doc = doc.add_table(Table::new(rows).width(9000, WidthType::Dxa));
    for paragraph in notice.paragraphs.iter().skip(2) {
        doc = doc.add_paragraph(Paragraph::new().add_run(text(paragraph, BODY, "仿宋_GB2312")));
    }
    doc = doc
        .add_paragraph(Paragraph::new())
        .add_paragraph(
            Paragraph::new()
                .add_run(text(office, BODY, "仿宋_GB2312"))
                .align(AlignmentType::Right),
        )
        .add_paragraph(
            Paragraph::new()
                .add_run(text(&notice.date, BODY, "仿宋_GB2312"))
                .align(AlignmentType::Right),
        );
    let mut bytes = std::io::Cursor::new(Vec::new());
    doc.build()
        .pack(&mut bytes)
        .map_err(|e| DocxError(e.to_string()))?;
    Ok(bytes.into_inner())
}

/// What a step's document (五书制) says.
#[derive(Debug, Clone)]
pub struct StepDocument<'a> {
    /// The document's name: 督办通知书, 告诫书 …
    pub title: &'a str,
    /// Its number: 督办〔2024〕3号.
    pub number: &'a str,
    /// To whom: the lead unit.
    pub to: &'a str,
    /// The paragraphs of the body.
    pub body: &'a [String],
    /// Who issues it.
    pub office: &'a str,
    /// The date of issue, in words.
    pub date: &'a str,
}

/// A step's document as a .docx, its bytes.
pub fn step_docx(doc: &StepDocument<'_>) -> Result<Vec<u8>, DocxError> {
    let mut docx = Docx::new()
        .default_fonts(RunFonts::new().east_asia("仿宋_GB2312"))
        .default_size(BODY)
        .add_paragraph(
            Paragraph::new()
                .add_run(text(doc.title, TITLE, "方正小标宋简体"))
                .align(AlignmentType::Center),
        )
        .add_paragraph(
            Paragraph::new()
                .add_run(text(doc.number, BODY, "仿宋_GB2312"))
                .align(AlignmentType::Center),
        )
        .add_paragraph(Paragraph::new().add_run(text(
            &format!("{}：", doc.to),
            BODY,
            "仿宋_GB2312",
        )));
    for paragraph in doc.body {
        docx = docx.add_paragraph(Paragraph::new().add_run(text(paragraph, BODY, "仿宋_GB2312")));
    }
    docx = docx
        .add_paragraph(Paragraph::new())
        .add_paragraph(
            Paragraph::new()
                .add_run(text(doc.office, BODY, "仿宋_GB2312"))
                .align(AlignmentType::Right),
        )
        .add_paragraph(
            Paragraph::new()
                .add_run(text(doc.date, BODY, "仿宋_GB2312"))
                .align(AlignmentType::Right),
        );
    let mut bytes = std::io::Cursor::new(Vec::new());
    docx.build()
        .pack(&mut bytes)
        .map_err(|e| DocxError(e.to_string()))?;
    Ok(bytes.into_inner())
}
