//! Telegram through teloxide: sending, editing and answering as a [`Channel`], and long
//! polling for updates, turned into [`crate::core::chat`] types.
//!
//! The token is a [`Secret`]: it never reaches a log line. teloxide removes it from the URLs
//! in its network errors too.

use std::path::{Path, PathBuf};
use std::time::Duration;

use teloxide::net::Download;
use teloxide::payloads::{
    AnswerCallbackQuerySetters, EditMessageTextSetters, SendDocumentSetters, SendMessageSetters,
    SendPhotoSetters, SetWebhookSetters,
};
use teloxide::prelude::Requester;
use teloxide::types::{
    AllowedUpdate, BotCommand, CallbackQueryId, ChatId, FileId, InlineKeyboardButton,
    InlineKeyboardMarkup, InputFile, MessageId, Update, UpdateKind,
};
use teloxide::{ApiError, Bot, DownloadError, RequestError};

use crate::app::bot::COMMANDS;
use crate::channels::{Channel, Pending, SendError};
use crate::config::{Language, Secret};
use crate::core::chat::{
    Capabilities, ChannelKind, ChatKind, Event, FileKind, FileSource, Incoming, IncomingFile,
    Message, Sender,
};

/// Errors setting the bot up.
#[derive(Debug, thiserror::Error)]
pub enum TelegramError {
    /// The API URL is not a URL.
    #[error("telegram.api_url {0:?} is not a URL")]
    ApiUrl(String),
    /// The HTTP client cannot be built.
    #[error("the HTTP client: {0}")]
    Client(String),
}

/// The bot.
#[derive(Clone)]
pub struct Telegram {
    bot: Bot,
    data_dir: PathBuf,
    capabilities: Capabilities,
}

impl std::fmt::Debug for Telegram {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Telegram([redacted])")
    }
}

impl Telegram {
    /// A bot with `token` talking to `api_url`, with requests allowed to last a long poll.
    pub fn new(
        token: &Secret,
        api_url: &str,
        poll_timeout: Duration,
    ) -> Result<Telegram, TelegramError> {
        let url =
            reqwest::Url::parse(api_url).map_err(|_| TelegramError::ApiUrl(api_url.to_string()))?;
        let client = teloxide::net::default_reqwest_settings()
            .timeout(poll_timeout + Duration::from_secs(15))
            .build()
            .map_err(|e| TelegramError::Client(e.to_string()))?;
        Ok(Telegram {
            bot: Bot::with_client(token.expose(), client).set_api_url(url),
            data_dir: PathBuf::from("."),
            capabilities: ChannelKind::Telegram.capabilities(),
        })
    }

    /// The same bot, keeping to these rates (`[delivery]`; Telegram's own by default).
    pub fn with_rates(
        mut self,
        per_chat_per_second: f64,
        per_group_per_minute: u32,
        per_second: f64,
    ) -> Telegram {
        self.capabilities.per_chat_per_second = per_chat_per_second;
        self.capabilities.per_group_per_minute = per_group_per_minute;
        self.capabilities.per_second = per_second;
        self
    }

    /// The same bot, sending stored files from under `data_dir`.
    pub fn with_data_dir(mut self, data_dir: &Path) -> Telegram {
        self.data_dir = data_dir.to_path_buf();
        self
    }

    /// The bot's username, for t.me links.
    pub async fn username(&self) -> Result<String, SendError> {
        let me = self.bot.get_me().await.map_err(send_error)?;
        Ok(me.user.username.clone().unwrap_or_default())
    }

    /// Registers the commands shown in Telegram's menu.
    pub async fn register_commands(&self, language: Language) -> Result<(), SendError> {
        let commands: Vec<BotCommand> = COMMANDS
            .iter()
            .map(|(c, zh, en)| {
                BotCommand::new(*c, if language == Language::Zh { *zh } else { *en })
            })
            .collect();
        self.bot
            .set_my_commands(commands)
            .await
            .map_err(send_error)?;
        Ok(())
    }

    /// Has Telegram post updates to `url` with `secret` in every request's
    /// `X-Telegram-Bot-Api-Secret-Token` header.
    pub async fn set_webhook(&self, url: &str, secret: &str) -> Result<(), SendError> {
        let url = reqwest::Url::parse(url)
            .map_err(|_| SendError::Refused(format!("the webhook URL {url:?} is not a URL")))?;
        self.bot
            .set_webhook(url)
            .secret_token(secret.to_string())
            .allowed_updates([AllowedUpdate::Message, AllowedUpdate::CallbackQuery])
            .await
            .map_err(send_error)?;
        Ok(())
    }

