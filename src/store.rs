//! The store: the ledger in SQLite (embedded default) or PostgreSQL (several instances).
//!
//! One implementation runs on both through sqlx's `Any` driver with portable SQL: `$N`
//! placeholders, `RETURNING`, `ON CONFLICT`, `UPDATE … FROM (VALUES …)`, dates as
//! `YYYY-MM-DD` text and instants as RFC 3339 text in UTC. Each dialect has its own
//! migrations under `migrations/`. Rows are mapped to domain types here, so the domain
//! never derives anything from sqlx.

use std::borrow::Cow;

use chrono::{DateTime, NaiveDate, Utc};
use sqlx::any::{AnyConnectOptions, AnyPoolOptions};
use sqlx::migrate::{Migration, MigrationType, Migrator};
use sqlx::{AnyPool, Executor, SqlSafeStr};

use crate::core::ledger::{Source, Status};

mod chat;
mod deferred;
mod held;
mod import;
mod instance;
mod notice;
mod read;
mod reading;
mod sql;
mod strangers;
mod web;
mod workflow;
mod write;

pub use chat::{
    Binding, Cut, NewInvite, OutboxCounts, OutboxRow, Redeemed, SentReminder, UpdateBatch, UpdateTx,
};
pub use held::{HeldUpdate, NewHeldUpdate};
pub use import::{ImportOutcome, ImportWriter, StatusKept};
pub use instance::{LeaseHolder, OutboxHealth};
pub use notice::NoticeNumber;
pub use read::UnitRecord;
pub use reading::{NewPendingReading, PendingReading};
pub use strangers::StrangerEvent;
pub use web::{DirectoryEntry, NewWebLink, OfficeQueue, WebSession};
pub use workflow::{
    AdoptedEvidence, Asker, DigestCounts, Flag, NewEvidence, NewRequest, SentMessage, SilentUnit,
    Unreachable,
};
pub use write::{HistoryKind, StatusChange};

/// Which database is behind the store.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// SQLite: one file, one instance.
    Sqlite,
    /// PostgreSQL: several instances.
    Postgres,
}

impl Backend {
    /// The backend a URL names.
    pub fn from_url(url: &str) -> Result<Backend, StoreError> {
        if url.starts_with("sqlite:") {
            return Ok(Backend::Sqlite);
        }
        if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            return Ok(Backend::Postgres);
        }
        Err(StoreError::UnsupportedUrl(crate::config::redact_url(url)))
    }
}

/// The file an SQLite URL names (`sqlite:duban.db`, `sqlite://data/duban.db?mode=rwc`);
/// `None` for PostgreSQL and for in-memory databases.
pub fn sqlite_path(url: &str) -> Option<std::path::PathBuf> {
    let rest = url.strip_prefix("sqlite:")?;
    let rest = rest.strip_prefix("//").unwrap_or(rest);
    let path = rest.split('?').next().unwrap_or(rest);
    if path.is_empty() || path == ":memory:" || path.starts_with("file:") {
        return None;
    }
    Some(std::path::PathBuf::from(path))
}

/// Errors of the store.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The database said no, or could not be reached.
    #[error("database: {0}")]
    Database(sqlx::Error),
    /// SQLite refused a bulk insert made on the connection's own handle.
    #[error("database: {0}")]
    Sqlite(rusqlite::Error),
    /// A migration failed.
    #[error("migration: {0}")]
    Migrate(sqlx::migrate::MigrateError),
    /// The URL names no supported database.
    #[error("unsupported database URL {0}: use sqlite:FILE or postgres://USER@HOST/DB")]
    UnsupportedUrl(String),
    /// No measure has this code.
    #[error("no measure with code {code:?}{}", nearest_hint(.nearest))]
    NoSuchMeasure {
        /// The code asked for.
        code: String,
        /// The closest codes that exist.
        nearest: Vec<String>,
    },
    /// No unit has this name.
    #[error("no such unit {unit:?}{}", nearest_hint(.nearest))]
    NoSuchUnit {
        /// The name asked for.
        unit: String,
        /// The closest names that exist.
        nearest: Vec<String>,
    },
    /// A stored value cannot be read back.
    #[error("corrupt value in {column}: {value:?}")]
    Corrupt {
        /// Table and column.
        column: &'static str,
        /// What was found.
        value: String,
    },
}

