use chrono::{DateTime, TimeZone, Utc};

use super::*;
use crate::core::ledger::{Deadline, Measure, ReportCycle, Status};

fn d(text: &str) -> NaiveDate {
    NaiveDate::parse_from_str(text, "%Y-%m-%d").unwrap()
}

/// Noon in Shanghai on `day`, as stored.
fn at(day: &str) -> DateTime<Utc> {
    let local = d(day).and_hms_opt(12, 0, 0).unwrap();
    chrono_tz::Asia::Shanghai
        .from_local_datetime(&local)
        .unwrap()
        .with_timezone(&Utc)
}

fn measure(deadline: Deadline, status: Status, created: &str) -> Measure {
    Measure {
        code: "1-1".into(),
        aspect: None,
        problem: None,
        content: "召开专题会议".into(),
        target: None,
        lead_unit: "经济发展局".into(),
        units: vec![],
        leaders: vec![],
        deadline,
        deadline_text: String::new(),
        status,
        created_at: at(created),
        last_report_at: None,
        claimed_at: None,
        latest_progress: None,
    }
}

fn judge<'r>(m: &Measure, today: &str, calendar: &'r Calendar, rules: &'r Rules) -> Assessment<'r> {
    let ctx = Context {
        today: d(today),
        calendar,
        rules,
        timezone: chrono_tz::Asia::Shanghai,
    };
    assess(m, &ctx)
}

fn upcoming(n: u32) -> Option<Tier> {
    Some(Tier::Upcoming { working_days: n })
}

fn overdue(working_days: u32, days: u32) -> Option<Tier> {
    Some(Tier::Overdue { working_days, days })
}

#[test]
fn dated_measures() {
    let cal = Calendar::builtin();
    let rules = Rules::default();
    type Case = (
        &'static str,
        &'static str,
        &'static str,
        Colour,
        Reason,
        &'static str,
        Option<Tier>,
    );
    #[rustfmt::skip]
    let cases: &[Case] = &[
        // (what, deadline, today, colour, reason, effective due, tier)
        ("far ahead", "2024-06-28", "2024-05-06", Colour::Green, Reason::OnTrack, "2024-06-28", upcoming(39)),
        ("six working days", "2024-06-28", "2024-06-20", Colour::Green, Reason::OnTrack, "2024-06-28", upcoming(6)),
        ("five working days", "2024-06-28", "2024-06-21", Colour::Yellow, Reason::DueSoon, "2024-06-28", upcoming(5)),
        ("due today", "2024-06-28", "2024-06-28", Colour::Yellow, Reason::DueToday, "2024-06-28", Some(Tier::DueToday)),
        ("the weekend after", "2024-06-28", "2024-06-30", Colour::Red, Reason::Overdue, "2024-06-28", overdue(0, 2)),
        ("the Monday after", "2024-06-28", "2024-07-01", Colour::Red, Reason::Overdue, "2024-06-28", overdue(1, 3)),
        // A deadline on a holiday falls due on the next working day.
        ("holiday deadline, before", "2024-10-01", "2024-09-30", Colour::Yellow, Reason::DueSoon, "2024-10-08", upcoming(1)),
        ("holiday deadline, during", "2024-10-01", "2024-10-05", Colour::Yellow, Reason::DueSoon, "2024-10-08", upcoming(1)),
        ("holiday deadline, due", "2024-10-01", "2024-10-08", Colour::Yellow, Reason::DueToday, "2024-10-08", Some(Tier::DueToday)),
        ("holiday deadline, after", "2024-10-01", "2024-10-09", Colour::Red, Reason::Overdue, "2024-10-08", overdue(1, 1)),
        // A make-up Saturday is a working day: a deadline on it stays, and it counts.
        ("make-up Saturday deadline", "2024-10-12", "2024-10-11", Colour::Yellow, Reason::DueSoon, "2024-10-12", upcoming(1)),
        ("make-up Saturday, Monday after", "2024-10-12", "2024-10-14", Colour::Red, Reason::Overdue, "2024-10-12", overdue(1, 2)),
        ("make-up Sunday counted", "2024-10-08", "2024-09-27", Colour::Yellow, Reason::DueSoon, "2024-10-08", upcoming(3)),
        // Dec 31 on a Sunday before New Year's Day: due on Jan 2.
        ("Dec 31 → Jan, before", "2023-12-31", "2023-12-29", Colour::Yellow, Reason::DueSoon, "2024-01-02", upcoming(1)),
        ("Dec 31 → Jan, due", "2023-12-31", "2024-01-02", Colour::Yellow, Reason::DueToday, "2024-01-02", Some(Tier::DueToday)),
        ("Dec 31 → Jan, after", "2023-12-31", "2024-01-03", Colour::Red, Reason::Overdue, "2024-01-02", overdue(1, 1)),
        ("long overdue", "2023-12-31", "2024-03-01", Colour::Red, Reason::Overdue, "2024-01-02", overdue(40, 59)),
    ];
    for (what, deadline, today, colour, reason, due, tier) in cases {
        let m = measure(
            Deadline::Date(d(deadline)),
            Status::InProgress,
            "2023-09-01",
        );
        let a = judge(&m, today, &cal, &rules);
        assert_eq!(
            (a.colour, a.reason, a.due, a.tier),
            (*colour, *reason, Some(d(due)), *tier),
            "{what}"
        );
    }
}

