//! The `duban` binary on the sample ledger and on broken ledgers, end to end.

mod common;

use common::{Sandbox, by_code, header, sample, write_xlsx};

const AT: &str = "2024-03-15";

#[test]
fn sample_ledger_imports_and_lists_with_colours() {
    let sb = Sandbox::sqlite();
    let out = sb.ok(&["import", sample().to_str().unwrap()]);
    assert!(out.contains("共66行，新增66项、更新0项、未变0项"), "{out}");
    let all = sb.measures(AT);
    assert_eq!(all.len(), 66);
    for m in &all {
        for key in [
            "code",
            "content",
            "problem",
            "lead_unit",
            "units",
            "leader",
            "deadline",
            "deadline_kind",
            "status",
            "colour",
            "overdue_days",
        ] {
            assert!(m.get(key).is_some(), "{key} missing in {m}");
        }
        assert!(m["units"].is_array());
        assert!(["date", "immediate", "long_term"].contains(&m["deadline_kind"].as_str().unwrap()));
        assert!(["green", "yellow", "red"].contains(&m["colour"].as_str().unwrap()));
    }
    // On 2024-03-15, the day the sample was made, the five open measures past their deadline
    // are red, and the three due within five working days yellow.
    let coded = |colour: &str| -> Vec<&str> {
        all.iter()
            .filter(|m| m["colour"] == colour)
            .map(|m| m["code"].as_str().unwrap())
            .collect()
    };
    assert_eq!(coded("red"), ["1-4", "3-4", "4-6", "6-6", "8-7"]);
    assert_eq!(coded("yellow"), ["3-2", "4-7", "9-7"]);
    // 1-4: deadline the Excel serial 45291 = Sunday 2023-12-31; 2024-01-01 is a holiday, so
    // it fell due on 2024-01-02. Working days since then up to 03-15: 21 in January, 18 in February
    // (with the make-up Sundays 02-04 and 02-18, without the Spring Festival 02-10..17), 11 in
    // March.
    let m = by_code(&all, "1-4");
    assert_eq!(
        (m["deadline"].as_str(), m["due"].as_str()),
        (Some("2023-12-31"), Some("2024-01-02"))
    );
    assert_eq!(m["overdue_days"], 50);
    assert_eq!(m["escalation"], "accountability"); // 20 working days and more: 问责建议
    // Deadline forms and unit separators, as written in the sample.
    let cases = [
        ("2-1", "date", Some("2023-12-31")), // "2023.12"
        ("8-3", "date", Some("2024-06-30")), // serial 45473
        ("8-5", "date", Some("2023-12-31")), // "2023/12/31"
        ("2-6", "date", Some("2024-03-31")), // "2024年3月31日前"
        ("1-8", "date", Some("2023-12-31")), // a date cell
        ("8-4", "date", Some("2024-06-30")), // "2024年上半年"
        ("9-6", "date", Some("2024-03-31")), // "2024年第一季度"
        ("3-2", "date", Some("2024-03-18")), // "2024-03-18"
        ("3-1", "immediate", None),          // 立行立改
        ("1-6", "long_term", None),          // 持续推进
        ("5-3", "long_term", None),          // 长期坚持(每季度报送)
    ];
    for (code, kind, deadline) in cases {
        let m = by_code(&all, code);
        assert_eq!(
            (m["deadline_kind"].as_str(), m["deadline"].as_str()),
            (Some(kind), deadline),
            "{code}"
        );
    }
    assert_eq!(by_code(&all, "5-3")["report_cycle"], "quarter");
    assert_eq!(
        by_code(&all, "1-6")["units"],
        serde_json::json!(["招商局", "商务局"]),
        "split at a line break"
    );
    assert_eq!(
        by_code(&all, "1-2")["units"],
        serde_json::json!(["党工委办公室", "管委会办公室"])
    );
    assert_eq!(
        by_code(&all, "2-8")["units"],
        serde_json::json!(["行政审批局", "人才工作办公室"])
    );
    assert_eq!(by_code(&all, "1-8")["units"].as_array().unwrap().len(), 3);
    assert_eq!(by_code(&all, "3-1")["leader"], "王建国、张卫东");
    // The merged 问题 cell carries down over its measures.
    assert_eq!(
        by_code(&all, "1-8")["problem"],
        by_code(&all, "1-1")["problem"]
    );
    assert!(
        by_code(&all, "10-1")["problem"]
            .as_str()
            .unwrap()
            .contains("整改主体责任")
    );
    // Filters.
    let red_only = sb.ok(&["measures", "--json", "--at", AT, "--colour", "red"]);
    assert_eq!(
        serde_json::from_str::<Vec<serde_json::Value>>(&red_only)
            .unwrap()
            .len(),
        5
    );
    let unit: Vec<serde_json::Value> =
        serde_json::from_str(&sb.ok(&["measures", "--json", "--at", AT, "--unit", "财政局"]))
            .unwrap();
    assert!(!unit.is_empty());
    assert!(
        unit.iter().all(|m| m["lead_unit"] == "财政局"
            || m["units"].as_array().unwrap().contains(&"财政局".into()))
    );
    let table = sb.ok(&["measures", "--at", AT]);
    assert!(table.starts_with("序号"), "{table}");
    assert!(table.contains("逾期50个工作日"), "{table}");
    assert!(
        table.contains("2024年3月15日共66项措施：红灯5项，黄灯3项，绿灯58项"),
        "{table}"
    );
}

