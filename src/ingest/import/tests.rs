use std::sync::{Arc, Mutex};

use chrono::NaiveDate;

use super::source::{Cell, Flow, RowVisitor};
use super::*;

fn t(text: &str) -> Cell<'static> {
    Cell::Text(text.to_string().into())
}

/// Feeds rows (numbered from 1) to a reader and returns the lines it produced.
fn read(rows: &[Vec<Cell<'_>>]) -> (Vec<LedgerLine>, LedgerReader) {
    let lines = Arc::new(Mutex::new(Vec::new()));
    let sink = lines.clone();
    let mut reader = LedgerReader::new(
        None,
        Box::new(move |batch| {
            sink.lock().unwrap().extend(batch);
            true
        }),
    );
    reader.start_sheet("台账");
    for (i, row) in rows.iter().enumerate() {
        if reader.row(i as u32 + 1, row) == Flow::Stop {
            break;
        }
    }
    reader.end_sheet();
    reader.finish();
    let lines = lines.lock().unwrap().clone();
    (lines, reader)
}

fn header() -> Vec<Cell<'static>> {
    [
        "序号",
        "问题",
        "整改措施",
        "责任领导",
        "牵头单位",
        "责任单位",
        "完成时限(年月日)",
        "整改进展",
        "状态",
    ]
    .into_iter()
    .map(t)
    .collect()
}

#[test]
fn finds_the_header_under_a_title_and_reads_rows() {
    let rows = vec![
        vec![t("滨海新区巡视整改工作台账"); 9],
        vec![],
        header(),
        vec![
            Cell::Number(1.0),
            t("问题一"),
            t("召开专题会议"),
            t("王建国、李明华"),
            t("党工委办公室、经济发展局"),
            t("经济发展局,投资服务中心"),
            Cell::Number(45291.0),
            t("已召开"),
            t("推进中"),
        ],
        vec![
            t("2"),
            Cell::Empty,
            t("制定实施意见"),
            Cell::Empty,
            t("经济发展局"),
            Cell::Empty,
            t("2024年6月底前"),
            Cell::Empty,
            Cell::Empty,
        ],
        vec![Cell::Empty; 9],
    ];
    let (lines, reader) = read(&rows);
    assert!(reader.problems.is_empty(), "{:?}", reader.problems);
    assert_eq!(lines.len(), 2);
    let first = &lines[0];
    assert_eq!((first.row, first.code.as_str()), (4, "1"));
    assert_eq!(first.lead_unit, "党工委办公室");
    // A second lead unit joins the responsible units, ahead of them, without repeats.
    assert_eq!(first.units, vec!["经济发展局", "投资服务中心"]);
    assert_eq!(first.leaders, vec!["王建国", "李明华"]);
    assert_eq!(
        first.deadline,
        Deadline::Date(NaiveDate::from_ymd_opt(2023, 12, 31).unwrap())
    );
    assert_eq!(first.status, Some(Status::InProgress));
    assert_eq!(first.progress.as_deref(), Some("已召开"));
    // The empty 问题 cell carries down.
    assert_eq!(lines[1].problem.as_deref(), Some("问题一"));
    assert_eq!(lines[1].status, None);
    assert_eq!(lines[1].deadline_text, "2024年6月底前");
}

#[test]
fn english_headers() {
    let rows = vec![
        [
            "Code",
            "Measure",
            "Lead unit",
            "Units",
            "Deadline",
            "Status",
        ]
        .map(t)
        .to_vec(),
        [
            "A1",
            "Publish the plan",
            "Office",
            "Finance; Audit",
            "2024-03-31",
            "done",
        ]
        .map(t)
        .to_vec(),
    ];
    let (lines, reader) = read(&rows);
    assert!(reader.problems.is_empty(), "{:?}", reader.problems);
    assert_eq!(lines[0].units, vec!["Finance", "Audit"]);
    assert_eq!(lines[0].status, Some(Status::Closed));
}

