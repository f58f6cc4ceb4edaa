//! Configuration in layers: built-in defaults, then a TOML file, then `DUBAN_*` environment
//! variables, which win.
//!
//! The file is `--config FILE` when given, else `DUBAN_CONFIG`, else `config/duban.toml` when
//! it exists. Nested keys come from the environment with a double underscore:
//! `DUBAN_RULES__YELLOW_WITHIN_WORKING_DAYS=3`.

use std::fmt;
use std::path::{Path, PathBuf};

use chrono_tz::Tz;
use figment::Figment;
use figment::providers::{Env, Format, Serialized, Toml};
use serde::{Deserialize, Serialize};

use crate::core::calendar::{BUILTIN_CN, Calendar, CalendarError};
use crate::core::rules::Rules;

/// The file read when neither `--config` nor `DUBAN_CONFIG` names one.
pub const DEFAULT_FILE: &str = "config/duban.toml";

/// Errors while loading configuration.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The named file does not exist.
    #[error("config file {0} does not exist")]
    Missing(PathBuf),
    /// A value has the wrong form; figment's message names the key and where it came from.
    #[error("configuration: {0}")]
    Invalid(Box<figment::Error>),
    /// `timezone` is not an IANA time zone.
    #[error("configuration: timezone {0:?} is not a time zone such as Asia/Shanghai")]
    Timezone(String),
    /// `schedule.sweep_at` is not a time of day.
    #[error("configuration: schedule.sweep_at {0:?} is not a time such as 09:00")]
    Schedule(String),
    /// A `[digest]` value has the wrong form.
    #[error("configuration: digest.{0}")]
    Digest(String),
    /// A delivery limit is zero or negative.
    #[error("configuration: delivery limits must be above zero")]
    Delivery,
    /// `rules.ladder` is empty, repeats a key, or has steps out of order.
    #[error("configuration: rules.ladder: {0}")]
    Ladder(String),
    /// A calendar file cannot be read.
    #[error("configuration: calendar file {path}: {message}")]
    CalendarFile {
        /// The file.
        path: PathBuf,
        /// What went wrong.
        message: String,
    },
    /// A calendar file's content is wrong.
    #[error("configuration: {0}")]
    Calendar(CalendarError),
}

/// A value that must never reach a log line, such as a bot token.
///
/// Its `Debug` and `Display` print `[redacted]`; [`Secret::expose`] hands out the value.
#[derive(Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Secret(String);

impl Secret {
    /// Wraps a value.
    pub fn new(value: impl Into<String>) -> Secret {
        Secret(value.into())
    }

    /// The value, for the one place that needs it.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// Whether it is empty.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[redacted]")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[redacted]")
    }
}

pub use crate::core::text::Language;

/// The working-day calendar's sources (`[calendar]`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct CalendarConfig {
    /// Extra holiday files in the layout of `data/holidays-cn.toml`, such as next year's
    /// notice once it is published. Later files override earlier years.
    pub files: Vec<PathBuf>,
}

/// The Telegram bot (`[telegram]`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TelegramConfig {
    /// The bot token from @BotFather (`DUBAN_TELEGRAM_TOKEN`). Empty: `duban run` uses the
    /// console instead.
    pub token: Secret,
    /// The Bot API server (`DUBAN_TELEGRAM_API_URL`): the official one, a self-hosted Bot API
    /// server, or a test server.
    pub api_url: String,
    /// The bot's username, for t.me links in invitations; asked from the server when empty.
    pub bot_username: String,
    /// Telegram user ids of office members (整改办), bound or not. In the environment:
    /// `DUBAN_TELEGRAM_ADMINS=7100,7200` (or one id, or `[7100, 7200]`).
    #[serde(deserialize_with = "id_list")]
    pub admins: Vec<i64>,
    /// How long one long-polling request waits for updates.
    pub poll_timeout_seconds: u64,
    /// Webhook mode (`DUBAN_TELEGRAM_WEBHOOK_URL`, or `duban run --webhook URL`): the public
    /// HTTPS URL Telegram posts updates to. Empty: long polling.
    pub webhook_url: String,
    /// Where the webhook listens (`DUBAN_TELEGRAM_WEBHOOK_LISTEN`, or `--listen ADDR`).
    pub webhook_listen: String,
    /// The secret Telegram sends with every webhook request
    /// (`DUBAN_TELEGRAM_WEBHOOK_SECRET`, 1–256 of `A-Z a-z 0-9 _ -`). Empty: derived from
    /// the token, so that every instance of one bot agrees without configuration.
    pub webhook_secret: Secret,
}

