//! The service commands: `run` (Telegram, or the console without a token), `remind` and
//! `digest`.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::Context as _;
use chrono::{DateTime, FixedOffset, Utc};

use duban::channels::Channels;
use duban::channels::console::{Console, console_chat};
use duban::config::Settings;
use duban::core::chat::{Address, ChannelKind};
use duban::core::text::Language;
use duban::store::Store;

use super::{App, out, refuse, say};

/// The Telegram channel of the settings, keeping to the configured rates.
pub fn telegram(settings: &Settings) -> anyhow::Result<duban::channels::telegram::Telegram> {
    let config = &settings.config.telegram;
    let rates = &settings.config.delivery;
    Ok(duban::channels::telegram::Telegram::new(
        &config.token,
        &config.api_url,
        std::time::Duration::from_secs(config.poll_timeout_seconds),
    )?
    .with_data_dir(&settings.config.data_dir)
    .with_rates(
        rates.per_chat_per_second,
        rates.per_group_per_minute,
        rates.per_second,
    ))
}

/// The DingTalk robot of the settings, keeping to the configured rates.
pub fn dingtalk(settings: &Settings) -> anyhow::Result<duban::channels::dingtalk::DingTalk> {
    let config = &settings.config.dingtalk;
    Ok(
        duban::channels::dingtalk::DingTalk::new(duban::channels::dingtalk::DingTalkSettings {
            client_id: config.client_id.clone(),
            client_secret: config.client_secret.clone(),
            robot_code: config.robot().to_string(),
            api_url: config.api_url.clone(),
            oapi_url: config.oapi_url.clone(),
            language: settings.config.language,
        })?
        .with_data_dir(&settings.config.data_dir)
        .with_rates(config.per_second, config.per_group_per_minute),
    )
}

/// The channels the settings run, each an object of its own.
async fn channels(app: &App) -> anyhow::Result<Channels> {
    let mut channels = Channels::new();
    for kind in app.settings.config.channels() {
        channels = match kind {
            ChannelKind::Telegram => channels.with(Arc::new(telegram(&app.settings)?)),
            ChannelKind::DingTalk => channels.with(Arc::new(dingtalk(&app.settings)?)),
            ChannelKind::Console => {
                let last = app.store.last_message_id(&console_chat()).await?;
                channels.with(Arc::new(Console::after(last.as_deref(), app.language())))
            }
        };
    }
    Ok(channels)
}

/// Delivers what is queued (for `remind` and `digest`), prints `what` with the outbox's
/// counts, and fails when the channel refuses the bot.
async fn deliver_now(app: &App, what: String) -> anyhow::Result<ExitCode> {
    let language = app.language();
    let patience = std::time::Duration::from_secs(60);
    let mut sent = duban::service::Drained::default();
    for channel in channels(app).await?.all() {
        let drained =
            duban::service::drain(&app.store, channel.as_ref(), &app.settings, patience).await?;
        sent.sent += drained.sent;
        sent.refused = sent.refused.or(drained.refused);
    }
    let counts = app.store.outbox_counts().await?;
    say!(
        "{}",
        language.pick(
            format!(
                "{what}，已发送{}条；发件箱：待发{}条，已发{}条，放弃{}条",
                sent.sent, counts.pending, counts.sent, counts.dead
            ),
            format!(
                "{what}, {} sent; outbox: {} pending, {} sent, {} given up",
                sent.sent, counts.pending, counts.sent, counts.dead
            )
        )
    );
    if let Some(why) = sent.refused {
        out::err_line(language.pick(
            format!(
                "错误：Telegram 拒绝了机器人（{why}），请检查 DUBAN_TELEGRAM_TOKEN。待发的{}条消息仍在队列中，令牌可用后即发出。",
                counts.pending
            ),
            format!(
                "error: Telegram refuses the bot ({why}): check DUBAN_TELEGRAM_TOKEN. The {} pending message(s) stay queued and go out once the token works.",
                counts.pending
            ),
        ));
        return Ok(ExitCode::FAILURE);
    }
    Ok(ExitCode::SUCCESS)
}

