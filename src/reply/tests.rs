use super::*;

fn d(text: &str) -> NaiveDate {
    NaiveDate::parse_from_str(text, "%Y-%m-%d").unwrap()
}

#[test]
fn intents_in_chinese_and_english() {
    let cases: &[(&str, Intent)] = &[
        ("完成", Intent::Done { note: None }),
        (
            "已完成,材料已报送",
            Intent::Done {
                note: Some("材料已报送".into()),
            },
        ),
        ("办结", Intent::Done { note: None }),
        ("Done", Intent::Done { note: None }),
        (
            "done - report filed",
            Intent::Done {
                note: Some("- report filed".into()),
            },
        ),
        (
            "100% 已完成",
            Intent::Done {
                note: Some("100% 已完成".into()),
            },
        ),
        (
            "推进中",
            Intent::Progress {
                percent: None,
                note: "推进中".into(),
            },
        ),
        (
            "进展:合同已签",
            Intent::Progress {
                percent: None,
                note: "进展:合同已签".into(),
            },
        ),
        (
            "60% 合同已签",
            Intent::Progress {
                percent: Some(60),
                note: "60% 合同已签".into(),
            },
        ),
        (
            "完成60%",
            Intent::Progress {
                percent: Some(60),
                note: "完成60%".into(),
            },
        ),
        (
            "In progress, 40%",
            Intent::Progress {
                percent: Some(40),
                note: "In progress, 40%".into(),
            },
        ),
        (
            "需协调 用地指标未落实",
            Intent::Blocked {
                reason: "用地指标未落实".into(),
            },
        ),
        (
            "困难:资金缺口",
            Intent::Blocked {
                reason: "资金缺口".into(),
            },
        ),
        (
            "需协调\u{FF1A}资金缺口",
            Intent::Blocked {
                reason: "资金缺口".into(),
            },
        ),
        (
            "60\u{FF05}",
            Intent::Progress {
                percent: Some(60),
                note: "60\u{FF05}".into(),
            },
        ),
        (
            "blocked: waiting for the land quota",
            Intent::Blocked {
                reason: "waiting for the land quota".into(),
            },
        ),
        (
            "延期 2024-06-30",
            Intent::Extend {
                until: d("2024-06-30"),
                reason: None,
            },
        ),
        (
            "申请延期至2024年6月底 设备未到货",
            Intent::Extend {
                until: d("2024-06-30"),
                reason: Some("设备未到货".into()),
            },
        ),
        (
            "extend to 2024-06-30 supplier late",
            Intent::Extend {
                until: d("2024-06-30"),
                reason: Some("supplier late".into()),
            },
        ),
        (
            "未完成,还在等审批",
            Intent::Note("未完成,还在等审批".into()),
        ),
        ("已与财政局对接", Intent::Note("已与财政局对接".into())),
        ("完成情况良好", Intent::Note("完成情况良好".into())),
        ("完成进度过半", Intent::Note("完成进度过半".into())),
        (
            "完成时间推迟到7月",
            Intent::Note("完成时间推迟到7月".into()),
        ),
        ("完成不了", Intent::Note("完成不了".into())),
        (
            "已完成整改",
            Intent::Done {
                note: Some("整改".into()),
            },
        ),
    ];
    for (text, expected) in cases {
        assert_eq!(intent(text).as_ref(), Ok(expected), "{text:?}");
    }
}

#[test]
fn replies_that_need_more() {
    assert_eq!(intent("  "), Err(ReplyError::Empty));
    assert_eq!(intent("延期"), Err(ReplyError::ExtensionWithoutDate));
    assert_eq!(intent("延期 下个月"), Err(ReplyError::ExtensionWithoutDate));
    assert_eq!(intent("需协调"), Err(ReplyError::BlockedWithoutReason));
}

#[test]
fn leading_codes() {
    let cases: &[(&str, Option<(&str, &str)>)] = &[
        ("1-3 已完成", Some(("1-3", "已完成"))),
        ("1-3:已完成", Some(("1-3", "已完成"))),
        ("1-3\u{FF1A}已完成", Some(("1-3", "已完成"))),
        ("1-3\u{FF0C}60\u{FF05}", Some(("1-3", "60\u{FF05}"))),
        ("A12, 推进中", Some(("A12", "推进中"))),
        ("１-３ 完成", Some(("1-3", "完成"))),
        ("已完成", None),
        ("60% 合同已签", None),
        ("done", None),
        ("延期 2024-06-30", None),
        ("1-4已完成", Some(("1-4", "已完成"))),
        ("2.3、推进中", Some(("2.3", "推进中"))),
        ("5. 已完成", Some(("5", "已完成"))),
        ("12 已完成", Some(("12", "已完成"))),
        ("1-3", Some(("1-3", ""))),
        ("5月底前完成", None),
        ("3项已完成", None),
        ("3/4 已完成", None),
        ("3-5个工作日内完成", None),
        ("1-2月已完成前期工作", None),
        ("3.5万元已拨付", None),
        ("5.1日前完成", None),
    ];
    for (text, expected) in cases {
        let got = split_code(text);
        assert_eq!(
            got.as_ref().map(|c| (c.code.as_str(), c.rest)),
            *expected,
            "{text:?}"
        );
    }
}

#[test]
fn glued_codes_are_marked() {
    assert!(split_code("1-4已完成").unwrap().glued);
    assert!(!split_code("1-4 已完成").unwrap().glued);
    assert!(!split_code("1-4:已完成").unwrap().glued);
    assert!(!split_code("1-4").unwrap().glued);
}
