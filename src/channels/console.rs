//! The console channel: the same reminders and replies in a terminal, for trying duban
//! without a Telegram account. Messages print to stdout; lines typed on stdin are replies
//! from one console user, a liaison of every unit.
//!
//! A line replies to the latest reminder ("3-2 已完成", "3-2 60% 合同已签"); `!N` presses
//! button N of the latest message with buttons; `/list`, `/help` work as in Telegram. The
//! service stops when the input ends.

use std::io::Write;
use std::sync::{Arc, Mutex};

use tokio::io::{AsyncBufReadExt, BufReader};

use crate::channels::{Channel, Pending, SendError};
use crate::core::chat::{Address, ChannelKind, ChatKind, Event, Incoming, Message, Sender};
use crate::core::text::Language;
use crate::service::UpdateSource;

/// The console user's chat and user id.
pub const CONSOLE_CHAT: &str = "1";

/// The console user's chat, as an address.
pub fn console_chat() -> Address {
    Address::new(ChannelKind::Console, CONSOLE_CHAT)
}

#[derive(Debug, Default)]
struct State {
    next_message_id: i64,
    last_message: Option<i64>,
    last_buttons: Option<(i64, Message)>,
}

/// Prints messages; shares what it printed with the console's input.
#[derive(Debug, Clone)]
pub struct Console {
    state: Arc<Mutex<State>>,
    language: Language,
}

impl Console {
    /// A console channel speaking `language`.
    pub fn new(language: Language) -> Console {
        Console {
            state: Arc::default(),
            language,
        }
    }

    /// A console channel whose message ids continue after `last`: a restarted console must
    /// not reuse the ids of reminders it printed before, which replies refer to.
    pub fn after(last: Option<&str>, language: Language) -> Console {
        let last = last.and_then(|l| l.parse::<i64>().ok()).unwrap_or(0);
        let console = Console::new(language);
        console.state.lock().expect("console state").next_message_id = last;
        console
    }

    /// The input side: lines from stdin, numbered after `first_update`.
    pub fn input(&self, first_update: Option<&str>) -> ConsoleInput {
        let first_update = first_update
            .and_then(|f| f.parse::<i64>().ok())
            .unwrap_or(0);
        ConsoleInput {
            state: Arc::clone(&self.state),
            lines: BufReader::new(tokio::io::stdin()).lines(),
            next_update: first_update,
            language: self.language,
        }
    }

    fn print(text: &str) {
        let mut out = std::io::stdout().lock();
        let _ = writeln!(out, "{text}");
        let _ = out.flush();
    }

    fn show(id: i64, message: &Message) -> String {
        let mut text = format!("── #{id} ──\n{}", message.text);
        if let Some(file) = &message.file {
            let place = match &file.source {
                crate::core::chat::FileSource::Stored(path) => format!("data_dir/{path}"),
                crate::core::chat::FileSource::Channel(id) => format!("file id {id}"),
            };
            text.push_str(&format!(
                "\n  [{}: {} · {place}]",
                file.kind.code(),
                file.name
            ));
        }
        let mut n = 0;
        for row in &message.buttons {
            let labels: Vec<String> = row
                .iter()
                .map(|b| {
                    n += 1;
                    format!("[!{n}] {}", b.label)
                })
                .collect();
            text.push_str(&format!("\n  {}", labels.join("  ")));
        }
        text
    }
}

impl Console {
    fn print_message(&self, message: &Message) -> String {
        let id = {
            let mut state = self.state.lock().expect("console state");
            state.next_message_id += 1;
            let id = state.next_message_id;
            state.last_message = Some(id);
            if !message.buttons.is_empty() {
                state.last_buttons = Some((id, message.clone()));
            }
            id
        };
        Console::print(&Console::show(id, message));
        id.to_string()
    }

    fn print_edit(&self, message_id: &str, message: &Message) {
        let Ok(message_id) = message_id.parse::<i64>() else {
            return;
        };
        {
            let mut state = self.state.lock().expect("console state");
            if state
                .last_buttons
                .as_ref()
                .is_some_and(|(id, _)| *id == message_id)
            {
                state.last_buttons = Some((message_id, message.clone()));
            }
        }
        Console::print(&format!(
            "{}\n{}",
            match self.language {
                Language::Zh => format!("（#{message_id}已更新）"),
                Language::En => format!("(#{message_id} updated)"),
            },
            Console::show(message_id, message)
        ));
    }
}

impl Channel for Console {
    fn kind(&self) -> ChannelKind {
        ChannelKind::Console
    }