    /// Stops Telegram posting updates to a webhook, so that long polling works (Telegram
    /// refuses `getUpdates` while a webhook is set). Pending updates are kept.
    pub async fn delete_webhook(&self) -> Result<(), SendError> {
        self.bot.delete_webhook().await.map_err(send_error)?;
        Ok(())
    }

    /// One long-polling request: the updates after `after`, waiting up to `timeout`.
    pub async fn poll(
        &self,
        after: Option<&str>,
        timeout: Duration,
    ) -> Result<Vec<Incoming>, SendError> {
        let after = after.and_then(|a| a.parse::<i64>().ok());
        let payload = RawUpdates {
            offset: after.map(|after| after + 1),
            timeout: u32::try_from(timeout.as_secs()).unwrap_or(u32::MAX),
            allowed_updates: vec![AllowedUpdate::Message, AllowedUpdate::CallbackQuery],
        };
        let updates = teloxide::requests::JsonRequest::new(self.bot.clone(), payload)
            .await
            .map_err(send_error)?;
        Ok(updates
            .into_iter()
            .map(|raw| {
                let update_id = raw.get("update_id").and_then(|v| v.as_i64()).unwrap_or(0);
                incoming_json(raw).unwrap_or_else(|e| {
                    tracing::warn!("update {update_id} cannot be read ({e}): passed over");
                    Incoming {
                        channel: ChannelKind::Telegram,
                        update_id: update_id.to_string(),
                        chat_id: String::new(),
                        chat_kind: ChatKind::Private,
                        from: None,
                        event: Event::Other,
                    }
                })
            })
            .collect())
    }
}

/// An update as duban reads it.
pub fn incoming(update: Update) -> Incoming {
    let update_id = update.id.0.to_string();
    let sender = |user: &teloxide::types::User| Sender {
        user_id: user.id.0.to_string(),
        name: user.full_name(),
    };
    match update.kind {
        UpdateKind::Message(message) => {
            let message_id = message.id.0.to_string();
            let reply_to = message.reply_to_message().map(|m| m.id.0.to_string());
            let file = match (message.photo(), message.document()) {
                // The largest size of a photo is the last.
                (Some(sizes), _) => sizes.last().map(|size| IncomingFile {
                    file_id: size.file.id.0.clone(),
                    name: format!("photo-{message_id}.jpg"),
                    kind: FileKind::Photo,
                    size: Some(u64::from(size.file.size)),
                    size_invalid: false,
                }),
                (None, Some(document)) => Some(IncomingFile {
                    file_id: document.file.id.0.clone(),
                    name: document
                        .file_name
                        .clone()
                        .unwrap_or_else(|| format!("document-{message_id}")),
                    kind: FileKind::Document,
                    size: Some(u64::from(document.file.size)),
                    size_invalid: false,
                }),
                (None, None) => None,
            };
            let event = match (message.text(), file) {
                (Some(text), _) => Event::Text {
                    message_id,
                    text: text.to_string(),
                    reply_to,
                },
                (None, Some(file)) => Event::File {
                    message_id,
                    file,
                    caption: message.caption().unwrap_or_default().to_string(),
                    reply_to,
                },
                // A sticker, a voice message, a location from a person: not for duban to read,
                // but the person hears so. Service messages (members joining) have no sender
                // worth answering.
                (None, None)
                    if message.from.as_ref().is_some_and(|u| !u.is_bot)
                        && message.new_chat_members().is_none()
                        && message.left_chat_member().is_none() =>
                {
                    Event::Unreadable
                }
                (None, None) => Event::Other,
            };
            Incoming {
                channel: ChannelKind::Telegram,
                update_id,
                chat_id: message.chat.id.0.to_string(),
                chat_kind: if message.chat.is_private() {
                    ChatKind::Private
                } else {
                    ChatKind::Group
                },
                from: message.from.as_ref().map(sender),
                event,
            }
        }
        UpdateKind::CallbackQuery(query) => {
            let (chat_id, chat_kind, message_id) = match &query.message {
                Some(m) => (
                    m.chat().id.0.to_string(),
                    if m.chat().is_private() {
                        ChatKind::Private
                    } else {
                        ChatKind::Group
                    },
                    Some(m.id().0.to_string()),
                ),
                None => (query.from.id.0.to_string(), ChatKind::Private, None),
            };
            Incoming {
                channel: ChannelKind::Telegram,
                update_id,
                chat_id,
                chat_kind,
                from: Some(sender(&query.from)),
                event: Event::Button {
                    callback_id: query.id.0.clone(),
                    message_id,
                    data: query.data.clone().unwrap_or_default(),
                },
            }
        }
        // An update teloxide could not read (a field out of its range, such as a
        // document's size over 4 GB or below zero): what can be read of it is.
        UpdateKind::Error(raw) => salvage(update_id, &raw),
        _ => Incoming {
            channel: ChannelKind::Telegram,
            update_id,
            chat_id: String::new(),
            chat_kind: ChatKind::Private,
            from: None,
            event: Event::Other,
        },
    }
}

