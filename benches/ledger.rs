//! Benchmarks of the foundation, with figures for the issue notes.
//!
//! `cargo bench --bench ledger` writes two 100,000-measure, 2,000-unit ledgers: one shaped
//! like the ledgers offices keep (`ingest::sample::realistic_measures`: seven deadline forms
//! in equal parts, one to four units a cell joined by 、, problems merged over five
//! measures, progress on two rows in three, a title above the header) and the older
//! synthetic one. Then, on the release build, side by side in one run:
//! - calamine reading every cell of the sheet (the anchor), best of three;
//! - the reader alone (read and check, no database), in this process, best of three;
//! - `duban import --dry-run` (read, check, written and rolled back) and `duban import`
//!   into a fresh SQLite database, commit included, best of three, with the import's own
//!   peak memory; and the same into PostgreSQL (the tests' server; skipped when it cannot
//!   be reached);
//! - loading the 100,000 measures back, their colours at one date, and
//!   `duban measures --json`.
//!
//! `DUBAN_BENCH_MEASURES` changes the size; `DUBAN_BENCH_BIN` runs another build of duban
//! for the process figures (the release before, for figures before and after);
//! `DUBAN_TEST_PG_URL` names the PostgreSQL server.

mod support;

use std::path::Path;
use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant;

use calamine::{Data, Reader};
use duban::config::Settings;
use duban::core::rules::{Colour, Context, assess};
use duban::ingest::import::LedgerReader;
use duban::store::Store;