/// The console prints at once: Telegram's pacing does not apply to a terminal.
fn console_settings(settings: &Settings) -> Settings {
    let mut settings = settings.clone();
    settings.config.delivery.per_chat_per_second = 1000.0;
    settings.config.delivery.per_second = 1000.0;
    settings.config.delivery.per_group_per_minute = 60_000;
    // What the office does in another terminal reaches the console within a second.
    settings.config.delivery.idle_check_seconds = 1;
    settings
}

/// The kind of a planned message, in words.
fn kind_label(kind: &str, language: Language) -> &str {
    match (kind, language) {
        ("reminder", Language::Zh) => "提醒",
        ("urge_copy", Language::Zh) => "督办抄报",
        ("requests", Language::Zh) => "诉求督办",
        ("digest", Language::Zh) => "简报",
        (kind, _) => kind,
    }
}

/// `duban remind`.
pub async fn remind(
    app: &App,
    now: Option<DateTime<FixedOffset>>,
    dry_run: bool,
) -> anyhow::Result<ExitCode> {
    let language = app.language();
    let at = now.map_or_else(Utc::now, |n| n.with_timezone(&Utc));
    let mut outcome = duban::service::plan_sweep(&app.store, &app.settings, at, false).await?;
    let day = app.day(outcome.day);
    if outcome.day_off {
        say!(
            "{}",
            language.pick(
                format!("{day}是休息日，不发提醒（schedule.send_on_days_off 可开启）"),
                format!(
                    "{day} is a day off: no reminders (schedule.send_on_days_off turns them on)"
                )
            )
        );
        return Ok(ExitCode::SUCCESS);
    }
    if dry_run {
        duban::service::record_steps_and_plan_office(
            &app.store,
            &app.settings,
            &mut outcome,
            at,
            true,
        )
        .await?;
        for p in &outcome.planned {
            say!(
                "{}\n{}\n",
                language.pick(
                    format!(
                        "── 发往会话{}（{}）──",
                        p.chat,
                        kind_label(p.kind, language)
                    ),
                    format!("── to chat {} ({}) ──", p.chat, p.kind)
                ),
                p.message.text
            );
        }
        say!(
            "{}",
            language.pick(
                format!(
                    "{day}计划发送{}条消息（试运行，未加入发送队列）",
                    outcome.planned.len()
                ),
                format!(
                    "{} message(s) planned for {day} (dry run: nothing queued)",
                    outcome.planned.len()
                )
            )
        );
        return Ok(ExitCode::SUCCESS);
    }
    if app.settings.config.channels() == [ChannelKind::Console] {
        refuse_console_over_telegram(&app.store, language).await?;
    }
    duban::service::record_steps_and_plan_office(
        &app.store,
        &app.settings,
        &mut outcome,
        at,
        false,
    )
    .await?;
    let steps = outcome.steps_recorded;
    let queued = app
        .store
        .enqueue_sweep(
            duban::service::SWEEP,
            outcome.day,
            &outcome.planned,
            Utc::now(),
        )
        .await?;
    let what = language.pick(
        format!(
            "{day}的提醒：计划{}条，新加入队列{queued}条；新达到督办阶梯的措施{steps}项",
            outcome.planned.len()
        ),
        format!(
            "sweep of {day}: {} message(s) planned, {queued} new; {steps} measure(s) reached a new step",
            outcome.planned.len()
        ),
    );
    deliver_now(app, what).await
}