#[test]
fn day_off_policies() {
    let cal = Calendar::builtin();
    let cases = [
        (DayOffPolicy::NextWorkingDay, "2024-10-08"),
        (DayOffPolicy::PreviousWorkingDay, "2024-09-30"),
        (DayOffPolicy::AsIs, "2024-10-01"),
    ];
    for (policy, due) in cases {
        let rules = Rules {
            deadline_on_day_off: policy,
            ..Rules::default()
        };
        let m = measure(
            Deadline::Date(d("2024-10-01")),
            Status::InProgress,
            "2024-01-01",
        );
        assert_eq!(
            judge(&m, "2024-09-02", &cal, &rules).due,
            Some(d(due)),
            "{policy:?}"
        );
    }
}

#[test]
fn statuses() {
    let cal = Calendar::builtin();
    let rules = Rules::default();
    let deadline = Deadline::Date(d("2024-06-28"));
    // (status, claimed on, today, colour, reason)
    #[rustfmt::skip]
    let cases: &[(Status, Option<&str>, &str, Colour, Reason)] = &[
        (Status::Closed, Some("2024-06-01"), "2024-12-01", Colour::Green, Reason::Closed),
        (Status::Closed, None, "2024-06-27", Colour::Green, Reason::Closed),
        (Status::Claimed, None, "2024-07-15", Colour::Green, Reason::ClaimedInTime),
        (Status::Claimed, Some("2024-06-27"), "2024-07-15", Colour::Green, Reason::ClaimedInTime),
        (Status::Claimed, Some("2024-06-28"), "2024-07-15", Colour::Green, Reason::ClaimedInTime),
        (Status::Claimed, Some("2024-07-02"), "2024-07-15", Colour::Red, Reason::Overdue),
        (Status::Claimed, Some("2024-06-20"), "2024-06-24", Colour::Green, Reason::ClaimedInTime),
        (Status::NotStarted, None, "2024-07-15", Colour::Red, Reason::Overdue),
        (Status::NotStarted, None, "2024-06-24", Colour::Yellow, Reason::DueSoon),
    ];
    for (status, claimed, today, colour, reason) in cases {
        let mut m = measure(deadline, *status, "2024-01-02");
        m.claimed_at = claimed.map(at);
        let a = judge(&m, today, &cal, &rules);
        assert_eq!(
            (a.colour, a.reason),
            (*colour, *reason),
            "{status:?} claimed {claimed:?} on {today}"
        );
        if *status == Status::Closed {
            assert_eq!((a.due, a.tier, a.step), (None, None, None));
            assert_eq!(a.overdue_working_days(), 0);
        }
        if *status == Status::Claimed {
            assert!(
                a.step.is_none(),
                "a claim waits for the office, not the unit"
            );
        }
    }
    let strict = Rules {
        claim_in_time_is_green: false,
        ..Rules::default()
    };
    let mut m = measure(deadline, Status::Claimed, "2024-01-02");
    m.claimed_at = Some(at("2024-06-27"));
    assert_eq!(judge(&m, "2024-07-15", &cal, &strict).colour, Colour::Red);
}