/// An update as duban reads it, from its JSON (as posted to the webhook, or as polled). An
/// update teloxide cannot read (a field out of its range makes a message `Empty`) is read
/// as far as it can be ([`salvage`]).
pub fn incoming_json(raw: serde_json::Value) -> Result<Incoming, serde_json::Error> {
    // From text, not from the value: teloxide reads an update's kind by borrowed keys,
    // which a JSON value cannot lend (a button press would be lost).
    let update: Update = serde_json::from_str(&raw.to_string())?;
    let unread = match &update.kind {
        UpdateKind::Error(_) => true,
        UpdateKind::Message(message) => {
            matches!(message.kind, teloxide::types::MessageKind::Empty {})
        }
        _ => false,
    };
    if unread {
        return Ok(salvage(update.id.0.to_string(), &raw));
    }
    Ok(incoming(update))
}

/// `getUpdates` with each update kept as JSON, so that one teloxide cannot read is still
/// read as far as it can be, and answered.
#[derive(Debug, Clone, serde::Serialize)]
struct RawUpdates {
    #[serde(skip_serializing_if = "Option::is_none")]
    offset: Option<i64>,
    timeout: u32,
    allowed_updates: Vec<AllowedUpdate>,
}

impl teloxide::requests::Payload for RawUpdates {
    type Output = Vec<serde_json::Value>;

    const NAME: &'static str = "GetUpdates";

    fn timeout_hint(&self) -> Option<Duration> {
        Some(Duration::from_secs(u64::from(self.timeout)))
    }
}

/// What can be read of an update teloxide could not read: the chat, the sender, and a text
/// or a file whose size may be out of range (more than 4 GB: too large; below zero or not
/// a number: invalid), so that the sender hears why it was not taken instead of nothing.
fn salvage(update_id: String, raw: &serde_json::Value) -> Incoming {
    let other = Incoming {
        channel: ChannelKind::Telegram,
        update_id: update_id.clone(),
        chat_id: String::new(),
        chat_kind: ChatKind::Private,
        from: None,
        event: Event::Other,
    };
    let Some(message) = raw.get("message") else {
        return other;
    };
    let Some(chat_id) = message.pointer("/chat/id").and_then(|v| v.as_i64()) else {
        return other;
    };
    let chat_id = chat_id.to_string();
    let text = |v: Option<&serde_json::Value>| v.and_then(|v| v.as_str()).map(str::to_string);
    let chat_kind = match message.pointer("/chat/type").and_then(|v| v.as_str()) {
        Some("private") => ChatKind::Private,
        _ => ChatKind::Group,
    };
    let from = message.get("from").and_then(|from| {
        let user_id = from.get("id")?.as_i64()?.to_string();
        let first = text(from.get("first_name")).unwrap_or_default();
        let name = match text(from.get("last_name")) {
            Some(last) => format!("{first} {last}"),
            None => first,
        };
        Some((
            user_id,
            name,
            from.get("is_bot").and_then(|b| b.as_bool()) == Some(true),
        ))
    });
    let message_id = message
        .get("message_id")
        .and_then(|v| v.as_i64())
        .unwrap_or(0)
        .to_string();
    let reply_to = message
        .pointer("/reply_to_message/message_id")
        .and_then(|v| v.as_i64())
        .map(|id| id.to_string());
    let file = match (message.get("photo"), message.get("document")) {
        (Some(sizes), _) => sizes
            .as_array()
            .and_then(|sizes| sizes.last())
            .map(|size| (size, FileKind::Photo, format!("photo-{message_id}.jpg"))),
        (None, Some(document)) => Some((
            document,
            FileKind::Document,
            text(document.get("file_name")).unwrap_or_else(|| format!("document-{message_id}")),
        )),
        (None, None) => None,
    };
    let event = match (text(message.get("text")), file) {
        (Some(text), _) => Event::Text {
            message_id,
            text,
            reply_to,
        },
        (None, Some((file, kind, name))) => {
            // 5000000000 or 5e9: a size, too large; -1 or "big": no size.
            let size = file.get("file_size").and_then(|v| {
                v.as_u64().or_else(|| {
                    v.as_f64()
                        .filter(|f| f.is_finite() && *f >= 0.0 && f.fract() == 0.0)
                        .map(|f| f as u64)
                })
            });
            Event::File {
                message_id,
                file: IncomingFile {
                    file_id: text(file.get("file_id")).unwrap_or_default(),
                    name,
                    kind,
                    size,
                    size_invalid: size.is_none() && file.get("file_size").is_some(),
                },
                caption: text(message.get("caption")).unwrap_or_default(),
                reply_to,
            }
        }
        (None, None) if from.as_ref().is_some_and(|(_, _, bot)| !bot) => Event::Unreadable,
        (None, None) => Event::Other,
    };
    Incoming {
        channel: ChannelKind::Telegram,
        update_id,
        chat_id,
        chat_kind,
        from: from.map(|(user_id, name, _)| Sender { user_id, name }),
        event,
    }
}

