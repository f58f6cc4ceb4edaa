//! Delivering the outbox: one step sends the next message that may go now and records what
//! happened; the loop around it only sleeps and retries.
//!
//! A message is marked sent only after the channel confirms it, so a crash never loses one;
//! keys make queueing idempotent, so a sweep run twice never queues one twice.

use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};

use crate::channel::{Channel, Limiter, SendError};
use crate::chat::Message;
use crate::config::{DeliveryConfig, Language};
use crate::store::{Store, StoreError};

/// After this many failed tries a message is given up.
pub const MAX_ATTEMPTS: i64 = 30;

/// What one delivery step did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Delivery {
    /// A message went out.
    Sent {
        /// The outbox row.
        id: i64,
        /// The chat.
        chat_id: i64,
    },
    /// A message must wait (429, server error, network); it stays queued.
    Retry {
        /// The outbox row.
        id: i64,
        /// Why.
        error: String,
    },
    /// A message was given up: its recipient blocked the bot, or the channel refused it.
    Dead {
        /// The outbox row.
        id: i64,
        /// Why.
        error: String,
    },
    /// Nothing may go now; the next message may in this long, if any is waiting.
    Idle {
        /// How long until the next message may go.
        next: Option<Duration>,
    },
}

/// Sends the next message that may go now.
pub async fn deliver_once<C: Channel>(
    store: &Store,
    channel: &C,
    limiter: &mut Limiter,
    config: &DeliveryConfig,
    language: Language,
    now: DateTime<Utc>,
) -> Result<Delivery, StoreError> {
    let clock = Instant::now();
    let due = store.due_outbox(now, 1_000).await?;
    let mut soonest: Option<Instant> = None;
    let Some(row) = due.into_iter().find(|row| {
        let ready = limiter.ready_at(row.chat_id, clock);
        if ready <= clock {
            return true;
        }
        soonest = Some(soonest.map_or(ready, |s| s.min(ready)));
        false
    }) else {
        // Due messages held back by the limits go first; otherwise wait for the next queued.
        let next = match soonest {
            Some(ready) => Some(ready.duration_since(clock)),
            None => store.next_outbox_time().await?.map(|at| {
                (at - now)
                    .to_std()
                    .unwrap_or(Duration::ZERO)
                    .max(Duration::from_millis(1))
            }),
        };
        return Ok(Delivery::Idle { next });
    };
    let result = channel.send(row.chat_id, &row.message).await;
    let sent_at = Instant::now();
    match result {
        Ok(message_id) => {
            limiter.record(row.chat_id, sent_at);
            store.outbox_sent(row.id, message_id, Utc::now()).await?;
            Ok(Delivery::Sent {
                id: row.id,
                chat_id: row.chat_id,
            })
        }
        Err(SendError::RetryAfter(wait)) => {
            limiter.hold(row.chat_id, sent_at + wait);
            let error = format!("429: retry after {} s", wait.as_secs());
            store
                .outbox_retry(
                    row.id,
                    now + chrono::Duration::from_std(wait).unwrap_or_default(),
                    &error,
                )
                .await?;
            Ok(Delivery::Retry { id: row.id, error })
        }
        Err(SendError::Transient(error)) if row.attempts + 1 < MAX_ATTEMPTS => {
            limiter.record(row.chat_id, sent_at);
            let wait = backoff(row.attempts, config);
            store
                .outbox_retry(
                    row.id,
                    now + chrono::Duration::from_std(wait).unwrap_or_default(),
                    &error,
                )
                .await?;
            Ok(Delivery::Retry { id: row.id, error })
        }
        Err(SendError::Blocked) => {
            let names = store.mark_unreachable(row.chat_id, Utc::now()).await?;
            store
                .outbox_dead(row.id, "the recipient blocked the bot")
                .await?;
            tell_office_unreachable(store, row.chat_id, &names, language, now).await?;
            Ok(Delivery::Dead {
                id: row.id,
                error: "blocked".into(),
            })
        }
        Err(e) => {
            let error = e.to_string();
            store.outbox_dead(row.id, &error).await?;
            tracing::warn!(
                outbox = row.id,
                chat = row.chat_id,
                "gave a message up: {error}"
            );
            Ok(Delivery::Dead { id: row.id, error })
        }
    }
}

/// Exponential backoff with the configured ceiling: 2, 4, 8 … seconds.
pub fn backoff(attempts: i64, config: &DeliveryConfig) -> Duration {
    let seconds = 2u64.saturating_pow(attempts.clamp(0, 20) as u32 + 1);
    Duration::from_secs(seconds.min(config.max_backoff_seconds.max(1)))
}

async fn tell_office_unreachable(
    store: &Store,
    chat_id: i64,
    names: &[String],
    language: Language,
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    if names.is_empty() {
        return Ok(());
    }
    let who = names.join("、");
    let text = match language {
        Language::Zh => {
            format!("⛔ {who} 已屏蔽督办机器人或无法联系,提醒无法送达,请线下联系并重新绑定。")
        }
        Language::En => format!(
            "⛔ {who} blocked the bot or cannot be reached: reminders do not arrive. Please get in touch and bind again."
        ),
    };
    for office in store.office_chats().await? {
        if office == chat_id {
            continue;
        }
        let key = format!("unreachable:{chat_id}:{office}:{}", now.format("%Y-%m-%d"));
        store
            .enqueue(
                &key,
                office,
                None,
                "notice",
                &Message::text(text.clone()),
                now,
            )
            .await?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_grows_to_the_ceiling() {
        let config = DeliveryConfig::default();
        assert_eq!(backoff(0, &config), Duration::from_secs(2));
        assert_eq!(backoff(1, &config), Duration::from_secs(4));
        assert_eq!(backoff(7, &config), Duration::from_secs(256));
        assert_eq!(backoff(8, &config), Duration::from_secs(300));
        assert_eq!(backoff(1_000, &config), Duration::from_secs(300));
    }
}