/// Runs duban with `args` on the database at `url`; the seconds it took, and what it printed.
fn duban(args: &[&str], url: &str) -> (f64, String) {
    let started = Instant::now();
    let output = Command::new(support::duban_bin())
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

/// The fastest of `runs` runs of `f`, in seconds.
fn best_of(runs: usize, mut f: impl FnMut() -> f64) -> f64 {
    (0..runs).map(|_| f()).fold(f64::MAX, f64::min)
}

/// calamine reading every cell of the first sheet; returns the seconds and the cells that
/// hold something.
fn calamine_read(file: &Path) -> (f64, usize) {
    let started = Instant::now();
    let mut book = calamine::open_workbook_auto(file).expect("open with calamine");
    let name = book.sheet_names()[0].clone();
    let range = book.worksheet_range(&name).expect("read the sheet");
    let filled = range
        .used_cells()
        .filter(|(_, _, c)| **c != Data::Empty)
        .count();
    (started.elapsed().as_secs_f64(), filled)
}

/// The reader alone, with a sink that drops every batch; returns the seconds and the lines.
fn reader_alone(file: &Path) -> (f64, usize) {
    let read = Arc::new(AtomicUsize::new(0));
    let counter = read.clone();
    let started = Instant::now();
    // As in an import, each batch comes back to be emptied and filled again.
    let (give_back, written) = std::sync::mpsc::channel();
    let mut reader = LedgerReader::new(
        None,
        Box::new(move |batch| {
            counter.fetch_add(batch.len(), Ordering::Relaxed);
            give_back.send(batch).is_ok()
        }),
    )
    .recycling(written);
    duban::ingest::import::source::read(file, &mut reader, 200 << 20).expect("read");
    reader.finish();
    assert!(reader.problems.is_empty(), "{:?}", &reader.problems[..1]);
    (
        started.elapsed().as_secs_f64(),
        read.load(Ordering::Relaxed),
    )
}

/// The import's own summary line with its peak memory.
fn summary(out: &str) -> String {
    out.lines().next().unwrap_or("").to_string()
}

/// Every figure of one ledger file, PostgreSQL's import too when `postgres`; returns the
/// SQLite database of its last import.
fn ledger_figures(dir: &Path, file: &Path, label: &str, postgres: bool) -> String {
    let file_arg = file.to_str().unwrap();
    println!(
        "— {label}: {} bytes",
        std::fs::metadata(file).unwrap().len()
    );
    let mut filled = 0;
    let raw = best_of(3, || {
        let (seconds, cells) = calamine_read(file);
        filled = cells;
        seconds
    });
    println!("  calamine reading every cell ({filled} filled): {raw:.3} s (best of 3)");
    let mut lines = 0;
    let alone = best_of(3, || {
        let (seconds, read) = reader_alone(file);
        lines = read;
        seconds
    });
    println!(
        "  read and check {lines} rows, no database (this build, in process): {alone:.3} s = {:.2} × calamine",
        alone / raw
    );
    let scratch = format!("sqlite:{}", dir.join(format!("{label}-dry.db")).display());
    let dry = best_of(3, || duban(&["import", "--dry-run", file_arg], &scratch).0);
    println!(
        "  duban import --dry-run: {dry:.3} s wall = {:.2} × calamine (best of 3)",
        dry / raw
    );
    let mut last = String::new();
    let mut out = String::new();
    let mut run = 0;
    let sqlite = best_of(3, || {
        run += 1;
        last = format!("sqlite:{}", dir.join(format!("{label}-{run}.db")).display());
        let (seconds, printed) = duban(&["import", file_arg], &last);
        out = printed;
        seconds
    });
    println!(
        "  import into SQLite, commit included: {sqlite:.3} s wall = {:.2} × calamine (best of 3)",
        sqlite / raw
    );
    println!("    {}", summary(&out));
    if postgres {
        let runtime = tokio::runtime::Runtime::new().unwrap();
        let postgres = best_of(3, || {
            let (url, name) = runtime.block_on(support::create_database());
            let (seconds, printed) = duban(&["import", file_arg], &url);
            out = printed;
            runtime.block_on(support::drop_database(&name));
            seconds
        });
        println!(
            "  import into PostgreSQL, commit included: {postgres:.3} s wall = {:.2} × calamine (best of 3)",
            postgres / raw
        );
        println!("    {}", summary(&out));
    }
    last
}

/// Whether the tests' PostgreSQL server answers.
fn postgres_reachable() -> bool {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime.block_on(async {
        use sqlx::Connection;
        sqlx::PgConnection::connect(&support::admin_url())
            .await
            .is_ok()
    })
}

fn main() {
    let measures = support::env_number("DUBAN_BENCH_MEASURES", 100_000);
    let dir = tempfile::tempdir().expect("temp dir");
    let realistic = dir.path().join("realistic.xlsx");
    let synthetic = dir.path().join("synthetic.xlsx");
    let started = Instant::now();
    duban::ingest::sample::write_realistic(&realistic, measures, 2_000, 7)
        .expect("write the realistic ledger");
    duban::ingest::sample::write_synthetic(&synthetic, measures, 2_000, 7)
        .expect("write the synthetic ledger");
    println!(
        "wrote two ledgers of {measures} measures, 2000 units: {:.2} s",
        started.elapsed().as_secs_f64()
    );
    let postgres = postgres_reachable();
    if !postgres {
        println!("(PostgreSQL not reachable: its import is skipped)");
    }
    let url = ledger_figures(dir.path(), &realistic, "realistic", postgres);
    ledger_figures(dir.path(), &synthetic, "synthetic", false);

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
    let mut red = 0;
    let colours = best_of(5, || {
        let started = Instant::now();
        let lights: Vec<_> = all.iter().map(|m| assess(m, &ctx)).collect();
        red = lights.iter().filter(|a| a.colour == Colour::Red).count();
        started.elapsed().as_secs_f64()
    });
    println!(
        "colours of {} measures at 2024-06-03: {:.1} ms (best of 5; {red} red)",
        all.len(),
        colours * 1000.0
    );
    let (seconds, out) = duban(&["measures", "--json", "--at", "2024-06-03"], &url);
    println!(
        "measures --json over {} measures: {seconds:.3} s, {} bytes of JSON",
        all.len(),
        out.len()
    );
}
