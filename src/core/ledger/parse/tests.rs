use super::*;

fn d(text: &str) -> NaiveDate {
    NaiveDate::parse_from_str(text, "%Y-%m-%d").unwrap()
}

#[test]
fn deadlines_in_the_forms_offices_write() {
    let cases: &[(&str, Deadline)] = &[
        ("2023-12-31", Deadline::Date(d("2023-12-31"))),
        ("2023/12/31", Deadline::Date(d("2023-12-31"))),
        ("2023.12.31", Deadline::Date(d("2023-12-31"))),
        ("2023.12", Deadline::Date(d("2023-12-31"))),
        ("2024.2", Deadline::Date(d("2024-02-29"))),
        ("2023-9", Deadline::Date(d("2023-09-30"))),
        ("2023年12月底", Deadline::Date(d("2023-12-31"))),
        ("2024年6月底前", Deadline::Date(d("2024-06-30"))),
        ("2023年10月31日前", Deadline::Date(d("2023-10-31"))),
        ("2024年3月31号", Deadline::Date(d("2024-03-31"))),
        ("2024年2月", Deadline::Date(d("2024-02-29"))),
        ("2023年底前", Deadline::Date(d("2023-12-31"))),
        ("2023年年底", Deadline::Date(d("2023-12-31"))),
        ("2024年上半年", Deadline::Date(d("2024-06-30"))),
        ("2024年下半年", Deadline::Date(d("2024-12-31"))),
        ("2024年内", Deadline::Date(d("2024-12-31"))),
        ("2024年第三季度", Deadline::Date(d("2024-09-30"))),
        ("2024年1季度", Deadline::Date(d("2024-03-31"))),
        ("2024年5月中旬", Deadline::Date(d("2024-05-20"))),
        ("2024年5月上旬", Deadline::Date(d("2024-05-10"))),
        ("2024年5月下旬", Deadline::Date(d("2024-05-31"))),
        ("２０２３年１２月底", Deadline::Date(d("2023-12-31"))),
        (" 2023 年 12 月底 ", Deadline::Date(d("2023-12-31"))),
        ("2023", Deadline::Date(d("2023-12-31"))),
        ("45291", Deadline::Date(d("2023-12-31"))),
        (
            "2023年9月底前初步完成,2023年12月底前全面完成",
            Deadline::Date(d("2023-12-31")),
        ),
        (
            "2023年12月底前完成并长期坚持",
            Deadline::Date(d("2023-12-31")),
        ),
        ("立行立改", Deadline::Immediate(None)),
        ("立即整改", Deadline::Immediate(None)),
        (
            "立行立改,2023年9月底前",
            Deadline::Immediate(Some(d("2023-09-30"))),
        ),
        (
            "立行立改 2023-09-30",
            Deadline::Immediate(Some(d("2023-09-30"))),
        ),
        ("长期坚持", Deadline::LongTerm(None)),
        ("持续推进", Deadline::LongTerm(None)),
        ("立行立改、长期坚持", Deadline::Immediate(None)),
        (
            "长期坚持(每季度报送)",
            Deadline::LongTerm(Some(ReportCycle::Quarter)),
        ),
        (
            "长期坚持(每月报送)",
            Deadline::LongTerm(Some(ReportCycle::Month)),
        ),
        (
            "长期坚持(每半年报送)",
            Deadline::LongTerm(Some(ReportCycle::HalfYear)),
        ),
        (
            "Ongoing, monthly",
            Deadline::LongTerm(Some(ReportCycle::Month)),
        ),
        ("immediate", Deadline::Immediate(None)),
        ("Long term", Deadline::LongTerm(None)),
        (
            "长期坚持,按周报送",
            Deadline::LongTerm(Some(ReportCycle::Week)),
        ),
        // A date that starts something is no deadline.
        (
            "自2024年3月起长期坚持,每季度报送",
            Deadline::LongTerm(Some(ReportCycle::Quarter)),
        ),
        ("2024年起长期坚持", Deadline::LongTerm(None)),
        // A bare year followed by other words only says when.
        (
            "2023年12月底前完成,2024年持续巩固",
            Deadline::Date(d("2023-12-31")),
        ),
        ("2024年完成", Deadline::Date(d("2024-12-31"))),
        ("2024年持续巩固", Deadline::LongTerm(None)),
        (
            "2024年,立行立改",
            Deadline::Immediate(Some(d("2024-12-31"))),
        ),
    ];
    for (text, expected) in cases {
        assert_eq!(deadline(text).as_ref(), Ok(expected), "{text:?}");
    }
}

