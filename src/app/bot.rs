//! The bot: what an incoming chat update does. Binding with a code, commands, replies to
//! reminders, button presses. One update is one step: its changes, the messages it causes
//! and its id commit together, so it is applied once however often it arrives.

use chrono::{DateTime, NaiveDate, Utc};

use crate::config::Settings;
use crate::core::chat::{
    Action, Address, Capabilities, ChatKind, Event, Incoming, Message, Sender,
};
use crate::core::ledger::{Role, Source, Status};
use crate::core::remind::{Kind, render};
use crate::core::reply::{Intent, ReplyError, split_code};
use crate::core::rules::{Assessment, Context, assess};
use crate::core::text::Language;
use crate::store::{
    Binding, ChatOrigin, HistoryKind, Redeemed, Store, StoreError, StrangerEvent, UpdateTx,
};

/// Buttons older than this are refused: their reminder has been superseded.
const BUTTON_DAYS: i64 = 14;

/// The commands the bot offers, for setMyCommands: (command, Chinese description, English).
pub const COMMANDS: [(&str, &str, &str); 8] = [
    ("help", "使用说明", "how to use the bot"),
    ("list", "我单位未销号的整改措施", "my units' open measures"),
    (
        "update",
        "更新进展：/update 序号 内容",
        "update a measure: /update CODE TEXT",
    ),
    (
        "answer",
        "答复诉求：/answer 编号 内容",
        "answer a request: /answer R12 TEXT",
    ),
    ("whoami", "我的绑定", "who I am bound as"),
    (
        "web",
        "网页工作台登录链接",
        "a sign-in link to the web workbench",
    ),
    (
        "bind",
        "用邀请码绑定：/bind 邀请码",
        "bind with a code: /bind CODE",
    ),
    ("unbind", "解除绑定", "unbind"),
];

/// What handling an update produced besides its queued messages.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Handled {
    /// Whether the update was new (false: seen before, ignored).
    pub applied: bool,
    /// Things to do on the channel right away.
    pub actions: Vec<Action>,
    /// Whether messages were queued.
    pub queued: bool,
    /// A reminder of the update's chat to read again and edit once the update is committed
    /// ([`finish`]).
    pub refresh: Option<String>,
}

fn tr(language: Language, zh: &str, en: &str) -> String {
    match language {
        Language::Zh => zh.to_string(),
        Language::En => en.to_string(),
    }
}

/// The longest reason kept from a reply, in characters; the rest is cut with an ellipsis.
const REASON_CHARS: usize = 500;

/// A reason cut to [`REASON_CHARS`].
fn clip(text: &str) -> String {
    if text.chars().count() <= REASON_CHARS {
        return text.to_string();
    }
    let mut cut: String = text.chars().take(REASON_CHARS).collect();
    cut.push('…');
    cut
}

/// A role as people read it: 联络员, 责任领导, or the office's own name.
pub fn role_label(role: Role, language: Language, office: &str) -> String {
    match (role, language) {
        (Role::Liaison, Language::Zh) => "联络员".into(),
        (Role::Leader, Language::Zh) => "责任领导".into(),
        (Role::Office, Language::Zh) => office.into(),
        (Role::Head, Language::Zh) => "单位主要负责人".into(),
        (Role::Liaison, Language::En) => "liaison".into(),
        (Role::Leader, Language::En) => "leader".into(),
        (Role::Office, Language::En) => "office".into(),
        (Role::Head, Language::En) => "unit head".into(),
    }
}

