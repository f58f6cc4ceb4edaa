//! Updates held back: one that failed for a reason that does not pass by itself waits here
//! with its payload, so that the updates of other chats go on; the same chat's later updates
//! wait behind it, so that one chat's updates are still applied in order.

use chrono::{DateTime, Utc};
use sqlx::{AnyConnection, Row};

use super::{Store, StoreError, instant_text, parse_instant};
use crate::core::chat::ChannelKind;

/// Holds an update back until its next try. Holding it again changes nothing.
pub(super) async fn hold_update_in(
    conn: &mut AnyConnection,
    held: &NewHeldUpdate<'_>,
) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO held_updates (channel, update_id, chat_id, payload, attempts, next_try, last_error, held_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT (channel, update_id) DO NOTHING",
    )
    .bind(held.channel.code())
    .bind(held.update_id)
    .bind(held.chat_id)
    .bind(held.payload)
    .bind(i64::from(held.attempts))
    .bind(instant_text(held.next_try))
    .bind(clip_error(held.error))
    .bind(instant_text(held.at))
    .execute(conn)
    .await?;
    Ok(())
}

/// Whether a chat has an update held back.
pub(super) async fn chat_held_in(
    conn: &mut AnyConnection,
    channel: ChannelKind,
    chat_id: &str,
) -> Result<bool, StoreError> {
    if chat_id.is_empty() {
        return Ok(false);
    }
    let found: Option<i64> = sqlx::query_scalar(
        "SELECT seq FROM held_updates WHERE channel = $1 AND chat_id = $2 LIMIT 1",
    )
    .bind(channel.code())
    .bind(chat_id)
    .fetch_optional(conn)
    .await?;
    Ok(found.is_some())
}

/// An update held back, as the service tries it again.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HeldUpdate {
    /// Its channel.
    pub channel: ChannelKind,
    /// Its id there.
    pub update_id: String,
    /// The chat it came from (empty when none).
    pub chat_id: String,
    /// The update as JSON (a serialized [`crate::core::chat::Incoming`]).
    pub payload: String,
    /// How often it was tried and failed.
    pub attempts: u32,
    /// Why it failed last.
    pub last_error: String,
}

/// An update to hold back.
#[derive(Debug, Clone, Copy)]
pub struct NewHeldUpdate<'a> {
    /// Its channel.
    pub channel: ChannelKind,
    /// Its id there.
    pub update_id: &'a str,
    /// The chat it came from (empty when none).
    pub chat_id: &'a str,
    /// The update as JSON.
    pub payload: &'a str,
    /// How often it has failed so far.
    pub attempts: u32,
    /// Why it is held back.
    pub error: &'a str,
    /// When.
    pub at: DateTime<Utc>,
    /// When to try it again.
    pub next_try: DateTime<Utc>,
}

impl Store {
    /// Holds an update back until its next try. Holding it again changes nothing.
    pub async fn hold_update(&self, held: &NewHeldUpdate<'_>) -> Result<(), StoreError> {
        let mut conn = self.write_conn().await?;
        hold_update_in(&mut conn, held).await
    }

    /// Whether a chat has an update held back: its later updates wait behind it.
    pub async fn chat_held(&self, channel: ChannelKind, chat_id: &str) -> Result<bool, StoreError> {
        let mut conn = self.pool.acquire().await?;
        chat_held_in(&mut conn, channel, chat_id).await
    }

    /// The held update to try now: the first of its chat, due by `now`, the longest due
    /// first. `None` when none is due.
    pub async fn next_held(&self, now: DateTime<Utc>) -> Result<Option<HeldUpdate>, StoreError> {
        let row = sqlx::query(
            "SELECT h.channel, h.update_id, h.chat_id, h.payload, h.attempts, h.last_error FROM held_updates h \
             WHERE h.next_try <= $1 AND (h.chat_id = '' OR NOT EXISTS \
             (SELECT 1 FROM held_updates e WHERE e.channel = h.channel AND e.chat_id = h.chat_id AND e.seq < h.seq)) \
             ORDER BY h.next_try, h.seq LIMIT 1",
        )
        .bind(instant_text(now))
        .fetch_optional(&self.pool)
        .await?;
        let Some(row) = row else { return Ok(None) };
        let channel: String = row.try_get(0)?;
        let attempts: i64 = row.try_get(4)?;
        Ok(Some(HeldUpdate {
            channel: ChannelKind::from_code(&channel).ok_or(StoreError::Corrupt {
                column: "held_updates.channel",
                value: channel.clone(),
            })?,
            update_id: row.try_get(1)?,
            chat_id: row.try_get(2)?,
            payload: row.try_get(3)?,
            attempts: u32::try_from(attempts).unwrap_or(u32::MAX),
            last_error: row.try_get(5)?,
        }))
    }

    /// When the next held update is due, if any is held.
    pub async fn next_held_time(&self) -> Result<Option<DateTime<Utc>>, StoreError> {
        let next: Option<String> = sqlx::query_scalar("SELECT MIN(next_try) FROM held_updates")
            .fetch_one(&self.pool)
            .await?;
        next.map(|t| parse_instant("held_updates.next_try", &t))
            .transpose()
    }

    /// A held update failed again: tried again at `next_try`.
    pub async fn held_again(
        &self,
        channel: ChannelKind,
        update_id: &str,
        attempts: u32,
        error: &str,
        next_try: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "UPDATE held_updates SET attempts = $3, last_error = $4, next_try = $5 WHERE channel = $1 AND update_id = $2",
        )
        .bind(channel.code())
        .bind(update_id)
        .bind(i64::from(attempts))
        .bind(clip_error(error))
        .bind(instant_text(next_try))
        .execute(&mut *self.write_conn().await?)
        .await?;
        Ok(())
    }

    /// A held update is done with: applied, or skipped.
    pub async fn release_held(
        &self,
        channel: ChannelKind,
        update_id: &str,
    ) -> Result<(), StoreError> {
        sqlx::query("DELETE FROM held_updates WHERE channel = $1 AND update_id = $2")
            .bind(channel.code())
            .bind(update_id)
            .execute(&mut *self.write_conn().await?)
            .await?;
        Ok(())
    }

    /// How many updates are held back.
    pub async fn held_count(&self) -> Result<i64, StoreError> {
        Ok(sqlx::query_scalar("SELECT COUNT(*) FROM held_updates")
            .fetch_one(&self.pool)
            .await?)
    }
}

/// An error as kept with a held update: its first 500 characters.
fn clip_error(error: &str) -> String {
    error.chars().take(500).collect()
}