/// `duban notice`.
pub async fn notice(
    app: &App,
    period: &str,
    now: Option<DateTime<FixedOffset>>,
    dry_run: bool,
) -> anyhow::Result<ExitCode> {
    let language = app.language();
    let period = duban::core::notice::Period::from_code(period).expect("clap checks the period");
    let at = now.map_or_else(Utc::now, |n| n.with_timezone(&Utc));
    if !dry_run && app.settings.config.channels() == [ChannelKind::Console] {
        refuse_console_over_telegram(&app.store, language).await?;
    }
    let outcome =
        duban::service::notice::notice(&app.store, &app.settings, at, period, dry_run).await?;
    if dry_run {
        say!("{}", outcome.notice.text);
        return Ok(ExitCode::SUCCESS);
    }
    let what = language.pick(
        format!(
            "{}：{}，文件{}；计划{}条，新加入队列{}条",
            outcome.notice.number,
            if outcome.new {
                "已印发"
            } else {
                "本期已印发过，重发未送达的"
            },
            outcome.document.clone().unwrap_or_default(),
            outcome.planned.len(),
            outcome.queued
        ),
        format!(
            "{}: {}, document {}; {} message(s) planned, {} new",
            outcome.notice.number,
            if outcome.new {
                "issued"
            } else {
                "issued before; sending what is left"
            },
            outcome.document.clone().unwrap_or_default(),
            outcome.planned.len(),
            outcome.queued
        ),
    );
    deliver_now(app, what).await
}

/// `duban digest`.
pub async fn digest(
    app: &App,
    now: Option<DateTime<FixedOffset>>,
    dry_run: bool,
    force: bool,
) -> anyhow::Result<ExitCode> {
    let language = app.language();
    let at = now.map_or_else(Utc::now, |n| n.with_timezone(&Utc));
    if !dry_run && app.settings.config.channels() == [ChannelKind::Console] {
        refuse_console_over_telegram(&app.store, language).await?;
    }
    let outcome = duban::service::digest(&app.store, &app.settings, at, force, dry_run).await?;
    let day = app.day(outcome.day);
    if outcome.day_off {
        say!(
            "{}",
            language.pick(
                format!("{day}是休息日，不发简报（加 --force 可照发）"),
                format!("{day} is a day off: no digest (--force makes one)")
            )
        );
        return Ok(ExitCode::SUCCESS);
    }
    let leaders: BTreeSet<&Address> = outcome.planned.iter().map(|p| &p.chat).collect();
    if dry_run {
        if let Some(digest) = &outcome.digest {
            say!("{}\n", digest.text);
        }
        let chart = outcome.chart.as_deref().unwrap_or("-");
        say!(
            "{}",
            match &outcome.ledger {
                Some(ledger) => language.pick(
                    format!("将写出图表：{chart}；台账：{ledger}"),
                    format!("would write chart: {chart}; ledger: {ledger}")
                ),
                None => language.pick(
                    format!("将写出图表：{chart}"),
                    format!("would write chart: {chart}")
                ),
            }
        );
        say!(
            "{}",
            language.pick(
                format!(
                    "{day}计划向{}位领导发送{}条消息（试运行，未写入、未加入发送队列）",
                    leaders.len(),
                    outcome.planned.len()
                ),
                format!(
                    "{} message(s) planned for {} leader(s) on {day} (dry run: nothing written or queued)",
                    outcome.planned.len(),
                    leaders.len()
                )
            )
        );
        return Ok(ExitCode::SUCCESS);
    }
    if leaders.is_empty() {
        say!(
            "{}",
            language.pick(
                format!(
                    "{day}的简报：还没有绑定任何领导，未发送（用 duban invite 地点 --role leader --name 姓名 邀请领导）"
                ),
                format!(
                    "digest of {day}: no leader is bound, so nothing was sent (duban invite PLACE --role leader --name NAME)"
                )
            )
        );
    }
    let chart = app
        .settings
        .config
        .data_dir
        .join(outcome.chart.as_deref().unwrap_or_default());
    let what = language.pick(
        format!(
            "{day}的简报：向{}位领导发送{}条，新加入队列{}条；图表{}",
            leaders.len(),
            outcome.planned.len(),
            outcome.queued,
            chart.display()
        ),
        format!(
            "digest of {day}: {} message(s) for {} leader(s), {} new; chart {}",
            outcome.planned.len(),
            leaders.len(),
            outcome.queued,
            chart.display()
        ),
    );
    deliver_now(app, what).await
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
async fn refuse_console_over_telegram(store: &Store, language: Language) -> anyhow::Result<()> {
    if store.has_chat_bindings().await? {
        return refuse(
            language,
            "这个数据库里有人员或群已在 Telegram 绑定或钉钉绑定，但没有设置机器人（DUBAN_TELEGRAM_TOKEN 或 DUBAN_DINGTALK_CLIENT_ID）：发给他们的消息会打印在这里，而到不了他们手中。请设置机器人，或为控制台换一个数据库。".to_string(),
            "this database has people or groups bound in Telegram or DingTalk, but no bot is set \
             (DUBAN_TELEGRAM_TOKEN or DUBAN_DINGTALK_CLIENT_ID): their messages would print here \
             instead of reaching them. Set the bot, or use another database for the console."
                .to_string(),
        );
    }
    Ok(())
}

/// Takes the lock that keeps a second `duban run` off an SQLite file; `None` for PostgreSQL.
/// The lock is the operating system's on a file beside the database, so it ends with the
/// process, however that ends.
async fn lock_sqlite(store: &Store, language: Language) -> anyhow::Result<Option<std::fs::File>> {
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
        Err(std::fs::TryLockError::WouldBlock) => refuse(
            language,
            format!(
                "另一个 `duban run` 正在使用{}：SQLite 只能运行一个实例。请先停止另一个，或改用 PostgreSQL（DUBAN_DATABASE_URL=postgres://…）运行多个实例。",
                file.display()
            ),
            format!(
                "another `duban run` is using {}: SQLite takes one instance. Stop the other one, \
                 or use PostgreSQL (DUBAN_DATABASE_URL=postgres://…) to run several.",
                file.display()
            ),
        ),
        Err(std::fs::TryLockError::Error(e)) => {
            Err(e).with_context(|| format!("locking {}", PathBuf::from(&name).display()))
        }
    }
}

