//! The bot end to end: `duban run` and `duban remind` against a fake Telegram Bot API
//! server on 127.0.0.1 (tests/common/fake_telegram.rs) that speaks real HTTP and JSON.

mod common;

use std::time::{Duration, Instant};

use common::fake_telegram::{Failure, FakeTelegram, TOKEN};
use common::scene::*;
use common::{Sandbox, bind, by_code};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn binding_with_codes() {
    let fake = FakeTelegram::start().await;
    let sb = Sandbox::with_sample();
    let bot = sb.start_bot(&fake, &[]);
    fake.wait_for(15, "setMyCommands", |f| {
        !f.calls("setMyCommands").is_empty()
    })
    .await;
    let commands = &fake.calls("setMyCommands")[0].body["commands"];
    assert!(
        commands
            .as_array()
            .unwrap()
            .iter()
            .any(|c| c["command"] == "list"),
        "{commands}"
    );

    // An unbound user gets one polite line, and nothing else happens.
    fake.text(9001, 9001, "你好,1-4 已完成", None);
    fake.wait_for(15, "the unbound line", |f| !f.sent_to(9001).is_empty())
        .await;
    let unbound = fake.sent_to(9001);
    assert_eq!(unbound.len(), 1);
    assert!(
        unbound[0].text.contains("尚未绑定") && unbound[0].text.contains("/bind"),
        "{}",
        unbound[0].text
    );

    // Free text gets that line once a day; a command is always answered.
    fake.text(9001, 9001, "请问怎么用", None);
    let line = fake.ask(9001, 9001, "/help", None).await;
    assert!(line.contains("尚未绑定"), "{line}");
    assert_eq!(fake.sent_to(9001).len(), 2, "the second text got no answer");

    // A good code binds; the same code again is refused as used.
    let code = sb.invite("经济发展局", "liaison", None);
    assert!(
        code.len() >= 10
            && code
                .chars()
                .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit())
    );
    assert!(
        !code.contains(['0', 'O', '1', 'I', 'L']),
        "unambiguous alphabet: {code}"
    );
    let line = fake.ask(ECON, ECON, &format!("/start {code}"), None).await;
    assert!(
        line.contains("绑定成功：联络员7001，经济发展局联络员"),
        "{line}"
    );
    let line = fake.ask(9002, 9002, &format!("/bind {code}"), None).await;
    assert!(line.contains("已被使用"), "{line}");
    // An unknown code.
    let line = fake.ask(9003, 9003, "/bind ABCDEFGHJKMN", None).await;
    assert!(line.contains("邀请码无效"), "{line}");
    // An expired code.
    let old = sb.invite("财政局", "liaison", None);
    let url = sb.url.clone();
    let pool = sqlx::SqlitePool::connect(&url).await.unwrap();
    sqlx::query(
        "UPDATE invites SET expires_at = '2000-01-01T00:00:00.000000Z' WHERE used_at IS NULL",
    )
    .execute(&pool)
    .await
    .unwrap();
    pool.close().await;
    let line = fake.ask(9004, 9004, &format!("/bind {old}"), None).await;
    assert!(line.contains("已过期"), "{line}");
    // /whoami.
    let line = fake.ask(ECON, ECON, "/whoami", None).await;
    assert!(line.contains("联络员7001：经济发展局联络员"), "{line}");
    // /list shows the unit's open measures with their lights; /help the commands.
    let list = fake.ask(ECON, ECON, "/list", None).await;
    assert!(list.contains("未销号") && list.contains("1-4"), "{list}");
    let help = fake.ask(ECON, ECON, "/help", None).await;
    assert!(help.contains("/update"), "{help}");
    // An update Telegram sends that duban cannot read is skipped, and the next one is handled.
    fake.push(serde_json::json!({"message": {"message_id": "not a number", "chat": 12}}));
    let line = fake.ask(ECON, ECON, "/whoami", None).await;
    assert!(line.contains("经济发展局"), "{line}");
    // /unbind ends the binding: the next message gets the unbound line.
    let line = fake.ask(ECON, ECON, "/unbind", None).await;
    assert!(line.contains("已解除绑定"), "{line}");
    let line = fake.ask(ECON, ECON, "/list", None).await;
    assert!(line.contains("尚未绑定"), "{line}");
    // A code for a unit that is not in the ledger is refused with the nearest names.
    let err = sb.fails(&["invite", "经发局"]);
    assert!(
        err.contains("没有名为“经发局”的单位") && err.contains("经济发展局"),
        "{err}"
    );
    // A group chat bound with a liaison code.
    bind(&sb, &fake, -5001, ADMIN, "财政局", "liaison", None).await;
    assert!(fake.sent_to(-5001)[0].text.contains("本群已绑定为财政局"));
    assert!(bot.stop());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reminders_at_a_fixed_moment_once_each() {
    let fake = FakeTelegram::start().await;
    let sb = Sandbox::with_sample();
    let bot = bound_bot(&fake, &sb).await;
    assert!(bot.stop());
    let before = fake.sent().len();
    let out = sb.remind(&fake, NOW, &[]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let sent: Vec<_> = fake.sent().into_iter().skip(before).collect();
    // The liaison of 经济发展局: the measures worked out independently, red first.
    let econ: Vec<_> = sent.iter().filter(|s| s.chat_id == ECON).collect();
    assert_eq!(econ.len(), 1);
    let text = &econ[0].text;
    assert_eq!(
        listed_codes(text),
        expected_items(&sb, "经济发展局"),
        "{text}"
    );
    assert!(text.starts_with("【催办】2024年3月15日"), "{text}");
    assert!(
        text.contains("🔴 1-4 ")
            && text.contains("时限：2023年12月31日 · 逾期50个工作日（问责建议） · 推进中"),
        "{text}"
    );
    let keyboard = econ[0].markup.as_ref().unwrap()["inline_keyboard"]
        .as_array()
        .unwrap()
        .clone();
    assert_eq!(keyboard.len(), listed_codes(text).len());
    assert_eq!(keyboard[0][0]["text"], "✅ 1-4 完成");
    assert_eq!(keyboard[0][0]["callback_data"], "m:0:done");
    assert_eq!(keyboard[0].as_array().unwrap().len(), 4);
    // 国资办: its liaison and its group get the same list.
    let admin: Vec<_> = sent.iter().filter(|s| s.chat_id == ADMIN).collect();
    let group: Vec<_> = sent.iter().filter(|s| s.chat_id == -5001).collect();
    assert_eq!(admin.len(), 1);
    assert_eq!(group.len(), 1);
    assert_eq!(listed_codes(&admin[0].text), expected_items(&sb, "国资办"));
    assert_eq!(listed_codes(&group[0].text), listed_codes(&admin[0].text));
    // The leader 王建国 gets a 催办 copy of his overdue measures, without buttons.
    let leader: Vec<_> = sent.iter().filter(|s| s.chat_id == 7004).collect();
    assert_eq!(
        leader.len(),
        1,
        "{}\n{sent:#?}",
        String::from_utf8_lossy(&out.stdout)
    );
    assert!(
        leader[0].text.starts_with("【督办抄报】"),
        "{}",
        leader[0].text
    );
    assert!(listed_codes(&leader[0].text).contains(&"1-4".to_string()));
    assert!(leader[0].markup.is_none());
    // The office gets no reminder: only its own daily list (the measures already at 问责建议
    // when the ledger is first swept).
    let office: Vec<_> = sent.iter().filter(|s| s.chat_id == OFFICE).collect();
    assert_eq!(office.len(), 1, "{office:#?}");
    assert!(
        office[0].text.starts_with("【今日待办】2024年3月15日") && office[0].text.contains("1-4"),
        "{}",
        office[0].text
    );
    // The same sweep again sends nothing.
    let again = sb.remind(&fake, NOW, &[]);
    assert!(again.status.success());
    assert_eq!(
        fake.sent().len(),
        before + sent.len(),
        "{}",
        String::from_utf8_lossy(&again.stdout)
    );
    // A day off sends nothing.
    let sunday = sb.remind(&fake, "2024-03-17T09:00:00+08:00", &[]);
    assert!(String::from_utf8_lossy(&sunday.stdout).contains("是休息日"));
    assert_eq!(fake.sent().len(), before + sent.len());
    // A dry run prints and queues nothing.
    let dry = sb.remind(&fake, "2024-03-18T09:00:00+08:00", &["--dry-run"]);
    assert!(String::from_utf8_lossy(&dry.stdout).contains("试运行，未加入发送队列"));
    assert_eq!(fake.sent().len(), before + sent.len());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn buttons_and_replies_move_the_ledger() {
    let fake = FakeTelegram::start().await;
    let sb = Sandbox::with_sample();
    let bot = bound_bot(&fake, &sb).await;
    assert!(bot.stop());
    let out = sb.remind(&fake, NOW, &[]);
    assert!(out.status.success());
    let econ = fake.sent_to(ECON).into_iter().last().unwrap();
    let admin = fake.sent_to(ADMIN).into_iter().last().unwrap();
    let econ_items = listed_codes(&econ.text);
    let admin_items = listed_codes(&admin.text);
    assert!(admin_items.len() >= 2, "{}", admin.text);
    let bot = sb.start_bot(&fake, &[]);

    // A button press: 完成 on the first item claims it, answers the press and refreshes the
    // reminder.
    let first = econ_items[0].clone();
    let toast = fake.tap(ECON, ECON, econ.message_id, "m:0:done").await;
    assert!(
        toast.contains(&first) && toast.contains("申请销号"),
        "{toast}"
    );
    fake.wait_for(15, "the refreshed reminder", |f| {
        !f.calls("editMessageText").is_empty()
    })
    .await;
    let edit = &fake.calls("editMessageText")[0].body;
    assert_eq!(edit["message_id"], econ.message_id);
    assert!(
        edit["text"].as_str().unwrap().contains("申请销号"),
        "{edit}"
    );
    assert_eq!(by_code(&sb.measures(AT), &first)["status"], "claimed");

    // A reply to a reminder naming a code: progress with a percentage.
    let second = admin_items[1].clone();
    let confirmation = fake
        .ask(
            ADMIN,
            ADMIN,
            &format!("{second} 60% 合同已签"),
            Some(admin.message_id),
        )
        .await;
    assert!(
        confirmation.contains(&second) && confirmation.contains("推进中"),
        "{confirmation}"
    );
    let m = by_code(&sb.measures(AT), &second).clone();
    assert_eq!(m["latest_progress"], "60% 合同已签");
    assert_eq!(m["status"], "in_progress");
    let history: serde_json::Value =
        serde_json::from_str(&sb.ok(&["history", &second, "--json"])).unwrap();
    let last = history["history"]
        .as_array()
        .unwrap()
        .last()
        .unwrap()
        .clone();
    assert_eq!(
        (last["source"].as_str(), last["actor"].as_str()),
        (Some("chat"), Some("联络员7002")),
        "{last}"
    );
    assert_eq!(
        last["note"],
        format!("{second} 60% 合同已签"),
        "the words as sent are kept"
    );

    // /update, and a request for coordination that reaches the office.
    let office_before = fake.sent_to(OFFICE).len();
    let line = fake
        .ask(
            ADMIN,
            ADMIN,
            &format!("/update {second} 需协调 用地指标未落实"),
            None,
        )
        .await;
    assert!(line.contains("已提交整改办协调"), "{line}");
    fake.wait_for(15, "the office's notice", |f| {
        f.sent_to(OFFICE).len() > office_before
    })
    .await;
    assert!(
        fake.sent_to(OFFICE)
            .last()
            .unwrap()
            .text
            .contains("用地指标未落实")
    );

    // A code glued to the words counts as a code.
    let glued = admin_items[0].clone();
    let line = fake
        .ask(
            ADMIN,
            ADMIN,
            &format!("{glued}推进中,已召开专题会"),
            Some(admin.message_id),
        )
        .await;
    assert!(line.contains(&format!("🔄 {glued} 已记录进展")), "{line}");
    assert_eq!(by_code(&sb.measures(AT), &glued)["status"], "in_progress");

    // An extension to a day already past is refused, and nothing reaches the office.
    let office_before = fake.sent_to(OFFICE).len();
    let line = fake
        .ask(
            ADMIN,
            ADMIN,
            &format!("/update {second} 延期 2024-06-30 等待审批"),
            None,
        )
        .await;
    assert!(line.contains("须晚于今天"), "{line}");
    assert_eq!(fake.sent_to(OFFICE).len(), office_before);

    // A liaison cannot touch another unit's measure, by reply or by button.
    let theirs = admin_items
        .iter()
        .find(|c| !econ_items.contains(c))
        .cloned()
        .expect("a 国资办-only item");
    let line = fake
        .ask(ECON, ECON, &format!("/update {theirs} 已完成"), None)
        .await;
    assert!(line.contains("只能更新本单位"), "{line}");
    let toast = fake.tap(ADMIN, ECON, admin.message_id, "m:0:done").await;
    assert!(toast.contains("无权"), "{toast}");
    assert_ne!(
        by_code(&sb.measures(AT), &admin_items[0])["status"],
        "claimed"
    );

    // A leader reads but does not update.
    let line = fake
        .ask(7004, 7004, &format!("/update {second} 已完成"), None)
        .await;
    assert!(line.contains("责任领导可查看进展"), "{line}");
    // The unit's group: its liaison answers from it, replying to the group's reminder.
    let group = fake
        .sent_to(-5001)
        .into_iter()
        .find(|s| s.text.contains("【"))
        .expect("the group's reminder");
    let third = listed_codes(&group.text).last().unwrap().clone();
    let line = fake
        .ask(
            -5001,
            ADMIN,
            &format!("{third} 已与财政局对接"),
            Some(group.message_id),
        )
        .await;
    assert!(line.contains(&format!("🔄 {third} 已记录进展")), "{line}");
    // Someone unbound in the group is not answered unless they reply to the bot, and then
    // once a day however often they write.
    let before = fake.sent_to(-5001).len();
    fake.text(-5001, 9999, "大家好", None);
    fake.text(
        -5001,
        9999,
        &format!("{third} 已完成"),
        Some(group.message_id),
    );
    fake.text(
        -5001,
        9999,
        &format!("{third} 推进中"),
        Some(group.message_id),
    );
    fake.text(-5001, ADMIN, "/whoami", None);
    // Answers to people not bound go out after every other message queued with them.
    fake.wait_for(15, "the whoami and the one answer to the unbound", |f| {
        let sent = f.sent_to(-5001);
        sent.iter()
            .skip(before)
            .any(|s| s.text.contains("联络员7002："))
            && sent
                .iter()
                .skip(before)
                .any(|s| s.text.contains("尚未绑定"))
    })
    .await;
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    let answers: Vec<String> = fake
        .sent_to(-5001)
        .into_iter()
        .skip(before)
        .map(|s| s.text)
        .collect();
    assert_eq!(answers.len(), 2, "{answers:#?}");
    assert_eq!(
        answers.iter().filter(|a| a.contains("尚未绑定")).count(),
        1,
        "{answers:#?}"
    );

    // Only a liaison of the group's unit (or the office) may unbind the group.
    let line = fake.ask(-5001, ECON, "/unbind", None).await;
    assert!(line.contains("只有本群所属单位的联络员"), "{line}");
    let line = fake.ask(-5001, ADMIN, "/unbind", None).await;
    assert!(line.contains("本群已解除绑定"), "{line}");
    let line = fake.ask(-5001, ADMIN, "/unbind", None).await;
    assert!(line.contains("本群未绑定任何单位"), "{line}");

    // Forged presses change nothing: a position the reminder does not have, a message that
    // is no reminder, data that is not ours.
    let statuses: Vec<_> = sb
        .measures(AT)
        .iter()
        .map(|m| m["status"].clone())
        .collect();
    for (message_id, data) in [
        (econ.message_id, "m:99:done"),
        (123456, "m:0:done"),
        (econ.message_id, "z:0:done"),
        (econ.message_id, "m:0:drop"),
    ] {
        let toast = fake.tap(ECON, ECON, message_id, data).await;
        assert!(toast.contains("无效"), "{data}: {toast}");
    }
    assert_eq!(
        sb.measures(AT)
            .iter()
            .map(|m| m["status"].clone())
            .collect::<Vec<_>>(),
        statuses
    );

    // A replayed update is ignored.
    let update = fake.text(ADMIN, ADMIN, &format!("/update {second} 已完成"), None);
    fake.wait_for(15, "the claim", |_| {
        by_code(&sb.measures(AT), &second)["status"] == "claimed"
    })
    .await;
    // What the claim causes (its answer, the office's notice) is delivered after its commit,
    // paced per chat: the count is taken once nothing more has come for two seconds.
    let mut sent = fake.sent().len();
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        tokio::time::sleep(Duration::from_secs(2)).await;
        let now = fake.sent().len();
        if now == sent || Instant::now() > deadline {
            break;
        }
        sent = now;
    }
    let notes = serde_json::from_str::<serde_json::Value>(&sb.ok(&["history", &second, "--json"]))
        .unwrap()["notes"]
        .as_array()
        .unwrap()
        .len();
    fake.replay(update["update_id"].as_i64().unwrap(), update.clone());
    let marker = fake.text(ECON, ECON, "/whoami", None);
    let _ = marker;
    fake.wait_for(15, "the whoami after the replay", |f| f.sent().len() > sent)
        .await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(fake.sent().len(), sent + 1, "only /whoami was answered");
    let notes_after =
        serde_json::from_str::<serde_json::Value>(&sb.ok(&["history", &second, "--json"])).unwrap()
            ["notes"]
            .as_array()
            .unwrap()
            .len();
    assert_eq!(notes_after, notes);
    assert!(bot.stop());
    // The replay is still ignored after a restart.
    let bot = sb.start_bot(&fake, &[]);
    fake.replay(update["update_id"].as_i64().unwrap(), update);
    let sent = fake.sent().len();
    fake.text(ECON, ECON, "/whoami", None);
    fake.wait_for(15, "the whoami after the restart", |f| {
        f.sent().len() > sent
    })
    .await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(fake.sent().len(), sent + 1);
    assert!(bot.stop());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn too_many_requests_and_server_errors_are_retried_exactly_once() {
    let fake = FakeTelegram::start().await;
    let sb = Sandbox::with_sample();
    let bot = bound_bot(&fake, &sb).await;
    assert!(bot.stop());
    let before = fake.sent().len();
    fake.fail_next(&[
        Failure::TooMany(1),
        Failure::TooMany(1),
        Failure::ServerError,
    ]);
    let out = sb.remind(&fake, NOW, &[]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("待发0条"), "{stdout}");
    let sent: Vec<_> = fake.sent().into_iter().skip(before).collect();
    // Every chat got its reminder exactly once.
    let chats = once_each(&fake, before, None);
    for chat in [ECON, ADMIN, -5001, 7004] {
        assert!(chats.contains(&chat), "{chat} got nothing");
    }
    assert_eq!(
        fake.calls("sendMessage").len() - sent.len() - before,
        3,
        "three refused tries"
    );
    // A message that keeps failing past `give_up_after_hours` is given up, not retried
    // for ever; the others go out.
    let before = fake.sent().len();
    fake.fail_next(&[Failure::ServerError]);
    let out = sb
        .bot_command(&fake)
        .env("DUBAN_DELIVERY__GIVE_UP_AFTER_HOURS", "0")
        .args(["remind", "--now", "2024-03-18T09:00:00+08:00"])
        .output()
        .unwrap();
    assert!(out.status.success());
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains("待发0条") && stdout.contains("放弃1条"),
        "{stdout}"
    );
    // The office's daily list went the first day only: nothing new waits for it on 03-18.
    let office_lists = sent
        .iter()
        .filter(|s| s.text.starts_with("【今日待办】"))
        .count();
    assert_eq!(fake.sent().len() - before, sent.len() - 1 - office_lists);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_person_who_blocked_the_bot_is_marked_and_reported() {
    let fake = FakeTelegram::start().await;
    let sb = Sandbox::with_sample();
    let bot = bound_bot(&fake, &sb).await;
    assert!(bot.stop());
    fake.block(ECON);
    let out = sb.remind(&fake, NOW, &[]);
    assert!(out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("放弃1条"),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    let notice = fake.sent_to(OFFICE).into_iter().last().unwrap();
    assert!(
        notice.text.contains("联络员7001") && notice.text.contains("屏蔽"),
        "{}",
        notice.text
    );
    // No more tries for the blocked chat: the next sweep does not write to it.
    let tries = fake.tries(ECON);
    let out = sb.remind(&fake, "2024-03-18T09:00:00+08:00", &[]);
    assert!(out.status.success());
    assert_eq!(fake.tries(ECON), tries);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killed_mid_delivery_and_restarted_sends_everything_once() {
    let fake = FakeTelegram::start().await;
    let sb = Sandbox::with_sample();
    // Twelve liaisons over the units, so that a sweep has many messages.
    let bot = sb.start_bot(&fake, &[]);
    bind_liaisons(&sb, &fake, &UNITS, 8000).await;
    assert!(bot.stop());
    let plan = sb.remind(&fake, NOW, &["--dry-run"]);
    let planned = String::from_utf8_lossy(&plan.stdout)
        .matches("── 发往会话")
        .count();
    assert!(planned >= 6, "{planned}");
    let before = fake.sent().len();
    // Slow delivery: five a second in all. Kill the process between two sends.
    let slow = [("DUBAN_DELIVERY__PER_SECOND", "5")];
    let child = sb
        .bot_command(&fake)
        .args(["remind", "--now", NOW])
        .envs(slow)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let mut running = common::Running {
        child,
        log: sb.path("none.log"),
    };
    fake.wait_for(20, "three sends", |f| f.sent().len() >= before + 3)
        .await;
    tokio::time::sleep(Duration::from_millis(80)).await;
    running.child.kill().unwrap();
    let _ = running.child.wait();
    let halfway = fake.sent().len() - before;
    assert!(
        halfway < planned,
        "killed before the end ({halfway} of {planned})"
    );
    // Restarted: the service delivers what is left, once.
    let bot = sb.start_bot(&fake, &[]);
    fake.wait_for(20, "every reminder", |f| f.sent().len() - before >= planned)
        .await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(bot.stop());
    assert_eq!(once_each(&fake, before, None).len(), planned);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_token_never_reaches_a_log_line() {
    let fake = FakeTelegram::start().await;
    let sb = Sandbox::with_sample();
    let bot = bound_bot(&fake, &sb).await;
    fake.fail_next(&[Failure::ServerError]);
    fake.text(ECON, ECON, "/whoami", None);
    fake.wait_for(20, "the whoami", |f| f.sent_to(ECON).len() >= 2)
        .await;
    let log = bot.log();
    assert!(bot.stop());
    assert!(
        fake.requests().iter().all(|r| r.token == TOKEN),
        "the bot used the token"
    );
    assert!(
        log.contains("DEBUG") || log.contains("INFO"),
        "the log was written: {log}"
    );
    assert!(!log.contains(TOKEN) && !log.contains("AAHtest"), "{log}");
    // Nor a debug print of the settings.
    let debug = format!("{:?}", duban::config::Secret::new(TOKEN));
    assert!(!debug.contains("AAH"));
}

#[test]
fn the_console_runs_the_loop_through_stdin() {
    let sb = Sandbox::sqlite();
    // A ledger with one measure due today and one overdue, whatever today is.
    let today = chrono::Utc::now()
        .with_timezone(&chrono_tz::Asia::Shanghai)
        .date_naive();
    let csv = format!(
        "序号,整改措施,牵头单位,完成时限,状态\nC-1,今天到期的措施,经济发展局,{today},推进中\nC-2,早已逾期的措施,财政局,2023-06-30,未启动\nC-3,遥远的措施,财政局,2099-06-30,推进中\n"
    );
    let file = sb.path("today.csv");
    std::fs::write(&file, csv).unwrap();
    sb.ok(&["import", file.to_str().unwrap()]);
    let stdout = common::console(&sb, &[], &["C-2 需协调 缺少经费", "!1", "/list"]);
    assert!(stdout.contains("duban 控制台"), "{stdout}");
    let reminder = stdout.find("🔴 C-2").expect("the overdue item");
    let due = stdout.find("🟡 C-1").expect("the item due today");
    assert!(reminder < due, "red first: {stdout}");
    assert!(
        !stdout[..stdout.find("── #2").unwrap_or(stdout.len())].contains("C-3"),
        "green items are not reminded"
    );
    assert!(stdout.contains("⚠️ C-2 已提交整改办协调"), "{stdout}");
    assert!(
        stdout.contains("（按钮提示）✅ C-2 已记录：申请销号"),
        "{stdout}"
    );
    assert!(stdout.contains("未销号"), "{stdout}");
    let all = sb.measures(&today.to_string());
    assert_eq!(by_code(&all, "C-2")["status"], "claimed");
    let first = message_numbers(&stdout);
    let first_last = first.iter().copied().max().unwrap_or(0);
    assert!(first_last >= 3, "{stdout}");

    // A restarted console numbers its messages after the ones it printed before, so that a
    // reply never lands on an old reminder.
    let again = common::console(&sb, &[], &["/list"]);
    let numbers = message_numbers(&again);
    assert!(!numbers.is_empty(), "{again}");
    assert!(
        numbers.iter().all(|n| *n > first_last),
        "{numbers:?} after {first_last}"
    );
}

/// The numbers of the messages the console printed ("── #7 ──").
fn message_numbers(text: &str) -> Vec<i64> {
    text.match_indices("── #")
        .filter_map(|(i, _)| {
            text[i + "── #".len()..]
                .split_whitespace()
                .next()?
                .parse()
                .ok()
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_missed_sweep_is_caught_up_once_and_sigterm_keeps_the_rest_queued() {
    let fake = FakeTelegram::start().await;
    let sb = Sandbox::with_sample();
    let bot = sb.start_bot(&fake, &[]);
    // Units with something due on the day of the test, whatever it is.
    let units = [
        "经济发展局",
        "科技创新局",
        "综合保税区管理局",
        "党群工作部",
        "组织人事部",
        "国资办",
        "建设管理局",
        "新区城投集团",
    ];
    bind_liaisons(&sb, &fake, &units, 8100).await;
    assert!(bot.stop());
    let before = fake.sent().len();
    // The schedule's time has passed today and no sweep ran: the service sweeps at start.
    // Deliveries are slow (three a second), and SIGTERM comes in the middle.
    let catch_up = [
        ("DUBAN_SCHEDULE__ENABLED", "true"),
        ("DUBAN_SCHEDULE__SWEEP_AT", "00:00"),
        ("DUBAN_SCHEDULE__SEND_ON_DAYS_OFF", "true"),
        ("DUBAN_DELIVERY__PER_SECOND", "3"),
    ];
    let bot = sb.start_bot(&fake, &catch_up);
    fake.wait_for(20, "the first reminders", |f| f.sent().len() >= before + 2)
        .await;
    assert!(bot.stop(), "a clean exit on SIGTERM");
    let stopped_at = fake.sent().len() - before;
    assert!(
        stopped_at < units.len(),
        "stopped before the end ({stopped_at})"
    );
    // Started again: the rest goes out, the sweep is not run twice, nothing goes twice.
    let bot = sb.start_bot(&fake, &catch_up);
    fake.wait_for(20, "every reminder", |f| {
        f.sent().len() - before >= units.len()
    })
    .await;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert!(bot.stop());
    let chats = once_each(&fake, before, None);
    assert_eq!(
        chats.len(),
        units.len(),
        "one reminder per liaison: {chats:?}"
    );
}

/// The bot on PostgreSQL: binding, a sweep, a button press and a reply, as on SQLite.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_bot_on_postgres() {
    let db = common::PgDatabase::create().await;
    let fake = FakeTelegram::start().await;
    let sb = Sandbox::with_url(&db.url);
    sb.ok(&["import", common::sample().to_str().unwrap()]);
    let bot = bound_bot(&fake, &sb).await;
    assert!(bot.stop());
    let before = fake.sent().len();
    let out = sb.remind(&fake, NOW, &[]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let econ = fake.sent_to(ECON).into_iter().last().unwrap();
    assert_eq!(listed_codes(&econ.text), expected_items(&sb, "经济发展局"));
    let after_first = fake.sent().len();
    let again = sb.remind(&fake, NOW, &[]);
    assert!(again.status.success());
    let sent = fake.sent().len();
    let bot = sb.start_bot(&fake, &[]);
    fake.press(ECON, ECON, econ.message_id, "m:0:done");
    fake.wait_for(15, "the refreshed reminder", |f| {
        !f.calls("editMessageText").is_empty()
    })
    .await;
    let admin = fake.sent_to(ADMIN).into_iter().last().unwrap();
    let code = listed_codes(&admin.text)[0].clone();
    let later_day = chrono::Utc::now().date_naive() + chrono::Days::new(100);
    let later = later_day.to_string();
    fake.text(
        ADMIN,
        ADMIN,
        &format!("{code} 延期 {later} 等待审批"),
        Some(admin.message_id),
    );
    let asked = format!(
        "延期至{}",
        duban::core::text::date(later_day, duban::core::text::Language::Zh)
    );
    fake.wait_for(15, "the office's notice", |f| {
        f.sent_to(OFFICE).iter().any(|s| s.text.contains(&asked))
    })
    .await;
    let claimed = listed_codes(&econ.text)[0].clone();
    assert_eq!(by_code(&sb.measures(AT), &claimed)["status"], "claimed");

    // The workflow on PostgreSQL: evidence for the claim, the office's decisions, a flag
    // raised into a request and answered.
    let photo = vec![0x89, b'P', b'N', b'G', 1, 2, 3, 4];
    fake.add_file("ph-1", "photos/file_1.jpg", &photo);
    fake.photo(ECON, ECON, "ph-1", &format!("{claimed} 现场照片"), None);
    fake.wait_for(15, "the evidence's receipt", |f| {
        f.sent_to(ECON)
            .iter()
            .any(|s| s.text.contains(&format!("📎 {claimed} 已收到佐证材料")))
    })
    .await;
    let extension = notices(&fake, OFFICE, "📅 延期申请").remove(0);
    let toast = fake
        .tap(
            OFFICE,
            OFFICE,
            extension.message_id,
            &button(&extension, 0, 0),
        )
        .await;
    assert!(toast.contains("已同意延期"), "{toast}");
    assert_eq!(by_code(&sb.measures(AT), &code)["deadline"], later.as_str());
    let claim = notices(&fake, OFFICE, "📋 销号申请").remove(0);
    let toast = fake
        .tap(OFFICE, OFFICE, claim.message_id, &button(&claim, 0, 0))
        .await;
    assert!(toast.contains("已通过"), "{toast}");
    assert_eq!(by_code(&sb.measures(AT), &claimed)["status"], "closed");
    let flagged = listed_codes(&admin.text).last().unwrap().clone();
    fake.text(
        ADMIN,
        ADMIN,
        &format!("{flagged} 需协调 用地指标未落实"),
        Some(admin.message_id),
    );
    fake.wait_for(15, "the flag's notice", |f| {
        !notices(f, OFFICE, "⚠️ 国资办").is_empty()
    })
    .await;
    let flag = notices(&fake, OFFICE, "⚠️ 国资办").remove(0);
    let toast = fake
        .tap(OFFICE, OFFICE, flag.message_id, &button(&flag, 0, 1))
        .await;
    assert!(toast.contains("已列为督办事项"), "{toast}");
    let line = fake
        .ask(ADMIN, ADMIN, "/answer R1 已协调自然资源局", None)
        .await;
    assert!(line.contains("R1 已答复并办结"), "{line}");
    assert!(bot.stop());
    let history: serde_json::Value =
        serde_json::from_str(&sb.ok(&["history", &claimed, "--json"])).unwrap();
    assert_eq!(history["claims"][0]["state"], "approved");
    assert_eq!(history["evidence"][0]["size"], photo.len());
    let requests: serde_json::Value =
        serde_json::from_str(&sb.ok(&["requests", "--json"])).unwrap();
    assert_eq!(requests[0]["category"], "general");
    assert_eq!(requests[0]["answer"], "已协调自然资源局");
    // The Friday digest: text, chart and ledger to the leader, once.
    for _ in 0..2 {
        let out = sb
            .bot_command(&fake)
            .args(["digest", "--now", "2024-03-15T17:30:00+08:00"])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let digest: Vec<_> = fake
        .sent_to(7004)
        .into_iter()
        .filter(|s| s.text.starts_with("【每日督办简报】") || s.file.is_some())
        .collect();
    assert_eq!(digest.len(), 3, "{digest:#?}");
    assert!(
        digest[0].text.contains("经批准延期的措施1项"),
        "{}",
        digest[0].text
    );
    // The first sweep wrote to each chat once, and the second sweep of the same moment
    // wrote nothing.
    assert_eq!(after_first, sent, "the second sweep sent nothing");
    let per_chat = once_each(&fake, before, Some(after_first));
    assert!(per_chat.len() >= 4, "{per_chat:?}");
}

/// Chats change under the bot: a group that refuses it, a group that became a supergroup,
/// a token that stops working. The office (here an admin from the configuration, bound to
/// nothing) is told what it must act on; nothing is lost or sent twice.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn groups_that_refuse_or_move_and_a_refused_token() {
    const BOSS: i64 = 7100;
    let fake = FakeTelegram::start().await;
    let sb = Sandbox::with_sample();
    let admins = [("DUBAN_TELEGRAM_ADMINS", "7100")];
    let bot = sb.start_bot(&fake, &admins);
    bind(&sb, &fake, ECON, ECON, "经济发展局", "liaison", None).await;
    bind(&sb, &fake, ADMIN, ADMIN, "国资办", "liaison", None).await;
    bind(&sb, &fake, -5001, ADMIN, "国资办", "liaison", None).await;
    bind(&sb, &fake, -5002, ECON, "经济发展局", "liaison", None).await;
    // 经济发展局's supergroup is bound too, before anyone knew it replaces the group.
    bind(&sb, &fake, -1_005_002, ECON, "经济发展局", "liaison", None).await;
    bind(&sb, &fake, -5003, 7005, "建设管理局", "liaison", None).await;
    assert!(bot.stop());

    // The console refuses a database whose people are bound in Telegram.
    let refused = sb.fails(&["remind", "--now", NOW]);
    assert!(
        refused.contains("已在 Telegram 绑定或钉钉绑定"),
        "{refused}"
    );

    // 国资办's group refuses the bot in words teloxide does not know; the groups of
    // 经济发展局 and 建设管理局 became supergroups.
    fake.forbid(-5001, "Forbidden: the group chat was deleted");
    fake.migrate(-5002, -1_005_002);
    fake.migrate(-5003, -1_005_003);
    let remind = |now: &str| {
        sb.bot_command(&fake)
            .envs(admins)
            .args(["remind", "--now", now])
            .output()
            .unwrap()
    };
    let reminders = |chat: i64| -> Vec<String> {
        fake.sent_to(chat)
            .into_iter()
            .filter(|s| s.text.starts_with("【催办】"))
            .map(|s| s.text)
            .collect()
    };
    let out = remind(NOW);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(reminders(-5001).is_empty());
    // The supergroup bound already gets its own reminder, once; the other one gets the
    // reminder its old id was sent.
    let econ = reminders(-1_005_002);
    assert_eq!(econ.len(), 1, "{econ:#?}");
    assert_eq!(listed_codes(&econ[0]), expected_items(&sb, "经济发展局"));
    let moved = reminders(-1_005_003);
    assert_eq!(moved.len(), 1, "{moved:#?}");
    assert_eq!(listed_codes(&moved[0]), expected_items(&sb, "建设管理局"));
    let notice: Vec<_> = fake
        .sent_to(BOSS)
        .into_iter()
        .filter(|s| !s.text.starts_with("【今日待办】"))
        .collect();
    assert_eq!(notice.len(), 1, "{notice:#?}");
    assert!(
        notice[0].text.contains("国资办工作群") && notice[0].text.contains("无法"),
        "{}",
        notice[0].text
    );
    // The next working day: the refusing group is not tried again, the moved ones are
    // written to at their new ids only.
    let tries = |chat: i64| fake.tries(chat);
    let before = [tries(-5001), tries(-5002), tries(-5003)];
    let out = remind("2024-03-18T09:00:00+08:00");
    assert!(out.status.success());
    assert_eq!([tries(-5001), tries(-5002), tries(-5003)], before);
    assert_eq!(reminders(-1_005_002).len(), 2);
    assert_eq!(reminders(-1_005_003).len(), 2);
    let notices = fake
        .sent_to(BOSS)
        .into_iter()
        .filter(|s| !s.text.starts_with("【今日待办】"))
        .count();
    assert_eq!(notices, 1, "no second notice");

    // The group takes the bot back and is bound again: reminders reach it again.
    fake.allow(-5001);
    let bot = sb.start_bot(&fake, &admins);
    bind(&sb, &fake, -5001, ADMIN, "国资办", "liaison", None).await;
    assert!(bot.stop());

    // The token stops working: `remind` fails loudly and keeps every message queued; once
    // the token works again, each goes out once.
    fake.revoke(true);
    let before = fake.sent().len();
    let out = remind("2024-03-19T09:00:00+08:00");
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("拒绝了机器人"), "{stderr}");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(!stdout.contains("待发0条"), "{stdout}");
    assert_eq!(fake.sent().len(), before);
    fake.revoke(false);
    let out = remind("2024-03-19T09:00:00+08:00");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("待发0条"));
    assert_eq!(
        once_each(&fake, before, None),
        [-1_005_003, -1_005_002, -5001, ECON, ADMIN]
    );
}

/// An update that fails every time is skipped after a few tries instead of holding back
/// the ones after it; buttons of an old reminder are refused; replies to one chat keep
/// Telegram's pace of one a second.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_poison_update_is_skipped_and_old_buttons_refused() {
    use sqlx::Connection;
    let fake = FakeTelegram::start().await;
    let sb = Sandbox::with_sample();
    let bot = bound_bot(&fake, &sb).await;
    assert!(bot.stop());
    let out = sb.remind(&fake, NOW, &[]);
    assert!(out.status.success());
    let econ = fake.sent_to(ECON).into_iter().last().unwrap();
    let code = listed_codes(&econ.text)[0].clone();

    // The reminder is three weeks old; and the database refuses every request for
    // coordination.
    let mut db = sqlx::SqliteConnection::connect(&sb.url).await.unwrap();
    sqlx::query("UPDATE outbox SET created_at = '2020-01-01T00:00:00.000000Z' WHERE chat_id = $1")
        .bind(ECON)
        .execute(&mut db)
        .await
        .unwrap();
    sqlx::query(
        "CREATE TRIGGER poison BEFORE INSERT ON coordination_flags BEGIN SELECT RAISE(ABORT, 'poisoned'); END",
    )
    .execute(&mut db)
    .await
    .unwrap();
    db.close().await.unwrap();

    let bot = sb.start_bot(&fake, &[("DUBAN_DELIVERY__PER_CHAT_PER_SECOND", "1")]);
    let toast = fake.tap(ECON, ECON, econ.message_id, "m:0:done").await;
    assert!(toast.contains("无效"), "{toast}");
    assert_ne!(by_code(&sb.measures(AT), &code)["status"], "claimed");

    let before = fake.sent_to(ECON).len();
    let poison = fake.text(ECON, ECON, &format!("/update {code} 需协调 资金缺口"), None);
    fake.text(ECON, ECON, "/whoami", None);
    fake.text(ECON, ECON, "/list", None);
    fake.text(ECON, ECON, "/help", None);
    fake.wait_for(60, "the replies after the poison update", |f| {
        f.sent_to(ECON).len() >= before + 4
    })
    .await;
    let replies: Vec<_> = fake.sent_to(ECON).into_iter().skip(before).collect();
    assert_eq!(replies.len(), 4, "{replies:#?}");
    // The sender hears that the message was not processed, then the rest are answered.
    assert!(replies[0].text.contains("未能处理"), "{}", replies[0].text);
    assert!(
        replies[1].text.contains("联络员7001："),
        "{}",
        replies[1].text
    );
    // One a second to the chat.
    for pair in replies.windows(2) {
        let gap = pair[1].at.duration_since(pair[0].at);
        assert!(gap >= Duration::from_millis(900), "{gap:?}");
    }
    let log = bot.log();
    assert!(bot.stop());
    let id = poison["update_id"].as_i64().unwrap();
    assert!(
        log.contains(&format!("update {id} failed 4 times")) && log.contains("poisoned"),
        "{log}"
    );
    // Skipped for good: a restart does not try it again.
    let bot = sb.start_bot(&fake, &[]);
    fake.replay(id, poison);
    fake.text(ECON, ECON, "/whoami", None);
    fake.wait_for(15, "the whoami after the restart", |f| {
        f.sent_to(ECON).len() > before + 4
    })
    .await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(fake.sent_to(ECON).len(), before + 5);
    assert!(bot.stop());
}
