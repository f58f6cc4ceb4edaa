//! Benchmarks of the web workbench, with figures for the issue notes. `cargo bench --bench
//! web` imports a synthetic 100,000-measure ledger into SQLite, signs the office in, and
//! measures the server's time for 总览 (`/`) and for 台账 pages of 50 rows (`/ledger`,
//! plain, filtered and sorted), through the workbench's router in process (no network):
//! the first request after a change (the ledger read again), then p50 / p99 over repeated
//! requests.
//!
//! `DUBAN_BENCH_MEASURES` (default 100,000) and `DUBAN_BENCH_REQUESTS` (default 200) scale
//! it; `DUBAN_BENCH_PG`, a PostgreSQL URL of an empty database, runs it there too.

mod support;

use std::process::Command;
use std::sync::Arc;
use std::time::Instant;

use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use chrono::{Duration, Utc};
use duban::config::Settings;
use duban::core::ledger::Role;
use duban::store::Store;
use support::{env_number, percentile};
use tower::ServiceExt;

/// The path of the `i`th request of a case.
type PathOf = Box<dyn Fn(usize) -> String>;

/// Signs an office member in through a link; returns the session's cookie.
async fn office_cookie(store: &Store, settings: &Settings) -> String {
    let now = Utc::now();
    let url = duban::web::sign_in_link(store, settings, "基准", Role::Office, None, "bench", now)
        .await
        .unwrap();
    let token = url.rsplit('/').next().unwrap();
    let session = "bench-session-token";
    store
        .redeem_web_link(
            &duban::web::hash(token),
            &duban::web::hash(session),
            "csrf",
            now,
            now + Duration::hours(1),
        )
        .await
        .unwrap()
        .expect("the link signs in");
    format!("{}={session}", duban::web::COOKIE)
}

/// The server's time for one GET, in milliseconds.
async fn time(router: &axum::Router, cookie: &str, path: &str) -> f64 {
    let request = Request::get(path)
        .header(header::COOKIE, cookie)
        .body(Body::empty())
        .unwrap();
    let started = Instant::now();
    let response = router.clone().oneshot(request).await.unwrap();
    let status = response.status();
    let body = axum::body::to_bytes(response.into_body(), usize::MAX)
        .await
        .unwrap();
    let ms = started.elapsed().as_secs_f64() * 1000.0;
    assert_eq!(
        status,
        StatusCode::OK,
        "{path}: {}",
        String::from_utf8_lossy(&body)
    );
    ms
}

async fn run(url: &str, file: &std::path::Path, measures: usize) {
    let out = Command::new(support::duban_bin())
        .arg("import")
        .arg(file)
        .env("DUBAN_DATABASE_URL", url)
        .env("DUBAN_LOG", "error")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let store = Store::open(url).await.unwrap();
    let settings = Arc::new(Settings::defaults());
    let cookie = office_cookie(&store, &settings).await;
    let web = Arc::new(duban::web::Web::new(store.clone(), Arc::clone(&settings)));
    let router = duban::web::router(web);
    let backend = if url.starts_with("sqlite:") {
        "SQLite"
    } else {
        "PostgreSQL"
    };
    let cold = time(&router, &cookie, "/ledger").await;
    println!(
        "{backend}, {measures} measures: the first page after a change (the ledger read and judged again): {cold:.0} ms"
    );
    let requests = env_number("DUBAN_BENCH_REQUESTS", 200);
    let pages = measures.div_ceil(duban::web::PAGE_SIZE).max(1);
    let cases: [(&str, PathOf); 4] = [
        ("总览 /", Box::new(|_| "/".to_string())),
        (
            "台账, 50 rows, pages spread over the ledger",
            Box::new(move |i| format!("/ledger?page={}", 1 + (i * 97) % pages)),
        ),
        (
            "台账, red only, sorted by due date",
            Box::new(|i| format!("/ledger?colour=red&sort=due&page={}", 1 + i % 20)),
        ),
        (
            "台账, words (a unit's number) anywhere",
            Box::new(|i| format!("/ledger?q=%E7%AC%AC{:04}", 1 + i % 50)),
        ),
    ];
    for (what, path) in &cases {
        let mut times = Vec::with_capacity(requests);
        for i in 0..requests {
            times.push(time(&router, &cookie, &path(i)).await);
        }
        times.sort_by(|a, b| a.partial_cmp(b).unwrap());
        println!(
            "{backend}, {measures} measures, {what}: p50 {:.1} ms, p99 {:.1} ms over {requests} requests",
            percentile(&times, 0.5),
            percentile(&times, 0.99)
        );
    }
    store.close().await;
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let measures = env_number("DUBAN_BENCH_MEASURES", 100_000);
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("ledger.xlsx");
    duban::ingest::sample::write_synthetic(&file, measures, 2_000, 7).unwrap();
    let url = format!("sqlite:{}", dir.path().join("web.db").display());
    run(&url, &file, measures).await;
    if let Ok(pg) = std::env::var("DUBAN_BENCH_PG") {
        run(&pg, &file, measures).await;
    }
}