#[test]
fn immediate_measures() {
    let cal = Calendar::builtin();
    let rules = Rules::default();
    // Created on Friday 2024-03-01; due five working days later, Friday 03-08.
    let m = measure(Deadline::Immediate(None), Status::NotStarted, "2024-03-01");
    let a = judge(&m, "2024-03-04", &cal, &rules);
    assert_eq!(
        (a.colour, a.due, a.tier),
        (Colour::Yellow, Some(d("2024-03-08")), upcoming(4))
    );
    assert_eq!(judge(&m, "2024-03-11", &cal, &rules).colour, Colour::Red);
    let dated = measure(
        Deadline::Immediate(Some(d("2024-03-02"))),
        Status::NotStarted,
        "2024-03-01",
    );
    assert_eq!(
        judge(&dated, "2024-03-04", &cal, &rules).tier,
        Some(Tier::DueToday)
    );
    // Counted from the feedback date when one is configured: handed over Monday 02-26, due
    // five working days later, Monday 03-04, whenever the measure was imported.
    let from_feedback = Rules {
        immediate_from: Some(d("2024-02-26")),
        ..Rules::default()
    };
    let late_import = measure(Deadline::Immediate(None), Status::NotStarted, "2024-03-01");
    let a = judge(&late_import, "2024-03-04", &cal, &from_feedback);
    assert_eq!(
        (a.due, a.tier),
        (Some(d("2024-03-04")), Some(Tier::DueToday))
    );
    assert_eq!(
        judge(&late_import, "2024-03-05", &cal, &from_feedback).colour,
        Colour::Red
    );
}

#[test]
fn long_term_measures_report_every_cycle() {
    let cal = Calendar::builtin();
    let rules = Rules::default();
    // Created 2024-01-10, monthly: January is covered, February's report is due 02-29.
    // (last report, today, colour, reason, due, tier)
    type Case = (
        Option<&'static str>,
        &'static str,
        Colour,
        Reason,
        &'static str,
        Option<Tier>,
    );
    #[rustfmt::skip]
    let cases: &[Case] = &[
        (None, "2024-01-20", Colour::Green, Reason::ReportOnTrack, "2024-02-29", upcoming(26)),
        (None, "2024-02-22", Colour::Yellow, Reason::ReportDueSoon, "2024-02-29", upcoming(5)),
        (None, "2024-02-29", Colour::Yellow, Reason::ReportDueSoon, "2024-02-29", Some(Tier::DueToday)),
        (None, "2024-03-01", Colour::Yellow, Reason::ReportMissing { missed_cycles: 1 }, "2024-02-29", overdue(1, 1)),
        // March 31 is a Sunday: March's report is due Monday 04-01, so 04-01 is one cycle missed…
        (None, "2024-04-01", Colour::Yellow, Reason::ReportMissing { missed_cycles: 1 }, "2024-02-29", overdue(22, 32)),
        // …and 04-02 two: red.
        (None, "2024-04-02", Colour::Red, Reason::ReportMissing { missed_cycles: 2 }, "2024-02-29", overdue(23, 33)),
        // A report in March covers March: April's report is due 04-30.
        (Some("2024-03-15"), "2024-04-02", Colour::Green, Reason::ReportOnTrack, "2024-04-30", upcoming(20)),
        (Some("2024-03-15"), "2024-04-24", Colour::Yellow, Reason::ReportDueSoon, "2024-04-30", upcoming(5)),
    ];
    for (report, today, colour, reason, due, tier) in cases {
        let mut m = measure(Deadline::LongTerm(None), Status::InProgress, "2024-01-10");
        m.last_report_at = report.map(at);
        let a = judge(&m, today, &cal, &rules);
        assert_eq!(
            (a.colour, a.reason, a.due, a.tier),
            (*colour, *reason, Some(d(due)), *tier),
            "report {report:?}, today {today}"
        );
    }
    // A quarterly measure created in January reports first for the second quarter.
    let m = measure(
        Deadline::LongTerm(Some(ReportCycle::Quarter)),
        Status::InProgress,
        "2024-01-10",
    );
    let a = judge(&m, "2024-04-02", &cal, &rules);
    assert_eq!((a.colour, a.due), (Colour::Green, Some(d("2024-07-01"))));
    let a = judge(&m, "2024-09-02", &cal, &rules);
    assert_eq!(
        (a.colour, a.reason),
        (Colour::Yellow, Reason::ReportMissing { missed_cycles: 1 })
    );
    // The third quarter's report was due Monday 09-30: by 10-09 two cycles are missed.
    let a = judge(&m, "2024-10-09", &cal, &rules);
    assert_eq!(
        (a.colour, a.reason),
        (Colour::Red, Reason::ReportMissing { missed_cycles: 2 })
    );
    // A closed long-term measure is simply green.
    let closed = measure(Deadline::LongTerm(None), Status::Closed, "2023-01-10");
    assert_eq!(
        judge(&closed, "2026-01-01", &cal, &rules).reason,
        Reason::Closed
    );
}