impl Default for TelegramConfig {
    fn default() -> TelegramConfig {
        TelegramConfig {
            token: Secret::default(),
            api_url: "https://api.telegram.org".into(),
            bot_username: String::new(),
            admins: Vec::new(),
            poll_timeout_seconds: 10,
            webhook_url: String::new(),
            webhook_listen: String::new(),
            webhook_secret: Secret::default(),
        }
    }
}

/// The DingTalk robot (`[dingtalk]`, 钉钉 / 浙政钉 / 政务钉钉): an 企业内部应用 with the robot
/// capability, in Stream mode (no public address needed).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DingTalkConfig {
    /// The app's AppKey / Client ID (`DUBAN_DINGTALK_CLIENT_ID`). Empty: DingTalk is off.
    pub client_id: String,
    /// The app's AppSecret / Client Secret (`DUBAN_DINGTALK_CLIENT_SECRET`), a secret.
    pub client_secret: Secret,
    /// The robot's code (`DUBAN_DINGTALK_ROBOT_CODE`); empty: the client id, as for an app's
    /// own robot.
    pub robot_code: String,
    /// The OpenAPI server (`DUBAN_DINGTALK_API_URL`): DingTalk's, or a 专有钉钉 / 浙政钉
    /// deployment's, or a test server. The Stream gateway is asked here too.
    pub api_url: String,
    /// The older API server that takes media uploads (images and files sent by the robot).
    pub oapi_url: String,
    /// Messages a second the robot sends to people in all (the app's limit).
    pub per_second: f64,
    /// Messages a minute to one group (DingTalk allows 20).
    pub per_group_per_minute: u32,
}

impl Default for DingTalkConfig {
    fn default() -> DingTalkConfig {
        DingTalkConfig {
            client_id: String::new(),
            client_secret: Secret::default(),
            robot_code: String::new(),
            api_url: "https://api.dingtalk.com".into(),
            oapi_url: "https://oapi.dingtalk.com".into(),
            per_second: 20.0,
            per_group_per_minute: 20,
        }
    }
}

impl DingTalkConfig {
    /// The robot's code: the configured one, else the client id.
    pub fn robot(&self) -> &str {
        match self.robot_code.as_str() {
            "" => &self.client_id,
            code => code,
        }
    }
}

/// When scheduled jobs run (`[schedule]`), in the configured time zone.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ScheduleConfig {
    /// Whether `duban run` sweeps on schedule. Off for deployments where cron runs
    /// `duban remind`.
    pub enabled: bool,
    /// The reminder sweep: hour and minute, `HH:MM`. It runs on working days.
    pub sweep_at: String,
    /// Whether sweeps also run on days off.
    pub send_on_days_off: bool,
}

impl Default for ScheduleConfig {
    fn default() -> ScheduleConfig {
        ScheduleConfig {
            enabled: true,
            sweep_at: "09:00".into(),
            send_on_days_off: false,
        }
    }
}

impl ScheduleConfig {
    /// The sweep's time of day.
    pub fn sweep_time(&self) -> Option<chrono::NaiveTime> {
        chrono::NaiveTime::parse_from_str(&self.sweep_at, "%H:%M").ok()
    }
}