/// teloxide's errors as a channel's.
fn send_error(error: RequestError) -> SendError {
    match error {
        RequestError::RetryAfter(seconds) => SendError::RetryAfter(seconds.duration()),
        RequestError::Api(
            ApiError::BotBlocked
            | ApiError::UserDeactivated
            | ApiError::BotKicked
            | ApiError::BotKickedFromSupergroup
            | ApiError::BotKickedFromChannel
            | ApiError::CantInitiateConversation
            | ApiError::CantTalkWithBots
            | ApiError::ChatNotFound,
        ) => SendError::Blocked,
        RequestError::Api(ApiError::InvalidToken) => {
            SendError::Unauthorized("the bot token was refused".to_string())
        }
        // Any other "Forbidden" (a new wording, a restricted group) means the chat refuses
        // the bot, the same as being blocked.
        RequestError::Api(ApiError::Unknown(text)) if text.starts_with("Forbidden") => {
            SendError::Blocked
        }
        RequestError::Api(ApiError::Unknown(text)) if text.starts_with("Unauthorized") => {
            SendError::Unauthorized(text)
        }
        // A request Telegram calls bad (no rights in the group, a closed topic) fails the
        // same way every time.
        RequestError::Api(ApiError::Unknown(text)) if text.starts_with("Bad Request") => {
            SendError::Refused(text)
        }
        // Server errors come back as unknown API errors: retry them.
        RequestError::Api(ApiError::Unknown(text)) => SendError::Transient(text),
        RequestError::Api(other) => SendError::Refused(other.to_string()),
        RequestError::MigrateToChatId(id) => SendError::Moved(id.0.to_string()),
        RequestError::Network(e) => SendError::Transient(e.to_string()),
        RequestError::InvalidJson { raw, .. } => SendError::Transient(format!(
            "unreadable answer: {}",
            raw.chars().take(200).collect::<String>()
        )),
        RequestError::Io(e) => SendError::Transient(e.to_string()),
    }
}

fn keyboard(message: &Message) -> Option<InlineKeyboardMarkup> {
    if message.buttons.is_empty() {
        return None;
    }
    Some(InlineKeyboardMarkup::new(message.buttons.iter().map(
        |row| {
            row.iter()
                .map(|b| InlineKeyboardButton::callback(b.label.clone(), b.data.clone()))
                .collect::<Vec<_>>()
        },
    )))
}

