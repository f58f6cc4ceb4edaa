//! Chat, channel-neutral: what comes in from a chat and what goes out to one.
//!
//! Rules, reminders and the bot speak in these types. A channel (Telegram, the console, later
//! group robots) turns them into its own API calls and back.

use serde::{Deserialize, Serialize};

/// A chat platform duban speaks on (渠道). Each has its own ids, limits and protocol; all of
/// them feed the same core.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ChannelKind {
    /// The terminal: the no-account default.
    Console,
    /// Telegram's Bot API.
    Telegram,
    /// A DingTalk robot (钉钉, 浙政钉, 政务钉钉): Stream mode in, the OpenAPI out.
    DingTalk,
}

impl ChannelKind {
    /// Every channel duban knows.
    pub const ALL: [ChannelKind; 3] = [
        ChannelKind::Console,
        ChannelKind::Telegram,
        ChannelKind::DingTalk,
    ];

    /// The stable code, as stored and as addresses write it.
    pub fn code(self) -> &'static str {
        match self {
            ChannelKind::Console => "console",
            ChannelKind::Telegram => "telegram",
            ChannelKind::DingTalk => "dingtalk",
        }
    }

    /// The channel a code names.
    pub fn from_code(code: &str) -> Option<ChannelKind> {
        ChannelKind::ALL.into_iter().find(|c| c.code() == code)
    }

    /// What the channel's protocol allows, with its published rate limits.
    pub fn capabilities(self) -> Capabilities {
        match self {
            ChannelKind::Telegram => Capabilities {
                // Telegram allows 4,096 characters in a message and 1,024 in a caption;
                // duban keeps a margin.
                text_limit: 4_000,
                caption_limit: 1_000,
                button_data_limit: 64,
                buttons: Buttons::Callback,
                edits: true,
                threading: true,
                file_reuse: true,
                per_chat_per_second: 1.0,
                per_group_per_minute: 20,
                per_second: 30.0,
            },
            // A robot's Markdown message; choices as one-tap links that send a reply as the
            // person's own message; nothing is edited or threaded; 20 messages a minute to a
            // group.
            ChannelKind::DingTalk => Capabilities {
                text_limit: 4_000,
                caption_limit: 1_000,
                button_data_limit: 1_000,
                buttons: Buttons::Links,
                edits: false,
                threading: false,
                file_reuse: false,
                per_chat_per_second: 1.0,
                per_group_per_minute: 20,
                per_second: 20.0,
            },
            ChannelKind::Console => Capabilities {
                text_limit: 4_000,
                caption_limit: 1_000,
                button_data_limit: 64,
                buttons: Buttons::Callback,
                edits: true,
                threading: true,
                file_reuse: false,
                per_chat_per_second: 1_000.0,
                per_group_per_minute: 60_000,
                per_second: 1_000.0,
            },
        }
    }
}

impl std::fmt::Display for ChannelKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.code())
    }
}

/// A chat or a person on a channel: the channel and the id it gives them, as text. Written
/// `telegram:7001`, as workflow and history rows keep it (and JSON).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Address {
    /// The channel.
    pub channel: ChannelKind,
    /// The id there.
    pub id: String,
}

impl Address {
    /// The address of `id` on `channel`.
    pub fn new(channel: ChannelKind, id: impl Into<String>) -> Address {
        Address {
            channel,
            id: id.into(),
        }
    }

    /// The address as idempotency keys write it: `channel:id`, but a bare id on Telegram,
    /// as the keys of releases before channels were (so that a sweep planned again after an
    /// upgrade queues nothing twice).
    pub fn key(&self) -> String {
        match self.channel {
            ChannelKind::Telegram => self.id.clone(),
            _ => self.to_string(),
        }
    }

    /// The address `channel:id` names, if it names one.
    pub fn parse(text: &str) -> Option<Address> {
        let (channel, id) = text.split_once(':')?;
        Some(Address::new(ChannelKind::from_code(channel)?, id))
    }
}

impl Serialize for Address {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Address {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Address, D::Error> {
        let text = String::deserialize(deserializer)?;
        Address::parse(&text)
            .ok_or_else(|| serde::de::Error::custom(format!("{text:?} is no address")))
    }
}

impl std::fmt::Display for Address {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}:{}", self.channel.code(), self.id)
    }
}

/// How a channel offers choices under a message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Buttons {
    /// Buttons whose press comes back as an update with their data (Telegram).
    Callback,
    /// One-tap links that send a prepared reply (group robots without callbacks).
    Links,
    /// No buttons: the text says what to reply.
    None,
}

