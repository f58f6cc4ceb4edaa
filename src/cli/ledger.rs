//! The ledger commands: `import`, `export`, `measures`, `units` and `demo`.

use std::io::IsTerminal;
use std::path::Path;
use std::process::ExitCode;
use std::time::Instant;

use anyhow::Context as _;
use chrono::{DateTime, NaiveDate, TimeZone, Utc};

use duban::config::Settings;
use duban::core::ledger::{Measure, Status};
use duban::core::report::{MeasureRow, measure_table, status_label, unit_summaries};
use duban::core::rules::{Assessment, Colour};
use duban::core::text::Language;
use duban::ingest::import::{ImportError, ImportOptions, Reading};

use super::{App, out, say};

/// `duban import`: on a dry run against an SQLite file that does not exist yet, the file
/// is not created: the check runs against an empty ledger in memory.
pub async fn import_command(
    config: Option<&Path>,
    file: &Path,
    dry_run: bool,
    sheet: Option<String>,
    actor: String,
) -> anyhow::Result<ExitCode> {
    let settings = Settings::load(config)?;
    let url = settings.config.database_url.expose().to_string();
    let started = Instant::now();
    let options = ImportOptions {
        dry_run,
        sheet,
        actor,
        at: Utc::now(),
        progress: Some(report_progress),
        max_megabytes: settings.config.import.max_megabytes,
    };
    // The file is read while the database opens: a new database makes its tables meanwhile.
    let reading = Reading::start(file, options);
    let missing_file = duban::store::sqlite_path(&url).is_some_and(|p| !p.exists());
    let app = if dry_run && missing_file {
        // One shared in-memory database for the pool's connections, gone with the process.
        let memory = format!(
            "sqlite:file:duban-dry-run-{}?mode=memory&cache=shared",
            std::process::id()
        );
        App::open_at(settings, &memory).await?
    } else {
        App::open_at(settings, &url).await?
    };
    let shown = file.display().to_string();
    report_import(&app, reading, &shown, started).await
}

/// The running count of a large import: on a terminal, one line rewritten in place; in a
/// log, a line every 20,000 rows.
fn report_progress(rows: usize) {
    if std::io::stderr().is_terminal() {
        eprint!("\r{rows}…");
    } else if rows >= 20_000 && rows % 20_000 < duban::ingest::import::BATCH_LINES {
        out::err_line(format!("{rows}…"));
    }
}

/// Imports `file`, naming it `shown` in what it says.
async fn import_as(
    app: &App,
    file: &Path,
    shown: &str,
    dry_run: bool,
    sheet: Option<String>,
    actor: String,
    at: DateTime<Utc>,
) -> anyhow::Result<ExitCode> {
    let options = ImportOptions {
        dry_run,
        sheet,
        actor,
        at,
        progress: Some(report_progress),
        max_megabytes: app.settings.config.import.max_megabytes,
    };
    report_import(app, Reading::start(file, options), shown, Instant::now()).await
}

