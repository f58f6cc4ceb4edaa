use chrono::{TimeZone, Utc};

use super::*;
use crate::core::calendar::Calendar;
use crate::core::chat::ChannelKind;
use crate::core::rules::{Context, Rules, assess};

fn d(text: &str) -> NaiveDate {
    NaiveDate::parse_from_str(text, "%Y-%m-%d").unwrap()
}

fn measure(
    code: &str,
    lead: &str,
    units: &[&str],
    deadline: &str,
    status: Status,
    leader: &str,
) -> Measure {
    Measure {
        code: code.into(),
        aspect: None,
        problem: None,
        content: format!("措施{code}:召开专题会议研究部署整改工作"),
        target: None,
        lead_unit: lead.into(),
        units: units.iter().map(|u| u.to_string()).collect(),
        leaders: vec![leader.into()],
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
        measure(
            "1-1",
            "经济发展局",
            &[],
            "2024-03-20",
            Status::InProgress,
            "王建国",
        ), // yellow: 3 working days
        measure(
            "1-2",
            "经济发展局",
            &["财政局"],
            "2024-02-29",
            Status::NotStarted,
            "王建国",
        ), // red: 11 overdue
        measure(
            "1-3",
            "财政局",
            &[],
            "2024-03-14",
            Status::InProgress,
            "李明华",
        ), // red: 1 overdue
        measure(
            "1-4",
            "经济发展局",
            &[],
            "2024-06-28",
            Status::InProgress,
            "王建国",
        ), // green
        measure(
            "1-5",
            "经济发展局",
            &[],
            "2024-03-01",
            Status::Closed,
            "王建国",
        ), // closed
        measure(
            "1-6",
            "经济发展局",
            &[],
            "2024-03-01",
            Status::Claimed,
            "王建国",
        ), // claimed: the office's
        measure(
            "1-7",
            "经济发展局",
            &[],
            "2024-03-15",
            Status::InProgress,
            "王建国",
        ), // due today
    ]
}

fn planned(measures: &[Measure], recipients: &[Recipient]) -> Vec<Planned> {
    let calendar = Calendar::builtin();
    let rules = Rules::default();
    let ctx = Context {
        today: d("2024-03-15"),
        calendar: &calendar,
        rules: &rules,
        timezone: chrono_tz::Asia::Shanghai,
    };
    let assessments: Vec<Assessment> = measures.iter().map(|m| assess(m, &ctx)).collect();
    plan(measures, &assessments, recipients, ctx.today, Language::Zh)
}

/// The Telegram chat `id`.
fn tg(id: i64) -> Address {
    Address::new(ChannelKind::Telegram, id.to_string())
}

/// Telegram's text limit, by which reminders are split.
const MAX_MESSAGE_CHARS: usize = 4_000;

fn liaison(chat: i64, units: &[&str]) -> Recipient {
    Recipient {
        person_id: Some(chat),
        chat: tg(chat),
        kind: RecipientKind::Liaison {
            units: units.iter().map(|u| u.to_string()).collect(),
        },
    }
}

#[test]
fn each_liaison_gets_their_units_items_red_first() {
    let measures = ledger();
    let out = planned(
        &measures,
        &[
            liaison(10, &["经济发展局"]),
            liaison(20, &["财政局"]),
            liaison(30, &["审计办"]),
        ],
    );
    assert_eq!(out.len(), 2, "nothing for a unit with nothing due");
    assert_eq!(out[0].items, ["1-2", "1-7", "1-1"]);
    assert_eq!(
        out[1].items,
        ["1-2", "1-3"],
        "a responsible unit is reminded too"
    );
    let text = &out[0].message.text;
    assert!(text.starts_with("【催办】2024年3月15日，以下3项"), "{text}");
    assert!(
        text.contains("🔴 1-2 ") && text.contains("逾期11个工作日") && text.contains("未启动"),
        "{text}"
    );
    // The example names the first measure listed, and an extension date after today.
    assert!(
        text.contains("“1-2 已完成”") && text.contains("“1-2 延期至2024年4月30日 原因”"),
        "{text}"
    );
    assert!(
        text.contains("🟡 1-7 ") && text.contains("今日到期"),
        "{text}"
    );
    assert!(
        text.contains("🟡 1-1 ") && text.contains("还剩3个工作日"),
        "{text}"
    );
    let red = text.find("1-2").unwrap();
    assert!(red < text.find("1-7").unwrap() && red < text.find("1-1").unwrap());
    assert_eq!(out[0].message.buttons.len(), 3);
    assert_eq!(out[0].message.buttons[0][0].label, "✅ 1-2 完成");
    assert_eq!(out[0].message.buttons[2][3].data, "m:2:extend");
    assert_eq!(out[0].kind, Kind::Reminder.code());
}

