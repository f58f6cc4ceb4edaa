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

use crate::channels::{Channel, SendError};
use crate::core::chat::{ChatKind, Event, Incoming, Message, Sender};
use crate::service::UpdateSource;
use crate::core::text::Language;

/// The console user's chat and user id.
pub const CONSOLE_CHAT: i64 = 1;

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
    pub fn after(last: i64, language: Language) -> Console {
        let console = Console::new(language);
        console.state.lock().expect("console state").next_message_id = last;
        console
    }

    /// The input side: lines from stdin.
    pub fn input(&self, first_update: i64) -> ConsoleInput {
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

impl Channel for Console {
    async fn download(&self, _file_id: &str, _limit: u64) -> Result<Vec<u8>, SendError> {
        Err(SendError::Refused("the console takes no files".into()))
    }

    async fn send(&self, _chat_id: i64, message: &Message) -> Result<i64, SendError> {
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
        Ok(id)
    }

    async fn edit(
        &self,
        _chat_id: i64,
        message_id: i64,
        message: &Message,
    ) -> Result<(), SendError> {
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
        Ok(())
    }

    async fn answer(&self, _callback_id: &str, text: &str) -> Result<(), SendError> {
        Console::print(&match self.language {
            Language::Zh => format!("（按钮提示）{text}"),
            Language::En => format!("(toast) {text}"),
        });
        Ok(())
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
                        message_id: Some(message_id),
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
                message_id: 0,
                text: line.to_string(),
                reply_to: state.last_buttons.as_ref().map(|(id, _)| *id),
            },
        };
        drop(state);
        self.next_update += 1;
        Some(Incoming {
            update_id: self.next_update,
            chat_id: CONSOLE_CHAT,
            chat_kind: ChatKind::Private,
            from: Some(Sender {
                user_id: CONSOLE_CHAT,
                name: self.language.pick("控制台联络员", "console liaison").into(),
            }),
            event,
        })
    }
}

impl UpdateSource for ConsoleInput {
    async fn next(&mut self, after: Option<i64>) -> Result<Option<Vec<Incoming>>, SendError> {
        if let Some(after) = after {
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