/// How the outbox delivers (`[delivery]`): Telegram's limits, and retries.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DeliveryConfig {
    /// Messages per second to one chat.
    pub per_chat_per_second: f64,
    /// Messages per minute to one group.
    pub per_group_per_minute: u32,
    /// Messages per second in all.
    pub per_second: f64,
    /// The longest wait between tries after a server or network error.
    pub max_backoff_seconds: u64,
    /// A message still not delivered this many hours after it was queued is given up: a
    /// reminder that old is stale, and the next sweep writes a fresh one.
    pub give_up_after_hours: u64,
    /// With nothing queued, the outbox is looked at again after this many seconds, for
    /// messages other processes queued (`duban close` telling the claimant).
    pub idle_check_seconds: u64,
}

impl Default for DeliveryConfig {
    fn default() -> DeliveryConfig {
        DeliveryConfig {
            per_chat_per_second: 1.0,
            per_group_per_minute: 20,
            per_second: 30.0,
            max_backoff_seconds: 300,
            give_up_after_hours: 48,
            idle_check_seconds: 30,
        }
    }
}

/// The whole configuration, as read from the layers.
#[derive(Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// `sqlite:FILE` (the default, `sqlite:duban.db`) or `postgres://…`. It may carry a
    /// password, so it is shown only through [`redact_url`].
    pub database_url: Secret,
    /// How long to wait for a database connection before giving up.
    pub database_timeout_seconds: u64,
    /// The office's time zone; "today" and every schedule are in it.
    pub timezone: String,
    /// The language of user-facing text.
    pub language: Language,
    /// The rule engine's thresholds, ladder and response rule.
    pub rules: Rules,
    /// The working-day calendar.
    pub calendar: CalendarConfig,
    /// The Telegram bot.
    pub telegram: TelegramConfig,
    /// The DingTalk robot.
    pub dingtalk: DingTalkConfig,
    /// When scheduled jobs run.
    pub schedule: ScheduleConfig,
    /// How messages are delivered.
    pub delivery: DeliveryConfig,
    /// Where evidence, charts and exported ledgers are kept (created on first use).
    pub data_dir: PathBuf,
    /// The leadership digest.
    pub digest: DigestConfig,
    /// Evidence sent in chats.
    pub evidence: EvidenceConfig,
    /// The operations HTTP server (`/healthz`, `/metrics`) of `duban run`, as `HOST:PORT`
    /// (`DUBAN_HTTP_LISTEN`, or `--http ADDR`). Empty: off.
    pub http_listen: String,
    /// Limits of the HTTP servers against slow, idle and hostile clients.
    pub http: HttpConfig,
    /// Limits on imported ledger files.
    pub import: ImportConfig,
    /// The body that runs the work (整改办, 工作专班, 督查室), as messages name it.
    pub office: OfficeConfig,
    /// The web workbench.
    pub web: WebConfig,
    /// The periodic 通报.
    pub notice: NoticeConfig,
}

/// The periodic 通报 (`[notice]`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct NoticeConfig {
    /// Issue the weekly notice on the first working day of each week.
    pub weekly: bool,
    /// Issue the monthly notice on the first working day of each month.
    pub monthly: bool,
    /// When, `HH:MM`.
    pub at: String,
    /// Who gets it: `leader`, `head`, `liaison`, `office`.
    pub audience: Vec<String>,
}

impl Default for NoticeConfig {
    fn default() -> NoticeConfig {
        NoticeConfig {
            weekly: true,
            monthly: true,
            at: "09:30".into(),
            audience: vec![
                "leader".into(),
                "head".into(),
                "liaison".into(),
                "office".into(),
            ],
        }
    }
}

impl NoticeConfig {
    /// The time of day, if `at` reads as one.
    pub fn time(&self) -> Option<chrono::NaiveTime> {
        chrono::NaiveTime::parse_from_str(self.at.trim(), "%H:%M").ok()
    }
}

