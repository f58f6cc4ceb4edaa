//! Benchmarks of several instances on PostgreSQL, with figures for the issue notes.
//! `cargo bench --bench instances` (needs the PostgreSQL server of the tests) measures, on a
//! ledger of 100,000 measures with 10,000 bound liaisons:
//! - the sweep: planning and queueing every liaison's reminder;
//! - outbox throughput with one and with two senders against the fake Bot API server with
//!   no rate limit, so that the database is what is measured;
//! - latency from a webhook request to its committed row (the 200 comes after the commit) at
//!   500 requests a second.
//!
//! `DUBAN_BENCH_MEASURES`, `DUBAN_BENCH_LIAISONS`, `DUBAN_BENCH_WEBHOOK_RATE` and
//! `DUBAN_BENCH_WEBHOOK_SECONDS` scale it; `DUBAN_TEST_PG_URL` names the server.

#[path = "../tests/common/fake_telegram.rs"]
#[allow(dead_code)]
mod fake_telegram;
mod support;

use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};

use duban::config::{Secret, Settings};
use duban::service::{Instance, Service};
use duban::store::Store;
use fake_telegram::{FakeTelegram, TOKEN};
use sqlx::Connection;
use support::{create_database, drop_database, env_number, percentile, stop};

fn duban(url: &str, fake: &FakeTelegram) -> Command {
    let mut command = Command::new(support::duban_bin());
    command
        .env("DUBAN_DATABASE_URL", url)
        .env("DUBAN_TELEGRAM_TOKEN", TOKEN)
        .env("DUBAN_TELEGRAM_API_URL", &fake.url)
        .env("DUBAN_TELEGRAM__POLL_TIMEOUT_SECONDS", "1")
        .env("DUBAN_SCHEDULE__ENABLED", "false")
        .env("DUBAN_DELIVERY__PER_SECOND", "100000")
        .env("DUBAN_DELIVERY__PER_CHAT_PER_SECOND", "1000")
        .env("DUBAN_LOG", "error");
    command
}

fn settings() -> Arc<Settings> {
    let mut settings = Settings::defaults();
    settings.config.delivery.per_second = 100_000.0;
    settings.config.delivery.per_chat_per_second = 1_000.0;
    settings.config.delivery.per_group_per_minute = 100_000;
    settings.config.schedule.send_on_days_off = true;
    // A Telegram bot: the sweep writes to the liaisons bound there.
    settings.config.telegram.token = Secret::new(TOKEN);
    Arc::new(settings)
}

async fn pending(url: &str) -> i64 {
    let mut db = sqlx::PgConnection::connect(url).await.unwrap();
    sqlx::query_scalar("SELECT COUNT(*) FROM outbox WHERE state = 'pending'")
        .fetch_one(&mut db)
        .await
        .unwrap()
}