/// What a channel can do: the shape of what may be sent, and how fast. Reminders, digests and
/// notices are built channel-neutral and split and rendered by these.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Capabilities {
    /// Characters a message may hold.
    pub text_limit: usize,
    /// Characters a file's caption may hold.
    pub caption_limit: usize,
    /// Bytes a button's data may hold.
    pub button_data_limit: usize,
    /// How choices are offered.
    pub buttons: Buttons,
    /// Whether a sent message can be edited (a reminder refreshed after a press).
    pub edits: bool,
    /// Whether a reply names the message it answers; without it, a reply is taken to
    /// answer the latest reminder in its chat, and codes in the text decide.
    pub threading: bool,
    /// Whether a file the channel has can be sent again by its id, without upload.
    pub file_reuse: bool,
    /// Messages a second to one chat.
    pub per_chat_per_second: f64,
    /// Messages a minute to one group.
    pub per_group_per_minute: u32,
    /// Messages a second in all.
    pub per_second: f64,
}

/// A message to send: text and rows of buttons, or a file with the text as its caption.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Message {
    /// The text, plain (a caption when there is a file).
    pub text: String,
    /// Rows of buttons under the text.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub buttons: Vec<Vec<Button>>,
    /// A file sent with the text.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub file: Option<Attachment>,
    /// Whether a link in the text must not be previewed (a sign-in link: a chat app that
    /// fetched it for a preview would see its page).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub no_preview: bool,
}

impl Message {
    /// A message of text alone.
    pub fn text(text: impl Into<String>) -> Message {
        Message {
            text: text.into(),
            buttons: Vec::new(),
            file: None,
            no_preview: false,
        }
    }

    /// A file with a caption.
    pub fn file(file: Attachment, caption: impl Into<String>) -> Message {
        Message {
            text: caption.into(),
            buttons: Vec::new(),
            file: Some(file),
            no_preview: false,
        }
    }
}

impl Message {
    /// The message as a channel that can do `caps` takes it: text and caption within its
    /// limits (cut with an ellipsis: planners split long lists before this), and buttons
    /// only where the channel has them and their data fits.
    pub fn for_channel(&self, caps: &Capabilities) -> Message {
        let limit = match self.file {
            Some(_) => caps.caption_limit,
            None => caps.text_limit,
        };
        let text = if self.text.chars().count() > limit {
            let mut cut: String = self.text.chars().take(limit.saturating_sub(1)).collect();
            cut.push('…');
            cut
        } else {
            self.text.clone()
        };
        let buttons = match caps.buttons {
            Buttons::None => Vec::new(),
            Buttons::Callback | Buttons::Links => self
                .buttons
                .iter()
                .map(|row| {
                    row.iter()
                        .filter(|b| b.data.len() <= caps.button_data_limit)
                        .cloned()
                        .collect::<Vec<_>>()
                })
                .filter(|row| !row.is_empty())
                .collect(),
        };
        Message {
            text,
            buttons,
            file: self.file.clone(),
            no_preview: self.no_preview,
        }
    }
}

/// A file to send.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Attachment {
    /// Shown as a picture, or as a file to download.
    pub kind: FileKind,
    /// Where the bytes are.
    pub source: FileSource,
    /// The name people see.
    pub name: String,
}

/// How a file is shown.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FileKind {
    /// A picture (a chart, a photo of evidence).
    Photo,
    /// A document (a ledger, a PDF).
    Document,
}

impl FileKind {
    /// The stable code.
    pub fn code(self) -> &'static str {
        match self {
            FileKind::Photo => "photo",
            FileKind::Document => "document",
        }
    }
}

/// Where a file's bytes are.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FileSource {
    /// A file under the data directory, by its relative path.
    Stored(String),
    /// A file the channel already has (Telegram's file_id): sent again without upload.
    Channel(String),
}

/// A file someone sent.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IncomingFile {
    /// The channel's id for it, to download it and to send it on.
    pub file_id: String,
    /// Its name (photos get one made up).
    pub name: String,
    /// Photo or document.
    pub kind: FileKind,
    /// Its size in bytes, when the channel says.
    pub size: Option<u64>,
    /// The channel gave a size that is no size (negative, or not a number): the file is
    /// refused with a message rather than fetched.
    #[serde(default)]
    pub size_invalid: bool,
}

/// A button: its label, and the data a press sends back.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Button {
    /// What people read.
    pub label: String,
    /// What a press sends back (at most 64 bytes on Telegram).
    pub data: String,
    /// What the person could type instead (`2-1 已完成`): a channel with one-tap links sends
    /// it as their own message, so that a tap and a typed reply take the same path.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reply: Option<String>,
}

