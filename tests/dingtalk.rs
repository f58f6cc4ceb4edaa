//! DingTalk end to end, against a fake DingTalk on 127.0.0.1 speaking its real protocol (the
//! OpenAPI over HTTP, Stream mode over a WebSocket): binding in a 1:1 chat and in a group,
//! a sweep in Markdown with one-tap links, a tap and typed replies, another unit refused,
//! evidence, the office's decision, a message delivered twice, flow control and server
//! errors waited out, the gateway dropping the socket, a burst kept together; a burst cut by
//! a kill, applied once each after the restart; and one `duban run` serving a Telegram
//! liaison and a DingTalk liaison over one ledger. On SQLite and PostgreSQL.

mod common;

use std::time::Duration;

use common::fake_dingtalk::{CLIENT_SECRET, FakeDingTalk, Sent};
use common::fake_telegram::{FakeTelegram, TOKEN};
use common::{PgDatabase, Running, Sandbox, bind, by_code};

const NOW: &str = "2024-03-15T09:00:00+08:00";
const AT: &str = "2024-03-15";

/// Three overdue measures of 经济发展局 and one of 国资办.
fn ledger(sb: &Sandbox) {
    let file = sb.path("ledger.csv");
    std::fs::write(
        &file,
        "序号,整改措施,牵头单位,完成时限,状态\n\
         E-1,建成新区综合能源站,经济发展局,2024-01-31,推进中\n\
         E-2,完成重点企业帮扶,经济发展局,2024-02-29,推进中\n\
         E-3,推进园区道路改造,经济发展局,2024-02-29,未启动\n\
         G-1,完成国有资产清查,国资办,2024-02-29,推进中\n",
    )
    .unwrap();
    sb.ok(&["import", file.to_str().unwrap()]);
}

/// How many history rows of measure `code` came from a chat.
fn chat_rows(sb: &Sandbox, code: &str) -> usize {
    let history: serde_json::Value =
        serde_json::from_str(&sb.ok(&["history", code, "--json"])).unwrap();
    history["history"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["source"] == "chat")
        .count()
}

/// `duban ARGS` with the robot pointed at the fake, fast delivery, no schedule.
fn duban(sb: &Sandbox, ding: &FakeDingTalk) -> std::process::Command {
    let mut command = sb.command();
    command
        .envs(ding.env())
        .env("DUBAN_SCHEDULE__ENABLED", "false")
        .env("DUBAN_DINGTALK__PER_SECOND", "200")
        .env("DUBAN_DINGTALK__PER_GROUP_PER_MINUTE", "1000");
    command
}

fn start(mut command: std::process::Command, sb: &Sandbox) -> Running {
    let log = sb.path(&format!(
        "run-{}.log",
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos()
    ));
    let file = std::fs::File::create(&log).unwrap();
    command
        .env("DUBAN_LOG", "info,duban=debug")
        .arg("run")
        .stdout(file.try_clone().unwrap())
        .stderr(file);
    Running {
        child: command.spawn().unwrap(),
        log,
    }
}

fn status(sb: &Sandbox, code: &str) -> String {
    by_code(&sb.measures(AT), code)["status"]
        .as_str()
        .unwrap()
        .to_string()
}

/// The index of the link of `sent` whose text contains `what`.
fn link(sent: &Sent, what: &str) -> usize {
    sent.links
        .iter()
        .position(|(_, text)| text.contains(what))
        .unwrap_or_else(|| panic!("no link sending {what:?}: {:#?}", sent.links))
}