/// The web workbench (`[web]`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct WebConfig {
    /// Where `duban run` serves it, `HOST:PORT` (`DUBAN_WEB_LISTEN`, or `--web ADDR`).
    /// Empty: off, except in the console, which serves it on 127.0.0.1:8080.
    pub listen: String,
    /// The address people open it at, for the links duban gives out
    /// (`DUBAN_WEB_BASE_URL`), such as `https://duban.example.gov.cn`. Empty: the listen
    /// address over http.
    pub base_url: String,
    /// How long a sign-in lasts.
    pub session_hours: u32,
    /// How long a sign-in link stays valid.
    pub link_minutes: u32,
}

impl Default for WebConfig {
    fn default() -> WebConfig {
        WebConfig {
            listen: String::new(),
            base_url: String::new(),
            session_hours: 12,
            link_minutes: 15,
        }
    }
}

/// The body that runs the rectification work (`[office]`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct OfficeConfig {
    /// Its name in Chinese messages: 整改办 by default; the source report calls it 工作专班.
    pub name: String,
    /// Its name in English messages.
    pub name_en: String,
}

impl Default for OfficeConfig {
    fn default() -> OfficeConfig {
        OfficeConfig {
            name: "整改办".into(),
            name_en: "the office".into(),
        }
    }
}

impl Config {
    /// The office's name in the configured language.
    pub fn office_name(&self) -> &str {
        self.language.pick(&self.office.name, &self.office.name_en)
    }

    /// The channels this configuration runs: every chat platform with credentials (Telegram
    /// with its token, DingTalk with its client id), or the console when there is none.
    pub fn channels(&self) -> Vec<crate::core::chat::ChannelKind> {
        use crate::core::chat::ChannelKind;
        let mut channels = Vec::new();
        if !self.telegram.token.is_empty() {
            channels.push(ChannelKind::Telegram);
        }
        if !self.dingtalk.client_id.is_empty() {
            channels.push(ChannelKind::DingTalk);
        }
        if channels.is_empty() {
            channels.push(ChannelKind::Console);
        }
        channels
    }
}

/// The leadership digest (`[digest]`, 每日简报).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DigestConfig {
    /// Whether `duban run` sends it on schedule.
    pub enabled: bool,
    /// When: hour and minute, `HH:MM`, on working days.
    pub at: String,
    /// The weekday the exported ledger is attached (`monday` … `sunday`); on a day off the
    /// next digest carries it.
    pub ledger_on: String,
    /// At most this many measures in the red list; the rest are counted ("…另有 N 项").
    pub red_list_max: usize,
    /// A unit that has not answered a reminder for this many working days is listed.
    pub silent_after_working_days: u32,
    /// A font file (TTF/OTF) for the chart's labels; empty: the bundled Chinese subset.
    pub font_path: String,
}

impl Default for DigestConfig {
    fn default() -> DigestConfig {
        DigestConfig {
            enabled: true,
            at: "17:30".into(),
            ledger_on: "friday".into(),
            red_list_max: 30,
            silent_after_working_days: 3,
            font_path: String::new(),
        }
    }
}

impl DigestConfig {
    /// The digest's time of day.
    pub fn time(&self) -> Option<chrono::NaiveTime> {
        chrono::NaiveTime::parse_from_str(&self.at, "%H:%M").ok()
    }

    /// The weekday the ledger is attached.
    pub fn ledger_weekday(&self) -> Option<chrono::Weekday> {
        self.ledger_on.parse().ok()
    }
}

/// How the HTTP servers of `duban run` (the webhook, `/healthz`) treat slow, idle and
/// hostile clients (`[http]`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct HttpConfig {
    /// A request's headers must have arrived this many seconds after the connection opened
    /// or the last request ended; an idle connection is closed then.
    pub header_timeout_seconds: u64,
    /// A request's body must have arrived this many seconds after its headers.
    pub body_timeout_seconds: u64,
    /// At most this many connections at once, each a file descriptor; more wait in the
    /// kernel's queue until one ends.
    pub max_connections: usize,
    /// A webhook request's body may be this many kilobytes at most (an update is a few).
    pub max_body_kilobytes: usize,
}