#[test]
fn cycle_ends() {
    let cases = [
        (ReportCycle::Week, "2024-10-09", "2024-10-13"),
        (ReportCycle::Week, "2024-10-13", "2024-10-13"),
        (ReportCycle::Month, "2024-02-10", "2024-02-29"),
        (ReportCycle::Quarter, "2024-05-10", "2024-06-30"),
        (ReportCycle::Quarter, "2024-12-31", "2024-12-31"),
        (ReportCycle::HalfYear, "2024-07-01", "2024-12-31"),
        (ReportCycle::Year, "2024-01-01", "2024-12-31"),
    ];
    for (cycle, day, end) in cases {
        assert_eq!(cycle_end(cycle, d(day)), d(end), "{cycle:?} {day}");
    }
}

#[test]
fn escalation_follows_the_default_ladder() {
    let cal = Calendar::builtin();
    let rules = Rules::default();
    let m = measure(
        Deadline::Date(d("2024-06-28")),
        Status::InProgress,
        "2024-01-02",
    );
    // (today, step key)
    let cases = [
        ("2024-06-20", None),           // 6 working days before
        ("2024-06-21", Some("remind")), // 5 before: yellow, remind the liaison
        ("2024-06-28", Some("remind")),
        ("2024-06-29", Some("remind")), // Saturday: 0 working days overdue
        ("2024-07-01", Some("urge")),   // the working day after: 催办
        ("2024-07-04", Some("urge")),   // 4 working days overdue
        ("2024-07-05", Some("supervise")), // 5: 督办 to the unit head
        ("2024-07-11", Some("supervise")),
        ("2024-07-12", Some("report")), // 10: 通报
        ("2024-07-25", Some("report")),
        ("2024-07-26", Some("accountability")), // 20: 问责建议
        ("2025-01-01", Some("accountability")),
    ];
    for (today, key) in cases {
        let step = judge(&m, today, &cal, &rules).step.map(|s| s.key.as_str());
        assert_eq!(step, key, "{today}");
    }
    // Around National Day 2024 the holidays do not count and the make-up days do: due Friday
    // 09-27; Sunday 09-29 is a working day, 10-01..07 are not, Saturday 10-12 is.
    let national = measure(
        Deadline::Date(d("2024-09-27")),
        Status::InProgress,
        "2024-01-02",
    );
    let cases = [
        ("2024-09-28", Some("remind")),    // Saturday off: not overdue yet
        ("2024-09-29", Some("urge")),      // the make-up Sunday: 1
        ("2024-10-07", Some("urge")),      // the holiday: still 2
        ("2024-10-09", Some("urge")),      // 4
        ("2024-10-10", Some("supervise")), // 5
        ("2024-10-12", Some("supervise")), // the make-up Saturday: 7
        ("2024-10-16", Some("report")),    // 10
        ("2024-10-29", Some("report")),    // 19
        ("2024-10-30", Some("accountability")), // 20
    ];
    for (today, key) in cases {
        let step = judge(&national, today, &cal, &rules)
            .step
            .map(|s| s.key.as_str());
        assert_eq!(step, key, "{today}");
    }
    // Who each step reaches.
    let reach = |key: &str| {
        rules
            .ladder
            .iter()
            .find(|s| s.key == key)
            .map(|s| s.notify.clone())
            .unwrap()
    };
    assert_eq!(reach("remind"), [Audience::Liaison]);
    assert_eq!(reach("urge"), [Audience::Liaison, Audience::Leader]);
    assert!(reach("supervise").contains(&Audience::UnitHead));
    assert!(!reach("supervise").contains(&Audience::Digest));
    assert!(reach("report").contains(&Audience::Digest));
    assert!(!reach("report").contains(&Audience::Office));
    assert!(reach("accountability").contains(&Audience::Office));
}

