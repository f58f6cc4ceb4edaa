//! Benchmarks of the bot against the fake Bot API server of the tests, with figures for the
//! issue notes. `cargo bench --bench telegram` measures:
//! - a sweep to 10,000 liaisons with due items through a server that allows 30 messages a
//!   second: the delivery rate as a fraction of that ceiling, and the 429s it answered;
//! - 1,000 replies through getUpdates: throughput, and p99 from the update to its row;
//! - the resident memory of an idle `duban run` with a 100,000-measure ledger.
//!
//! `DUBAN_BENCH_LIAISONS` (default 10,000) and `DUBAN_BENCH_REPLIES` (default 1,000) scale it.

#[path = "../tests/common/fake_telegram.rs"]
#[allow(dead_code)]
mod fake_telegram;
mod support;

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use fake_telegram::{FakeTelegram, TOKEN};
use sqlx::Connection;
use support::{env_number, push_and_measure, seed_liaisons, stop, timed};

fn duban(url: &str, fake: &FakeTelegram) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_duban"));
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

async fn replies(dir: &std::path::Path) {
    let count = env_number("DUBAN_BENCH_REPLIES", 1_000);
    let fake = FakeTelegram::start().await;
    let url = format!("sqlite:{}", dir.join("replies.db").display());
    let file = dir.join("replies.xlsx");
    let mut rows = duban::ingest::sample::synthetic_measures(count.max(10), 100, 5);
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
    // One office member (an admin in config) answers for every measure.
    let admin = 424_242i64;
    let child = duban(&url, &fake)
        .arg("run")
        .env("DUBAN_TELEGRAM_ADMINS", format!("[{admin}]"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    while fake.calls("getUpdates").is_empty() {
        assert!(Instant::now() < deadline, "the bot did not start");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let codes: Vec<String> = rows
        .iter()
        .map(|r| match &r.code {
            duban::ingest::sample::RawCell::Text(code) => code.clone(),
            _ => unreachable!(),
        })
        .collect();
    let mut conn = sqlx::SqliteConnection::connect(&url).await.unwrap();
    // All at once: throughput, and the latency a burst sees.
    let (elapsed, p50, p99) = push_and_measure(
        &mut conn,
        &codes[..count],
        "进展:已完成阶段任务",
        None,
        |text| {
            fake.text(admin, admin, text, None);
        },
    )
    .await;
    println!(
        "{count} replies through getUpdates, pushed at once: all applied in {elapsed:.2} s = {:.0}/s; update → row p50 {p50:.0} ms, p99 {p99:.0} ms",
        count as f64 / elapsed
    );
    // At a steady 50 a second: the latency one reply sees.
    let paced = count.min(500);
    let (elapsed, p50, p99) = push_and_measure(
        &mut conn,
        &codes[..paced],
        "进展:第二轮",
        Some(Duration::from_millis(20)),
        |text| {
            fake.text(admin, admin, text, None);
        },
    )
    .await;
    println!(
        "{paced} replies at 50/s: applied in {elapsed:.2} s; update → row p50 {p50:.0} ms, p99 {p99:.0} ms"
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
    replies(dir.path()).await;
    idle_memory(dir.path()).await;
    sweep_to_liaisons(dir.path()).await;
}