#[test]
fn the_same_sweep_gives_the_same_keys() {
    let measures = ledger();
    let recipients = [liaison(10, &["经济发展局"])];
    let a = planned(&measures, &recipients);
    let b = planned(&measures, &recipients);
    assert_eq!(a, b);
    assert!(
        a[0].key.starts_with("reminder:10:2024-03-15:"),
        "{}",
        a[0].key
    );
    // Another item set is another message.
    let mut fewer = measures.clone();
    fewer[0].status = Status::Closed;
    assert_ne!(planned(&fewer, &recipients)[0].key, a[0].key);
}

#[test]
fn leaders_get_urge_copies_of_their_overdue_items_only() {
    let measures = ledger();
    let leader = |name: &str| Recipient {
        person_id: Some(99),
        chat: tg(99),
        kind: RecipientKind::Leader { name: name.into() },
    };
    let out = planned(&measures, &[leader("王建国")]);
    assert_eq!(out.len(), 1);
    assert_eq!(
        out[0].items,
        ["1-2"],
        "yellow and due-today items are not 催办 yet"
    );
    assert_eq!(out[0].kind, Kind::UrgeCopy.code());
    assert!(
        out[0]
            .message
            .text
            .starts_with("【督办抄报】2024年3月15日，您分管的1项"),
        "{}",
        out[0].message.text
    );
    assert!(out[0].message.text.contains("牵头单位：经济发展局"));
    assert!(out[0].message.buttons.is_empty(), "leaders read");
    // 1-3 is one working day overdue: 催办 reaches its leader too.
    assert_eq!(planned(&measures, &[leader("李明华")])[0].items, ["1-3"]);
    assert!(planned(&measures, &[leader("无名")]).is_empty());
}

#[test]
fn a_long_list_is_split_into_several_messages() {
    let measures: Vec<Measure> = (0..45)
        .map(|i| {
            measure(
                &format!("9-{i}"),
                "建设管理局",
                &[],
                "2024-03-01",
                Status::InProgress,
                "陈静",
            )
        })
        .collect();
    let out = planned(&measures, &[liaison(10, &["建设管理局"])]);
    assert_eq!(out.len(), 3);
    assert_eq!(
        out.iter().map(|p| p.items.len()).collect::<Vec<_>>(),
        [20, 20, 5]
    );
    for (i, p) in out.iter().enumerate() {
        assert!(p.message.text.chars().count() <= MAX_MESSAGE_CHARS);
        assert!(p.key.ends_with(&format!(":{}/3", i + 1)), "{}", p.key);
        assert_eq!(p.message.buttons.len(), p.items.len());
    }
}

#[test]
fn very_long_content_still_fits() {
    let mut measures = ledger();
    for m in &mut measures {
        m.content = "很长的措施".repeat(2000);
    }
    let out = planned(&measures, &[liaison(10, &["经济发展局"])]);
    assert!(
        out.iter()
            .all(|p| p.message.text.chars().count() <= MAX_MESSAGE_CHARS)
    );
}

#[test]
fn long_term_measures_are_reminded_when_their_report_is_due() {
    let mut measures = ledger();
    // Created in January, no report since: February's report is due 02-29; on 03-15 it is
    // one cycle late (yellow). A long-term measure with a report in March is green.
    let mut late = measure(
        "2-1",
        "经济发展局",
        &[],
        "2024-03-01",
        Status::InProgress,
        "王建国",
    );
    late.deadline = Deadline::LongTerm(None);
    let mut reported = late.clone();
    reported.code = "2-2".into();
    reported.last_report_at = Some(Utc.with_ymd_and_hms(2024, 3, 4, 2, 0, 0).unwrap());
    measures.extend([late, reported]);
    let out = planned(&measures, &[liaison(10, &["经济发展局"])]);
    assert!(out[0].items.contains(&"2-1".to_string()));
    assert!(!out[0].items.contains(&"2-2".to_string()));
    assert!(
        out[0]
            .message
            .text
            .contains("长期坚持，本期2024年2月29日前报送"),
        "{}",
        out[0].message.text
    );
    assert!(
        out[0].message.text.contains("已1个周期未报送进展"),
        "{}",
        out[0].message.text
    );
}

