//! What senders who are not bound did (answers they got, invitation codes that were wrong),
//! counted so that a flood of them cannot fill the outbox or guess a code.

use chrono::{DateTime, Utc};

use super::chat::UpdateTx;
use super::{StoreError, instant_text};
use crate::core::chat::Address;

/// Something a sender who is not bound did, or got.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StrangerEvent {
    /// The bot answered them.
    Answer,
    /// The bot stayed silent: they had their answers for the hour.
    Silenced,
    /// They sent an invitation code that is not one.
    BadCode,
}

impl StrangerEvent {
    fn code(self) -> &'static str {
        match self {
            StrangerEvent::Answer => "answer",
            StrangerEvent::Silenced => "silenced",
            StrangerEvent::BadCode => "bad_code",
        }
    }
}

impl UpdateTx<'_> {
    /// How often `user` had `event` since `since`.
    pub async fn stranger_count(
        &mut self,
        user: &Address,
        event: StrangerEvent,
        since: DateTime<Utc>,
    ) -> Result<i64, StoreError> {
        Ok(sqlx::query_scalar(
            "SELECT COUNT(*) FROM stranger_events WHERE user_id = $1 AND kind = $2 AND at >= $3",
        )
        .bind(user.to_string())
        .bind(event.code())
        .bind(instant_text(since))
        .fetch_one(self.read_conn().await?)
        .await?)
    }

    /// Whether anyone had `event` since `since`.
    pub async fn stranger_event_since(
        &mut self,
        event: StrangerEvent,
        since: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        let found: Option<i64> = sqlx::query_scalar(
            "SELECT id FROM stranger_events WHERE kind = $1 AND at >= $2 LIMIT 1",
        )
        .bind(event.code())
        .bind(instant_text(since))
        .fetch_optional(self.conn().await?)
        .await?;
        Ok(found.is_some())
    }

    /// Records `event` of `user` now; forgets events older than two days.
    pub async fn stranger_event(
        &mut self,
        user: &Address,
        event: StrangerEvent,
    ) -> Result<(), StoreError> {
        let at = self.at;
        sqlx::query("INSERT INTO stranger_events (user_id, kind, at) VALUES ($1, $2, $3)")
            .bind(user.to_string())
            .bind(event.code())
            .bind(instant_text(at))
            .execute(self.conn().await?)
            .await?;
        sqlx::query("DELETE FROM stranger_events WHERE at < $1")
            .bind(instant_text(at - chrono::Duration::days(2)))
            .execute(self.conn().await?)
            .await?;
        Ok(())
    }
}