impl Default for HttpConfig {
    fn default() -> HttpConfig {
        HttpConfig {
            header_timeout_seconds: 10,
            body_timeout_seconds: 10,
            max_connections: 256,
            max_body_kilobytes: 1024,
        }
    }
}

/// Limits on a ledger file being imported (`[import]`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ImportConfig {
    /// An .xlsx file is refused when any part of it unpacks to more than this many megabytes
    /// (a sheet, the shared strings), or when a .csv/.xls file is larger than this.
    pub max_megabytes: u64,
}

impl Default for ImportConfig {
    fn default() -> ImportConfig {
        ImportConfig { max_megabytes: 200 }
    }
}

/// Evidence sent in chats (`[evidence]`, 佐证材料).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct EvidenceConfig {
    /// Files larger than this are refused (Telegram lets bots download 20 MB at most).
    pub max_megabytes: u64,
}

impl Default for EvidenceConfig {
    fn default() -> EvidenceConfig {
        EvidenceConfig { max_megabytes: 20 }
    }
}

impl Default for Config {
    fn default() -> Config {
        Config {
            database_url: Secret::new("sqlite:duban.db"),
            database_timeout_seconds: 10,
            timezone: "Asia/Shanghai".into(),
            language: Language::Zh,
            rules: Rules::default(),
            calendar: CalendarConfig::default(),
            telegram: TelegramConfig::default(),
            dingtalk: DingTalkConfig::default(),
            schedule: ScheduleConfig::default(),
            delivery: DeliveryConfig::default(),
            data_dir: PathBuf::from("duban-data"),
            digest: DigestConfig::default(),
            evidence: EvidenceConfig::default(),
            http_listen: String::new(),
            http: HttpConfig::default(),
            import: ImportConfig::default(),
            office: OfficeConfig::default(),
            web: WebConfig::default(),
            notice: NoticeConfig::default(),
        }
    }
}

impl fmt::Debug for Config {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Config")
            .field("database_url", &redact_url(self.database_url.expose()))
            .field("database_timeout_seconds", &self.database_timeout_seconds)
            .field("timezone", &self.timezone)
            .field("language", &self.language)
            .field("rules", &self.rules)
            .field("calendar", &self.calendar)
            .field("telegram", &self.telegram)
            .field("dingtalk", &self.dingtalk)
            .field("schedule", &self.schedule)
            .field("delivery", &self.delivery)
            .field("data_dir", &self.data_dir)
            .field("digest", &self.digest)
            .field("evidence", &self.evidence)
            .field("http_listen", &self.http_listen)
            .field("http", &self.http)
            .field("import", &self.import)
            .field("office", &self.office)
            .field("web", &self.web)
            .field("notice", &self.notice)
            .finish()
    }
}

/// A loaded, checked configuration with its derived values.
#[derive(Debug, Clone)]
pub struct Settings {
    /// The raw configuration.
    pub config: Config,
    /// The parsed time zone.
    pub timezone: Tz,
    /// The calendar: the built-in data plus the configured files.
    pub calendar: Calendar,
    /// The file that was read, if any.
    pub file: Option<PathBuf>,
}

