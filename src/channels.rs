//! A channel delivers messages and tells what happened: sent (with its id), or why not.
//!
//! Telegram is one channel, the console another; DingTalk, WeCom and Feishu robots will be
//! more. Everything above this layer speaks [`crate::core::chat`] types.

pub mod console;
pub mod telegram;

use std::collections::{HashMap, VecDeque};
use std::future::Future;
use std::time::{Duration, Instant};

use crate::core::chat::Message;
use crate::config::DeliveryConfig;

/// Why a message did not go out.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SendError {
    /// Too many messages: try again after this long (Telegram's 429 retry_after).
    #[error("rate limited; retry after {0:?}")]
    RetryAfter(Duration),
    /// The person blocked the bot, left, or never started it: stop writing to them.
    #[error("the recipient cannot be reached (blocked the bot)")]
    Blocked,
    /// A server error, a timeout or the network: try again later.
    #[error("temporary failure: {0}")]
    Transient(String),
    /// The channel refused the message itself; trying again will not help.
    #[error("refused: {0}")]
    Refused(String),
    /// A group became a supergroup with this new id: write there.
    #[error("the chat moved to {0}")]
    Moved(i64),
    /// The channel refuses the bot (a wrong or revoked token): nothing can be sent.
    #[error("the bot is refused: {0}")]
    Unauthorized(String),
}

/// A way to reach people.
pub trait Channel: Send + Sync {
    /// Sends a message; returns the channel's id for it.
    fn send(
        &self,
        chat_id: i64,
        message: &Message,
    ) -> impl Future<Output = Result<i64, SendError>> + Send;

    /// Replaces a sent message's text and buttons.
    fn edit(
        &self,
        chat_id: i64,
        message_id: i64,
        message: &Message,
    ) -> impl Future<Output = Result<(), SendError>> + Send;

    /// Answers a button press with a short toast.
    fn answer(
        &self,
        callback_id: &str,
        text: &str,
    ) -> impl Future<Output = Result<(), SendError>> + Send;

    /// Fetches a file someone sent, refusing one over `limit` bytes ("too large").
    fn download(
        &self,
        file_id: &str,
        limit: u64,
    ) -> impl Future<Output = Result<Vec<u8>, SendError>> + Send;
}

/// Added to the pace in all: sends are paced from when they start, and a millisecond each
/// keeps network jitter from landing one message too many in a second.
const JITTER_SLACK: Duration = Duration::from_millis(1);

/// Telegram's flood limits, kept on the sending side: at most one message a second to a
/// chat, twenty a minute to a group, thirty a second in all.
#[derive(Debug)]
pub struct Limiter {
    per_chat: Duration,
    per_second: Duration,
    group_window: Duration,
    group_max: usize,
    last_to: HashMap<i64, Instant>,
    group_sends: HashMap<i64, VecDeque<Instant>>,
    last_any: Option<Instant>,
    /// The global pace when this is the only sender.
    alone_per_second: Duration,
    /// How many senders share the limits (live instances on one database).
    senders: usize,
}

impl Limiter {
    /// A limiter with the configured rates.
    pub fn new(config: &DeliveryConfig) -> Limiter {
        Limiter {
            per_chat: Duration::from_secs_f64(1.0 / config.per_chat_per_second),
            per_second: Duration::from_secs_f64(1.0 / config.per_second) + JITTER_SLACK,
            group_window: Duration::from_secs(60),
            group_max: config.per_group_per_minute as usize,
            last_to: HashMap::new(),
            group_sends: HashMap::new(),
            last_any: None,
            alone_per_second: Duration::from_secs_f64(1.0 / config.per_second) + JITTER_SLACK,
            senders: 1,
        }
    }

    /// Shares the limits with `senders` senders in all (this one included): each takes
    /// its part of the global rate, and a chat's own limit is kept in the database (see
    /// [`Limiter::shared_spacing`]).
    pub fn share(&mut self, senders: usize) {
        let senders = senders.max(1);
        self.senders = senders;
        self.per_second = self.alone_per_second * senders as u32;
    }

    /// How many senders share the limits.
    pub fn senders(&self) -> usize {
        self.senders
    }

    /// With several senders, the least time between two messages to `chat_id`, whoever
    /// sends them; `None` when this is the only sender (its own memory is enough).
    pub fn shared_spacing(&self, chat_id: i64) -> Option<Duration> {
        if self.senders <= 1 {
            return None;
        }
        Some(if Self::is_group(chat_id) {
            (self.group_window / self.group_max.max(1) as u32).max(self.per_chat)
        } else {
            self.per_chat
        })
    }

    /// Telegram gives groups negative ids.
    fn is_group(chat_id: i64) -> bool {
        chat_id < 0
    }

    /// The earliest moment a message to `chat_id` may go.
    pub fn ready_at(&self, chat_id: i64, now: Instant) -> Instant {
        let mut at = now;
        if let Some(last) = self.last_any {
            at = at.max(last + self.per_second);
        }
        if let Some(last) = self.last_to.get(&chat_id) {
            at = at.max(*last + self.per_chat);
        }
        if Self::is_group(chat_id)
            && let Some(sends) = self.group_sends.get(&chat_id)
            && sends.len() >= self.group_max
            && let Some(oldest) = sends.front()
        {
            at = at.max(*oldest + self.group_window);
        }
        at
    }

    /// Notes a message sent to `chat_id` at `now`.
    pub fn record(&mut self, chat_id: i64, now: Instant) {
        self.last_any = Some(now);
        self.last_to.insert(chat_id, now);
        if Self::is_group(chat_id) {
            let sends = self.group_sends.entry(chat_id).or_default();
            sends.push_back(now);
            while sends.len() > self.group_max {
                sends.pop_front();
            }
        }
        // Forget chats that are free again, so that the map stays small.
        if self.last_to.len() > 10_000 {
            let per_chat = self.per_chat;
            self.last_to
                .retain(|_, last| now.duration_since(*last) < per_chat);
        }
    }

    /// Holds one chat back until `until` (after a 429 for it).
    pub fn hold(&mut self, chat_id: i64, until: Instant) {
        self.last_to
            .insert(chat_id, until.checked_sub(self.per_chat).unwrap_or(until));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limits() {
        let mut limiter = Limiter::new(&DeliveryConfig::default());
        let t0 = Instant::now();
        assert_eq!(limiter.ready_at(7, t0), t0);
        limiter.record(7, t0);
        assert_eq!(
            limiter.ready_at(7, t0),
            t0 + Duration::from_secs(1),
            "one a second per chat"
        );
        let other = limiter.ready_at(8, t0);
        assert!(
            other > t0 && other < t0 + Duration::from_millis(40),
            "thirty a second in all"
        );
        // A group takes twenty a minute.
        let mut t = t0;
        for _ in 0..20 {
            t = limiter.ready_at(-100, t);
            limiter.record(-100, t);
        }
        assert!(limiter.ready_at(-100, t) >= t0 + Duration::from_secs(60));
        // After a 429 a chat waits as long as it was told.
        let mut fresh = Limiter::new(&DeliveryConfig::default());
        fresh.hold(9, t0 + Duration::from_secs(5));
        assert_eq!(fresh.ready_at(9, t0), t0 + Duration::from_secs(5));
        assert_eq!(fresh.ready_at(10, t0), t0);
    }
}
