//! Benchmarks of the DingTalk channel against the fake DingTalk of the tests, with figures
//! for the issue notes. `cargo bench --bench dingtalk` measures:
//! - a sweep to 2,000 liaisons in 1:1 chats through a server that allows 20 messages a
//!   second: the delivery rate as a fraction of that ceiling, and the sends it refused;
//! - 41 answers in one group through a server that allows 20 messages a minute to a group:
//!   the most in any minute, the time against the least the limit allows, and refusals;
//! - 1,000 replies pushed over the Stream WebSocket, on SQLite and then on PostgreSQL
//!   (`DUBAN_TEST_PG_URL`): committed rows a second, and p50 / p99 from the push to its row,
//!   beside the same figures for Telegram's getUpdates
//!   (`cargo bench --bench telegram`).
//!
//! `DUBAN_BENCH_LIAISONS` (default 2,000) and `DUBAN_BENCH_REPLIES` (default 1,000) scale it;
//! `DUBAN_BENCH_ONLY=replies|group|sweep` runs one part.

#[path = "../tests/common/fake_dingtalk.rs"]
#[allow(dead_code)]
mod fake_dingtalk;
mod support;

use std::process::{Child, Command, Stdio};
use std::time::Duration;

use fake_dingtalk::FakeDingTalk;
use support::{env_number, push_and_measure, seed_liaisons, stop, timed};

fn duban(url: &str, fake: &FakeDingTalk) -> Command {
    let mut command = Command::new(support::duban_bin());
    command
        .env("DUBAN_DATABASE_URL", url)
        .env("DUBAN_SCHEDULE__ENABLED", "false")
        .env("DUBAN_LOG", "error");
    for (key, value) in fake.env() {
        command.env(key, value);
    }
    command
}

/// Imports `rows` into the database at `url`.
fn import(url: &str, fake: &FakeDingTalk, dir: &std::path::Path, rows: &[RawRow]) {
    let file = dir.join(format!("ledger-{}.xlsx", rows.len()));
    duban::ingest::sample::write_ledger_file(
        &file,
        "台账",
        rows,
        duban::ingest::sample::Layout::AspectColumn,
    )
    .unwrap();
    let out = duban(url, fake).arg("import").arg(&file).output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

type RawRow = duban::ingest::sample::RawMeasure;

fn code(row: &RawRow) -> String {
    match &row.code {
        duban::ingest::sample::RawCell::Text(code) => code.clone(),
        _ => unreachable!("synthetic codes are text"),
    }
}

/// Starts `duban run` and waits for its Stream connection.
async fn run(url: &str, fake: &FakeDingTalk) -> Child {
    let child = duban(url, fake)
        .arg("run")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    fake.wait_for(30, "the Stream connection", |f| f.connected())
        .await;
    child
}

/// Binds `user` through a code of `duban invite` with these arguments.
async fn bind(url: &str, fake: &FakeDingTalk, user: &str, invite: &[&str], group: Option<&str>) {
    let out = duban(url, fake)
        .arg("invite")
        .args(invite)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout).to_string();
    let code = stdout.lines().last().unwrap_or_default().trim().to_string();
    let before = fake.sent().len();
    match group {
        Some(group) => fake.group_text(group, user, &format!("绑定 {code}")),
        None => fake.text(user, &format!("绑定 {code}")),
    };
    fake.wait_for(20, "the binding", |f| f.sent().len() > before)
        .await;
}

async fn sweep_to_liaisons(dir: &std::path::Path) {
    let liaisons = env_number("DUBAN_BENCH_LIAISONS", 2_000);
    let fake = FakeDingTalk::start().await;
    fake.limit(20, 20);
    let url = format!("sqlite:{}", dir.join("sweep.db").display());
    // 500 units with measures all past due, and four liaisons a unit.
    let mut rows = duban::ingest::sample::synthetic_measures(1_000, 500, 11);
    for (i, row) in rows.iter_mut().enumerate() {
        row.deadline = duban::ingest::sample::RawCell::Text("2024-01-31".into());
        row.status = "推进中".into();
        row.lead_unit = format!("第{:04}单位", i % 500 + 1);
        row.units = String::new();
    }
    import(&url, &fake, dir, &rows);
    seed_liaisons(&url, liaisons, 500, "dingtalk", |i| format!("staff{i:05}")).await;
    let (elapsed, printed) =
        timed(duban(&url, &fake).args(["remind", "--now", "2024-03-15T09:00:00+08:00"]));
    let sent = fake.sent();
    // The rate between the first and the last send, and over the whole command.
    let span = sent
        .last()
        .unwrap()
        .at
        .duration_since(sent[0].at)
        .as_secs_f64();
    let steady = (sent.len() - 1) as f64 / span;
    println!(
        "DingTalk sweep to {liaisons} liaisons, server allowing 20/s: {} sent in {elapsed:.1} s ({:.2}/s over the command); first to last send {span:.1} s = {steady:.2}/s, {:.3} of the ceiling; {} sends refused for rate",
        sent.len(),
        sent.len() as f64 / elapsed,
        steady / 20.0,
        fake.throttled()
    );
    println!("  {}", printed.trim());
}