#[test]
fn colours_move_with_the_day() {
    let sb = Sandbox::with_sample();
    // 9-7 is due "2024年3月19日前", a Tuesday.
    let before = sb.measures("2024-03-11");
    assert_eq!(by_code(&before, "9-7")["colour"], "green");
    assert_eq!(by_code(&before, "9-7")["working_days_left"], 6);
    let soon = sb.measures("2024-03-12");
    assert_eq!(by_code(&soon, "9-7")["colour"], "yellow");
    let after = sb.measures("2024-03-20");
    assert_eq!(by_code(&after, "9-7")["colour"], "red");
    assert_eq!(by_code(&after, "9-7")["overdue_days"], 1);
    assert_eq!(by_code(&after, "9-7")["escalation"], "urge");
    // Every day of the sample's year has holiday data: no remark.
    let quiet = sb.run(&["measures", "--at", "2024-03-20"]);
    assert!(
        quiet.stderr.is_empty(),
        "{}",
        String::from_utf8_lossy(&quiet.stderr)
    );
}

#[test]
fn a_year_without_holiday_data_is_named_once_and_only_when_it_matters() {
    let sb = Sandbox::sqlite();
    let file = sb.path("next-year.csv");
    std::fs::write(
        &file,
        "序号,整改措施,牵头单位,完成时限,状态
         1,年初完成,财政局,2027-01-05,推进中
         2,年底完成,财政局,2027-09-30,推进中
         3,已经销号,财政局,2028-01-05,已销号
",
    )
    .unwrap();
    // Importing decides no light: nothing to say about the calendar.
    let imported = sb.run(&["import", file.to_str().unwrap()]);
    assert!(imported.status.success());
    assert!(
        imported.stderr.is_empty(),
        "{}",
        String::from_utf8_lossy(&imported.stderr)
    );
    let stderr = |at: &str| {
        let out = sb.run(&["measures", "--at", at]);
        assert!(out.status.success());
        String::from_utf8(out.stderr).unwrap()
    };
    // In June 2026 the 2027 deadlines are far away: green whatever the holidays.
    assert_eq!(stderr("2026-06-01"), "");
    // Before New Year 2027, measure 1 falls due in days that 2027's holidays decide: named
    // once, in Chinese, and without colour codes when stderr is no terminal.
    let december = stderr("2026-12-20");
    assert_eq!(december.matches("2027年").count(), 1, "{december}");
    assert!(
        december.starts_with("提示：尚未载入2027年的节假日安排"),
        "{december}"
    );
    assert!(!december.contains('\u{1b}'), "{december:?}");
    assert_eq!(december.lines().count(), 1, "{december}");
    // A closed measure's 2028 deadline decides nothing.
    assert!(!stderr("2027-02-01").contains("2028"));
}

#[test]
fn units_are_created_from_the_ledger() {
    let sb = Sandbox::with_sample();
    let units: Vec<serde_json::Value> =
        serde_json::from_str(&sb.ok(&["units", "--json", "--at", AT])).unwrap();
    let leads = units
        .iter()
        .filter(|u| u["lead"].as_u64().unwrap() > 0)
        .count();
    assert_eq!(leads, 15, "the report's 15 lead units");
    let office = units.iter().find(|u| u["name"] == "党工委办公室").unwrap();
    assert_eq!(office["lead"], 8);
    let total: u64 = units.iter().map(|u| u["lead"].as_u64().unwrap()).sum();
    assert_eq!(total, 66);
    let red: u64 = units.iter().map(|u| u["red"].as_u64().unwrap()).sum();
    assert_eq!(red, 5);
    assert!(
        units
            .iter()
            .any(|u| u["name"] == "新区城投集团" && u["lead"] == 0),
        "responsible-only units exist too"
    );
    let table = sb.ok(&["units"]);
    assert!(table.contains("经济发展局"), "{table}");
}

