//! Benchmarks of the bot against the fake Bot API server of the tests, with figures for the
//! issue notes. `cargo bench --bench telegram` measures:
//! - a sweep to 10,000 liaisons with due items through a server that allows 30 messages a
//!   second: the delivery rate as a fraction of that ceiling, and the 429s it answered;
//! - 1,000 replies from 10 liaisons through getUpdates, until each is committed and the next
//!   `getUpdates` asked: throughput beside a bare teloxide echo bot answering as many
//!   messages on the same fake server in the same run, and p99 from the update to its row,
//!   on SQLite and then on PostgreSQL (`DUBAN_TEST_PG_URL`, skipped when it does not answer);
//! - the resident memory of an idle `duban run` with a 100,000-measure ledger.
//!
//! `DUBAN_BENCH_LIAISONS` (default 10,000) and `DUBAN_BENCH_REPLIES` (default 1,000) scale it;
//! `DUBAN_BENCH_ONLY=replies,idle,sweep` picks parts; `DUBAN_BENCH_BIN` runs another build of
//! duban (the release before, for figures before and after).

#[path = "../tests/common/fake_telegram.rs"]
#[allow(dead_code)]
mod fake_telegram;
mod support;

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use fake_telegram::{FakeTelegram, TOKEN};
use support::{env_number, push_and_measure, seed_liaisons, stop, timed};

fn duban(url: &str, fake: &FakeTelegram) -> Command {
    let mut command = Command::new(support::duban_bin());
    command
        .env("DUBAN_DATABASE_URL", url)
        .env("DUBAN_TELEGRAM_TOKEN", TOKEN)
        .env("DUBAN_TELEGRAM_API_URL", &fake.url)
        .env("DUBAN_TELEGRAM__POLL_TIMEOUT_SECONDS", "1")
        .env("DUBAN_SCHEDULE__ENABLED", "false")
        .env("DUBAN_LOG", "error");
    command
}

