//! Benchmarks of the foundation, with figures for the issue notes.
//!
//! `cargo bench --bench ledger` writes a synthetic 100,000-measure, 2,000-unit ledger, then
//! measures, on the release build:
//! - reading and checking the file alone (no database);
//! - `duban import` of the file into a fresh SQLite database, commit included, best of three,
//!   with the import's own peak memory (it runs as a process of its own and reports VmHWM);
//! - loading the 100,000 measures back, and computing all their colours at one date;
//! - `duban measures --json` over the 100,000 measures.
//!
//! `DUBAN_BENCH_MEASURES` changes the size. `DUBAN_BENCH_PG`, a PostgreSQL URL of an empty
//! database, times the import there too.

use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant;

use duban::config::Settings;
use duban::core::rules::{Colour, Context, assess};
use duban::ingest::import::LedgerReader;
use duban::store::Store;

fn duban(args: &[&str], url: &str) -> (f64, String) {
    let started = Instant::now();
    let output = Command::new(env!("CARGO_BIN_EXE_duban"))
        .args(args)
        .env("DUBAN_DATABASE_URL", url)
        .env("DUBAN_LOG", "error")
        .output()
        .expect("run duban");
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    (
        started.elapsed().as_secs_f64(),
        String::from_utf8_lossy(&output.stdout).into_owned(),
    )
}

fn main() {
    let measures: usize = std::env::var("DUBAN_BENCH_MEASURES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(100_000);
    let dir = tempfile::tempdir().expect("temp dir");
    let file = dir.path().join("ledger.xlsx");
    let file_arg = file.to_str().unwrap();
    let started = Instant::now();
    duban::ingest::sample::write_synthetic(&file, measures, 2_000, 7)
        .expect("write the synthetic ledger");
    println!(
        "wrote {measures} measures, 2000 units: {:.2} s, {} bytes",
        started.elapsed().as_secs_f64(),
        std::fs::metadata(&file).unwrap().len()
    );

    // Reading alone: the reader with a sink that drops every batch.
    let read = Arc::new(AtomicUsize::new(0));
    let counter = read.clone();
    let started = Instant::now();
    let mut reader = LedgerReader::new(
        None,
        Box::new(move |batch| {
            counter.fetch_add(batch.len(), Ordering::Relaxed);
            true
        }),
    );
    duban::ingest::import::source::read(&file, &mut reader, 200 << 20).expect("read");
    reader.finish();
    assert!(reader.problems.is_empty());
    println!(
        "read and check {} rows (no database): {:.3} s",
        read.load(Ordering::Relaxed),
        started.elapsed().as_secs_f64()
    );

    let mut best = f64::MAX;
    let mut summary = String::new();
    for run in 0..3 {
        let url = format!(
            "sqlite:{}",
            dir.path().join(format!("bench-{run}.db")).display()
        );
        let (seconds, out) = duban(&["import", file_arg], &url);
        best = best.min(seconds);
        summary = out.lines().next().unwrap_or("").to_string();
    }
    println!("import into SQLite, commit included: {best:.3} s wall (best of 3)");
    println!("  {summary}");

    let url = format!("sqlite:{}", dir.path().join("bench-0.db").display());
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let store = runtime.block_on(Store::open(&url)).unwrap();
    let started = Instant::now();
    let all = runtime.block_on(store.measures()).unwrap();
    println!(
        "load {} measures from SQLite: {:.3} s",
        all.len(),
        started.elapsed().as_secs_f64()
    );
    let settings = Settings::defaults();
    let ctx = Context {
        today: chrono::NaiveDate::from_ymd_opt(2024, 6, 3).unwrap(),
        calendar: &settings.calendar,
        rules: &settings.config.rules,
        timezone: settings.timezone,
    };
    let mut fastest = f64::MAX;
    let mut red = 0;
    for _ in 0..5 {
        let started = Instant::now();
        let lights: Vec<_> = all.iter().map(|m| assess(m, &ctx)).collect();
        fastest = fastest.min(started.elapsed().as_secs_f64());
        red = lights.iter().filter(|a| a.colour == Colour::Red).count();
    }
    println!(
        "colours of {} measures at 2024-06-03: {:.1} ms (best of 5; {red} red)",
        all.len(),
        fastest * 1000.0
    );

    let (seconds, out) = duban(&["measures", "--json", "--at", "2024-06-03"], &url);
    println!(
        "measures --json over {} measures: {seconds:.3} s, {} bytes of JSON",
        all.len(),
        out.len()
    );

    if let Ok(pg) = std::env::var("DUBAN_BENCH_PG") {
        let (seconds, out) = duban(&["import", file_arg], &pg);
        println!("import into PostgreSQL: {seconds:.3} s wall");
        println!("  {}", out.lines().next().unwrap_or(""));
    }
}