fn request(id: i64, unit: &str, due: &str, answered: Option<&str>) -> Request {
    Request {
        id,
        unit: unit.into(),
        category: crate::core::rules::RequestCategory::General,
        body: format!("企业诉求{id}:用地指标协调"),
        raised_on: d("2024-09-20"),
        due: d(due),
        created_by: "整改办".into(),
        answer: answered.map(|_| "已答复".into()),
        answered_by: None,
        answered_on: answered.map(d),
    }
}

#[test]
fn requests_are_reminded_to_their_units_late_first() {
    let cal = Calendar::builtin();
    let recipients = vec![
        Recipient {
            person_id: Some(1),
            chat: tg(100),
            kind: RecipientKind::Liaison {
                units: vec!["财政局".into()],
            },
        },
        Recipient {
            person_id: None,
            chat: tg(-200),
            kind: RecipientKind::Group {
                units: vec!["财政局".into(), "招商局".into()],
            },
        },
        Recipient {
            person_id: Some(3),
            chat: tg(300),
            kind: RecipientKind::Leader {
                name: "王建国".into(),
            },
        },
    ];
    let requests = vec![
        request(1, "财政局", "2024-09-27", None), // due today: reminded
        request(2, "财政局", "2024-09-25", None), // late: reminded first
        request(3, "财政局", "2024-10-31", None), // far off: not yet
        request(4, "财政局", "2024-09-25", Some("2024-09-24")), // answered: never
        request(5, "招商局", "2024-09-29", None), // the make-up Sunday: 1 working day left
    ];
    let today = d("2024-09-27");
    let out = plan_requests(&requests, &recipients, today, &cal, 5, Language::Zh);
    assert_eq!(out.len(), 2, "{out:#?}");
    let liaison = &out[0];
    assert_eq!(liaison.chat, tg(100));
    assert_eq!(liaison.kind, "requests");
    assert_eq!(
        liaison.context,
        Some(serde_json::json!({ "requests": [2, 1] }))
    );
    let text = &liaison.message.text;
    assert!(
        text.starts_with("【诉求督办】2024年9月27日，以下2项诉求待答复"),
        "{text}"
    );
    assert!(
        text.find("🔴 R2").unwrap() < text.find("🟡 R1").unwrap(),
        "{text}"
    );
    assert!(
        text.contains("超时2个工作日") && text.contains("今日到期"),
        "{text}"
    );
    assert!(
        !text.contains(" R3 【") && !text.contains(" R4 【"),
        "{text}"
    );
    let group = &out[1];
    assert_eq!(group.chat, tg(-200));
    assert_eq!(
        group.context,
        Some(serde_json::json!({ "requests": [2, 1, 5] }))
    );
    assert!(
        group.message.text.contains("还剩1个工作日"),
        "{}",
        group.message.text
    );
    // The same plan twice gives the same keys; another day, other keys.
    let again = plan_requests(&requests, &recipients, today, &cal, 5, Language::Zh);
    assert_eq!(out[0].key, again[0].key);
    let monday = plan_requests(
        &requests,
        &recipients,
        d("2024-09-30"),
        &cal,
        5,
        Language::Zh,
    );
    assert_ne!(out[0].key, monday[0].key);
}

#[test]
fn unit_heads_get_supervision_of_what_their_unit_leads_from_the_fifth_day() {
    let measures = ledger();
    let head = |chat: i64, unit: &str| Recipient {
        person_id: Some(chat),
        chat: tg(chat),
        kind: RecipientKind::Head {
            units: vec![unit.into()],
        },
    };
    // On 03-15, 1-2 (经济发展局 leads, 财政局 helps) is 11 working days overdue; 1-3 (财政局)
    // only one: 催办 to the liaison, not yet 督办.
    let out = planned(&measures, &[head(501, "经济发展局"), head(502, "财政局")]);
    assert_eq!(out.len(), 1, "{out:#?}");
    assert_eq!(out[0].chat, tg(501));
    assert_eq!(out[0].items, ["1-2"]);
    assert_eq!(out[0].kind, Kind::Supervise.code());
    assert!(
        out[0].message.text.starts_with("【督办】"),
        "{}",
        out[0].message.text
    );
    assert!(out[0].message.buttons.is_empty());
}
