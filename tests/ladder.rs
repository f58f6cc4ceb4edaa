//! The escalation ladder delivered (提醒 → 催办 → 督办 → 通报 → 问责), against the fake
//! Telegram on 127.0.0.1, around National Day 2024 (holidays and make-up days): each step
//! reaches its audience (the liaisons, the responsible leader, the unit head), and each
//! step a measure reaches is recorded in its history once.

mod common;

use common::fake_telegram::FakeTelegram;
use common::{PgDatabase, Sandbox, bind};
use serde_json::Value;

const LIAISON: i64 = 7201;
const HEAD: i64 = 7301;
const OTHER_HEAD: i64 = 7302;
const LEADER: i64 = 7401;
const OFFICE: i64 = 7100;

/// Measures due before and around the holiday, led by two units.
fn ledger(sb: &Sandbox) {
    let file = sb.path("ledger.csv");
    std::fs::write(
        &file,
        "序号,整改措施,牵头单位,责任单位,责任领导,完成时限,状态\n\
         A-1,建成新区综合能源站,经济发展局,,王建国,2024-09-27,推进中\n\
         A-2,完成重点企业帮扶,经济发展局,财政局,王建国,2024-09-06,推进中\n\
         A-3,编制产业规划,经济发展局,,王建国,2024-10-31,推进中\n\
         B-1,完成国有资产清查,财政局,,李红,2024-10-08,推进中\n",
    )
    .unwrap();
    sb.ok(&["import", file.to_str().unwrap()]);
}

/// Each measure's step on `day`, as `duban measures --json` reports it.
fn steps(sb: &Sandbox, day: &str) -> Vec<(String, String, String)> {
    let measures: Vec<Value> =
        serde_json::from_str(&sb.ok(&["measures", "--json", "--at", day])).unwrap();
    measures
        .iter()
        .map(|m| {
            (
                m["code"].as_str().unwrap().to_string(),
                m["lead_unit"].as_str().unwrap().to_string(),
                m["escalation"].as_str().unwrap_or("").to_string(),
            )
        })
        .collect()
}

/// The codes a message lists, in the order it lists them.
fn codes(text: &str) -> Vec<String> {
    text.lines()
        .filter_map(|line| {
            line.split_whitespace()
                .nth(1)
                .filter(|w| w.contains('-') && w.len() <= 4)
                .map(str::to_string)
        })
        .collect()
}

fn step_rows(sb: &Sandbox, code: &str) -> Vec<String> {
    let history: Value = serde_json::from_str(&sb.ok(&["history", code, "--json"])).unwrap();
    history["history"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|h| h["kind"] == "step")
        .map(|h| h["new"].as_str().unwrap_or_default().to_string())
        .collect()
}

