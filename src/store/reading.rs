//! Unclear readings of replies, kept until the liaison confirms or drops them.

use chrono::{DateTime, Utc};
use sqlx::Row;

use super::chat::{UpdateTx, parse_address};
use super::{StoreError, instant_text, parse_instant};
use crate::core::chat::Address;

/// A reading to keep until it is confirmed.
#[derive(Debug, Clone, Copy)]
pub struct NewPendingReading<'a> {
    /// The measure it is about.
    pub measure_id: i64,
    /// Its code.
    pub code: &'a str,
    /// The reading (a serialized [`crate::core::reply::Intent`]).
    pub intent: &'a str,
    /// The words as sent.
    pub raw: &'a str,
    /// The unit the person answers for.
    pub unit: Option<&'a str>,
    /// The chat it came from.
    pub chat: &'a Address,
    /// Who sent it.
    pub user: &'a Address,
    /// When.
    pub at: DateTime<Utc>,
}

/// A reading waiting for its confirmation.
#[derive(Debug, Clone, PartialEq)]
pub struct PendingReading {
    /// The measure it is about.
    pub measure_id: i64,
    /// Its code.
    pub code: String,
    /// The reading (a serialized [`crate::core::reply::Intent`]).
    pub intent: String,
    /// The words as sent.
    pub raw: String,
    /// The unit the person answered for.
    pub unit: Option<String>,
    /// Who sent it.
    pub user: Address,
    /// When.
    pub created_at: DateTime<Utc>,
}

impl UpdateTx<'_> {
    /// Keeps an unclear reading until it is confirmed; returns its id.
    pub async fn add_pending_reading(
        &mut self,
        reading: &NewPendingReading<'_>,
    ) -> Result<i64, StoreError> {
        Ok(sqlx::query_scalar(
            "INSERT INTO pending_readings (measure_id, code, intent, raw_text, unit, chat_id, user_id, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING id",
        )
        .bind(reading.measure_id)
        .bind(reading.code)
        .bind(reading.intent)
        .bind(reading.raw)
        .bind(reading.unit)
        .bind(reading.chat.to_string())
        .bind(reading.user.to_string())
        .bind(instant_text(reading.at))
        .fetch_one(self.conn().await?)
        .await?)
    }

    /// A reading kept for confirmation, decided or not.
    pub async fn pending_reading(&mut self, id: i64) -> Result<Option<PendingReading>, StoreError> {
        let row = sqlx::query(
            "SELECT measure_id, code, intent, raw_text, unit, user_id, created_at FROM pending_readings WHERE id = $1",
        )
        .bind(id)
        .fetch_optional(self.conn().await?)
        .await?;
        let Some(row) = row else {
            return Ok(None);
        };
        Ok(Some(PendingReading {
            measure_id: row.try_get(0)?,
            code: row.try_get(1)?,
            intent: row.try_get(2)?,
            raw: row.try_get(3)?,
            unit: row.try_get(4)?,
            user: parse_address("pending_readings.user_id", row.try_get(5)?)?.ok_or(
                StoreError::Corrupt {
                    column: "pending_readings.user_id",
                    value: String::new(),
                },
            )?,
            created_at: parse_instant("pending_readings.created_at", row.try_get(6)?)?,
        }))
    }

    /// Records the liaison's answer to an unclear reading; false when it was answered before
    /// (a second press changes nothing).
    pub async fn decide_pending_reading(
        &mut self,
        id: i64,
        confirmed: bool,
        at: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        let done = sqlx::query(
            "UPDATE pending_readings SET decided_at = $1, confirmed = $2 WHERE id = $3 AND decided_at IS NULL",
        )
        .bind(instant_text(at))
        .bind(confirmed)
        .bind(id)
        .execute(self.conn().await?)
        .await?;
        Ok(done.rows_affected() == 1)
    }
}