#[test]
fn every_deadline_reads_back_from_its_cell_text() {
    let deadlines = [
        Deadline::Date(d("2024-02-29")),
        Deadline::Immediate(None),
        Deadline::Immediate(Some(d("2023-09-30"))),
        Deadline::LongTerm(None),
        Deadline::LongTerm(Some(ReportCycle::Week)),
        Deadline::LongTerm(Some(ReportCycle::Month)),
        Deadline::LongTerm(Some(ReportCycle::Quarter)),
        Deadline::LongTerm(Some(ReportCycle::HalfYear)),
        Deadline::LongTerm(Some(ReportCycle::Year)),
    ];
    for deadline_value in deadlines {
        let text = deadline_value.to_cell_text();
        assert_eq!(deadline(&text), Ok(deadline_value), "{text}");
    }
}

#[test]
fn unreadable_deadlines_say_what_was_written() {
    let cases: &[(&str, &str)] = &[
        ("明年", "cannot read \"明年\" as a deadline"),
        ("", "empty"),
        ("   ", "empty"),
        ("2023-02-30", "2023-02-30 does not exist"),
        ("2023年13月底", "month 13 does not exist"),
        ("1899年12月", "year 1899 is out of range"),
        ("12月底前", "cannot read \"12月底前\" as a deadline"),
        ("尽快", "cannot read \"尽快\""),
        ("99999", "cannot read 99999"),
        ("2024年前", "cannot read \"2024年前\""), // before 2024, or by the end of it?
    ];
    for (text, needle) in cases {
        let err = deadline(text).unwrap_err();
        assert!(err.to_string().contains(needle), "{text:?} gave {err:?}");
        // Every one reads in Chinese too, quoting what was written.
        let zh = err.text(crate::core::text::Language::Zh);
        assert!(
            text.trim().is_empty() || zh.contains(text),
            "{text:?} gave {zh}"
        );
        assert_eq!(
            crate::core::text::style_problems(&zh),
            Vec::<String>::new(),
            "{zh}"
        );
    }
}

#[test]
fn numeric_deadline_cells() {
    let ok: &[(f64, &str)] = &[
        (45291.0, "2023-12-31"),
        (45473.0, "2024-06-30"),
        (45291.75, "2023-12-31"),
        (2024.0, "2024-12-31"),
        (2023.12, "2023-12-31"),
        (2023.11, "2023-11-30"),
        (2024.2, "2024-02-29"),
    ];
    for (value, expected) in ok {
        assert_eq!(
            deadline_number(*value),
            Ok(Deadline::Date(d(expected))),
            "{value}"
        );
    }
    let ambiguous = deadline_number(2023.1).unwrap_err().to_string();
    assert!(
        ambiguous.contains("ambiguous") && ambiguous.contains("2023-10"),
        "{ambiguous}"
    );
    assert!(deadline_number(12.0).is_err());
    assert!(
        deadline_number(2023.999).is_err(),
        "no month has three digits"
    );
    assert!(deadline_number(2023.123).is_err());
    assert!(deadline_number(-3.0).is_err());
}

#[test]
fn date_cells_in_range() {
    assert_eq!(
        deadline_date(d("2024-06-30")),
        Ok(Deadline::Date(d("2024-06-30")))
    );
    assert!(
        deadline_date(d("1900-01-05"))
            .unwrap_err()
            .to_string()
            .contains("out of range")
    );
    assert!(deadline_date(d("9999-12-31")).is_err());
}

#[test]
fn unit_cells_split_on_every_separator() {
    let cases: &[(&str, &[&str])] = &[
        ("经济发展局、投资服务中心", &["经济发展局", "投资服务中心"]),
        ("经济发展局,投资服务中心", &["经济发展局", "投资服务中心"]),
        (
            "经济发展局\u{FF0C}投资服务中心",
            &["经济发展局", "投资服务中心"],
        ),
        (
            "经济发展局;投资服务中心;财政局",
            &["经济发展局", "投资服务中心", "财政局"],
        ),
        (
            "经济发展局\u{FF1B}投资服务中心",
            &["经济发展局", "投资服务中心"],
        ),
        (
            "经济发展局\n投资服务中心\r\n财政局",
            &["经济发展局", "投资服务中心", "财政局"],
        ),
        (" 经济发展局(牵头)、 财政局 ,", &["经济发展局", "财政局"]),
        ("经济发展局(牵头)、经济发展局", &["经济发展局"]),
        (
            "经济发展局\u{FF08}牵头\u{FF09}\u{FF0C}财政局",
            &["经济发展局", "财政局"],
        ),
        ("", &[]),
        ("、,", &[]),
    ];
    for (text, expected) in cases {
        assert_eq!(units(text), *expected, "{text:?}");
    }
}

