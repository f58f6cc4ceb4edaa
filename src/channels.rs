//! A channel delivers messages and tells what happened: sent (with its id), or why not.
//!
//! Telegram is one channel, the console another; DingTalk, WeCom and Feishu robots will be
//! more. Everything above this layer speaks [`crate::core::chat`] types.

pub mod console;
pub mod dingtalk;
pub mod telegram;

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::core::chat::{Capabilities, ChannelKind, Message};

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
    /// The chat has a new id on its channel (a Telegram group became a supergroup): write
    /// there.
    #[error("the chat moved to {0}")]
    Moved(String),
    /// The channel refuses the bot (a wrong or revoked token): nothing can be sent.
    #[error("the bot is refused: {0}")]
    Unauthorized(String),
}

/// What a channel's call returns: a future that may be awaited from any task.
pub type Pending<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// A way to reach people: one chat platform. Ids are the channel's own, as text. A channel
/// is an object, so that one service can run several.
pub trait Channel: Send + Sync {
    /// Which channel it is.
    fn kind(&self) -> ChannelKind;

    /// What it can do, with the rate limits it keeps to.
    fn capabilities(&self) -> Capabilities {
        self.kind().capabilities()
    }

    /// Whether a chat is a group (groups may have a limit of their own).
    fn is_group(&self, _chat_id: &str) -> bool {
        false
    }

    /// Sends a message; returns the channel's id for it.
    fn send<'a>(
        &'a self,
        chat_id: &'a str,
        message: &'a Message,
    ) -> Pending<'a, Result<String, SendError>>;

    /// Replaces a sent message's text and buttons.
    fn edit<'a>(
        &'a self,
        chat_id: &'a str,
        message_id: &'a str,
        message: &'a Message,
    ) -> Pending<'a, Result<(), SendError>>;

    /// Answers a button press with a short toast.
    fn answer<'a>(
        &'a self,
        callback_id: &'a str,
        text: &'a str,
    ) -> Pending<'a, Result<(), SendError>>;

    /// Fetches a file someone sent, refusing one over `limit` bytes ("too large").
    fn download<'a>(
        &'a self,
        file_id: &'a str,
        limit: u64,
    ) -> Pending<'a, Result<Vec<u8>, SendError>>;
}

/// The channels one service runs, by kind.
#[derive(Clone, Default)]
pub struct Channels {
    map: BTreeMap<ChannelKind, Arc<dyn Channel>>,
}

impl std::fmt::Debug for Channels {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list().entries(self.map.keys()).finish()
    }
}

impl Channels {
    /// No channel yet.
    pub fn new() -> Channels {
        Channels::default()
    }

    /// These channels and `channel`.
    pub fn with(mut self, channel: Arc<dyn Channel>) -> Channels {
        self.map.insert(channel.kind(), channel);
        self
    }

    /// The channel of `kind`, when the service runs it.
    pub fn get(&self, kind: ChannelKind) -> Option<&Arc<dyn Channel>> {
        self.map.get(&kind)
    }

    /// Every channel, in order of kind.
    pub fn all(&self) -> impl Iterator<Item = &Arc<dyn Channel>> {
        self.map.values()
    }

    /// What a channel can do: the running channel's own word, else its protocol's.
    pub fn capabilities(&self, kind: ChannelKind) -> Capabilities {
        self.get(kind)
            .map_or_else(|| kind.capabilities(), |c| c.capabilities())
    }
}

/// Added to the pace in all when several senders share it: sends are paced from when they
/// start, and a millisecond each keeps network jitter from landing one message too many in
/// a second.
const JITTER_SLACK: Duration = Duration::from_millis(1);

/// The window a channel counts its rate in all over (Telegram: thirty in any second).
const RATE_WINDOW: Duration = Duration::from_secs(1);

/// Kept on top of [`RATE_WINDOW`] by a sender alone: the message after a full window goes
/// this much later than a second after the window's first, so that network jitter cannot
/// land it inside the platform's second. It costs 2% of the rate, where a slack on every
/// message's spacing cost 3%.
const WINDOW_MARGIN: Duration = Duration::from_millis(20);

/// A channel's flood limits, kept on the sending side (Telegram's: at most one message a
/// second to a chat, twenty a minute to a group, thirty a second in all).
#[derive(Debug)]
pub struct Limiter {
    per_chat: Duration,
    per_second: Duration,
    group_window: Duration,
    group_max: usize,
    last_to: HashMap<String, Instant>,
    group_sends: HashMap<String, VecDeque<Instant>>,
    last_any: Option<Instant>,
    /// When the latest sends went, up to the rate's count in a window.
    recent: VecDeque<Instant>,
    /// How many messages a window takes in all.
    per_window: usize,
    /// The global pace when this is the only sender.
    alone_per_second: Duration,
    /// How many senders share the limits (live instances on one database).
    senders: usize,
}