async fn dingtalk_story(sb: Sandbox) {
    let ding = FakeDingTalk::start().await;
    ledger(&sb);
    let run = start(duban(&sb, &ding), &sb);
    ding.wait_for(30, "the Stream connection", |d| d.connected())
        .await;

    // Binding: 1:1 chats, and a group by @-mentioning the robot.
    for (user, unit, role) in [
        ("econ", "经济发展局", "liaison"),
        ("admin", "国资办", "liaison"),
        ("office", "整改办", "office"),
    ] {
        let code = sb.invite(unit, role, None);
        let answer = ding.ask(user, &format!("绑定 {code}")).await;
        assert!(answer.text.contains("绑定成功"), "{}", answer.text);
        assert_eq!(answer.key, "sampleMarkdown");
    }
    let group = "cidGROUP1==";
    let code = sb.invite("经济发展局", "liaison", None);
    ding.group_text(group, "econ", &format!("绑定 {code}"));
    ding.wait_for(20, "the group's binding", |d| {
        d.sent_to(group)
            .iter()
            .any(|s| s.text.contains("本群已绑定为经济发展局"))
    })
    .await;
    let invite = duban(&sb, &ding)
        .args(["invite", "经济发展局"])
        .output()
        .unwrap();
    let invite = String::from_utf8_lossy(&invite.stdout).to_string();
    assert!(!invite.contains("t.me"), "{invite}");
    assert!(
        invite.contains("钉钉：在与机器人的单聊中发送“绑定 "),
        "{invite}"
    );

    // The sweep: Markdown with a one-tap link per answer, to the liaison and the group.
    let out = duban(&sb, &ding)
        .args(["remind", "--now", NOW])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let reminder = ding
        .sent_to("econ")
        .into_iter()
        .rfind(|s| s.text.contains("【催办】") || s.text.contains("【督办提醒】"))
        .expect("the liaison's reminder");
    assert!(reminder.text.contains("E-1") && reminder.text.contains("E-3"));
    assert!(!reminder.text.contains("G-1"), "another unit's measure");
    for expected in ["E-1 已完成", "E-2 推进中", "E-3 需协调", "E-1 申请延期"] {
        link(&reminder, expected);
    }
    let in_group = ding
        .sent_to(group)
        .into_iter()
        .rfind(|s| s.text.contains("E-2"))
        .expect("the group's reminder");
    assert!(in_group.links.is_empty(), "{}", in_group.text);
    assert!(
        in_group.text.contains("在群里回复请先@本机器人"),
        "{}",
        in_group.text
    );

    // A tap: the client sends "E-1 已完成" as the liaison's own message.
    let before = ding.sent_to("econ").len();
    ding.tap("econ", &reminder, link(&reminder, "E-1 已完成"));
    ding.wait_for(20, "the claim's confirmation", |d| {
        d.sent_to("econ").len() > before
    })
    .await;
    assert!(
        ding.sent_to("econ")[before]
            .text
            .contains("E-1 已记录：申请销号"),
        "{}",
        ding.sent_to("econ")[before].text
    );
    assert_eq!(status(&sb, "E-1"), "claimed");

    // Evidence after the confirmation goes with its measure.
    ding.add_file("DL-1", b"%PDF-1.4 acceptance report");
    let before = ding.sent_to("econ").len();
    ding.file("econ", "DL-1", "验收报告.pdf");
    ding.wait_for(20, "the evidence's receipt", |d| {
        d.sent_to("econ").len() > before
    })
    .await;
    let receipt = ding.sent_to("econ")[before].text.clone();
    assert!(
        receipt.contains("E-1 已收到佐证材料：验收报告.pdf（第1件）"),
        "{receipt}"
    );
    let history: serde_json::Value =
        serde_json::from_str(&sb.ok(&["history", "E-1", "--json"])).unwrap();
    assert_eq!(history["evidence"].as_array().unwrap().len(), 1);

    // An answer in the group, with the mention left in its text.
    let before = ding.sent_to(group).len();
    ding.group_text(group, "econ", "@督办助手\u{2005}E-3 需协调 缺资金");
    ding.wait_for(20, "the group's answer", |d| {
        d.sent_to(group).len() > before
    })
    .await;
    let answer = ding.sent_to(group)[before].text.clone();
    assert!(
        answer.contains("E-3") && answer.contains("协调"),
        "{answer}"
    );
    ding.wait_for(20, "the flag's notice to the office", |d| {
        d.sent_to("office")
            .iter()
            .any(|s| s.text.contains("E-3申请协调") && s.text.contains("缺资金"))
    })
    .await;

    // Typed replies, and another unit's liaison refused.
    let answer = ding.ask("econ", "E-2 60% 合同已签").await;
    assert!(answer.text.contains("E-2 已记录进展"), "{}", answer.text);
    assert_eq!(status(&sb, "E-2"), "in_progress");
    let answer = ding.ask("admin", "E-3 已完成").await;
    assert!(answer.text.contains("无权更新E-3"), "{}", answer.text);
    assert_eq!(status(&sb, "E-3"), "not_started");

    // The office decides with a tap; a second decision changes nothing.
    ding.wait_for(20, "the claim's notice", |d| {
        d.sent_to("office")
            .iter()
            .any(|s| s.text.contains("销号申请 E-1") && !s.links.is_empty())
    })
    .await;
    let notice = ding
        .sent_to("office")
        .into_iter()
        .find(|s| s.text.contains("销号申请 E-1"))
        .unwrap();
    let approve = link(&notice, ":ok");
    let before = ding.sent_to("econ").len();
    let answer = {
        let before = ding.sent_to("office").len();
        ding.tap("office", &notice, approve);
        ding.wait_for(20, "the office's answer", |d| {
            d.sent_to("office").len() > before
        })
        .await;
        ding.sent_to("office")[before].text.clone()
    };
    assert!(answer.contains("已通过"), "{answer}");
    assert_eq!(status(&sb, "E-1"), "closed");
    ding.wait_for(20, "the claimant told", |d| {
        d.sent_to("econ")[before..]
            .iter()
            .any(|s| s.text.contains("E-1 销号申请已通过核验"))
    })
    .await;
    let again = {
        let before = ding.sent_to("office").len();
        ding.tap("office", &notice, approve);
        ding.wait_for(20, "the second answer", |d| {
            d.sent_to("office").len() > before
        })
        .await;
        ding.sent_to("office")[before].text.clone()
    };
    assert!(again.contains("已处理"), "{again}");

    // A rejection asks for its reason, which goes after the button's data.
    let answer = ding.ask("econ", "E-2 已完成").await;
    assert!(
        answer.text.contains("E-2 已记录：申请销号"),
        "{}",
        answer.text
    );
    ding.wait_for(20, "the second claim's notice", |d| {
        d.sent_to("office")
            .iter()
            .any(|s| s.text.contains("销号申请 E-2"))
    })
    .await;
    let notice = ding
        .sent_to("office")
        .into_iter()
        .find(|s| s.text.contains("销号申请 E-2"))
        .unwrap();
    let (_, reject) = notice.links[link(&notice, ":no")].clone();
    let prompt = ding.ask("office", &reject).await;
    assert!(prompt.text.contains("请发送“退回 #c:"), "{}", prompt.text);
    assert_eq!(status(&sb, "E-2"), "claimed");
    let data = reject.rsplit('#').next().unwrap();
    let before = ding.sent_to("econ").len();
    let answer = ding.ask("office", &format!("退回 #{data} 材料不全")).await;
    assert!(answer.text.contains("已退回"), "{}", answer.text);
    assert_eq!(status(&sb, "E-2"), "in_progress");
    ding.wait_for(20, "the claimant told why", |d| {
        d.sent_to("econ")[before..]
            .iter()
            .any(|s| s.text.contains("E-2 销号申请被退回") && s.text.contains("材料不全"))
    })
    .await;

    // A leader gets the digest in Markdown, the chart as an image and, on Fridays (the
    // 15th is one), the ledger as a file.
    let code = sb.invite("党工委", "leader", Some("王建国"));
    let answer = ding.ask("leader", &format!("绑定 {code}")).await;
    assert!(answer.text.contains("绑定成功"), "{}", answer.text);
    let out = duban(&sb, &ding)
        .args(["digest", "--now", "2024-03-15T17:30:00+08:00"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let to_leader = ding.sent_to("leader");
    assert!(
        to_leader
            .iter()
            .any(|s| s.key == "sampleMarkdown" && s.text.contains("简报")),
        "{to_leader:#?}"
    );
    assert!(
        to_leader
            .iter()
            .any(|s| s.key == "sampleMarkdown" && s.text.contains("](@media-")),
        "the chart: {to_leader:#?}"
    );
    assert!(
        to_leader
            .iter()
            .any(|s| s.key == "sampleFile" && s.text.ends_with(".xlsx")),
        "the ledger: {to_leader:#?}"
    );
    let uploads = ding.uploads();
    assert!(
        uploads
            .iter()
            .any(|(kind, name, size)| kind == "image" && name.ends_with(".png") && *size > 1000),
        "{uploads:?}"
    );
    assert!(
        uploads.iter().any(|(kind, _, _)| kind == "file"),
        "{uploads:?}"
    );

    // A message delivered twice is applied once, and acknowledged both times.
    let earlier = chat_rows(&sb, "E-3");
    let before = ding.sent_to("econ").len();
    let frame = ding.text("econ", "E-3 推进中 施工队已进场");
    ding.wait_for(20, "the answer", |d| d.sent_to("econ").len() > before)
        .await;
    ding.again(&frame);
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(ding.sent_to("econ").len(), before + 1, "answered once");
    assert_eq!(chat_rows(&sb, "E-3"), earlier + 1, "applied once");
    assert!(ding.acked(&frame));

    // A burst pushed at once, from two liaisons, one of them a mistake: the messages the
    // socket holds together are kept together, each is acknowledged and answered once, the
    // mistake alone is refused.
    let (e2, g1) = (chat_rows(&sb, "E-2"), chat_rows(&sb, "G-1"));
    let (to_econ, to_admin) = (ding.sent_to("econ").len(), ding.sent_to("admin").len());
    let mut frames = Vec::new();
    for i in 0..12 {
        frames.push(ding.text("econ", &format!("E-2 推进中 第{i}轮走访")));
        frames.push(ding.text("admin", &format!("G-1 {}%", 10 + i)));
    }
    frames.push(ding.text("econ", "G-1 已完成"));
    ding.wait_for(30, "every message of the burst acknowledged", |d| {
        frames.iter().all(|f| d.acked(f))
    })
    .await;
    ding.wait_for(20, "every message of the burst answered", |d| {
        d.sent_to("econ").len() >= to_econ + 13 && d.sent_to("admin").len() >= to_admin + 12
    })
    .await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(
        ding.sent_to("econ").len(),
        to_econ + 13,
        "answered once each"
    );
    assert_eq!(
        ding.sent_to("admin").len(),
        to_admin + 12,
        "answered once each"
    );
    assert!(frames.iter().all(|f| ding.acks(f) == 1), "acked once each");
    assert_eq!(chat_rows(&sb, "E-2"), e2 + 12);
    assert_eq!(
        chat_rows(&sb, "G-1"),
        g1 + 12,
        "another unit's measure refused"
    );
    assert_ne!(status(&sb, "G-1"), "done", "another unit's measure refused");

    // Flow control and server errors are waited out; nothing goes twice.
    ding.flow_control("econ", 2);
    ding.fail_next(2);
    let answer = ding.ask("econ", "/whoami").await;
    assert!(answer.text.contains("经济发展局"), "{}", answer.text);
    tokio::time::sleep(Duration::from_secs(1)).await;
    let whoami = ding
        .sent_to("econ")
        .iter()
        .filter(|s| s.text.contains("联络员econ："))
        .count();
    assert_eq!(whoami, 1);

    // The gateway drops the socket, then asks for a reconnection: the robot comes back each
    // time with a fresh ticket.
    for (i, cut) in ["drop", "disconnect"].into_iter().enumerate() {
        let (_, connections) = ding.counts();
        match cut {
            "drop" => ding.drop_socket(),
            _ => ding.disconnect(),
        }
        ding.wait_for(40, "a new connection", |d| {
            d.counts().1 > connections && d.connected()
        })
        .await;
        let answer = ding.ask("econ", &format!("E-2 推进中 第{i}次调度")).await;
        assert!(answer.text.contains("E-2 已记录进展"), "{}", answer.text);
    }
    let opaque = ding.ping();
    ding.wait_for(10, "the ping's answer", |d| d.acked(&opaque))
        .await;

    let log = run.log();
    assert!(run.stop());
    assert!(!log.contains(CLIENT_SECRET), "the secret in the log");
    assert!(!log.contains("token-1"), "the access token in the log");
    assert_eq!(ding.secret_leaks(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dingtalk_end_to_end_on_sqlite() {
    dingtalk_story(Sandbox::sqlite()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dingtalk_end_to_end_on_postgres() {
    let db = PgDatabase::create().await;
    dingtalk_story(Sandbox::with_url(&db.url)).await;
}

/// One `duban run` serves a Telegram liaison and a DingTalk liaison over one ledger: each
/// is reminded on their own channel and answers there.
async fn both_channels(sb: Sandbox) {
    let ding = FakeDingTalk::start().await;
    let telegram = FakeTelegram::start().await;
    ledger(&sb);
    let mut command = sb.bot_command(&telegram);
    command
        .envs(ding.env())
        .env("DUBAN_DINGTALK__PER_SECOND", "200");
    let run = start(command, &sb);
    ding.wait_for(30, "the Stream connection", |d| d.connected())
        .await;
    let liaison = 7001;
    bind(
        &sb,
        &telegram,
        liaison,
        liaison,
        "经济发展局",
        "liaison",
        None,
    )
    .await;
    let code = sb.invite("国资办", "liaison", None);
    let answer = ding.ask("admin", &format!("绑定 {code}")).await;
    assert!(answer.text.contains("绑定成功"), "{}", answer.text);

    let mut remind = sb.bot_command(&telegram);
    let out = remind
        .envs(ding.env())
        .args(["remind", "--now", NOW])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let on_telegram = telegram.sent_to(liaison);
    assert!(
        on_telegram.iter().any(|s| s.text.contains("E-1")),
        "{on_telegram:#?}"
    );
    let on_dingtalk = ding.sent_to("admin");
    let reminder = on_dingtalk
        .iter()
        .rfind(|s| s.text.contains("G-1"))
        .expect("the DingTalk liaison's reminder")
        .clone();
    assert!(!reminder.text.contains("E-1"));

    let line = telegram
        .ask(liaison, liaison, "/update E-1 已完成", None)
        .await;
    assert!(line.contains("E-1"), "{line}");
    let before = ding.sent_to("admin").len();
    ding.tap("admin", &reminder, link(&reminder, "G-1 推进中"));
    ding.wait_for(20, "the DingTalk confirmation", |d| {
        d.sent_to("admin").len() > before
    })
    .await;
    assert_eq!(status(&sb, "E-1"), "claimed");
    assert_eq!(status(&sb, "G-1"), "in_progress");
    let history: serde_json::Value =
        serde_json::from_str(&sb.ok(&["history", "G-1", "--json"])).unwrap();
    assert!(
        history["history"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["source"] == "chat"),
        "{history}"
    );
    let log = run.log();
    assert!(run.stop());
    assert!(!log.contains(TOKEN) && !log.contains(CLIENT_SECRET));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_run_serves_telegram_and_dingtalk_on_sqlite() {
    both_channels(Sandbox::sqlite()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_run_serves_telegram_and_dingtalk_on_postgres() {
    let db = PgDatabase::create().await;
    both_channels(Sandbox::with_url(&db.url)).await;
}

/// A burst of robot messages, the process killed while it keeps them and started again:
/// every message is applied exactly once, and every one is acked in the end. What the
/// killed process acked was committed before (its ack follows the group's commit); what it
/// had not acked comes again on the new connection and is applied, or recognised by its id
/// when its group had committed and the kill came before the ack.
async fn killed_mid_burst(sb: Sandbox) {
    const BURST: usize = 600;
    let ding = FakeDingTalk::start().await;
    ledger(&sb);
    let run = start(duban(&sb, &ding), &sb);
    ding.wait_for(30, "the Stream connection", |d| d.connected())
        .await;
    let code = sb.invite("经济发展局", "liaison", None);
    let answer = ding.ask("econ", &format!("绑定 {code}")).await;
    assert!(answer.text.contains("绑定成功"), "{}", answer.text);
    let before = chat_rows(&sb, "E-2");

    let frames: Vec<String> = (0..BURST)
        .map(|i| ding.text("econ", &format!("E-2 推进中 第{i}次走访")))
        .collect();
    let acked = |d: &FakeDingTalk| frames.iter().filter(|f| d.acked(f)).count();
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    while acked(&ding) == 0 {
        assert!(std::time::Instant::now() < deadline, "nothing acked");
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    run.kill();
    let at_kill = acked(&ding);
    assert!(
        at_kill < BURST,
        "killed before the end ({at_kill} of {BURST} acked)"
    );

    eprintln!("killed with {at_kill} of {BURST} acked");
    let (_, connections) = ding.counts();
    let run = start(duban(&sb, &ding), &sb);
    ding.wait_for(30, "a new connection", |d| d.counts().1 > connections)
        .await;
    ding.wait_for(60, "every message acked", |d| acked(d) == BURST)
        .await;
    assert_eq!(
        chat_rows(&sb, "E-2"),
        before + BURST,
        "each message applied once ({at_kill} acked before the kill)"
    );
    assert!(run.stop());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_burst_killed_midway_is_applied_once_on_sqlite() {
    killed_mid_burst(Sandbox::sqlite()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_burst_killed_midway_is_applied_once_on_postgres() {
    let db = PgDatabase::create().await;
    killed_mid_burst(Sandbox::with_url(&db.url)).await;
}