// The causes are shown in the message itself, so they are not also given as sources: a
// chain printed by anyhow would say everything twice.
impl From<sqlx::Error> for StoreError {
    fn from(e: sqlx::Error) -> StoreError {
        StoreError::Database(e)
    }
}

impl From<rusqlite::Error> for StoreError {
    fn from(e: rusqlite::Error) -> StoreError {
        StoreError::Sqlite(e)
    }
}

impl StoreError {
    /// The error in words, in `language`.
    pub fn text(&self, language: crate::core::text::Language) -> String {
        if language == crate::core::text::Language::En {
            return self.to_string();
        }
        let hint = |nearest: &[String]| {
            if nearest.is_empty() {
                String::new()
            } else {
                format!("（是否要找：{}？）", nearest.join("、"))
            }
        };
        match self {
            StoreError::Database(e) => format!("数据库出错：{e}"),
            StoreError::Sqlite(e) => format!("数据库出错：{e}"),
            StoreError::Migrate(e) => format!("数据库迁移失败：{e}"),
            StoreError::UnsupportedUrl(url) => {
                format!("不支持的数据库地址{url}：请用“sqlite:文件”或“postgres://用户@主机/数据库”")
            }
            StoreError::NoSuchMeasure { code, nearest } => {
                format!("没有序号为“{code}”的整改措施{}", hint(nearest))
            }
            StoreError::NoSuchUnit { unit, nearest } => {
                format!("没有名为“{unit}”的单位{}", hint(nearest))
            }
            StoreError::Corrupt { column, value } => {
                format!("数据库中{column}的值无法读取：{value:?}")
            }
        }
    }

    /// Whether trying again later may succeed: the database was busy, locked, unreachable
    /// or out of connections, or a transaction lost a race. Anything else fails the same
    /// way every time.
    pub fn is_transient(&self) -> bool {
        let StoreError::Database(error) = self else {
            return false;
        };
        match error {
            sqlx::Error::Io(_)
            | sqlx::Error::Tls(_)
            | sqlx::Error::Protocol(_)
            | sqlx::Error::PoolTimedOut
            | sqlx::Error::PoolClosed
            | sqlx::Error::WorkerCrashed => true,
            sqlx::Error::Database(db) => db.code().is_some_and(|code| {
                // SQLite: BUSY, LOCKED and their extended codes. PostgreSQL: serialization
                // failure, deadlock, lock not available, too many connections, shutdown,
                // and the connection-exception class.
                matches!(
                    code.as_ref(),
                    "5" | "6" | "261" | "262" | "517" | "40001" | "40P01" | "55P03" | "53300"
                ) || code.starts_with("57P")
                    || code.starts_with("08")
            }),
            _ => false,
        }
    }
}

impl From<sqlx::migrate::MigrateError> for StoreError {
    fn from(e: sqlx::migrate::MigrateError) -> StoreError {
        StoreError::Migrate(e)
    }
}

fn nearest_hint(nearest: &[String]) -> String {
    if nearest.is_empty() {
        return String::new();
    }
    format!(" (did you mean {}?)", nearest.join(", "))
}

/// Who changes something, from where, when, and why.
#[derive(Debug, Clone)]
pub struct Change {
    /// The person or process.
    pub actor: String,
    /// Where the change came from.
    pub source: Source,
    /// When.
    pub at: DateTime<Utc>,
    /// What they said.
    pub note: Option<String>,
    /// For a change from a chat: the unit, the chat and the words sent.
    pub chat: Option<ChatOrigin>,
}

/// Where in a chat a change came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChatOrigin {
    /// The unit the person answered for.
    pub unit: Option<String>,
    /// The chat, on its channel.
    pub chat: crate::core::chat::Address,
    /// The words sent, or the button pressed.
    pub raw_text: String,
    /// Who sent them, on the chat's channel.
    pub user: crate::core::chat::Address,
}

/// The ledger's database.
#[derive(Debug, Clone)]
pub struct Store {
    pool: AnyPool,
    backend: Backend,
    /// On SQLite, the turn to write: one writing transaction of this process at a time
    /// waits here, holding no connection, instead of in SQLite's busy handler holding one
    /// that the writer in front of it may need.
    writer: std::sync::Arc<tokio::sync::Mutex<()>>,
}

/// A transaction that writes, holding this process's turn to write on SQLite. It reads and
/// writes as the connection it derefs to.
pub(crate) struct WriteTx {
    tx: sqlx::Transaction<'static, sqlx::Any>,
    _turn: Option<tokio::sync::OwnedMutexGuard<()>>,
}