#[test]
fn set_status_is_recorded_in_history() {
    let sb = Sandbox::with_sample();
    let out = sb.ok(&[
        "set-status",
        "3-2",
        "claimed",
        "--note",
        "方案已印发",
        "--by",
        "整改办张三",
    ]);
    assert_eq!(out.trim(), "3-2： 推进中 → 申请销号");
    let out = sb.ok(&["set-status", "3-2", "已销号"]);
    assert_eq!(out.trim(), "3-2： 申请销号 → 已销号");
    let again = sb.ok(&["set-status", "3-2", "closed"]);
    assert_eq!(again.trim(), "3-2当前已是已销号，未作更改");
    let history: serde_json::Value =
        serde_json::from_str(&sb.ok(&["history", "3-2", "--json"])).unwrap();
    let entries = history["history"].as_array().unwrap();
    assert_eq!(entries.len(), 3, "{history}");
    assert_eq!(entries[0]["source"], "import");
    assert_eq!(entries[0]["from"], serde_json::Value::Null);
    assert_eq!(entries[0]["to"], "in_progress");
    assert!(
        entries[0]["note"]
            .as_str()
            .unwrap()
            .contains("ledger.xlsx第"),
        "{history}"
    );
    assert_eq!(
        (
            &entries[1]["actor"],
            &entries[1]["source"],
            &entries[1]["from"],
            &entries[1]["to"],
            &entries[1]["note"]
        ),
        (
            &"整改办张三".into(),
            &"cli".into(),
            &"in_progress".into(),
            &"claimed".into(),
            &"方案已印发".into()
        )
    );
    assert_eq!(entries[2]["to"], "closed");
    assert!(
        history["notes"]
            .as_array()
            .unwrap()
            .iter()
            .any(|n| n["source"] == "import")
    );
    // The light follows: 3-2 is closed now.
    assert_eq!(by_code(&sb.measures(AT), "3-2")["colour"], "green");
    // Mistakes get clear answers and change nothing.
    let err = sb.fails(&["set-status", "1-44", "closed"]);
    assert!(
        err.contains("错误：没有序号为“1-44”的整改措施") && err.contains("1-4"),
        "{err}"
    );
    let err = sb.fails(&["set-status", "1-5", "finished-ish"]);
    assert!(err.contains("unknown status"), "{err}");
}

#[test]
fn a_bad_cell_stops_the_whole_import_and_every_problem_is_listed() {
    let sb = Sandbox::sqlite();
    let file = sb.path("broken.xlsx");
    let mut rows = vec![vec!["整改工作台账"], header()];
    rows.push(vec![
        "1",
        "问题一",
        "召开专题会议",
        "王建国",
        "经济发展局",
        "财政局",
        "2023-12-31",
        "",
        "推进中",
    ]);
    rows.push(vec![
        "2",
        "",
        "制定实施意见",
        "王建国",
        "经济发展局",
        "",
        "明年",
        "",
        "",
    ]);
    rows.push(vec![
        "3",
        "",
        "",
        "王建国",
        "",
        "",
        "2024-02-30",
        "",
        "差不多",
    ]);
    rows.push(vec![
        "1",
        "",
        "重复的序号",
        "王建国",
        "财政局",
        "",
        "2024.1",
        "",
        "",
    ]);
    write_xlsx(&file, &rows);
    let err = sb.fails(&["import", file.to_str().unwrap()]);
    let expected = [
        "  第4行，完成时限列：无法识别“明年”为完成时限",
        "  第5行，整改措施列：整改措施为空",
        "  第5行，牵头单位列：牵头单位为空",
        "  第5行，完成时限列：无法识别“2024-02-30”为完成时限：没有2024年2月30日这一天",
        "  第5行，状态列：无法识别状态“差不多”",
        "  第6行，序号列：序号“1”已在第3行使用，序号不能重复",
    ];
    for line in expected {
        assert!(err.contains(line), "missing {line:?} in:\n{err}");
    }
    assert!(err.contains("中有6处问题，未导入任何内容"), "{err}");
    // The same in English.
    let en = sb
        .command()
        .env("DUBAN_LANGUAGE", "en")
        .args(["import", file.to_str().unwrap()])
        .output()
        .unwrap();
    let en = String::from_utf8(en.stderr).unwrap();
    for line in [
        "row 4, column 完成时限: cannot read \"明年\" as a deadline",
        "row 5, column 整改措施: 整改措施 (measure) is empty",
        "row 5, column 完成时限: cannot read \"2024-02-30\" as a deadline: 2024-02-30 does not exist",
        "row 6, column 序号: code \"1\" is already used in row 3",
        "6 problem(s)",
        "nothing was imported",
    ] {
        assert!(en.contains(line), "missing {line:?} in:\n{en}");
    }
    // Nothing was written, not even the good first row or its units.
    assert!(sb.measures(AT).is_empty());
    let units: Vec<serde_json::Value> = serde_json::from_str(&sb.ok(&["units", "--json"])).unwrap();
    assert!(units.is_empty());
}