impl Settings {
    /// Loads the layers. `file` is `--config`; without it `DUBAN_CONFIG`, then
    /// `config/duban.toml` if present.
    pub fn load(file: Option<&Path>) -> Result<Settings, ConfigError> {
        let env_file = std::env::var_os("DUBAN_CONFIG").map(PathBuf::from);
        let chosen = match file.map(Path::to_path_buf).or(env_file) {
            Some(path) if !path.exists() => return Err(ConfigError::Missing(path)),
            Some(path) => Some(path),
            None => Some(PathBuf::from(DEFAULT_FILE)).filter(|p| p.exists()),
        };
        let mut figment = Figment::from(Serialized::defaults(Config::default()));
        if let Some(path) = &chosen {
            figment = figment.merge(Toml::file_exact(path));
        }
        // The environment may set the configuration's own keys; other DUBAN_* variables
        // (DUBAN_CONFIG, DUBAN_LOG, …) are left alone.
        let keys: Vec<String> = match serde_json::to_value(Config::default()) {
            Ok(serde_json::Value::Object(map)) => map.keys().cloned().collect(),
            _ => Vec::new(),
        };
        let env = Env::prefixed("DUBAN_")
            // The names the documentation gives for the bot: DUBAN_TELEGRAM_TOKEN,
            // DUBAN_TELEGRAM_API_URL, DUBAN_TELEGRAM_ADMINS.
            .map(|key| match key.as_str().to_ascii_lowercase().as_str() {
                "telegram_token" => "telegram__token".into(),
                "telegram_api_url" => "telegram__api_url".into(),
                "telegram_admins" => "telegram__admins".into(),
                "telegram_webhook_url" => "telegram__webhook_url".into(),
                "telegram_webhook_listen" => "telegram__webhook_listen".into(),
                "telegram_webhook_secret" => "telegram__webhook_secret".into(),
                "dingtalk_client_id" => "dingtalk__client_id".into(),
                "dingtalk_client_secret" => "dingtalk__client_secret".into(),
                "dingtalk_robot_code" => "dingtalk__robot_code".into(),
                "dingtalk_api_url" => "dingtalk__api_url".into(),
                "dingtalk_oapi_url" => "dingtalk__oapi_url".into(),
                "web_listen" => "web__listen".into(),
                "web_base_url" => "web__base_url".into(),
                _ => key.into(),
            })
            .split("__")
            .filter(move |key| {
                let top = key.as_str().split('.').next().unwrap_or("");
                keys.iter().any(|k| k.eq_ignore_ascii_case(top))
            });
        figment = figment.merge(env);
        let config: Config = figment
            .extract()
            .map_err(|e| ConfigError::Invalid(Box::new(e)))?;
        Settings::from_config(config, chosen)
    }

    /// Checks a configuration and derives its values.
    pub fn from_config(config: Config, file: Option<PathBuf>) -> Result<Settings, ConfigError> {
        let timezone: Tz = config
            .timezone
            .parse()
            .map_err(|_| ConfigError::Timezone(config.timezone.clone()))?;
        if config.schedule.sweep_time().is_none() {
            return Err(ConfigError::Schedule(config.schedule.sweep_at.clone()));
        }
        if config.digest.time().is_none() {
            return Err(ConfigError::Digest(format!(
                "at {:?} is not a time such as 17:30",
                config.digest.at
            )));
        }
        if config.digest.ledger_weekday().is_none() {
            return Err(ConfigError::Digest(format!(
                "ledger_on {:?} is not a weekday such as friday",
                config.digest.ledger_on
            )));
        }
        if !(config.delivery.per_chat_per_second > 0.0
            && config.delivery.per_second > 0.0
            && config.delivery.per_group_per_minute > 0)
        {
            return Err(ConfigError::Delivery);
        }
        if config.rules.ladder.is_empty() {
            return Err(ConfigError::Ladder(
                "the ladder needs at least one step".into(),
            ));
        }
        let mut keys = std::collections::HashSet::new();
        for (i, step) in config.rules.ladder.iter().enumerate() {
            if !keys.insert(step.key.as_str()) {
                return Err(ConfigError::Ladder(format!(
                    "step key {:?} is used twice",
                    step.key
                )));
            }
            if step.notify.is_empty() {
                return Err(ConfigError::Ladder(format!(
                    "step {:?} notifies nobody",
                    step.key
                )));
            }
            // The step reached is the last one whose start has passed, so steps that count
            // from the same anchor must come in the order they start.
            let earlier = config.rules.ladder[..i]
                .iter()
                .find(|e| e.anchor == step.anchor && e.offset >= step.offset);
            if let Some(earlier) = earlier {
                return Err(ConfigError::Ladder(format!(
                    "step {:?} (offset {}) must come before step {:?} (offset {})",
                    step.key, step.offset, earlier.key, earlier.offset
                )));
            }
        }
        let mut texts = Vec::new();
        for path in &config.calendar.files {
            let text = std::fs::read_to_string(path).map_err(|e| ConfigError::CalendarFile {
                path: path.clone(),
                message: e.to_string(),
            })?;
            texts.push((path.display().to_string(), text));
        }
        let mut sources: Vec<(&str, &str)> = vec![("builtin holidays-cn.toml", BUILTIN_CN)];
        sources.extend(texts.iter().map(|(n, t)| (n.as_str(), t.as_str())));
        let calendar = Calendar::from_sources(&sources).map_err(ConfigError::Calendar)?;
        Ok(Settings {
            config,
            timezone,
            calendar,
            file,
        })
    }