impl WriteTx {
    /// Commits, then gives the turn to write to the next writer.
    pub(crate) async fn commit(self) -> Result<(), sqlx::Error> {
        self.tx.commit().await
    }

    /// Rolls back, then gives the turn to write to the next writer.
    pub(crate) async fn rollback(self) -> Result<(), sqlx::Error> {
        self.tx.rollback().await
    }
}

impl std::ops::Deref for WriteTx {
    type Target = sqlx::AnyConnection;

    fn deref(&self) -> &sqlx::AnyConnection {
        &self.tx
    }
}

impl std::ops::DerefMut for WriteTx {
    fn deref_mut(&mut self) -> &mut sqlx::AnyConnection {
        &mut self.tx
    }
}

/// A pooled connection for writes outside a transaction (one statement each), holding this
/// process's turn to write on SQLite, as [`WriteTx`] does: without it such a write meets the
/// writing transaction in SQLite's busy handler, which sleeps in steps of milliseconds.
pub(crate) struct WriteConn {
    conn: sqlx::pool::PoolConnection<sqlx::Any>,
    _turn: Option<tokio::sync::OwnedMutexGuard<()>>,
}

impl std::ops::Deref for WriteConn {
    type Target = sqlx::AnyConnection;

    fn deref(&self) -> &sqlx::AnyConnection {
        &self.conn
    }
}

impl std::ops::DerefMut for WriteConn {
    fn deref_mut(&mut self) -> &mut sqlx::AnyConnection {
        &mut self.conn
    }
}

const SQLITE_MIGRATIONS: &[(i64, &str, &str)] = &[
    (
        1,
        "ledger",
        include_str!("../migrations/sqlite/0001_ledger.sql"),
    ),
    (
        2,
        "chat",
        include_str!("../migrations/sqlite/0002_chat.sql"),
    ),
    (
        3,
        "workflow",
        include_str!("../migrations/sqlite/0003_workflow.sql"),
    ),
    (
        4,
        "instances",
        include_str!("../migrations/sqlite/0004_instances.sql"),
    ),
    (
        5,
        "readings",
        include_str!("../migrations/sqlite/0005_readings.sql"),
    ),
    (
        6,
        "hardening",
        include_str!("../migrations/sqlite/0006_hardening.sql"),
    ),
    (
        7,
        "channels",
        include_str!("../migrations/sqlite/0007_channels.sql"),
    ),
    (8, "web", include_str!("../migrations/sqlite/0008_web.sql")),
    (
        9,
        "unit heads",
        include_str!("../migrations/sqlite/0009_unit_heads.sql"),
    ),
    (
        10,
        "measure checks",
        include_str!("../migrations/sqlite/0010_measure_checks.sql"),
    ),
];

const POSTGRES_MIGRATIONS: &[(i64, &str, &str)] = &[
    (
        1,
        "ledger",
        include_str!("../migrations/postgres/0001_ledger.sql"),
    ),
    (
        2,
        "chat",
        include_str!("../migrations/postgres/0002_chat.sql"),
    ),
    (
        3,
        "workflow",
        include_str!("../migrations/postgres/0003_workflow.sql"),
    ),
    (
        4,
        "instances",
        include_str!("../migrations/postgres/0004_instances.sql"),
    ),
    (
        5,
        "readings",
        include_str!("../migrations/postgres/0005_readings.sql"),
    ),
    (
        6,
        "hardening",
        include_str!("../migrations/postgres/0006_hardening.sql"),
    ),
    (
        7,
        "channels",
        include_str!("../migrations/postgres/0007_channels.sql"),
    ),
    (
        8,
        "web",
        include_str!("../migrations/postgres/0008_web.sql"),
    ),
    (
        9,
        "unit heads",
        include_str!("../migrations/postgres/0009_unit_heads.sql"),
    ),
];

/// Each SQLite connection's page cache: 32 MiB, which holds a 100,000-measure ledger's
/// tables for the listings. An import shrinks it while it writes (`store::import`).
pub(crate) const SQLITE_CACHE: &str = "PRAGMA cache_size = -32768";