#[test]
fn a_bad_reimport_leaves_the_ledger_as_it_was() {
    let sb = Sandbox::with_sample();
    let before = sb.measures(AT);
    let file = sb.path("broken.xlsx");
    let mut rows = vec![header()];
    rows.push(vec![
        "1-1",
        "问题一",
        "改了措施",
        "王建国",
        "新单位",
        "",
        "2025-01-01",
        "",
        "",
    ]);
    rows.push(vec![
        "99-1",
        "问题一",
        "新措施",
        "王建国",
        "财政局",
        "",
        "下个月",
        "",
        "",
    ]);
    write_xlsx(&file, &rows);
    let err = sb.fails(&["import", file.to_str().unwrap()]);
    assert!(err.contains("第3行，完成时限列：无法识别“下个月”"), "{err}");
    assert_eq!(sb.measures(AT), before);
}

#[test]
fn files_that_are_not_ledgers() {
    let sb = Sandbox::sqlite();
    let missing_column = sb.path("no-deadline.xlsx");
    write_xlsx(
        &missing_column,
        &[
            vec!["序号", "问题", "整改措施", "牵头单位"],
            vec!["1", "p", "m", "u"],
        ],
    );
    let err = sb.fails(&["import", missing_column.to_str().unwrap()]);
    assert!(
        err.contains("第1行，完成时限列：表头缺少“完成时限”列"),
        "{err}"
    );
    let no_header = sb.path("notes.xlsx");
    write_xlsx(&no_header, &[vec!["会议纪要"], vec!["一、研究了整改工作"]]);
    let err = sb.fails(&["import", no_header.to_str().unwrap()]);
    assert!(err.contains("没有找到表头"), "{err}");
    let garbage = sb.path("garbage.xlsx");
    std::fs::write(&garbage, b"this is not a zip file").unwrap();
    let err = sb.fails(&["import", garbage.to_str().unwrap()]);
    assert!(
        err.contains("无法读取") && err.contains("garbage.xlsx"),
        "{err}"
    );
    let err = sb.fails(&["import", sb.path("absent.xlsx").to_str().unwrap()]);
    assert!(err.contains("absent.xlsx"), "{err}");
    let err = sb.fails(&["import", sb.path("ledger.docx").to_str().unwrap()]);
    assert!(
        err.contains("请使用 .xlsx、.xls、.ods 或 .csv 文件"),
        "{err}"
    );
    let err = sb.fails(&["import", sample().to_str().unwrap(), "--sheet", "Sheet9"]);
    assert!(
        err.contains("没有名为“Sheet9”的工作表") && err.contains("整改台账"),
        "{err}"
    );
}