/// Sends the whole outbox with `senders` senders; returns the messages a second.
async fn drain_with(url: &str, fake: &FakeTelegram, senders: usize) -> (usize, f64) {
    let settings = settings();
    let (stop_tx, stop) = tokio::sync::watch::channel(false);
    let mut services = Vec::new();
    for _ in 0..senders {
        let delivery = &settings.config.delivery;
        let telegram = duban::channels::telegram::Telegram::new(
            &Secret::new(TOKEN),
            &fake.url,
            Duration::from_secs(1),
        )
        .unwrap()
        .with_rates(
            delivery.per_chat_per_second,
            delivery.per_group_per_minute,
            delivery.per_second,
        );
        services.push(Arc::new(Service {
            store: Store::open(url).await.unwrap(),
            settings: Arc::clone(&settings),
            channels: duban::channels::Channels::new().with(Arc::new(telegram)),
            wake: Arc::new(duban::service::Wake::new()),
            stop: stop.clone(),
            instance: Arc::new(Instance::new()),
        }));
    }
    for service in &services {
        service.lease_step(&[], chrono::Utc::now()).await.unwrap();
    }
    let before = fake.sent().len();
    let started = Instant::now();
    let loops: Vec<_> = services
        .iter()
        .map(|s| tokio::spawn(Arc::clone(s).deliver_loop(duban::core::chat::ChannelKind::Telegram)))
        .collect();
    while pending(url).await > 0 {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let elapsed = started.elapsed().as_secs_f64();
    let _ = stop_tx.send(true);
    for l in loops {
        let _ = l.await;
    }
    let sent = fake.sent().len() - before;
    for service in services {
        service.store.close().await;
    }
    (sent, sent as f64 / elapsed)
}

/// Sends the sweep's outbox with one sender, then again with two.
async fn outbox_rates(url: &str, fake: &FakeTelegram, conn: &mut sqlx::PgConnection) {
    let (sent, rate) = drain_with(url, fake, 1).await;
    println!("outbox, one sender, no server limit: {sent} sent at {rate:.0}/s");
    sqlx::query(
        "UPDATE outbox SET state = 'pending', sent_at = NULL, message_id = NULL, attempts = 0",
    )
    .execute(&mut *conn)
    .await
    .unwrap();
    let (sent, rate) = drain_with(url, fake, 2).await;
    println!("outbox, two senders, no server limit: {sent} sent at {rate:.0}/s");
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let measures = env_number("DUBAN_BENCH_MEASURES", 100_000);
    let liaisons = env_number("DUBAN_BENCH_LIAISONS", 10_000);
    let units = 2_000;
    let (url, name) = create_database().await;
    let dir = tempfile::tempdir().unwrap();
    let fake = FakeTelegram::start().await;

    // 100,000 measures in 2,000 units, all past due; five liaisons a unit.
    let file = dir.path().join("big.xlsx");
    let mut rows = duban::ingest::sample::synthetic_measures(measures, units, 7);
    for (i, row) in rows.iter_mut().enumerate() {
        row.deadline = duban::ingest::sample::RawCell::Text("2024-01-31".into());
        row.status = "推进中".into();
        row.lead_unit = format!("第{:04}单位", i % units + 1);
        row.units = String::new();
    }
    duban::ingest::sample::write_ledger_file(
        &file,
        "台账",
        &rows,
        duban::ingest::sample::Layout::AspectColumn,
    )
    .unwrap();
    let started = Instant::now();
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
    println!(
        "import of {measures} measures into PostgreSQL: {:.1} s",
        started.elapsed().as_secs_f64()
    );
    let mut conn = sqlx::PgConnection::connect(&url).await.unwrap();
    sqlx::query(
        "INSERT INTO people (name, unit_id, role, created_at) \
         SELECT '联络员' || g, u.id, 'liaison', '2024-01-01T00:00:00.000000Z' \
         FROM generate_series(0, $1 - 1) AS g \
         JOIN (SELECT id, ROW_NUMBER() OVER (ORDER BY id) - 1 AS n FROM units) u ON u.n = g % $2",
    )
    .bind(liaisons as i64)
    .bind(units as i64)
    .execute(&mut conn)
    .await
    .unwrap();
    // Each bound on Telegram, chat and user id 100000 + its number.
    sqlx::query(
        "INSERT INTO identities (person_id, channel, user_id, chat_id, bound_at) \
         SELECT p.id, 'telegram', (100000 + n)::TEXT, (100000 + n)::TEXT, '2024-01-01T00:00:00.000000Z' \
         FROM (SELECT id, ROW_NUMBER() OVER (ORDER BY id) - 1 AS n FROM people WHERE role = 'liaison') p",
    )
    .execute(&mut conn)
    .await
    .unwrap();
    let store = Store::open(&url).await.unwrap();
    let settings = settings();

    // The sweep.
    let now = chrono::DateTime::parse_from_rfc3339("2024-03-15T09:00:00+08:00")
        .unwrap()
        .with_timezone(&chrono::Utc);
    let started = Instant::now();
    let listed = store.measures().await.unwrap().len();
    let listing = started.elapsed().as_secs_f64();
    let started = Instant::now();
    let outcome = duban::service::plan_sweep(&store, &settings, now, true)
        .await
        .unwrap();
    let planning = started.elapsed().as_secs_f64();
    let started = Instant::now();
    let queued = store
        .enqueue_sweep("sweep", outcome.day, &outcome.planned, now)
        .await
        .unwrap();
    let queueing = started.elapsed().as_secs_f64();
    println!(
        "sweep over {measures} measures to {liaisons} liaisons: {:.2} s = plan {planning:.2} s (of which listing {listed} measures {listing:.2} s) + queue {queueing:.2} s ({} planned, {queued} queued)",
        planning + queueing,
        outcome.planned.len(),
    );

    // Outbox throughput, one sender, then two on the same rows queued again.
    if std::env::var_os("DUBAN_BENCH_SKIP_OUTBOX").is_some() {
        sqlx::query("UPDATE outbox SET state = 'sent'")
            .execute(&mut conn)
            .await
            .unwrap();
    } else {
        outbox_rates(&url, &fake, &mut conn).await;
    }

    // The webhook at a steady rate: each request a liaison's progress on a measure of
    // their unit, answered 200 after its row commits.
    let targets: Vec<(i64, String)> = sqlx::query_as(
        "SELECT i.user_id::BIGINT, (SELECT m.code FROM measures m WHERE m.lead_unit_id = p.unit_id ORDER BY m.id LIMIT 1) \
         FROM people p JOIN identities i ON i.person_id = p.id WHERE p.role = 'liaison' ORDER BY p.id",
    )
    .fetch_all(&mut conn)
    .await
    .unwrap();
    drop(conn);
    store.close().await;
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let hook = format!("http://127.0.0.1:{port}/hook");
    let child = duban(&url, &fake)
        .args([
            "run",
            "--webhook",
            &hook,
            "--listen",
            &format!("127.0.0.1:{port}"),
        ])
        .env(
            "DUBAN_LOG",
            std::env::var("DUBAN_BENCH_LOG").unwrap_or_else(|_| "error".into()),
        )
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    while fake.calls("setWebhook").is_empty() && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let secret = fake.calls("setWebhook")[0].body["secret_token"]
        .as_str()
        .unwrap()
        .to_string();
    let rate = env_number("DUBAN_BENCH_WEBHOOK_RATE", 500);
    let seconds = env_number("DUBAN_BENCH_WEBHOOK_SECONDS", 10);
    let total = rate * seconds;
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(256)
        .build()
        .unwrap();
    let mut ticker = tokio::time::interval(Duration::from_secs_f64(1.0 / rate as f64));
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
    let started = Instant::now();
    let mut tasks = Vec::with_capacity(total);
    for i in 0..total {
        ticker.tick().await;
        let (user, code) = &targets[i % targets.len()];
        let update = serde_json::json!({
            "update_id": 5_000_000 + i,
            "message": {
                "message_id": 900_000 + i,
                "date": 1_700_000_100,
                "chat": {"id": user, "type": "private", "first_name": "联络员"},
                "from": {"id": user, "is_bot": false, "first_name": "联络员"},
                "text": format!("/update {code} 60% 合同已签"),
            }
        });
        let request = client
            .post(&hook)
            .header("X-Telegram-Bot-Api-Secret-Token", &secret)
            .json(&update);
        tasks.push(tokio::spawn(async move {
            let sent = Instant::now();
            let status = request
                .timeout(Duration::from_secs(60))
                .send()
                .await
                .map(|r| r.status().as_u16());
            (status, sent.elapsed().as_secs_f64() * 1000.0)
        }));
    }
    let offered = started.elapsed().as_secs_f64();
    let mut latencies = Vec::with_capacity(total);
    let mut failed = 0;
    let mut failures: std::collections::BTreeMap<String, usize> = Default::default();
    for task in tasks {
        match task.await.unwrap() {
            (Ok(200), ms) => latencies.push(ms),
            (outcome, _) => {
                failed += 1;
                let why = match outcome {
                    Ok(status) => format!("HTTP {status}"),
                    Err(e) => format!("{e}"),
                };
                *failures.entry(why).or_default() += 1;
            }
        }
    }
    if !failures.is_empty() {
        println!("  failures: {failures:?}");
    }
    let elapsed = started.elapsed().as_secs_f64();
    latencies.sort_by(|a, b| a.total_cmp(b));
    println!(
        "webhook at {rate}/s for {seconds} s ({total} requests offered in {offered:.1} s, all answered in {elapsed:.1} s, {failed} failed): \
         request → committed row p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms",
        percentile(&latencies, 0.5),
        percentile(&latencies, 0.99),
        latencies.last().copied().unwrap_or(f64::NAN)
    );
    stop(child);
    drop_database(&name).await;
}