impl Button {
    /// A button pressing `data`.
    pub fn new(label: impl Into<String>, data: impl Into<String>) -> Button {
        Button {
            label: label.into(),
            data: data.into(),
            reply: None,
        }
    }

    /// The same button, with the reply a person could type instead.
    pub fn with_reply(mut self, reply: impl Into<String>) -> Button {
        self.reply = Some(reply.into());
        self
    }

    /// What a one-tap link sends in this button's place: its reply when it has one, else its
    /// label with its data after `#` (`✅ 通过 #c:12:ok`), which the bot reads as a press
    /// ([`pressed_in_text`]).
    pub fn link_text(&self) -> String {
        match &self.reply {
            Some(reply) => reply.clone(),
            None => format!("{} #{}", self.label, self.data),
        }
    }
}

/// The button a text presses: the data after `#` that a one-tap link sent
/// ([`Button::link_text`]), and the words after it (a reason, typed on). `None` when the
/// text names no button.
pub fn pressed_in_text(text: &str) -> Option<(&str, &str)> {
    text.match_indices('#').find_map(|(i, _)| {
        let rest = &text[i + 1..];
        let end = rest.find(char::is_whitespace).unwrap_or(rest.len());
        let data = &rest[..end];
        let mut parts = data.split(':');
        let (Some(prefix), Some(id), Some(action), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return None;
        };
        let known = matches!(prefix, "c" | "x" | "f" | "r" | "m")
            && !id.is_empty()
            && id.bytes().all(|b| b.is_ascii_digit())
            && !action.is_empty()
            && action.bytes().all(|b| b.is_ascii_lowercase());
        known.then(|| (data, rest[end..].trim()))
    })
}

/// What kind of chat something came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ChatKind {
    /// A one-to-one chat with the bot.
    Private,
    /// A group or supergroup.
    Group,
}

/// Who sent something.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Sender {
    /// Their user id on the channel.
    pub user_id: String,
    /// Their display name.
    pub name: String,
}

/// Something that came in from a chat. It serializes, so that an update held back after a
/// failure keeps all of itself in the store.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Incoming {
    /// The channel it came from.
    pub channel: ChannelKind,
    /// The channel's id of this update; each is applied once per channel.
    pub update_id: String,
    /// The chat it came from, by its id on the channel.
    pub chat_id: String,
    /// Private or group.
    pub chat_kind: ChatKind,
    /// Who sent it, when known.
    pub from: Option<Sender>,
    /// What it is.
    pub event: Event,
}

impl Incoming {
    /// The chat it came from, with its channel.
    pub fn chat(&self) -> Address {
        Address::new(self.channel, self.chat_id.clone())
    }

    /// Who sent it, with their channel.
    pub fn sender(&self) -> Option<Address> {
        self.from
            .as_ref()
            .map(|s| Address::new(self.channel, s.user_id.clone()))
    }

    /// The update with every text in it cleaned as ledger cells are ([`crate::core::text::clean`]):
    /// no NUL byte, no terminal control code, no right-to-left override reaches the store,
    /// the terminal or another chat, on either backend.
    pub fn cleaned(&self) -> Incoming {
        use crate::core::text::clean;
        let event = match &self.event {
            Event::Text {
                message_id,
                text,
                reply_to,
            } => Event::Text {
                message_id: message_id.clone(),
                text: clean(text),
                reply_to: reply_to.clone(),
            },
            Event::Button {
                callback_id,
                message_id,
                data,
            } => Event::Button {
                callback_id: callback_id.clone(),
                message_id: message_id.clone(),
                data: clean(data),
            },
            Event::File {
                message_id,
                file,
                caption,
                reply_to,
            } => Event::File {
                message_id: message_id.clone(),
                file: IncomingFile {
                    name: clean(&file.name),
                    ..file.clone()
                },
                caption: clean(caption),
                reply_to: reply_to.clone(),
            },
            other => other.clone(),
        };
        Incoming {
            from: self.from.as_ref().map(|s| Sender {
                user_id: s.user_id.clone(),
                name: clean(&s.name),
            }),
            event,
            ..self.clone()
        }
    }
}