impl Telegram {
    async fn send_to(&self, chat_id: &str, message: &Message) -> Result<String, SendError> {
        let chat = ChatId(chat_id_of(chat_id)?);
        let Some(file) = &message.file else {
            let mut request = self.bot.send_message(chat, message.text.clone());
            if let Some(markup) = keyboard(message) {
                request = request.reply_markup(markup);
            }
            if message.no_preview {
                request = request.link_preview_options(teloxide::types::LinkPreviewOptions {
                    is_disabled: true,
                    url: None,
                    prefer_small_media: false,
                    prefer_large_media: false,
                    show_above_text: false,
                });
            }
            let sent = request.await.map_err(send_error)?;
            return Ok(sent.id.0.to_string());
        };
        let input = match &file.source {
            FileSource::Stored(path) => {
                let full = self.data_dir.join(path);
                if !full.is_file() {
                    return Err(SendError::Refused(format!(
                        "the file {} is missing",
                        full.display()
                    )));
                }
                InputFile::file(full).file_name(file.name.clone())
            }
            FileSource::Channel(id) => InputFile::file_id(FileId(id.clone())),
        };
        let caption: String = message
            .text
            .chars()
            .take(self.capabilities.caption_limit)
            .collect();
        let sent = match file.kind {
            FileKind::Photo => {
                let mut request = self.bot.send_photo(chat, input);
                if !caption.is_empty() {
                    request = request.caption(caption);
                }
                if let Some(markup) = keyboard(message) {
                    request = request.reply_markup(markup);
                }
                request.await
            }
            FileKind::Document => {
                let mut request = self.bot.send_document(chat, input);
                if !caption.is_empty() {
                    request = request.caption(caption);
                }
                if let Some(markup) = keyboard(message) {
                    request = request.reply_markup(markup);
                }
                request.await
            }
        }
        .map_err(send_error)?;
        Ok(sent.id.0.to_string())
    }

    async fn edit_text(
        &self,
        chat_id: &str,
        message_id: &str,
        message: &Message,
    ) -> Result<(), SendError> {
        let message_id: i32 = message_id
            .parse()
            .map_err(|_| SendError::Refused(format!("{message_id:?} is no Telegram message id")))?;
        let mut request = self.bot.edit_message_text(
            ChatId(chat_id_of(chat_id)?),
            MessageId(message_id),
            message.text.clone(),
        );
        if let Some(markup) = keyboard(message) {
            request = request.reply_markup(markup);
        }
        request.await.map_err(send_error)?;
        Ok(())
    }

    async fn answer_press(&self, callback_id: &str, text: &str) -> Result<(), SendError> {
        self.bot
            .answer_callback_query(CallbackQueryId(callback_id.to_string()))
            .text(text.chars().take(190).collect::<String>())
            .await
            .map_err(send_error)?;
        Ok(())
    }

    async fn fetch(&self, file_id: &str, limit: u64) -> Result<Vec<u8>, SendError> {
        let file = self
            .bot
            .get_file(FileId(file_id.to_string()))
            .await
            .map_err(send_error)?;
        if u64::from(file.meta.size) > limit {
            return Err(SendError::Refused(format!(
                "the file is too large ({} bytes)",
                file.meta.size
            )));
        }
        let mut bytes = Vec::new();
        self.bot
            .download_file(&file.path, &mut bytes)
            .await
            .map_err(|e| match e {
                // reqwest's message would carry the URL, and the URL carries the token.
                DownloadError::Network(e) => SendError::Transient(match e.status() {
                    Some(status) => format!("downloading the file: HTTP {status}"),
                    None if e.is_timeout() => "downloading the file: timed out".into(),
                    None => "downloading the file: network error".into(),
                }),
                DownloadError::Io(e) => SendError::Transient(e.to_string()),
            })?;
        if bytes.len() as u64 > limit {
            return Err(SendError::Refused(format!(
                "the file is too large ({} bytes)",
                bytes.len()
            )));
        }
        Ok(bytes)
    }
}

/// A Telegram chat id from its text.
fn chat_id_of(text: &str) -> Result<i64, SendError> {
    text.parse()
        .map_err(|_| SendError::Refused(format!("{text:?} is no Telegram chat id")))
}

impl Channel for Telegram {
    fn kind(&self) -> ChannelKind {
        ChannelKind::Telegram
    }

    fn capabilities(&self) -> Capabilities {
        self.capabilities
    }

    /// Telegram gives groups negative ids.
    fn is_group(&self, chat_id: &str) -> bool {
        chat_id.starts_with('-')
    }

