//! The cast of the bot tests: a liaison of 经济发展局, one of 国资办, an office member,
//! the leader 王建国 and 国资办's group, bound through a running bot; and helpers that
//! read what the fake server was sent.

use super::fake_telegram::FakeTelegram;
use super::{Running, Sandbox, bind};

pub const NOW: &str = "2024-03-15T09:00:00+08:00";
pub const AT: &str = "2024-03-15";

/// Liaison of 经济发展局.
pub const ECON: i64 = 7001;
/// Liaison of 国资办.
pub const ADMIN: i64 = 7002;
/// An office member.
pub const OFFICE: i64 = 7003;

/// The codes a reminder to a liaison of `unit` should list on 2024-03-15, worked out from
/// `measures --json` rather than from the planner: open and waiting for the unit, and
/// yellow, red or due today; red first.
pub fn expected_items(sandbox: &Sandbox, unit: &str) -> Vec<String> {
    let all = sandbox.measures(AT);
    let mut items: Vec<&serde_json::Value> = all
        .iter()
        .filter(|m| m["status"] == "not_started" || m["status"] == "in_progress")
        .filter(|m| m["colour"] != "green" || m["working_days_left"] == 0)
        .filter(|m| {
            m["lead_unit"] == unit || m["units"].as_array().unwrap().iter().any(|u| u == unit)
        })
        .collect();
    items.sort_by_key(|m| {
        (
            if m["colour"] == "red" { 0 } else { 1 },
            -m["overdue_days"].as_i64().unwrap(),
        )
    });
    items
        .iter()
        .map(|m| m["code"].as_str().unwrap().to_string())
        .collect()
}

/// The chats written to in `fake.sent()[from..to]`, sorted; fails if one got two messages.
pub fn once_each(fake: &FakeTelegram, from: usize, to: Option<usize>) -> Vec<i64> {
    let sent = fake.sent();
    let to = to.unwrap_or(sent.len());
    let mut chats: Vec<i64> = sent[from..to].iter().map(|s| s.chat_id).collect();
    chats.sort();
    let mut unique = chats.clone();
    unique.dedup();
    assert_eq!(chats, unique, "a chat got a message twice");
    chats
}

pub fn listed_codes(text: &str) -> Vec<String> {
    text.lines()
        .filter(|l| l.starts_with("🔴") || l.starts_with("🟡") || l.starts_with("🟢"))
        .map(|l| l.split_whitespace().nth(1).unwrap().to_string())
        .collect()
}

/// Twelve units of the sample ledger.
pub const UNITS: [&str; 12] = [
    "经济发展局",
    "新区城投集团",
    "党工委办公室",
    "管委会办公室",
    "党群工作部",
    "组织人事部",
    "国资办",
    "科技创新局",
    "招商局",
    "纪工委",
    "建设管理局",
    "投资服务中心",
];

/// Binds one liaison per unit through the running bot, user ids counting from `first_id`.
pub async fn bind_liaisons(sb: &Sandbox, fake: &FakeTelegram, units: &[&str], first_id: i64) {
    for (i, unit) in units.iter().enumerate() {
        let id = first_id + i as i64;
        bind(sb, fake, id, id, unit, "liaison", None).await;
    }
}

/// Starts a bot with a liaison of 经济发展局, one of 国资办, an office member, the leader
/// 王建国, and 国资办's group.
pub async fn bound_bot(fake: &FakeTelegram, sb: &Sandbox) -> Running {
    let bot = sb.start_bot(fake, &[]);
    bind(sb, fake, ECON, ECON, "经济发展局", "liaison", None).await;
    bind(sb, fake, ADMIN, ADMIN, "国资办", "liaison", None).await;
    bind(sb, fake, OFFICE, OFFICE, "整改办", "office", None).await;
    bind(sb, fake, 7004, 7004, "党工委", "leader", Some("王建国")).await;
    bind(sb, fake, -5001, ADMIN, "国资办", "liaison", None).await;
    bot
}

/// The data (callback) of a notice's button: `prefix:id:action`.
pub fn button(sent: &super::fake_telegram::Sent, row: usize, column: usize) -> String {
    sent.markup.as_ref().expect("buttons")["inline_keyboard"][row][column]["callback_data"]
        .as_str()
        .unwrap()
        .to_string()
}

/// The office's notices of a kind (by the words they start with), oldest first.
pub fn notices(fake: &FakeTelegram, chat: i64, starts: &str) -> Vec<super::fake_telegram::Sent> {
    fake.sent_to(chat)
        .into_iter()
        .filter(|s| s.text.starts_with(starts))
        .collect()
}
