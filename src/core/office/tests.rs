use chrono::{NaiveDate, TimeZone, Utc};

use super::*;
use crate::core::workflow::ClaimState;

fn d(text: &str) -> NaiveDate {
    NaiveDate::parse_from_str(text, "%Y-%m-%d").unwrap()
}

fn claim(id: i64, code: &str, on: &str) -> Claim {
    let day = d(on);
    Claim {
        id,
        code: code.into(),
        claimed_by: format!("联络员{id}"),
        claimed_by_user: None,
        chat_id: None,
        claimed_at: Utc
            .with_ymd_and_hms(day.year_ce().1 as i32, day.month(), day.day(), 2, 0, 0)
            .unwrap(),
        state: ClaimState::Pending,
        rejecting_user: None,
        decided_by: None,
        decided_at: None,
        reason: None,
    }
}

use chrono::Datelike;

#[test]
fn nothing_waiting_sends_nothing() {
    let todo = OfficeTodo {
        claims: &[],
        extensions: &[],
        flags: &[],
        late_requests: &[],
        accountability: &[],
        recheck: &[],
    };
    let cal = Calendar::builtin();
    assert!(
        todo_message(
            &todo,
            |c| c.claimed_at.date_naive(),
            d("2024-10-10"),
            &cal,
            3,
            Language::Zh
        )
        .is_none()
    );
}

#[test]
fn claims_oldest_first_with_working_days_waited_across_the_holiday() {
    let cal = Calendar::builtin();
    // (claimed on, working days waited on 10-10, past the limit of 3)
    let cases = [
        ("2024-09-30", 3, false), // 10-08, 10-09, 10-10: the holiday does not count; not late
        ("2024-10-08", 2, false),
        ("2024-10-10", 0, false),
        ("2024-09-27", 5, true), // the make-up Sunday 09-29 and 09-30 count too: late
    ];
    let claims: Vec<Claim> = cases
        .iter()
        .enumerate()
        .map(|(i, (on, _, _))| claim(i as i64 + 1, &format!("C-{}", i + 1), on))
        .collect();
    let todo = OfficeTodo {
        claims: &claims,
        extensions: &[],
        flags: &[],
        late_requests: &[],
        accountability: &[],
        recheck: &[],
    };
    let text = todo_message(
        &todo,
        |c| c.claimed_at.date_naive(),
        d("2024-10-10"),
        &cal,
        3,
        Language::Zh,
    )
    .unwrap()
    .text;
    let lines: Vec<&str> = text.lines().filter(|l| l.contains("C-")).collect();
    // Oldest first: C-4 (09-27), C-1 (09-30), C-2, C-3.
    let order: Vec<&str> = lines
        .iter()
        .map(|l| {
            l.split_whitespace()
                .nth(if l.contains("⚠️") { 1 } else { 0 })
                .unwrap()
        })
        .collect();
    assert_eq!(order, ["C-4", "C-1", "C-2", "C-3"], "{text}");
    for (i, (on, waited, late)) in cases.iter().enumerate() {
        let code = format!("C-{}", i + 1);
        let line = lines.iter().find(|l| l.contains(&code)).unwrap();
        assert!(
            line.contains(&format!("已等待{waited}个工作日")),
            "{on}: {line}"
        );
        assert_eq!(line.contains("超过核验时限"), *late, "{on}: {line}");
    }
}

#[test]
fn every_section_is_named() {
    let cal = Calendar::builtin();
    let claims = [claim(1, "1-1", "2024-10-09")];
    let flags = [FlagLine {
        code: "2-1".into(),
        unit: "财政局".into(),
        reason: "缺资金".into(),
    }];
    let todo = OfficeTodo {
        claims: &claims,
        extensions: &[],
        flags: &flags,
        late_requests: &[],
        accountability: &[],
        recheck: &[],
    };
    let text = todo_message(
        &todo,
        |c| c.claimed_at.date_naive(),
        d("2024-10-10"),
        &cal,
        3,
        Language::Zh,
    )
    .unwrap()
    .text;
    assert!(text.starts_with("【今日待办】2024年10月10日"), "{text}");
    assert!(
        text.contains("待核验的销号申请（1项") && text.contains("申请协调（1项"),
        "{text}"
    );
    assert!(
        !text.contains("问责建议") && !text.contains("延期申请"),
        "{text}"
    );
}