    fn send<'a>(
        &'a self,
        _chat_id: &'a str,
        message: &'a Message,
    ) -> Pending<'a, Result<String, SendError>> {
        let id = self.print_message(message);
        Box::pin(async move { Ok(id) })
    }

    fn edit<'a>(
        &'a self,
        _chat_id: &'a str,
        message_id: &'a str,
        message: &'a Message,
    ) -> Pending<'a, Result<(), SendError>> {
        self.print_edit(message_id, message);
        Box::pin(async { Ok(()) })
    }

    fn answer<'a>(
        &'a self,
        _callback_id: &'a str,
        text: &'a str,
    ) -> Pending<'a, Result<(), SendError>> {
        Console::print(&match self.language {
            Language::Zh => format!("（按钮提示）{text}"),
            Language::En => format!("(toast) {text}"),
        });
        Box::pin(async { Ok(()) })
    }

    fn download<'a>(
        &'a self,
        _file_id: &'a str,
        _limit: u64,
    ) -> Pending<'a, Result<Vec<u8>, SendError>> {
        Box::pin(async { Err(SendError::Refused("the console takes no files".into())) })
    }
}

/// Lines typed on stdin, as updates from the console user.
pub struct ConsoleInput {
    state: Arc<Mutex<State>>,
    lines: tokio::io::Lines<BufReader<tokio::io::Stdin>>,
    next_update: i64,
    language: Language,
}

impl ConsoleInput {
    /// The update a line makes; `None` (after saying why) for `!N` naming no button.
    fn incoming(&mut self, line: &str) -> Option<Incoming> {
        let state = self.state.lock().expect("console state");
        let event = match line
            .strip_prefix('!')
            .or_else(|| line.strip_prefix('！'))
            .map(|n| n.trim().parse::<usize>())
        {
            Some(Ok(n)) => {
                let count = state
                    .last_buttons
                    .as_ref()
                    .map_or(0, |(_, m)| m.buttons.iter().flatten().count());
                let pressed = state.last_buttons.as_ref().and_then(|(id, m)| {
                    m.buttons
                        .iter()
                        .flatten()
                        .nth(n.checked_sub(1)?)
                        .map(|b| (*id, b.data.clone()))
                });
                match pressed {
                    Some((message_id, data)) => Event::Button {
                        callback_id: format!("console-{}", self.next_update + 1),
                        message_id: Some(message_id.to_string()),
                        data,
                    },
                    None => {
                        Console::print(&match (self.language, count) {
                            (Language::Zh, 0) => "（还没有带按钮的消息，无法按下按钮）".to_string(),
                            (Language::Zh, count) => format!(
                                "（没有第{n}个按钮：最近一条带按钮的消息共{count}个按钮，请用“!1”至“!{count}”之间的编号）"
                            ),
                            (Language::En, 0) => {
                                "(no message with buttons yet: nothing to press)".to_string()
                            }
                            (Language::En, count) => format!(
                                "(there is no button {n}: the latest message with buttons has {count}, press one with !1 to !{count})"
                            ),
                        });
                        return None;
                    }
                }
            }
            _ => Event::Text {
                message_id: String::new(),
                text: line.to_string(),
                reply_to: state.last_buttons.as_ref().map(|(id, _)| id.to_string()),
            },
        };
        drop(state);
        self.next_update += 1;
        Some(Incoming {
            channel: ChannelKind::Console,
            update_id: self.next_update.to_string(),
            chat_id: CONSOLE_CHAT.to_string(),
            chat_kind: ChatKind::Private,
            from: Some(Sender {
                user_id: CONSOLE_CHAT.to_string(),
                name: self.language.pick("控制台联络员", "console liaison").into(),
            }),
            event,
        })
    }
}

impl UpdateSource for ConsoleInput {
    fn channel(&self) -> ChannelKind {
        ChannelKind::Console
    }

    async fn next(&mut self, after: Option<&str>) -> Result<Option<Vec<Incoming>>, SendError> {
        if let Some(after) = after.and_then(|a| a.parse::<i64>().ok()) {
            self.next_update = self.next_update.max(after);
        }
        loop {
            let line = self
                .lines
                .next_line()
                .await
                .map_err(|e| SendError::Transient(e.to_string()))?;
            let Some(line) = line else { return Ok(None) };
            let line = line.trim();
            if line.is_empty() {
                continue;
            }
            if let Some(incoming) = self.incoming(line) {
                return Ok(Some(vec![incoming]));
            }
        }
    }
}