/// `duban run`.
pub async fn run(
    config: Option<&Path>,
    webhook: Option<String>,
    listen: Option<String>,
    http: Option<String>,
    web: Option<String>,
) -> anyhow::Result<ExitCode> {
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
    if let Some(addr) = web {
        settings.config.web.listen = addr;
    }
    let language = settings.config.language;
    // SQLite is for one instance: a second `duban run` on the same file is refused.
    let _sqlite_lock = lock_sqlite(&app.store, language).await?;
    if settings.config.channels() == [ChannelKind::Console] {
        return console(app, settings).await;
    }
    chat_service(app, settings).await
}

/// Binds the web workbench's listener; without a configured base URL, links name the
/// address it bound (a port of 0 gets one from the system).
async fn web_listener(
    app: &App,
    settings: &Settings,
    wake: Arc<duban::service::Wake>,
) -> anyhow::Result<(tokio::net::TcpListener, Arc<duban::web::Web>)> {
    let addr = settings.config.web.listen.clone();
    let listener = tokio::net::TcpListener::bind(&addr)
        .await
        .with_context(|| format!("listening for the web workbench on {addr} (DUBAN_WEB_LISTEN)"))?;
    let mut settings = settings.clone();
    settings.config.web.listen = listener.local_addr()?.to_string();
    let web = duban::web::Web::new(app.store.clone(), Arc::new(settings)).with_wake(wake);
    Ok((listener, Arc::new(web)))
}