#[test]
fn every_bad_cell_is_listed_with_row_and_column() {
    let rows = vec![
        header(),
        [
            t("1"),
            t("问题"),
            t("措施一"),
            t(""),
            t("经济发展局"),
            t(""),
            t("明年"),
            t(""),
            t(""),
        ]
        .to_vec(),
        [
            t("2"),
            t(""),
            t(""),
            t(""),
            t(""),
            t(""),
            t("2024-02-30"),
            t(""),
            t("差不多"),
        ]
        .to_vec(),
        [
            t("1"),
            t(""),
            t("措施三"),
            t(""),
            t("财政局"),
            t(""),
            t("2023.12"),
            t(""),
            t(""),
        ]
        .to_vec(),
        [
            Cell::Empty,
            t(""),
            t("措施四"),
            t(""),
            t("财政局"),
            t(""),
            Cell::Empty,
            t(""),
            t(""),
        ]
        .to_vec(),
    ];
    let (lines, reader) = read(&rows);
    assert!(lines.is_empty(), "nothing is handed on once a cell is bad");
    let shown: Vec<String> = reader.problems.iter().map(|p| p.to_string()).collect();
    let expected = [
        "row 2, column 完成时限(年月日): cannot read \"明年\" as a deadline",
        "row 3, column 整改措施: 整改措施 (measure) is empty",
        "row 3, column 牵头单位: 牵头单位 (lead unit) is empty",
        "row 3, column 完成时限(年月日): cannot read \"2024-02-30\" as a deadline: 2024-02-30 does not exist",
        "row 3, column 状态: unknown status",
        "row 4, column 序号: code \"1\" is already used in row 2",
        "row 5, column 序号: 序号 (code) is empty",
        "row 5, column 完成时限(年月日): 完成时限 (deadline) is empty",
    ];
    assert_eq!(shown.len(), expected.len(), "{shown:#?}");
    for (got, want) in shown.iter().zip(expected) {
        assert!(got.starts_with(want), "{got:?} should start with {want:?}");
    }
}

#[test]
fn a_header_without_a_required_column_is_refused() {
    let rows = vec![["序号", "整改措施", "牵头单位"].map(t).to_vec()];
    let (_, reader) = read(&rows);
    assert_eq!(reader.problems.len(), 1);
    assert_eq!(
        reader.problems[0].to_string(),
        "row 1, column 完成时限: the header has no 完成时限 column"
    );
}

#[test]
fn no_header_at_all() {
    let rows: Vec<Vec<Cell<'static>>> = (0..40).map(|i| vec![t(&format!("text {i}"))]).collect();
    let (_, reader) = read(&rows);
    assert!(!reader.found_header());
    let message = reader.no_header_error().to_string();
    assert!(
        message.contains("no header row") && message.contains("台账"),
        "{message}"
    );
}

#[test]
fn section_headings_set_the_aspect_when_there_is_no_aspect_column() {
    let heading = vec![t("一、贯彻落实方面"); 9];
    let rows = vec![
        header(),
        heading,
        [
            t("1"),
            t("问题一"),
            t("措施"),
            t(""),
            t("财政局"),
            t(""),
            t("立行立改"),
            t(""),
            t(""),
        ]
        .to_vec(),
    ];
    let (lines, reader) = read(&rows);
    assert!(reader.problems.is_empty(), "{:?}", reader.problems);
    assert_eq!(lines[0].aspect.as_deref(), Some("一、贯彻落实方面"));
    assert_eq!(lines[0].deadline, Deadline::Immediate(None));
}

#[test]
fn overdue_in_the_status_column_is_a_warning() {
    let rows = vec![
        header(),
        [
            t("1"),
            t("问题一"),
            t("措施"),
            t(""),
            t("财政局"),
            t(""),
            t("2023-12-31"),
            t(""),
            t("逾期"),
        ]
        .to_vec(),
    ];
    let (lines, reader) = read(&rows);
    assert!(reader.problems.is_empty());
    assert_eq!(lines[0].status, Some(Status::InProgress));
    assert!(
        reader.warnings[0]
            .text(crate::core::text::Language::En)
            .contains("row 2")
    );
    assert!(
        reader.warnings[0]
            .text(crate::core::text::Language::Zh)
            .starts_with("第2行")
    );
}