async fn burst_to_group(dir: &std::path::Path) {
    let fake = FakeDingTalk::start().await;
    fake.limit(20, 20);
    let url = format!("sqlite:{}", dir.join("group.db").display());
    let mut rows = duban::ingest::sample::synthetic_measures(60, 1, 3);
    for row in &mut rows {
        row.status = "推进中".into();
        row.units = String::new();
    }
    let unit = rows[0].lead_unit.clone();
    import(&url, &fake, dir, &rows);
    let child = run(&url, &fake).await;
    let group = "cidBENCHGROUP==";
    // The liaison binds in a 1:1 chat, then binds the group as the unit's chat.
    bind(&url, &fake, "lead", &[&unit], None).await;
    bind(&url, &fake, "lead", &[&unit], Some(group)).await;
    // 41 answers at once: 41 confirmations to one group, the group binding's one before them.
    let answers = 41;
    for row in rows.iter().take(answers) {
        fake.group_text(group, "lead", &format!("{} 推进中 第一轮", code(row)));
    }
    let expected = answers + 1;
    fake.wait_for(300, "every confirmation", |f| {
        f.sent_to(group).len() >= expected
    })
    .await;
    let sent = fake.sent_to(group);
    let mut most = 0;
    for (i, first) in sent.iter().enumerate() {
        let within = sent[i..]
            .iter()
            .take_while(|s| s.at.duration_since(first.at) < Duration::from_secs(60))
            .count();
        most = most.max(within);
    }
    let span = sent
        .last()
        .unwrap()
        .at
        .duration_since(sent[0].at)
        .as_secs_f64();
    // 20 a minute in any minute: n messages need at least (⌈n / 20⌉ − 1) minutes.
    let least = (expected.div_ceil(20) - 1) as f64 * 60.0;
    println!(
        "DingTalk: {expected} messages to one group, server allowing 20 a minute: first to last {span:.1} s (the limit allows no less than {least:.0} s: {:.3} of the ceiling); at most {most} in any minute; {} sends refused for rate",
        least / span,
        fake.throttled()
    );
    stop(child);
}

/// The Stream reply path on SQLite, then on PostgreSQL (`DUBAN_TEST_PG_URL`; skipped when
/// it does not answer).
async fn replies(dir: &std::path::Path) {
    let sqlite = format!("sqlite:{}", dir.join("replies.db").display());
    replies_on(dir, &sqlite, "SQLite").await;
    if !support::postgres_reachable().await {
        println!("(PostgreSQL not reachable: its Stream reply path is skipped)");
        return;
    }
    let (url, name) = support::create_database().await;
    replies_on(dir, &url, "PostgreSQL").await;
    support::drop_database(&name).await;
}

/// `DUBAN_BENCH_REPLIES` replies over the Stream WebSocket into the database at `url`:
/// pushed at once, then at a steady 50 a second.
async fn replies_on(dir: &std::path::Path, url: &str, backend: &str) {
    let count = env_number("DUBAN_BENCH_REPLIES", 1_000);
    let fake = FakeDingTalk::start().await;
    // The replies are measured, not their confirmations: no limit on sends.
    fake.limit(0, 0);
    let url = url.to_string();
    let mut rows = duban::ingest::sample::synthetic_measures(count.max(10), 100, 5);
    for row in &mut rows {
        row.status = "推进中".into();
    }
    import(&url, &fake, dir, &rows);
    let child = run(&url, &fake).await;
    // One office member answers for every measure, as in the Telegram bench.
    bind(&url, &fake, "office", &["整改办", "--role", "office"], None).await;
    let codes: Vec<String> = rows.iter().map(code).collect();
    let mut conn = support::connect(&url).await;
    let (elapsed, p50, p99) = push_and_measure(
        &mut conn,
        &codes[..count],
        "进展:已完成阶段任务",
        None,
        |text| {
            fake.text("office", text);
        },
    )
    .await;
    println!(
        "{backend}: {count} replies over the Stream WebSocket, pushed at once: all committed in {elapsed:.2} s = {:.0}/s; push → row p50 {p50:.0} ms, p99 {p99:.0} ms",
        count as f64 / elapsed
    );
    let paced = count.min(500);
    let (elapsed, p50, p99) = push_and_measure(
        &mut conn,
        &codes[..paced],
        "进展:第二轮",
        Some(Duration::from_millis(20)),
        |text| {
            fake.text("office", text);
        },
    )
    .await;
    println!(
        "{backend}: {paced} replies over the Stream WebSocket at 50/s: committed in {elapsed:.2} s; push → row p50 {p50:.0} ms, p99 {p99:.0} ms"
    );
    stop(child);
}

#[tokio::main]
async fn main() {
    let dir = tempfile::tempdir().unwrap();
    // `DUBAN_BENCH_ONLY=replies|group|sweep` runs one part.
    let only = std::env::var("DUBAN_BENCH_ONLY").unwrap_or_default();
    let runs = |part: &str| only.is_empty() || only == part;
    if runs("replies") {
        replies(dir.path()).await;
    }
    if runs("group") {
        burst_to_group(dir.path()).await;
    }
    if runs("sweep") {
        sweep_to_liaisons(dir.path()).await;
    }
}
