//! The workflow after a reminder, end to end through the fake Bot API server: close-out
//! (销号) with evidence, extensions, coordination flags raised into requests, requests
//! answered, and the leadership digest with its chart and the weekly ledger.

mod common;

use common::fake_telegram::FakeTelegram;
use common::scene::*;
use common::{Sandbox, bind, by_code};
use serde_json::Value;

/// A second office member.
const OFFICE2: i64 = 7006;

fn history(sb: &Sandbox, code: &str) -> Value {
    serde_json::from_str(&sb.ok(&["history", code, "--json"])).unwrap()
}

/// A day well after today, for extensions (which must be later than today).
/// A stored date (`2024-03-15`) as Chinese messages write it.
fn zh(day: &str) -> String {
    duban::core::text::date_text(day, duban::core::text::Language::Zh)
}

fn later() -> String {
    (chrono::Utc::now().date_naive() + chrono::Days::new(120)).to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn claims_are_verified_with_evidence_and_never_by_the_claimant() {
    let fake = FakeTelegram::start().await;
    let sb = Sandbox::with_sample();
    let bot = bound_bot(&fake, &sb).await;
    bind(&sb, &fake, OFFICE2, OFFICE2, "整改办", "office", None).await;
    assert!(bot.stop());
    let out = sb.remind(&fake, NOW, &[]);
    assert!(out.status.success());
    let econ = fake.sent_to(ECON).into_iter().last().unwrap();
    let code = listed_codes(&econ.text)[0].clone();
    let bot = sb.start_bot(&fake, &[]);

    // A stranger's file is not fetched: nobody unbound makes the bot download for them.
    fake.add_file("doc-stranger", "documents/stranger.pdf", b"%PDF stranger");
    fake.document(7999, 7999, "doc-stranger", "x.pdf", "1-4 材料", None);

    // 完成 by button: claimed, and each office member gets the claim with 通过 / 退回.
    let toast = fake.tap(ECON, ECON, econ.message_id, "m:0:done").await;
    assert!(toast.contains("申请销号"), "{toast}");
    fake.wait_for(15, "the claim's notices", |f| {
        !notices(f, OFFICE, "📋 销号申请").is_empty()
            && !notices(f, OFFICE2, "📋 销号申请").is_empty()
    })
    .await;
    let notice = notices(&fake, OFFICE, "📋 销号申请").remove(0);
    assert!(
        notice.text.contains(&code) && notice.text.contains("经济发展局 联络员7001"),
        "{}",
        notice.text
    );
    let approve = button(&notice, 0, 0);
    let reject = button(&notice, 0, 1);
    assert!(
        approve.starts_with("c:") && approve.ends_with(":ok"),
        "{approve}"
    );
    assert_eq!(reject, approve.replace(":ok", ":no"));

    // Evidence: a document in reply to the bot's confirmation of the claim. It is kept under
    // the data directory with its SHA-256, and forwarded to the office by file id.
    let report = "验收报告:道路已修复,附照片。".repeat(50).into_bytes();
    fake.add_file("doc-1", "documents/file_1.pdf", &report);
    let confirmation = fake
        .ask(ECON, ECON, &format!("/update {code} 已完成"), None)
        .await;
    assert!(confirmation.contains("已申请销号"), "{confirmation}");
    let confirmation_id = fake.sent_to(ECON).last().unwrap().message_id;
    let before = fake.sent_to(ECON).len();
    fake.document(
        ECON,
        ECON,
        "doc-1",
        "验收报告.pdf",
        "",
        Some(confirmation_id),
    );
    fake.wait_for(15, "the evidence's receipt", |f| {
        f.sent_to(ECON).len() > before
    })
    .await;
    let receipt = fake.sent_to(ECON).last().unwrap().text.clone();
    assert!(
        receipt.contains(&format!("📎 {code} 已收到佐证材料：验收报告.pdf")),
        "{receipt}"
    );
    use sha2::Digest as _;
    let sha: String = sha2::Sha256::digest(&report)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    let kept = history(&sb, &code)["evidence"].as_array().unwrap().clone();
    assert_eq!(kept.len(), 1, "{kept:?}");
    assert_eq!(kept[0]["sha256"], sha.as_str());
    assert_eq!(kept[0]["size"], report.len());
    assert_eq!(kept[0]["file_name"], "验收报告.pdf");
    let path = sb
        .dir
        .path()
        .join("duban-data")
        .join(kept[0]["path"].as_str().unwrap());
    assert_eq!(std::fs::read(&path).unwrap(), report, "{}", path.display());
    fake.wait_for(15, "the evidence forwarded to the office", |f| {
        f.sent_to(OFFICE).iter().any(|s| {
            s.file.as_ref().is_some_and(|(kind, file)| {
                kind == "document" && file.as_ref().err().is_some_and(|id| id == "doc-1")
            })
        })
    })
    .await;

    // The liaison cannot decide: neither by a forged press nor in reply.
    let toast = fake.tap(ECON, ECON, econ.message_id, &approve).await;
    assert!(toast.contains("只有整改办"), "{toast}");
    assert_eq!(by_code(&sb.measures(AT), &code)["status"], "claimed");

    // The office approves: closed, the notice shows the decision, the liaison is told.
    let toast = fake.tap(OFFICE, OFFICE, notice.message_id, &approve).await;
    assert!(toast.contains("已通过"), "{toast}");
    assert_eq!(by_code(&sb.measures(AT), &code)["status"], "closed");
    fake.wait_for(15, "the notice's edit and the liaison's news", |f| {
        f.calls("editMessageText").iter().any(|r| {
            r.body["message_id"] == notice.message_id
                && r.body["text"]
                    .as_str()
                    .unwrap_or("")
                    .contains("✅ 已通过 · 整改办")
        }) && f
            .sent_to(ECON)
            .iter()
            .any(|s| s.text.contains("销号申请已通过核验，已销号"))
    })
    .await;
    // The other office member's copy is decided already.
    let other = notices(&fake, OFFICE2, "📋 销号申请").remove(0);
    let toast = fake
        .tap(OFFICE2, OFFICE2, other.message_id, &button(&other, 0, 0))
        .await;
    assert!(toast.contains("已处理"), "{toast}");
    let claims = history(&sb, &code)["claims"].as_array().unwrap().clone();
    assert_eq!(claims.len(), 1);
    assert_eq!(claims[0]["state"], "approved");
    assert_eq!(claims[0]["claimed_by"], "联络员7001");
    assert!(claims[0]["decided_by"].as_str().unwrap().contains("整改办"));

    // A claim sent back: 退回 asks for the reason; the office member's reply carries it; the
    // measure is in progress again and the liaison is told why.
    let admin = fake
        .sent_to(ADMIN)
        .into_iter()
        .find(|s| s.text.starts_with("【"))
        .unwrap();
    let second = listed_codes(&admin.text)[0].clone();
    // A photo first, the claim after it: the photo goes with the claim to the office.
    fake.add_file("ph-early", "photos/early.jpg", b"\xff\xd8\xff early photo");
    fake.photo(
        ADMIN,
        ADMIN,
        "ph-early",
        &format!("{second} 现场照片"),
        None,
    );
    fake.wait_for(15, "the early photo's receipt", |f| {
        f.sent_to(ADMIN)
            .iter()
            .any(|s| s.text.contains(&format!("📎 {second} 已收到佐证材料")))
    })
    .await;
    let line = fake
        .ask(
            ADMIN,
            ADMIN,
            &format!("{second} 已完成"),
            Some(admin.message_id),
        )
        .await;
    assert!(line.contains("申请销号"), "{line}");
    fake.wait_for(15, "the second claim's notice", |f| {
        notices(f, OFFICE, "📋 销号申请").len() >= 2
    })
    .await;
    let notice = notices(&fake, OFFICE, "📋 销号申请").pop().unwrap();
    assert!(notice.text.contains(&second), "{}", notice.text);
    assert!(notice.text.contains("佐证材料1件"), "{}", notice.text);
    fake.wait_for(15, "the early photo forwarded with the claim", |f| {
        f.sent_to(OFFICE).iter().any(|s| {
            s.file.as_ref().is_some_and(|(kind, file)| {
                kind == "photo" && file.as_ref().err().is_some_and(|id| id == "ph-early")
            })
        })
    })
    .await;
    let toast = fake
        .tap(OFFICE, OFFICE, notice.message_id, &button(&notice, 0, 1))
        .await;
    assert!(toast.contains("理由"), "{toast}");
    fake.wait_for(15, "the prompt for a reason", |f| {
        f.sent_to(OFFICE)
            .last()
            .is_some_and(|s| s.text.contains("写明退回"))
    })
    .await;
    let prompt = fake.sent_to(OFFICE).last().unwrap().clone();
    assert_eq!(
        by_code(&sb.measures(AT), &second)["status"],
        "claimed",
        "not before the reason"
    );
    let line = fake
        .ask(
            OFFICE,
            OFFICE,
            "验收材料不全,请补充监理意见",
            Some(prompt.message_id),
        )
        .await;
    assert!(line.contains("已退回"), "{line}");
    assert_eq!(by_code(&sb.measures(AT), &second)["status"], "in_progress");
    fake.wait_for(15, "the liaison told why", |f| {
        f.sent_to(ADMIN).iter().any(|s| {
            s.text.contains(&format!("{second} 销号申请被退回"))
                && s.text.contains("验收材料不全,请补充监理意见")
        })
    })
    .await;
    let h = history(&sb, &second);
    let last = h["history"].as_array().unwrap().last().unwrap().clone();
    assert_eq!(
        (last["from"].as_str(), last["to"].as_str()),
        (Some("claimed"), Some("in_progress"))
    );
    assert_eq!(last["note"], "验收材料不全,请补充监理意见");
    assert_eq!(h["claims"][0]["state"], "rejected");

    // An office member's own claim is decided by another office member, never by them.
    let third = listed_codes(&admin.text).last().unwrap().clone();
    // Its confirmation and its notice both come to this office member, in either order.
    fake.ask(OFFICE, OFFICE, &format!("/update {third} 已完成"), None)
        .await;
    fake.wait_for(15, "the office's own claim and its confirmation", |f| {
        notices(f, OFFICE, "📋 销号申请")
            .iter()
            .any(|s| s.text.contains(&third))
            && f.sent_to(OFFICE)
                .iter()
                .any(|s| s.text.contains(&format!("{third} 已记录：申请销号")))
    })
    .await;
    let own = notices(&fake, OFFICE, "📋 销号申请").pop().unwrap();
    let toast = fake
        .tap(OFFICE, OFFICE, own.message_id, &button(&own, 0, 0))
        .await;
    assert!(toast.contains("不能核验自己提交的"), "{toast}");
    assert_eq!(by_code(&sb.measures(AT), &third)["status"], "claimed");
    fake.wait_for(15, "the second member's copy", |f| {
        notices(f, OFFICE2, "📋 销号申请")
            .iter()
            .any(|s| s.text.contains(&third))
    })
    .await;
    let theirs = notices(&fake, OFFICE2, "📋 销号申请").pop().unwrap();
    let toast = fake
        .tap(OFFICE2, OFFICE2, theirs.message_id, &button(&theirs, 0, 0))
        .await;
    assert!(toast.contains("已通过"), "{toast}");
    assert_eq!(by_code(&sb.measures(AT), &third)["status"], "closed");
    let fetched: Vec<String> = fake
        .calls("getFile")
        .iter()
        .map(|r| r.body["file_id"].as_str().unwrap_or("").to_string())
        .collect();
    assert!(fetched.contains(&"doc-1".to_string()), "{fetched:?}");
    assert!(
        !fetched.contains(&"doc-stranger".to_string()),
        "{fetched:?}"
    );
    assert!(bot.stop());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn extensions_and_flags_are_decided_by_the_office() {
    let fake = FakeTelegram::start().await;
    let sb = Sandbox::with_sample();
    let bot = bound_bot(&fake, &sb).await;
    assert!(bot.stop());
    let out = sb.remind(&fake, NOW, &[]);
    assert!(out.status.success());
    let admin = fake.sent_to(ADMIN).into_iter().last().unwrap();
    let items = listed_codes(&admin.text);
    let (first, second) = (items[0].clone(), items[1].clone());
    let old_deadline = by_code(&sb.measures(AT), &first)["deadline"].clone();
    let bot = sb.start_bot(&fake, &[]);

    // An extension approved: the deadline moves, the history keeps the old one.
    let until = later();
    let line = fake
        .ask(
            ADMIN,
            ADMIN,
            &format!("{first} 延期 {until} 设备未到货"),
            Some(admin.message_id),
        )
        .await;
    assert!(line.contains("延期申请"), "{line}");
    fake.wait_for(15, "the extension's notice", |f| {
        !notices(f, OFFICE, "📅 延期申请").is_empty()
    })
    .await;
    let notice = notices(&fake, OFFICE, "📅 延期申请").remove(0);
    assert!(
        notice.text.contains(&zh(&until)) && notice.text.contains("设备未到货"),
        "{}",
        notice.text
    );
    let toast = fake
        .tap(OFFICE, OFFICE, notice.message_id, &button(&notice, 0, 0))
        .await;
    assert!(toast.contains("已同意延期"), "{toast}");
    let m = by_code(&sb.measures(AT), &first).clone();
    assert_eq!(m["deadline"], until.as_str());
    let h = history(&sb, &first);
    let moved = h["history"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["kind"] == "deadline")
        .expect("a deadline row")
        .clone();
    assert_eq!(moved["old"], old_deadline);
    assert_eq!(moved["new"], until.as_str());
    fake.wait_for(15, "the liaison told", |f| {
        f.sent_to(ADMIN)
            .iter()
            .any(|s| s.text.contains("延期申请已批准") && s.text.contains(&zh(&until)))
    })
    .await;
    // Pressed again: decided already, nothing moves twice.
    let toast = fake
        .tap(OFFICE, OFFICE, notice.message_id, &button(&notice, 0, 0))
        .await;
    assert!(toast.contains("已处理"), "{toast}");

    // An extension refused by replying "退回 理由" to the notice: the deadline stands.
    let before = by_code(&sb.measures(AT), &second)["deadline"].clone();
    fake.ask(
        ADMIN,
        ADMIN,
        &format!("/update {second} 延期 {until} 资金未到位"),
        None,
    )
    .await;
    fake.wait_for(15, "the second extension's notice", |f| {
        notices(f, OFFICE, "📅 延期申请").len() >= 2
    })
    .await;
    let notice = notices(&fake, OFFICE, "📅 延期申请").pop().unwrap();
    let line = fake
        .ask(
            OFFICE,
            OFFICE,
            "退回 请先落实资金再申请",
            Some(notice.message_id),
        )
        .await;
    assert!(line.contains("不予同意"), "{line}");
    assert_eq!(by_code(&sb.measures(AT), &second)["deadline"], before);
    fake.wait_for(15, "the refusal told", |f| {
        f.sent_to(ADMIN)
            .iter()
            .any(|s| s.text.contains("延期申请未获同意") && s.text.contains("请先落实资金再申请"))
    })
    .await;

    // 需协调 raised into a request with one button: due by the response rule, reminded to the
    // unit that must answer, answered by its liaison.
    fake.ask(
        ADMIN,
        ADMIN,
        &format!("/update {second} 需协调 用地指标未落实"),
        None,
    )
    .await;
    fake.wait_for(15, "the flag's notice", |f| {
        f.sent_to(OFFICE)
            .iter()
            .any(|s| s.text.contains("申请协调：用地指标未落实"))
    })
    .await;
    let flag = fake
        .sent_to(OFFICE)
        .into_iter()
        .find(|s| s.text.contains("申请协调：用地指标未落实"))
        .unwrap();
    // The office acts days later: the limit still counts from when the liaison asked
    // (Monday 11 March 2024, 09:00 in Beijing).
    {
        use sqlx::Connection;
        let mut db = sqlx::SqliteConnection::connect(&sb.url).await.unwrap();
        sqlx::query("UPDATE coordination_flags SET created_at = '2024-03-11T01:00:00.000000Z'")
            .execute(&mut db)
            .await
            .unwrap();
        db.close().await.unwrap();
    }
    let general = (0..3)
        .map(|i| button(&flag, 0, i))
        .find(|d| d.ends_with(":general"))
        .unwrap();
    let toast = fake.tap(OFFICE, OFFICE, flag.message_id, &general).await;
    assert!(toast.contains("已列为督办事项R1"), "{toast}");
    let toast = fake.tap(OFFICE, OFFICE, flag.message_id, &general).await;
    assert!(toast.contains("已列为督办事项R1"), "raised once: {toast}");
    let requests: Value = serde_json::from_str(&sb.ok(&["requests", "--json"])).unwrap();
    let requests = requests.as_array().unwrap();
    assert_eq!(requests.len(), 1);
    let lead = by_code(&sb.measures(AT), &second)["lead_unit"].clone();
    assert_eq!(requests[0]["unit"], lead);
    assert_eq!(requests[0]["category"], "general");
    assert!(
        requests[0]["body"]
            .as_str()
            .unwrap()
            .contains("用地指标未落实")
    );
    let raised =
        chrono::NaiveDate::parse_from_str(requests[0]["raised_on"].as_str().unwrap(), "%Y-%m-%d")
            .unwrap();
    let due = chrono::NaiveDate::parse_from_str(requests[0]["due"].as_str().unwrap(), "%Y-%m-%d")
        .unwrap();
    let calendar = duban::core::calendar::Calendar::builtin();
    assert_eq!(
        calendar.working_days_between(calendar.working_day_on_or_after(raised), due),
        5,
        "{raised} → {due}"
    );
    assert_eq!(
        (raised.to_string(), due.to_string()),
        ("2024-03-11".into(), "2024-03-18".into())
    );
    // Someone of another unit may not answer it; the lead unit's liaison does.
    assert_eq!(lead, "国资办");
    let line = fake.ask(ECON, ECON, "/answer R1 我来答复", None).await;
    assert!(line.contains("无权答复"), "{line}");
    let line = fake
        .ask(
            ADMIN,
            ADMIN,
            "/answer R1 已与自然资源局协调,指标下月落实",
            None,
        )
        .await;
    assert!(line.contains("R1 已答复并办结"), "{line}");
    let requests: Value = serde_json::from_str(&sb.ok(&["requests", "--json"])).unwrap();
    // Answered today, long after 18 March 2024: late.
    assert!(line.contains("计为超时答复"), "{line}");
    assert_eq!(requests[0]["state"]["state"], "answered_late");
    assert_eq!(requests[0]["answer"], "已与自然资源局协调,指标下月落实");
    let line = fake.ask(ADMIN, ADMIN, "/answer R1 再答复一次", None).await;
    assert!(line.contains("已答复过"), "{line}");
    assert!(bot.stop());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn requests_are_reminded_and_answered_in_reply() {
    let fake = FakeTelegram::start().await;
    let sb = Sandbox::with_sample();
    let bot = bound_bot(&fake, &sb).await;
    assert!(bot.stop());
    // Two requests for 国资办, one for 财政局 (nobody bound there).
    for (unit, category, text) in [
        ("国资办", "consult", "企业咨询:厂房租金补贴的申报条件"),
        ("国资办", "general", "企业诉求:园区道路照明不足"),
        ("财政局", "major", "企业诉求:专项资金拨付"),
    ] {
        sb.ok(&[
            "request",
            "add",
            "--unit",
            unit,
            "--category",
            category,
            text,
            "--now",
            "2024-03-14T10:00:00+08:00",
        ]);
    }
    let out = sb.remind(&fake, NOW, &[]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let reminders: Vec<_> = fake
        .sent_to(ADMIN)
        .into_iter()
        .filter(|s| s.text.starts_with("【诉求督办】"))
        .collect();
    assert_eq!(reminders.len(), 1, "{reminders:#?}");
    let text = &reminders[0].text;
    // The consultation was due on the 14th: late; the general one is due within five days.
    assert!(
        text.contains("🔴 R1 【咨询类】") && text.contains("超时1个工作日"),
        "{text}"
    );
    assert!(text.contains("🟡 R2 【一般性协调】"), "{text}");
    assert!(!text.contains("R3"), "{text}");
    assert!(
        fake.sent_to(-5001)
            .iter()
            .any(|s| s.text.starts_with("【诉求督办】")),
        "the group too"
    );
    let bot = sb.start_bot(&fake, &[]);
    let line = fake
        .ask(
            ADMIN,
            ADMIN,
            "R2 已安排施工单位加装路灯",
            Some(reminders[0].message_id),
        )
        .await;
    assert!(line.contains("R2 已答复并办结"), "{line}");
    let line = fake
        .ask(
            ADMIN,
            ADMIN,
            "租金补贴按季度申报",
            Some(reminders[0].message_id),
        )
        .await;
    assert!(line.contains("写明编号"), "several listed: {line}");
    assert!(bot.stop());
    let requests: Value =
        serde_json::from_str(&sb.ok(&["requests", "--json", "--at", "2024-03-15"])).unwrap();
    assert_eq!(requests[1]["answer"], "已安排施工单位加装路灯");
    assert_eq!(requests[0]["state"]["state"], "late");
}

#[test]
fn requests_from_the_cli_follow_the_response_rule() {
    let sb = Sandbox::with_sample();
    // Across National Day 2024 and its make-up working days (Sun 29 Sep, Sat 12 Oct).
    let cases = [
        ("consult", "2024-09-28T10:00:00+08:00", "2024-09-29"), // a Saturday off: the make-up Sunday
        ("consult", "2024-10-03T10:00:00+08:00", "2024-10-08"), // in the holiday
        ("general", "2024-09-27T10:00:00+08:00", "2024-10-10"), // 29 Sep counts, the holiday does not
        ("general", "2024-09-30T10:00:00+08:00", "2024-10-12"), // onto the make-up Saturday
        ("major", "2024-09-01T10:00:00+08:00", "2024-10-08"),   // 1 Oct is a holiday: moved on
    ];
    for (category, now, _) in cases {
        let out = sb.ok(&[
            "request",
            "add",
            "--unit",
            "财政局",
            "--category",
            category,
            "企业诉求",
            "--now",
            now,
        ]);
        assert!(out.contains("答复时限"), "{out}");
    }
    let requests: Value =
        serde_json::from_str(&sb.ok(&["requests", "--json", "--at", "2024-10-09"])).unwrap();
    for (i, (category, now, due)) in cases.iter().enumerate() {
        assert_eq!(requests[i]["due"], *due, "{category} raised {now}");
        assert_eq!(requests[i]["code"], format!("R{}", i + 1));
    }
    // Answered after the limit: counted late. Answered again: refused.
    let out = sb.ok(&[
        "request",
        "answer",
        "R3",
        "已答复企业",
        "--now",
        "2024-10-11T09:00:00+08:00",
    ]);
    assert!(out.contains("计为超时答复"), "{out}");
    let err = sb.fails(&["request", "answer", "R3", "再答复"]);
    assert!(err.contains("R3已答复过"), "{err}");
    let out = sb.ok(&[
        "request",
        "answer",
        "r4",
        "已答复",
        "--now",
        "2024-10-11T09:00:00+08:00",
    ]);
    assert!(!out.contains("超时"), "{out}");
    let requests: Value =
        serde_json::from_str(&sb.ok(&["requests", "--json", "--at", "2024-10-14"])).unwrap();
    assert_eq!(
        requests[2]["state"],
        serde_json::json!({"state": "answered_late", "overdue_days": 1})
    );
    assert_eq!(requests[3]["state"]["state"], "answered_in_time");
    // Due on the make-up Sunday 29 Sep; late by 30 Sep, 8–12 Oct (12th a make-up day), 14 Oct.
    assert_eq!(
        requests[0]["state"],
        serde_json::json!({"state": "late", "overdue_days": 7})
    );
    // Bad input names the field.
    let err = sb.fails(&[
        "request",
        "add",
        "--unit",
        "财政局",
        "--category",
        "urgent",
        "x",
    ]);
    assert!(err.contains("unknown category \"urgent\""), "{err}");
    let err = sb.fails(&[
        "request",
        "add",
        "--unit",
        "财政所",
        "--category",
        "major",
        "x",
    ]);
    assert!(
        err.contains("没有名为“财政所”的单位") && err.contains("财政局"),
        "{err}"
    );
    let err = sb.fails(&["request", "answer", "R99", "x"]);
    assert!(err.contains("没有诉求R99"), "{err}");
}

#[test]
fn close_reject_reopen_and_extend_from_the_cli() {
    let sb = Sandbox::with_sample();
    let code = "1-4";
    // Reject needs a claim.
    let err = sb.fails(&["reject", code, "--reason", "x"]);
    assert!(err.contains("不是申请销号"), "{err}");
    sb.ok(&["set-status", code, "claimed"]);
    sb.ok(&["reject", code, "--reason", "验收材料不全"]);
    assert_eq!(by_code(&sb.measures(AT), code)["status"], "in_progress");
    sb.ok(&["set-status", code, "claimed"]);
    let out = sb.ok(&[
        "close",
        code,
        "--note",
        "现场核验通过",
        "--by",
        "整改办张三",
    ]);
    assert!(out.contains("→ 已销号"), "{out}");
    let h = history(&sb, code);
    let claims = h["claims"].as_array().unwrap();
    assert_eq!(
        claims
            .iter()
            .map(|c| c["state"].as_str().unwrap())
            .collect::<Vec<_>>(),
        ["rejected", "approved"]
    );
    assert_eq!(claims[0]["reason"], "验收材料不全");
    assert_eq!(claims[1]["decided_by"], "整改办张三");
    let err = sb.fails(&["close", code]);
    assert!(err.contains("已销号，无需再次销号"), "{err}");
    sb.ok(&["reopen", code, "--reason", "群众反映问题反弹"]);
    assert_eq!(by_code(&sb.measures(AT), code)["status"], "in_progress");
    let err = sb.fails(&["reopen", code, "--reason", "x"]);
    assert!(err.contains("尚未销号"), "{err}");
    // Measures the ledger brought in as 申请销号 (no claim in a chat) are decided all the same.
    let imported: Vec<String> = sb
        .measures(AT)
        .iter()
        .filter(|m| m["status"] == "claimed")
        .map(|m| m["code"].as_str().unwrap().to_string())
        .collect();
    assert!(imported.len() >= 2, "{imported:?}");
    sb.ok(&["close", &imported[0]]);
    sb.ok(&["reject", &imported[1], "--reason", "缺少验收材料"]);
    assert_eq!(by_code(&sb.measures(AT), &imported[0])["status"], "closed");
    assert_eq!(
        by_code(&sb.measures(AT), &imported[1])["status"],
        "in_progress"
    );
    let claims = history(&sb, &imported[1])["claims"].clone();
    assert_eq!(claims[0]["claimed_by"], "台账导入");
    assert_eq!(claims[0]["state"], "rejected");
    // Closing a measure nobody claimed records the office's own verification.
    sb.ok(&["close", "4-6"]);
    assert_eq!(history(&sb, "4-6")["claims"][0]["state"], "approved");
    // Extend: the deadline moves; the history keeps the old one; a past date is refused.
    let old = by_code(&sb.measures(AT), "3-2")["deadline"].clone();
    let until = later();
    let out = sb.ok(&["extend", "3-2", &until, "--reason", "上级政策调整"]);
    assert!(out.contains(&format!("调整为{}", zh(&until))), "{out}");
    let m = by_code(&sb.measures(AT), "3-2").clone();
    assert_eq!(m["deadline"], until.as_str());
    let moved = history(&sb, "3-2")["history"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["kind"] == "deadline")
        .cloned()
        .unwrap();
    assert_eq!(moved["old"], old);
    assert_eq!(moved["note"], "上级政策调整");
    // The office re-imports its own file, where 3-2 still has the old deadline and a new
    // target: the approved extension stays; the history says so.
    let (title, mut rows) = duban::ingest::sample::sample_measures().unwrap();
    let row = rows
        .iter_mut()
        .find(|r| r.code == duban::ingest::sample::RawCell::Text("3-2".into()))
        .unwrap();
    row.target = "目标已调整".into();
    let file = sb.path("edited.xlsx");
    duban::ingest::sample::write_ledger_file(
        &file,
        &title,
        &rows,
        duban::ingest::sample::Layout::AspectColumn,
    )
    .unwrap();
    sb.ok(&["import", file.to_str().unwrap()]);
    assert_eq!(by_code(&sb.measures(AT), "3-2")["deadline"], until.as_str());
    let last = history(&sb, "3-2")["history"]
        .as_array()
        .unwrap()
        .last()
        .cloned()
        .unwrap();
    assert!(
        last["note"]
            .as_str()
            .unwrap()
            .contains(&format!("保留已批准延期的{until}")),
        "{last}"
    );
    // Not earlier than the deadline it has now; never for a long-term measure.
    let earlier = (chrono::NaiveDate::parse_from_str(&until, "%Y-%m-%d").unwrap()
        - chrono::Days::new(10))
    .to_string();
    let err = sb.fails(&["extend", "3-2", &earlier, "--reason", "x"]);
    assert!(err.contains("3-2：延期日期须晚于现有时限"), "{err}");
    let long_term = sb
        .measures(AT)
        .into_iter()
        .find(|m| m["deadline_kind"] == "long_term")
        .unwrap();
    let err = sb.fails(&[
        "extend",
        long_term["code"].as_str().unwrap(),
        &until,
        "--reason",
        "x",
    ]);
    assert!(err.contains("长期坚持类措施无完成时限"), "{err}");
    let err = sb.fails(&["extend", "3-2", "2020-01-01", "--reason", "x"]);
    assert!(err.contains("须晚于今天"), "{err}");
}

/// Counts as the digest should report them, worked out from `measures --json`.
fn expected_counts(
    sb: &Sandbox,
    at: &str,
) -> (usize, usize, usize, usize, usize, usize, usize, usize) {
    let all = sb.measures(at);
    let status = |s: &str| all.iter().filter(|m| m["status"] == s).count();
    let open: Vec<&Value> = all.iter().filter(|m| m["status"] != "closed").collect();
    let light = |c: &str| open.iter().filter(|m| m["colour"] == c).count();
    (
        all.len(),
        status("closed"),
        status("claimed"),
        status("in_progress"),
        status("not_started"),
        light("red"),
        light("yellow"),
        light("green"),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_digest_reaches_every_leader_with_its_chart_and_the_weekly_ledger() {
    use sqlx::Connection;
    let fake = FakeTelegram::start().await;
    let sb = Sandbox::with_sample();
    let bot = bound_bot(&fake, &sb).await;
    bind(&sb, &fake, 7005, 7005, "管委会", "leader", Some("李华")).await;
    assert!(bot.stop());
    let out = sb.remind(&fake, NOW, &[]);
    assert!(out.status.success());
    // The reminders went out a week ago and nobody answered; a liaison blocked the bot.
    let mut db = sqlx::SqliteConnection::connect(&sb.url).await.unwrap();
    sqlx::query(
        "UPDATE outbox SET sent_at = '2024-03-08T01:00:00.000000Z' WHERE kind = 'reminder'",
    )
    .execute(&mut db)
    .await
    .unwrap();
    sqlx::query(
        "UPDATE identities SET unreachable_at = '2024-03-14T01:00:00.000000Z' WHERE channel = 'telegram' AND user_id = $1",
    )
    .bind(ECON.to_string())
    .execute(&mut db)
    .await
    .unwrap();
    db.close().await.unwrap();
    sb.ok(&["extend", "3-2", &later(), "--reason", "政策调整"]);
    // Requests: a consultation of Monday answered on Wednesday (late), one answered the same
    // day, and a general one of 1 March still open on the 15th (due the 8th: 5 days late).
    for (category, raised, text) in [
        ("consult", "2024-03-11T09:00:00+08:00", "咨询甲"),
        ("consult", "2024-03-12T09:00:00+08:00", "咨询乙"),
        (
            "general",
            "2024-03-01T09:00:00+08:00",
            "企业诉求:专项资金拨付",
        ),
    ] {
        sb.ok(&[
            "request",
            "add",
            "--unit",
            "财政局",
            "--category",
            category,
            text,
            "--now",
            raised,
        ]);
    }
    sb.ok(&[
        "request",
        "answer",
        "R1",
        "已答复",
        "--now",
        "2024-03-13T10:00:00+08:00",
    ]);
    sb.ok(&[
        "request",
        "answer",
        "R2",
        "已答复",
        "--now",
        "2024-03-12T16:00:00+08:00",
    ]);

    // Friday 15 March 2024, the digest's hour.
    let at = "2024-03-15T17:30:00+08:00";
    let before = fake.sent().len();
    let out = sb.run(&["digest", "--now", at]);
    // No token: the console refuses a database bound in Telegram.
    assert!(!out.status.success());
    let out = sb
        .bot_command(&fake)
        .args(["digest", "--now", at])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let sent: Vec<_> = fake.sent().into_iter().skip(before).collect();
    for leader in [7004, 7005] {
        let mine: Vec<_> = sent.iter().filter(|s| s.chat_id == leader).collect();
        assert_eq!(
            mine.len(),
            3,
            "text, chart and ledger for {leader}: {mine:#?}"
        );
    }
    assert!(
        sent.iter().all(|s| s.chat_id == 7004 || s.chat_id == 7005),
        "leaders only"
    );
    let text = &sent
        .iter()
        .find(|s| s.chat_id == 7004 && s.file.is_none())
        .unwrap()
        .text;
    let (total, closed, claimed, in_progress, not_started, red, yellow, green) =
        expected_counts(&sb, AT);
    let lines: Vec<&str> = text.lines().collect();
    for line in [
        "【每日督办简报】2024年3月15日（星期五）".to_string(),
        format!(
            "整改措施{total}项：已销号{closed} · 待核验{claimed} · 推进中{in_progress} · 未启动{not_started}"
        ),
        format!(
            "完成率{:.1}%",
            (closed as f64 * 1000.0 / total as f64).round() / 10.0
        ),
        format!("未销号亮灯（首次简报）：🔴 红灯{red} · 🟡 黄灯{yellow} · 🟢 绿灯{green}"),
        "经批准延期的措施1项".to_string(),
        format!("🔴 通报：逾期已达通报阶梯的措施（按牵头单位，共{red}项）："),
        "⛔ 无法送达（已屏蔽机器人或已移出群）：联络员7001（经济发展局）".to_string(),
        "  咨询类：按时答复1 · 超时答复1 · 办理中0 · 超时未答复0".to_string(),
        "  一般性协调：按时答复0 · 超时答复0 · 办理中0 · 超时未答复1".to_string(),
        "  ⚠️ R3 财政局【一般性协调】超时5个工作日：企业诉求:专项资金拨付".to_string(),
    ] {
        assert!(
            lines.contains(&line.as_str()),
            "missing {line:?} in\n{text}"
        );
    }
    assert!(
        text.contains("⏳ 连续3个工作日未反馈：") && text.contains("国资办（5个工作日）"),
        "{text}"
    );
    // The chart: a PNG that is not blank, with red in it since some measures are red.
    let chart = sent
        .iter()
        .find(|s| s.chat_id == 7004 && s.file.as_ref().is_some_and(|(k, _)| k == "photo"))
        .unwrap();
    let png = chart
        .file
        .as_ref()
        .unwrap()
        .1
        .as_ref()
        .unwrap()
        .bytes
        .clone();
    let decoder = png::Decoder::new(std::io::Cursor::new(&png));
    let mut reader = decoder.read_info().expect("a PNG");
    let mut pixels = vec![0; reader.output_buffer_size().unwrap()];
    let info = reader.next_frame(&mut pixels).unwrap();
    assert_eq!(info.width, 1000);
    let rgb: Vec<&[u8]> = pixels[..info.buffer_size()].chunks(3).collect();
    let not_white = rgb.iter().filter(|p| **p != [255, 255, 255]).count();
    assert!(
        not_white > rgb.len() / 50,
        "not blank: {not_white} of {}",
        rgb.len()
    );
    let reds = rgb
        .iter()
        .filter(|p| p[0] > 180 && p[1] < 80 && p[2] < 80)
        .count();
    assert!(reds > 100, "red bars: {reds}");
    // Friday: the exported ledger, an .xlsx with every measure.
    let ledger = sent
        .iter()
        .find(|s| s.chat_id == 7004 && s.file.as_ref().is_some_and(|(k, _)| k == "document"))
        .unwrap();
    let upload = ledger.file.as_ref().unwrap().1.as_ref().unwrap();
    assert!(upload.name.ends_with("2024-03-15.xlsx"), "{}", upload.name);
    let path = sb.path("weekly.xlsx");
    std::fs::write(&path, &upload.bytes).unwrap();
    use calamine::Reader as _;
    let mut book = calamine::open_workbook_auto(&path).unwrap();
    let first = book.sheet_names()[0].clone();
    let rows = book.worksheet_range(&first).unwrap().rows().count();
    assert!(rows > total, "{rows} rows for {total} measures");

    // The same digest again sends nothing.
    let count = fake.sent().len();
    let out = sb
        .bot_command(&fake)
        .args(["digest", "--now", at])
        .output()
        .unwrap();
    assert!(out.status.success());
    assert_eq!(fake.sent().len(), count);

    // A later digest (today's): the change since Friday; what closed today.
    sb.ok(&["set-status", "1-4", "claimed"]);
    sb.ok(&["close", "1-4"]);
    let now = chrono::Utc::now()
        .with_timezone(&chrono_tz::Asia::Shanghai)
        .to_rfc3339();
    let count = fake.sent().len();
    // A font path that is wrong does not cost the leaders their digest or its chart.
    let out = sb
        .bot_command(&fake)
        .env("DUBAN_DIGEST__FONT_PATH", "/nonexistent/font.otf")
        .args(["digest", "--now", &now, "--force"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let sent: Vec<_> = fake.sent().into_iter().skip(count).collect();
    let text = &sent
        .iter()
        .find(|s| s.chat_id == 7004 && s.file.is_none())
        .unwrap()
        .text;
    assert!(text.contains("✅ 今日销号1项：1-4"), "{text}");
    assert!(
        sent.iter()
            .any(|s| s.chat_id == 7004 && s.file.as_ref().is_some_and(|(k, _)| k == "photo")),
        "the chart, drawn with the bundled font"
    );
    assert!(text.contains("括号内为较2024年3月15日的变化"), "{text}");
    assert!(
        text.contains("完成率") && text.contains("（已销号较上次+1）"),
        "{text}"
    );
}
