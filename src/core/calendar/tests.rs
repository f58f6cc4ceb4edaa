use super::*;

fn d(text: &str) -> NaiveDate {
    NaiveDate::parse_from_str(text, "%Y-%m-%d").unwrap()
}

#[test]
fn kinds_of_days() {
    let cal = Calendar::builtin();
    let cases = [
        ("2024-10-01", DayKind::Holiday("国庆节".into())),
        ("2024-10-12", DayKind::MakeUpWorkday("国庆节".into())),
        ("2024-02-04", DayKind::MakeUpWorkday("春节".into())),
        ("2024-02-03", DayKind::Weekend),
        ("2024-02-05", DayKind::Workday),
        ("2023-01-01", DayKind::Holiday("元旦".into())),
        ("2022-12-31", DayKind::Holiday("元旦".into())),
        ("2026-02-28", DayKind::MakeUpWorkday("春节".into())),
        ("2027-02-06", DayKind::Weekend),
    ];
    for (day, kind) in cases {
        assert_eq!(cal.kind(d(day)), kind, "{day}");
        assert_eq!(cal.is_working_day(d(day)), kind.is_working(), "{day}");
    }
}

#[test]
fn working_days_between_counts_after_from_up_to_to() {
    let cal = Calendar::builtin();
    let cases = [
        // (from, to, working days in (from, to])
        ("2024-09-27", "2024-09-30", 2), // Fri → Mon, with the make-up Sunday 09-29
        ("2024-09-30", "2024-10-08", 1), // over National Day: only 10-08
        ("2024-10-08", "2024-10-14", 5), // with the make-up Saturday 10-12
        ("2023-12-29", "2024-01-02", 1), // Dec 31 → Jan over New Year's Day
        ("2024-01-02", "2024-01-02", 0),
        ("2024-01-05", "2024-01-02", -3), // backwards is negative
        ("2027-01-01", "2027-01-08", 5),  // no data for 2027: weekends only
    ];
    for (from, to, n) in cases {
        assert_eq!(cal.working_days_between(d(from), d(to)), n, "{from} → {to}");
    }
}

#[test]
fn add_working_days_skips_holidays_and_counts_make_up_days() {
    let cal = Calendar::builtin();
    let cases = [
        ("2024-09-27", 0, "2024-09-27"),
        ("2024-09-28", 0, "2024-09-29"), // a Saturday off → the make-up Sunday
        ("2024-09-27", 1, "2024-09-29"),
        ("2024-09-30", 1, "2024-10-08"),
        ("2024-10-01", 5, "2024-10-12"), // raised on a holiday; the make-up Saturday counts
        ("2023-12-29", 1, "2024-01-02"),
        ("2025-01-24", 5, "2025-02-07"), // Spring Festival 2025
        ("2027-12-31", 1, "2028-01-03"), // outside the data: weekends only
        ("2100-12-30", 3, "2101-01-04"), // past the table's end
    ];
    for (from, n, expected) in cases {
        assert_eq!(
            cal.add_working_days(d(from), n),
            d(expected),
            "{from} + {n}"
        );
    }
}

#[test]
fn working_day_on_or_after_and_before() {
    let cal = Calendar::builtin();
    assert_eq!(
        cal.working_day_on_or_after(d("2024-10-01")),
        d("2024-10-08")
    );
    assert_eq!(
        cal.working_day_on_or_before(d("2024-10-07")),
        d("2024-09-30")
    );
    assert_eq!(
        cal.working_day_on_or_after(d("2024-10-12")),
        d("2024-10-12")
    );
}

#[test]
fn coverage_and_fallback() {
    let cal = Calendar::builtin();
    for year in 2022..=2026 {
        assert!(cal.covers(year), "{year}");
        assert!(cal.notice(year).unwrap().starts_with("国办发明电"));
    }
    assert!(!cal.covers(2027));
    assert!(!Calendar::weekends_only().covers(2024));
    assert!(Calendar::weekends_only().is_working_day(d("2024-10-01")));
}

#[test]
fn a_later_source_adds_a_year() {
    let extra = r#"
        [[year]]
        year = 2027
        notice = "test"
        holidays = [{ name = "元旦", off = "2027-01-01", work = ["2027-01-02"] }]
    "#;
    let cal = Calendar::from_sources(&[("a", BUILTIN_CN), ("b", extra)]).unwrap();
    assert!(cal.covers(2027));
    assert!(!cal.is_working_day(d("2027-01-01")));
    assert!(cal.is_working_day(d("2027-01-02")));
    assert!(cal.covers(2024));
}

#[test]
fn bad_data_names_the_entry() {
    let bad = r#"
        [[year]]
        year = 2027
        holidays = [{ name = "春节", off = "2027-02-30..2027-03-02" }]
    "#;
    // The error names the file the bad year came from, not the last one read.
    let err = Calendar::from_sources(&[("extra.toml", bad), ("later.toml", BUILTIN_CN)])
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("extra.toml") && err.contains("2027") && err.contains("春节"),
        "{err}"
    );
    assert!(Calendar::from_sources(&[("x", "year = 3")]).is_err());
}