/// The kinds of incoming things duban reads.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "kind")]
pub enum Event {
    /// A text message, possibly a reply to an earlier message.
    Text {
        /// Its id in the chat.
        message_id: String,
        /// The text.
        text: String,
        /// The message it replies to, where the channel says.
        reply_to: Option<String>,
    },
    /// A button press.
    Button {
        /// The id to answer the press with.
        callback_id: String,
        /// The message the button sits under, when it is still accessible.
        message_id: Option<String>,
        /// The button's data.
        data: String,
    },
    /// A photo or a document, possibly with a caption and in reply to an earlier message.
    File {
        /// Its id in the chat.
        message_id: String,
        /// The file.
        file: IncomingFile,
        /// The caption.
        caption: String,
        /// The message it replies to, where the channel says.
        reply_to: Option<String>,
    },
    /// A message from a person that duban cannot read: a sticker, a voice message, a
    /// location. It deserves an answer in a one-to-one chat.
    Unreadable,
    /// Anything else (a service message, an update duban could not read).
    Other,
}

/// Something to do on the channel right away, outside the outbox: answering a button press
/// (a short toast) and refreshing the message the button sits under.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// Answer a button press.
    Answer {
        /// The press.
        callback_id: String,
        /// The toast.
        text: String,
    },
    /// Replace a sent message's text and buttons.
    Edit {
        /// The chat, on the update's channel.
        chat_id: String,
        /// The message.
        message_id: String,
        /// The new content.
        message: Message,
    },
}

#[cfg(test)]
mod tests {
    use super::*;

    fn button(data: &str) -> Button {
        Button::new("按钮", data)
    }

    #[test]
    fn a_message_is_fitted_to_its_channel() {
        let telegram = ChannelKind::Telegram.capabilities();
        let no_buttons = Capabilities {
            buttons: Buttons::None,
            ..telegram
        };
        let short = Capabilities {
            text_limit: 5,
            caption_limit: 3,
            button_data_limit: 4,
            ..telegram
        };
        let message = Message {
            text: "一二三四五六".into(),
            buttons: vec![
                vec![button("m:0:done"), button("ok")],
                vec![button("toolong")],
            ],
            ..Message::text("")
        };
        let cases = [
            (telegram, "一二三四五六", 2),
            (no_buttons, "一二三四五六", 0),
            (short, "一二三四…", 1),
        ];
        for (caps, text, rows) in cases {
            let fitted = message.for_channel(&caps);
            assert_eq!(fitted.text, text, "{caps:?}");
            assert_eq!(fitted.buttons.len(), rows, "{caps:?}");
        }
        assert_eq!(message.for_channel(&short).buttons[0], vec![button("ok")]);
        let file = Message::file(
            Attachment {
                kind: FileKind::Photo,
                source: FileSource::Stored("chart.png".into()),
                name: "chart.png".into(),
            },
            "图表标题很长",
        );
        assert_eq!(file.for_channel(&short).text, "图表…");
    }

    #[test]
    fn a_link_presses_its_button() {
        let approve = Button::new("✅ 通过", "c:12:ok");
        assert_eq!(approve.link_text(), "✅ 通过 #c:12:ok");
        let done = Button::new("✅ 2-1 完成", "m:0:done").with_reply("2-1 已完成");
        assert_eq!(done.link_text(), "2-1 已完成");
        let cases = [
            ("✅ 通过 #c:12:ok", Some(("c:12:ok", ""))),
            ("↩️ 退回 #c:12:no 材料不全", Some(("c:12:no", "材料不全"))),
            ("#x:7:no  日期过晚 ", Some(("x:7:no", "日期过晚"))),
            ("列为督办事项·一般 #f:5:general", Some(("f:5:general", ""))),
            ("#r:3:y", Some(("r:3:y", ""))),
            ("2-1 已完成", None),
            ("#1 第一名", None),
            ("#c:12", None),
            ("#z:1:ok", None),
            ("#c:x:ok", None),
        ];
        for (text, expected) in cases {
            assert_eq!(pressed_in_text(text), expected, "{text}");
        }
    }

    #[test]
    fn addresses_read_back_as_written() {
        for (text, channel, id) in [
            ("telegram:7001", ChannelKind::Telegram, "7001"),
            ("telegram:-5001", ChannelKind::Telegram, "-5001"),
            ("console:1", ChannelKind::Console, "1"),
        ] {
            let address = Address::parse(text).unwrap();
            assert_eq!(address, Address::new(channel, id));
            assert_eq!(address.to_string(), text);
            let json = serde_json::to_string(&address).unwrap();
            assert_eq!(json, format!("\"{text}\""));
            assert_eq!(serde_json::from_str::<Address>(&json).unwrap(), address);
        }
        assert_eq!(Address::new(ChannelKind::Telegram, "7001").key(), "7001");
        assert_eq!(Address::new(ChannelKind::Console, "1").key(), "console:1");
        assert!(Address::parse("fax:1").is_none());
        assert!(Address::parse("7001").is_none());
    }
}