    /// How long to wait for a database connection.
    pub fn database_timeout(&self) -> std::time::Duration {
        std::time::Duration::from_secs(self.config.database_timeout_seconds.max(1))
    }

    /// Settings from defaults alone, as tests and examples use them.
    pub fn defaults() -> Settings {
        Settings::from_config(Config::default(), None).expect("the defaults are valid")
    }
}

/// A database URL with any password replaced by `***`, for log lines and messages: the
/// password of the user part (everything up to the last `@`, so a `/` in it cannot hide
/// it) and any query parameter whose name speaks of a password, a secret or a token.
pub fn redact_url(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_string();
    };
    let (main, query) = match rest.split_once('?') {
        Some((m, q)) => (m, Some(q)),
        None => (rest, None),
    };
    let main = match main.rsplit_once('@') {
        Some((userinfo, host)) => match userinfo.split_once(':') {
            Some((user, _)) => format!("{user}:***@{host}"),
            None => format!("{userinfo}@{host}"),
        },
        None => main.to_string(),
    };
    let Some(query) = query else {
        return format!("{scheme}://{main}");
    };
    let query: Vec<String> = query
        .split('&')
        .map(|pair| {
            let (key, _) = pair.split_once('=').unwrap_or((pair, ""));
            let lower = key.to_ascii_lowercase();
            if ["pass", "secret", "token", "key"]
                .iter()
                .any(|w| lower.contains(w))
            {
                format!("{key}=***")
            } else {
                pair.to_string()
            }
        })
        .collect();
    format!("{scheme}://{main}?{}", query.join("&"))
}