#[test]
fn header_names() {
    let cases = [
        ("整改完成时限", Some(Column::Deadline)),
        ("完成时限(年月日)", Some(Column::Deadline)),
        ("责任单位(牵头单位列首位)", Some(Column::Units)),
        ("牵头部门", Some(Column::LeadUnit)),
        ("Lead unit", Some(Column::LeadUnit)),
        ("颜色", None),
        ("逾期工作日", None),
    ];
    for (text, expected) in cases {
        let mut cells = vec![t("整改措施"), t("序号"), t("问题"), t(text)];
        if expected == Some(Column::Content) {
            cells.remove(0);
        }
        let map = header_map(&cells).unwrap();
        let found = map.iter().find(|(_, (i, _))| *i == 3).map(|(c, _)| *c);
        assert_eq!(found, expected, "{text}");
    }
}

#[test]
fn a_title_that_names_columns_is_not_the_header() {
    let title = t("巡察反馈问题整改措施、责任单位及完成时限一览表");
    let rows = vec![
        vec![
            title.clone(),
            title.clone(),
            title.clone(),
            title.clone(),
            title.clone(),
            title,
        ],
        [
            "序号",
            "整改措施",
            "牵头单位",
            "责任单位",
            "完成时限",
            "状态",
        ]
        .map(t)
        .to_vec(),
        ["1", "召开会议", "财政局", "", "2024-06-30", ""]
            .map(t)
            .to_vec(),
    ];
    let (lines, reader) = read(&rows);
    assert!(reader.problems.is_empty(), "{:?}", reader.problems);
    assert_eq!((lines.len(), lines[0].row), (1, 3));
}

#[test]
fn a_two_row_header() {
    // 责任单位 spans 牵头单位 and 配合单位 in the row below; 序号 and the rest span both rows.
    let rows = vec![
        ["序号", "整改措施", "责任单位", "责任单位", "完成时限"]
            .map(t)
            .to_vec(),
        ["序号", "整改措施", "牵头单位", "配合单位", "完成时限"]
            .map(t)
            .to_vec(),
        ["1", "召开会议", "财政局", "审计办、招商局", "2024-06-30"]
            .map(t)
            .to_vec(),
    ];
    let (lines, reader) = read(&rows);
    assert!(reader.problems.is_empty(), "{:?}", reader.problems);
    assert_eq!(lines.len(), 1);
    assert_eq!(lines[0].lead_unit, "财政局");
    assert_eq!(lines[0].units, ["审计办", "招商局"]);
    // Without merged fill the lower row has only the sub-headers.
    let rows = vec![
        ["序号", "整改措施", "责任单位", "", "完成时限"]
            .map(t)
            .to_vec(),
        ["", "", "牵头单位", "配合单位", ""].map(t).to_vec(),
        ["1", "召开会议", "财政局", "审计办", "2024-06-30"]
            .map(t)
            .to_vec(),
    ];
    let (lines, reader) = read(&rows);
    assert!(reader.problems.is_empty(), "{:?}", reader.problems);
    assert_eq!(lines[0].units, ["审计办"]);
}

#[test]
fn a_header_repeated_on_a_later_page_is_skipped() {
    let rows = vec![
        header(),
        [
            t("1"),
            t("问题一"),
            t("措施一"),
            t(""),
            t("财政局"),
            t(""),
            t("2024-06-30"),
            t(""),
            t(""),
        ]
        .to_vec(),
        header(),
        [
            t("2"),
            t(""),
            t("措施二"),
            t(""),
            t("财政局"),
            t(""),
            t("2024-06-30"),
            t(""),
            t(""),
        ]
        .to_vec(),
    ];
    let (lines, reader) = read(&rows);
    assert!(reader.problems.is_empty(), "{:?}", reader.problems);
    assert_eq!(lines.len(), 2);
    assert_eq!(lines[1].problem.as_deref(), Some("问题一"));
}

