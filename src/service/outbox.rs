//! Delivering the outbox: one step sends the next message that may go now and records what
//! happened; the loop around it only sleeps and retries.
//!
//! A message is marked sent in the step that reads the channel's answer, right after it, and
//! that mark is retried until the database takes it, so a message is not lost. It is sent
//! twice only when the channel took it but its answer was not read: the process was killed
//! (not stopped: a stop finishes the send in flight) between the channel taking the message
//! and the mark, or the answer took longer than the send's time limit. That window is one
//! round trip to the channel; the row's claim covers only the send in flight (its time
//! limit and a margin, renewed right before the send), so a killed sender's message goes
//! again within seconds, not minutes. Keys make queueing idempotent, so a sweep run twice
//! queues nothing twice.

use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};

use crate::channels::{Channel, Limiter, SendError};
use crate::config::{DeliveryConfig, Language, Settings};
use crate::core::chat::{Address, Message};
use crate::store::{Cut, Store, StoreError};

/// What one delivery step did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Delivery {
    /// A message went out.
    Sent {
        /// The outbox row.
        id: i64,
        /// The chat.
        chat: Address,
        /// What it was (`reminder`, `digest`, `reply` …).
        kind: String,
    },
    /// A message must wait (429, server error, network, a group that moved); it stays queued.
    Retry {
        /// The outbox row.
        id: i64,
        /// What it was.
        kind: String,
        /// Why.
        error: String,
    },
    /// A message was given up: its chat cannot be reached, or the channel refused it.
    Dead {
        /// The outbox row.
        id: i64,
        /// What it was.
        kind: String,
        /// Why.
        error: String,
    },
    /// The channel refused the bot itself (a revoked token): nothing can go until that is
    /// fixed; every message stays queued.
    Paused {
        /// Why.
        error: String,
    },
    /// Nothing may go now; the next message may in this long, if any is waiting.
    Idle {
        /// How long until the next message may go.
        next: Option<Duration>,
    },
}

/// The longest a step waits for its message's slot; a longer wait is left to the loop.
const IN_STEP_WAIT: Duration = Duration::from_millis(100);

/// The time limit of one send of a text message; a send with a file gets
/// [`FILE_SEND_TIMEOUT`]. A send that takes longer counts as failed and is tried again.
pub const SEND_TIMEOUT: Duration = Duration::from_secs(15);

/// The time limit of one send with a file (an exported ledger, a chart).
pub const FILE_SEND_TIMEOUT: Duration = Duration::from_secs(60);

/// How much longer than its send's time limit a claim lasts: the database writes around it.
const CLAIM_MARGIN: Duration = Duration::from_secs(5);

/// How long a sender's claim on a row lasts from when it is taken: longer than a text's send
/// can take, so that a row is never taken from a sender still working on it, and short
/// enough that a killed sender's row goes again soon. It is renewed right before the send,
/// for that send's time limit.
pub const CLAIM_FOR: Duration = Duration::from_secs(20);

/// The time limit of sending `message`.
fn send_timeout(message: &Message) -> Duration {
    match message.file {
        Some(_) => FILE_SEND_TIMEOUT,
        None => SEND_TIMEOUT,
    }
}

/// How many rows that may go now a step tries to claim before it leaves the rest to the
/// next step (other senders took them).
const CLAIM_TRIES: usize = 4;