fn rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find(|l| l.starts_with("VmRSS:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|n| n.parse().ok())
        .unwrap_or(0)
}

async fn sweep_to_liaisons(dir: &std::path::Path) {
    let liaisons = env_number("DUBAN_BENCH_LIAISONS", 10_000);
    let fake = FakeTelegram::start().await;
    fake.limit(30);
    let url = format!("sqlite:{}", dir.join("sweep.db").display());
    // 2,000 units with measures all past due, and five liaisons a unit.
    let file = dir.join("sweep.xlsx");
    let mut rows = duban::ingest::sample::synthetic_measures(4_000, 2_000, 11);
    for (i, row) in rows.iter_mut().enumerate() {
        row.deadline = duban::ingest::sample::RawCell::Text("2024-01-31".into());
        row.status = "推进中".into();
        row.lead_unit = format!("第{:04}单位", i % 2_000 + 1);
        row.units = String::new();
    }
    duban::ingest::sample::write_ledger_file(
        &file,
        "台账",
        &rows,
        duban::ingest::sample::Layout::AspectColumn,
    )
    .unwrap();
    let out = duban(&url, &fake)
        .arg("import")
        .arg(&file)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    seed_liaisons(&url, liaisons, 2_000, "telegram", |i| {
        (100_000 + i).to_string()
    })
    .await;
    let (elapsed, printed) =
        timed(duban(&url, &fake).args(["remind", "--now", "2024-03-15T09:00:00+08:00"]));
    let sent = fake.sent().len();
    let rate = sent as f64 / elapsed;
    println!(
        "sweep to {liaisons} liaisons, server allowing 30/s: {sent} sent in {elapsed:.1} s = {rate:.2}/s, {:.3} of the ceiling, {} × 429",
        rate / 30.0,
        fake.too_many()
    );
    println!("  {}", printed.trim());
}

/// A bare teloxide echo bot on its own fake server: the anchor of the reply path. Returns
/// the seconds from pushing `count` messages from 10 users until every echo is sent and
/// the next `getUpdates` asked past the last of them.
async fn echo_bot(count: usize) -> f64 {
    use teloxide::prelude::*;
    let fake = FakeTelegram::start().await;
    let bot = Bot::new(TOKEN).set_api_url(reqwest::Url::parse(&fake.url).unwrap());
    let running = tokio::spawn(async move {
        teloxide::repl(bot, |bot: Bot, msg: teloxide::types::Message| async move {
            bot.send_message(msg.chat.id, msg.text().unwrap_or_default())
                .await?;
            Ok(())
        })
        .await;
    });
    let deadline = Instant::now() + Duration::from_secs(30);
    while fake.calls("getUpdates").is_empty() {
        assert!(Instant::now() < deadline, "the echo bot did not start");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let started = Instant::now();
    let mut last = 0;
    for i in 0..count {
        let user = 700_001 + (i % 10) as i64;
        let update = fake.text(user, user, &format!("回声 {i}"), None);
        last = update["update_id"].as_i64().unwrap();
    }
    until_asked_past(&fake, last, || fake.sent().len() >= count).await;
    let elapsed = started.elapsed().as_secs_f64();
    running.abort();
    elapsed
}

/// Waits until `done` holds and the bot asked for updates after `last`: what it read up to
/// is confirmed to the server.
async fn until_asked_past(fake: &FakeTelegram, last: i64, done: impl Fn() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(300);
    loop {
        let asked = fake
            .calls("getUpdates")
            .iter()
            .any(|c| c.body["offset"].as_i64().unwrap_or(0) > last);
        if asked && done() {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "the replies were not all handled"
        );
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
}

/// The reply path on SQLite, then on PostgreSQL when the tests' server answers, beside the
/// echo bot in the same run.
async fn replies(dir: &std::path::Path) {
    let count = env_number("DUBAN_BENCH_REPLIES", 1_000);
    let echo = echo_bot(count).await;
    let echo_rate = count as f64 / echo;
    println!(
        "anchor: a bare teloxide echo bot answering {count} messages: {echo:.2} s = {echo_rate:.0}/s"
    );
    let sqlite = format!("sqlite:{}", dir.join("replies.db").display());
    reply_path(dir, &sqlite, "SQLite", count, echo_rate).await;
    if !support::postgres_reachable().await {
        println!("(PostgreSQL not reachable: its reply path is skipped)");
        return;
    }
    let (url, name) = support::create_database().await;
    reply_path(dir, &url, "PostgreSQL", count, echo_rate).await;
    support::drop_database(&name).await;
}

/// The reply path on the database at `url`: `count` `/update` replies from 10 bound
/// liaisons, each on a measure of their unit, until every one is committed and the next
/// `getUpdates` asked.
async fn reply_path(dir: &std::path::Path, url: &str, backend: &str, count: usize, echo_rate: f64) {
    let fake = FakeTelegram::start().await;
    let url = url.to_string();
    let file = dir.join("replies.xlsx");
    let mut rows = duban::ingest::sample::synthetic_measures(count.max(10), 10, 5);
    for row in &mut rows {
        row.status = "推进中".into();
    }
    duban::ingest::sample::write_ledger_file(
        &file,
        "台账",
        &rows,
        duban::ingest::sample::Layout::AspectColumn,
    )
    .unwrap();
    let out = duban(&url, &fake)
        .arg("import")
        .arg(&file)
        .output()
        .unwrap();
    assert!(out.status.success());
    // Ten liaisons, one a unit, each answering for the measures their unit leads.
    seed_liaisons(&url, 10, 10, "telegram", |i| (700_001 + i).to_string()).await;
    let mut conn = support::connect(&url).await;
    let targets: Vec<(String, String)> = sqlx::query_as(
        "SELECT m.code, i.user_id FROM measures m JOIN people p ON p.unit_id = m.lead_unit_id \
         JOIN identities i ON i.person_id = p.id ORDER BY m.id",
    )
    .fetch_all(&mut conn)
    .await
    .unwrap();
    assert!(
        targets.len() >= count,
        "{} measures with a liaison",
        targets.len()
    );
    let child = duban(&url, &fake)
        .arg("run")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    while fake.calls("getUpdates").is_empty() {
        assert!(Instant::now() < deadline, "the bot did not start");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let last = std::sync::atomic::AtomicI64::new(0);
    let user_of: std::collections::HashMap<&str, i64> = targets
        .iter()
        .map(|(code, user)| (code.as_str(), user.parse().unwrap()))
        .collect();
    let codes: Vec<String> = targets[..count].iter().map(|(c, _)| c.clone()).collect();
    let send = |text: &str| {
        let code = text.split_whitespace().nth(1).unwrap();
        let user = user_of[code];
        let update = fake.text(user, user, text, None);
        last.store(
            update["update_id"].as_i64().unwrap(),
            std::sync::atomic::Ordering::Relaxed,
        );
    };
    // All at once: throughput, and the latency a burst sees.
    let started = Instant::now();
    let (_, p50, p99) =
        push_and_measure(&mut conn, &codes, "进展:已完成阶段任务", None, send).await;
    until_asked_past(
        &fake,
        last.load(std::sync::atomic::Ordering::Relaxed),
        || true,
    )
    .await;
    let elapsed = started.elapsed().as_secs_f64();
    let rate = count as f64 / elapsed;
    println!(
        "{backend}: {count} replies from 10 liaisons through getUpdates, pushed at once: all committed and confirmed in {elapsed:.2} s = {rate:.0}/s = {:.2} of the echo bot; update → row p50 {p50:.0} ms, p99 {p99:.0} ms",
        rate / echo_rate
    );
    // At a steady 50 a second: the latency one reply sees.
    let paced = count.min(500);
    let (elapsed, p50, p99) = push_and_measure(
        &mut conn,
        &codes[..paced],
        "进展:第二轮",
        Some(Duration::from_millis(20)),
        send,
    )
    .await;
    println!(
        "{backend}: {paced} replies at 50/s: applied in {elapsed:.2} s; update → row p50 {p50:.0} ms, p99 {p99:.0} ms"
    );
    stop(child);
}

async fn idle_memory(dir: &std::path::Path) {
    let fake = FakeTelegram::start().await;
    let url = format!("sqlite:{}", dir.join("idle.db").display());
    let file = dir.join("idle.xlsx");
    duban::ingest::sample::write_synthetic(&file, 100_000, 2_000, 7).unwrap();
    let out = duban(&url, &fake)
        .arg("import")
        .arg(&file)
        .output()
        .unwrap();
    assert!(out.status.success());
    let child = duban(&url, &fake)
        .arg("run")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    tokio::time::sleep(Duration::from_secs(8)).await;
    let rss = rss_kib(child.id());
    println!(
        "idle `duban run` with 100,000 measures: RSS {:.1} MiB",
        rss as f64 / 1024.0
    );
    stop(child);
}

#[tokio::main]
async fn main() {
    let dir = tempfile::tempdir().unwrap();
    let only = std::env::var("DUBAN_BENCH_ONLY").unwrap_or_default();
    let run = |part: &str| only.is_empty() || only.split(',').any(|p| p == part);
    if run("replies") {
        replies(dir.path()).await;
    }
    if run("idle") {
        idle_memory(dir.path()).await;
    }
    if run("sweep") {
        sweep_to_liaisons(dir.path()).await;
    }
}
