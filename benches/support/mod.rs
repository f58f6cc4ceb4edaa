//! Helpers the benchmarks share: scale from the environment, stopping a service, and the
//! wait for replies to be committed with their latencies.

#![allow(dead_code)]

use std::process::{Child, Command};
use std::time::{Duration, Instant};

/// The duban binary the benchmark runs: `DUBAN_BENCH_BIN` (another build, for figures
/// before and after a change), else this build's.
pub fn duban_bin() -> std::path::PathBuf {
    std::env::var_os("DUBAN_BENCH_BIN")
        .map(Into::into)
        .unwrap_or_else(|| env!("CARGO_BIN_EXE_duban").into())
}

/// A number from the environment, or `default`.
pub fn env_number(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// Stops a `duban run` as an operator would (SIGTERM) and waits for it.
pub fn stop(mut child: Child) {
    let _ = Command::new("kill")
        .arg("-TERM")
        .arg(child.id().to_string())
        .status();
    let _ = child.wait();
}

/// Runs a command to its end, failing the bench with its stderr when it fails; returns the
/// seconds it took and what it printed.
pub fn timed(command: &mut Command) -> (f64, String) {
    let started = Instant::now();
    let out = command.output().unwrap();
    let elapsed = started.elapsed().as_secs_f64();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    (elapsed, String::from_utf8_lossy(&out.stdout).into_owned())
}

/// A connection to the database at `url`, SQLite or PostgreSQL.
pub async fn connect(url: &str) -> sqlx::AnyConnection {
    use sqlx::Connection;
    sqlx::any::install_default_drivers();
    sqlx::AnyConnection::connect(url).await.unwrap()
}

/// Adds `count` liaisons bound on `channel`, spread over the first `units` units; the `i`th
/// has the user and chat id `id(i)`.
pub async fn seed_liaisons(
    url: &str,
    count: usize,
    units: usize,
    channel: &str,
    id: impl Fn(usize) -> String,
) {
    let mut conn = connect(url).await;
    for i in 0..count {
        let person: i64 = sqlx::query_scalar(
            "INSERT INTO people (name, unit_id, role, created_at) \
             VALUES ($1, (SELECT id FROM units ORDER BY id LIMIT 1 OFFSET $2), 'liaison', '2024-01-01T00:00:00.000000Z') RETURNING id",
        )
        .bind(format!("联络员{i}"))
        .bind((i % units) as i64)
        .fetch_one(&mut conn)
        .await
        .unwrap();
        sqlx::query(
            "INSERT INTO identities (person_id, channel, user_id, chat_id, bound_at) \
             VALUES ($1, $2, $3, $3, '2024-01-01T00:00:00.000000Z')",
        )
        .bind(person)
        .bind(channel)
        .bind(id(i))
        .execute(&mut conn)
        .await
        .unwrap();
    }
}

/// Sends `/update CODE TEXT` for each code through `send`, `gap` apart, and waits until each
/// is committed; returns the seconds it took, and p50 and p99 in milliseconds from each send
/// to its row.
pub async fn push_and_measure(
    conn: &mut sqlx::AnyConnection,
    codes: &[String],
    text: &str,
    gap: Option<Duration>,
    send: impl Fn(&str),
) -> (f64, f64, f64) {
    let started = Instant::now();
    let mut pushed = Vec::with_capacity(codes.len());
    for code in codes {
        send(&format!("/update {code} {text}"));
        pushed.push((code.clone(), chrono::Utc::now()));
        if let Some(gap) = gap {
            tokio::time::sleep(gap).await;
        }
    }
    until_committed(conn, started, &pushed, text).await
}

/// Waits until every reply in `pushed` (a measure code and when it was sent) is committed
/// as a chat progress note reading `text`; returns the seconds since `started`, and p50 and
/// p99 in milliseconds from each push to its row.
pub async fn until_committed(
    conn: &mut sqlx::AnyConnection,
    started: Instant,
    pushed: &[(String, chrono::DateTime<chrono::Utc>)],
    text: &str,
) -> (f64, f64, f64) {
    let deadline = Instant::now() + Duration::from_secs(300);
    loop {
        let done: i64 = sqlx::query_scalar(
            "SELECT COUNT(*) FROM progress_notes WHERE source = 'chat' AND body = $1",
        )
        .bind(text)
        .fetch_one(&mut *conn)
        .await
        .unwrap();
        if done as usize >= pushed.len() {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "only {done} of {} replies committed",
            pushed.len()
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let elapsed = started.elapsed().as_secs_f64();
    let mut latencies = Vec::with_capacity(pushed.len());
    for (code, at) in pushed {
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
    (
        elapsed,
        percentile(&latencies, 0.5),
        percentile(&latencies, 0.99),
    )
}

/// The `p` quantile of sorted figures.
pub fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i]
}

/// The PostgreSQL server of the tests: `DUBAN_TEST_PG_URL`, or the local one.
pub fn admin_url() -> String {
    std::env::var("DUBAN_TEST_PG_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".into())
}

/// Whether the PostgreSQL server of the tests answers.
pub async fn postgres_reachable() -> bool {
    <sqlx::PgConnection as sqlx::Connection>::connect(&admin_url())
        .await
        .is_ok()
}

/// A fresh database; returns its URL and name.
pub async fn create_database() -> (String, String) {
    let admin = admin_url();
    let name = format!("duban_bench_{}", std::process::id());
    let mut conn = <sqlx::PgConnection as sqlx::Connection>::connect(&admin)
        .await
        .unwrap();
    sqlx::query(sqlx::AssertSqlSafe(format!(
        "DROP DATABASE IF EXISTS {name}"
    )))
    .execute(&mut conn)
    .await
    .unwrap();
    sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
        .execute(&mut conn)
        .await
        .unwrap();
    let base = admin.rsplit_once('/').map(|(b, _)| b.to_string()).unwrap();
    (format!("{base}/{name}"), name)
}

pub async fn drop_database(name: &str) {
    let mut conn = <sqlx::PgConnection as sqlx::Connection>::connect(&admin_url())
        .await
        .unwrap();
    let _ = sqlx::query(sqlx::AssertSqlSafe(format!(
        "DROP DATABASE IF EXISTS {name} WITH (FORCE)"
    )))
    .execute(&mut conn)
    .await;
}