    fn send<'a>(
        &'a self,
        chat_id: &'a str,
        message: &'a Message,
    ) -> Pending<'a, Result<String, SendError>> {
        Box::pin(self.send_to(chat_id, message))
    }

    fn edit<'a>(
        &'a self,
        chat_id: &'a str,
        message_id: &'a str,
        message: &'a Message,
    ) -> Pending<'a, Result<(), SendError>> {
        Box::pin(self.edit_text(chat_id, message_id, message))
    }

    fn answer<'a>(
        &'a self,
        callback_id: &'a str,
        text: &'a str,
    ) -> Pending<'a, Result<(), SendError>> {
        Box::pin(self.answer_press(callback_id, text))
    }

    fn download<'a>(
        &'a self,
        file_id: &'a str,
        limit: u64,
    ) -> Pending<'a, Result<Vec<u8>, SendError>> {
        Box::pin(self.fetch(file_id, limit))
    }
}

/// Long polling as an update source for the service.
pub struct TelegramUpdates {
    /// The bot.
    pub telegram: Telegram,
    /// How long one poll waits.
    pub timeout: Duration,
}

impl crate::service::UpdateSource for TelegramUpdates {
    fn channel(&self) -> ChannelKind {
        ChannelKind::Telegram
    }

    async fn next(&mut self, after: Option<&str>) -> Result<Option<Vec<Incoming>>, SendError> {
        self.telegram.poll(after, self.timeout).await.map(Some)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn update(message: serde_json::Value) -> serde_json::Value {
        serde_json::json!({"update_id": 41, "message": message})
    }

    fn person() -> serde_json::Value {
        serde_json::json!({"id": 7001, "is_bot": false, "first_name": "王", "last_name": "芳"})
    }

    #[test]
    fn files_whose_size_is_no_size_are_read_as_far_as_they_can_be() {
        for (size, expected, invalid) in [
            (
                serde_json::json!(5_000_000_000u64),
                Some(5_000_000_000),
                false,
            ),
            (serde_json::json!(5e9), Some(5_000_000_000), false),
            (serde_json::json!(-1), None, true),
            (serde_json::json!("big"), None, true),
            (serde_json::json!(1024), Some(1024), false),
        ] {
            let raw = update(serde_json::json!({
                "message_id": 9, "date": 1_700_000_100,
                "chat": {"id": 7001, "type": "private", "first_name": "王"},
                "from": person(),
                "caption": "E-1 验收报告",
                "reply_to_message": {"message_id": 5, "date": 1_700_000_000,
                    "chat": {"id": 7001, "type": "private", "first_name": "王"}, "text": "提醒"},
                "document": {"file_id": "F", "file_unique_id": "U", "file_name": "报告.pdf",
                    "file_size": size},
            }));
            let incoming = incoming_json(raw).unwrap();
            assert_eq!(incoming.update_id, "41");
            assert_eq!(incoming.chat_id, "7001");
            assert_eq!(incoming.chat_kind, ChatKind::Private);
            assert_eq!(incoming.from.as_ref().unwrap().name, "王 芳");
            let Event::File {
                file,
                caption,
                reply_to,
                ..
            } = incoming.event
            else {
                panic!("{size}: {:?}", incoming.event);
            };
            assert_eq!(
                (file.size, file.size_invalid),
                (expected, invalid),
                "{size}"
            );
            assert_eq!(file.name, "报告.pdf");
            assert_eq!(caption, "E-1 验收报告");
            assert_eq!(reply_to.as_deref(), Some("5"));
        }
    }

    #[test]
    fn texts_and_button_presses_read_from_json() {
        let raw = update(serde_json::json!({
            "message_id": 9, "date": 1_700_000_100,
            "chat": {"id": -5001, "type": "group", "title": "工作群"},
            "from": person(), "text": "3-2 已完成",
        }));
        let incoming = incoming_json(raw).unwrap();
        assert_eq!(incoming.chat_kind, ChatKind::Group);
        assert!(matches!(incoming.event, Event::Text { ref text, .. } if text == "3-2 已完成"));
        let press = serde_json::json!({"update_id": 42, "callback_query": {
            "id": "cb", "from": person(), "chat_instance": "ci", "data": "m:0:done",
            "message": {"message_id": 7, "date": 1_700_000_000,
                "chat": {"id": 7001, "type": "private", "first_name": "王"}, "text": "提醒"},
        }});
        let incoming = incoming_json(press).unwrap();
        assert!(
            matches!(incoming.event, Event::Button { ref data, message_id: Some(ref m), .. } if data == "m:0:done" && m == "7"),
            "{:?}",
            incoming.event
        );
    }
}