/// The console's web workbench (127.0.0.1:8080 unless `web.listen` says otherwise), with a
/// sign-in link for the office printed; a port in use is reported, and the console goes on.
async fn console_workbench(
    app: &App,
    settings: &Settings,
    wake: Arc<duban::service::Wake>,
    stop: tokio::sync::watch::Receiver<bool>,
) -> anyhow::Result<Option<tokio::task::JoinHandle<std::io::Result<()>>>> {
    let language = settings.config.language;
    let mut settings = settings.clone();
    if settings.config.web.listen.is_empty() {
        settings.config.web.listen = "127.0.0.1:8080".into();
    }
    let (listener, web) = match web_listener(app, &settings, wake).await {
        Ok(bound) => bound,
        Err(e) => {
            say!(
                "{}",
                language.pick(
                    format!("（工作台未启动：{e:#}；可设置 DUBAN_WEB_LISTEN 换一个端口）\n"),
                    format!("(the web workbench did not start: {e:#}; set DUBAN_WEB_LISTEN to another port)\n")
                )
            );
            return Ok(None);
        }
    };
    let office = settings.config.office_name().to_string();
    let url = duban::web::sign_in_link(
        &app.store,
        &web.settings,
        &office,
        duban::core::ledger::Role::Office,
        None,
        "console",
        Utc::now(),
    )
    .await
    .map_err(anyhow::Error::from)?;
    say!(
        "{}",
        language.pick(
            format!(
                "网页工作台：{}　以{office}身份登录（链接{}分钟内有效，只能用一次；之后用 cargo run -- web-link 姓名 --role office 再取）：\n{url}\n",
                web.base_url(),
                settings.config.web.link_minutes
            ),
            format!(
                "Web workbench: {}. Sign in as the office (the link works once, for {} minutes; get another with cargo run -- web-link NAME --role office):\n{url}\n",
                web.base_url(),
                settings.config.web.link_minutes
            )
        )
    );
    Ok(Some(tokio::spawn(duban::service::http::serve(
        listener,
        duban::web::router(web),
        duban::service::http::Limits::from_config(&settings.config.http),
        stop,
    ))))
}

/// The console: the whole loop in a terminal, on the sample ledger when the database is
/// empty.
async fn console(app: App, settings: Settings) -> anyhow::Result<ExitCode> {
    use duban::service::{Instance, Service};
    let language = settings.config.language;
    // Under a service manager (input from /dev/null) a missing token is a mistake, not a
    // wish for the console: it would load the sample into the database.
    if std::fs::read_link("/proc/self/fd/0").is_ok_and(|p| p == Path::new("/dev/null")) {
        return refuse(
            language,
            "没有设置 DUBAN_TELEGRAM_TOKEN，控制台也没有输入（标准输入是 /dev/null）：要运行机器人，请设置令牌".to_string(),
            "no DUBAN_TELEGRAM_TOKEN, and no input for the console (stdin is /dev/null): \
             set the token to run the bot"
                .to_string(),
        );
    }
    if app.store.measures().await?.is_empty() {
        super::ledger::import_sample(&app, app.today(), "console").await?;
    }
    refuse_console_over_telegram(&app.store, language).await?;
    let settings = Arc::new(console_settings(&settings));
    let chat = console_chat();
    let last = app.store.last_message_id(&chat).await?;
    let console = Console::after(last.as_deref(), language);
    let name = language.pick("控制台联络员", "console liaison");
    app.store
        .bind_everywhere(&chat, &chat, name, Utc::now())
        .await?;
    let database = duban::config::redact_url(settings.config.database_url.expose());
    say!(
        "{}",
        language.pick(
            format!(
                "duban 控制台：没有设置 DUBAN_TELEGRAM_TOKEN，消息打印在这里，您以各单位联络员的身份回复（数据库：{database}）。\n回复最近一条提醒，如“3-2 已完成”“3-2 60% 合同已签”“3-2 需协调 原因”；用 !N 按下第N个按钮；也可发送 /list、/help。按 Ctrl-D 结束。\n以整改办身份操作，请另开一个终端，在同一目录运行：cargo run -- history 3-2、cargo run -- close 3-2 或 cargo run -- reject 3-2 --reason 理由。\n"
            ),
            format!(
                "duban console: no DUBAN_TELEGRAM_TOKEN, so messages print here and you answer as a liaison of every unit (database: {database}).\nReply to the latest reminder (\"3-2 done\", \"3-2 60% contract signed\", \"3-2 blocked: reason\"), press a button with !N, or try /list and /help. End with Ctrl-D.\nTo act as the office, open another terminal in the same folder: cargo run -- history 3-2, cargo run -- close 3-2 or cargo run -- reject 3-2 --reason WHY.\n"
            )
        )
    );
    let (stop_tx, stop) = tokio::sync::watch::channel(false);
    let wake = Arc::new(duban::service::Wake::new());
    let service = Arc::new(Service {
        store: app.store.clone(),
        settings: Arc::clone(&settings),
        channels: Channels::new().with(Arc::new(console.clone())),
        wake: Arc::clone(&wake),
        stop: stop.clone(),
        instance: Arc::new(Instance::alone()),
    });
    let workbench = console_workbench(&app, &settings, Arc::clone(&wake), stop).await?;
    let first = app.store.cursor(ChannelKind::Console).await?;
    // A newcomer sees today's reminders at once, whatever the day.
    let outcome = duban::service::sweep(&app.store, &settings, Utc::now(), true).await?;
    if outcome.planned.is_empty() {
        say!(
            "{}",
            language.pick(
                "（今天没有到期或逾期的措施：可以运行 duban measures 查看全部）",
                "(nothing is due or overdue today: try `duban measures`)"
            )
        );
    }
    let delivering = tokio::spawn(Arc::clone(&service).deliver_loop(ChannelKind::Console));
    let holding = tokio::spawn(Arc::clone(&service).held_loop());
    let polling = tokio::spawn(Arc::clone(&service).poll_loop(console.input(first.as_deref())));
    tokio::select! {
        _ = shutdown_signal() => {}
        _ = polling => {}
    }
    // Every answer to the last lines goes out before the console ends.
    let _ = stop_tx.send(true);
    let _ = delivering.await;
    let _ = holding.await;
    if let Some(workbench) = workbench {
        let _ = workbench.await;
    }
    let patience = std::time::Duration::from_millis(200);
    duban::service::drain(&app.store, &console, &settings, patience).await?;
    app.store.close().await;
    Ok(ExitCode::SUCCESS)
}