#[test]
fn unmerged_headings_and_footers_are_not_measures() {
    // As a CSV export of a ledger shows them: one filled cell, in the first column.
    let rows = vec![
        ["序号", "整改措施", "牵头单位", "完成时限"].map(t).to_vec(),
        ["一、贯彻落实方面", "", "", ""].map(t).to_vec(),
        ["(一)学习不深入", "", "", ""].map(t).to_vec(),
        ["1", "召开会议", "财政局", "2024-06-30"].map(t).to_vec(),
        ["二、全面从严治党方面", "", "", ""].map(t).to_vec(),
        ["2", "开展检查", "纪工委", "2024-06-30"].map(t).to_vec(),
        ["合计:2项", "", "", ""].map(t).to_vec(),
        ["填报人:张三", "", "", ""].map(t).to_vec(),
    ];
    let (lines, reader) = read(&rows);
    assert!(reader.problems.is_empty(), "{:?}", reader.problems);
    assert_eq!(lines.len(), 2);
    assert_eq!(lines[0].aspect.as_deref(), Some("一、贯彻落实方面"));
    assert_eq!(lines[0].problem.as_deref(), Some("(一)学习不深入"));
    assert_eq!(lines[1].aspect.as_deref(), Some("二、全面从严治党方面"));
    assert_eq!(lines[1].problem, None);
}

#[test]
fn control_characters_do_not_reach_the_ledger() {
    let rows = vec![
        ["序号", "整改措施", "牵头单位", "完成时限"].map(t).to_vec(),
        [t("1"), t("措施\u{0}一"), t("财政局\u{7}"), t("2024-06-30")].to_vec(),
    ];
    let (lines, reader) = read(&rows);
    assert!(reader.problems.is_empty());
    assert_eq!(
        (lines[0].content.as_str(), lines[0].lead_unit.as_str()),
        ("措施一", "财政局")
    );
}

#[test]
fn date_cells_out_of_range_are_refused() {
    let rows = vec![
        ["序号", "整改措施", "牵头单位", "完成时限"].map(t).to_vec(),
        vec![
            t("1"),
            t("措施"),
            t("财政局"),
            Cell::Date(NaiveDate::from_ymd_opt(1900, 1, 5).unwrap()),
        ],
    ];
    let (_, reader) = read(&rows);
    assert_eq!(
        reader.problems[0].to_string(),
        "row 2, column 完成时限: the date 1900-01-05 is out of range (2000–2100)"
    );
}

/// A measure row under [`header`] with code `n`.
fn measure_row(n: usize) -> Vec<Cell<'static>> {
    vec![
        Cell::Number(n as f64),
        t("问题一"),
        t("召开专题会议"),
        t("王建国"),
        t("经济发展局"),
        Cell::Empty,
        t("2024年6月底前"),
        Cell::Empty,
        Cell::Empty,
    ]
}

