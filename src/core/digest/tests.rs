use chrono::{TimeZone, Utc};

use super::*;
use crate::core::ledger::Deadline;
use crate::core::rules::{Context, Rules, assess};

fn d(text: &str) -> NaiveDate {
    NaiveDate::parse_from_str(text, "%Y-%m-%d").unwrap()
}

fn measure(code: &str, lead: &str, deadline: &str, status: Status, leader: &str) -> Measure {
    Measure {
        code: code.into(),
        aspect: None,
        problem: None,
        content: format!("措施{code}"),
        target: None,
        lead_unit: lead.into(),
        units: Vec::new(),
        leaders: if leader.is_empty() {
            Vec::new()
        } else {
            vec![leader.into()]
        },
        deadline: Deadline::Date(d(deadline)),
        deadline_text: deadline.into(),
        status,
        created_at: Utc.with_ymd_and_hms(2024, 1, 2, 2, 0, 0).unwrap(),
        last_report_at: None,
        claimed_at: None,
        latest_progress: None,
    }
}

fn ledger() -> Vec<Measure> {
    vec![
        measure("1-1", "财政局", "2024-03-01", Status::InProgress, "王建国"), // red, 10 days
        measure("1-2", "财政局", "2024-03-13", Status::NotStarted, ""),       // red, 2 days
        measure("2-1", "招商局", "2024-03-14", Status::InProgress, "李明"),   // red, 1 day
        measure("2-2", "招商局", "2024-03-19", Status::InProgress, ""),       // yellow
        measure("3-1", "国资办", "2024-12-31", Status::InProgress, ""),       // green
        measure("3-2", "国资办", "2024-01-31", Status::Closed, ""),           // closed
        measure("3-3", "国资办", "2024-06-30", Status::Claimed, ""),          // claimed, green
    ]
}

fn options(red_list_max: usize) -> Options {
    Options {
        red_list_max,
        silent_after_working_days: 3,
        language: Language::Zh,
        response: crate::core::rules::ResponseRule::default(),
    }
}

fn request(id: i64, category: RequestCategory, due: &str, answered: Option<&str>) -> Request {
    Request {
        id,
        unit: "财政局".into(),
        category,
        body: format!("诉求{id}"),
        raised_on: d("2024-03-01"),
        due: d(due),
        created_by: "整改办".into(),
        answer: answered.map(|_| "答复".into()),
        answered_by: None,
        answered_on: answered.map(d),
    }
}

#[test]
fn counts_lights_and_bars() {
    let cal = Calendar::builtin();
    let rules = Rules::default();
    let today = d("2024-03-15");
    let measures = ledger();
    let ctx = Context {
        today,
        calendar: &cal,
        rules: &rules,
        timezone: chrono_tz::Asia::Shanghai,
    };
    let assessments: Vec<Assessment> = measures.iter().map(|m| assess(m, &ctx)).collect();
    let counts = count(&measures, &assessments);
    assert_eq!(
        counts,
        Counts {
            total: 7,
            closed: 1,
            claimed: 1,
            in_progress: 4,
            not_started: 1,
            red: 3,
            yellow: 1,
            green: 2,
        }
    );
    assert_eq!(completion_rate(&counts), 14.3);
    assert_eq!(completion_rate(&Counts::default()), 0.0);
    let bars = bars(&measures, &assessments);
    let rows: Vec<(&str, u32, u32, u32)> = bars
        .iter()
        .map(|b| (b.unit.as_str(), b.closed, b.open, b.red))
        .collect();
    // The most red first.
    assert_eq!(
        rows,
        [
            ("财政局", 0, 2, 2),
            ("招商局", 0, 2, 1),
            ("国资办", 1, 2, 0)
        ]
    );
}

fn assessed(today: NaiveDate, measures: &[Measure], cal: &Calendar) -> Vec<Assessment<'static>> {
    assessed_with(today, measures, cal, Rules::default())
}

fn assessed_with(
    today: NaiveDate,
    measures: &[Measure],
    cal: &Calendar,
    rules: Rules,
) -> Vec<Assessment<'static>> {
    let rules: &'static Rules = Box::leak(Box::new(rules));
    let cal: &'static Calendar = Box::leak(Box::new(cal.clone()));
    let ctx = Context {
        today,
        calendar: cal,
        rules,
        timezone: chrono_tz::Asia::Shanghai,
    };
    measures.iter().map(|m| assess(m, &ctx)).collect()
}

