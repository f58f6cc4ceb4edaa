use super::*;

fn d(text: &str) -> NaiveDate {
    NaiveDate::parse_from_str(text, "%Y-%m-%d").unwrap()
}

fn request(due: &str, answered_on: Option<&str>) -> Request {
    Request {
        id: 7,
        unit: "财政局".into(),
        category: RequestCategory::General,
        body: "企业用地指标".into(),
        raised_on: d("2024-09-23"),
        due: d(due),
        created_by: "整改办".into(),
        answer: answered_on.map(|_| "已答复".into()),
        answered_by: answered_on.map(|_| "联络员".into()),
        answered_on: answered_on.map(d),
    }
}

#[test]
fn request_states_count_working_days() {
    let cal = Calendar::builtin();
    #[rustfmt::skip]
    let cases = [
        // (due, answered on, today, state)
        ("2024-09-29", None, "2024-09-27", RequestState::Open { working_days_left: 1 }), // Fri → the make-up Sunday
        ("2024-09-29", None, "2024-09-29", RequestState::Open { working_days_left: 0 }),
        ("2024-09-29", None, "2024-09-30", RequestState::Late { overdue_days: 1 }),
        ("2024-09-29", None, "2024-10-08", RequestState::Late { overdue_days: 2 }),     // the holiday does not count
        ("2024-09-29", None, "2024-10-05", RequestState::Late { overdue_days: 1 }),     // a day off past due: still late
        ("2024-09-29", Some("2024-09-29"), "2024-10-08", RequestState::AnsweredInTime),
        ("2024-09-29", Some("2024-09-27"), "2024-10-08", RequestState::AnsweredInTime),
        ("2024-09-29", Some("2024-10-08"), "2024-10-09", RequestState::AnsweredLate { overdue_days: 2 }),
        ("2024-09-29", Some("2024-10-05"), "2024-10-09", RequestState::AnsweredLate { overdue_days: 1 }), // answered late on a day off
        ("2024-09-29", Some("2024-09-30"), "2024-10-09", RequestState::AnsweredLate { overdue_days: 1 }),
    ];
    for (due, answered, today, state) in cases {
        assert_eq!(
            request(due, answered).state(d(today), &cal),
            state,
            "due {due}, answered {answered:?}, on {today}"
        );
    }
}

#[test]
fn request_codes() {
    for (text, id) in [
        ("R12", Some(12)),
        ("r12", Some(12)),
        ("Ｒ１２", Some(12)),
        ("12", Some(12)),
    ] {
        assert_eq!(parse_request_code(text), id, "{text}");
    }
    for text in ["R", "1-3", "R1a", ""] {
        assert_eq!(parse_request_code(text), None, "{text}");
    }
    assert_eq!(request_code(12), "R12");
}

#[test]
fn categories() {
    for c in [
        RequestCategory::Consult,
        RequestCategory::General,
        RequestCategory::Major,
    ] {
        assert_eq!(parse_category(category_code(c)), Some(c));
        assert_eq!(parse_category(category_label(c, Language::Zh)), Some(c));
    }
    assert_eq!(parse_category("urgent"), None);
}

#[test]
fn claim_states_round_trip() {
    for s in [
        ClaimState::Pending,
        ClaimState::Approved,
        ClaimState::Rejected,
        ClaimState::Withdrawn,
    ] {
        assert_eq!(ClaimState::from_code(s.code()), Some(s));
    }
    assert_eq!(ClaimState::from_code("done"), None);
}

#[test]
fn extensions_must_move_a_deadline_later() {
    use crate::core::ledger::{Deadline, ReportCycle};
    let d = |s: &str| NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap();
    let cases = [
        (Deadline::Date(d("2024-06-30")), "2024-07-01", None),
        (
            Deadline::Date(d("2024-06-30")),
            "2024-06-30",
            Some(ExtensionRefusal::NotLater(d("2024-06-30"))),
        ),
        (
            Deadline::Date(d("2024-06-30")),
            "2024-05-01",
            Some(ExtensionRefusal::NotLater(d("2024-06-30"))),
        ),
        (Deadline::Immediate(None), "2024-05-01", None),
        (
            Deadline::Immediate(Some(d("2024-05-10"))),
            "2024-05-01",
            Some(ExtensionRefusal::NotLater(d("2024-05-10"))),
        ),
        (
            Deadline::LongTerm(Some(ReportCycle::Quarter)),
            "2030-01-01",
            Some(ExtensionRefusal::LongTerm),
        ),
    ];
    for (current, until, refusal) in cases {
        assert_eq!(
            extension_refusal(&current, d(until)),
            refusal,
            "{current:?} → {until}"
        );
    }
    assert!(
        extension_refusal_text(ExtensionRefusal::NotLater(d("2024-06-30")), Language::Zh)
            .contains("2024年6月30日")
    );
}

#[test]
fn a_status_change_moves_the_claims_along() {
    use crate::core::ledger::Status::*;
    let cases = [
        (NotStarted, Claimed, ClaimFollow::Open),
        (InProgress, Claimed, ClaimFollow::Open),
        (Closed, Claimed, ClaimFollow::Open),
        (Claimed, Closed, ClaimFollow::End(ClaimState::Approved)),
        (Claimed, InProgress, ClaimFollow::End(ClaimState::Withdrawn)),
        (Claimed, NotStarted, ClaimFollow::End(ClaimState::Withdrawn)),
        (InProgress, Closed, ClaimFollow::ApprovedAtOnce),
        (NotStarted, Closed, ClaimFollow::ApprovedAtOnce),
        (NotStarted, InProgress, ClaimFollow::None),
        (Closed, InProgress, ClaimFollow::None),
        (Claimed, Claimed, ClaimFollow::None),
        (Closed, Closed, ClaimFollow::None),
    ];
    for (from, to, follow) in cases {
        assert_eq!(claim_follows(from, to), follow, "{from:?} → {to:?}");
    }
    use crate::core::ledger::Status;
    assert_eq!(claim_decision(true), (ClaimState::Approved, Status::Closed));
    assert_eq!(
        claim_decision(false),
        (ClaimState::Rejected, Status::InProgress)
    );
}

#[test]
fn only_another_office_member_decides() {
    use crate::core::chat::ChannelKind;
    let liaison = Address::new(ChannelKind::Telegram, "7001");
    let office = Address::new(ChannelKind::Telegram, "7003");
    let cases = [
        (true, Some(&liaison), &office, true, Ok(())),
        (true, None, &office, true, Ok(())),
        (
            true,
            Some(&liaison),
            &liaison,
            false,
            Err(DecisionRefusal::NotOffice),
        ),
        (
            false,
            Some(&liaison),
            &office,
            true,
            Err(DecisionRefusal::Decided),
        ),
        (
            true,
            Some(&office),
            &office,
            true,
            Err(DecisionRefusal::Own),
        ),
    ];
    for (pending, requester, decider, is_office, expected) in cases {
        assert_eq!(
            may_decide(pending, requester, decider, is_office),
            expected,
            "{pending} {requester:?} {decider}"
        );
    }
}
