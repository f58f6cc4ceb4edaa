//! Replies as liaisons write them, through the running bot: a sample of each reading of the
//! corpus (`src/reply/corpus.tsv`), sent in reply to the reminder listing its measure, with
//! what each does to the ledger and who hears of it; unclear readings asked and confirmed
//! once; a reply for several measures. On SQLite and on PostgreSQL.

mod common;

use common::fake_telegram::FakeTelegram;
use common::scene::*;
use common::{Sandbox, bind, by_code};

/// The first reply of the corpus with this reading, written without a code and about no
/// particular measure.
fn sample(reading: &str) -> String {
    include_str!("../src/core/reply/corpus.tsv")
        .lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
        .map(|l| l.split('\t').collect::<Vec<_>>())
        .find(|cols| {
            cols.len() == 2
                && cols[0] == reading
                && duban::core::reply::split_code(cols[1])
                    .is_none_or(|lead| lead.code.starts_with('R'))
        })
        .unwrap_or_else(|| panic!("no sample of {reading}"))[1]
        .to_string()
}

/// The first reply of the corpus whose reading starts with `kind` (`progress:`, `extend:`).
fn sample_of_kind(kind: &str) -> (String, String) {
    include_str!("../src/core/reply/corpus.tsv")
        .lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
        .map(|l| l.split('\t').collect::<Vec<_>>())
        .find(|cols| cols.len() == 2 && cols[0].starts_with(kind) && !cols[1].starts_with("2-1"))
        .map(|cols| (cols[0].to_string(), cols[1].to_string()))
        .unwrap_or_else(|| panic!("no sample of {kind}"))
}

