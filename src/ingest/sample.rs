//! The sample ledger and synthetic ledgers, written as offices write them.
//!
//! `samples/ledger.toml` is the sample's source, written from the public report; the
//! committed `samples/ledger.xlsx` is made from it by `duban-gen sample`. Synthetic ledgers
//! of any size come from [`write_synthetic`], for benchmarks.

use std::path::Path;

use crate::ingest::export::merge_down;
use chrono::{Datelike, NaiveDate};
use rust_xlsxwriter::{
    Color, ExcelDateTime, Format, FormatAlign, FormatBorder, Workbook, XlsxError,
};
use serde::Deserialize;

/// The sample ledger's source text.
pub const SAMPLE_SOURCE: &str = include_str!("../../samples/ledger.toml");

/// Errors while writing a sample.
#[derive(Debug, thiserror::Error)]
pub enum SampleError {
    /// The source is not valid.
    #[error("sample source: {0}")]
    Source(String),
    /// The workbook cannot be written.
    #[error("cannot write the workbook: {0}")]
    Write(#[from] XlsxError),
}

/// A cell as the sample writes it.
#[derive(Debug, Clone, PartialEq)]
pub enum RawCell {
    /// Text.
    Text(String),
    /// A date cell.
    Date(NaiveDate),
    /// A number.
    Number(f64),
}

/// One measure as a ledger file shows it.
#[derive(Debug, Clone)]
pub struct RawMeasure {
    /// 序号.
    pub code: RawCell,
    /// 方面.
    pub aspect: String,
    /// 问题.
    pub problem: String,
    /// 整改措施.
    pub content: String,
    /// 整改目标.
    pub target: String,
    /// 责任领导.
    pub leader: String,
    /// 牵头单位.
    pub lead_unit: String,
    /// 责任单位.
    pub units: String,
    /// 完成时限.
    pub deadline: RawCell,
    /// 整改进展.
    pub progress: String,
    /// 状态.
    pub status: String,
}

#[derive(Deserialize)]
struct SampleFile {
    as_of: toml::value::Datetime,
    title: String,
    aspect: Vec<SampleAspect>,
}

#[derive(Deserialize)]
struct SampleAspect {
    name: String,
    problem: Vec<SampleProblem>,
}

#[derive(Deserialize)]
struct SampleProblem {
    title: String,
    measure: Vec<SampleMeasure>,
}

#[derive(Deserialize)]
struct SampleMeasure {
    code: String,
    content: String,
    target: String,
    leader: String,
    lead_unit: String,
    units: String,
    deadline: SampleDeadline,
    progress: String,
    status: String,
}

/// A deadline in the sample: words as written (立行立改, 长期坚持), or a day relative to the
/// sample's `as_of`, written in one of the forms offices use.
#[derive(Deserialize)]
#[serde(untagged)]
enum SampleDeadline {
    Words(String),
    Relative { days: i64, form: String },
}

impl SampleDeadline {
    /// The cell as a ledger made on `as_of` writes it.
    fn cell(&self, as_of: NaiveDate, code: &str) -> Result<RawCell, SampleError> {
        let (days, form) = match self {
            SampleDeadline::Words(words) => return Ok(RawCell::Text(words.clone())),
            SampleDeadline::Relative { days, form } => (*days, form.as_str()),
        };
        let day = as_of
            .checked_add_signed(chrono::Duration::days(days))
            .ok_or_else(|| SampleError::Source(format!("{code}: {days} days out of range")))?;
        let (y, m, d) = (day.year(), day.month(), day.day());
        Ok(match form {
            "cell" => RawCell::Date(day),
            "serial" => RawCell::Number(
                (day - NaiveDate::from_ymd_opt(1899, 12, 30).expect("valid date")).num_days()
                    as f64,
            ),
            "iso" => RawCell::Text(day.format("%Y-%m-%d").to_string()),
            "slash" => RawCell::Text(format!("{y}/{m}/{d}")),
            "dot-month" => RawCell::Text(format!("{y}.{m}")),
            "month-end" => RawCell::Text(format!("{y}年{m}月底")),
            "month-end-before" => RawCell::Text(format!("{y}年{m}月底前")),
            "day-before" => RawCell::Text(format!("{y}年{m}月{d}日前")),
            "half-early" if m <= 6 => RawCell::Text(format!("{y}年上半年")),
            "half-early" => RawCell::Text(format!("{y}年下半年")),
            "quarter" => {
                let q = ["一", "二", "三", "四"][(m as usize - 1) / 3];
                RawCell::Text(format!("{y}年第{q}季度"))
            }
            other => {
                return Err(SampleError::Source(format!(
                    "{code}: unknown deadline form {other:?}"
                )));
            }
        })
    }
}

/// The day the sample's relative deadlines count from, as committed.
pub fn sample_as_of() -> Result<NaiveDate, SampleError> {
    let file: SampleFile =
        toml::from_str(SAMPLE_SOURCE).map_err(|e| SampleError::Source(e.to_string()))?;
    toml_date(&file.as_of)
}

fn toml_date(value: &toml::value::Datetime) -> Result<NaiveDate, SampleError> {
    let date = value
        .date
        .ok_or_else(|| SampleError::Source("as_of: no date".into()))?;
    NaiveDate::from_ymd_opt(
        i32::from(date.year),
        u32::from(date.month),
        u32::from(date.day),
    )
    .ok_or_else(|| SampleError::Source("as_of: bad date".into()))
}

/// The sample's title and measures, with deadlines as the committed file writes them.
pub fn sample_measures() -> Result<(String, Vec<RawMeasure>), SampleError> {
    sample_measures_as_of(None)
}

/// The sample's title and measures, with every relative deadline counted from `as_of`
/// instead of the committed day: the same ledger, made on another day, so that a newcomer
/// sees red, yellow and green lights whatever the day.
pub fn sample_measures_as_of(
    as_of: Option<NaiveDate>,
) -> Result<(String, Vec<RawMeasure>), SampleError> {
    let file: SampleFile =
        toml::from_str(SAMPLE_SOURCE).map_err(|e| SampleError::Source(e.to_string()))?;
    let as_of = match as_of {
        Some(day) => day,
        None => toml_date(&file.as_of)?,
    };
    let mut out = Vec::new();
    for aspect in file.aspect {
        for problem in aspect.problem {
            for m in problem.measure {
                let deadline = m.deadline.cell(as_of, &m.code)?;
                out.push(RawMeasure {
                    code: RawCell::Text(m.code),
                    aspect: aspect.name.clone(),
                    problem: problem.title.clone(),
                    content: m.content,
                    target: m.target,
                    leader: m.leader,
                    lead_unit: m.lead_unit,
                    units: m.units,
                    deadline,
                    progress: m.progress,
                    status: m.status,
                });
            }
        }
    }
    Ok((file.title, out))
}

/// How a ledger file is laid out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Layout {
    /// Aspects as merged heading rows across the sheet, no 方面 column; 问题 and 责任领导
    /// merged down. The sample uses it.
    HeadingRows,
    /// A 方面 column; 方面 and 问题 merged down. Synthetic ledgers use it.
    AspectColumn,
}