/// SHA-256 of an invitation code, hex: what the store keeps.
pub fn code_hash(code: &str) -> String {
    use sha2::{Digest, Sha256};
    let normalized: String = code
        .trim()
        .to_uppercase()
        .chars()
        .filter(|c| !c.is_whitespace() && *c != '-')
        .collect();
    Sha256::digest(normalized.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// A sender's powers: their bindings on the channel they write from.
struct Who {
    sender: Sender,
    /// Who they are on their channel.
    user: Address,
    bindings: Vec<Binding>,
}

impl Who {
    fn bound(&self) -> bool {
        !self.bindings.is_empty()
    }

    fn office(&self) -> bool {
        self.bindings.iter().any(|b| b.role == Role::Office)
    }

    fn units(&self) -> Vec<&str> {
        self.bindings
            .iter()
            .filter(|b| b.role == Role::Liaison)
            .filter_map(|b| b.unit.as_deref())
            .collect()
    }

    /// The binding under which they may change a measure involving `units`, if any.
    fn may_change(&self, lead_unit: &str, units: &[String]) -> Option<Option<&str>> {
        if self.office() {
            return Some(None);
        }
        self.units()
            .into_iter()
            .find(|u| *u == lead_unit || units.iter().any(|x| x == u))
            .map(Some)
    }

    fn person_id(&self) -> Option<i64> {
        self.bindings.first().map(|b| b.person_id)
    }

    /// Who decided something for the office: the office and the member's name, such as
    /// `整改办 张三`; an office member seeded from the configuration is named by their
    /// address alone.
    fn decider(&self, office: &str) -> String {
        self.bindings
            .iter()
            .find(|b| b.role == Role::Office)
            .map(|b| match Address::parse(&b.name) {
                Some(_) => b.name.clone(),
                None => format!("{} {}", b.unit.as_deref().unwrap_or(office), b.name),
            })
            .unwrap_or_else(|| self.actor())
    }

    fn actor(&self) -> String {
        self.bindings
            .first()
            .map(|b| b.name.clone())
            .unwrap_or_else(|| self.user.to_string())
    }
}

/// The bytes of a file an update carries, as the channel gave them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Download<'a> {
    /// The update carries no file.
    None,
    /// The file's bytes.
    Bytes(&'a [u8]),
    /// The file is over the configured size and was not fetched.
    TooLarge,
    /// The file is empty (0 bytes): nothing to keep.
    Empty,
    /// The channel gave a size that is no size: the file was not fetched.
    Invalid,
    /// The channel could not hand the file over.
    Failed,
}

/// Answers someone not bound gets in an hour; after them the bot is silent to them.
pub const STRANGER_ANSWERS_PER_HOUR: i64 = 5;

/// Wrong invitation codes one sender may try in an hour; after them no code is looked at.
pub const BAD_CODES_PER_HOUR: i64 = 3;

/// Handles one incoming update from a channel that can do `caps`, with the file it
/// carries, if any, in a transaction of its own.
pub async fn handle(
    store: &Store,
    settings: &Settings,
    caps: &Capabilities,
    incoming: &Incoming,
    now: DateTime<Utc>,
    file: Download<'_>,
) -> Result<Handled, StoreError> {
    let Some(tx) = store
        .begin_update(incoming.channel, &incoming.update_id, now)
        .await?
    else {
        return Ok(Handled::default());
    };
    let mut handled = apply(tx, settings, caps, incoming, now, file).await?;
    finish(store, settings, caps, incoming, now, &mut handled).await?;
    Ok(handled)
}

/// The code of the measure an update's text starts with, as its handling reads it
/// (`/update 1-3 …`, `1-3 已完成`), if any: a hint, so that a batch of updates reads the
/// measures they name together ([`crate::store::UpdateBatch::expect_measures`]).
pub fn code_named(incoming: &Incoming) -> Option<String> {
    let Event::Text { text, .. } = &incoming.event else {
        return None;
    };
    let text = text.trim();
    match command_in(text) {
        None => split_code(text).map(|lead| lead.code),
        Some((name, args)) if name == "update" => update_lead(args).map(|(code, _)| code),
        Some(_) => None,
    }
}

/// The command a text is (`/update@bot 1-3 已完成` → `update`, `1-3 已完成`): its name in
/// lower case without the bot's name, and its arguments trimmed.
fn command_in(text: &str) -> Option<(String, &str)> {
    let command = text.strip_prefix('/')?;
    let (name, args) = command
        .split_once(char::is_whitespace)
        .unwrap_or((command, ""));
    let name = name.split('@').next().unwrap_or("").to_lowercase();
    Some((name, args.trim()))
}

/// The code `/update`'s arguments start with, and the words after it.
fn update_lead(args: &str) -> Option<(String, String)> {
    split_code(&format!("{args} ")).map(|lead| (lead.code, lead.rest.trim().to_string()))
}

/// Applies one incoming update inside `tx`, begun for it ([`Store::begin_update`], or a
/// batch's savepoint), and commits it. What is done on the channel once the change is
/// committed for good is in the result: [`finish`] completes it after the commit.
pub async fn apply(
    tx: UpdateTx<'_>,
    settings: &Settings,
    caps: &Capabilities,
    incoming: &Incoming,
    now: DateTime<Utc>,
    file: Download<'_>,
) -> Result<Handled, StoreError> {
    // Chat text is cleaned on the way in exactly as ledger cells are.
    let incoming = &incoming.cleaned();
    let mut tx = tx;
    let (Some(sender), Some(user)) = (incoming.from.clone(), incoming.sender()) else {
        tx.commit().await?;
        return Ok(Handled {
            applied: true,
            ..Handled::default()
        });
    };
    let chat = incoming.chat();
    // Whoever writes from a chat shows that the bot can write to it again.
    if !matches!(incoming.event, Event::Other) {
        tx.reachable(&chat).await?;
    }
    let bindings = tx.bindings(&user).await?;
    let who = Who {
        sender,
        user,
        bindings,
    };
    let mut step = Step {
        settings,
        caps: *caps,
        chat,
        tx,
        incoming,
        now,
        who,
        queued: false,
        said: 0,
        file,
        actions: Vec::new(),
        refresh: None,
        just_bound: false,
    };
    step.run().await?;
    let Step {
        tx,
        queued,
        actions,
        refresh,
        ..
    } = step;
    tx.commit().await?;
    Ok(Handled {
        applied: true,
        actions,
        queued,
        refresh,
    })
}

/// Completes an update applied by [`apply`] once its transaction committed: the reminder
/// a button press changed, read again, is edited in place.
pub async fn finish(
    store: &Store,
    settings: &Settings,
    caps: &Capabilities,
    incoming: &Incoming,
    now: DateTime<Utc>,
    handled: &mut Handled,
) -> Result<(), StoreError> {
    let Some(message_id) = handled.refresh.take() else {
        return Ok(());
    };
    if !caps.edits {
        return Ok(());
    }
    if let Some(message) =
        refreshed_reminder(store, settings, &incoming.chat(), &message_id, now).await?
    {
        handled.actions.push(Action::Edit {
            chat_id: incoming.chat_id.clone(),
            message_id,
            message,
        });
    }
    Ok(())
}

/// A reminder as it reads now: the same measures with their current status and light.
pub async fn refreshed_reminder(
    store: &Store,
    settings: &Settings,
    chat: &Address,
    message_id: &str,
    now: DateTime<Utc>,
) -> Result<Option<Message>, StoreError> {
    let Some(sent) = store.sent_reminder(chat, message_id).await? else {
        return Ok(None);
    };
    let mut measures = Vec::new();
    for (_, code) in &sent.items {
        measures.push(store.measure(code).await?);
    }
    let today = now.with_timezone(&settings.timezone).date_naive();
    let ctx = context(settings, today);
    let assessments: Vec<Assessment> = measures.iter().map(|m| assess(m, &ctx)).collect();
    let rows: Vec<_> = measures.iter().zip(&assessments).collect();
    let day = sent
        .created_at
        .with_timezone(&settings.timezone)
        .date_naive();
    Ok(Some(render(
        Kind::Reminder,
        &rows,
        day,
        settings.config.language,
    )))
}

fn context(settings: &Settings, today: NaiveDate) -> Context<'_> {
    Context {
        today,
        calendar: &settings.calendar,
        rules: &settings.config.rules,
        timezone: settings.timezone,
    }
}

/// The measure a text is about, or what to answer instead.
enum Target<'t> {
    /// A measure of the ledger, and the words about it (its code taken off).
    Measure {
        /// Its id.
        id: i64,
        /// Its code.
        code: String,
        /// The words after the code.
        rest: &'t str,
    },
    /// No measure: this line answers.
    Answer(String),
    /// No measure, and nothing to say (people talking among themselves in a group).
    Silent,
}

/// What an update to one measure came to.
struct Outcome {
    /// The confirmation, or why nothing was done.
    line: String,
    /// The measure it is about, when one was touched.
    measure: Option<i64>,
    /// Whether the liaison was asked to confirm an unclear reading instead.
    asked: bool,
}

impl Outcome {
    /// Nothing done: only `line` is said.
    fn said(line: String) -> Outcome {
        Outcome {
            line,
            measure: None,
            asked: false,
        }
    }
}

/// One update being applied: everything it reads and writes goes through its transaction.
struct Step<'a> {
    settings: &'a Settings,
    /// What the update's channel can do.
    caps: Capabilities,
    /// The chat the update came from.
    chat: Address,
    tx: UpdateTx<'a>,
    incoming: &'a Incoming,
    now: DateTime<Utc>,
    who: Who,
    queued: bool,
    said: usize,
    file: Download<'a>,
    actions: Vec<Action>,
    /// A reminder of this chat to refresh once the update is applied.
    refresh: Option<String>,
    /// The sender bound themselves (or a group) with this update: answered as someone bound.
    just_bound: bool,
}

