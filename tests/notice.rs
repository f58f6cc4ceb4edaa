//! The periodic 通报 against the fake Telegram on 127.0.0.1: numbered per year, delivered
//! with its .docx (opened and read back here) to every bound leader, unit head, liaison and
//! office member; the same period issued again keeps its number and sends nothing twice.

mod common;

use common::fake_telegram::FakeTelegram;
use common::{PgDatabase, Sandbox, bind};

const LIAISON: i64 = 7201;
const HEAD: i64 = 7301;
const LEADER: i64 = 7401;
const OFFICE: i64 = 7100;

fn ledger(sb: &Sandbox) {
    let file = sb.path("ledger.csv");
    std::fs::write(
        &file,
        "序号,整改措施,牵头单位,责任领导,完成时限,状态\n\
         A-1,建成新区综合能源站,经济发展局,王建国,2024-09-13,推进中\n\
         A-2,完成重点企业帮扶,经济发展局,王建国,2024-12-31,推进中\n\
         B-1,完成国有资产清查,财政局,李红,2024-06-28,已销号\n\
         B-2,编制资金使用办法,财政局,李红,2024-12-31,推进中\n\
         C-1,整治园区道路,建设管理局,张伟,2024-06-28,已销号\n",
    )
    .unwrap();
    sb.ok(&["import", file.to_str().unwrap()]);
}

/// The document's text, read back from the .docx.
fn document_text(bytes: &[u8]) -> String {
    let docx = docx_rs::read_docx(bytes).expect("a .docx that opens");
    docx.json()
}

async fn notice_story(sb: Sandbox) {
    ledger(&sb);
    let fake = FakeTelegram::start().await;
    let running = sb.start_bot(&fake, &[]);
    bind(&sb, &fake, LIAISON, LIAISON, "经济发展局", "liaison", None).await;
    bind(&sb, &fake, HEAD, HEAD, "经济发展局", "head", None).await;
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
    assert!(running.stop());
    // The sweep of 10-08 records A-1's step (通报 from its tenth working day overdue).
    assert!(
        sb.remind(&fake, "2024-10-08T09:00:00+08:00", &[])
            .status
            .success()
    );

    // The dry run prints and numbers nothing.
    let dry = sb.ok(&[
        "notice",
        "--period",
        "week",
        "--now",
        "2024-10-14T09:30:00+08:00",
        "--dry-run",
    ]);
    assert!(dry.starts_with("【督办通报〔2024〕第1期】"), "{dry}");
    let before = fake.sent().len();
    let out = sb
        .bot_command(&fake)
        .args([
            "notice",
            "--period",
            "week",
            "--now",
            "2024-10-14T09:30:00+08:00",
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let printed = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(
        printed.contains("督办通报〔2024〕第1期：已印发"),
        "{printed}"
    );
    let sent = fake.sent()[before..].to_vec();
    for chat in [LIAISON, HEAD, LEADER, OFFICE] {
        let to: Vec<_> = sent.iter().filter(|s| s.chat_id == chat).collect();
        assert!(
            to.iter()
                .any(|s| s.text.starts_with("【督办通报〔2024〕第1期】")),
            "{chat}: {to:#?}"
        );
    }
    let text = &sent
        .iter()
        .find(|s| s.chat_id == LEADER && s.text.starts_with("【督办通报"))
        .unwrap()
        .text;
    assert!(text.contains("2024年10月7日至2024年10月13日"), "{text}");
    // Ranked by completion rate: 建设管理局 (100 %), 财政局 (50 %), 经济发展局 (0 %, red).
    let place = |unit: &str| text.find(unit).unwrap_or(usize::MAX);
    assert!(
        place("1. 建设管理局") < place("2. 财政局") && place("2. 财政局") < place("3. 经济发展局"),
        "{text}"
    );
    assert!(
        text.contains("三、本期新进入通报的措施（1项）") && text.contains("A-1"),
        "{text}"
    );
    // The document went to each of them, and reads back.
    let uploads = fake.calls("sendDocument");
    let document = uploads
        .iter()
        .rev()
        .find_map(|c| c.files.first())
        .expect("the document was sent");
    assert!(document.name.ends_with(".docx"), "{}", document.name);
    let kept = std::fs::read(
        sb.path("duban-data")
            .join("notices/2024/week-2024-001.docx"),
    )
    .expect("the document is kept under the data directory");
    let read = document_text(&kept);
    for words in [
        "督办通报〔2024〕第1期",
        "建设管理局",
        "100.0%",
        "本期新进入通报的措施",
        "整改办",
    ] {
        assert!(read.contains(words), "{words} missing from the document");
    }
    assert!(
        read.find("建设管理局") < read.find("经济发展局"),
        "the table's order"
    );

    // Issued again: the same number, nothing new sent. The month's notice is the year's
    // second.
    let before = fake.sent().len();
    let again = sb
        .bot_command(&fake)
        .args([
            "notice",
            "--period",
            "week",
            "--now",
            "2024-10-15T09:30:00+08:00",
        ])
        .output()
        .unwrap();
    let printed = String::from_utf8_lossy(&again.stdout).to_string();
    assert!(printed.contains("第1期：本期已印发过"), "{printed}");
    assert_eq!(fake.sent().len(), before, "nothing twice");
    let month = sb
        .bot_command(&fake)
        .args([
            "notice",
            "--period",
            "month",
            "--now",
            "2024-11-01T09:30:00+08:00",
        ])
        .output()
        .unwrap();
    let printed = String::from_utf8_lossy(&month.stdout).to_string();
    assert!(
        printed.contains("督办通报〔2024〕第2期：已印发"),
        "{printed}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_notice_ranks_units_and_goes_with_its_document_on_sqlite() {
    notice_story(Sandbox::sqlite()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_notice_ranks_units_and_goes_with_its_document_on_postgres() {
    let db = PgDatabase::create().await;
    notice_story(Sandbox::with_url(&db.url)).await;
}