#[test]
fn a_five_document_ladder_is_configuration() {
    let text = include_str!("../../../config/ladder-wushu.toml");
    #[derive(serde::Deserialize)]
    struct File {
        rules: RulesOnly,
    }
    #[derive(serde::Deserialize)]
    struct RulesOnly {
        ladder: Vec<LadderStep>,
    }
    let file: File = toml::from_str(text).unwrap();
    let rules = Rules {
        ladder: file.rules.ladder,
        ..Rules::default()
    };
    assert_eq!(rules.ladder.len(), 5);
    let cal = Calendar::builtin();
    let m = measure(
        Deadline::Date(d("2024-06-28")),
        Status::NotStarted,
        "2024-05-06",
    );
    let cases = [
        ("2024-05-06", "notice"),         // handed out: 督查督办通知书
        ("2024-05-27", "guidance"),       // 15 working days in: 阶段督查指导书
        ("2024-06-21", "reminder"),       // 5 before the deadline: 提醒书
        ("2024-07-01", "warning"),        // the day after: 告诫书
        ("2024-07-15", "accountability"), // 11 working days overdue: 问责书
    ];
    for (today, key) in cases {
        let step = judge(&m, today, &cal, &rules).step.map(|s| s.key.clone());
        assert_eq!(step.as_deref(), Some(key), "{today}");
    }
}

#[test]
fn response_rule_due_dates() {
    let cal = Calendar::builtin();
    let rule = ResponseRule::default();
    #[rustfmt::skip]
    let cases = [
        // (raised on, category, due)
        ("2024-09-27", RequestCategory::Consult, "2024-09-27"), // a working Friday: same day
        ("2024-09-28", RequestCategory::Consult, "2024-09-29"), // a Saturday off: the make-up Sunday
        ("2024-10-03", RequestCategory::Consult, "2024-10-08"), // during National Day
        ("2024-09-23", RequestCategory::General, "2024-09-29"), // Mon + 5: the make-up Sunday is the fifth
        ("2024-09-30", RequestCategory::General, "2024-10-12"), // over the holiday, onto the make-up Saturday
        ("2024-01-31", RequestCategory::Major, "2024-02-29"),   // Jan 31 + one month, leap year
        ("2023-01-31", RequestCategory::Major, "2023-02-28"),
        ("2024-09-01", RequestCategory::Major, "2024-10-08"),   // Oct 1 is a holiday: moved forward
        ("2023-12-31", RequestCategory::Major, "2024-01-31"),   // Dec 31 → Jan
        ("2024-12-31", RequestCategory::General, "2025-01-08"), // Dec 31 → Jan, with New Year's Day
    ];
    for (raised, category, due) in cases {
        assert_eq!(
            response_due(d(raised), category, &rule, &cal),
            d(due),
            "{raised} {category:?}"
        );
    }
    let calendar_days = ResponseRule {
        general: ResponseLimit {
            amount: 7,
            unit: LimitUnit::Days,
        },
        ..ResponseRule::default()
    };
    assert_eq!(
        response_due(
            d("2024-09-24"),
            RequestCategory::General,
            &calendar_days,
            &cal
        ),
        d("2024-10-08")
    );
}

#[test]
fn colour_codes() {
    for c in [Colour::Red, Colour::Yellow, Colour::Green] {
        assert_eq!(Colour::parse(c.code()), Some(c));
        assert_eq!(Colour::parse(c.label_zh()), Some(c));
    }
    assert_eq!(Colour::parse("blue"), None);
}

#[test]
fn judging_a_day_before_the_measure_entered_duban() {
    let cal = Calendar::builtin();
    let rules = Rules::default();
    // Imported in November 2026, judged as of 2024-03-15: read as assigned on that day.
    let mut m = measure(Deadline::LongTerm(None), Status::InProgress, "2026-11-26");
    m.last_report_at = Some(at("2026-11-26"));
    let a = judge(&m, "2024-03-15", &cal, &rules);
    assert_eq!((a.colour, a.due), (Colour::Green, Some(d("2024-04-30"))));
    let immediate = measure(Deadline::Immediate(None), Status::NotStarted, "2026-11-26");
    assert_eq!(
        judge(&immediate, "2024-03-15", &cal, &rules).due,
        Some(d("2024-03-22"))
    );
}