#[test]
fn dry_run_reports_and_writes_nothing() {
    let sb = Sandbox::sqlite();
    let out = sb.ok(&["import", sample().to_str().unwrap(), "--dry-run"]);
    assert!(
        out.contains("试运行，未写入任何内容") && out.contains("新增66项"),
        "{out}"
    );
    // Not even the database file was made.
    let files: Vec<String> = std::fs::read_dir(sb.dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert!(files.is_empty(), "a dry run made {files:?}");
    assert!(sb.measures(AT).is_empty());
    // On an existing database, a dry run reports against it and changes nothing in it: the
    // changed ledger it checks is not applied, and no import is recorded.
    sb.ok(&["import", sample().to_str().unwrap()]);
    let before = (sb.measures(AT), sb.ok(&["history", "3-2", "--json"]));
    let (title, mut measures) = duban::ingest::sample::sample_measures().unwrap();
    measures[0].content = "改过的措施".into();
    let changed = sb.path("changed.xlsx");
    duban::ingest::sample::write_ledger_file(
        &changed,
        &title,
        &measures,
        duban::ingest::sample::Layout::HeadingRows,
    )
    .unwrap();
    let again = sb.ok(&["import", changed.to_str().unwrap(), "--dry-run"]);
    assert!(again.contains("更新1项、未变65项"), "{again}");
    let after = (sb.measures(AT), sb.ok(&["history", "3-2", "--json"]));
    assert_eq!(after, before, "the database is unchanged");
}

#[test]
fn reimport_updates_in_place_keeps_status_and_reports_missing() {
    let sb = Sandbox::with_sample();
    sb.ok(&["set-status", "3-4", "claimed", "--note", "已印发"]);
    // The office's updated ledger: 3-4 gets a new deadline and says 推进中, 10-4 is gone,
    // 11-1 is new, and 2-1 has a new progress line.
    let (title, mut measures) = duban::ingest::sample::sample_measures().unwrap();
    measures.retain(|m| m.code != duban::ingest::sample::RawCell::Text("10-4".into()));
    let m34 = measures
        .iter_mut()
        .find(|m| m.code == duban::ingest::sample::RawCell::Text("3-4".into()))
        .unwrap();
    m34.deadline = duban::ingest::sample::RawCell::Text("2024年6月底前".into());
    let m21 = measures
        .iter_mut()
        .find(|m| m.code == duban::ingest::sample::RawCell::Text("2-1".into()))
        .unwrap();
    m21.progress = "2024年一季度新增签约项目3个。".into();
    let mut new = measures[0].clone();
    new.code = duban::ingest::sample::RawCell::Text("11-1".into());
    new.content = "建立整改成果巩固长效机制".into();
    new.lead_unit = "审计办".into();
    measures.push(new);
    let file = sb.path("ledger-week2.xlsx");
    duban::ingest::sample::write_ledger_file(
        &file,
        &title,
        &measures,
        duban::ingest::sample::Layout::HeadingRows,
    )
    .unwrap();

    let dry = sb.ok(&["import", file.to_str().unwrap(), "--dry-run"]);
    assert!(dry.contains("新增1项、更新1项、未变64项"), "{dry}");
    let out = sb.ok(&["import", file.to_str().unwrap()]);
    assert!(out.contains("共66行，新增1项、更新1项、未变64项"), "{out}");
    assert!(
        out.contains("台账中有1项措施不在本文件中，已保留：10-4"),
        "{out}"
    );
    assert!(out.contains("3-4（文件：推进中，台账：申请销号）"), "{out}");
    let all = sb.measures(AT);
    assert_eq!(all.len(), 67, "10-4 is kept");
    let m = by_code(&all, "3-4");
    assert_eq!(
        (m["status"].as_str(), m["deadline"].as_str()),
        (Some("claimed"), Some("2024-06-30"))
    );
    assert_eq!(by_code(&all, "11-1")["lead_unit"], "审计办");
    assert_eq!(
        by_code(&all, "2-1")["latest_progress"],
        "2024年一季度新增签约项目3个。"
    );
    let history: serde_json::Value =
        serde_json::from_str(&sb.ok(&["history", "3-4", "--json"])).unwrap();
    let entries = history["history"].as_array().unwrap();
    let edit = entries.last().unwrap();
    assert_eq!(
        (
            edit["source"].as_str(),
            edit["from"].as_str(),
            edit["to"].as_str()
        ),
        (Some("import"), Some("claimed"), Some("claimed"))
    );
    assert!(
        edit["note"]
            .as_str()
            .unwrap()
            .contains("完成时限：2023年12月底前 → 2024年6月底前"),
        "{edit}"
    );
    let notes = history["notes"].as_array().unwrap();
    assert_eq!(notes.len(), 1);
    // Re-importing the same file again changes nothing.
    let again = sb.ok(&["import", file.to_str().unwrap()]);
    assert!(again.contains("新增0项、更新0项、未变66项"), "{again}");
    let history2: serde_json::Value =
        serde_json::from_str(&sb.ok(&["history", "2-1", "--json"])).unwrap();
    assert_eq!(
        history2["notes"].as_array().unwrap().len(),
        2,
        "the new progress line is a note, once"
    );
}

#[test]
fn export_round_trips_through_import() {
    let sb = Sandbox::with_sample();
    sb.ok(&["set-status", "5-6", "in_progress"]);
    let before = sb.measures(AT);
    let out_file = sb.path("export.xlsx");
    let out = sb.ok(&["export", out_file.to_str().unwrap(), "--at", AT]);
    assert!(out.contains("已将66项措施写入"), "{out}");
    // The same database takes the export back with nothing to change.
    let same = sb.ok(&["import", out_file.to_str().unwrap()]);
    assert!(same.contains("新增0项、更新0项、未变66项"), "{same}");
    // A fresh database gets the same ledger from the export.
    let fresh = Sandbox::sqlite();
    fresh.ok(&["import", out_file.to_str().unwrap()]);
    let after = fresh.measures(AT);
    assert_eq!(after.len(), before.len());
    for (a, b) in before.iter().zip(&after) {
        let mut a = a.clone();
        let mut b = b.clone();
        // The export writes dates as date cells, so only the wording of the deadline differs.
        a["deadline_text"] = serde_json::Value::Null;
        b["deadline_text"] = serde_json::Value::Null;
        assert_eq!(a, b);
    }
    // The summary sheet counts per lead unit.
    use calamine::{Reader, Xlsx, open_workbook};
    let mut book: Xlsx<_> = open_workbook(&out_file).unwrap();
    assert_eq!(book.sheet_names(), ["整改台账", "牵头单位汇总"]);
    let summary = book.worksheet_range("牵头单位汇总").unwrap();
    let rows: Vec<Vec<String>> = summary
        .rows()
        .map(|r| r.iter().map(|c| c.to_string()).collect())
        .collect();
    assert_eq!(
        rows[1][..8],
        [
            "牵头单位",
            "总数",
            "已销号",
            "申请销号",
            "推进中",
            "未启动",
            "红灯",
            "黄灯"
        ]
    );
    let total = rows.last().unwrap();
    assert_eq!(total[0], "合计");
    assert_eq!(total[1], "66");
    let red = before.iter().filter(|m| m["colour"] == "red").count();
    assert_eq!(total[6], red.to_string());
    let closed = before.iter().filter(|m| m["status"] == "closed").count();
    assert_eq!(total[2], closed.to_string());
    assert_eq!(rows.len(), 2 + 15 + 1, "one row per lead unit and a total");
}

#[test]
fn help_for_every_command() {
    let sb = Sandbox::sqlite();
    let top = sb.ok(&["--help"]);
    for command in [
        "migrate",
        "import",
        "export",
        "measures",
        "units",
        "set-status",
        "history",
        "demo",
    ] {
        assert!(top.contains(command), "{command} missing from --help");
        let help = sb.ok(&[command, "--help"]);
        assert!(help.contains("Usage: duban"), "{command}: {help}");
    }
    let measures = sb.ok(&["measures", "--help"]);
    for flag in ["--at", "--unit", "--colour", "--json"] {
        assert!(measures.contains(flag), "{flag}");
    }
}

#[test]
fn configuration_layers_and_environment_wins() {
    let sb = Sandbox::with_sample();
    // 9-7 is due 2024-03-19; on 03-11 six working days are left: green by default.
    assert_eq!(
        by_code(&sb.measures("2024-03-11"), "9-7")["colour"],
        "green"
    );
    let config = sb.path("duban.toml");
    std::fs::write(&config, "[rules]\nyellow_within_working_days = 10\n").unwrap();
    let out = sb
        .command()
        .args([
            "--config",
            config.to_str().unwrap(),
            "measures",
            "--json",
            "--at",
            "2024-03-11",
        ])
        .output()
        .unwrap();
    let list: Vec<serde_json::Value> = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        by_code(&list, "9-7")["colour"],
        "yellow",
        "the file raises the threshold"
    );
    let out = sb
        .command()
        .args([
            "--config",
            config.to_str().unwrap(),
            "measures",
            "--json",
            "--at",
            "2024-03-11",
        ])
        .env("DUBAN_RULES__YELLOW_WITHIN_WORKING_DAYS", "3")
        .output()
        .unwrap();
    let list: Vec<serde_json::Value> = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        by_code(&list, "9-7")["colour"],
        "green",
        "the environment wins over the file"
    );
    // config/duban.toml in the working directory is read by default.
    std::fs::create_dir_all(sb.path("config")).unwrap();
    std::fs::write(sb.path("config/duban.toml"), "language = \"en\"\n").unwrap();
    let table = sb.ok(&["measures", "--at", AT]);
    assert!(
        table.starts_with("code") && table.contains("overdue by 50 working day(s)"),
        "{table}"
    );
    // Mistakes name what is wrong.
    let err = sb
        .command()
        .args(["measures"])
        .env("DUBAN_TIMEZONE", "Mars/Olympus")
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&err.stderr).contains("Mars/Olympus"));
    let err = sb.fails(&["--config", "nowhere.toml", "measures"]);
    assert!(err.contains("nowhere.toml"), "{err}");
    std::fs::write(&config, "[rules]\nyellow_within_working_dayz = 10\n").unwrap();
    let err = sb.fails(&["--config", config.to_str().unwrap(), "measures"]);
    assert!(err.contains("yellow_within_working_dayz"), "{err}");
}

