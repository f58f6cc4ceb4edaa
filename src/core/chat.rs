//! Chat, channel-neutral: what comes in from a chat and what goes out to one.
//!
//! Rules, reminders and the bot speak in these types. A channel (Telegram, the console, later
//! group robots) turns them into its own API calls and back.

use serde::{Deserialize, Serialize};

/// Telegram allows 4,096 characters in a message; duban keeps a margin.
pub const MAX_MESSAGE_CHARS: usize = 4_000;

/// Telegram allows 1,024 characters in a photo's or a document's caption.
pub const MAX_CAPTION_CHARS: usize = 1_000;

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
}

impl Message {
    /// A message of text alone.
    pub fn text(text: impl Into<String>) -> Message {
        Message {
            text: text.into(),
            buttons: Vec::new(),
            file: None,
        }
    }

    /// A file with a caption.
    pub fn file(file: Attachment, caption: impl Into<String>) -> Message {
        Message {
            text: caption.into(),
            buttons: Vec::new(),
            file: Some(file),
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
    /// Their chat user id.
    pub user_id: i64,
    /// Their display name.
    pub name: String,
}

/// Something that came in from a chat. It serializes, so that an update held back after a
/// failure keeps all of itself in the store.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Incoming {
    /// The channel's id of this update; each is applied once.
    pub update_id: i64,
    /// The chat it came from.
    pub chat_id: i64,
    /// Private or group.
    pub chat_kind: ChatKind,
    /// Who sent it, when known.
    pub from: Option<Sender>,
    /// What it is.
    pub event: Event,
}

impl Incoming {
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
                message_id: *message_id,
                text: clean(text),
                reply_to: *reply_to,
            },
            Event::Button {
                callback_id,
                message_id,
                data,
            } => Event::Button {
                callback_id: callback_id.clone(),
                message_id: *message_id,
                data: clean(data),
            },
            Event::File {
                message_id,
                file,
                caption,
                reply_to,
            } => Event::File {
                message_id: *message_id,
                file: IncomingFile {
                    name: clean(&file.name),
                    ..file.clone()
                },
                caption: clean(caption),
                reply_to: *reply_to,
            },
            other => other.clone(),
        };
        Incoming {
            from: self.from.as_ref().map(|s| Sender {
                user_id: s.user_id,
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
        message_id: i64,
        /// The text.
        text: String,
        /// The message it replies to.
        reply_to: Option<i64>,
    },
    /// A button press.
    Button {
        /// The id to answer the press with.
        callback_id: String,
        /// The message the button sits under, when it is still accessible.
        message_id: Option<i64>,
        /// The button's data.
        data: String,
    },
    /// A photo or a document, possibly with a caption and in reply to an earlier message.
    File {
        /// Its id in the chat.
        message_id: i64,
        /// The file.
        file: IncomingFile,
        /// The caption.
        caption: String,
        /// The message it replies to.
        reply_to: Option<i64>,
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
        /// The chat.
        chat_id: i64,
        /// The message.
        message_id: i64,
        /// The new content.
        message: Message,
    },
}