/// A list of chat ids: a sequence, one number, or numbers in a string separated by commas
/// or spaces, as an environment variable gives them.
fn id_list<'de, D: serde::Deserializer<'de>>(deserializer: D) -> Result<Vec<i64>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Ids {
        List(Vec<i64>),
        One(i64),
        Text(String),
    }
    match Ids::deserialize(deserializer)? {
        Ids::List(ids) => Ok(ids),
        Ids::One(id) => Ok(vec![id]),
        Ids::Text(text) => text
            .split(|c: char| c == ',' || c == '\u{FF0C}' || c.is_whitespace())
            .filter(|part| !part.is_empty())
            .map(|part| {
                part.parse::<i64>().map_err(|_| {
                    serde::de::Error::custom(format!(
                        "{part:?} is not a Telegram user id (ids are whole numbers, separated by commas)"
                    ))
                })
            })
            .collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    // figment's Jail takes closures returning its own (large) error type.
    #[allow(clippy::result_large_err)]
    fn admins_from_the_environment() {
        for (value, expected) in [
            ("7100", vec![7100]),
            ("7100,7200", vec![7100, 7200]),
            ("7100, 7200", vec![7100, 7200]),
            ("[7100, 7200]", vec![7100, 7200]),
        ] {
            figment::Jail::expect_with(|jail| {
                jail.set_env("DUBAN_TELEGRAM_ADMINS", value);
                let settings = Settings::load(None).expect("loads");
                assert_eq!(settings.config.telegram.admins, expected, "{value}");
                Ok(())
            });
        }
        figment::Jail::expect_with(|jail| {
            jail.set_env("DUBAN_TELEGRAM_ADMINS", "7100,boss");
            let error = Settings::load(None).expect_err("refused").to_string();
            assert!(
                error.contains("\"boss\" is not a Telegram user id"),
                "{error}"
            );
            Ok(())
        });
    }

    #[test]
    fn secrets_never_print() {
        let secret = Secret::new("123456:ABC-token");
        assert_eq!(format!("{secret:?}"), "[redacted]");
        assert_eq!(format!("{secret}"), "[redacted]");
        assert_eq!(secret.expose(), "123456:ABC-token");
        let config = Config {
            database_url: Secret::new("postgres://duban:hunter2@db:5432/duban"),
            ..Config::default()
        };
        let debug = format!("{config:?}");
        assert!(!debug.contains("hunter2"), "{debug}");
        assert!(
            debug.contains("postgres://duban:***@db:5432/duban"),
            "{debug}"
        );
    }

    #[test]
    fn redacting_urls() {
        let cases = [
            ("sqlite:duban.db", "sqlite:duban.db"),
            (
                "postgres://u:p@h:5432/d?sslmode=require",
                "postgres://u:***@h:5432/d?sslmode=require",
            ),
            ("postgres://u@h/d", "postgres://u@h/d"),
            ("postgres://h/d", "postgres://h/d"),
            ("postgres://u:p@ss@h/d", "postgres://u:***@h/d"),
            (
                "postgres://u:hun/ter2@h:5432/d",
                "postgres://u:***@h:5432/d",
            ),
            (
                "postgres://u@h/d?password=hunter2&sslmode=verify-full",
                "postgres://u@h/d?password=***&sslmode=verify-full",
            ),
            (
                "postgres://h/d?sslpassword=x",
                "postgres://h/d?sslpassword=***",
            ),
        ];
        for (url, shown) in cases {
            assert_eq!(redact_url(url), shown);
        }
    }

    #[test]
    fn the_documented_file_holds_the_defaults() {
        let text = include_str!("../config/duban.toml");
        let config: Config = Figment::from(Serialized::defaults(Config::default()))
            .merge(Toml::string(text))
            .extract()
            .unwrap();
        assert_eq!(config, Config::default());
        let only_file: toml::Table = toml::from_str(text).unwrap();
        for key in [
            "database_url",
            "timezone",
            "language",
            "rules",
            "calendar",
            "telegram",
            "schedule",
            "delivery",
        ] {
            assert!(
                only_file.contains_key(key),
                "config/duban.toml documents {key}"
            );
        }
    }

    #[test]
    fn checks() {
        let bad_tz = Config {
            timezone: "Mars/Olympus".into(),
            ..Config::default()
        };
        assert!(matches!(
            Settings::from_config(bad_tz, None),
            Err(ConfigError::Timezone(_))
        ));
        let mut no_ladder = Config::default();
        no_ladder.rules.ladder.clear();
        assert!(matches!(
            Settings::from_config(no_ladder, None),
            Err(ConfigError::Ladder(_))
        ));
        let mut backwards = Config::default();
        backwards.rules.ladder.swap(0, 1);
        let err = Settings::from_config(backwards, None)
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("\"remind\" (offset -5) must come before step \"urge\""),
            "{err}"
        );
        let mut twice = Config::default();
        twice.rules.ladder[1].key = "remind".into();
        assert!(
            Settings::from_config(twice, None)
                .unwrap_err()
                .to_string()
                .contains("remind")
        );
        let settings = Settings::defaults();
        assert_eq!(settings.timezone, chrono_tz::Asia::Shanghai);
        assert!(settings.calendar.covers(2026));
    }
}