#[test]
fn database_passwords_stay_out_of_messages() {
    let sb = Sandbox::with_url("postgres://duban:s3cret-pw@127.0.0.1:1/duban");
    let out = sb
        .command()
        .arg("measures")
        .env("DUBAN_DATABASE_TIMEOUT_SECONDS", "1")
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!err.contains("s3cret-pw"), "{err}");
    assert!(
        err.contains("postgres://duban:***@127.0.0.1:1/duban"),
        "{err}"
    );
}

#[test]
fn unknown_unit_gets_the_nearest_names() {
    let sb = Sandbox::with_sample();
    let err = sb.fails(&["measures", "--unit", "经发局"]);
    assert!(
        err.contains("没有名为“经发局”的单位") && err.contains("经济发展局"),
        "{err}"
    );
}

#[test]
fn demo_loads_the_sample_once() {
    let sb = Sandbox::sqlite();
    let out = sb.ok(&["demo", "--at", AT]);
    assert!(out.contains("新增66项"), "{out}");
    // The sample is made on the day asked: red, yellow and green, whatever the day.
    assert!(
        out.contains("2024年3月15日共66项措施：红灯5项，黄灯3项，绿灯58项"),
        "{out}"
    );
    let again = sb.ok(&["demo", "--at", AT]);
    assert!(!again.contains("已导入"), "{again}");
    assert!(
        again.contains("数据库中已有66项措施，未再载入样例台账"),
        "the demo says why it loads nothing: {again}"
    );
    assert!(again.contains("2024年3月15日共66项措施"), "{again}");
    // Any other day gives the same picture, with the sample's deadlines around it.
    for day in ["2026-11-30", "2027-02-10", "2031-10-01"] {
        let other = Sandbox::sqlite();
        let out = other.ok(&["demo", "--at", day]);
        assert!(out.contains("红灯5项，黄灯3项，绿灯58项"), "{day}: {out}");
        let worst = other
            .measures(day)
            .iter()
            .map(|m| m["overdue_days"].as_u64().unwrap())
            .max()
            .unwrap();
        assert!(worst <= 80, "{day}: overdue by {worst} working days");
    }
}

