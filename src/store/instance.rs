//! Several instances on one database: leases for the jobs only one instance may run, the
//! instances alive, and outbox rows claimed by the sender working on them.

use std::time::Duration;

use chrono::{DateTime, Utc};
use sqlx::Row;

use super::{Backend, Store, StoreError, instant_text, parse_instant};

/// Who holds a lease, and until when.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LeaseHolder {
    /// The lease (`schedule`, `poll`).
    pub name: String,
    /// The instance holding it.
    pub holder: String,
    /// When it ends unless renewed.
    pub expires_at: DateTime<Utc>,
}

/// The outbox at a glance, for health checks and metrics.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct OutboxHealth {
    /// Messages waiting to go, due or not.
    pub pending: i64,
    /// The age of the oldest of them, in seconds (0 when none waits).
    pub oldest_seconds: f64,
    /// Messages sent.
    pub sent: i64,
    /// Messages given up.
    pub dead: i64,
}

impl Store {
    /// Takes the lease `name` for `holder` until `until`, or renews it when `holder` has it.
    /// Returns whether `holder` holds it now. A lease past its end goes to whoever asks.
    pub async fn acquire_lease(
        &self,
        name: &str,
        holder: &str,
        now: DateTime<Utc>,
        until: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        let taken = sqlx::query(
            "INSERT INTO leases (name, holder, acquired_at, expires_at) VALUES ($1, $2, $3, $4) \
             ON CONFLICT (name) DO UPDATE SET holder = excluded.holder, expires_at = excluded.expires_at, \
             acquired_at = CASE WHEN leases.holder = excluded.holder THEN leases.acquired_at ELSE excluded.acquired_at END \
             WHERE leases.holder = excluded.holder OR leases.expires_at < excluded.acquired_at",
        )
        .bind(name)
        .bind(holder)
        .bind(instant_text(now))
        .bind(instant_text(until))
        .execute(&mut *self.write_conn().await?)
        .await?
        .rows_affected();
        Ok(taken == 1)
    }

    /// Gives the lease up, if `holder` has it, so another instance takes it at once.
    pub async fn release_lease(&self, name: &str, holder: &str) -> Result<(), StoreError> {
        sqlx::query("DELETE FROM leases WHERE name = $1 AND holder = $2")
            .bind(name)
            .bind(holder)
            .execute(&mut *self.write_conn().await?)
            .await?;
        Ok(())
    }

    /// Every lease with its holder, expired ones included.
    pub async fn leases(&self) -> Result<Vec<LeaseHolder>, StoreError> {
        let rows = sqlx::query("SELECT name, holder, expires_at FROM leases ORDER BY name")
            .fetch_all(&self.pool)
            .await?;
        rows.iter()
            .map(|r| {
                Ok(LeaseHolder {
                    name: r.try_get(0)?,
                    holder: r.try_get(1)?,
                    expires_at: parse_instant("leases.expires_at", r.try_get(2)?)?,
                })
            })
            .collect()
    }