/// Sends the next message of `channel` that may go now (or within [`IN_STEP_WAIT`]),
/// claiming it first for `sender` so that no other sender on the same database sends it too.
pub async fn deliver_once(
    store: &Store,
    channel: &dyn Channel,
    limiter: &mut Limiter,
    settings: &Settings,
    sender: &str,
    now: DateTime<Utc>,
) -> Result<Delivery, StoreError> {
    let config = &settings.config.delivery;
    let kind = channel.kind();
    let clock = Instant::now();
    let due = store.due_outbox(kind, now, 1_000).await?;
    // The messages that may go now; else the one that may go soonest.
    let mut ready_now: Vec<(i64, &str)> = Vec::new();
    let mut soonest: Option<(i64, &str, Instant)> = None;
    for (id, chat_id) in &due {
        let ready = limiter.ready_at(chat_id, channel.is_group(chat_id), clock);
        if ready <= clock {
            ready_now.push((*id, chat_id));
            if ready_now.len() >= 32 {
                break;
            }
            continue;
        }
        if ready_now.is_empty() && soonest.is_none_or(|(_, _, at)| ready < at) {
            soonest = Some((*id, chat_id, ready));
        }
    }
    let candidates: Vec<(i64, &str, Instant)> = match (ready_now.is_empty(), soonest) {
        (false, _) => {
            // Several senders start at different rows, so that they seldom want the same one.
            let start = match limiter.senders() {
                1 => 0,
                _ => random_index(ready_now.len()),
            };
            ready_now
                .iter()
                .cycle()
                .skip(start)
                .take(ready_now.len().min(CLAIM_TRIES))
                .map(|&(id, chat_id)| (id, chat_id, clock))
                .collect()
        }
        // A slot close at hand is waited for here, after the database work, so that the
        // pace is the limiter's and not the limiter's plus the queries'.
        (true, Some((id, chat_id, ready))) if ready.duration_since(clock) <= IN_STEP_WAIT => {
            vec![(id, chat_id, ready)]
        }
        (true, Some((_, _, ready))) => {
            return Ok(Delivery::Idle {
                next: Some(ready.duration_since(clock)),
            });
        }
        (true, None) => {
            let next = store.next_outbox_time(kind).await?.map(|at| {
                (at - now)
                    .to_std()
                    .unwrap_or(Duration::ZERO)
                    .max(Duration::from_millis(1))
            });
            return Ok(Delivery::Idle { next });
        }
    };
    let until = now + chrono::Duration::from_std(CLAIM_FOR).unwrap_or_default();
    let mut claimed = None;
    for (id, chat_id, ready) in candidates {
        let spacing = limiter.shared_spacing(channel.is_group(chat_id));
        let chat = Address::new(kind, chat_id);
        if store
            .claim_outbox(id, &chat, sender, now, until, spacing)
            .await?
        {
            claimed = Some((id, ready));
            break;
        }
    }
    let Some((id, ready)) = claimed else {
        // Other senders have these; look again soon.
        return Ok(Delivery::Idle {
            next: Some(Duration::from_millis(20)),
        });
    };
    let row = store.outbox_row(id).await?;
    fetch_kept_file(store, settings, &row.message).await;
    // The claim covers the wait for the slot and the send in flight: its time limit and a
    // margin. It is renewed before the wait, so that the write does not delay the send past
    // its slot (the pace would be the limiter's plus the write's). A row that stopped being
    // ours meanwhile (the claim ran out) is another sender's to send.
    let limit = send_timeout(&row.message);
    let wait = ready.saturating_duration_since(Instant::now());
    let until =
        Utc::now() + chrono::Duration::from_std(wait + limit + CLAIM_MARGIN).unwrap_or_default();
    if !store.renew_claim(row.id, sender, until).await? {
        return Ok(Delivery::Idle {
            next: Some(Duration::from_millis(20)),
        });
    }
    tokio::time::sleep_until(ready.into()).await;
    // Telegram counts messages as they arrive, so the limits count from when a send starts:
    // the round trip and the database write after it do not slow the pace.
    let sent_at = Instant::now();
    let chat_id = row.chat.id.as_str();
    let group = channel.is_group(chat_id);
    // Built channel-neutral; fitted here to what this channel can take.
    let message = row.message.for_channel(&channel.capabilities());
    let result = match tokio::time::timeout(limit, channel.send(chat_id, &message)).await {
        Ok(result) => result,
        Err(_) => Err(SendError::Transient(format!(
            "no answer within {} s",
            limit.as_secs()
        ))),
    };
    let later = |wait: Duration| now + chrono::Duration::from_std(wait).unwrap_or_default();
    match result {
        Ok(message_id) => {
            limiter.record(chat_id, group, sent_at);
            record_sent(store, row.id, &message_id, config).await;
            Ok(Delivery::Sent {
                id: row.id,
                chat: row.chat.clone(),
                kind: row.kind,
            })
        }
        Err(SendError::RetryAfter(wait)) => {
            limiter.hold(chat_id, Instant::now() + wait);
            let error = format!("429: retry after {} s", wait.as_secs());
            store.outbox_retry(row.id, later(wait), &error).await?;
            Ok(Delivery::Retry {
                id: row.id,
                kind: row.kind,
                error,
            })
        }
        Err(SendError::Transient(error)) => {
            limiter.record(chat_id, group, sent_at);
            let age = now - row.created_at;
            if age > chrono::Duration::hours(config.give_up_after_hours as i64) {
                let error = format!("{error}; given up after {} hours", age.num_hours());
                store.outbox_dead(row.id, &error).await?;
                tracing::warn!(
                    outbox = row.id,
                    chat = %row.chat,
                    "gave a message up: {error}"
                );
                return Ok(Delivery::Dead {
                    id: row.id,
                    kind: row.kind,
                    error,
                });
            }
            store
                .outbox_retry(row.id, later(backoff(row.attempts, config)), &error)
                .await?;
            Ok(Delivery::Retry {
                id: row.id,
                kind: row.kind,
                error,
            })
        }
        Err(SendError::Moved(to)) => {
            store.move_chat(&row.chat, &to).await?;
            let error = format!("the group moved to chat {to}");
            tracing::info!(from = %row.chat, to, "a chat moved to a new id");
            Ok(Delivery::Retry {
                id: row.id,
                kind: row.kind,
                error,
            })
        }
        Err(SendError::Unauthorized(error)) => {
            tracing::error!(
                "the channel refuses the bot ({error}): check the token; messages stay queued"
            );
            store.release_claim(row.id).await?;
            Ok(Delivery::Paused { error })
        }
        Err(SendError::Blocked) => {
            let language = settings.config.language;
            let day = now.with_timezone(&settings.timezone).date_naive();
            let chat = row.chat.clone();
            store
                .mark_unreachable(
                    &chat,
                    now,
                    |cut| unreachable_notice(cut, language),
                    |office| format!("unreachable:{}:{}:{day}", chat.key(), office.key()),
                )
                .await?;
            Ok(Delivery::Dead {
                id: row.id,
                kind: row.kind,
                error: "blocked".into(),
            })
        }
        Err(SendError::Refused(error)) => {
            store.outbox_dead(row.id, &error).await?;
            tracing::warn!(
                outbox = row.id,
                chat = %row.chat,
                "gave a message up: {error}"
            );
            Ok(Delivery::Dead {
                id: row.id,
                kind: row.kind,
                error,
            })
        }
    }
}