#[test]
fn ledgers_with_english_headers_and_csv_in_gb18030() {
    let sb = Sandbox::sqlite();
    let csv = sb.path("ledger.csv");
    let text = "序号,问题,整改措施,牵头单位,责任单位,完成时限,状态\n\
                A-1,问题一,召开专题会议,经济发展局,\"财政局、招商局\",2023年12月底,已销号\n\
                A-2,,制定方案,财政局,,立行立改,\n";
    let (bytes, _, _) = encoding_rs::GB18030.encode(text);
    std::fs::write(&csv, &bytes).unwrap();
    sb.ok(&["import", csv.to_str().unwrap()]);
    let all = sb.measures(AT);
    assert_eq!(all.len(), 2);
    assert_eq!(
        by_code(&all, "A-1")["units"],
        serde_json::json!(["财政局", "招商局"])
    );
    assert_eq!(by_code(&all, "A-2")["problem"], "问题一");
    assert_eq!(by_code(&all, "A-2")["deadline_kind"], "immediate");
    let en = sb.path("en.xlsx");
    write_xlsx(
        &en,
        &[
            vec![
                "Code",
                "Problem",
                "Measure",
                "Lead unit",
                "Deadline",
                "Status",
            ],
            vec![
                "B-1",
                "Slow approvals",
                "Publish the service guide",
                "Approval Bureau",
                "2024/06/30",
                "in progress",
            ],
        ],
    );
    sb.ok(&["import", en.to_str().unwrap()]);
    let m = by_code(&sb.measures(AT), "B-1").clone();
    assert_eq!(
        (m["deadline"].as_str(), m["status"].as_str()),
        (Some("2024-06-30"), Some("in_progress"))
    );
}

#[test]
fn aspects_without_a_problem_column_and_a_problem_under_two_aspects() {
    let sb = Sandbox::sqlite();
    let file = sb.path("aspects.csv");
    std::fs::write(
        &file,
        "序号,方面,问题,整改措施,牵头单位,完成时限\n\
         1,党的建设方面,制度执行不严,修订制度,党群工作部,2024-06-30\n\
         2,作风建设方面,制度执行不严,开展检查,纪工委,2024-06-30\n\
         3,作风建设方面,,通报典型案例,纪工委,2024-06-30\n",
    )
    .unwrap();
    sb.ok(&["import", file.to_str().unwrap()]);
    let check = |all: &[serde_json::Value]| {
        assert_eq!(by_code(all, "1")["aspect"], "党的建设方面");
        assert_eq!(by_code(all, "2")["aspect"], "作风建设方面");
        assert_eq!(by_code(all, "2")["problem"], "制度执行不严");
        assert_eq!(by_code(all, "3")["aspect"], "作风建设方面");
    };
    check(&sb.measures(AT));
    // The same file again changes nothing and moves nothing.
    let again = sb.ok(&["import", file.to_str().unwrap()]);
    assert!(again.contains("新增0项、更新0项、未变3项"), "{again}");
    check(&sb.measures(AT));
    // No 问题 column at all: the aspect still stands.
    let no_problem = sb.path("no-problem.csv");
    std::fs::write(
        &no_problem,
        "序号,方面,整改措施,牵头单位,完成时限\nA,党的建设方面,召开会议,经发局,2024-06-30\n",
    )
    .unwrap();
    sb.ok(&["import", no_problem.to_str().unwrap()]);
    let a = by_code(&sb.measures(AT), "A").clone();
    assert_eq!(
        (a["aspect"].as_str(), a["problem"].as_str()),
        (Some("党的建设方面"), None)
    );
}