/// Feeds `rows` to a reader whose receiver listens for `listening` calls; returns how many
/// rows it took before it asked to stop, the batches it was handed, and the reader.
fn read_until_deaf(rows: &[Vec<Cell<'_>>], listening: usize) -> (usize, Vec<usize>, LedgerReader) {
    let batches = Arc::new(Mutex::new(Vec::new()));
    let sink = batches.clone();
    let mut reader = LedgerReader::new(
        None,
        Box::new(move |batch| {
            let mut seen = sink.lock().unwrap();
            seen.push(batch.len());
            seen.len() <= listening
        }),
    );
    reader.start_sheet("台账");
    let mut taken = 0;
    for (i, row) in rows.iter().enumerate() {
        taken += 1;
        if reader.row(i as u32 + 1, row) == Flow::Stop {
            break;
        }
    }
    reader.finish();
    let batches = batches.lock().unwrap().clone();
    (taken, batches, reader)
}

#[test]
fn the_reader_stops_when_its_receiver_stops_listening() {
    let mut rows = vec![header()];
    rows.extend((1..=BATCH_LINES * 5).map(measure_row));
    // The receiver takes one batch and hangs up at the second: the row after it is the last.
    let (taken, batches, reader) = read_until_deaf(&rows, 1);
    assert_eq!(batches, vec![BATCH_LINES, BATCH_LINES]);
    assert_eq!(taken, 1 + 2 * BATCH_LINES + 1);
    assert!(matches!(
        reader.problems.as_slice(),
        [CellProblem {
            problem: Problem::WriterStopped,
            ..
        }]
    ));

    // With a bad cell the lines are only checked, and the receiver is asked with empty
    // batches whether it still listens.
    rows[3][0] = Cell::Empty;
    let (taken, batches, reader) = read_until_deaf(&rows, 2);
    assert_eq!(batches, vec![0, 0, 0]);
    // The bad row makes no line: the third batch fills a row later.
    assert_eq!(taken, 1 + 3 * BATCH_LINES + 1 + 1);
    assert_eq!(reader.problems.len(), 2, "{:?}", reader.problems);

    // A receiver that listens to the end gets every line.
    let (taken, batches, reader) = read_until_deaf(&rows[..1 + BATCH_LINES + 7], 10);
    assert_eq!(batches, vec![0, 0]);
    assert_eq!(taken, 1 + BATCH_LINES + 7);
    assert_eq!(reader.problems.len(), 1);
    rows[3] = measure_row(3);
    let (_, batches, reader) = read_until_deaf(&rows, 10);
    assert_eq!(batches, vec![BATCH_LINES; 5]);
    assert!(reader.problems.is_empty());
}

/// Batches handed back once written are emptied on the reading thread and filled again:
/// two buffers take turns, however many batches a file makes.
#[test]
fn written_batches_are_filled_again() {
    let (give_back, written) = std::sync::mpsc::channel();
    let seen = Arc::new(Mutex::new(Vec::new()));
    let sink = seen.clone();
    let mut reader = LedgerReader::new(
        None,
        Box::new(move |batch: Vec<LedgerLine>| {
            let first = batch.first().map(|l| l.code.clone());
            sink.lock()
                .unwrap()
                .push((batch.as_ptr() as usize, batch.len(), first));
            give_back.send(batch).is_ok()
        }),
    )
    .recycling(written);
    reader.start_sheet("台账");
    reader.row(1, &header());
    for n in 1..=BATCH_LINES * 4 {
        assert_eq!(reader.row(n as u32 + 1, &measure_row(n)), Flow::Continue);
    }
    reader.finish();
    assert!(reader.problems.is_empty(), "{:?}", reader.problems);
    let seen = seen.lock().unwrap().clone();
    let starts: Vec<_> = seen
        .iter()
        .map(|(_, len, first)| (*len, first.clone()))
        .collect();
    let expected: Vec<_> = (0..4)
        .map(|i| (BATCH_LINES, Some((i * BATCH_LINES + 1).to_string())))
        .collect();
    assert_eq!(starts, expected);
    assert_eq!(seen[2].0, seen[0].0, "the first buffer is filled again");
    assert_eq!(seen[3].0, seen[1].0);
    assert_ne!(seen[0].0, seen[1].0);
}

/// Lines written over the strings of lines handed back read exactly as lines made new:
/// nothing of a longer name, another unit list or a progress note before is left over.
#[test]
fn lines_written_over_spare_ones_carry_nothing_over() {
    // Every column, in the order of Column::ALL.
    let header: Vec<Cell<'static>> = Column::ALL.iter().map(|c| t(c.header())).collect();
    let units = [
        "经济发展局",
        "财政局",
        "区委办(区政府办)",
        "审计局",
        "住建局",
    ];
    let rows: Vec<Vec<Cell<'static>>> = (1..=BATCH_LINES * 5 + 17)
        .map(|n| {
            let leads = (0..1 + n % 4)
                .map(|i| units[(n + i) % units.len()])
                .collect::<Vec<_>>()
                .join("、");
            let leads = if n % 7 == 0 {
                format!("{leads}(牵头)")
            } else {
                leads
            };
            let others = (0..n % 3)
                .map(|i| units[(n * 3 + i) % units.len()])
                .collect::<Vec<_>>()
                .join("，");
            vec![
                Cell::Number(n as f64),
                t(&format!("方面{}", n / 900)),
                t(&format!("问题{}", n / 5)),
                t(&"召开专题会议研究部署".repeat(1 + n % 9)),
                if n % 2 == 0 {
                    t(&format!("目标{n}"))
                } else {
                    Cell::Empty
                },
                t(["王建国", "李明、张伟", "", "赵六，钱七，孙八"][n % 4]),
                t(&leads),
                t(&others),
                if n % 3 == 0 {
                    Cell::Date(NaiveDate::from_ymd_opt(2024, 1 + (n % 12) as u32, 1).unwrap())
                } else {
                    t(["2024年6月底前", "长期坚持", "立行立改", "2024/5/1"][n % 4])
                },
                if n % 5 < 2 {
                    t(&"已完成部分工作".repeat(1 + n % 4))
                } else {
                    Cell::Empty
                },
                t(["推进中", "", "已完成"][n % 3]),
            ]
        })
        .collect();
    let read = |recycle: bool| {
        let lines = Arc::new(Mutex::new(Vec::new()));
        let sink = lines.clone();
        let (give_back, written) = std::sync::mpsc::channel();
        let mut reader = LedgerReader::new(
            None,
            Box::new(move |batch: Vec<LedgerLine>| {
                sink.lock().unwrap().extend(batch.iter().cloned());
                give_back.send(batch).is_ok()
            }),
        );
        if recycle {
            reader = reader.recycling(written);
        }
        reader.start_sheet("台账");
        reader.row(1, &header);
        for (i, row) in rows.iter().enumerate() {
            assert_eq!(reader.row(i as u32 + 2, row), Flow::Continue);
        }
        reader.finish();
        assert!(reader.problems.is_empty(), "{:?}", reader.problems);
        let spare = reader.spare.len();
        let lines = lines.lock().unwrap().clone();
        (lines, spare)
    };
    let (fresh, none_spare) = read(false);
    let (reused, spare) = read(true);
    assert_eq!(fresh.len(), rows.len());
    assert_eq!(none_spare, 0);
    assert!(spare > 0, "lines were handed back");
    assert!(fresh.iter().any(|l| l.target.is_none()) && fresh.iter().any(|l| l.units.len() > 2));
    for (made, written_over) in fresh.iter().zip(&reused) {
        assert_eq!(made, written_over);
    }
    assert_eq!(fresh.len(), reused.len());
}

/// A column's slot in a read row is its place in `Column::ALL`.
#[test]
fn columns_are_numbered_as_listed() {
    for (i, column) in Column::ALL.into_iter().enumerate() {
        assert_eq!(column as usize, i, "{column:?}");
    }
}

/// The reader's memory of deadline texts gives what parsing gives, the first time and every
/// time after; a text that does not read fails each time with its own words and is not kept;
/// and once it holds its limit, further texts are read but not kept.
#[test]
fn remembered_deadlines_read_as_parsed() {
    let mut memo = DeadlineMemo::default();
    let texts = [
        "2024年5月底",
        "2024年5月3日前",
        "2024/5/1",
        "2024-05-01",
        "长期坚持，每月报送",
        "立行立改",
        "立行立改，2024年6月底前",
        "45291",
        "2024年13月",
        "",
        "下个月",
    ];
    for round in 0..3 {
        for text in texts {
            assert_eq!(
                memo.read(text),
                parse::deadline(text),
                "{text:?}, round {round}"
            );
        }
    }
    let readable = texts
        .iter()
        .filter(|text| parse::deadline(text).is_ok())
        .count();
    assert!(readable < texts.len(), "some texts do not read");
    assert_eq!(memo.0.len(), readable, "only the texts that read are kept");
    let mut day = NaiveDate::from_ymd_opt(2024, 1, 1).unwrap();
    for _ in 0..DEADLINES_REMEMBERED + 100 {
        let text = day.format("%Y年%-m月%-d日").to_string();
        assert_eq!(memo.read(&text), Ok(Deadline::Date(day)), "{text}");
        day = day.succ_opt().unwrap();
    }
    assert_eq!(memo.0.len(), DEADLINES_REMEMBERED);
    let unkept = day.pred_opt().unwrap().format("%Y年%-m月%-d日").to_string();
    assert!(!memo.0.contains_key(&unkept));
    assert_eq!(
        memo.read(&unkept),
        Ok(Deadline::Date(day.pred_opt().unwrap()))
    );
}