/// The page size of a new SQLite database: 8 KiB instead of SQLite's 4 KiB. A
/// 100,000-measure import writes half as many pages, through half as many system calls
/// into the WAL and from it into the database at the checkpoint (about 7 % off its time),
/// and replies commit as fast as before (the telegram bench, same minutes: 1.28 × the
/// echo bot with 8 KiB, 1.04 × with 4 KiB). A database made before keeps its page size:
/// SQLite fixes it when the file is created.
pub(crate) const SQLITE_PAGE_SIZE: &str = "PRAGMA page_size = 8192";

/// The page cache of an import's SQLite connection while it writes: 2 MiB.
pub(crate) const SQLITE_IMPORT_CACHE: &str = "PRAGMA cache_size = -2048";

/// Turns off SQLite's memory statistics, which duban never reads, before the first SQLite
/// connection of the process: with them on, every allocation SQLite makes takes a global lock
/// to count it (a large import makes millions).
///
/// SQLite is built as libsqlite3-sys builds it, with SQLITE_ENABLE_MEMORY_MANAGEMENT, whose
/// one page cache for all connections takes a lock for every page touched. Built without it
/// (`LIBSQLITE3_FLAGS=-USQLITE_ENABLE_MEMORY_MANAGEMENT`), an import's writing thread ran 4 %
/// fewer instructions, but 1,000 replies pushed at once were applied 25 % slower (bench
/// `telegram`, four rounds each, taking turns: 3,280–4,010/s against 4,300–5,370/s).
fn sqlite_without_memory_statistics() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        // SAFETY: sqlite3_config is called before the process opens any SQLite connection
        // (every connection is opened after this Once); had SQLite been initialized already,
        // it returns SQLITE_MISUSE and changes nothing.
        let code = unsafe {
            rusqlite::ffi::sqlite3_config(
                rusqlite::ffi::SQLITE_CONFIG_MEMSTATUS,
                0 as std::ffi::c_int,
            )
        };
        if code != rusqlite::ffi::SQLITE_OK {
            tracing::debug!("SQLite keeps its memory statistics (sqlite3_config: {code})");
        }
    });
}

impl Store {
    /// Opens the database at `url`, creating an SQLite file on first use, in WAL mode, and
    /// waiting up to ten seconds for a connection. Migrations are not applied; call
    /// [`Store::migrate`].
    pub async fn connect(url: &str) -> Result<Store, StoreError> {
        Store::connect_with_timeout(url, std::time::Duration::from_secs(10)).await
    }

    /// Like [`Store::connect`], waiting up to `timeout` for a connection.
    pub async fn connect_with_timeout(
        url: &str,
        timeout: std::time::Duration,
    ) -> Result<Store, StoreError> {
        sqlx::any::install_default_drivers();
        let backend = Backend::from_url(url)?;
        if backend == Backend::Sqlite {
            sqlite_without_memory_statistics();
        }
        let url = match backend {
            Backend::Sqlite if !url.contains("mode=") => {
                let glue = if url.contains('?') { '&' } else { '?' };
                format!("{url}{glue}mode=rwc")
            }
            _ => url.to_string(),
        };
        let options: AnyConnectOptions = url.parse()?;
        let pool = AnyPoolOptions::new()
            .acquire_timeout(timeout)
            .max_connections(match backend {
                Backend::Sqlite => 8,
                Backend::Postgres => 16,
            })
            .after_connect(move |conn, _meta| {
                Box::pin(async move {
                    if backend == Backend::Sqlite {
                        // Before WAL mode, which writes a new database's first page.
                        conn.execute(SQLITE_PAGE_SIZE).await?;
                        conn.execute("PRAGMA journal_mode = WAL").await?;
                        // Every commit is on disk before it returns: what the service then
                        // acknowledges (a getUpdates offset, a Stream ack, a webhook's 200, a
                        // message marked sent) survives a power cut. Group commit pays for it.
                        conn.execute("PRAGMA synchronous = FULL").await?;
                        conn.execute("PRAGMA foreign_keys = ON").await?;
                        conn.execute("PRAGMA busy_timeout = 5000").await?;
                        conn.execute(SQLITE_CACHE).await?;
                    }
                    Ok(())
                })
            })
            .connect_with(options)
            .await?;
        Ok(Store {
            pool,
            backend,
            writer: Default::default(),
        })
    }

    /// Opens the database and applies any pending migrations.
    pub async fn open(url: &str) -> Result<Store, StoreError> {
        Store::open_with_timeout(url, std::time::Duration::from_secs(10)).await
    }

