use chrono::{TimeZone, Utc};

use super::*;
use crate::core::calendar::Calendar;
use crate::core::ledger::Deadline;
use crate::core::rules::{Context, Rules, assess};

fn d(text: &str) -> NaiveDate {
    NaiveDate::parse_from_str(text, "%Y-%m-%d").unwrap()
}

fn measure(code: &str, lead: &str, deadline: &str, status: Status) -> Measure {
    Measure {
        code: code.into(),
        aspect: None,
        problem: None,
        content: format!("措施{code}"),
        target: None,
        lead_unit: lead.into(),
        units: Vec::new(),
        leaders: vec!["王建国".into()],
        deadline: Deadline::Date(d(deadline)),
        deadline_text: deadline.into(),
        status,
        created_at: Utc.with_ymd_and_hms(2024, 1, 2, 2, 0, 0).unwrap(),
        last_report_at: None,
        claimed_at: None,
        latest_progress: None,
    }
}

#[test]
fn periods_cover_the_last_full_week_or_month() {
    #[rustfmt::skip]
    let cases = [
        (Period::Week, "2024-10-14", "2024-10-07", "2024-10-13"), // a Monday
        (Period::Week, "2024-10-16", "2024-10-07", "2024-10-13"), // a Wednesday
        (Period::Month, "2024-10-08", "2024-09-01", "2024-09-30"),
        (Period::Month, "2024-03-01", "2024-02-01", "2024-02-29"), // a leap year
        (Period::Month, "2025-01-02", "2024-12-01", "2024-12-31"),
    ];
    for (period, today, from, to) in cases {
        assert_eq!(
            period.covering(d(today)),
            (d(from), d(to)),
            "{period:?} {today}"
        );
    }
}

#[test]
fn units_rank_by_rate_then_red_then_silence() {
    let cal = Calendar::builtin();
    let rules = Rules::default();
    let today = d("2024-10-14");
    let measures = vec![
        // 甲局: 1 of 2 closed (50%), one red.
        measure("A-1", "甲局", "2024-06-28", Status::Closed),
        measure("A-2", "甲局", "2024-09-02", Status::InProgress),
        // 乙局: 1 of 2 closed (50%), none red.
        measure("B-1", "乙局", "2024-06-28", Status::Closed),
        measure("B-2", "乙局", "2024-12-31", Status::InProgress),
        // 丙局: 1 of 2 closed (50%), none red, silent for 5 days.
        measure("C-1", "丙局", "2024-06-28", Status::Closed),
        measure("C-2", "丙局", "2024-12-31", Status::InProgress),
        // 丁局: everything closed.
        measure("D-1", "丁局", "2024-06-28", Status::Closed),
    ];
    let ctx = Context {
        today,
        calendar: &cal,
        rules: &rules,
        timezone: chrono_tz::Asia::Shanghai,
    };
    let assessments: Vec<_> = measures.iter().map(|m| assess(m, &ctx)).collect();
    let silent = vec![("丙局".to_string(), d("2024-10-09"))];
    let named = vec!["A-2".to_string()];
    let closed = vec!["D-1".to_string()];
    let facts = Facts {
        today,
        period: Period::Week,
        number: 3,
        measures: &measures,
        assessments: &assessments,
        silent: &silent,
        newly_named: &named,
        closed: &closed,
    };
    let notice = build(&facts, Language::Zh);
    let order: Vec<&str> = notice.ranking.iter().map(|r| r.unit.as_str()).collect();
    assert_eq!(order, ["丁局", "乙局", "丙局", "甲局"]);
    assert_eq!(notice.ranking[2].silent_days, Some(5));
    assert_eq!(notice.number, "督办通报〔2024〕第3期");
    assert_eq!(notice.period, "2024年10月7日至2024年10月13日");
    assert!(notice.text.contains("完成率57.1%"), "{}", notice.text);
    assert!(
        notice.text.contains("二、未按时反馈的单位：丙局（5天）。"),
        "{}",
        notice.text
    );
    assert!(
        notice
            .text
            .contains("A-2 措施A-2（甲局牵头，逾期26个工作日，责任领导王建国）"),
        "{}",
        notice.text
    );
    assert!(
        notice.text.contains("四、本期销号1项：D-1。"),
        "{}",
        notice.text
    );
}