/// Writes what `reading` reads into the app's database and says what changed, or every
/// problem with its row and column; `started` is when the import began.
async fn report_import(
    app: &App,
    reading: Reading,
    shown: &str,
    started: Instant,
) -> anyhow::Result<ExitCode> {
    let language = app.language();
    let zh = language == Language::Zh;
    let result = reading.import_into(&app.store).await;
    if std::io::stderr().is_terminal() {
        eprint!("\r");
    }
    let report = match result {
        Ok(report) => report,
        Err(ImportError::Cells(problems)) => {
            out::err_line(language.pick(
                format!(
                    "错误：“{shown}”中有{}处问题，未导入任何内容：",
                    problems.len()
                ),
                format!(
                    "error: {} problem(s) in {shown}; nothing was imported:",
                    problems.len()
                ),
            ));
            for p in &problems {
                out::err_line(format!("  {}", out::safe(&p.text(language))));
            }
            return Ok(ExitCode::FAILURE);
        }
        Err(e) => return Err(e.into()),
    };
    let o = &report.outcome;
    let dry_run = report.dry_run;
    let seconds = started.elapsed().as_secs_f64();
    let memory = peak_memory_mib();
    if zh {
        let verb = if dry_run {
            "已检查（试运行，未写入任何内容）"
        } else {
            "已导入"
        };
        let memory = memory.map_or(String::new(), |m| format!("，内存峰值{m}MiB"));
        say!(
            "{verb}“{shown}”：共{}行，新增{}项、更新{}项、未变{}项（用时{seconds:.2}秒{memory}）",
            o.rows,
            o.created.len(),
            o.updated.len(),
            o.unchanged
        );
    } else {
        let verb = if dry_run {
            "checked (dry run, nothing written)"
        } else {
            "imported"
        };
        let memory = memory.map_or(String::new(), |m| format!(", peak memory {m} MiB"));
        say!(
            "{verb} {shown}: {} rows — {} new, {} updated, {} unchanged ({seconds:.2} s{memory})",
            o.rows,
            o.created.len(),
            o.updated.len(),
            o.unchanged
        );
    }
    if !o.new_units.is_empty() || !o.new_leaders.is_empty() {
        say!(
            "{}",
            language.pick(
                format!(
                    "  新单位{}个，新责任领导{}名，进展记录{}条",
                    o.new_units.len(),
                    o.new_leaders.len(),
                    o.notes_added
                ),
                format!(
                    "  new units: {}; new leaders: {}; progress notes: {}",
                    o.new_units.len(),
                    o.new_leaders.len(),
                    o.notes_added
                )
            )
        );
    }
    if !o.updated.is_empty() {
        say!(
            "{}",
            language.pick(
                format!("  已更新：{}", sample_list(&o.updated, language)),
                format!("  updated: {}", sample_list(&o.updated, language))
            )
        );
    }
    if !o.missing.is_empty() {
        say!(
            "{}",
            language.pick(
                format!(
                    "  台账中有{}项措施不在本文件中，已保留：{}",
                    o.missing.len(),
                    sample_list(&o.missing, language)
                ),
                format!(
                    "  {} measure(s) in the ledger are not in this file and were kept: {}",
                    o.missing.len(),
                    sample_list(&o.missing, language)
                )
            )
        );
    }
    if !o.status_kept.is_empty() {
        let shown: Vec<String> = o
            .status_kept
            .iter()
            .map(|k| {
                let (file, ledger) = (
                    status_label(k.file, language),
                    status_label(k.ledger, language),
                );
                language.pick(
                    format!("{}（文件：{file}，台账：{ledger}）", k.code),
                    format!("{} (file {file}, ledger {ledger})", k.code),
                )
            })
            .collect();
        say!(
            "{}",
            language.pick(
                format!(
                    "  文件中有{}项措施的状态与台账不一致，以台账为准（如需修改请用 set-status）：{}",
                    shown.len(),
                    sample_list(&shown, language)
                ),
                format!(
                    "  {} status(es) in the file differ from the ledger, which keeps its own (use set-status to change): {}",
                    shown.len(),
                    sample_list(&shown, language)
                )
            )
        );
    }
    for w in &report.warnings {
        out::err_line(language.pick(
            format!("提示：{}", out::safe(&w.text(language))),
            format!("warning: {}", out::safe(&w.text(language))),
        ));
    }
    Ok(ExitCode::SUCCESS)
}

/// The process's peak resident memory so far, where the system tells it (Linux).
fn peak_memory_mib() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib.div_ceil(1024))
}

/// The first items of a list and how many more there are.
fn sample_list(items: &[String], language: Language) -> String {
    const SHOWN: usize = 20;
    let separator = language.pick("、", ", ");
    if items.len() <= SHOWN {
        return items.join(separator);
    }
    let more = items.len() - SHOWN;
    language.pick(
        format!("{}等，另有{more}项", items[..SHOWN].join(separator)),
        format!("{} … and {more} more", items[..SHOWN].join(separator)),
    )
}