    /// Like [`Store::open`], waiting up to `timeout` for a connection.
    pub async fn open_with_timeout(
        url: &str,
        timeout: std::time::Duration,
    ) -> Result<Store, StoreError> {
        let store = Store::connect_with_timeout(url, timeout).await?;
        store.migrate().await?;
        Ok(store)
    }

    /// Starts a transaction that writes. On SQLite it first waits for this process's turn
    /// to write (holding no connection meanwhile), then takes the write lock at once
    /// (`BEGIN IMMEDIATE`), so that a writer of another process queues on the busy timeout
    /// instead of failing when a read lock cannot be upgraded. A burst of updates is thus
    /// applied one after the other on SQLite, each as fast as its writes, and side by side
    /// on PostgreSQL.
    pub(crate) async fn begin_write(&self) -> Result<WriteTx, StoreError> {
        Ok(match self.backend {
            Backend::Sqlite => {
                let turn = std::sync::Arc::clone(&self.writer).lock_owned().await;
                WriteTx {
                    tx: self.pool.begin_with("BEGIN IMMEDIATE").await?,
                    _turn: Some(turn),
                }
            }
            Backend::Postgres => WriteTx {
                tx: self.pool.begin().await?,
                _turn: None,
            },
        })
    }

    /// A connection for writes outside a transaction. On SQLite it first waits for this
    /// process's turn to write, holding no connection meanwhile, as [`Store::begin_write`].
    pub(crate) async fn write_conn(&self) -> Result<WriteConn, StoreError> {
        let turn = match self.backend {
            Backend::Sqlite => Some(std::sync::Arc::clone(&self.writer).lock_owned().await),
            Backend::Postgres => None,
        };
        Ok(WriteConn {
            conn: self.pool.acquire().await?,
            _turn: turn,
        })
    }

    /// The backend.
    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// Applies the pending migrations of this backend's dialect; returns how many ran.
    pub async fn migrate(&self) -> Result<usize, StoreError> {
        self.migrate_until(i64::MAX).await
    }

    /// Applies the pending migrations up to version `last`: a database as an older release
    /// left it, for upgrade tests.
    pub async fn migrate_until(&self, last: i64) -> Result<usize, StoreError> {
        let list = match self.backend {
            Backend::Sqlite => SQLITE_MIGRATIONS,
            Backend::Postgres => POSTGRES_MIGRATIONS,
        };
        let migrations = list
            .iter()
            .filter(|(version, _, _)| *version <= last)
            .map(|(version, description, sql)| {
                // A script that opens its own transaction (to rebuild tables with foreign
                // keys off, as SQLite requires) runs outside the migrator's.
                let own_transaction = sql.contains("\nBEGIN IMMEDIATE;");
                Migration::new(
                    *version,
                    Cow::Borrowed(*description),
                    MigrationType::Simple,
                    sql.into_sql_str(),
                    own_transaction,
                )
            })
            .collect();
        let migrator = Migrator::with_migrations(migrations);
        let before = self.applied_migrations().await.unwrap_or(0);
        migrator.run(&self.pool).await?;
        let after = self.applied_migrations().await?;
        Ok(after.saturating_sub(before))
    }

    async fn applied_migrations(&self) -> Result<usize, StoreError> {
        let count: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM _sqlx_migrations")
            .fetch_one(&self.pool)
            .await?;
        Ok(count as usize)
    }

    /// Closes the pool, waiting for connections to finish.
    pub async fn close(&self) {
        self.pool.close().await;
    }
}

/// An instant as stored: RFC 3339 in UTC with microseconds, so that it sorts as text.
pub(crate) fn instant_text(at: DateTime<Utc>) -> String {
    at.format("%Y-%m-%dT%H:%M:%S%.6fZ").to_string()
}

pub(crate) fn parse_instant(column: &'static str, text: &str) -> Result<DateTime<Utc>, StoreError> {
    DateTime::parse_from_rfc3339(text)
        .map(|t| t.with_timezone(&Utc))
        .map_err(|_| StoreError::Corrupt {
            column,
            value: text.to_string(),
        })
}

/// A day as stored: `%Y-%m-%d`, which is how chrono displays a date, written digit by digit
/// ([`crate::core::ledger::iso_day_bytes`]).
pub(crate) fn date_text(day: NaiveDate) -> String {
    match crate::core::ledger::iso_day_bytes(day) {
        Some(bytes) => String::from_utf8_lossy(&bytes).into_owned(),
        None => day.to_string(),
    }
}