#[test]
fn the_text_reports_what_leadership_asks() {
    let cal = Calendar::builtin();
    let today = d("2024-03-15");
    let measures = ledger();
    let assessments = assessed(today, &measures, &cal);
    let previous = Counts {
        total: 7,
        closed: 0,
        claimed: 1,
        in_progress: 4,
        not_started: 2,
        red: 1,
        yellow: 2,
        green: 3,
    };
    let requests = vec![
        request(
            1,
            RequestCategory::Consult,
            "2024-03-01",
            Some("2024-03-01"),
        ),
        request(
            2,
            RequestCategory::Consult,
            "2024-03-01",
            Some("2024-03-04"),
        ),
        request(3, RequestCategory::General, "2024-03-08", None),
        request(4, RequestCategory::Major, "2024-04-01", None),
    ];
    let silent = vec![
        Silent {
            unit: "财政局".into(),
            since: d("2024-03-11"),
        },
        Silent {
            unit: "招商局".into(),
            since: d("2024-03-14"),
        },
    ];
    let unreachable = vec![
        Cut {
            name: "张三".into(),
            group: false,
            place: Some("财政局".into()),
        },
        Cut {
            name: "招商局".into(),
            group: true,
            place: None,
        },
    ];
    let closed_today = vec!["3-2".to_string()];
    let facts = Facts {
        today,
        measures: &measures,
        assessments: &assessments,
        previous: Some((d("2024-03-14"), previous)),
        closed_today: &closed_today,
        silent: &silent,
        unreachable: &unreachable,
        requests: &requests,
        extended: 2,
    };
    let digest = build(&facts, &cal, &options(30));
    let text = &digest.text;
    let expected = [
        "【每日督办简报】2024年3月15日（星期五）",
        "整改措施7项：已销号1 · 待核验1 · 推进中4 · 未启动1",
        "完成率14.3%（已销号较上次+1）",
        "未销号亮灯，括号内为较2024年3月14日的变化：🔴 红灯3（+2） · 🟡 黄灯1（−1） · 🟢 绿灯2（−1）",
        "经批准延期的措施2项",
        // Named (通报) only from the tenth working day overdue; the others are being urged.
        "🔴 通报：逾期已达通报阶梯的措施（按牵头单位，共1项）：",
        "财政局（1项）",
        "  1-1 逾期10个工作日 · 王建国",
        "另有2项红灯尚在催办、督办中，未列入通报。",
        "✅ 今日销号1项：3-2",
        // 财政局 silent since Monday: 4 working days; 招商局 since yesterday: 1, not named.
        "⏳ 连续3个工作日未反馈：财政局（4个工作日）",
        "⛔ 无法送达（已屏蔽机器人或已移出群）：张三（财政局）、招商局工作群",
        "  咨询类：按时答复1 · 超时答复1 · 办理中0 · 超时未答复0",
        "  一般性协调：按时答复0 · 超时答复0 · 办理中0 · 超时未答复1",
        "  重大事项：按时答复0 · 超时答复0 · 办理中1 · 超时未答复0",
        "  ⚠️ R3 财政局【一般性协调】超时5个工作日：诉求3",
    ];
    let lines: Vec<&str> = text.lines().collect();
    for line in expected {
        assert!(lines.contains(&line), "missing {line:?} in\n{text}");
    }
    assert!(
        !text.contains("1-2 逾期") && !text.contains("2-1 逾期"),
        "{text}"
    );
    assert_eq!(
        crate::core::text::style_problems(text),
        Vec::<String>::new(),
        "the digest is written in the house style"
    );
    assert_eq!(digest.counts.red, 3);
    assert_eq!(digest.chart_title, "2024年3月15日各牵头单位整改进度");
    // The first digest has no changes to show.
    let first = build(
        &Facts {
            previous: None,
            ..facts
        },
        &cal,
        &options(30),
    );
    assert!(
        first
            .text
            .contains("未销号亮灯（首次简报）：🔴 红灯3 · 🟡 黄灯1 · 🟢 绿灯2"),
        "{}",
        first.text
    );
    assert!(first.text.contains("完成率14.3%\n"), "{}", first.text);
}

#[test]
fn the_red_list_is_capped() {
    let cal = Calendar::builtin();
    let today = d("2024-03-15");
    let measures = ledger();
    // A ladder that names every red measure from its first day overdue.
    let mut rules = Rules::default();
    for step in &mut rules.ladder {
        if step.key == "urge" {
            step.notify.push(crate::core::rules::Audience::Digest);
        }
    }
    let assessments = assessed_with(today, &measures, &cal, rules);
    let facts = Facts {
        today,
        measures: &measures,
        assessments: &assessments,
        previous: None,
        closed_today: &[],
        silent: &[],
        unreachable: &[],
        requests: &[],
        extended: 0,
    };
    let digest = build(&facts, &cal, &options(2));
    let text = &digest.text;
    assert!(text.contains("  1-2 逾期2个工作日\n……另有1项"), "{text}");
    assert!(!text.contains("2-1 逾期"), "{text}");
    // Nothing to say, nothing said.
    for absent in ["今日销号", "未反馈", "无法送达", "诉求办理", "延期"] {
        assert!(!text.contains(absent), "{absent}: {text}");
    }
    let english = build(
        &facts,
        &cal,
        &Options {
            language: Language::En,
            ..options(30)
        },
    );
    assert!(
        english.text.starts_with("[Daily digest] 2024-03-15 (Fri)"),
        "{}",
        english.text
    );
    assert!(
        english
            .text
            .contains("1-1 10 working day(s) overdue · 王建国"),
        "{}",
        english.text
    );
}