#[test]
fn names_take_one_form() {
    let cases = [
        ("区委办(区政府办)", "区委办（区政府办）"),
        ("区委办（区政府办）", "区委办（区政府办）"),
        ("  经济\u{200B}发展局 ", "经济发展局"),
        ("Office  of\tFinance (East)", "Office of Finance (East)"),
        ("Office （East）", "Office (East)"),
    ];
    for (text, expected) in cases {
        assert_eq!(name(text), expected, "{text:?}");
    }
    assert_eq!(
        units("区委办(区政府办)、区委办（区政府办）"),
        ["区委办（区政府办）"]
    );
    assert_eq!(code(" １-３ "), "1-3");
}

/// A name is copied only when its canonical form differs: for every character, in Chinese
/// and ASCII company, the quick look gives what the character-by-character rewrite gives.
#[test]
fn names_already_canonical_are_borrowed() {
    let mut text = String::new();
    for c in (0..=0x10_FFFF).filter_map(char::from_u32) {
        for (before, after) in [("甲", "乙"), ("a", "b"), ("", "局"), ("", "")] {
            text.clear();
            text.push_str(before);
            text.push(c);
            text.push_str(after);
            let quick = canonical_name(&text);
            assert_eq!(quick, rewrite_name(&text), "{c:?} in {text:?}");
            if quick != text {
                assert!(matches!(quick, Cow::Owned(_)), "{c:?}");
            }
        }
    }
    assert!(matches!(canonical_name("经济发展局"), Cow::Borrowed(_)));
    assert!(matches!(canonical_name("Office of Finance"), Cow::Owned(_)));
}

/// Unit names are written over the strings a list already holds, keeping their room, and
/// a list continued from an index leaves out the names before it.
#[test]
fn unit_lists_are_written_over_kept_strings() {
    let mut out: Vec<String> = (0..4).map(|_| String::with_capacity(64)).collect();
    let room = out[0].as_ptr();
    assert_eq!(
        write_units("经济发展局(牵头)、财政局、财政局", &mut out, 0),
        2
    );
    assert_eq!(out[..2], ["经济发展局", "财政局"]);
    assert_eq!(out.len(), 4, "the rest are stale, not dropped");
    assert_eq!(out[0].as_ptr(), room, "written where it was");
    assert_eq!(write_units("财政局；审计局\n经济发展局", &mut out, 1), 3);
    assert_eq!(out[..3], ["经济发展局", "财政局", "审计局"]);
    let mut grown = vec!["甲".to_string()];
    assert_eq!(write_units("乙、丙", &mut grown, 1), 3);
    assert_eq!(grown, ["甲", "乙", "丙"]);
    assert_eq!(write_units("", &mut grown, 0), 0);
}

#[test]
fn status_cells() {
    let cases: &[(&str, Option<Status>)] = &[
        ("", None),
        ("未启动", Some(Status::NotStarted)),
        ("not_started", Some(Status::NotStarted)),
        ("推进中", Some(Status::InProgress)),
        ("正在推进", Some(Status::InProgress)),
        ("In progress", Some(Status::InProgress)),
        ("申请销号", Some(Status::Claimed)),
        ("claimed", Some(Status::Claimed)),
        ("已销号", Some(Status::Closed)),
        ("已完成", Some(Status::Closed)),
        (" closed ", Some(Status::Closed)),
        ("ＤＯＮＥ", Some(Status::Closed)),
        ("Not-Started", Some(Status::NotStarted)),
        (" 推 进\u{3000}中 ", Some(Status::InProgress)),
        ("completion_claimed", Some(Status::Claimed)),
    ];
    for (text, expected) in cases {
        assert_eq!(status(text), Ok(*expected), "{text:?}");
    }
    assert_eq!(status("差不多"), Err(UnknownStatus("差不多".into())));
    // A dash is no empty cell.
    assert_eq!(status(" - "), Err(UnknownStatus("-".into())));
    for s in Status::ALL {
        assert_eq!(status(s.code()), Ok(Some(s)));
        assert_eq!(status(s.label_zh()), Ok(Some(s)));
        assert_eq!(status(s.label_en()), Ok(Some(s)));
    }
}

#[test]
fn code_cells() {
    assert_eq!(code_number(3.0), "3");
    assert_eq!(code_number(1.1), "1.1");
}