#[test]
fn a_report_on_the_grace_day_covers_the_cycle_before() {
    let cal = Calendar::builtin();
    let rules = Rules::default();
    // Weekly: the week of 05-13 ends Sunday 05-19, so its report is due Monday 05-20. A report
    // that Monday is the late one; the week of 05-20 still owes its own, due Monday 05-27.
    let mut weekly = measure(
        Deadline::LongTerm(Some(ReportCycle::Week)),
        Status::InProgress,
        "2024-05-01",
    );
    weekly.last_report_at = Some(at("2024-05-20"));
    let a = judge(&weekly, "2024-05-29", &cal, &rules);
    assert_eq!(
        (a.colour, a.reason, a.due),
        (
            Colour::Yellow,
            Reason::ReportMissing { missed_cycles: 1 },
            Some(d("2024-05-27"))
        )
    );
    // Monthly: August 2024 ends on a Saturday; a report on Monday 09-02 is August's.
    let mut monthly = measure(Deadline::LongTerm(None), Status::InProgress, "2024-05-01");
    monthly.last_report_at = Some(at("2024-09-02"));
    let a = judge(&monthly, "2024-10-10", &cal, &rules);
    assert_eq!(
        (a.colour, a.reason, a.due),
        (
            Colour::Yellow,
            Reason::ReportMissing { missed_cycles: 1 },
            Some(d("2024-09-30"))
        )
    );
    // A report on 09-03 is September's.
    monthly.last_report_at = Some(at("2024-09-03"));
    assert_eq!(
        judge(&monthly, "2024-10-10", &cal, &rules).colour,
        Colour::Green
    );
    // Entering the ledger on a grace day still covers its own cycle.
    let new = measure(Deadline::LongTerm(None), Status::InProgress, "2024-09-02");
    assert_eq!(
        judge(&new, "2024-10-10", &cal, &rules).due,
        Some(d("2024-10-31"))
    );
}

#[test]
fn long_term_measures_escalate_from_the_day_they_turn_red() {
    let cal = Calendar::builtin();
    let rules = Rules::default();
    // Created 2024-01-10, no reports: February's report is due 02-29, March's 04-01.
    let m = measure(Deadline::LongTerm(None), Status::InProgress, "2024-01-10");
    let cases = [
        ("2024-02-21", Colour::Green, None),
        ("2024-02-22", Colour::Yellow, Some("remind")), // February's report due in 5 working days
        ("2024-03-01", Colour::Yellow, None),           // one report missed: yellow, no 催办
        ("2024-03-25", Colour::Yellow, Some("remind")), // the second report is due soon
        ("2024-04-02", Colour::Red, Some("urge")),      // two missed: red from 04-01, 催办
        ("2024-04-07", Colour::Red, Some("urge")),      // the make-up Sunday after Qingming: 3
        ("2024-04-08", Colour::Red, Some("urge")),
        ("2024-04-09", Colour::Red, Some("supervise")), // red for five working days: 督办
        ("2024-04-15", Colour::Red, Some("supervise")),
        ("2024-04-16", Colour::Red, Some("report")), // ten: 通报
    ];
    for (today, colour, step) in cases {
        let a = judge(&m, today, &cal, &rules);
        assert_eq!(
            (a.colour, a.step.map(|s| s.key.as_str())),
            (colour, step),
            "{today}"
        );
    }
}

#[test]
fn cycle_starts() {
    let cases = [
        (ReportCycle::Week, "2024-10-13", "2024-10-07"),
        (ReportCycle::Month, "2024-02-29", "2024-02-01"),
        (ReportCycle::Quarter, "2024-06-30", "2024-04-01"),
        (ReportCycle::HalfYear, "2024-12-01", "2024-07-01"),
        (ReportCycle::Year, "2024-12-31", "2024-01-01"),
    ];
    for (cycle, day, start) in cases {
        assert_eq!(cycle_start(cycle, d(day)), d(start), "{cycle:?} {day}");
    }
}