/// `duban export`.
pub async fn export(app: &App, file: &Path, at: Option<NaiveDate>) -> anyhow::Result<()> {
    let at = at.unwrap_or_else(|| app.today());
    let (measures, assessments) = app.assessed(at).await?;
    let summaries = summaries(app, &measures, &assessments).await?;
    let rows: Vec<(&Measure, &Assessment)> = measures.iter().zip(&assessments).collect();
    duban::ingest::export::write_ledger(file, &rows, &summaries, at, app.language())?;
    say!(
        "{}",
        app.language().pick(
            format!(
                "已将{}项措施写入{}（亮灯截至{}）",
                rows.len(),
                file.display(),
                app.day(at)
            ),
            format!(
                "wrote {} measures to {} (lights as of {at})",
                rows.len(),
                file.display()
            )
        )
    );
    Ok(())
}

/// Counts per unit, in the ledger's order of units.
async fn summaries(
    app: &App,
    measures: &[Measure],
    assessments: &[Assessment<'_>],
) -> anyhow::Result<Vec<duban::core::report::UnitSummary>> {
    let units: Vec<(String, i64)> = app
        .store
        .units()
        .await?
        .into_iter()
        .map(|u| (u.name, u.liaisons))
        .collect();
    Ok(unit_summaries(&units, measures, assessments))
}

/// `duban measures`.
pub async fn measures(
    app: &App,
    at: Option<NaiveDate>,
    unit: Option<String>,
    colour: Option<Colour>,
    status: Option<Status>,
    json: bool,
) -> anyhow::Result<()> {
    let at = at.unwrap_or_else(|| app.today());
    let unit = unit.map(|u| duban::core::ledger::parse::name(&u));
    if let Some(unit) = &unit {
        check_unit(app, unit).await?;
    }
    let (measures, assessments) = app.assessed(at).await?;
    let rows: Vec<(&Measure, &Assessment)> = measures
        .iter()
        .zip(&assessments)
        .filter(|(m, a)| {
            unit.as_ref().is_none_or(|u| m.involves(u))
                && colour.is_none_or(|c| a.colour == c)
                && status.is_none_or(|s| m.status == s)
        })
        .collect();
    print_measures(app, &rows, at, json)
}

/// Refuses a unit the ledger does not name, suggesting the nearest names.
pub async fn check_unit(app: &App, unit: &str) -> anyhow::Result<()> {
    let units = app.store.units().await?;
    if units.iter().any(|u| u.name == unit) {
        return Ok(());
    }
    let nearest = duban::store::nearest(unit, units.iter().map(|u| u.name.as_str()));
    Err(duban::store::StoreError::NoSuchUnit {
        unit: unit.to_string(),
        nearest,
    }
    .into())
}

/// The measures as a table (or JSON), with a count of their lights.
fn print_measures(
    app: &App,
    rows: &[(&Measure, &Assessment)],
    at: NaiveDate,
    json: bool,
) -> anyhow::Result<()> {
    let language = app.language();
    if json {
        let out: Vec<MeasureRow> = rows
            .iter()
            .map(|(m, a)| MeasureRow::new(m, a, language))
            .collect();
        say!("{}", serde_json::to_string(&out)?);
        return Ok(());
    }
    let painted = std::io::stdout().is_terminal() && std::env::var_os("NO_COLOR").is_none();
    out::text(out::safe_table(&measure_table(rows, language, painted)));
    let count = |c: Colour| rows.iter().filter(|(_, a)| a.colour == c).count();
    say!(
        "{}",
        language.pick(
            format!(
                "{}共{}项措施：红灯{}项，黄灯{}项，绿灯{}项",
                app.day(at),
                rows.len(),
                count(Colour::Red),
                count(Colour::Yellow),
                count(Colour::Green)
            ),
            format!(
                "{} measures on {at}: {} red, {} yellow, {} green",
                rows.len(),
                count(Colour::Red),
                count(Colour::Yellow),
                count(Colour::Green)
            )
        )
    );
    Ok(())
}

/// `duban units`.
pub async fn units(app: &App, at: Option<NaiveDate>, json: bool) -> anyhow::Result<()> {
    let at = at.unwrap_or_else(|| app.today());
    let (measures, assessments) = app.assessed(at).await?;
    let summaries = summaries(app, &measures, &assessments).await?;
    if json {
        say!("{}", serde_json::to_string_pretty(&summaries)?);
        return Ok(());
    }
    use duban::core::report::fit;
    let language = app.language();
    let headers = language.pick(
        [
            "单位",
            "牵头",
            "参与",
            "已销号",
            "红灯",
            "协办红灯",
            "联络员",
        ],
        [
            "unit",
            "leads",
            "in",
            "closed",
            "red",
            "red shared",
            "liaisons",
        ],
    );
    say!(
        "{}  {}  {}  {}  {}  {}  {}",
        fit(headers[0], 24),
        fit(headers[1], 4),
        fit(headers[2], 4),
        fit(headers[3], 6),
        fit(headers[4], 4),
        fit(headers[5], 10),
        headers[6],
    );
    for s in &summaries {
        say!(
            "{}  {:>4}  {:>4}  {:>6}  {:>4}  {:>10}  {:>6}",
            fit(&out::safe(&s.name), 24),
            s.lead,
            s.involved,
            s.closed,
            s.red,
            s.red_shared,
            s.liaisons
        );
    }
    say!(
        "{}",
        language.pick(
            format!("共{}个单位（亮灯截至{}）", summaries.len(), app.day(at)),
            format!("{} units (lights as of {at})", summaries.len())
        )
    );
    Ok(())
}

/// Imports the sample ledger, made on `today` so that its deadlines fall around it, into
/// the app's database. For a day other than today the import is dated that day too, so that
/// its progress notes count as that day's reports.
pub async fn import_sample(app: &App, today: NaiveDate, by: &str) -> anyhow::Result<ExitCode> {
    let at = if today == app.today() {
        Utc::now()
    } else {
        let nine = today.and_hms_opt(9, 0, 0).expect("09:00 exists");
        app.settings
            .timezone
            .from_local_datetime(&nine)
            .earliest()
            .map_or_else(|| nine.and_utc(), |t| t.with_timezone(&Utc))
    };
    let dir = std::env::temp_dir().join(format!("duban-demo-{}", std::process::id()));
    std::fs::create_dir_all(&dir).context("creating a temporary directory")?;
    let path = dir.join("某新区整改台账-样例.xlsx");
    duban::ingest::sample::write_sample_as_of(&path, Some(today))
        .context("writing the sample ledger")?;
    let shown = app.language().pick(
        "样例台账（某新区，时限按今天排布）",
        "the sample ledger (deadlines placed around today)",
    );
    let code = import_as(app, &path, shown, false, None, by.into(), at).await;
    let _ = std::fs::remove_dir_all(&dir);
    code
}

/// `duban demo`.
pub async fn demo(app: &App, at: Option<NaiveDate>) -> anyhow::Result<ExitCode> {
    let language = app.language();
    let at = at.unwrap_or_else(|| app.today());
    let existing = app.store.measures().await?.len();
    if existing == 0 {
        let code = import_sample(app, at, "demo").await?;
        if code != ExitCode::SUCCESS {
            return Ok(code);
        }
        say!();
    } else {
        say!(
            "{}",
            language.pick(
                format!(
                    "数据库中已有{existing}项措施，未再载入样例台账。如需从头体验，请换一个数据库（如 DUBAN_DATABASE_URL=sqlite:demo.db duban demo）。"
                ),
                format!(
                    "The database holds {existing} measures already, so the sample was not loaded. To start afresh, use another database (e.g. DUBAN_DATABASE_URL=sqlite:demo.db duban demo)."
                )
            )
        );
        say!();
    }
    let (measures, assessments) = app.assessed(at).await?;
    let rows: Vec<(&Measure, &Assessment)> = measures.iter().zip(&assessments).collect();
    print_measures(app, &rows, at, false)?;
    say!(
        "\n{}",
        language.pick(
            "下一步：duban measures --colour red · duban history 序号 · duban close 序号 · duban export 台账.xlsx · duban --help",
            "Next: duban measures --colour red · duban history CODE · duban close CODE · duban export ledger.xlsx · duban --help"
        )
    );
    Ok(ExitCode::SUCCESS)
}