impl Limiter {
    /// A limiter with a channel's rates.
    pub fn new(caps: &Capabilities) -> Limiter {
        Limiter {
            per_chat: Duration::from_secs_f64(1.0 / caps.per_chat_per_second),
            per_second: Duration::from_secs_f64(1.0 / caps.per_second),
            group_window: Duration::from_secs(60),
            group_max: caps.per_group_per_minute as usize,
            last_to: HashMap::new(),
            group_sends: HashMap::new(),
            last_any: None,
            recent: VecDeque::new(),
            per_window: caps.per_second.floor().max(1.0) as usize,
            alone_per_second: Duration::from_secs_f64(1.0 / caps.per_second),
            senders: 1,
        }
    }

    /// Shares the limits with `senders` senders in all (this one included): each takes
    /// its part of the global rate, and a chat's own limit is kept in the database (see
    /// [`Limiter::shared_spacing`]).
    pub fn share(&mut self, senders: usize) {
        let senders = senders.max(1);
        self.senders = senders;
        self.per_second = match senders {
            1 => self.alone_per_second,
            _ => (self.alone_per_second + JITTER_SLACK) * senders as u32,
        };
    }

    /// How many senders share the limits.
    pub fn senders(&self) -> usize {
        self.senders
    }

    /// With several senders, the least time between two messages to a chat (a group when
    /// `group`), whoever sends them; `None` when this is the only sender (its own memory is
    /// enough).
    pub fn shared_spacing(&self, group: bool) -> Option<Duration> {
        if self.senders <= 1 {
            return None;
        }
        Some(if group {
            (self.group_window / self.group_max.max(1) as u32).max(self.per_chat)
        } else {
            self.per_chat
        })
    }

    /// The earliest moment a message to `chat_id` (a group when `group`) may go.
    pub fn ready_at(&self, chat_id: &str, group: bool, now: Instant) -> Instant {
        let mut at = now;
        if let Some(last) = self.last_any {
            at = at.max(last + self.per_second);
        }
        // Alone, the pace is exact and the window is kept with a margin: the message after
        // a full window waits until the window's first is a second and the margin old.
        if self.senders <= 1
            && self.recent.len() >= self.per_window
            && let Some(first) = self.recent.get(self.recent.len() - self.per_window)
        {
            at = at.max(*first + RATE_WINDOW + WINDOW_MARGIN);
        }
        if let Some(last) = self.last_to.get(chat_id) {
            at = at.max(*last + self.per_chat);
        }
        if group
            && let Some(sends) = self.group_sends.get(chat_id)
            && sends.len() >= self.group_max
            && let Some(oldest) = sends.front()
        {
            at = at.max(*oldest + self.group_window);
        }
        at
    }

    /// Notes a message sent to `chat_id` (a group when `group`) at `now`.
    pub fn record(&mut self, chat_id: &str, group: bool, now: Instant) {
        self.last_any = Some(now);
        self.recent.push_back(now);
        while self.recent.len() > self.per_window {
            self.recent.pop_front();
        }
        self.last_to.insert(chat_id.to_string(), now);
        if group {
            let sends = self.group_sends.entry(chat_id.to_string()).or_default();
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
    pub fn hold(&mut self, chat_id: &str, until: Instant) {
        self.last_to.insert(
            chat_id.to_string(),
            until.checked_sub(self.per_chat).unwrap_or(until),
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limits() {
        let telegram = ChannelKind::Telegram.capabilities();
        let mut limiter = Limiter::new(&telegram);
        let t0 = Instant::now();
        assert_eq!(limiter.ready_at("7", false, t0), t0);
        limiter.record("7", false, t0);
        assert_eq!(
            limiter.ready_at("7", false, t0),
            t0 + Duration::from_secs(1),
            "one a second per chat"
        );
        let other = limiter.ready_at("8", false, t0);
        assert!(
            other > t0 && other < t0 + Duration::from_millis(40),
            "thirty a second in all"
        );
        // A group takes twenty a minute.
        let mut t = t0;
        for _ in 0..20 {
            t = limiter.ready_at("-100", true, t);
            limiter.record("-100", true, t);
        }
        assert!(limiter.ready_at("-100", true, t) >= t0 + Duration::from_secs(60));
        // Thirty in any second in all, and the thirty-first a margin after the second.
        let mut pace = Limiter::new(&telegram);
        let mut t = t0;
        for i in 0..60 {
            t = pace.ready_at(&format!("c{i}"), false, t);
            pace.record(&format!("c{i}"), false, t);
            if i == 30 {
                assert!(t >= t0 + RATE_WINDOW + WINDOW_MARGIN, "{:?}", t - t0);
            }
        }
        assert!(
            t - t0 < Duration::from_millis(2_100),
            "sixty in about two seconds: {:?}",
            t - t0
        );
        // After a 429 a chat waits as long as it was told.
        let mut fresh = Limiter::new(&telegram);
        fresh.hold("9", t0 + Duration::from_secs(5));
        assert_eq!(fresh.ready_at("9", false, t0), t0 + Duration::from_secs(5));
        assert_eq!(fresh.ready_at("10", false, t0), t0);
    }
}