/// Records a sent message, retrying until the database takes it: giving up would send the
/// message a second time.
async fn record_sent(store: &Store, id: i64, message_id: &str, config: &DeliveryConfig) {
    let mut failures = 0;
    while let Err(e) = store.outbox_sent(id, message_id, Utc::now()).await {
        tracing::warn!(outbox = id, "recording a sent message: {e}; retrying");
        tokio::time::sleep(backoff(failures, config).min(Duration::from_secs(30))).await;
        failures += 1;
    }
}

/// Puts a file the message sends from the data directory in place when this instance does
/// not have it (another instance made it) and the database kept it. Failing that, the send
/// reports the missing file.
async fn fetch_kept_file(store: &Store, settings: &Settings, message: &Message) {
    let Some(crate::core::chat::Attachment {
        source: crate::core::chat::FileSource::Stored(path),
        ..
    }) = &message.file
    else {
        return;
    };
    let target = settings.config.data_dir.join(path);
    if target.exists() {
        return;
    }
    match store.kept_file(path).await {
        Ok(Some(bytes)) => {
            let written = target
                .parent()
                .map_or(Ok(()), std::fs::create_dir_all)
                .and_then(|()| {
                    let temporary = target.with_extension("part");
                    std::fs::write(&temporary, &bytes)?;
                    std::fs::rename(&temporary, &target)
                });
            if let Err(e) = written {
                tracing::warn!(path, "writing a kept file: {e}");
            }
        }
        Ok(None) => {}
        Err(e) => tracing::warn!(path, "reading a kept file: {e}"),
    }
}

/// A number in `0..len` that differs from sender to sender and step to step.
fn random_index(len: usize) -> usize {
    let mut bytes = [0u8; 8];
    if getrandom::fill(&mut bytes).is_err() {
        return 0;
    }
    (u64::from_le_bytes(bytes) % len.max(1) as u64) as usize
}

/// Exponential backoff with the configured ceiling: 2, 4, 8 … seconds.
pub fn backoff(attempts: i64, config: &DeliveryConfig) -> Duration {
    let seconds = 2u64.saturating_pow(attempts.clamp(0, 20) as u32 + 1);
    Duration::from_secs(seconds.min(config.max_backoff_seconds.max(1)))
}

/// The office's notice that people or groups cannot be reached any more.
fn unreachable_notice(cut: &Cut, language: Language) -> Message {
    let text = match language {
        Language::Zh => {
            let mut who = cut.people.clone();
            who.extend(cut.groups.iter().map(|unit| format!("{unit}工作群")));
            format!(
                "⛔ {}已屏蔽督办机器人或无法联系，提醒无法送达，请线下联系并重新绑定。",
                who.join("、")
            )
        }
        Language::En => {
            let mut who = cut.people.clone();
            who.extend(cut.groups.iter().map(|unit| format!("the group of {unit}")));
            format!(
                "⛔ {} blocked the bot or cannot be reached: reminders do not arrive. Please get in touch and bind again.",
                who.join(", ")
            )
        }
    };
    Message::text(text)
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