/// The chat channels the configuration names (Telegram, DingTalk) in one service over one
/// ledger, with the schedule, the outbox, leases and the optional webhook and HTTP servers.
async fn chat_service(app: App, settings: Settings) -> anyhow::Result<ExitCode> {
    use duban::service::{Instance, POLL_LEASE, SCHEDULE_LEASE, Service};
    let settings = Arc::new(settings);
    let (stop_tx, stop) = tokio::sync::watch::channel(false);
    let wake = Arc::new(duban::service::Wake::new());
    let kinds = settings.config.channels();
    let language = settings.config.language;
    let mut channels = Channels::new();
    let telegram = match kinds.contains(&ChannelKind::Telegram) {
        true => Some(telegram(&settings)?),
        false => None,
    };
    if let Some(telegram) = &telegram {
        // The commands menu: retried in the background until the server takes it.
        let commands = telegram.clone();
        tokio::spawn(async move {
            let mut wait = std::time::Duration::from_secs(1);
            while let Err(e) = commands.register_commands(language).await {
                tracing::warn!("registering the bot's commands: {e}; retrying");
                tokio::time::sleep(wait).await;
                wait = (wait * 2).min(std::time::Duration::from_secs(300));
            }
        });
        channels = channels.with(Arc::new(telegram.clone()));
    }
    let dingtalk = match kinds.contains(&ChannelKind::DingTalk) {
        true => Some(dingtalk(&settings)?),
        false => None,
    };
    if let Some(dingtalk) = &dingtalk {
        channels = channels.with(Arc::new(dingtalk.clone()));
    }
    let instance = Arc::new(Instance::new());
    let service = Arc::new(Service {
        store: app.store.clone(),
        settings: Arc::clone(&settings),
        channels,
        wake: Arc::clone(&wake),
        stop: stop.clone(),
        instance: Arc::clone(&instance),
    });
    tracing::info!(instance = %instance.id, channels = ?kinds, "starting");
    let webhook_url = settings.config.telegram.webhook_url.clone();
    let mut servers = Vec::new();
    if !settings.config.http_listen.is_empty() {
        let addr = settings.config.http_listen.clone();
        let listener = tokio::net::TcpListener::bind(&addr)
            .await
            .with_context(|| format!("listening on {addr} (DUBAN_HTTP_LISTEN)"))?;
        tracing::info!("health and metrics on http://{}", listener.local_addr()?);
        let router = duban::service::http::ops_router(Arc::clone(&service));
        servers.push(tokio::spawn(duban::service::http::serve(
            listener,
            router,
            duban::service::http::Limits::from_config(&settings.config.http),
            stop.clone(),
        )));
    }
    if !settings.config.web.listen.is_empty() {
        let (listener, web) = web_listener(&app, &settings, Arc::clone(&wake)).await?;
        tracing::info!("the web workbench on {}", web.base_url());
        servers.push(tokio::spawn(duban::service::http::serve(
            listener,
            duban::web::router(web),
            duban::service::http::Limits::from_config(&settings.config.http),
            stop.clone(),
        )));
    }
    let mut leases = Vec::new();
    if settings.config.schedule.enabled {
        leases.push(SCHEDULE_LEASE);
    }
    if telegram.is_some() && webhook_url.is_empty() {
        leases.push(POLL_LEASE);
    }
    if let Some(telegram) = telegram.as_ref().filter(|_| !webhook_url.is_empty()) {
        let secret = duban::service::http::webhook_secret(&settings)?;
        let path = duban::service::http::webhook_path(&webhook_url)?;
        let addr = match settings.config.telegram.webhook_listen.as_str() {
            "" => "0.0.0.0:8080".to_string(),
            addr => addr.to_string(),
        };
        let listener = tokio::net::TcpListener::bind(&addr)
            .await
            .with_context(|| format!("listening for the webhook on {addr}"))?;
        tracing::info!("webhook on {} (path {path})", listener.local_addr()?);
        let router =
            duban::service::http::webhook_router(Arc::clone(&service), &path, secret.clone());
        servers.push(tokio::spawn(duban::service::http::serve(
            listener,
            router,
            duban::service::http::Limits::from_config(&settings.config.http),
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
    let delivering: Vec<_> = service
        .channels
        .all()
        .map(|channel| tokio::spawn(Arc::clone(&service).deliver_loop(channel.kind())))
        .collect();
    let holding = tokio::spawn(Arc::clone(&service).held_loop());
    let polling = match telegram.filter(|_| webhook_url.is_empty()) {
        Some(telegram) => {
            // A webhook left from webhook mode would make Telegram refuse getUpdates.
            if let Err(e) = telegram.delete_webhook().await {
                tracing::warn!("removing a webhook: {e}");
            }
            let updates = duban::channels::telegram::TelegramUpdates {
                telegram,
                timeout: std::time::Duration::from_secs(
                    settings.config.telegram.poll_timeout_seconds,
                ),
            };
            Some(tokio::spawn(Arc::clone(&service).poll_loop(updates)))
        }
        None => None,
    };
    // DingTalk pushes its messages through Stream mode: each is acknowledged once kept,
    // what the socket holds at once kept together.
    let streaming = dingtalk.map(|dingtalk| {
        let service = Arc::clone(&service);
        let stop = stop.clone();
        tokio::spawn(async move {
            dingtalk
                .run_stream(
                    |group| {
                        let service = Arc::clone(&service);
                        async move {
                            duban::service::intake::take_group(&service, &group)
                                .await
                                .iter()
                                .all(|taken| *taken == duban::service::intake::Taken::Kept)
                        }
                    },
                    stop,
                )
                .await
        })
    });
    tracing::info!("duban is running");
    shutdown_signal().await;
    tracing::info!("stopping: finishing what is being sent");
    let _ = stop_tx.send(true);
    if let Some(scheduler) = scheduler.as_mut() {
        let _ = scheduler.shutdown().await;
    }
    for delivering in delivering {
        let _ = delivering.await;
    }
    let _ = holding.await;
    if let Some(polling) = polling {
        let _ = polling.await;
    }
    if let Some(streaming) = streaming {
        let _ = streaming.await;
    }
    for server in servers {
        let _ = server.await;
    }
    let _ = leasing.await;
    app.store.close().await;
    Ok(ExitCode::SUCCESS)
}
