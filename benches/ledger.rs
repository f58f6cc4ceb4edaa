//! Benchmarks of the foundation, with figures for the issue notes.
//!
//! `cargo bench --bench ledger` writes a synthetic 100,000-measure, 2,000-unit ledger, then
//! measures, on the release build:
//! - reading and checking the file alone (no database);
//! - `duban import` of the file into a fresh SQLite database, commit included, with its peak
//!   RSS (a child process, so the figure is the import's own);
//! - computing all 100,000 colours at one date;
//! - `duban measures --json` over the 100,000 measures.
//!
//! Set `DUBAN_BENCH_MEASURES` to change the size, and `DUBAN_BENCH_PG` to a PostgreSQL URL of
//! an empty database to time the import there too.

use std::path::Path;
use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant;

use duban::config::Settings;
use duban::import::LedgerReader;
use duban::rules::{Context, assess};
use duban::store::Store;

fn peak_rss_kib_of(mut command: Command) -> (f64, u64, String) {
    let started = Instant::now();
    let output = command.output().expect("run duban");
    let elapsed = started.elapsed().as_secs_f64();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    // SAFETY: getrusage only writes into the struct we pass.
    let usage = unsafe {
        let mut usage: libc::rusage = std::mem::zeroed();
        libc::getrusage(libc::RUSAGE_CHILDREN, &mut usage);
        usage
    };
    (
        elapsed,
        usage.ru_maxrss as u64,
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
    let started = Instant::now();
    duban::sample::write_synthetic(&file, measures, 2_000, 7).expect("write the synthetic ledger");
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
    duban::import::source::read(&file, &mut reader).expect("read");
    reader.finish();
    assert!(
        reader.problems.is_empty(),
        "{:?}",
        &reader.problems[..reader.problems.len().min(5)]
    );
    println!(
        "read and check {} rows (no database): {:.3} s",
        read.load(Ordering::Relaxed),
        started.elapsed().as_secs_f64()
    );

    let exe = env!("CARGO_BIN_EXE_duban");
    let db = dir.path().join("bench.db");
    let url = format!("sqlite:{}", db.display());
    let mut import = Command::new(exe);
    import
        .arg("import")
        .arg(&file)
        .env("DUBAN_DATABASE_URL", &url)
        .env("DUBAN_LOG", "error");
    let (seconds, rss, out) = peak_rss_kib_of(import);
    println!(
        "import into SQLite, commit included: {seconds:.3} s wall, peak RSS {:.1} MiB",
        rss as f64 / 1024.0
    );
    println!("  {}", out.lines().next().unwrap_or(""));

    let runtime = tokio::runtime::Runtime::new().unwrap();
    let settings = Settings::defaults();
    let store = runtime.block_on(Store::open(&url)).unwrap();
    let started = Instant::now();
    let all = runtime.block_on(store.measures()).unwrap();
    println!(
        "load {} measures from SQLite: {:.3} s",
        all.len(),
        started.elapsed().as_secs_f64()
    );
    let ctx = Context {
        today: chrono::NaiveDate::from_ymd_opt(2024, 6, 3).unwrap(),
        calendar: &settings.calendar,
        rules: &settings.config.rules,
        timezone: settings.timezone,
    };
    let mut best = f64::MAX;
    let mut red = 0;
    for _ in 0..5 {
        let started = Instant::now();
        let lights: Vec<_> = all.iter().map(|m| assess(m, &ctx)).collect();
        best = best.min(started.elapsed().as_secs_f64());
        red = lights
            .iter()
            .filter(|a| a.colour == duban::rules::Colour::Red)
            .count();
    }
    println!(
        "colours of {} measures at 2024-06-03: {:.1} ms (best of 5; {red} red)",
        all.len(),
        best * 1000.0
    );

    let mut json = Command::new(exe);
    json.args(["measures", "--json", "--at", "2024-06-03"])
        .env("DUBAN_DATABASE_URL", &url)
        .env("DUBAN_LOG", "error");
    let started = Instant::now();
    let output = json.output().unwrap();
    assert!(output.status.success());
    println!(
        "measures --json over {} measures: {:.3} s, {} bytes of JSON",
        all.len(),
        started.elapsed().as_secs_f64(),
        output.stdout.len()
    );

    if let Ok(pg) = std::env::var("DUBAN_BENCH_PG") {
        let mut import = Command::new(exe);
        import
            .arg("import")
            .arg(&file)
            .env("DUBAN_DATABASE_URL", &pg)
            .env("DUBAN_LOG", "error");
        let started = Instant::now();
        let output = import.output().unwrap();
        assert!(
            output.status.success(),
            "{}",
            String::from_utf8_lossy(&output.stderr)
        );
        println!(
            "import into PostgreSQL: {:.3} s",
            started.elapsed().as_secs_f64()
        );
    }
    let _ = Path::new(&file);
}
