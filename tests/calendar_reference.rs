//! Cross-checks the shipped holiday calendar, day by day for 2022–2026, against the
//! published holiday-cn data set in ../shared/reference/holiday-cn (not shipped with duban).
//!
//! Without ../shared the test has nothing to compare and returns; on CI (CI=true) the
//! reference must be there.

use std::collections::HashMap;
use std::path::Path;

use chrono::{Datelike, NaiveDate};
use duban::core::calendar::Calendar;

mod common;

#[test]
fn every_day_of_2022_to_2026_matches_the_published_calendar() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/reference/holiday-cn");
    if !dir.exists() {
        assert!(!common::on_ci(), "CI=true but {} is missing", dir.display());
        common::skip(
            "every_day_of_2022_to_2026_matches_the_published_calendar",
            &format!("{} is not here", dir.display()),
        );
        return;
    }
    let calendar = Calendar::builtin();
    let mut checked = 0;
    for year in 2022..=2026 {
        let text = std::fs::read_to_string(dir.join(format!("{year}.json"))).unwrap();
        let json: serde_json::Value = serde_json::from_str(&text).unwrap();
        let mut listed: HashMap<NaiveDate, (bool, String)> = HashMap::new();
        for day in json["days"].as_array().unwrap() {
            let date =
                NaiveDate::parse_from_str(day["date"].as_str().unwrap(), "%Y-%m-%d").unwrap();
            listed.insert(
                date,
                (
                    day["isOffDay"].as_bool().unwrap(),
                    day["name"].as_str().unwrap().to_string(),
                ),
            );
        }
        let mut day = NaiveDate::from_ymd_opt(year, 1, 1).unwrap();
        while day.year() == year {
            let working = match listed.get(&day) {
                Some((off, _)) => !off,
                None => day.weekday().num_days_from_monday() < 5,
            };
            assert_eq!(
                calendar.is_working_day(day),
                working,
                "{day}: duban says {:?}, the reference says {:?}",
                calendar.kind(day),
                listed.get(&day)
            );
            checked += 1;
            day = day.succ_opt().unwrap();
        }
        assert!(calendar.covers(year));
    }
    assert_eq!(checked, 365 * 4 + 366);
    // 2027 is not announced in the reference either: duban has no data and says so.
    let next: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("2027.json")).unwrap()).unwrap();
    assert_eq!(
        next["days"].as_array().unwrap().is_empty(),
        !calendar.covers(2027)
    );
}