/// Writes measures as an office's .xlsx: a merged title, a subtitle, the header, the rows.
pub fn write_ledger_file(
    path: &Path,
    title: &str,
    measures: &[RawMeasure],
    layout: Layout,
) -> Result<(), SampleError> {
    let mut headers = vec!["序号"];
    if layout == Layout::AspectColumn {
        headers.push("方面");
    }
    headers.extend([
        "问题",
        "整改措施",
        "整改目标",
        "责任领导",
        "牵头单位",
        "责任单位",
        "完成时限",
        "整改进展",
        "状态",
    ]);
    let col = |name: &str| {
        headers
            .iter()
            .position(|h| *h == name)
            .expect("known column") as u16
    };
    let last_col = headers.len() as u16 - 1;
    let mut book = Workbook::new();
    let sheet = book.add_worksheet();
    sheet.set_name("整改台账")?;
    let border = Format::new().set_border(FormatBorder::Thin);
    let wrap = border
        .clone()
        .set_text_wrap()
        .set_align(FormatAlign::VerticalCenter);
    let centre = wrap.clone().set_align(FormatAlign::Center);
    let date = border.clone().set_num_format("yyyy\"年\"m\"月\"d\"日\"");
    let header = border
        .clone()
        .set_bold()
        .set_align(FormatAlign::Center)
        .set_background_color(Color::RGB(0xDDEBF7));
    sheet.merge_range(
        0,
        0,
        0,
        last_col,
        title,
        &Format::new()
            .set_bold()
            .set_font_size(16)
            .set_align(FormatAlign::Center),
    )?;
    sheet.merge_range(
        1,
        0,
        1,
        last_col,
        "填报单位：巡视整改工作专班",
        &Format::new().set_align(FormatAlign::Right),
    )?;
    for (i, h) in headers.iter().enumerate() {
        sheet.write_string_with_format(2, i as u16, *h, &header)?;
    }
    for (name, width) in [
        ("整改措施", 50.0),
        ("问题", 24.0),
        ("整改目标", 24.0),
        ("责任单位", 20.0),
        ("整改进展", 30.0),
        ("牵头单位", 14.0),
        ("完成时限", 16.0),
    ] {
        sheet.set_column_width(col(name), width)?;
    }
    let mut r = 3u32;
    for group in measures.chunk_by(|a, b| a.aspect == b.aspect) {
        if layout == Layout::HeadingRows {
            sheet.merge_range(
                r,
                0,
                r,
                last_col,
                &group[0].aspect,
                &border.clone().set_bold(),
            )?;
            r += 1;
        }
        for (k, m) in group.iter().enumerate() {
            let row = r + k as u32;
            match &m.code {
                RawCell::Text(t) => sheet.write_string_with_format(row, 0, t, &centre)?,
                RawCell::Number(n) => sheet.write_number_with_format(row, 0, *n, &centre)?,
                RawCell::Date(_) => {
                    return Err(SampleError::Source("a code cannot be a date".into()));
                }
            };
            sheet.write_string_with_format(row, col("整改措施"), &m.content, &wrap)?;
            sheet.write_string_with_format(row, col("整改目标"), &m.target, &wrap)?;
            sheet.write_string_with_format(row, col("牵头单位"), &m.lead_unit, &wrap)?;
            sheet.write_string_with_format(row, col("责任单位"), &m.units, &wrap)?;
            sheet.write_string_with_format(row, col("整改进展"), &m.progress, &wrap)?;
            sheet.write_string_with_format(row, col("状态"), &m.status, &centre)?;
            match &m.deadline {
                RawCell::Text(t) => {
                    sheet.write_string_with_format(row, col("完成时限"), t, &wrap)?
                }
                RawCell::Number(n) => {
                    sheet.write_number_with_format(row, col("完成时限"), *n, &border)?
                }
                RawCell::Date(d) => sheet.write_datetime_with_format(
                    row,
                    col("完成时限"),
                    ExcelDateTime::from_ymd(d.year() as u16, d.month() as u8, d.day() as u8)?,
                    &date,
                )?,
            };
        }
        // 问题 merged down over its measures, 责任领导 over runs within a problem, and the
        // 方面 column over the whole aspect.
        let problems: Vec<(Option<&str>, ())> = group
            .iter()
            .map(|m| (Some(m.problem.as_str()), ()))
            .collect();
        merge_down(sheet, r, col("问题"), &problems, &wrap, &wrap)?;
        let leaders: Vec<(Option<&str>, &str)> = group
            .iter()
            .map(|m| (Some(m.leader.as_str()), m.problem.as_str()))
            .collect();
        merge_down(sheet, r, col("责任领导"), &leaders, &centre, &centre)?;
        if layout == Layout::AspectColumn {
            let aspects: Vec<(Option<&str>, ())> = group
                .iter()
                .map(|m| (Some(m.aspect.as_str()), ()))
                .collect();
            merge_down(sheet, r, col("方面"), &aspects, &wrap, &wrap)?;
        }
        r += group.len() as u32;
    }
    sheet.set_freeze_panes(3, 0)?;
    book.save(path)?;
    Ok(())
}

