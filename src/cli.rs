//! The `duban` command line: the arguments, the settings and store every command opens, and
//! one small function per command in the modules below. Every line a person reads is in the
//! configured language; `--json` keys stay English.

use std::cell::Cell;
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context as _;
use chrono::{DateTime, Datelike, FixedOffset, NaiveDate, Utc};
use clap::{Parser, Subcommand};

use duban::config::{Settings, redact_url};
use duban::core::ledger::{Measure, Source, Status};
use duban::core::rules::{Assessment, Colour, Context, assess};
use duban::core::text::Language;
use duban::store::{Change, Store};

mod ledger;
mod measure;
pub mod out;
mod people;
mod reading;
mod requests;
mod service;

/// Prints a line on stdout, like `println!`; a closed pipe ends the command quietly.
macro_rules! say {
    () => {
        $crate::cli::out::line("")
    };
    ($($arg:tt)*) => {
        $crate::cli::out::line(format_args!($($arg)*))
    };
}
pub(crate) use say;

/// 督办 duban: keeps a rectification ledger moving.
#[derive(Parser)]
#[command(version, about, long_about = None)]
pub struct Cli {
    /// A configuration file (default: $DUBAN_CONFIG, then config/duban.toml if present).
    #[arg(long, global = true, value_name = "FILE")]
    config: Option<PathBuf>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Applies pending database migrations.
    Migrate,
    /// Loads a ledger (.xlsx, .xls, .ods or .csv); all or nothing, re-imports update by code.
    Import {
        /// The ledger file.
        file: PathBuf,
        /// Checks the file and reports what would change, writing nothing (not even a new
        /// database file).
        #[arg(long)]
        dry_run: bool,
        /// Reads this sheet (default: the first sheet with a ledger header).
        #[arg(long)]
        sheet: Option<String>,
        /// Who imports, for the history (default: cli:$USER).
        #[arg(long)]
        by: Option<String>,
    },
    /// Writes the ledger with status, progress and lights, and a summary per lead unit, as .xlsx.
    Export {
        /// The .xlsx file to write.
        file: PathBuf,
        /// The day the lights are computed for (default: today).
        #[arg(long, value_name = "YYYY-MM-DD")]
        at: Option<NaiveDate>,
    },
    /// Lists measures with their light on a day.
    Measures {
        /// The day to judge (default: today in the configured time zone).
        #[arg(long, value_name = "YYYY-MM-DD")]
        at: Option<NaiveDate>,
        /// Only measures this unit leads or shares.
        #[arg(long, value_name = "NAME")]
        unit: Option<String>,
        /// Only measures with this light: red, yellow or green.
        #[arg(long, value_parser = parse_colour)]
        colour: Option<Colour>,
        /// Only measures with this status.
        #[arg(long, value_parser = parse_status)]
        status: Option<Status>,
        /// Prints a JSON array instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Lists units with their measures and lights.
    Units {
        /// The day to judge (default: today).
        #[arg(long, value_name = "YYYY-MM-DD")]
        at: Option<NaiveDate>,
        /// Prints a JSON array instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Sets a measure's status (not_started, in_progress, claimed, closed, or 未启动/推进中/申请销号/已销号).
    SetStatus {
        /// The measure's code (序号).
        code: String,
        /// The new status.
        #[arg(value_parser = parse_status)]
        status: Status,
        /// Why, kept in the history.
        #[arg(long)]
        note: Option<String>,
        /// Who, for the history (default: cli:$USER).
        #[arg(long)]
        by: Option<String>,
    },
    /// Verifies a measure and closes it (销号): approves its pending claim, or closes it at
    /// once when nobody claimed it.
    Close {
        /// The measure's code (序号).
        code: String,
        /// The office's note, kept in the history.
        #[arg(long)]
        note: Option<String>,
        /// Who verifies, for the history (default: cli:$USER).
        #[arg(long)]
        by: Option<String>,
    },
    /// Sends a claimed measure back to work (退回); the liaison is told why.
    Reject {
        /// The measure's code (序号).
        code: String,
        /// Why, kept in the history and sent to the liaison.
        #[arg(long)]
        reason: String,
        /// Who decides (default: cli:$USER).
        #[arg(long)]
        by: Option<String>,
    },
    /// Re-opens a closed measure: back to in progress, with the reason in the history.
    Reopen {
        /// The measure's code (序号).
        code: String,
        /// Why.
        #[arg(long)]
        reason: String,
        /// Who decides (default: cli:$USER).
        #[arg(long)]
        by: Option<String>,
    },
    /// Moves a measure's deadline (延期); the history keeps the old one.
    Extend {
        /// The measure's code (序号).
        code: String,
        /// The new deadline, after today.
        #[arg(value_name = "YYYY-MM-DD")]
        date: NaiveDate,
        /// Why.
        #[arg(long)]
        reason: String,
        /// Who decides (default: cli:$USER).
        #[arg(long)]
        by: Option<String>,
    },
    /// Requests under the response rule (诉求/事项): add one, answer one.
    Request {
        #[command(subcommand)]
        action: RequestAction,
    },
    /// Lists requests with their limit and where they stand.
    Requests {
        /// The day to judge (default: today).
        #[arg(long, value_name = "YYYY-MM-DD")]
        at: Option<NaiveDate>,
        /// Prints a JSON array instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Shows a measure's history, in time order: creation, changes, claims, evidence, notes.
    History {
        /// The measure's code (序号).
        code: String,
        /// Prints JSON.
        #[arg(long)]
        json: bool,
    },
    /// Runs the service: the bot (Telegram, or the console when no token is set), the
    /// reminder schedule and the outbox, until SIGINT or SIGTERM. Several instances may run
    /// on one PostgreSQL database; SQLite takes one.
    Run {
        /// Webhook mode: the public HTTPS URL Telegram posts updates to (default:
        /// $DUBAN_TELEGRAM_WEBHOOK_URL; without one, long polling).
        #[arg(long, value_name = "URL")]
        webhook: Option<String>,
        /// Where the webhook listens, HOST:PORT (default: $DUBAN_TELEGRAM_WEBHOOK_LISTEN, then
        /// 0.0.0.0:8080).
        #[arg(long, value_name = "ADDR")]
        listen: Option<String>,
        /// Serve /healthz and /metrics on HOST:PORT (default: $DUBAN_HTTP_LISTEN; off
        /// unless set).
        #[arg(long, value_name = "ADDR")]
        http: Option<String>,
        /// Serve the web workbench on HOST:PORT (default: $DUBAN_WEB_LISTEN; off unless set,
        /// except in the console, which serves it on 127.0.0.1:8080).
        #[arg(long, value_name = "ADDR")]
        web: Option<String>,
    },
    /// Runs one reminder sweep and delivers its messages, then exits (for cron and tests).
    Remind {
        /// The moment to sweep for, RFC 3339 (default: now).
        #[arg(long, value_name = "RFC3339")]
        now: Option<DateTime<FixedOffset>>,
        /// Prints the messages the sweep would send, queueing nothing.
        #[arg(long)]
        dry_run: bool,
    },
    /// Makes the leadership digest (每日简报) and delivers it to every bound leader, then
    /// exits (for cron and tests). On the ledger's weekday the exported ledger goes with it.
    Digest {
        /// The moment to make it for, RFC 3339 (default: now).
        #[arg(long, value_name = "RFC3339")]
        now: Option<DateTime<FixedOffset>>,
        /// Prints the digest, writing and queueing nothing.
        #[arg(long)]
        dry_run: bool,
        /// Makes one on a day off too.
        #[arg(long)]
        force: bool,
    },
    /// 回头看: re-checks a measure closed long ago; confirms it (--confirm) or reopens it
    /// (--reopen, with --reason).
    Recheck {
        /// The measure's code.
        code: String,
        /// The re-check found the rectification holds: it stays closed.
        #[arg(long, conflicts_with = "reopen", required_unless_present = "reopen")]
        confirm: bool,
        /// The re-check found it does not hold: back to work.
        #[arg(long)]
        reopen: bool,
        /// What the re-check found (required with --reopen).
        #[arg(long, required_if_eq("reopen", "true"))]
        reason: Option<String>,
        /// Who re-checked, for the record (default: cli:$USER).
        #[arg(long)]
        by: Option<String>,
    },
    /// Issues the periodic 通报 (督办通报) of the last week or month: numbered per year, kept
    /// as a .docx under the data directory, and delivered with the document to every bound
    /// leader, unit head, liaison and office member (`notice.audience`), then exits.
    Notice {
        /// The period: the last full week, or the last full month.
        #[arg(long, default_value = "week", value_parser = ["week", "month"])]
        period: String,
        /// The moment to issue it at, RFC 3339 (default: now).
        #[arg(long, value_name = "RFC3339")]
        now: Option<DateTime<FixedOffset>>,
        /// Prints the notice, numbering, writing and queueing nothing.
        #[arg(long)]
        dry_run: bool,
    },
    /// Makes a one-time invitation code (valid 7 days) and its t.me link. The code is the
    /// last line of output.
    Invite {
        /// For a liaison or a unit head (head), the unit of the ledger; for a leader or
        /// office member, where they sit (e.g. 党工委, 整改办).
        unit: String,
        /// The role the code grants.
        #[arg(long, default_value = "liaison", value_parser = ["liaison", "leader", "office", "head"])]
        role: String,
        /// For a leader: the 责任领导 of the ledger this person is.
        #[arg(long)]
        name: Option<String>,
        /// Who makes it, for the record (default: cli:$USER).
        #[arg(long)]
        by: Option<String>,
    },
    /// Makes a one-time sign-in link to the web workbench (valid 15 minutes, usable once).
    /// The URL is the last line of output.
    WebLink {
        /// Who signs in, as the history will name them.
        name: String,
        /// Their role: the office does everything, a leader reads, a liaison answers for
        /// their unit.
        #[arg(long, value_parser = ["liaison", "leader", "office", "head"])]
        role: String,
        /// For a liaison or a unit head: the unit of the ledger.
        #[arg(long)]
        unit: Option<String>,
        /// Who makes it, for the record (default: cli:$USER).
        #[arg(long)]
        by: Option<String>,
    },
    /// Signs a person out of the web workbench on every browser, and voids their unused
    /// sign-in links.
    WebLogout {
        /// The name their sign-in link was made for.
        name: String,
    },
    /// Shows how a liaison's reply is read ("基本完成", "需要发改局支持"), or, with --words,
    /// every word duban recognises in replies.
    Reading {
        /// The reply, as a liaison would write it (a leading measure code is allowed).
        text: Option<String>,
        /// The measure it answers, for replies whose reading depends on it ("已完成招标").
        #[arg(long, value_name = "CODE")]
        measure: Option<String>,
        /// Lists the words of completion, progress, coordination, extension, questions,
        /// negation and plans that duban recognises.
        #[arg(long)]
        words: bool,
    },
    /// Loads the sample ledger (a fictional 某新区, its deadlines placed around today) into
    /// an empty database and shows today's measures.
    Demo {
        /// The day to judge (default: today).
        #[arg(long, value_name = "YYYY-MM-DD")]
        at: Option<NaiveDate>,
    },
}

#[derive(Subcommand)]
enum RequestAction {
    /// Adds a request for a unit; its limit comes from the response rule.
    Add {
        /// The unit that must answer.
        #[arg(long)]
        unit: String,
        /// consult (当天), general (一周) or major (一月).
        #[arg(long, value_parser = parse_category)]
        category: duban::core::rules::RequestCategory,
        /// What is asked.
        text: String,
        /// When it was raised, RFC 3339 (default: now).
        #[arg(long, value_name = "RFC3339")]
        now: Option<DateTime<FixedOffset>>,
        /// Who enters it (default: cli:$USER).
        #[arg(long)]
        by: Option<String>,
    },
    /// Answers a request, which closes it.
    Answer {
        /// The request: R12 or 12.
        id: String,
        /// The answer.
        text: String,
        /// When it was answered, RFC 3339 (default: now).
        #[arg(long, value_name = "RFC3339")]
        now: Option<DateTime<FixedOffset>>,
        /// Who answers (default: cli:$USER).
        #[arg(long)]
        by: Option<String>,
    },
}

fn parse_category(text: &str) -> Result<duban::core::rules::RequestCategory, String> {
    duban::core::workflow::parse_category(text)
        .ok_or_else(|| format!("unknown category {text:?}: use consult, general or major"))
}

fn parse_colour(text: &str) -> Result<Colour, String> {
    Colour::parse(text).ok_or_else(|| format!("unknown colour {text:?}: use red, yellow or green"))
}

fn parse_status(text: &str) -> Result<Status, String> {
    text.parse::<Status>().map_err(|e| e.to_string())
}

/// A message the command line ends with, already in the person's language: printed after
/// "错误：" / "error:" as it is.
#[derive(Debug)]
pub struct Refusal(pub String);

impl std::fmt::Display for Refusal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Refusal {}

/// Ends the command with `zh` or `en`, whichever `language` reads.
pub fn refuse<T>(language: Language, zh: String, en: String) -> anyhow::Result<T> {
    Err(Refusal(language.pick(zh, en)).into())
}

/// An error as the person reads it: each link of the chain (the command's context, then the
/// library's error) in their language, joined.
pub fn error_text(e: &anyhow::Error, language: Language) -> String {
    let parts: Vec<String> = e
        .chain()
        .map(|cause| {
            if let Some(r) = cause.downcast_ref::<Refusal>() {
                r.0.clone()
            } else if let Some(s) = cause.downcast_ref::<duban::store::StoreError>() {
                s.text(language)
            } else if let Some(i) = cause.downcast_ref::<duban::ingest::import::ImportError>() {
                i.text(language)
            } else if let Some(c) = cause.downcast_ref::<duban::config::ConfigError>() {
                language.pick(format!("配置有误：{c}"), c.to_string())
            } else {
                cause.to_string()
            }
        })
        .collect();
    let body = parts.join(language.pick("：", ": "));
    language.pick(format!("错误：{body}"), format!("error: {body}"))
}

/// The configured language, once a command has read its settings.
static LANGUAGE: std::sync::OnceLock<Language> = std::sync::OnceLock::new();

/// The language errors are told in: the configured one once the settings are read, else the
/// environment's (`DUBAN_LANGUAGE`), else Chinese.
pub fn language() -> Language {
    LANGUAGE.get().copied().unwrap_or_else(early_language)
}

fn early_language() -> Language {
    match std::env::var("DUBAN_LANGUAGE") {
        Ok(value) if value.trim().eq_ignore_ascii_case("en") => Language::En,
        _ => Language::Zh,
    }
}

/// The configured settings, the open store, and "today".
pub struct App {
    settings: Settings,
    store: Store,
    /// Whether the missing-holidays remark was made: once per command.
    warned: Cell<bool>,
}

impl App {
    async fn open(config: Option<&Path>) -> anyhow::Result<App> {
        let settings = Settings::load(config)?;
        let url = settings.config.database_url.expose().to_string();
        App::open_at(settings, &url).await
    }

    async fn open_at(settings: Settings, url: &str) -> anyhow::Result<App> {
        let language = settings.config.language;
        let _ = LANGUAGE.set(language);
        let store = Store::open_with_timeout(url, settings.database_timeout())
            .await
            .with_context(|| {
                language.pick(
                    format!("无法打开数据库{}", redact_url(url)),
                    format!("opening the database {}", redact_url(url)),
                )
            })?;
        // Telegram users the configuration names as office members become office members
        // of the ledger, once; from then on the office is whoever has the role.
        let admins: Vec<String> = settings
            .config
            .telegram
            .admins
            .iter()
            .map(i64::to_string)
            .collect();
        store
            .seed_office(
                duban::core::chat::ChannelKind::Telegram,
                &admins,
                Utc::now(),
            )
            .await?;
        Ok(App {
            settings,
            store,
            warned: Cell::new(false),
        })
    }

    fn language(&self) -> Language {
        self.settings.config.language
    }

    fn today(&self) -> NaiveDate {
        Utc::now()
            .with_timezone(&self.settings.timezone)
            .date_naive()
    }

    fn context(&self, at: NaiveDate) -> Context<'_> {
        Context {
            today: at,
            calendar: &self.settings.calendar,
            rules: &self.settings.config.rules,
            timezone: self.settings.timezone,
        }
    }

    /// A day as this person reads it.
    fn day(&self, day: NaiveDate) -> String {
        duban::core::text::date(day, self.language())
    }

    /// A change made from the command line.
    fn cli_change(by: Option<String>, note: Option<String>) -> Change {
        Change {
            actor: App::actor(by),
            source: Source::Cli,
            at: Utc::now(),
            note,
            chat: None,
        }
    }

    fn actor(by: Option<String>) -> String {
        by.unwrap_or_else(|| {
            format!(
                "cli:{}",
                std::env::var("USER").unwrap_or_else(|_| "office".into())
            )
        })
    }

    /// Warns, once per command, about a year the calendar has no holiday data for, when a
    /// day in it decides something shown: the day judged lies in it, or an open measure falls
    /// due in it within a month of that day or before it (its overdue count crosses the year).
    fn warn_uncovered(&self, at: NaiveDate, measures: &[Measure], assessments: &[Assessment<'_>]) {
        if self.warned.get() {
            return;
        }
        let calendar = &self.settings.calendar;
        let mut years = BTreeSet::new();
        if !calendar.covers(at.year()) {
            years.insert(at.year());
        }
        for (m, a) in measures.iter().zip(assessments) {
            let Some(due) = a.due else { continue };
            if m.status == Status::Closed || calendar.covers(due.year()) {
                continue;
            }
            if due <= at || (due - at).num_days() <= 31 {
                years.insert(due.year());
            }
        }
        if years.is_empty() {
            return;
        }
        self.warned.set(true);
        let list: Vec<String> = years.iter().map(i32::to_string).collect();
        out::err_line(self.language().pick(
            format!(
                "提示：尚未载入{}年的节假日安排，这些年份的工作日暂按周末计算。国务院办公厅通知发布后，把它写成与 data/holidays-cn.toml 相同格式的文件，并在 calendar.files 中列出。",
                list.join("、")
            ),
            format!(
                "note: no holiday data for {}: counting weekends only. Add the State Council notice in a file named by calendar.files",
                list.join(", ")
            ),
        ));
    }

    /// Every measure with its assessment on `at`, warning about years without holiday data
    /// when they matter.
    async fn assessed(&self, at: NaiveDate) -> anyhow::Result<(Vec<Measure>, Vec<Assessment<'_>>)> {
        let measures = self.store.measures().await?;
        let ctx = self.context(at);
        let assessments: Vec<Assessment> = measures.iter().map(|m| assess(m, &ctx)).collect();
        self.warn_uncovered(at, &measures, &assessments);
        Ok((measures, assessments))
    }
}

/// Runs the command line.
pub async fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    let config = cli.config.as_deref();
    match cli.command {
        Command::Migrate => {
            let settings = Settings::load(config)?;
            let language = settings.config.language;
            let _ = LANGUAGE.set(language);
            let url = settings.config.database_url.expose();
            let store = Store::connect(url).await.with_context(|| {
                language.pick(
                    format!("无法打开数据库{}", redact_url(url)),
                    format!("opening {}", redact_url(url)),
                )
            })?;
            let ran = store.migrate().await?;
            say!(
                "{}",
                language.pick(
                    format!("已对{}执行{ran}项数据库迁移", redact_url(url)),
                    format!("{ran} migration(s) applied to {}", redact_url(url)),
                )
            );
        }
        Command::Import {
            file,
            dry_run,
            sheet,
            by,
        } => return ledger::import_command(config, &file, dry_run, sheet, App::actor(by)).await,
        Command::Export { file, at } => {
            ledger::export(&App::open(config).await?, &file, at).await?
        }
        Command::Measures {
            at,
            unit,
            colour,
            status,
            json,
        } => {
            let app = App::open(config).await?;
            ledger::measures(&app, at, unit, colour, status, json).await?;
        }
        Command::Units { at, json } => ledger::units(&App::open(config).await?, at, json).await?,
        Command::SetStatus {
            code,
            status,
            note,
            by,
        } => measure::set_status(&App::open(config).await?, &code, status, note, by).await?,
        Command::Close { code, note, by } => {
            measure::close(&App::open(config).await?, &code, note, by).await?;
        }
        Command::Reject { code, reason, by } => {
            measure::reject(&App::open(config).await?, &code, reason, by).await?;
        }
        Command::Reopen { code, reason, by } => {
            measure::reopen(&App::open(config).await?, &code, reason, by).await?;
        }
        Command::Extend {
            code,
            date,
            reason,
            by,
        } => measure::extend(&App::open(config).await?, &code, date, reason, by).await?,
        Command::History { code, json } => {
            measure::history(&App::open(config).await?, &code, json).await?;
        }
        Command::Request { action } => {
            let app = App::open(config).await?;
            match action {
                RequestAction::Add {
                    unit,
                    category,
                    text,
                    now,
                    by,
                } => requests::add(&app, &unit, category, &text, now, by).await?,
                RequestAction::Answer { id, text, now, by } => {
                    requests::answer(&app, &id, &text, now, by).await?;
                }
            }
        }
        Command::Requests { at, json } => {
            requests::list(&App::open(config).await?, at, json).await?;
        }
        Command::Run {
            webhook,
            listen,
            http,
            web,
        } => return service::run(config, webhook, listen, http, web).await,
        Command::Remind { now, dry_run } => {
            return service::remind(&App::open(config).await?, now, dry_run).await;
        }
        Command::Digest {
            now,
            dry_run,
            force,
        } => return service::digest(&App::open(config).await?, now, dry_run, force).await,
        Command::Invite {
            unit,
            role,
            name,
            by,
        } => people::invite(&App::open(config).await?, &unit, &role, name, by).await?,
        Command::Recheck {
            code,
            confirm: _,
            reopen,
            reason,
            by,
        } => measure::recheck(&App::open(config).await?, &code, reopen, reason, by).await?,
        Command::Notice {
            period,
            now,
            dry_run,
        } => return service::notice(&App::open(config).await?, &period, now, dry_run).await,
        Command::WebLink {
            name,
            role,
            unit,
            by,
        } => people::web_link(&App::open(config).await?, &name, &role, unit, by).await?,
        Command::WebLogout { name } => people::web_logout(&App::open(config).await?, &name).await?,
        Command::Demo { at } => return ledger::demo(&App::open(config).await?, at).await,
        Command::Reading {
            text,
            measure,
            words,
        } => return reading::reading(config, text, measure, words).await,
    }
    Ok(ExitCode::SUCCESS)
}