pub(crate) fn parse_date(column: &'static str, text: &str) -> Result<NaiveDate, StoreError> {
    NaiveDate::parse_from_str(text, "%Y-%m-%d").map_err(|_| StoreError::Corrupt {
        column,
        value: text.to_string(),
    })
}

pub(crate) fn parse_status(column: &'static str, text: &str) -> Result<Status, StoreError> {
    Status::ALL
        .into_iter()
        .find(|s| s.code() == text)
        .ok_or_else(|| StoreError::Corrupt {
            column,
            value: text.to_string(),
        })
}

/// The codes closest to `code` among `codes`, for "did you mean" hints.
pub fn nearest<'a>(code: &str, candidates: impl IntoIterator<Item = &'a str>) -> Vec<String> {
    let mut scored: Vec<(usize, &str)> = candidates
        .into_iter()
        .map(|c| (edit_distance(code, c), c))
        .filter(|(d, c)| {
            *d <= 2.max(code.chars().count() / 3) || c.contains(code) || code.contains(c)
        })
        .collect();
    scored.sort();
    scored
        .into_iter()
        .take(3)
        .map(|(_, c)| c.to_string())
        .collect()
}

fn edit_distance(a: &str, b: &str) -> usize {
    let a: Vec<char> = a.chars().collect();
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.iter().enumerate() {
        let mut prev = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let cost = usize::from(ca != cb);
            let next = (row[j + 1] + 1).min(row[j] + 1).min(prev + cost);
            prev = row[j + 1];
            row[j + 1] = next;
        }
    }
    row[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A stored day reads as `%Y-%m-%d` says, for every day of the years ledgers use and
    /// at the edges of what a date can be.
    #[test]
    fn days_are_stored_as_year_month_day() {
        let mut day = NaiveDate::from_ymd_opt(1899, 12, 25).unwrap();
        let mut days = vec![NaiveDate::MIN, NaiveDate::MAX];
        days.extend(
            [(-1, 1, 1), (0, 1, 1), (9999, 12, 31), (10000, 1, 1)]
                .map(|(y, m, d)| NaiveDate::from_ymd_opt(y, m, d).unwrap()),
        );
        while chrono::Datelike::year(&day) < 2101 {
            days.push(day);
            day = day.succ_opt().unwrap();
        }
        for day in days {
            assert_eq!(date_text(day), day.format("%Y-%m-%d").to_string());
        }
    }

    #[test]
    fn nearest_codes() {
        let codes = ["1-1", "1-2", "1-10", "2-1", "10-1"];
        assert_eq!(nearest("1-3", codes), vec!["1-1", "1-2", "1-10"]);
        assert!(nearest("zzzzzzzz", codes).is_empty());
        let units = ["经济发展局", "投资服务中心", "党工委办公室"];
        assert_eq!(nearest("经济发展", units), vec!["经济发展局"]);
        assert_eq!(nearest("经发局", units), vec!["经济发展局"]);
    }

    #[test]
    fn urls_choose_the_backend() {
        assert_eq!(
            Backend::from_url("sqlite:duban.db").unwrap(),
            Backend::Sqlite
        );
        assert_eq!(
            Backend::from_url("postgres://u@h/d").unwrap(),
            Backend::Postgres
        );
        let err = Backend::from_url("mysql://u:secret@h/d")
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("unsupported") && !err.contains("secret"),
            "{err}"
        );
    }

    /// An import shrinks its SQLite connection's page cache while it writes and gives it
    /// back before it ends, whether it commits, is a dry run or fails: the connection goes
    /// back to the pool as it came.
    #[tokio::test]
    async fn imports_give_their_connection_its_page_cache_back() {
        use crate::ingest::import::{ImportOptions, import_file};
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite:{}", dir.path().join("cache.db").display());
        let store = Store::open(&url).await.unwrap();
        let ledger = dir.path().join("ledger.xlsx");
        crate::ingest::sample::write_sample(&ledger).unwrap();
        let broken = dir.path().join("broken.xlsx");
        std::fs::write(&broken, b"PK\x03\x04 not a workbook").unwrap();
        for (file, dry_run, ok) in [
            (&ledger, false, true),
            (&ledger, true, true),
            (&broken, false, false),
        ] {
            let options = ImportOptions {
                dry_run,
                sheet: None,
                actor: "office".into(),
                at: chrono::Utc::now(),
                progress: None,
                max_megabytes: 200,
            };
            let result = import_file(&store, file, options).await;
            assert_eq!(result.is_ok(), ok, "{file:?} {dry_run}");
            // Every connection the pool holds, the import's among them.
            let mut held = Vec::new();
            for _ in 0..store.pool.size() {
                let mut conn = store.pool.acquire().await.unwrap();
                let cache: i64 = sqlx::query_scalar("PRAGMA cache_size")
                    .fetch_one(&mut *conn)
                    .await
                    .unwrap();
                assert_eq!(cache, -32768, "{file:?} {dry_run}");
                held.push(conn);
            }
        }
        let measures: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM measures")
            .fetch_one(&store.pool)
            .await
            .unwrap();
        assert!(measures > 0);
    }

    /// Every connection of an SQLite store syncs each commit to disk before it returns
    /// (`synchronous = FULL`, 2), in WAL mode: what the service acknowledges after a commit
    /// survives a power cut.
    #[tokio::test]
    async fn sqlite_commits_are_durable_before_they_return() {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite:{}", dir.path().join("durable.db").display());
        let store = Store::connect(&url).await.unwrap();
        let mut held = Vec::new();
        for _ in 0..3 {
            let mut conn = store.pool.acquire().await.unwrap();
            let synchronous: i64 = sqlx::query_scalar("PRAGMA synchronous")
                .fetch_one(&mut *conn)
                .await
                .unwrap();
            let journal: String = sqlx::query_scalar("PRAGMA journal_mode")
                .fetch_one(&mut *conn)
                .await
                .unwrap();
            assert_eq!((synchronous, journal.as_str()), (2, "wal"));
            held.push(conn);
        }
        drop(held);
        store.close().await;
    }

    /// A new SQLite database has 8 KiB pages; one made with SQLite's 4 KiB before keeps
    /// them, migrates and takes an import.
    #[tokio::test]
    async fn new_databases_have_8_kib_pages_and_older_ones_keep_theirs() {
        use sqlx::Connection;
        let dir = tempfile::tempdir().unwrap();
        let page_size = |url: String| async move {
            let mut conn = sqlx::SqliteConnection::connect(&url).await.unwrap();
            let size: i64 = sqlx::query_scalar("PRAGMA page_size")
                .fetch_one(&mut conn)
                .await
                .unwrap();
            size
        };
        let new = format!("sqlite:{}", dir.path().join("new.db").display());
        Store::open(&new).await.unwrap().close().await;
        assert_eq!(page_size(new).await, 8192);

        let old_path = dir.path().join("old.db");
        let old = format!("sqlite:{}", old_path.display());
        {
            let mut conn = sqlx::SqliteConnection::connect(&format!("{old}?mode=rwc"))
                .await
                .unwrap();
            sqlx::query("PRAGMA journal_mode = WAL")
                .execute(&mut conn)
                .await
                .unwrap();
            sqlx::query("CREATE TABLE before_duban (x INTEGER)")
                .execute(&mut conn)
                .await
                .unwrap();
            conn.close().await.unwrap();
        }
        assert_eq!(page_size(old.clone()).await, 4096);
        let store = Store::open(&old).await.unwrap();
        let file = dir.path().join("ledger.csv");
        std::fs::write(
            &file,
            "序号,整改措施,牵头单位,完成时限\n1,措施一,经发局,2024-06-30\n",
        )
        .unwrap();
        let options = crate::ingest::import::ImportOptions {
            dry_run: false,
            sheet: None,
            actor: "整改办".into(),
            at: Utc::now(),
            progress: None,
            max_megabytes: 10,
        };
        crate::ingest::import::import_file(&store, &file, options)
            .await
            .unwrap();
        assert_eq!(store.measures().await.unwrap().len(), 1);
        store.close().await;
        assert_eq!(page_size(old).await, 4096);
    }

    #[test]
    fn instants_round_trip_and_sort_as_text() {
        let a = DateTime::parse_from_rfc3339("2024-01-02T03:04:05.123456Z")
            .unwrap()
            .with_timezone(&Utc);
        let text = instant_text(a);
        assert_eq!(text, "2024-01-02T03:04:05.123456Z");
        assert_eq!(parse_instant("t", &text).unwrap(), a);
        assert!(instant_text(a) < instant_text(a + chrono::Duration::microseconds(1)));
    }
}