async fn ladder_story(sb: Sandbox) {
    ledger(&sb);
    let fake = FakeTelegram::start().await;
    let running = sb.start_bot(&fake, &[]);
    bind(&sb, &fake, LIAISON, LIAISON, "经济发展局", "liaison", None).await;
    bind(&sb, &fake, HEAD, HEAD, "经济发展局", "head", None).await;
    bind(&sb, &fake, OTHER_HEAD, OTHER_HEAD, "财政局", "head", None).await;
    bind(
        &sb,
        &fake,
        LEADER,
        LEADER,
        "党工委",
        "leader",
        Some("王建国"),
    )
    .await;
    bind(&sb, &fake, OFFICE, OFFICE, "整改办", "office", None).await;
    // A claim that waits for the office.
    let answer = fake
        .ask(LIAISON, LIAISON, "A-3 已完成 规划已印发", None)
        .await;
    assert!(answer.contains("已记录：申请销号"), "{answer}");
    assert!(running.stop());

    // Thursday 10-10, the fifth working day after A-1's deadline (the make-up Sunday 09-29
    // counts, the National Day holiday does not).
    let day = "2024-10-10";
    let at = steps(&sb, day);
    let step_of = |code: &str| at.iter().find(|(c, _, _)| c == code).unwrap().2.clone();
    assert_eq!(step_of("A-1"), "supervise");
    assert_eq!(step_of("A-2"), "report");
    assert_eq!(step_of("A-3"), "");
    assert_eq!(step_of("B-1"), "urge");
    let before = fake.sent().len();
    let out = sb.remind(&fake, "2024-10-10T09:00:00+08:00", &[]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let printed = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(printed.contains("新达到督办阶梯的措施3项"), "{printed}");
    let sent = &fake.sent()[before..];
    let to = |chat: i64| -> Vec<String> {
        sent.iter()
            .filter(|s| s.chat_id == chat)
            .map(|s| s.text.clone())
            .collect()
    };
    // The liaison is reminded of everything open of the unit's; the head gets 督办 of what
    // the unit leads from the fifth working day; the leader 催办 copies; the other unit's
    // head nothing (B-1 is at 催办 only, A-2 is led by 经济发展局).
    let liaison = to(LIAISON);
    assert_eq!(liaison.len(), 1, "{liaison:#?}");
    assert_eq!(codes(&liaison[0]), ["A-2", "A-1"], "{}", liaison[0]);
    let head = to(HEAD);
    assert_eq!(head.len(), 1, "{head:#?}");
    assert!(head[0].starts_with("【督办】"), "{}", head[0]);
    assert_eq!(codes(&head[0]), ["A-2", "A-1"], "{}", head[0]);
    assert!(to(OTHER_HEAD).is_empty(), "{:#?}", to(OTHER_HEAD));
    let leader = to(LEADER);
    assert_eq!(leader.len(), 1, "{leader:#?}");
    assert!(leader[0].starts_with("【督办抄报】"), "{}", leader[0]);
    // The office's daily list: the claim waiting, nothing at 问责建议 yet.
    let office: Vec<String> = to(OFFICE)
        .into_iter()
        .filter(|t| t.starts_with("【今日待办】"))
        .collect();
    assert_eq!(office.len(), 1, "{:#?}", to(OFFICE));
    assert!(
        office[0].starts_with("【今日待办】2024年10月10日"),
        "{}",
        office[0]
    );
    assert!(
        office[0].contains("待核验的销号申请（1项") && office[0].contains("A-3"),
        "{}",
        office[0]
    );
    assert!(!office[0].contains("问责建议"), "{}", office[0]);

    // Each step is in the history once: a second sweep that day records nothing new.
    assert_eq!(step_rows(&sb, "A-1"), ["supervise"]);
    assert_eq!(step_rows(&sb, "A-2"), ["report"]);
    assert!(step_rows(&sb, "A-3").is_empty());
    let out = sb.remind(&fake, "2024-10-10T15:00:00+08:00", &[]);
    let printed = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(printed.contains("新达到督办阶梯的措施0项"), "{printed}");
    assert_eq!(step_rows(&sb, "A-1"), ["supervise"]);

    let office_lists = |f: &FakeTelegram| {
        f.sent()
            .iter()
            .filter(|s| s.chat_id == OFFICE && s.text.starts_with("【今日待办】"))
            .count()
    };
    assert_eq!(office_lists(&fake), 1, "the office's list goes once a day");

    // Wednesday 10-16, the tenth working day (the make-up Saturday 10-12 counts): 通报;
    // A-2 passed its twentieth on 10-11: 问责建议, on the office's list.
    let before = fake.sent().len();
    let out = sb.remind(&fake, "2024-10-16T09:00:00+08:00", &[]);
    assert!(out.status.success());
    assert_eq!(step_rows(&sb, "A-1"), ["supervise", "report"]);
    assert_eq!(step_rows(&sb, "A-2"), ["report", "accountability"]);
    let office = fake.sent()[before..]
        .iter()
        .find(|s| s.chat_id == OFFICE && s.text.starts_with("【今日待办】"))
        .map(|s| s.text.clone())
        .expect("the office's list");
    assert!(
        office.contains("今日达到问责建议（1项）") && office.contains("A-2 经济发展局 · 王建国"),
        "{office}"
    );
    let history = sb.ok(&["history", "A-1"]);
    assert!(
        history.contains("督办阶梯") && history.contains("通报"),
        "{history}"
    );

    // 回头看: six months after a measure was closed, the office's list asks for a re-check;
    // confirmed, it is asked no more; reopened, it is back at work.
    sb.ok(&["close", "A-3", "--by", "整改办"]);
    sb.ok(&["close", "B-1", "--by", "整改办"]);
    // The office's list goes out on working days only: the days asked about are the first
    // working days 200 days from now and after it, whatever day the test runs.
    let calendar = duban::config::Settings::defaults().calendar;
    let half_year_day = calendar
        .working_day_on_or_after((chrono::Utc::now() + chrono::Duration::days(200)).date_naive());
    let half_year = format!("{half_year_day}T09:00:00+08:00");
    let office_list = |at: &str| {
        let before = fake.sent().len();
        let out = sb.remind(&fake, at, &[]);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        fake.sent()[before..]
            .iter()
            .find(|s| s.chat_id == OFFICE && s.text.starts_with("【今日待办】"))
            .map(|s| s.text.clone())
            .unwrap_or_default()
    };
    let list = office_list(&half_year);
    assert!(
        list.contains("回头看（2项") && list.contains("A-3") && list.contains("B-1"),
        "{list}"
    );
    sb.ok(&["recheck", "A-3", "--confirm"]);
    let out = sb.ok(&["recheck", "B-1", "--reopen", "--reason", "问题反弹"]);
    assert!(out.contains("重新打开"), "{out}");
    assert!(
        sb.fails(&["recheck", "B-1", "--confirm"])
            .contains("尚未销号")
    );
    let history = sb.ok(&["history", "A-3"]);
    assert!(history.contains("回头看"), "{history}");
    let next_day = format!(
        "{}T09:00:00+08:00",
        calendar.working_day_on_or_after(half_year_day + chrono::Duration::days(1))
    );
    let list = office_list(&next_day);
    assert!(!list.contains("回头看"), "{list}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_ladder_reaches_each_audience_on_sqlite() {
    ladder_story(Sandbox::sqlite()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_ladder_reaches_each_audience_on_postgres() {
    let db = PgDatabase::create().await;
    ladder_story(Sandbox::with_url(&db.url)).await;
}

/// 五书制 (`config/ladder-wushu.toml`): reaching a step that names a document issues it,
/// numbered per year and prefix, sent as a .docx to the step's audience and kept, its
/// number in the step's history; a second sweep issues nothing again.
async fn documents_story(sb: Sandbox) {
    ledger(&sb);
    let wushu = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("config/ladder-wushu.toml");
    let fake = FakeTelegram::start().await;
    let running = sb.start_bot(&fake, &[("DUBAN_CONFIG", wushu.to_str().unwrap())]);
    bind(&sb, &fake, LIAISON, LIAISON, "经济发展局", "liaison", None).await;
    bind(&sb, &fake, HEAD, HEAD, "经济发展局", "head", None).await;
    assert!(running.stop());
    let remind = |at: &str| {
        let out = sb
            .bot_command(&fake)
            .env("DUBAN_CONFIG", &wushu)
            .args(["remind", "--now", at])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    };
    let before = fake.calls("sendDocument").len();
    remind("2024-10-10T09:00:00+08:00");
    let documents: Vec<(i64, String)> = fake.calls("sendDocument")[before..]
        .iter()
        .map(|c| {
            (
                c.body["chat_id"]
                    .as_i64()
                    .or_else(|| c.body["chat_id"].as_str()?.parse().ok())
                    .unwrap_or(0),
                c.files.first().map(|f| f.name.clone()).unwrap_or_default(),
            )
        })
        .collect();
    // A-1, the fifth working day overdue: 告诫书 to the liaison and the head; A-3, not yet
    // due, at its first step: 督查督办通知书; A-2 (the 20th working day): 问责建议书, to the
    // head (the liaison is not in that step's audience).
    let named = |chat: i64, words: &str| {
        documents
            .iter()
            .any(|(c, n)| *c == chat && n.contains(words))
    };
    assert!(
        named(LIAISON, "整改情况告诫书督告〔2024〕1号"),
        "{documents:#?}"
    );
    assert!(
        named(HEAD, "整改情况告诫书督告〔2024〕1号"),
        "{documents:#?}"
    );
    assert!(
        named(LIAISON, "督查督办通知书督通〔2024〕"),
        "{documents:#?}"
    );
    assert!(named(HEAD, "问责建议书督问〔2024〕1号"), "{documents:#?}");
    assert!(!named(LIAISON, "问责建议书"), "{documents:#?}");
    let history = sb.ok(&["history", "A-1"]);
    assert!(history.contains("督告〔2024〕1号"), "{history}");
    let kept = std::fs::read(
        sb.path("duban-data")
            .join("documents/2024/督告-2024-001.docx"),
    )
    .expect("the document is kept");
    let read = docx_rs::read_docx(&kept)
        .expect("a .docx that opens")
        .json();
    assert!(
        read.contains("整改情况告诫书") && read.contains("督告〔2024〕1号") && read.contains("A-1"),
        "the document's text"
    );
    // Again the same day: nothing issued twice.
    let before = fake.calls("sendDocument").len();
    remind("2024-10-10T15:00:00+08:00");
    assert_eq!(fake.calls("sendDocument").len(), before);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn five_documents_are_issued_once_numbered_per_year_on_sqlite() {
    documents_story(Sandbox::sqlite()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn five_documents_are_issued_once_numbered_per_year_on_postgres() {
    let db = PgDatabase::create().await;
    documents_story(Sandbox::with_url(&db.url)).await;
}