    /// Records that instance `id` is alive at `now`.
    pub async fn heartbeat(
        &self,
        id: &str,
        host: &str,
        pid: u32,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO instances (id, host, pid, started_at, seen_at) VALUES ($1, $2, $3, $4, $4) \
             ON CONFLICT (id) DO UPDATE SET seen_at = excluded.seen_at",
        )
        .bind(id)
        .bind(host)
        .bind(pid as i64)
        .bind(instant_text(now))
        .execute(&mut *self.write_conn().await?)
        .await?;
        Ok(())
    }

    /// Removes instance `id` (it stops) and instances not seen since `stale`.
    pub async fn forget_instance(&self, id: &str, stale: DateTime<Utc>) -> Result<(), StoreError> {
        sqlx::query("DELETE FROM instances WHERE id = $1 OR seen_at < $2")
            .bind(id)
            .bind(instant_text(stale))
            .execute(&mut *self.write_conn().await?)
            .await?;
        Ok(())
    }

    /// How many instances were seen since `since`.
    pub async fn live_instances(&self, since: DateTime<Utc>) -> Result<i64, StoreError> {
        Ok(
            sqlx::query_scalar("SELECT COUNT(*) FROM instances WHERE seen_at >= $1")
                .bind(instant_text(since))
                .fetch_one(&self.pool)
                .await?,
        )
    }

    /// Claims outbox row `id` (of `chat_id`) for `holder` until `until`, so that no other
    /// sender takes it. Refused when the row is gone, claimed by a sender still within its
    /// claim, or when another sender is working on a message to the same chat. With
    /// `spacing`, also refused until that long after the chat's last message (the chat's
    /// limit, kept across senders). On PostgreSQL the row is locked with `FOR UPDATE SKIP
    /// LOCKED` and claims on one chat take turns (a transaction-scoped advisory lock on the
    /// chat); on SQLite the write lock does both.
    pub async fn claim_outbox(
        &self,
        id: i64,
        chat: &crate::core::chat::Address,
        holder: &str,
        now: DateTime<Utc>,
        until: DateTime<Utc>,
        spacing: Option<Duration>,
    ) -> Result<bool, StoreError> {
        let now_text = instant_text(now);
        let recent = spacing
            .map(|gap| instant_text(now - chrono::Duration::from_std(gap).unwrap_or_default()));
        let mut tx = self.begin_write().await?;
        let pick = match self.backend {
            Backend::Postgres => {
                // One lock per chat: its address hashed to the lock's 64-bit key.
                let key = crate::core::ledger::fnv1a(chat.to_string().into_bytes()) as i64;
                sqlx::query("SELECT 1 FROM (SELECT pg_advisory_xact_lock($1)) AS l")
                    .bind(key)
                    .fetch_one(&mut *tx)
                    .await?;
                "(SELECT id FROM outbox WHERE id = $1 AND state = 'pending' \
                 AND (claimed_until IS NULL OR claimed_until < $3) FOR UPDATE SKIP LOCKED)"
            }
            Backend::Sqlite => {
                "(SELECT id FROM outbox WHERE id = $1 AND state = 'pending' \
                 AND (claimed_until IS NULL OR claimed_until < $3))"
            }
        };
        let sql = format!(
            "UPDATE outbox SET claimed_by = $2, claimed_until = $4 WHERE id = {pick} \
             AND NOT EXISTS (SELECT 1 FROM outbox o WHERE o.channel = $7 AND o.chat_id = $5 AND o.id <> $1 \
                 AND o.state = 'pending' AND o.claimed_until >= $3) \
             AND NOT EXISTS (SELECT 1 FROM outbox o WHERE o.channel = $7 AND o.chat_id = $5 AND o.state = 'sent' \
                 AND $6 IS NOT NULL AND o.sent_at > $6)"
        );
        // The SQL is put together from constants only.
        let claimed = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(id)
            .bind(holder)
            .bind(&now_text)
            .bind(instant_text(until))
            .bind(&chat.id)
            .bind(recent)
            .bind(chat.channel.code())
            .execute(&mut *tx)
            .await?
            .rows_affected();
        tx.commit().await?;
        Ok(claimed == 1)
    }

    /// Renews `holder`'s claim on a row until `until`, right before its send; `false` when
    /// the row is no longer theirs to send (the claim ran out and another sender took it,
    /// or it was sent).
    pub async fn renew_claim(
        &self,
        id: i64,
        holder: &str,
        until: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        let renewed = sqlx::query(
            "UPDATE outbox SET claimed_until = $3 WHERE id = $1 AND claimed_by = $2 AND state = 'pending'",
        )
        .bind(id)
        .bind(holder)
        .bind(instant_text(until))
        .execute(&mut *self.write_conn().await?)
        .await?
        .rows_affected();
        Ok(renewed == 1)
    }

    /// Lets go of a claimed row without sending it (the channel refused the bot).
    pub async fn release_claim(&self, id: i64) -> Result<(), StoreError> {
        sqlx::query("UPDATE outbox SET claimed_by = NULL, claimed_until = NULL WHERE id = $1")
            .bind(id)
            .execute(&mut *self.write_conn().await?)
            .await?;
        Ok(())
    }

    /// The outbox at a glance.
    pub async fn outbox_health(&self, now: DateTime<Utc>) -> Result<OutboxHealth, StoreError> {
        let counts = self.outbox_counts().await?;
        let oldest: Option<String> =
            sqlx::query_scalar("SELECT MIN(created_at) FROM outbox WHERE state = 'pending'")
                .fetch_one(&self.pool)
                .await?;
        let oldest_seconds = match oldest {
            Some(text) => {
                let at = parse_instant("outbox.created_at", &text)?;
                ((now - at).num_milliseconds().max(0) as f64) / 1000.0
            }
            None => 0.0,
        };
        Ok(OutboxHealth {
            pending: counts.pending,
            oldest_seconds,
            sent: counts.sent,
            dead: counts.dead,
        })
    }

    /// When the last run of `kind` (`sweep`, `digest`) finished, if one did.
    pub async fn last_run(&self, kind: &str) -> Result<Option<DateTime<Utc>>, StoreError> {
        let last: Option<String> =
            sqlx::query_scalar("SELECT MAX(finished_at) FROM runs WHERE kind = $1")
                .bind(kind)
                .fetch_one(&self.pool)
                .await?;
        last.map(|t| parse_instant("runs.finished_at", &t))
            .transpose()
    }

    /// The SQLite database's file, when the store is SQLite on a file.
    pub async fn sqlite_file(&self) -> Result<Option<std::path::PathBuf>, StoreError> {
        if self.backend != Backend::Sqlite {
            return Ok(None);
        }
        let file: Option<String> =
            sqlx::query_scalar("SELECT file FROM pragma_database_list WHERE name = 'main'")
                .fetch_optional(&self.pool)
                .await?;
        Ok(file.filter(|f| !f.is_empty()).map(std::path::PathBuf::from))
    }

    /// Keeps a file the service made (under the data directory at `path`) in the database
    /// too, on PostgreSQL, where another instance may be the one to send it. A no-op on
    /// SQLite: one instance, one data directory.
    pub async fn keep_file(
        &self,
        path: &str,
        bytes: &[u8],
        at: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        if self.backend != Backend::Postgres {
            return Ok(());
        }
        sqlx::query(
            "INSERT INTO files (path, bytes, created_at) VALUES ($1, $2, $3) \
             ON CONFLICT (path) DO UPDATE SET bytes = excluded.bytes, created_at = excluded.created_at",
        )
        .bind(path)
        .bind(bytes.to_vec())
        .bind(instant_text(at))
        .execute(&mut *self.write_conn().await?)
        .await?;
        Ok(())
    }

    /// A file kept with [`Store::keep_file`], if there is one.
    pub async fn kept_file(&self, path: &str) -> Result<Option<Vec<u8>>, StoreError> {
        if self.backend != Backend::Postgres {
            return Ok(None);
        }
        Ok(
            sqlx::query_scalar("SELECT bytes FROM files WHERE path = $1")
                .bind(path)
                .fetch_optional(&self.pool)
                .await?,
        )
    }

    /// Whether the database answers.
    pub async fn ping(&self) -> Result<(), StoreError> {
        let _: i64 = sqlx::query_scalar("SELECT CAST(1 AS BIGINT)")
            .fetch_one(&self.pool)
            .await?;
        Ok(())
    }
}