impl Step<'_> {
    fn lang(&self) -> Language {
        self.settings.config.language
    }

    fn group(&self) -> bool {
        self.incoming.chat_kind == ChatKind::Group
    }

    /// The update as keys name it: its id (on Telegram, as the keys of earlier releases)
    /// or its channel and id.
    fn update_key(&self) -> String {
        Address::new(self.incoming.channel, self.incoming.update_id.clone()).key()
    }

    /// Queues a reply in the chat the update came from.
    async fn say(&mut self, text: String) -> Result<(), StoreError> {
        let key = format!("reply:{}:{}", self.update_key(), self.said);
        self.said += 1;
        self.say_once(&key, text).await
    }

    /// Queues a reply about something (a measure), so that a reply to it (evidence) finds it.
    async fn say_about(
        &mut self,
        text: String,
        context: serde_json::Value,
    ) -> Result<(), StoreError> {
        let key = format!("reply:{}:{}", self.update_key(), self.said);
        self.said += 1;
        // A deferred write: it goes with the update's next statement. Its key is new unless
        // the update was applied before, and then it is not applied again.
        let chat = self.chat.clone();
        let message = Message::text(text);
        self.tx
            .enqueue_later(&key, &chat, None, "reply", &message, Some(&context));
        self.queued = true;
        Ok(())
    }

    /// Queues a reply under a key: nothing is queued when the key was used before.
    ///
    /// Someone not bound gets [`STRANGER_ANSWERS_PER_HOUR`] answers an hour, then silence (the
    /// office hears of it once a day); their answers go out after everyone else's messages.
    async fn say_once(&mut self, key: &str, text: String) -> Result<(), StoreError> {
        self.say_message_once(key, Message::text(text)).await
    }

    /// Queues a reply of any shape once under `key`, as [`Self::say_once`] does text.
    async fn say_message_once(&mut self, key: &str, message: Message) -> Result<(), StoreError> {
        let chat = self.chat.clone();
        let person = if self.group() {
            None
        } else {
            self.who.person_id()
        };
        let stranger = !self.who.bound() && !self.just_bound;
        let user = self.who.user.clone();
        if stranger {
            let since = self.now - chrono::Duration::hours(1);
            let answered = self
                .tx
                .stranger_count(&user, StrangerEvent::Answer, since)
                .await?;
            if answered >= STRANGER_ANSWERS_PER_HOUR {
                self.tx
                    .stranger_event(&user, StrangerEvent::Silenced)
                    .await?;
                return self.flood_notice().await;
            }
        }
        if !stranger {
            // A deferred write (it goes with the update's next statement): a key used before
            // (a once-a-day notice) queues nothing, and then `queued` only rings the outbox
            // for nothing.
            self.tx
                .enqueue_later(key, &chat, person, "reply", &message, None);
            self.queued = true;
            return Ok(());
        }
        // A stranger's answer counts only when it was queued.
        if self
            .tx
            .enqueue(key, &chat, person, "stranger", &message)
            .await?
            .is_some()
        {
            self.queued = true;
            self.tx.stranger_event(&user, StrangerEvent::Answer).await?;
        }
        Ok(())
    }

    /// Tells the office, once a day, that someone not bound writes to the bot so much that
    /// it has stopped answering them.
    async fn flood_notice(&mut self) -> Result<(), StoreError> {
        let day = self.now.with_timezone(&self.settings.timezone).date_naive();
        let sender = &self.who.sender;
        let name = crate::core::text::clean(&sender.name);
        let name: String = name.chars().take(40).collect();
        let text = match self.lang() {
            Language::Zh => format!(
                "⚠️ 有未绑定的账号向督办机器人大量发送消息（如“{name}”，用户ID {}），机器人已暂停答复（每人每小时最多答复{}次），不影响其他人。如是工作人员，请为其生成邀请码绑定。",
                sender.user_id, STRANGER_ANSWERS_PER_HOUR
            ),
            Language::En => format!(
                "⚠️ Someone not bound is flooding the bot with messages (e.g. \"{name}\", user id {}): the bot stopped answering them (at most {} answers an hour each); nobody else is affected. If they work with you, invite them.",
                sender.user_id, STRANGER_ANSWERS_PER_HOUR
            ),
        };
        let key = format!("flood:{day}");
        self.notify_office(
            &key,
            "notice",
            Message::text(text),
            serde_json::json!({ "flood": self.who.user.to_string() }),
        )
        .await
    }

    /// Tells someone not bound how to bind, at most once a day: a stranger writing a lot
    /// gets one answer, not one per message.
    async fn tell_unbound(&mut self) -> Result<(), StoreError> {
        let day = self.now.with_timezone(&self.settings.timezone).date_naive();
        let key = format!("unbound:{}:{}:{day}", self.chat.key(), self.who.user.key());
        let line = self.unbound_line();
        self.say_once(&key, line).await
    }

    async fn run(&mut self) -> Result<(), StoreError> {
        match self.incoming.event.clone() {
            Event::Text { text, reply_to, .. } => self.text(&text, reply_to).await,
            Event::Button {
                callback_id,
                message_id,
                data,
            } => {
                self.button(&callback_id, message_id.as_deref(), &data)
                    .await
            }
            Event::File {
                file,
                caption,
                reply_to,
                ..
            } => {
                self.file_event(&file, caption.trim(), reply_to.as_deref())
                    .await
            }
            Event::Unreadable => self.unreadable().await,
            Event::Other => Ok(()),
        }
    }

    async fn text(&mut self, text: &str, reply_to: Option<String>) -> Result<(), StoreError> {
        let text = text.trim();
        // A one-tap link sent a button's data (`✅ 通过 #c:12:ok`), with a reason typed on.
        if let Some((data, rest)) = crate::core::chat::pressed_in_text(text) {
            let (data, rest) = (data.to_string(), rest.to_string());
            let answer = self.press_by_text(&data, &rest).await?;
            if answer.is_empty() {
                return Ok(());
            }
            return self.say(answer).await;
        }
        // Where a chat has no commands (DingTalk): 绑定 CODE, 解除绑定.
        if let Some(code) = text
            .strip_prefix("绑定")
            .map(str::trim)
            .filter(|c| !c.is_empty() && !c.contains(char::is_whitespace))
        {
            return self.bind(code).await;
        }
        if text == "解除绑定" {
            return self.command("unbind", "").await;
        }
        if let Some((name, args)) = command_in(text) {
            return self.command(&name, args).await;
        }
        // Where replies do not name the message they answer, a reply answers the latest
        // reminder in its chat (and the codes in its text decide).
        let reply_to = match reply_to {
            Some(id) => Some(id),
            None if !self.caps.threading => self.tx.latest_reminder(&self.chat).await?,
            None => None,
        };
        let reminder = match &reply_to {
            Some(id) => self.tx.sent_reminder(&self.chat, id).await?,
            None => None,
        };
        let sent = match &reply_to {
            Some(id) => self.tx.sent_message(&self.chat, id).await?,
            None => None,
        };
        if !self.who.bound() {
            // In a group, people talk among themselves: only replies to the bot get an answer.
            if !self.group() || sent.is_some() {
                self.tell_unbound().await?;
            }
            return Ok(());
        }
        if let Some(sent) = &sent
            && self.reason_reply(sent, text).await?
        {
            return Ok(());
        }
        let about_requests = sent.as_ref().is_some_and(|s| s.kind == "requests");
        let names_request = crate::core::reply::request_code_at_start(text).is_some();
        if (about_requests || names_request) && self.request_reply(sent.as_ref(), text).await? {
            return Ok(());
        }
        // A reply for several measures: one line each, each applied to its own code, and one
        // confirmation for them all.
        let items = crate::core::reply::items(text);
        if items.iter().filter(|i| i.lead.is_some()).count() > 1 {
            return self.several(&items, reminder.as_ref()).await;
        }
        match self.target(text, reminder.as_ref()).await? {
            Target::Measure { id, code, rest } => {
                let outcome = self.update(id, &code, rest, text).await?;
                self.conclude(outcome).await
            }
            Target::Answer(line) => self.say(line).await,
            Target::Silent => Ok(()),
        }
    }

    /// The measure a text is about: the code it starts with, when that names a measure on
    /// the reminder or (written apart from the words) in the ledger, else the reminder's only
    /// measure; or what to answer when there is none.
    async fn target<'t>(
        &mut self,
        text: &'t str,
        reminder: Option<&crate::store::SentReminder>,
    ) -> Result<Target<'t>, StoreError> {
        let mut code = None;
        let mut rest = text;
        let mut known = None;
        if let Some(lead) = split_code(text) {
            let on_reminder = reminder.and_then(|sent| {
                sent.items
                    .iter()
                    .find(|(_, c)| *c == lead.code)
                    .map(|(id, c)| (*id, c.clone()))
            });
            let found = match on_reminder {
                Some(found) => Some(found),
                None if lead.glued && reminder.is_some() => None,
                None => self
                    .tx
                    .find_measure(&lead.code)
                    .await?
                    .map(|(id, _)| (id, lead.code.clone())),
            };
            // An unknown code is still meant as one without a reminder to go by, when it is a
            // structured code written apart ("99-9 已完成"), or when the reminder lists several
            // measures and the reply must name one.
            let structured = lead.code.contains(['-', '.']);
            let several = reminder.is_some_and(|r| r.items.len() > 1);
            if found.is_some() || reminder.is_none() || (!lead.glued && (structured || several)) {
                code = Some(lead.code);
                rest = lead.rest;
                known = found;
            }
        }
        let target = match (reminder, &code) {
            (_, Some(_)) => known,
            (Some(sent), None) if sent.items.len() == 1 => Some(sent.items[0].clone()),
            (Some(sent), None) => {
                return Ok(Target::Answer(self.name_the_code(&sent.items[0].1)));
            }
            (None, None) => None,
        };
        let Some((id, code)) = target else {
            if self.group() && reminder.is_none() {
                return Ok(Target::Silent);
            }
            let line = match (&code, reminder) {
                (Some(code), Some(sent)) if sent.items.len() > 1 => format!(
                    "{}{}",
                    self.no_such_code(code),
                    self.name_the_code(&sent.items[0].1)
                ),
                (Some(code), _) => self.no_such_code(code).trim_end().to_string(),
                (None, _) => tr(
                    self.lang(),
                    "要更新进展，请回复提醒消息，或发送“/update 序号 内容”，如“/update 1-3 已完成”。",
                    "To update a measure, reply to a reminder or send /update CODE TEXT, e.g. /update 1-3 done.",
                ),
            };
            return Ok(Target::Answer(line));
        };
        Ok(Target::Measure { id, code, rest })
    }

    /// A reply with a line for each of several measures: each line applied to its code, with
    /// its own history rows, and one confirmation listing them all.
    async fn several(
        &mut self,
        items: &[crate::core::reply::Item<'_>],
        reminder: Option<&crate::store::SentReminder>,
    ) -> Result<(), StoreError> {
        let mut lines = Vec::new();
        for item in items {
            match self.target(&item.text, reminder).await? {
                Target::Measure { id, code, rest } => {
                    let outcome = self.update(id, &code, rest, &item.text).await?;
                    if outcome.asked {
                        lines.push(match self.lang() {
                            Language::Zh => format!("❔ {code} 待您确认（见下条消息）"),
                            Language::En => format!("❔ {code}: please confirm (next message)"),
                        });
                    } else {
                        lines.push(outcome.line);
                    }
                }
                Target::Answer(line) => lines.push(line),
                Target::Silent => {}
            }
        }
        if lines.is_empty() {
            return Ok(());
        }
        let head = match self.lang() {
            Language::Zh => format!("已处理{}项：", lines.len()),
            Language::En => format!("{} item(s):", lines.len()),
        };
        self.say(format!("{head}\n{}", lines.join("\n"))).await
    }

    /// Sends what an update came to: its confirmation (about its measure, so that evidence
    /// in reply to it finds the measure), or the question that asks before applying.
    async fn conclude(&mut self, outcome: Outcome) -> Result<(), StoreError> {
        if outcome.asked {
            return Ok(());
        }
        match outcome.measure {
            Some(measure) => {
                self.say_about(outcome.line, serde_json::json!({ "measure": measure }))
                    .await
            }
            None => self.say(outcome.line).await,
        }
    }

    /// A sticker, a voice message or a location: in a one-to-one chat the sender hears what
    /// the bot reads (once a day for someone not bound); in a group nothing is said.
    async fn unreadable(&mut self) -> Result<(), StoreError> {
        if self.group() {
            return Ok(());
        }
        if !self.who.bound() {
            return self.tell_unbound().await;
        }
        let line = tr(
            self.lang(),
            "机器人只能读取文字、图片和文件，请用文字回复，如“1-3 已完成”。",
            "The bot reads text, photos and files only: please answer in words, e.g. \"1-3 done\".",
        );
        self.say(line).await
    }

    /// "No measure has this code", naming it.
    fn no_such_code(&self, code: &str) -> String {
        match self.lang() {
            Language::Zh => format!("没有这个序号：{code}。"),
            Language::En => format!("No measure has the code {code}. "),
        }
    }

    /// Asks for the code on a reminder of several measures, with one of them as the example.
    fn name_the_code(&self, example: &str) -> String {
        match self.lang() {
            Language::Zh => {
                format!("这条提醒列了多项措施，请在开头写明序号，如“{example} 已完成”。")
            }
            Language::En => format!(
                "This reminder lists several measures: start with the code, e.g. \"{example} done\"."
            ),
        }
    }

    /// The office's name, as configured.
    pub(crate) fn office_name(&self) -> &str {
        self.settings.config.office_name()
    }

    /// The date an example of an extension names: the end of next month, in words.
    fn example_until(&self) -> String {
        crate::core::text::date(crate::core::text::example_date(self.today()), self.lang())
    }

    /// `/unbind` in a group: ends the group's binding, when the sender is office or a
    /// liaison of one of the group's units.
    async fn unbind_group(&mut self) -> Result<(), StoreError> {
        let units = self.tx.group_units(&self.chat).await?;
        if units.is_empty() {
            let line = tr(
                self.lang(),
                "本群未绑定任何单位。",
                "This group is not bound to any unit.",
            );
            return self.say(line).await;
        }
        let mine = self.who.units();
        if !self.who.office() && !units.iter().any(|u| mine.contains(&u.as_str())) {
            let line = match self.lang() {
                Language::Zh => format!(
                    "只有本群所属单位的联络员或{}可以解除本群的绑定。",
                    self.office_name()
                ),
                Language::En => {
                    "Only a liaison of this group's unit, or the office, can unbind the group."
                        .to_string()
                }
            };
            return self.say(line).await;
        }
        self.tx.unbind_group(&self.chat).await?;
        let line = tr(
            self.lang(),
            "本群已解除绑定，不再收到提醒。",
            "This group is unbound: no more reminders will come here.",
        );
        self.say(line).await
    }

    /// Who asks, for the office's notice: unit and name.
    fn signature(&self, unit: Option<&str>) -> String {
        match unit {
            Some(unit) => format!("{unit} {}", self.who.actor()),
            None => self.who.actor(),
        }
    }

    fn unbound_line(&self) -> String {
        match self.lang() {
            Language::Zh => format!(
                "您好，您尚未绑定。请向{}索取邀请码，然后发送“/bind 邀请码”。",
                self.office_name()
            ),
            Language::En => "Hello! You are not bound yet. Ask the supervision office for a code, then send /bind CODE.".to_string(),
        }
    }

    async fn command(&mut self, name: &str, args: &str) -> Result<(), StoreError> {
        match name {
            "start" | "bind" if !args.is_empty() => self.bind(args).await,
            "start" | "help" if self.who.bound() => {
                let text = self.help();
                self.say(text).await
            }
            "whoami" if self.who.bound() => {
                let text = self.whoami();
                self.say(text).await
            }
            "web" if self.who.bound() => self.web_link().await,
            "list" if self.who.bound() => {
                let text = self.list().await?;
                self.say(text).await
            }
            "unbind" if self.group() && self.who.bound() => self.unbind_group().await,
            "unbind" if self.who.bound() => {
                let n = self.tx.unbind(&self.who.user).await?;
                let text = match self.lang() {
                    Language::Zh => format!("已解除绑定（共{n}项），不再收到提醒。"),
                    Language::En => {
                        format!("Unbound ({n}): you will get no more reminders.")
                    }
                };
                self.say(text).await
            }
            "answer" if self.who.bound() => {
                let (head, rest) = args.split_once(char::is_whitespace).unwrap_or((args, ""));
                match crate::core::workflow::parse_request_code(head) {
                    Some(id) => self.answer_request(id, rest.trim()).await,
                    None => {
                        let line = tr(
                            self.lang(),
                            "用法：/answer 编号 内容，如“/answer R3 已与企业对接，问题已解决”。",
                            "Usage: /answer CODE TEXT, e.g. /answer R3 solved with the company",
                        );
                        self.say(line).await
                    }
                }
            }
            "update" if self.who.bound() => {
                let Some((code, rest)) = update_lead(args) else {
                    let line = tr(
                        self.lang(),
                        "用法：/update 序号 内容，如“/update 1-3 已完成”。",
                        "Usage: /update CODE TEXT, e.g. /update 1-3 done",
                    );
                    return self.say(line).await;
                };
                match self.tx.measure_named(&code).await? {
                    Some((id, measure)) => {
                        let outcome = self.update_measure(id, measure, &code, &rest, args).await?;
                        self.conclude(outcome).await
                    }
                    None => {
                        let line = self.no_such_code(&code);
                        self.say(line.trim_end().to_string()).await
                    }
                }
            }
            // A command always gets its answer, however often it comes.
            _ if !self.who.bound() => {
                if !self.group() {
                    self.say(self.unbound_line()).await?;
                }
                Ok(())
            }
            _ => {
                let text = self.help();
                self.say(text).await
            }
        }
    }

    async fn bind(&mut self, code: &str) -> Result<(), StoreError> {
        let hash = code_hash(code);
        let sender = self.who.sender.clone();
        let zh = self.lang() == Language::Zh;
        // Guessing codes: after a few wrong ones in an hour, no code is even looked at.
        let since = self.now - chrono::Duration::hours(1);
        let wrong = self
            .tx
            .stranger_count(&self.who.user, StrangerEvent::BadCode, since)
            .await?;
        if wrong >= BAD_CODES_PER_HOUR {
            let text = match self.lang() {
                Language::Zh => format!(
                    "邀请码错误次数过多，请一小时后再试，或向{}核对邀请码。",
                    self.office_name()
                ),
                Language::En => {
                    "Too many wrong codes: try again in an hour, or check the code with the office."
                        .to_string()
                }
            };
            return self.say(text).await;
        }
        let redeemed = self
            .tx
            .redeem(&hash, &sender, &self.chat, self.group())
            .await?;
        match redeemed {
            Redeemed::Person(_) | Redeemed::Group { .. } => self.just_bound = true,
            Redeemed::Unknown => {
                self.tx
                    .stranger_event(&self.who.user, StrangerEvent::BadCode)
                    .await?
            }
            _ => {}
        }
        let text = match redeemed {
            Redeemed::Person(b) => {
                let place = b.unit.clone().or(b.place.clone()).unwrap_or_default();
                let role = role_label(b.role, self.lang(), self.office_name());
                if zh {
                    format!("绑定成功：{}，{place}{role}。发送 /help 查看用法。", b.name)
                } else {
                    format!(
                        "Bound: {} as {role} of {place}. Send /help to see what you can do.",
                        b.name
                    )
                }
            }
            Redeemed::Group { unit } => {
                if zh {
                    format!("本群已绑定为{unit}的工作群，提醒将发到这里。")
                } else {
                    format!("This group is now {unit}'s chat: reminders will come here.")
                }
            }
            Redeemed::Unknown => match self.lang() {
                Language::Zh => format!(
                    "邀请码无效，请核对后重试，或向{}索取新码。",
                    self.office_name()
                ),
                Language::En => {
                    "This code is not valid. Check it, or ask the office for a new one.".into()
                }
            },
            Redeemed::Used => match self.lang() {
                Language::Zh => format!("此邀请码已被使用，请向{}索取新码。", self.office_name()),
                Language::En => "This code has been used. Ask the office for a new one.".into(),
            },
            Redeemed::Expired => match self.lang() {
                Language::Zh => format!(
                    "此邀请码已过期（有效期7天），请向{}索取新码。",
                    self.office_name()
                ),
                Language::En => {
                    "This code has expired (codes last 7 days). Ask the office for a new one."
                        .into()
                }
            },
            Redeemed::NotForGroups => tr(
                self.lang(),
                "此邀请码只能在与机器人的私聊中使用。",
                "This code works only in a private chat with the bot.",
            ),
        };
        self.say(text).await
    }

    fn help(&self) -> String {
        let lines: Vec<String> = COMMANDS
            .iter()
            .map(|(c, zh, en)| {
                format!(
                    "/{c} — {}",
                    if self.lang() == Language::Zh { zh } else { en }
                )
            })
            .collect();
        let until =
            crate::core::text::date(crate::core::text::example_date(self.today()), self.lang());
        let intro = match self.lang() {
            Language::Zh => format!(
                "督办机器人：每个工作日推送到期和逾期的整改措施。回复提醒消息即可更新，如“1-3 已完成”“1-3 60% 合同已签”“1-3 需协调 原因”“1-3 延期至{until} 原因”。"
            ),
            Language::En => format!(
                "duban reminds you of measures due or overdue each working day. Reply to a reminder to update one: \"1-3 done\", \"1-3 60% contract signed\", \"1-3 blocked: reason\", \"1-3 extend to {until} reason\"."
            ),
        };
        format!("{intro}\n{}", lines.join("\n"))
    }

    /// `/web`: a one-time sign-in link to the web workbench, in a private chat only (in a
    /// group anyone could use it), without a link preview.
    async fn web_link(&mut self) -> Result<(), StoreError> {
        let language = self.lang();
        if self.group() {
            let line = tr(
                language,
                "登录链接只在私聊中发送：请在与机器人的单聊中发送 /web。",
                "Sign-in links go to private chats only: send /web to the bot in a 1:1 chat.",
            );
            return self.say(line).await;
        }
        // The office's role first, then a leader's, a unit head's, a liaison's first unit.
        let rank = |role: Role| match role {
            Role::Office => 0,
            Role::Leader => 1,
            Role::Head => 2,
            Role::Liaison => 3,
        };
        let Some(binding) = self
            .who
            .bindings
            .iter()
            .min_by_key(|b| rank(b.role))
            .cloned()
        else {
            return Ok(());
        };
        let by = format!("chat:{}", self.who.user);
        let url = match crate::app::signin::sign_in_link_in(
            &mut self.tx,
            self.settings,
            &binding.name,
            binding.role,
            binding.unit.as_deref(),
            &by,
            self.now,
        )
        .await
        {
            Ok(url) => url,
            Err(crate::app::signin::SignInError::Store(e)) => return Err(e),
            Err(crate::app::signin::SignInError::UnitNeeded) => {
                let line = tr(
                    language,
                    "您的绑定没有所属单位，无法生成登录链接，请联系整改办。",
                    "Your binding has no unit; ask the office for a sign-in link.",
                );
                return self.say(line).await;
            }
        };
        let minutes = self.settings.config.web.link_minutes;
        let text = match language {
            Language::Zh => format!(
                "网页工作台登录链接（{minutes}分钟内有效，只能使用一次，请勿转发）：\n{url}"
            ),
            Language::En => format!(
                "Your sign-in link to the web workbench (valid {minutes} minutes, once; do not forward it):\n{url}"
            ),
        };
        let key = format!("reply:{}:{}", self.update_key(), self.said);
        self.said += 1;
        let message = Message {
            no_preview: true,
            ..Message::text(text)
        };
        self.say_message_once(&key, message).await
    }

    fn whoami(&self) -> String {
        let language = self.lang();
        // One line per name and role, with every place it holds: a liaison of twenty units
        // reads as one line, not twenty.
        let mut groups: Vec<(String, Role, Vec<String>)> = Vec::new();
        for b in &self.who.bindings {
            let place = b.unit.clone().or(b.place.clone()).unwrap_or_default();
            match groups
                .iter_mut()
                .find(|(name, role, _)| *name == b.name && *role == b.role)
            {
                Some((_, _, places)) => places.push(place),
                None => groups.push((b.name.clone(), b.role, vec![place])),
            }
        }
        let lines: Vec<String> = groups
            .into_iter()
            .map(|(name, role, places)| {
                let role = role_label(role, language, self.office_name());
                match language {
                    Language::Zh => format!("{name}：{}{role}", places.join("、")),
                    Language::En => format!("{name}: {role} of {}", places.join(", ")),
                }
            })
            .collect();
        lines.join("\n")
    }

    async fn list(&mut self) -> Result<String, StoreError> {
        let measures = self.tx.measures().await?;
        let today = self.now.with_timezone(&self.settings.timezone).date_naive();
        let ctx = context(self.settings, today);
        let units = self.who.units();
        let leader_names: Vec<&str> = self
            .who
            .bindings
            .iter()
            .filter(|b| b.role == Role::Leader)
            .map(|b| b.name.as_str())
            .collect();
        let office = self.who.office();
        let mut rows: Vec<(String, Assessment)> = measures
            .iter()
            .filter(|m| m.status.is_open())
            .filter(|m| {
                office
                    || units.iter().any(|u| m.involves(u))
                    || m.leaders.iter().any(|l| leader_names.contains(&l.as_str()))
            })
            .map(|m| (m.code.clone(), assess(m, &ctx)))
            .filter(|(_, a)| {
                !office || a.colour == crate::core::rules::Colour::Red || !units.is_empty()
            })
            .collect();
        rows.sort_by_key(|(_, a)| a.colour);
        let zh = self.lang() == Language::Zh;
        if rows.is_empty() {
            return Ok(tr(
                self.lang(),
                "没有未销号的整改措施。",
                "No open measures.",
            ));
        }
        let total = rows.len();
        let mut out = vec![if zh {
            format!(
                "{}，未销号{total}项：",
                crate::core::text::date(today, self.lang())
            )
        } else {
            format!("{today}: {total} open measure(s):")
        }];
        for (code, a) in rows.iter().take(30) {
            let light = match a.colour {
                crate::core::rules::Colour::Red => "🔴",
                crate::core::rules::Colour::Yellow => "🟡",
                crate::core::rules::Colour::Green => "🟢",
            };
            out.push(format!(
                "{light} {code} {}",
                crate::core::report::reason_text(a, self.lang())
            ));
        }
        if total > 30 {
            out.push(if zh {
                format!("……另有{}项", total - 30)
            } else {
                format!("… and {} more", total - 30)
            });
        }
        Ok(out.join("\n"))
    }

    /// Applies a reply's text to one measure; returns the confirmation (or why nothing was
    /// done). An unclear reading is not applied: the liaison is asked first, with 是 / 不是.
    async fn update(
        &mut self,
        measure_id: i64,
        code: &str,
        text: &str,
        raw: &str,
    ) -> Result<Outcome, StoreError> {
        let measure = self.tx.measure_by_id(measure_id, code).await?;
        self.update_measure(measure_id, measure, code, text, raw)
            .await
    }

    /// [`Step::update`] on a measure already read in this transaction.
    async fn update_measure(
        &mut self,
        measure_id: i64,
        measure: crate::core::ledger::Measure,
        code: &str,
        text: &str,
        raw: &str,
    ) -> Result<Outcome, StoreError> {
        let Some(unit) = self.who.may_change(&measure.lead_unit, &measure.units) else {
            let line = if self.who.bindings.iter().all(|b| b.role == Role::Leader) {
                tr(
                    self.lang(),
                    "责任领导可查看进展，更新请由责任单位联络员办理。",
                    "Leaders can read progress; the responsible units' liaisons update it.",
                )
            } else {
                match self.lang() {
                    Language::Zh => format!("您只能更新本单位的整改措施，无权更新{code}。"),
                    Language::En => {
                        format!("You can only update your own units' measures, not {code}.")
                    }
                }
            };
            return Ok(Outcome::said(line));
        };
        let context = crate::core::reply::ReplyContext {
            today: self.today(),
            measure: Some(&measure.content),
        };
        let reading = match crate::core::reply::read(text, &context) {
            Ok(reading) => reading,
            Err(e) => {
                let line = match (e, self.lang()) {
                    (ReplyError::ExtensionWithoutDate, Language::Zh) => {
                        format!(
                            "请写明延期到的日期，如“{code} 延期至{} 原因”。",
                            self.example_until()
                        )
                    }
                    (ReplyError::ExtensionWithoutDate, Language::En) => format!(
                        "Give the new date, e.g. \"{code} extend to {} reason\".",
                        self.example_until()
                    ),
                    (ReplyError::BlockedWithoutReason, Language::Zh) => {
                        format!("请说明需协调的事项，如“{code} 需协调 用地指标未落实”。")
                    }
                    (ReplyError::Empty, Language::Zh) => format!("请写明进展，如“{code} 已完成”。"),
                    (e, _) => e.to_string(),
                };
                return Ok(Outcome::said(line));
            }
        };
        let unit = unit.map(str::to_string);
        if !reading.clear {
            self.ask_reading(measure_id, code, &reading.intent, unit.as_deref(), raw)
                .await?;
            return Ok(Outcome {
                line: String::new(),
                measure: Some(measure_id),
                asked: true,
            });
        }
        let line = self
            .apply(measure_id, code, measure.status, reading.intent, unit, raw)
            .await?;
        Ok(Outcome {
            line,
            measure: Some(measure_id),
            asked: false,
        })
    }

    /// What a reading would do, in words: "3-2 已完成，申请销号".
    fn describe_reading(&self, code: &str, intent: &Intent) -> String {
        match (intent, self.lang()) {
            (Intent::Done { .. }, Language::Zh) => format!("{code} 已完成，申请销号"),
            (Intent::Done { .. }, Language::En) => format!("{code} is done: claim completion"),
            (Intent::Progress { .. }, Language::Zh) => format!("{code} 正在推进（记为推进中）"),
            (Intent::Progress { .. }, Language::En) => {
                format!("{code} is under way (in progress)")
            }
            (_, Language::Zh) => format!("{code} 记录为进展"),
            (_, Language::En) => format!("{code}: keep it as a note"),
        }
    }

    /// Asks the liaison whether an unclear reading is what they meant: the reading, and two
    /// buttons that apply it or drop it. Nothing changes until they press one.
    async fn ask_reading(
        &mut self,
        measure_id: i64,
        code: &str,
        intent: &Intent,
        unit: Option<&str>,
        raw: &str,
    ) -> Result<(), StoreError> {
        let reading = serde_json::to_string(intent).expect("an intent serializes");
        let id = self
            .tx
            .add_pending_reading(&crate::store::NewPendingReading {
                measure_id,
                code,
                intent: &reading,
                raw,
                unit,
                chat: &self.chat,
                user: &self.who.user,
                at: self.now,
            })
            .await?;
        let meant = self.describe_reading(code, intent);
        let text = match self.lang() {
            Language::Zh => format!(
                "请确认：“{}”是指{meant}吗？确认请点“是”；不是请点“不是”，不作任何更改。",
                clip(raw)
            ),
            Language::En => format!(
                "Please confirm: does \"{}\" mean {meant}? Press Yes to apply it; No changes nothing.",
                clip(raw)
            ),
        };
        let (yes, no) = match self.lang() {
            Language::Zh => ("✅ 是", "✖️ 不是"),
            Language::En => ("✅ Yes", "✖️ No"),
        };
        let message = Message {
            buttons: vec![vec![
                crate::core::chat::Button::new(yes, format!("r:{id}:y")),
                crate::core::chat::Button::new(no, format!("r:{id}:n")),
            ]],
            ..Message::text(text)
        };
        let key = format!("reading:{id}");
        let queued = self
            .tx
            .enqueue_about(
                &key,
                &self.chat,
                "confirm",
                &message,
                &serde_json::json!({ "measure": measure_id, "reading": id }),
            )
            .await?;
        self.queued |= queued.is_some();
        Ok(())
    }

    /// A press on 是 / 不是 under a question about an unclear reading; returns the toast.
    async fn confirm_reading(
        &mut self,
        message_id: Option<&str>,
        data: &str,
    ) -> Result<String, StoreError> {
        let refused = tr(
            self.lang(),
            "此按钮无效或已过期。",
            "This button is not valid any more.",
        );
        let mut parts = data.split(':');
        let (Some("r"), Some(id), Some(answer), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Ok(refused);
        };
        let (Ok(id), true) = (id.parse::<i64>(), matches!(answer, "y" | "n")) else {
            return Ok(refused);
        };
        let Some(pending) = self.tx.pending_reading(id).await? else {
            return Ok(refused);
        };
        if pending.user != self.who.user {
            return Ok(tr(
                self.lang(),
                "只有回复的人可以确认。",
                "Only the person who replied can confirm.",
            ));
        }
        if (self.now - pending.created_at).num_days() > BUTTON_DAYS {
            return Ok(refused);
        }
        if !self
            .tx
            .decide_pending_reading(id, answer == "y", self.now)
            .await?
        {
            return Ok(tr(self.lang(), "已确认过，无需再点。", "Answered already."));
        }
        let line = if answer == "n" {
            match self.lang() {
                Language::Zh => format!(
                    "已取消，{}未作更改。请写得更明确些，如“{0} 已完成”或“{0} 推进中 已召开会议”。",
                    pending.code
                ),
                Language::En => format!(
                    "Dropped: nothing changed on {0}. Please say it plainly, e.g. \"{0} done\" or \"{0} in progress\".",
                    pending.code
                ),
            }
        } else {
            let measure = self
                .tx
                .measure_by_id(pending.measure_id, &pending.code)
                .await?;
            let Some(unit) = self.who.may_change(&measure.lead_unit, &measure.units) else {
                return Ok(tr(
                    self.lang(),
                    "您无权更新此项。",
                    "You may not update this measure.",
                ));
            };
            let unit = unit.map(str::to_string);
            let intent: Intent =
                serde_json::from_str(&pending.intent).map_err(|e| StoreError::Corrupt {
                    column: "pending_readings.intent",
                    value: e.to_string(),
                })?;
            self.apply(
                pending.measure_id,
                &pending.code,
                measure.status,
                intent,
                unit,
                &pending.raw,
            )
            .await?
        };
        if let Some(message_id) = message_id {
            let sent = self.tx.sent_message(&self.chat, message_id).await?;
            if let Some(sent) = sent.filter(|_| self.caps.edits) {
                self.actions.push(Action::Edit {
                    chat_id: self.incoming.chat_id.clone(),
                    message_id: message_id.to_string(),
                    message: Message::text(format!("{}\n—— {line}", sent.message.text)),
                });
            }
        }
        self.say_about(
            line.clone(),
            serde_json::json!({ "measure": pending.measure_id }),
        )
        .await?;
        Ok(line)
    }

    fn change(&self, unit: Option<String>, raw: &str) -> crate::store::Change {
        crate::store::Change {
            actor: self.who.actor(),
            source: Source::Chat,
            at: self.now,
            note: Some(raw.to_string()),
            chat: Some(ChatOrigin {
                unit,
                chat: self.chat.clone(),
                raw_text: raw.to_string(),
                user: self.who.user.clone(),
            }),
        }
    }

    /// Does what an intent asks to a measure; returns the one-line confirmation.
    async fn apply(
        &mut self,
        id: i64,
        code: &str,
        status: Status,
        parsed: Intent,
        unit: Option<String>,
        raw: &str,
    ) -> Result<String, StoreError> {
        let change = self.change(unit.clone(), raw);
        let zh = self.lang() == Language::Zh;
        let language = self.lang();
        let label = move |s: Status| crate::core::report::status_label(s, language);
        if status == Status::Closed {
            return Ok(if zh {
                format!(
                    "{code} 已销号，无需再报。如需重新整改，请联系{}。",
                    self.office_name()
                )
            } else {
                format!("{code} is closed; ask the office to reopen it.")
            });
        }
        Ok(match parsed {
            Intent::Done { note } => {
                if status == Status::Claimed {
                    // Claimed in the ledger, never in a chat: this is the claim the office
                    // has to hear of.
                    if self.tx.pending_claim(id).await?.is_none()
                        && let Some(claim) = self.tx.claim_of_claimed(id, &change).await?
                    {
                        self.notify_claim(claim, id, code, unit.as_deref()).await?;
                    }
                    return Ok(if zh {
                        format!("{code} 已申请销号，等待{}核验。", self.office_name())
                    } else {
                        format!("{code}: completion already claimed, waiting for the office.")
                    });
                }
                let done = self.tx.set_status(id, Status::Claimed, &change).await?;
                if let Some(note) = note {
                    self.tx.add_note(id, &note, &change).await?;
                }
                if let Some(claim) = done.claim {
                    self.notify_claim(claim, id, code, unit.as_deref()).await?;
                }
                if zh {
                    format!(
                        "✅ {code} 已记录：{}（待{}核验）",
                        label(Status::Claimed),
                        self.office_name()
                    )
                } else {
                    format!(
                        "✅ {code}: {} (for the office to verify)",
                        label(Status::Claimed)
                    )
                }
            }
            Intent::Progress { note, .. } => {
                let now = self.progress(id, status, &change).await?;
                self.tx.add_note(id, &note, &change).await?;
                if zh {
                    format!("🔄 {code} 已记录进展，状态：{}", label(now))
                } else {
                    format!("🔄 {code}: progress recorded, status {}", label(now))
                }
            }
            Intent::Note(note) => {
                self.tx.add_note(id, &note, &change).await?;
                self.tx
                    .record(id, HistoryKind::Note, status, &change)
                    .await?;
                if zh {
                    format!("📝 {code} 已记录进展，状态：{}", label(status))
                } else {
                    format!("📝 {code}: note recorded, status {}", label(status))
                }
            }
            Intent::Blocked { reason } => {
                let reason = clip(&reason);
                self.tx
                    .record(id, HistoryKind::Flag, status, &change)
                    .await?;
                self.flag(id, code, &reason, unit.as_deref(), false).await?;
                if zh {
                    format!(
                        "⚠️ {code} 已提交{}协调，状态：{}",
                        self.office_name(),
                        label(status)
                    )
                } else {
                    format!(
                        "⚠️ {code}: sent to the office for coordination, status {}",
                        label(status)
                    )
                }
            }
            Intent::Question { text } => {
                let text = clip(&text);
                self.tx
                    .record(id, HistoryKind::Flag, status, &change)
                    .await?;
                self.flag(id, code, &text, unit.as_deref(), true).await?;
                if zh {
                    format!("❓ {code} 的提问已转{}，请留意答复。", self.office_name())
                } else {
                    format!("❓ {code}: your question went to the office.")
                }
            }
            Intent::Answer { request, .. } => {
                let code = crate::core::workflow::request_code(request);
                if zh {
                    format!("答复诉求请以编号开头，如“{code} 已与企业对接”。")
                } else {
                    format!("To answer a request, start with its code, e.g. \"{code} solved\".")
                }
            }
            Intent::Extend { until, reason } => {
                let today = self.today();
                if until <= today {
                    let day = crate::core::text::date(today, language);
                    let example = self.example_until();
                    return Ok(if zh {
                        format!(
                            "延期日期须晚于今天（{day}），请重新填写，如“{code} 延期至{example} 原因”。"
                        )
                    } else {
                        format!(
                            "The new date must be after today ({day}), e.g. \"{code} extend to {example} reason\"."
                        )
                    });
                }
                let measure = self.tx.measure(code).await?;
                if let Some(refusal) =
                    crate::core::workflow::extension_refusal(&measure.deadline, until)
                {
                    return Ok(crate::core::workflow::extension_refusal_text(
                        refusal, language,
                    ));
                }
                let reason = reason.as_deref().map(clip);
                self.tx
                    .record(id, HistoryKind::Extension, status, &change)
                    .await?;
                self.request_extension(id, code, until, reason.as_deref(), unit.as_deref())
                    .await?;
                if zh {
                    format!(
                        "📅 {code} 延期申请（至{}）已提交{}审核，状态：{}",
                        crate::core::text::date(until, language),
                        self.office_name(),
                        label(status)
                    )
                } else {
                    format!(
                        "📅 {code}: extension to {until} sent to the office, status {}",
                        label(status)
                    )
                }
            }
        })
    }

    /// Marks a measure in progress when it had not started; writes the history row either way.
    async fn progress(
        &mut self,
        id: i64,
        status: Status,
        change: &crate::store::Change,
    ) -> Result<Status, StoreError> {
        if status == Status::NotStarted {
            self.tx.set_status(id, Status::InProgress, change).await?;
            return Ok(Status::InProgress);
        }
        self.tx
            .record(id, HistoryKind::Note, status, change)
            .await?;
        Ok(status)
    }

    async fn button(
        &mut self,
        callback_id: &str,
        message_id: Option<&str>,
        data: &str,
    ) -> Result<(), StoreError> {
        let answer = self.press(message_id, data).await?;
        self.actions.push(Action::Answer {
            callback_id: callback_id.to_string(),
            text: answer,
        });
        Ok(())
    }

    /// A press sent as text by a one-tap link: the words after the button (a rejection's
    /// reason) go with it. Returns what the toast would say.
    async fn press_by_text(&mut self, data: &str, rest: &str) -> Result<String, StoreError> {
        let rejection = data.ends_with(":no") && (data.starts_with("c:") || data.starts_with("x:"));
        // A flag raised to a unit the office names.
        let raised_to = data.starts_with("f:");
        if (rejection || raised_to) && !rest.is_empty() && self.who.bound() {
            return self.office_press(None, data, Some(rest)).await;
        }
        self.press(None, data).await
    }

    /// A button press; returns the toast.
    async fn press(&mut self, message_id: Option<&str>, data: &str) -> Result<String, StoreError> {
        let refused = tr(
            self.lang(),
            "此按钮无效或已过期。",
            "This button is not valid any more.",
        );
        if !self.who.bound() {
            return Ok(self.unbound_line());
        }
        if data.starts_with("c:") || data.starts_with("x:") || data.starts_with("f:") {
            return self.office_press(message_id, data, None).await;
        }
        if data.starts_with("r:") {
            return self.confirm_reading(message_id, data).await;
        }
        let mut parts = data.split(':');
        let (Some("m"), Some(position), Some(action), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Ok(refused);
        };
        let (Some(message_id), Ok(position)) = (message_id, position.parse::<usize>()) else {
            return Ok(refused);
        };
        let Some(sent) = self.tx.sent_reminder(&self.chat, message_id).await? else {
            return Ok(refused);
        };
        if (self.now - sent.created_at).num_days() > BUTTON_DAYS {
            return Ok(refused);
        }
        let Some((id, code)) = sent.items.get(position).cloned() else {
            return Ok(refused);
        };
        let measure = self.tx.measure_by_id(id, &code).await?;
        let Some(unit) = self.who.may_change(&measure.lead_unit, &measure.units) else {
            return Ok(tr(
                self.lang(),
                "您无权更新此项。",
                "You may not update this measure.",
            ));
        };
        let unit = unit.map(str::to_string);
        let zh = self.lang() == Language::Zh;
        let raw = format!("[button] {action}");
        let toast = match action {
            "done" => {
                self.apply(
                    id,
                    &code,
                    measure.status,
                    Intent::Done { note: None },
                    unit,
                    &raw,
                )
                .await?
            }
            "progress" => {
                let change = self.change(unit, &raw);
                let status = self.tx.status(id).await?;
                if status == Status::Closed || status == Status::Claimed {
                    format!(
                        "{code}: {}",
                        crate::core::report::status_label(status, self.lang())
                    )
                } else {
                    let now = self.progress(id, status, &change).await?;
                    if zh {
                        format!(
                            "🔄 {code} 状态：{}。可回复本消息补充进展。",
                            crate::core::report::status_label(now, self.lang())
                        )
                    } else {
                        format!(
                            "🔄 {code}: {}. Reply to add details.",
                            crate::core::report::status_label(now, self.lang())
                        )
                    }
                }
            }
            "blocked" => {
                let line = if zh {
                    format!("请回复提醒消息说明需协调的事项，如“{code} 需协调 用地指标未落实”。")
                } else {
                    format!(
                        "Reply to the reminder with the reason, e.g. \"{code} blocked: land quota\"."
                    )
                };
                self.say(line.clone()).await?;
                line
            }
            "extend" => {
                let until = self.example_until();
                let line = if zh {
                    format!("请回复提醒消息写明日期和原因，如“{code} 延期至{until} 设备未到货”。")
                } else {
                    format!(
                        "Reply to the reminder with the date and reason, e.g. \"{code} extend to {until} supplier late\"."
                    )
                };
                self.say(line.clone()).await?;
                line
            }
            _ => return Ok(refused),
        };
        if matches!(action, "done" | "progress") {
            self.refresh = Some(message_id.to_string());
        }
        Ok(toast)
    }
}

mod workflow;
pub(crate) use workflow::{claim_notice, evidence_path, store_file};

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_hash_the_same_however_typed() {
        assert_eq!(code_hash("abcd-efgh-jk"), code_hash(" ABCDEFGHJK "));
        assert_ne!(code_hash("ABCDEFGHJK"), code_hash("ABCDEFGHJM"));
        assert_eq!(code_hash("x").len(), 64);
    }
}