async fn replies_through_the_bot(sb: Sandbox) {
    let fake = FakeTelegram::start().await;
    // Nine measures of 经济发展局, not started and overdue on the day of the sweep: one for
    // each reading.
    let ledger = sb.path("extra.csv");
    let mut csv = String::from("序号,整改措施,牵头单位,完成时限,状态\n");
    for i in 1..=9 {
        csv.push_str(&format!(
            "E-{i},推进第{i}项重点工程建设并投入使用,经济发展局,2024-01-31,未启动\n"
        ));
    }
    std::fs::write(&ledger, csv).unwrap();
    sb.ok(&["import", ledger.to_str().unwrap()]);
    let bot = sb.start_bot(&fake, &[]);
    bind(&sb, &fake, ECON, ECON, "经济发展局", "liaison", None).await;
    bind(&sb, &fake, OFFICE, OFFICE, "整改办", "office", None).await;
    assert!(bot.stop());
    let out = sb.remind(&fake, NOW, &[]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let reminder = fake
        .sent_to(ECON)
        .into_iter()
        .find(|s| listed_codes(&s.text).contains(&"E-1".to_string()))
        .expect("the reminder listing the E measures");
    let bot = sb.start_bot(&fake, &[]);
    let reply = |code: &str, text: &str| format!("{code} {text}");
    let status = |code: &str| by_code(&sb.measures(AT), code)["status"].clone();

    // A claim of completion: 申请销号, and the office is asked to verify.
    let done = sample("done");
    let line = fake
        .ask(ECON, ECON, &reply("E-1", &done), Some(reminder.message_id))
        .await;
    assert!(line.contains("E-1 已记录：申请销号"), "{done}: {line}");
    assert_eq!(status("E-1"), "claimed");
    fake.wait_for(15, "the claim's notice", |f| {
        !notices(f, OFFICE, "📋 销号申请 E-1").is_empty()
    })
    .await;

    // Progress with a percentage, and a report of work on a measure not started: both
    // move it to 推进中.
    let (reading, text) = sample_of_kind("progress:");
    let line = fake
        .ask(ECON, ECON, &reply("E-2", &text), Some(reminder.message_id))
        .await;
    assert!(line.contains("E-2 已记录进展"), "{text}: {line}");
    assert_eq!(status("E-2"), "in_progress");
    assert!(reading.starts_with("progress:"), "{reading}");
    assert_eq!(
        by_code(&sb.measures(AT), "E-2")["latest_progress"],
        text.as_str(),
        "the words as sent are the note"
    );
    let work = sample("progress");
    let line = fake
        .ask(ECON, ECON, &reply("E-3", &work), Some(reminder.message_id))
        .await;
    assert!(
        line.contains("E-3 已记录进展，状态：推进中"),
        "{work}: {line}"
    );
    assert_eq!(status("E-3"), "in_progress");

    // A note leaves the status as it was.
    let note = sample("note");
    let line = fake
        .ask(ECON, ECON, &reply("E-4", &note), Some(reminder.message_id))
        .await;
    assert!(
        line.contains("E-4 已记录进展，状态：未启动"),
        "{note}: {line}"
    );
    assert_eq!(status("E-4"), "not_started");

    // Coordination, an extension and a question reach the office.
    let blocked = sample("blocked");
    let line = fake
        .ask(
            ECON,
            ECON,
            &reply("E-5", &blocked),
            Some(reminder.message_id),
        )
        .await;
    assert!(line.contains("E-5 已提交整改办协调"), "{blocked}: {line}");
    fake.wait_for(15, "the flag's notice", |f| {
        !notices(f, OFFICE, "⚠️ 经济发展局").is_empty()
    })
    .await;
    let (reading, extend) = sample_of_kind("extend:");
    let until = reading.trim_start_matches("extend:");
    let line = fake
        .ask(
            ECON,
            ECON,
            &reply("E-6", &extend),
            Some(reminder.message_id),
        )
        .await;
    assert!(line.contains("E-6 延期申请"), "{extend}: {line}");
    let asked = duban::core::text::date_text(until, duban::core::text::Language::Zh);
    fake.wait_for(15, "the extension's notice", |f| {
        notices(f, OFFICE, "📅 延期申请 E-6")
            .iter()
            .any(|n| n.text.contains(&asked))
    })
    .await;
    let question = sample("question");
    let line = fake
        .ask(
            ECON,
            ECON,
            &reply("E-7", &question),
            Some(reminder.message_id),
        )
        .await;
    assert!(line.contains("E-7 的提问已转整改办"), "{question}: {line}");
    fake.wait_for(15, "the question's notice", |f| {
        notices(f, OFFICE, "❓ 经济发展局")
            .iter()
            .any(|n| n.text.contains(&question))
    })
    .await;
    // An extension without its date asks for one.
    let undated = sample("error:date");
    let line = fake
        .ask(
            ECON,
            ECON,
            &reply("E-6", &undated),
            Some(reminder.message_id),
        )
        .await;
    assert!(line.contains("请写明延期到的日期"), "{undated}: {line}");

    // The answer to a request, by its code.
    let added = sb.ok(&[
        "request",
        "add",
        "--unit",
        "经济发展局",
        "--category",
        "consult",
        "企业咨询",
    ]);
    let code = added.split('：').next().unwrap().to_string();
    let answer = sample("answer:12").replacen("R12", &code, 1);
    let line = fake.ask(ECON, ECON, &answer, None).await;
    assert!(
        line.contains(&format!("{code} 已答复并办结")),
        "{answer}: {line}"
    );

    // Unclear: asked, nothing applied; confirmed once.
    let loose = sample("ask:done");
    let before = fake.sent_to(ECON).len();
    fake.text(ECON, ECON, &reply("E-8", &loose), Some(reminder.message_id));
    fake.wait_for(15, "the question back", |f| f.sent_to(ECON).len() > before)
        .await;
    let ask = fake.sent_to(ECON).pop().unwrap();
    assert!(
        ask.text.starts_with("请确认") && ask.text.contains("E-8 已完成，申请销号"),
        "{}",
        ask.text
    );
    assert_eq!(
        status("E-8"),
        "not_started",
        "nothing applied before the answer"
    );
    let toast = fake
        .tap(ECON, ECON, ask.message_id, &button(&ask, 0, 0))
        .await;
    assert!(toast.contains("E-8 已记录：申请销号"), "{toast}");
    assert_eq!(status("E-8"), "claimed");
    let again = fake
        .tap(ECON, ECON, ask.message_id, &button(&ask, 0, 0))
        .await;
    assert!(again.contains("已确认过"), "{again}");
    let history: serde_json::Value =
        serde_json::from_str(&sb.ok(&["history", "E-8", "--json"])).unwrap();
    let claims = history["history"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["to"] == "claimed")
        .count();
    assert_eq!(claims, 1, "applied once");
    // 不是: nothing changes.
    let ack = sample("ask:progress");
    let before = fake.sent_to(ECON).len();
    fake.text(ECON, ECON, &reply("E-9", &ack), Some(reminder.message_id));
    fake.wait_for(15, "the question back", |f| f.sent_to(ECON).len() > before)
        .await;
    let ask = fake.sent_to(ECON).pop().unwrap();
    assert!(ask.text.contains("E-9 正在推进"), "{}", ask.text);
    let toast = fake
        .tap(ECON, ECON, ask.message_id, &button(&ask, 0, 1))
        .await;
    assert!(
        toast.contains("已取消") && toast.contains("未作更改"),
        "{toast}"
    );
    assert_eq!(status("E-9"), "not_started");

    // A reply for several measures: each line applied to its code, one confirmation.
    let line = fake
        .ask(
            ECON,
            ECON,
            "E-4 推进中，已召开专题会\nE-9 60% 合同已签",
            Some(reminder.message_id),
        )
        .await;
    assert!(
        line.starts_with("已处理2项：") && line.contains("E-4") && line.contains("E-9"),
        "{line}"
    );
    assert_eq!(status("E-4"), "in_progress");
    assert_eq!(status("E-9"), "in_progress");
    for code in ["E-4", "E-9"] {
        let history: serde_json::Value =
            serde_json::from_str(&sb.ok(&["history", code, "--json"])).unwrap();
        assert!(
            history["history"]
                .as_array()
                .unwrap()
                .iter()
                .any(|e| e["source"] == "chat" && e["to"] == "in_progress"),
            "{code}: {history}"
        );
    }
    assert!(bot.stop());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replies_through_the_bot_on_sqlite() {
    replies_through_the_bot(Sandbox::with_sample()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replies_through_the_bot_on_postgres() {
    let db = common::PgDatabase::create().await;
    let sb = Sandbox::with_url(&db.url);
    sb.ok(&["import", common::sample().to_str().unwrap()]);
    replies_through_the_bot(sb).await;
}
