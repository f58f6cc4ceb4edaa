//! The `duban` command line: the office's tool to load, inspect, correct and export the
//! ledger.

use std::collections::BTreeSet;
use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Instant;

use anyhow::{Context as _, bail};
use chrono::{DateTime, Datelike, FixedOffset, NaiveDate, Utc};
use clap::{Parser, Subcommand};

use duban::config::{Settings, redact_url};
use duban::import::{ImportError, ImportOptions, import_file};
use duban::ledger::{Measure, Source, Status};
use duban::report::{MeasureRow, measure_table, status_label, unit_summaries};
use duban::rules::{Assessment, Colour, Context, assess};
use duban::store::{Change, Store};

/// 督办 duban: keeps a rectification ledger moving.
#[derive(Parser)]
#[command(version, about, long_about = None)]
struct Cli {
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
        /// Checks the file and reports what would change, writing nothing.
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
        /// The new deadline.
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
    /// Shows a measure's history and progress notes.
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
    /// Makes a one-time invitation code (valid 7 days) and its t.me link. The code is the
    /// last line of output.
    Invite {
        /// For a liaison, the unit of the ledger; for a leader or office member, where they
        /// sit (e.g. 党工委, 整改办).
        unit: String,
        /// The role the code grants.
        #[arg(long, default_value = "liaison", value_parser = ["liaison", "leader", "office"])]
        role: String,
        /// For a leader: the 责任领导 of the ledger this person is.
        #[arg(long)]
        name: Option<String>,
        /// Who makes it, for the record (default: cli:$USER).
        #[arg(long)]
        by: Option<String>,
    },
    /// Loads the sample ledger into an empty database and shows today's measures.
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
        category: duban::rules::RequestCategory,
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

fn parse_category(text: &str) -> Result<duban::rules::RequestCategory, String> {
    duban::workflow::parse_category(text)
        .ok_or_else(|| format!("unknown category {text:?}: use consult, general or major"))
}

fn parse_colour(text: &str) -> Result<Colour, String> {
    Colour::parse(text).ok_or_else(|| format!("unknown colour {text:?}: use red, yellow or green"))
}

fn parse_status(text: &str) -> Result<Status, String> {
    text.parse::<Status>().map_err(|e| e.to_string())
}

fn main() -> ExitCode {
    let filter = tracing_subscriber::EnvFilter::try_from_env("DUBAN_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn,duban=info"));
    // DUBAN_LOG_FORMAT=json: one JSON object a line, with time and fields, for collectors.
    let json = std::env::var("DUBAN_LOG_FORMAT").is_ok_and(|f| f.eq_ignore_ascii_case("json"));
    if json {
        tracing_subscriber::fmt()
            .json()
            .with_env_filter(filter)
            .with_writer(std::io::stderr)
            .with_current_span(false)
            .init();
    } else {
        tracing_subscriber::fmt()
            .with_env_filter(filter)
            .with_writer(std::io::stderr)
            .with_target(false)
            .without_time()
            .init();
    }
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(cli)) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

/// The configured settings, the open store, and "today".
struct App {
    settings: Settings,
    store: Store,
}