#[test]
fn the_sample_saved_as_csv_reads_the_same() {
    // As LibreOffice or Excel save it: heading rows are one cell, merged cells are not merged.
    let (_, measures) = duban::ingest::sample::sample_measures().unwrap();
    let mut csv = String::from(
        "序号,问题,整改措施,整改目标,责任领导,牵头单位,责任单位,完成时限,整改进展,状态\n",
    );
    let quote = |s: &str| format!("\"{}\"", s.replace('"', "\"\""));
    let mut aspect = String::new();
    let mut problem = String::new();
    for m in &measures {
        if m.aspect != aspect {
            csv.push_str(&format!("{},,,,,,,,,\n", quote(&m.aspect)));
            aspect = m.aspect.clone();
        }
        let problem_cell = if m.problem != problem {
            m.problem.clone()
        } else {
            String::new()
        };
        problem = m.problem.clone();
        let text = |c: &duban::ingest::sample::RawCell| match c {
            duban::ingest::sample::RawCell::Text(t) => t.clone(),
            duban::ingest::sample::RawCell::Number(n) => n.to_string(),
            duban::ingest::sample::RawCell::Date(d) => d.to_string(),
        };
        let cells = [
            text(&m.code),
            problem_cell,
            m.content.clone(),
            m.target.clone(),
            m.leader.clone(),
            m.lead_unit.clone(),
            m.units.clone(),
            text(&m.deadline),
            m.progress.clone(),
            m.status.clone(),
        ];
        csv.push_str(&cells.iter().map(|c| quote(c)).collect::<Vec<_>>().join(","));
        csv.push('\n');
    }
    csv.push_str("合计:66项,,,,,,,,,\n");
    let sb = Sandbox::sqlite();
    let file = sb.path("ledger.csv");
    std::fs::write(&file, csv).unwrap();
    sb.ok(&["import", file.to_str().unwrap()]);
    let xlsx = Sandbox::sqlite();
    xlsx.ok(&["import", sample().to_str().unwrap()]);
    let (a, b) = (sb.measures(AT), xlsx.measures(AT));
    assert_eq!(a.len(), 66);
    for (x, y) in a.iter().zip(&b) {
        for key in [
            "code",
            "aspect",
            "problem",
            "units",
            "leaders",
            "deadline",
            "deadline_kind",
            "status",
            "colour",
        ] {
            assert_eq!(x[key], y[key], "{key} of {}", x["code"]);
        }
    }
}

#[test]
fn csv_rows_count_records_not_lines() {
    let sb = Sandbox::sqlite();
    let file = sb.path("quoted.csv");
    std::fs::write(
        &file,
        "序号,整改措施,牵头单位,完成时限\n1,措施一,\"经发局\n财政局\",2024-06-30\n2,措施二,财政局,明年\n",
    )
    .unwrap();
    let err = sb.fails(&["import", file.to_str().unwrap()]);
    assert!(err.contains("第3行，完成时限列：无法识别“明年”"), "{err}");
}

#[test]
fn a_failure_after_many_batches_writes_nothing() {
    let sb = Sandbox::sqlite();
    let mut rows = duban::ingest::sample::synthetic_measures(4_500, 60, 3);
    rows.last_mut().unwrap().deadline = duban::ingest::sample::RawCell::Text("明年".into());
    let file = sb.path("big.xlsx");
    duban::ingest::sample::write_ledger_file(
        &file,
        "台账",
        &rows,
        duban::ingest::sample::Layout::AspectColumn,
    )
    .unwrap();
    let err = sb.fails(&["import", file.to_str().unwrap()]);
    assert!(err.contains("无法识别“明年”"), "{err}");
    assert!(sb.measures(AT).is_empty());
    let units: Vec<serde_json::Value> = serde_json::from_str(&sb.ok(&["units", "--json"])).unwrap();
    assert!(
        units.is_empty(),
        "the batches written before the bad row were rolled back"
    );
}