/// Writes the sample ledger to `path`, as committed.
pub fn write_sample(path: &Path) -> Result<usize, SampleError> {
    write_sample_as_of(path, None)
}

/// Writes the sample ledger to `path`, made on `as_of` (the committed day when `None`).
pub fn write_sample_as_of(path: &Path, as_of: Option<NaiveDate>) -> Result<usize, SampleError> {
    let (title, measures) = sample_measures_as_of(as_of)?;
    write_ledger_file(path, &title, &measures, Layout::HeadingRows)?;
    Ok(measures.len())
}

/// A small deterministic random source (SplitMix64), so synthetic ledgers are reproducible.
struct Random(u64);

impl Random {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

/// The verbs of synthetic measures.
const VERBS: [&str; 8] = [
    "完善", "制定", "推进", "落实", "开展", "健全", "建立", "规范",
];

/// The topics of synthetic problems and measures.
const TOPICS: [&str; 6] = [
    "招商引资项目履约监管机制",
    "工程建设领域风险防控清单",
    "国有企业人事档案管理",
    "基层党支部组织生活制度",
    "投资项目全生命周期服务",
    "政府采购优化营商环境行动",
];

/// The 整改措施 text of the `i`th synthetic measure.
fn synthetic_content(rng: &mut Random, i: usize) -> String {
    format!(
        "{}{}，明确责任分工和时间节点，第{}项措施按月报送整改进展。",
        VERBS[rng.below(VERBS.len())],
        TOPICS[rng.below(TOPICS.len())],
        i + 1
    )
}

/// `units` unit names of synthetic ledgers, such as 第0001局.
fn unit_names(units: usize) -> Vec<String> {
    let kinds = ["局", "办公室", "中心", "街道", "集团", "管理处"];
    (0..units.max(1))
        .map(|i| format!("第{:04}{}", i + 1, kinds[i % kinds.len()]))
        .collect()
}

/// The 40 leaders of synthetic ledgers.
fn leader_names() -> Vec<String> {
    (0..40).map(|i| format!("领导{:02}", i + 1)).collect()
}

/// The measures of a synthetic ledger: `measures` measures over `units` units, ten measures a
/// problem, with the sample's mix of unit separators, deadline forms and statuses.
pub fn synthetic_measures(measures: usize, units: usize, seed: u64) -> Vec<RawMeasure> {
    let mut rng = Random(seed);
    let unit_names = unit_names(units);
    let leaders = leader_names();
    let separators = ["、", ",", ",", ";", "\n"];
    let statuses = [
        "已销号",
        "已销号",
        "推进中",
        "推进中",
        "申请销号",
        "未启动",
        "",
    ];
    let topics = TOPICS;
    let start = NaiveDate::from_ymd_opt(2023, 9, 1).expect("valid date");
    let mut out = Vec::with_capacity(measures);
    for i in 0..measures {
        let problem = i / 10;
        let aspect = problem / 25;
        let lead = rng.below(unit_names.len());
        let mut unit_list = vec![unit_names[lead].clone()];
        for _ in 0..rng.below(3) {
            unit_list.push(unit_names[rng.below(unit_names.len())].clone());
        }
        let day = start + chrono::Days::new(rng.below(900) as u64);
        let deadline = match rng.below(10) {
            0 => RawCell::Date(day),
            1 => RawCell::Number(
                (day - NaiveDate::from_ymd_opt(1899, 12, 30).expect("valid date")).num_days()
                    as f64,
            ),
            2 => RawCell::Text(day.format("%Y-%m-%d").to_string()),
            3 => RawCell::Text(day.format("%Y/%m/%d").to_string()),
            4 => RawCell::Text(format!("{}年{}月底前", day.year(), day.month())),
            5 => RawCell::Text(format!("{}.{}", day.year(), day.month().max(2))),
            6 => RawCell::Text(format!(
                "{}年{}月{}日前",
                day.year(),
                day.month(),
                day.day()
            )),
            7 => RawCell::Text("立行立改".into()),
            8 => RawCell::Text("长期坚持".into()),
            _ => RawCell::Text("持续推进".into()),
        };
        out.push(RawMeasure {
            code: RawCell::Text(format!("{}-{}", problem + 1, i % 10 + 1)),
            aspect: format!("第{}方面", aspect + 1),
            problem: format!(
                "问题{}:{}存在短板",
                problem + 1,
                topics[problem % topics.len()]
            ),
            content: synthetic_content(&mut rng, i),
            target: "形成制度成果并持续落实".into(),
            leader: leaders[problem % leaders.len()].clone(),
            lead_unit: unit_names[lead].clone(),
            units: unit_list.join(separators[rng.below(separators.len())]),
            deadline,
            progress: if rng.below(3) == 0 {
                String::new()
            } else {
                format!("已完成阶段任务{}项。", rng.below(9) + 1)
            },
            status: statuses[rng.below(statuses.len())].into(),
        });
    }
    out
}

/// The measures of a ledger shaped like the ones offices keep, for benchmarks: the seven
/// deadline forms in equal parts (a date cell, `2024-05-01`, `2024/5/1`, `2024年5月底`,
/// `2024年5月3日前`, 长期坚持, 立行立改), `units` units with one to four a 责任单位 cell
/// joined by 、, 40 leaders, each problem over five measures (its cell merged down), 整改进展
/// written on two rows in three.
pub fn realistic_measures(measures: usize, units: usize, seed: u64) -> Vec<RawMeasure> {
    let mut rng = Random(seed);
    let unit_names = unit_names(units);
    let leaders = leader_names();
    let statuses = ["已销号", "推进中", "推进中", "申请销号", "未启动", ""];
    let topics = TOPICS;
    let start = NaiveDate::from_ymd_opt(2023, 9, 1).expect("valid date");
    let mut out = Vec::with_capacity(measures);
    for i in 0..measures {
        let problem = i / 5;
        let aspect = problem / 50;
        let lead = rng.below(unit_names.len());
        let mut unit_list = vec![unit_names[lead].clone()];
        for _ in 0..rng.below(4) {
            let other = &unit_names[rng.below(unit_names.len())];
            if !unit_list.contains(other) {
                unit_list.push(other.clone());
            }
        }
        let day = start + chrono::Days::new(rng.below(900) as u64);
        let deadline = match i % 7 {
            0 => RawCell::Date(day),
            1 => RawCell::Text(day.format("%Y-%m-%d").to_string()),
            2 => RawCell::Text(format!("{}/{}/{}", day.year(), day.month(), day.day())),
            3 => RawCell::Text(format!("{}年{}月底", day.year(), day.month())),
            4 => RawCell::Text(format!(
                "{}年{}月{}日前",
                day.year(),
                day.month(),
                day.day()
            )),
            5 => RawCell::Text("长期坚持".into()),
            _ => RawCell::Text("立行立改".into()),
        };
        out.push(RawMeasure {
            code: RawCell::Text(format!("{}-{}", problem + 1, i % 5 + 1)),
            aspect: format!("第{}方面", aspect + 1),
            problem: format!(
                "问题{}：{}存在短板，制度执行不到位",
                problem + 1,
                topics[problem % topics.len()]
            ),
            content: synthetic_content(&mut rng, i),
            target: "形成制度成果并持续落实".into(),
            leader: leaders[(problem * 7) % leaders.len()].clone(),
            lead_unit: unit_names[lead].clone(),
            units: unit_list.join("、"),
            deadline,
            progress: if i % 3 == 2 {
                String::new()
            } else {
                format!(
                    "已召开专题会议{}次，完成阶段任务{}项，相关制度正在起草。",
                    rng.below(5) + 1,
                    rng.below(9) + 1
                )
            },
            status: statuses[rng.below(statuses.len())].into(),
        });
    }
    out
}

/// Writes a ledger of `measures` measures and `units` units shaped like the ones offices
/// keep ([`realistic_measures`]) to `path`.
pub fn write_realistic(
    path: &Path,
    measures: usize,
    units: usize,
    seed: u64,
) -> Result<(), SampleError> {
    let rows = realistic_measures(measures, units, seed);
    write_ledger_file(path, "巡视整改工作台账", &rows, Layout::AspectColumn)
}

/// Writes a synthetic ledger of `measures` measures and `units` units to `path`.
pub fn write_synthetic(
    path: &Path,
    measures: usize,
    units: usize,
    seed: u64,
) -> Result<(), SampleError> {
    let rows = synthetic_measures(measures, units, seed);
    write_ledger_file(
        path,
        "整改工作台账（合成数据）",
        &rows,
        Layout::AspectColumn,
    )
}

/// The committed sample ledger, as `duban demo` loads it.
pub const SAMPLE_XLSX: &[u8] = include_bytes!("../../samples/ledger.xlsx");