impl App {
    async fn open(config: Option<&Path>) -> anyhow::Result<App> {
        let settings = Settings::load(config)?;
        let url = settings.config.database_url.expose();
        let store = Store::open_with_timeout(url, settings.database_timeout())
            .await
            .with_context(|| format!("opening the database {}", redact_url(url)))?;
        Ok(App { settings, store })
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

    /// Delivers what is queued (for `remind` and `digest`), prints `what` with the outbox's
    /// counts, and fails when the channel refuses the bot.
    async fn deliver_now(&self, what: &str) -> anyhow::Result<ExitCode> {
        let token = &self.settings.config.telegram.token;
        let patience = std::time::Duration::from_secs(60);
        let sent = if token.is_empty() {
            let last = self
                .store
                .last_message_id(duban::console::CONSOLE_CHAT)
                .await?;
            duban::service::drain(
                &self.store,
                &duban::console::Console::after(last),
                &self.settings,
                patience,
            )
            .await?
        } else {
            let telegram = telegram(&self.settings)?;
            duban::service::drain(&self.store, &telegram, &self.settings, patience).await?
        };
        let counts = self.store.outbox_counts().await?;
        println!(
            "{what}, {} sent; outbox: {} pending, {} sent, {} given up",
            sent.sent, counts.pending, counts.sent, counts.dead
        );
        if let Some(why) = sent.refused {
            eprintln!(
                "error: Telegram refuses the bot ({why}): check DUBAN_TELEGRAM_TOKEN. \
                 The {} pending message(s) stay queued and go out once the token works.",
                counts.pending
            );
            return Ok(ExitCode::FAILURE);
        }
        Ok(ExitCode::SUCCESS)
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

    /// Queues a note of the office's decision on a measure's latest claim to the chat the
    /// claim came from; the running service delivers it.
    async fn tell_claimant(&self, code: &str, change: &Change) -> anyhow::Result<()> {
        let Some(claim) = self.store.claims(code).await?.pop() else {
            return Ok(());
        };
        let Some(chat) = claim.chat_id else {
            return Ok(());
        };
        let reason = claim.reason.clone().unwrap_or_default();
        let text = match (claim.state, self.settings.config.language) {
            (duban::workflow::ClaimState::Approved, duban::config::Language::Zh) => {
                format!("✅ {code} 销号申请已通过核验,已销号。")
            }
            (duban::workflow::ClaimState::Approved, duban::config::Language::En) => {
                format!("✅ {code}: the office verified it; the measure is closed.")
            }
            (duban::workflow::ClaimState::Rejected, duban::config::Language::Zh) => {
                format!("↩️ {code} 销号申请被退回,已回到推进中。理由:{reason}")
            }
            (duban::workflow::ClaimState::Rejected, duban::config::Language::En) => {
                format!(
                    "↩️ {code}: the claim was sent back; it is in progress again. Reason: {reason}"
                )
            }
            _ => return Ok(()),
        };
        self.store
            .enqueue(
                &format!("claim-decided:{}", claim.id),
                chat,
                None,
                "notice",
                &duban::chat::Message::text(text),
                change.at,
            )
            .await?;
        Ok(())
    }

    fn actor(by: Option<String>) -> String {
        by.unwrap_or_else(|| {
            format!(
                "cli:{}",
                std::env::var("USER").unwrap_or_else(|_| "office".into())
            )
        })
    }

    /// Counts per unit, in the ledger's order of units.
    async fn unit_summaries(
        &self,
        measures: &[Measure],
        assessments: &[Assessment<'_>],
    ) -> anyhow::Result<Vec<duban::report::UnitSummary>> {
        let units: Vec<(String, i64)> = self
            .store
            .units()
            .await?
            .into_iter()
            .map(|u| (u.name, u.liaisons))
            .collect();
        Ok(unit_summaries(&units, measures, assessments))
    }

    /// Warns, in one line, about the years the calendar has no holiday data for.
    fn warn_uncovered(&self, years: impl IntoIterator<Item = i32>) {
        let missing: Vec<String> = years
            .into_iter()
            .filter(|y| !self.settings.calendar.covers(*y))
            .map(|y| y.to_string())
            .collect();
        if missing.is_empty() {
            return;
        }
        tracing::warn!(
            "no holiday data for {}: counting weekends only. Add the State Council notice in a file named by calendar.files",
            missing.join(", ")
        );
    }

    /// Every measure with its assessment on `at`, warning about years without holiday data.
    async fn assessed(&self, at: NaiveDate) -> anyhow::Result<(Vec<Measure>, Vec<Assessment<'_>>)> {
        let measures = self.store.measures().await?;
        let ctx = self.context(at);
        let assessments: Vec<Assessment> = measures.iter().map(|m| assess(m, &ctx)).collect();
        let mut years: BTreeSet<i32> = assessments
            .iter()
            .filter_map(|a| a.due)
            .map(|d| d.year())
            .collect();
        years.insert(at.year());
        // Working days are counted across every year between the day asked and the dues.
        if let (Some(first), Some(last)) = (years.first().copied(), years.last().copied()) {
            self.warn_uncovered(first..=last);
        }
        Ok((measures, assessments))
    }
}

async fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    let config = cli.config.as_deref();
    match cli.command {
        Command::Migrate => {
            let settings = Settings::load(config)?;
            let url = settings.config.database_url.expose();
            let store = Store::connect(url)
                .await
                .with_context(|| format!("opening {}", redact_url(url)))?;
            let ran = store.migrate().await?;
            println!("{} migration(s) applied to {}", ran, redact_url(url));
        }
        Command::Import {
            file,
            dry_run,
            sheet,
            by,
        } => {
            let app = App::open(config).await?;
            return import(&app, &file, dry_run, sheet, App::actor(by)).await;
        }
        Command::Export { file, at } => {
            let app = App::open(config).await?;
            let at = at.unwrap_or_else(|| app.today());
            let (measures, assessments) = app.assessed(at).await?;
            let summaries = app.unit_summaries(&measures, &assessments).await?;
            let rows: Vec<(&Measure, &Assessment)> = measures.iter().zip(&assessments).collect();
            duban::export::write_ledger(
                &file,
                &rows,
                &summaries,
                at,
                app.settings.config.language,
            )?;
            println!(
                "wrote {} measures to {} (lights as of {at})",
                rows.len(),
                file.display()
            );
        }
        Command::Measures {
            at,
            unit,
            colour,
            status,
            json,
        } => {
            let app = App::open(config).await?;
            let at = at.unwrap_or_else(|| app.today());
            let (measures, assessments) = app.assessed(at).await?;
            let unit = unit.map(|u| duban::ledger::parse::name(&u));
            if let Some(unit) = &unit {
                check_unit(&app, unit).await?;
            }
            let rows: Vec<(&Measure, &Assessment)> = measures
                .iter()
                .zip(&assessments)
                .filter(|(m, a)| {
                    unit.as_ref().is_none_or(|u| m.involves(u))
                        && colour.is_none_or(|c| a.colour == c)
                        && status.is_none_or(|s| m.status == s)
                })
                .collect();
            print_measures(&app, &rows, at, json)?;
        }
        Command::Units { at, json } => {
            let app = App::open(config).await?;
            let at = at.unwrap_or_else(|| app.today());
            let (measures, assessments) = app.assessed(at).await?;
            let summaries = app.unit_summaries(&measures, &assessments).await?;
            if json {
                println!("{}", serde_json::to_string_pretty(&summaries)?);
            } else {
                use duban::report::fit;
                println!(
                    "{}  {}  {}  {}  {}  {}  联络员",
                    fit("单位", 24),
                    fit("牵头", 4),
                    fit("参与", 4),
                    fit("已销号", 6),
                    fit("红灯", 4),
                    fit("协办红灯", 8),
                );
                for s in &summaries {
                    println!(
                        "{}  {:>4}  {:>4}  {:>6}  {:>4}  {:>8}  {:>6}",
                        fit(&s.name, 24),
                        s.lead,
                        s.involved,
                        s.closed,
                        s.red,
                        s.red_shared,
                        s.liaisons
                    );
                }
                println!("{} units (lights as of {at})", summaries.len());
            }
        }
        Command::SetStatus {
            mut code,
            status,
            note,
            by,
        } => {
            code = duban::ledger::parse::code(&code);
            let app = App::open(config).await?;
            let change = Change {
                actor: App::actor(by),
                source: Source::Cli,
                at: Utc::now(),
                note,
                chat: None,
            };
            let done = app.store.set_status(&code, status, &change).await?;
            let language = app.settings.config.language;
            if done.from == done.to {
                println!(
                    "{code} is already {}; nothing changed",
                    status_label(done.to, language)
                );
            } else {
                println!(
                    "{code}: {} → {}",
                    status_label(done.from, language),
                    status_label(done.to, language)
                );
            }
        }
        Command::Close { code, note, by } => {
            let code = duban::ledger::parse::code(&code);
            let app = App::open(config).await?;
            let change = App::cli_change(by, note.clone());
            let status = app.store.measure(&code).await?.status;
            let done = match status {
                Status::Closed => bail!("{code} is closed already"),
                Status::Claimed => app
                    .store
                    .decide_claim(&code, true, note.as_deref(), &change)
                    .await?
                    .context("the claim was decided meanwhile")?,
                _ => app.store.set_status(&code, Status::Closed, &change).await?,
            };
            app.tell_claimant(&code, &change).await?;
            let language = app.settings.config.language;
            println!(
                "{code}: {} → {}",
                status_label(done.from, language),
                status_label(done.to, language)
            );
        }
        Command::Reject { code, reason, by } => {
            let code = duban::ledger::parse::code(&code);
            let app = App::open(config).await?;
            let change = App::cli_change(by, Some(reason.clone()));
            let status = app.store.measure(&code).await?.status;
            if status != Status::Claimed {
                bail!(
                    "{code} is {}, not claimed: only a claim can be sent back",
                    status.code()
                );
            }
            app.store
                .decide_claim(&code, false, Some(&reason), &change)
                .await?
                .context("the claim was decided meanwhile")?;
            app.tell_claimant(&code, &change).await?;
            println!("{code}: claim sent back ({reason}); in progress again");
        }
        Command::Reopen { code, reason, by } => {
            let code = duban::ledger::parse::code(&code);
            let app = App::open(config).await?;
            let change = App::cli_change(by, Some(reason.clone()));
            let status = app.store.measure(&code).await?.status;
            if status != Status::Closed {
                bail!(
                    "{code} is {}, not closed: nothing to re-open",
                    status.code()
                );
            }
            app.store
                .set_status(&code, Status::InProgress, &change)
                .await?;
            println!("{code}: re-opened ({reason}); in progress");
        }
        Command::Extend {
            code,
            date,
            reason,
            by,
        } => {
            let code = duban::ledger::parse::code(&code);
            let app = App::open(config).await?;
            let today = Utc::now()
                .with_timezone(&app.settings.timezone)
                .date_naive();
            if date <= today {
                bail!("the new deadline {date} must be after today ({today})");
            }
            let measure = app.store.measure(&code).await?;
            match duban::workflow::extension_refusal(&measure.deadline, date) {
                Some(duban::workflow::ExtensionRefusal::LongTerm) => bail!(
                    "{code} is long-term (长期坚持): it reports every cycle and has no deadline to extend"
                ),
                Some(duban::workflow::ExtensionRefusal::NotLater(current)) => bail!(
                    "the new deadline {date} must be after {code}'s current deadline {current}"
                ),
                None => {}
            }
            let change = App::cli_change(by, Some(reason));
            let old = app.store.extend(&code, date, &change).await?;
            println!("{code}: deadline {old} → {date}");
        }
        Command::Request { action } => return request(config, action).await,
        Command::Requests { at, json } => {
            let app = App::open(config).await?;
            let at = at.unwrap_or_else(|| app.today());
            let requests = app.store.requests().await?;
            let calendar = &app.settings.calendar;
            if json {
                let rows: Vec<serde_json::Value> = requests
                    .iter()
                    .map(|r| {
                        let mut row = serde_json::to_value(r).expect("a request serializes");
                        row["code"] = r.code().into();
                        row["category"] = duban::workflow::category_code(r.category).into();
                        row["state"] = serde_json::to_value(r.state(at, calendar))
                            .expect("a state serializes");
                        row
                    })
                    .collect();
                println!("{}", serde_json::to_string_pretty(&rows)?);
                return Ok(ExitCode::SUCCESS);
            }
            let language = app.settings.config.language;
            for r in &requests {
                let state = match r.state(at, calendar) {
                    duban::workflow::RequestState::Open { working_days_left } => {
                        format!("open, {working_days_left} working day(s) left")
                    }
                    duban::workflow::RequestState::Late { overdue_days } => {
                        format!("LATE by {overdue_days} working day(s)")
                    }
                    duban::workflow::RequestState::AnsweredInTime => "answered in time".into(),
                    duban::workflow::RequestState::AnsweredLate { overdue_days } => {
                        format!("answered {overdue_days} working day(s) late")
                    }
                };
                println!(
                    "{:<5} {}  {:<6} due {}  {}  {}",
                    r.code(),
                    duban::report::fit(&r.unit, 12),
                    duban::workflow::category_label(r.category, language),
                    r.due,
                    state,
                    duban::report::fit(&r.body, 40)
                );
            }
            println!("{} request(s) (as of {at})", requests.len());
        }
        Command::History { code, json } => {
            let code = duban::ledger::parse::code(&code);
            let app = App::open(config).await?;
            let history = app.store.history(&code).await?;
            let notes = app.store.notes(&code).await?;
            let claims = app.store.claims(&code).await?;
            let evidence = app.store.evidence(&code).await?;
            if json {
                let value = serde_json::json!({
                    "code": code,
                    "history": history,
                    "notes": notes,
                    "claims": claims,
                    "evidence": evidence,
                });
                println!("{}", serde_json::to_string_pretty(&value)?);
            } else {
                let tz = app.settings.timezone;
                let language = app.settings.config.language;
                for h in &history {
                    let change = match (&h.old, &h.new) {
                        (Some(old), Some(new)) => format!("{} {old} → {new}", h.kind),
                        _ => format!(
                            "{} → {}",
                            h.from.map_or("—", |s| status_label(s, language)),
                            status_label(h.to, language)
                        ),
                    };
                    println!(
                        "{}  {:<6}  {:<9}  {}  {change}  {}",
                        h.at.with_timezone(&tz).format("%Y-%m-%d %H:%M"),
                        h.source.code(),
                        h.kind,
                        h.actor,
                        h.note.as_deref().unwrap_or("")
                    );
                }
                for e in &evidence {
                    println!(
                        "{}  evidence  {}  {} ({} bytes, sha256 {})",
                        e["at"].as_str().unwrap_or_default(),
                        e["sent_by"].as_str().unwrap_or_default(),
                        e["file_name"].as_str().unwrap_or_default(),
                        e["size"],
                        e["sha256"].as_str().unwrap_or_default(),
                    );
                }
                for n in &notes {
                    println!(
                        "{}  note    {}  {}",
                        n.at.with_timezone(&tz).format("%Y-%m-%d %H:%M"),
                        n.author,
                        n.body
                    );
                }
            }
        }
        Command::Run {
            webhook,
            listen,
            http,
        } => return run_service(config, webhook, listen, http).await,
        Command::Remind { now, dry_run } => {
            let app = App::open(config).await?;
            let at = now.map_or_else(Utc::now, |n| n.with_timezone(&Utc));
            let outcome = duban::service::plan_sweep(&app.store, &app.settings, at, false).await?;
            if outcome.day_off {
                println!(
                    "{} is a day off: no reminders (schedule.send_on_days_off turns them on)",
                    outcome.day
                );
                return Ok(ExitCode::SUCCESS);
            }
            if dry_run {
                for p in &outcome.planned {
                    println!(
                        "── to chat {} ({}) ──\n{}\n",
                        p.chat_id, p.kind, p.message.text
                    );
                }
                println!(
                    "{} message(s) planned for {} (dry run: nothing queued)",
                    outcome.planned.len(),
                    outcome.day
                );
                return Ok(ExitCode::SUCCESS);
            }
            if app.settings.config.telegram.token.is_empty() {
                refuse_console_over_telegram(&app.store).await?;
            }
            let queued = app
                .store
                .enqueue_sweep(
                    duban::service::SWEEP,
                    outcome.day,
                    &outcome.planned,
                    Utc::now(),
                )
                .await?;
            return app
                .deliver_now(&format!(
                    "sweep of {}: {} message(s) planned, {queued} new",
                    outcome.day,
                    outcome.planned.len()
                ))
                .await;
        }
        Command::Digest {
            now,
            dry_run,
            force,
        } => {
            let app = App::open(config).await?;
            let at = now.map_or_else(Utc::now, |n| n.with_timezone(&Utc));
            if !dry_run && app.settings.config.telegram.token.is_empty() {
                refuse_console_over_telegram(&app.store).await?;
            }
            let outcome =
                duban::service::digest(&app.store, &app.settings, at, force, dry_run).await?;
            if outcome.day_off {
                println!(
                    "{} is a day off: no digest (--force makes one)",
                    outcome.day
                );
                return Ok(ExitCode::SUCCESS);
            }
            let leaders: BTreeSet<i64> = outcome.planned.iter().map(|p| p.chat_id).collect();
            if dry_run {
                if let Some(digest) = &outcome.digest {
                    println!("{}\n", digest.text);
                }
                println!(
                    "would write chart: {}{}",
                    outcome.chart.as_deref().unwrap_or("-"),
                    match &outcome.ledger {
                        Some(ledger) => format!("; ledger: {ledger}"),
                        None => String::new(),
                    }
                );
                println!(
                    "{} message(s) planned for {} leader(s) on {} (dry run: nothing written or queued)",
                    outcome.planned.len(),
                    leaders.len(),
                    outcome.day
                );
                return Ok(ExitCode::SUCCESS);
            }
            if leaders.is_empty() {
                println!(
                    "digest of {}: no leader is bound, so nothing was sent (duban invite PLACE --role leader)",
                    outcome.day
                );
            }
            return app
                .deliver_now(&format!(
                    "digest of {}: {} message(s) for {} leader(s), {} new; chart {}",
                    outcome.day,
                    outcome.planned.len(),
                    leaders.len(),
                    outcome.queued,
                    app.settings
                        .config
                        .data_dir
                        .join(outcome.chart.as_deref().unwrap_or_default())
                        .display()
                ))
                .await;
        }
        Command::Invite {
            unit,
            role,
            name,
            by,
        } => {
            let app = App::open(config).await?;
            let role = duban::ledger::Role::from_code(&role).expect("clap checks the role");
            let unit = duban::ledger::parse::name(&unit);
            let code = invitation_code();
            let now = Utc::now();
            let expires = now + chrono::Duration::days(7);
            let hash = duban::bot::code_hash(&code);
            let liaison = role == duban::ledger::Role::Liaison;
            app.store
                .create_invite(&duban::store::NewInvite {
                    code_hash: &hash,
                    role,
                    unit: liaison.then_some(unit.as_str()),
                    place: (!liaison).then_some(unit.as_str()),
                    person_name: name.as_deref(),
                    created_by: &App::actor(by),
                    at: now,
                    expires_at: expires,
                })
                .await?;
            let until = expires
                .with_timezone(&app.settings.timezone)
                .format("%Y-%m-%d %H:%M");
            println!(
                "Invitation for {unit} ({}), single use, valid until {until} ({}).",
                role.code(),
                app.settings.config.timezone
            );
            match bot_username(&app.settings).await {
                Some(user) => println!("Link: https://t.me/{user}?start={code}"),
                None => println!(
                    "Link: set telegram.bot_username or DUBAN_TELEGRAM_TOKEN to get the t.me link."
                ),
            }
            println!("Or send the bot: /bind {code}");
            println!("{code}");
        }
        Command::Demo { at } => {
            let app = App::open(config).await?;
            if app.store.measures().await?.is_empty() {
                let dir = tempfile_dir()?;
                let path = dir.join("滨海新区整改台账-样例.xlsx");
                std::fs::write(&path, duban::sample::SAMPLE_XLSX)
                    .context("writing the sample ledger")?;
                let code = import(&app, &path, false, None, "demo".into()).await?;
                let _ = std::fs::remove_dir_all(&dir);
                if code != ExitCode::SUCCESS {
                    return Ok(code);
                }
                println!();
            }
            let at = at.unwrap_or_else(|| app.today());
            let (measures, assessments) = app.assessed(at).await?;
            let rows: Vec<(&Measure, &Assessment)> = measures.iter().zip(&assessments).collect();
            print_measures(&app, &rows, at, false)?;
            println!(
                "\nNext: duban measures --colour red · duban set-status CODE closed · duban export ledger.xlsx · duban --help"
            );
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// A random invitation code: 12 characters of an alphabet without 0/O, 1/I/L.
fn invitation_code() -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHJKMNPQRSTUVWXYZ23456789";
    let mut bytes = [0u8; 12];
    getrandom::fill(&mut bytes).expect("the system's random source");
    bytes
        .iter()
        .map(|b| ALPHABET[*b as usize % ALPHABET.len()] as char)
        .collect()
}

fn telegram(settings: &Settings) -> anyhow::Result<duban::telegram::Telegram> {
    let config = &settings.config.telegram;
    Ok(duban::telegram::Telegram::new(
        &config.token,
        &config.api_url,
        std::time::Duration::from_secs(config.poll_timeout_seconds),
    )?
    .with_data_dir(&settings.config.data_dir))
}

/// The bot's username: from config, else from the server when a token is set.
async fn bot_username(settings: &Settings) -> Option<String> {
    let configured = settings
        .config
        .telegram
        .bot_username
        .trim_start_matches('@');
    if !configured.is_empty() {
        return Some(configured.to_string());
    }
    if settings.config.telegram.token.is_empty() {
        return None;
    }
    let telegram = telegram(settings).ok()?;
    telegram.username().await.ok().filter(|u| !u.is_empty())
}

/// Waits for SIGINT or SIGTERM.
async fn shutdown_signal() {
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = terminate => {}
    }
}

/// Stops the console from taking over a database whose people are bound in Telegram: it
/// would print, and mark as sent, messages meant for them.
async fn refuse_console_over_telegram(store: &duban::store::Store) -> anyhow::Result<()> {
    if store
        .has_chat_bindings(duban::console::CONSOLE_CHAT)
        .await?
    {
        anyhow::bail!(
            "this database has people or groups bound in Telegram, but no bot token is set \
             (DUBAN_TELEGRAM_TOKEN): without it their messages would print here instead of \
             reaching them. Set the token, or use another database for the console."
        );
    }
    Ok(())
}

/// `duban run`.
async fn run_service(
    config: Option<&Path>,
    webhook: Option<String>,
    listen: Option<String>,
    http: Option<String>,
) -> anyhow::Result<ExitCode> {
    use duban::service::{Instance, POLL_LEASE, SCHEDULE_LEASE, Service};
    use std::sync::Arc;
    let app = App::open(config).await?;
    let mut settings = app.settings.clone();
    if let Some(url) = webhook {
        settings.config.telegram.webhook_url = url;
    }
    if let Some(addr) = listen {
        settings.config.telegram.webhook_listen = addr;
    }
    if let Some(addr) = http {
        settings.config.http_listen = addr;
    }
    let settings = Arc::new(settings);
    // SQLite is for one instance: a second `duban run` on the same file is refused.
    let _sqlite_lock = lock_sqlite(&app.store).await?;
    let (stop_tx, stop) = tokio::sync::watch::channel(false);
    let wake = Arc::new(tokio::sync::Notify::new());
    if settings.config.telegram.token.is_empty() {
        // The console: the whole loop in a terminal, on the sample ledger when the database
        // is empty. Under a service manager (input from /dev/null) a missing token is a
        // mistake, not a wish for the console: it would load the sample into the database.
        if std::fs::read_link("/proc/self/fd/0").is_ok_and(|p| p == Path::new("/dev/null")) {
            bail!(
                "no DUBAN_TELEGRAM_TOKEN, and no input for the console (stdin is /dev/null): \
                 set the token to run the bot"
            );
        }
        if app.store.measures().await?.is_empty() {
            let dir = tempfile_dir()?;
            let path = dir.join("滨海新区整改台账-样例.xlsx");
            std::fs::write(&path, duban::sample::SAMPLE_XLSX)
                .context("writing the sample ledger")?;
            import(&app, &path, false, None, "console".into()).await?;
            let _ = std::fs::remove_dir_all(&dir);
        }
        refuse_console_over_telegram(&app.store).await?;
        let chat = duban::console::CONSOLE_CHAT;
        let console = duban::console::Console::after(app.store.last_message_id(chat).await?);
        app.store
            .bind_everywhere(chat, chat, "控制台联络员", Utc::now())
            .await?;
        println!(
            "duban console: no DUBAN_TELEGRAM_TOKEN, so messages print here and you answer as a liaison of every unit.\n\
             Reply to the latest reminder (\"3-2 已完成\", \"3-2 60% 合同已签\", \"3-2 需协调 原因\"), press a button with !N, \
             or try /list and /help. End with Ctrl-D.\n"
        );
        let service = Arc::new(Service {
            store: app.store.clone(),
            settings: Arc::clone(&settings),
            channel: console.clone(),
            wake: Arc::clone(&wake),
            stop,
            instance: Arc::new(Instance::alone()),
        });
        let first = app.store.last_update_id().await?.unwrap_or(0);
        // A newcomer sees today's reminders at once, whatever the day.
        let outcome = duban::service::sweep(&app.store, &settings, Utc::now(), true).await?;
        if outcome.planned.is_empty() {
            println!("(nothing is due or overdue today: try `duban measures`)");
        }
        let delivering = tokio::spawn(Arc::clone(&service).deliver_loop());
        let polling = tokio::spawn(Arc::clone(&service).poll_loop(console.input(first)));
        tokio::select! {
            _ = shutdown_signal() => {}
            _ = polling => {}
        }
        // Let what was queued by the last line go out, then stop.
        tokio::time::sleep(std::time::Duration::from_millis(300)).await;
        let _ = stop_tx.send(true);
        let _ = delivering.await;
        app.store.close().await;
        return Ok(ExitCode::SUCCESS);
    }
    let telegram = telegram(&settings)?;
    // The commands menu: retried in the background until the server takes it.
    let commands = telegram.clone();
    let language = settings.config.language;
    tokio::spawn(async move {
        let mut wait = std::time::Duration::from_secs(1);
        while let Err(e) = commands.register_commands(language).await {
            tracing::warn!("registering the bot's commands: {e}; retrying");
            tokio::time::sleep(wait).await;
            wait = (wait * 2).min(std::time::Duration::from_secs(300));
        }
    });
    let instance = Arc::new(Instance::new());
    let service = Arc::new(Service {
        store: app.store.clone(),
        settings: Arc::clone(&settings),
        channel: telegram.clone(),
        wake: Arc::clone(&wake),
        stop: stop.clone(),
        instance: Arc::clone(&instance),
    });
    tracing::info!(instance = %instance.id, "starting");
    let webhook_url = settings.config.telegram.webhook_url.clone();
    let mut servers = Vec::new();
    if !settings.config.http_listen.is_empty() {
        let addr = settings.config.http_listen.clone();
        let listener = tokio::net::TcpListener::bind(&addr)
            .await
            .with_context(|| format!("listening on {addr} (DUBAN_HTTP_LISTEN)"))?;
        tracing::info!("health and metrics on http://{}", listener.local_addr()?);
        let router = duban::http::ops_router(Arc::clone(&service));
        servers.push(tokio::spawn(duban::http::serve(
            listener,
            router,
            stop.clone(),
        )));
    }
    let mut leases = Vec::new();
    if settings.config.schedule.enabled {
        leases.push(SCHEDULE_LEASE);
    }
    if webhook_url.is_empty() {
        leases.push(POLL_LEASE);
    } else {
        let secret = duban::http::webhook_secret(&settings)?;
        let path = duban::http::webhook_path(&webhook_url)?;
        let addr = match settings.config.telegram.webhook_listen.as_str() {
            "" => "0.0.0.0:8080".to_string(),
            addr => addr.to_string(),
        };
        let listener = tokio::net::TcpListener::bind(&addr)
            .await
            .with_context(|| format!("listening for the webhook on {addr}"))?;
        tracing::info!("webhook on {} (path {path})", listener.local_addr()?);
        let router = duban::http::webhook_router(Arc::clone(&service), &path, secret.clone());
        servers.push(tokio::spawn(duban::http::serve(
            listener,
            router,
            stop.clone(),
        )));
        // Every instance tells Telegram the same URL and secret; retried until it takes it.
        let hook = telegram.clone();
        let url = webhook_url.clone();
        tokio::spawn(async move {
            let mut wait = std::time::Duration::from_secs(1);
            while let Err(e) = hook.set_webhook(&url, &secret).await {
                tracing::warn!("setting the webhook: {e}; retrying");
                tokio::time::sleep(wait).await;
                wait = (wait * 2).min(std::time::Duration::from_secs(300));
            }
            tracing::info!("the webhook is set");
        });
    }
    let leasing = tokio::spawn(Arc::clone(&service).lease_loop(leases));
    let mut scheduler = match settings.config.schedule.enabled {
        true => Some(
            service
                .start_schedule()
                .await
                .context("starting the schedule")?,
        ),
        false => None,
    };
    let delivering = tokio::spawn(Arc::clone(&service).deliver_loop());
    let polling = match webhook_url.is_empty() {
        true => {
            // A webhook left from webhook mode would make Telegram refuse getUpdates.
            if let Err(e) = telegram.delete_webhook().await {
                tracing::warn!("removing a webhook: {e}");
            }
            let updates = duban::telegram::TelegramUpdates {
                telegram,
                timeout: std::time::Duration::from_secs(
                    settings.config.telegram.poll_timeout_seconds,
                ),
            };
            Some(tokio::spawn(Arc::clone(&service).poll_loop(updates)))
        }
        false => None,
    };
    tracing::info!("duban is running");
    shutdown_signal().await;
    tracing::info!("stopping: finishing what is being sent");
    let _ = stop_tx.send(true);
    if let Some(scheduler) = scheduler.as_mut() {
        let _ = scheduler.shutdown().await;
    }
    let _ = delivering.await;
    if let Some(polling) = polling {
        let _ = polling.await;
    }
    for server in servers {
        let _ = server.await;
    }
    let _ = leasing.await;
    app.store.close().await;
    Ok(ExitCode::SUCCESS)
}

/// Takes the lock that keeps a second `duban run` off an SQLite file; `None` for PostgreSQL.
/// The lock is the operating system's on a file beside the database, so it ends with the
/// process, however that ends.
async fn lock_sqlite(store: &duban::store::Store) -> anyhow::Result<Option<std::fs::File>> {
    let Some(file) = store.sqlite_file().await? else {
        return Ok(None);
    };
    let mut name = file.clone().into_os_string();
    name.push(".run-lock");
    let lock = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&name)
        .with_context(|| format!("opening {}", PathBuf::from(&name).display()))?;
    match lock.try_lock() {
        Ok(()) => Ok(Some(lock)),
        Err(std::fs::TryLockError::WouldBlock) => bail!(
            "another `duban run` is using {}: SQLite takes one instance. Stop the other one, \
             or use PostgreSQL (DUBAN_DATABASE_URL=postgres://…) to run several.",
            file.display()
        ),
        Err(std::fs::TryLockError::Error(e)) => {
            Err(e).with_context(|| format!("locking {}", PathBuf::from(&name).display()))
        }
    }
}

fn tempfile_dir() -> anyhow::Result<PathBuf> {
    let dir = std::env::temp_dir().join(format!("duban-demo-{}", std::process::id()));
    std::fs::create_dir_all(&dir).context("creating a temporary directory")?;
    Ok(dir)
}

async fn check_unit(app: &App, unit: &str) -> anyhow::Result<()> {
    let units = app.store.units().await?;
    if units.iter().any(|u| u.name == unit) {
        return Ok(());
    }
    let nearest = duban::store::nearest(unit, units.iter().map(|u| u.name.as_str()));
    if nearest.is_empty() {
        bail!("no such unit {unit:?}; `duban units` lists them");
    }
    bail!(
        "no such unit {unit:?} (did you mean {}?)",
        nearest.join(", ")
    );
}

fn print_measures(
    app: &App,
    rows: &[(&Measure, &Assessment)],
    at: NaiveDate,
    json: bool,
) -> anyhow::Result<()> {
    let language = app.settings.config.language;
    if json {
        let out: Vec<MeasureRow> = rows
            .iter()
            .map(|(m, a)| MeasureRow::new(m, a, language))
            .collect();
        let stdout = std::io::stdout();
        let mut lock = std::io::BufWriter::new(stdout.lock());
        serde_json::to_writer(&mut lock, &out)?;
        use std::io::Write;
        writeln!(lock)?;
        return Ok(());
    }
    let painted = std::io::stdout().is_terminal() && std::env::var_os("NO_COLOR").is_none();
    print!("{}", measure_table(rows, language, painted));
    let count = |c: Colour| rows.iter().filter(|(_, a)| a.colour == c).count();
    println!(
        "{} measures on {at}: {} red, {} yellow, {} green",
        rows.len(),
        count(Colour::Red),
        count(Colour::Yellow),
        count(Colour::Green)
    );
    Ok(())
}

/// The running count of a large import: on a terminal, one line rewritten in place; in a
/// log, a line every 20,000 rows.
fn report_progress(rows: usize) {
    if std::io::stderr().is_terminal() {
        eprint!("\rread {rows} rows…");
    } else if rows >= 20_000 && rows % 20_000 < duban::import::BATCH_LINES {
        eprintln!("read {rows} rows");
    }
}

async fn import(
    app: &App,
    file: &Path,
    dry_run: bool,
    sheet: Option<String>,
    actor: String,
) -> anyhow::Result<ExitCode> {
    let started = Instant::now();
    let options = ImportOptions {
        dry_run,
        sheet,
        actor,
        at: Utc::now(),
        progress: Some(report_progress),
    };
    let result = import_file(&app.store, file, options).await;
    if std::io::stderr().is_terminal() {
        eprint!("\r");
    }
    let report = match result {
        Ok(report) => report,
        Err(ImportError::Cells(problems)) => {
            eprintln!(
                "error: {} problem(s) in {}; nothing was imported:",
                problems.len(),
                file.display()
            );
            for p in &problems {
                eprintln!("  {p}");
            }
            return Ok(ExitCode::FAILURE);
        }
        Err(e) => return Err(e.into()),
    };
    let o = &report.outcome;
    let verb = if dry_run {
        "checked (dry run, nothing written)"
    } else {
        "imported"
    };
    let memory = peak_memory_mib().map_or(String::new(), |m| format!(", peak memory {m} MiB"));
    println!(
        "{verb} {}: {} rows — {} new, {} updated, {} unchanged ({:.2} s{memory})",
        file.display(),
        o.rows,
        o.created.len(),
        o.updated.len(),
        o.unchanged,
        started.elapsed().as_secs_f64()
    );
    if !o.new_units.is_empty() || !o.new_leaders.is_empty() {
        println!(
            "  new units: {}; new leaders: {}; progress notes: {}",
            o.new_units.len(),
            o.new_leaders.len(),
            o.notes_added
        );
    }
    if !o.updated.is_empty() {
        println!("  updated: {}", sample_list(&o.updated));
    }
    if !o.missing.is_empty() {
        println!(
            "  {} measure(s) in the ledger are not in this file and were kept: {}",
            o.missing.len(),
            sample_list(&o.missing)
        );
    }
    if !o.status_kept.is_empty() {
        let language = app.settings.config.language;
        let shown: Vec<String> = o
            .status_kept
            .iter()
            .map(|k| {
                format!(
                    "{} (file {}, ledger {})",
                    k.code,
                    status_label(k.file, language),
                    status_label(k.ledger, language)
                )
            })
            .collect();
        println!(
            "  {} status(es) in the file differ from the ledger, which keeps its own (use set-status to change): {}",
            shown.len(),
            sample_list(&shown)
        );
    }
    for w in &report.warnings {
        eprintln!("warning: {}", w.0);
    }
    app.warn_uncovered(report.deadline_years.iter().copied());
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
fn sample_list(items: &[String]) -> String {
    const SHOWN: usize = 20;
    if items.len() <= SHOWN {
        return items.join(", ");
    }
    format!(
        "{} … and {} more",
        items[..SHOWN].join(", "),
        items.len() - SHOWN
    )
}

/// `duban request add|answer`.
async fn request(config: Option<&Path>, action: RequestAction) -> anyhow::Result<ExitCode> {
    let app = App::open(config).await?;
    match action {
        RequestAction::Add {
            unit,
            category,
            text,
            now,
            by,
        } => {
            let at = now.map_or_else(Utc::now, |n| n.with_timezone(&Utc));
            let raised_on = at.with_timezone(&app.settings.timezone).date_naive();
            let due = duban::rules::response_due(
                raised_on,
                category,
                &app.settings.config.rules.response,
                &app.settings.calendar,
            );
            let text = text.trim();
            if text.is_empty() {
                bail!("the request's text is empty");
            }
            let unit = duban::ledger::parse::name(&unit);
            let actor = App::actor(by);
            let id = app
                .store
                .add_request(&duban::store::NewRequest {
                    unit: &unit,
                    category,
                    body: text,
                    raised_on,
                    due,
                    by: &actor,
                    at,
                })
                .await?;
            println!(
                "{}: {unit}, {}, raised {raised_on}, due {due}",
                duban::workflow::request_code(id),
                duban::workflow::category_code(category)
            );
        }
        RequestAction::Answer { id, text, now, by } => {
            let Some(number) = duban::workflow::parse_request_code(&id) else {
                bail!("{id:?} is not a request: write R12 or 12");
            };
            let code = duban::workflow::request_code(number);
            let Some(request) = app.store.request(number).await? else {
                bail!("no request {code}");
            };
            let text = text.trim();
            if text.is_empty() {
                bail!("the answer is empty");
            }
            let at = now.map_or_else(Utc::now, |n| n.with_timezone(&Utc));
            let on = at.with_timezone(&app.settings.timezone).date_naive();
            if !app
                .store
                .answer_request(number, text, &App::actor(by), at, on)
                .await?
            {
                bail!("{code} was answered already");
            }
            let late = on > request.due;
            println!(
                "{code}: answered on {on} (due {}){}",
                request.due,
                if late { ", late" } else { "" }
            );
        }
    }
    Ok(ExitCode::SUCCESS)
}
