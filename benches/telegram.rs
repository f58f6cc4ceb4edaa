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

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use fake_telegram::{FakeTelegram, TOKEN};
use sqlx::Connection;

fn env_number(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

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

fn stop(mut child: Child) {
    let _ = Command::new("kill")
        .arg("-TERM")
        .arg(child.id().to_string())
        .status();
    let _ = child.wait();
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
    let mut conn = sqlx::SqliteConnection::connect(&url).await.unwrap();
    for i in 0..liaisons {
        let chat = 100_000 + i as i64;
        let person: i64 = sqlx::query_scalar(
            "INSERT INTO people (name, unit_id, role, created_at) \
             VALUES ($1, (SELECT id FROM units ORDER BY id LIMIT 1 OFFSET $2), 'liaison', '2024-01-01T00:00:00.000000Z') RETURNING id",
        )
        .bind(format!("联络员{i}"))
        .bind((i % 2_000) as i64)
        .fetch_one(&mut conn)
        .await
        .unwrap();
        sqlx::query(
            "INSERT INTO identities (person_id, channel, user_id, chat_id, bound_at) \
             VALUES ($1, 'telegram', $2, $2, '2024-01-01T00:00:00.000000Z')",
        )
        .bind(person)
        .bind(chat.to_string())
        .execute(&mut conn)
        .await
        .unwrap();
    }
    drop(conn);
    let started = Instant::now();
    let out = duban(&url, &fake)
        .args(["remind", "--now", "2024-03-15T09:00:00+08:00"])
        .output()
        .unwrap();
    let elapsed = started.elapsed().as_secs_f64();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let sent = fake.sent().len();
    let rate = sent as f64 / elapsed;
    println!(
        "sweep to {liaisons} liaisons, server allowing 30/s: {sent} sent in {elapsed:.1} s = {rate:.2}/s, {:.3} of the ceiling, {} × 429",
        rate / 30.0,
        fake.too_many()
    );
    println!("  {}", String::from_utf8_lossy(&out.stdout).trim());
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
        &fake,
        &mut conn,
        admin,
        &codes[..count],
        "进展:已完成阶段任务",
        None,
    )
    .await;
    println!(
        "{count} replies through getUpdates, pushed at once: all applied in {elapsed:.2} s = {:.0}/s; update → row p50 {p50:.0} ms, p99 {p99:.0} ms",
        count as f64 / elapsed
    );
    // At a steady 50 a second: the latency one reply sees.
    let paced = count.min(500);
    let (elapsed, p50, p99) = push_and_measure(
        &fake,
        &mut conn,
        admin,
        &codes[..paced],
        "进展:第二轮",
        Some(Duration::from_millis(20)),
    )
    .await;
    println!(
        "{paced} replies at 50/s: applied in {elapsed:.2} s; update → row p50 {p50:.0} ms, p99 {p99:.0} ms"
    );
    stop(child);
}

/// Pushes one `/update` per code, `gap` apart, and waits until each is applied; returns the
/// time it took and the p50 and p99 of update → committed row, in milliseconds.
async fn push_and_measure(
    fake: &FakeTelegram,
    conn: &mut sqlx::SqliteConnection,
    admin: i64,
    codes: &[String],
    text: &str,
    gap: Option<Duration>,
) -> (f64, f64, f64) {
    let started = Instant::now();
    let mut pushed = Vec::with_capacity(codes.len());
    for code in codes {
        fake.text(admin, admin, &format!("/update {code} {text}"), None);
        pushed.push((code.clone(), chrono::Utc::now()));
        if let Some(gap) = gap {
            tokio::time::sleep(gap).await;
        }
    }
    let deadline = Instant::now() + Duration::from_secs(300);
    loop {
        let done: i64 = sqlx::query_scalar(
            "SELECT COUNT(*) FROM progress_notes WHERE source = 'chat' AND body = $1",
        )
        .bind(text)
        .fetch_one(&mut *conn)
        .await
        .unwrap();
        if done as usize >= codes.len() {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "only {done} of {} replies applied",
            codes.len()
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let elapsed = started.elapsed().as_secs_f64();
    let mut latencies = Vec::with_capacity(codes.len());
    for (code, at) in &pushed {
        let committed: String = sqlx::query_scalar(
            "SELECT MAX(n.created_at) FROM progress_notes n JOIN measures m ON m.id = n.measure_id \
             WHERE m.code = $1 AND n.source = 'chat' AND n.body = $2",
        )
        .bind(code)
        .bind(text)
        .fetch_one(&mut *conn)
        .await
        .unwrap();
        let committed = chrono::DateTime::parse_from_rfc3339(&committed).unwrap();
        latencies.push(
            (committed.with_timezone(&chrono::Utc) - *at)
                .num_microseconds()
                .unwrap_or(0) as f64
                / 1000.0,
        );
    }
    latencies.sort_by(|a, b| a.partial_cmp(b).unwrap());
    let p = |q: f64| latencies[((latencies.len() as f64 * q) as usize).min(latencies.len() - 1)];
    (elapsed, p(0.5), p(0.99))
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
