//! A fake Telegram Bot API server on 127.0.0.1 for the tests: real HTTP and JSON, the
//! methods duban calls, updates the test puts in, and failures the test scripts.

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::extract::{FromRequest, Multipart, Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{Json, Router};
use serde_json::{Value, json};

/// A failure the next `sendMessage` calls get, in order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Failure {
    /// 429 with `retry_after` seconds.
    TooMany(u64),
    /// 500.
    ServerError,
}

/// A request the server saw.
#[derive(Debug, Clone)]
pub struct Request {
    /// The method, lower case (`sendmessage`).
    pub method: String,
    /// The JSON body (a multipart form's text fields, as JSON).
    pub body: Value,
    /// The token in the URL.
    pub token: String,
    /// Files uploaded in a multipart form.
    pub files: Vec<Upload>,
}

/// A file uploaded in a multipart form.
#[derive(Debug, Clone, PartialEq)]
pub struct Upload {
    /// The form field (`photo`, `document`).
    pub field: String,
    /// The file name given.
    pub name: String,
    /// The bytes.
    pub bytes: Vec<u8>,
}

/// A message the server accepted.
#[derive(Debug, Clone, PartialEq)]
pub struct Sent {
    /// The chat.
    pub chat_id: i64,
    /// The message id given back.
    pub message_id: i64,
    /// The text.
    pub text: String,
    /// The inline keyboard, if any.
    pub markup: Option<Value>,
    /// When the server took it.
    pub at: Instant,
    /// `photo` or `document` for a file, with the uploaded file or the file id sent again.
    pub file: Option<(String, Result<Upload, String>)>,
}

#[derive(Default)]
struct Inner {
    requests: Vec<Request>,
    updates: VecDeque<Value>,
    next_update_id: i64,
    next_message_id: i64,
    failures: VecDeque<Failure>,
    blocked: HashSet<i64>,
    /// Chats that answer 403 with their own description.
    forbidden: HashMap<i64, String>,
    /// Groups that became supergroups: old id → new id.
    migrated: HashMap<i64, i64>,
    /// Whether the token was revoked: every call answers 401.
    revoked: bool,
    /// Files people sent, by file id: their path on the server and their bytes.
    files: HashMap<String, (String, Vec<u8>)>,
    sent: Vec<Sent>,
    /// Messages per second the server accepts before answering 429 (0: no limit).
    limit_per_second: usize,
    recent: VecDeque<Instant>,
    too_many: usize,
    /// How long a send's answer takes after the server took the message (a slow network
    /// back): a client killed meanwhile does not learn that it was sent.
    answer_delay: Duration,
}

/// The fake server.
#[derive(Clone)]
pub struct FakeTelegram {
    /// `http://127.0.0.1:PORT`.
    pub url: String,
    inner: Arc<Mutex<Inner>>,
}

/// The token the tests use.
pub const TOKEN: &str = "123456789:AAHtest-token-never-to-be-logged";

fn ok(result: Value) -> Response {
    Json(json!({"ok": true, "result": result})).into_response()
}

fn error(status: StatusCode, code: u16, description: &str, parameters: Option<Value>) -> Response {
    let mut body = json!({"ok": false, "error_code": code, "description": description});
    if let Some(p) = parameters {
        body["parameters"] = p;
    }
    (status, Json(body)).into_response()
}

/// A chat object for an id: private for users, a group for negative ids.
pub fn chat(chat_id: i64) -> Value {
    if chat_id < 0 {
        json!({"id": chat_id, "type": "group", "title": format!("工作群{chat_id}")})
    } else {
        json!({"id": chat_id, "type": "private", "first_name": format!("用户{chat_id}")})
    }
}

fn bot_user() -> Value {
    json!({"id": 4242, "is_bot": true, "first_name": "督办", "username": "duban_test_bot"})
}

fn message(chat_id: i64, message_id: i64, text: &str) -> Value {
    json!({"message_id": message_id, "date": 1_700_000_000, "chat": chat(chat_id), "from": bot_user(), "text": text})
}

/// A multipart form as JSON text fields and uploaded files.
async fn form(mut multipart: Multipart) -> (Value, Vec<Upload>) {
    let mut body = serde_json::Map::new();
    let mut files = Vec::new();
    while let Ok(Some(field)) = multipart.next_field().await {
        let name = field.name().unwrap_or_default().to_string();
        let file_name = field.file_name().map(str::to_string);
        let bytes = field.bytes().await.unwrap_or_default().to_vec();
        match file_name {
            Some(file_name) => files.push(Upload {
                field: name,
                name: file_name,
                bytes,
            }),
            None => {
                let text = String::from_utf8_lossy(&bytes).to_string();
                let value = serde_json::from_str(&text).unwrap_or(Value::String(text));
                body.insert(name, value);
            }
        }
    }
    (Value::Object(body), files)
}

async fn handle(
    State(fake): State<FakeTelegram>,
    Path((bot, method)): Path<(String, String)>,
    request: axum::extract::Request,
) -> Response {
    let method = method.to_lowercase();
    let multipart = request
        .headers()
        .get(axum::http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("multipart/form-data"));
    let (body, files) = if multipart {
        match Multipart::from_request(request, &()).await {
            Ok(multipart) => form(multipart).await,
            Err(_) => (Value::Null, Vec::new()),
        }
    } else {
        match Json::<Value>::from_request(request, &()).await {
            Ok(Json(body)) => (body, Vec::new()),
            Err(_) => (Value::Null, Vec::new()),
        }
    };
    let token = bot.strip_prefix("bot").unwrap_or(&bot).to_string();
    let revoked = {
        let mut inner = fake.inner.lock().unwrap();
        inner.requests.push(Request {
            method: method.clone(),
            body: body.clone(),
            token,
            files: files.clone(),
        });
        inner.revoked
    };
    if revoked {
        return error(StatusCode::UNAUTHORIZED, 401, "Unauthorized", None);
    }
    match method.as_str() {
        "getme" => ok(json!({
            "id": 4242, "is_bot": true, "first_name": "督办", "username": "duban_test_bot",
            "can_join_groups": true, "can_read_all_group_messages": false,
            "supports_inline_queries": false, "has_main_web_app": false
        })),
        "getwebhookinfo" => {
            ok(json!({"url": "", "has_custom_certificate": false, "pending_update_count": 0}))
        }
        "deletewebhook" | "setwebhook" | "setmycommands" | "answercallbackquery" => ok(json!(true)),
        "getupdates" => {
            let offset = body["offset"].as_i64().unwrap_or(0);
            let wait = body["timeout"].as_u64().unwrap_or(0).min(1);
            let deadline = Instant::now() + Duration::from_secs(wait);
            loop {
                {
                    let mut inner = fake.inner.lock().unwrap();
                    inner
                        .updates
                        .retain(|u| u["update_id"].as_i64().unwrap_or(0) >= offset);
                    if !inner.updates.is_empty() || Instant::now() >= deadline {
                        let batch: Vec<Value> = inner.updates.iter().take(100).cloned().collect();
                        return ok(Value::Array(batch));
                    }
                }
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        }
        "getfile" => {
            let file_id = body["file_id"].as_str().unwrap_or_default().to_string();
            let inner = fake.inner.lock().unwrap();
            match inner.files.get(&file_id) {
                Some((path, bytes)) => ok(json!({
                    "file_id": file_id, "file_unique_id": format!("u-{file_id}"),
                    "file_size": bytes.len(), "file_path": path
                })),
                None => error(
                    StatusCode::BAD_REQUEST,
                    400,
                    "Bad Request: invalid file_id",
                    None,
                ),
            }
        }
        "sendmessage" | "sendphoto" | "senddocument" => {
            let (answer, delay) = {
                let chat_id = body["chat_id"].as_i64().unwrap_or(0);
                let mut inner = fake.inner.lock().unwrap();
                if inner.blocked.contains(&chat_id) {
                    return error(
                        StatusCode::FORBIDDEN,
                        403,
                        "Forbidden: bot was blocked by the user",
                        None,
                    );
                }
                if let Some(description) = inner.forbidden.get(&chat_id) {
                    return error(StatusCode::FORBIDDEN, 403, &description.clone(), None);
                }
                if let Some(to) = inner.migrated.get(&chat_id) {
                    return error(
                        StatusCode::BAD_REQUEST,
                        400,
                        "Bad Request: group chat was upgraded to a supergroup chat",
                        Some(json!({"migrate_to_chat_id": to})),
                    );
                }
                if inner.limit_per_second > 0 {
                    let now = Instant::now();
                    while inner
                        .recent
                        .front()
                        .is_some_and(|t| now.duration_since(*t) >= Duration::from_secs(1))
                    {
                        inner.recent.pop_front();
                    }
                    if inner.recent.len() >= inner.limit_per_second {
                        inner.too_many += 1;
                        return error(
                            StatusCode::TOO_MANY_REQUESTS,
                            429,
                            "Too Many Requests: retry after 1",
                            Some(json!({"retry_after": 1})),
                        );
                    }
                    inner.recent.push_back(now);
                }
                match inner.failures.pop_front() {
                    Some(Failure::TooMany(seconds)) => {
                        return error(
                            StatusCode::TOO_MANY_REQUESTS,
                            429,
                            &format!("Too Many Requests: retry after {seconds}"),
                            Some(json!({"retry_after": seconds})),
                        );
                    }
                    Some(Failure::ServerError) => {
                        return error(
                            StatusCode::INTERNAL_SERVER_ERROR,
                            500,
                            "Internal Server Error",
                            None,
                        );
                    }
                    None => {}
                }
                inner.next_message_id += 1;
                let message_id = inner.next_message_id;
                let text = body["text"]
                    .as_str()
                    .or(body["caption"].as_str())
                    .unwrap_or("")
                    .to_string();
                let field = match method.as_str() {
                    "sendphoto" => Some("photo"),
                    "senddocument" => Some("document"),
                    _ => None,
                };
                let file = field.map(|field| {
                    // The file is uploaded in the field itself, or in the part that
                    // `attach://NAME` names, or it is a file id sent again.
                    let value = body[field].as_str().unwrap_or_default();
                    let part = value.strip_prefix("attach://").unwrap_or(field);
                    let sent = match files.iter().find(|f| f.field == part) {
                        Some(upload) => Ok(Upload {
                            field: field.to_string(),
                            ..upload.clone()
                        }),
                        None => Err(value.to_string()),
                    };
                    (field.to_string(), sent)
                });
                inner.sent.push(Sent {
                    chat_id,
                    message_id,
                    text: text.clone(),
                    markup: body.get("reply_markup").cloned(),
                    at: Instant::now(),
                    file,
                });
                (message(chat_id, message_id, &text), inner.answer_delay)
            };
            tokio::time::sleep(delay).await;
            ok(answer)
        }
        "editmessagetext" => {
            let chat_id = body["chat_id"].as_i64().unwrap_or(0);
            let message_id = body["message_id"].as_i64().unwrap_or(0);
            ok(message(
                chat_id,
                message_id,
                body["text"].as_str().unwrap_or(""),
            ))
        }
        _ => error(
            StatusCode::NOT_FOUND,
            404,
            "Not Found: method not found",
            None,
        ),
    }
}

/// `GET /file/bot{token}/{path}`: the bytes of a file people sent.
async fn download(
    State(fake): State<FakeTelegram>,
    Path((_bot, path)): Path<(String, String)>,
) -> Response {
    let inner = fake.inner.lock().unwrap();
    match inner.files.values().find(|(p, _)| *p == path) {
        Some((_, bytes)) => bytes.clone().into_response(),
        None => StatusCode::NOT_FOUND.into_response(),
    }
}

impl FakeTelegram {
    /// Starts a server on a free port of 127.0.0.1.
    pub async fn start() -> FakeTelegram {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind 127.0.0.1");
        let url = format!("http://{}", listener.local_addr().unwrap());
        let fake = FakeTelegram {
            url,
            inner: Arc::new(Mutex::new(Inner {
                next_update_id: 1000,
                next_message_id: 500,
                ..Inner::default()
            })),
        };
        let app = Router::new()
            .route("/{bot}/{method}", post(handle))
            .route("/file/{bot}/{*path}", axum::routing::get(download))
            .with_state(fake.clone());
        tokio::spawn(async move {
            axum::serve(listener, app).await.expect("serve");
        });
        fake
    }

    /// Every request so far.
    pub fn requests(&self) -> Vec<Request> {
        self.inner.lock().unwrap().requests.clone()
    }

    /// The requests of one method.
    pub fn calls(&self, method: &str) -> Vec<Request> {
        self.requests()
            .into_iter()
            .filter(|r| r.method == method.to_lowercase())
            .collect()
    }

    /// Every message accepted so far.
    pub fn sent(&self) -> Vec<Sent> {
        self.inner.lock().unwrap().sent.clone()
    }

    /// Messages accepted for one chat.
    pub fn sent_to(&self, chat_id: i64) -> Vec<Sent> {
        self.sent()
            .into_iter()
            .filter(|s| s.chat_id == chat_id)
            .collect()
    }

    /// How many times `sendMessage` was called for a chat, refused calls included.
    pub fn tries(&self, chat_id: i64) -> usize {
        self.calls("sendMessage")
            .iter()
            .filter(|r| r.body["chat_id"] == chat_id)
            .count()
    }

    /// Scripts failures for the next `sendMessage` calls.
    pub fn fail_next(&self, failures: &[Failure]) {
        self.inner.lock().unwrap().failures.extend(failures);
    }

    /// Makes a chat answer 403 "bot was blocked by the user".
    pub fn block(&self, chat_id: i64) {
        self.inner.lock().unwrap().blocked.insert(chat_id);
    }

    /// Makes a chat answer 403 with this description.
    pub fn forbid(&self, chat_id: i64, description: &str) {
        self.inner
            .lock()
            .unwrap()
            .forbidden
            .insert(chat_id, description.to_string());
    }

    /// Keeps a file as if someone had sent it; returns its file id.
    pub fn add_file(&self, file_id: &str, path: &str, bytes: &[u8]) {
        self.inner
            .lock()
            .unwrap()
            .files
            .insert(file_id.to_string(), (path.to_string(), bytes.to_vec()));
    }

    /// A photo from a user (a file kept with [`FakeTelegram::add_file`]); returns the update.
    pub fn photo(
        &self,
        chat_id: i64,
        user_id: i64,
        file_id: &str,
        caption: &str,
        reply_to: Option<i64>,
    ) -> Value {
        let size = self.file_size(file_id);
        self.file_message(
            chat_id,
            user_id,
            json!({"photo": [
                {"file_id": format!("{file_id}-small"), "file_unique_id": "s", "file_size": 100, "width": 90, "height": 60},
                {"file_id": file_id, "file_unique_id": format!("u-{file_id}"), "file_size": size, "width": 1280, "height": 960}
            ]}),
            caption,
            reply_to,
        )
    }

    /// A document from a user (a file kept with [`FakeTelegram::add_file`]).
    pub fn document(
        &self,
        chat_id: i64,
        user_id: i64,
        file_id: &str,
        name: &str,
        caption: &str,
        reply_to: Option<i64>,
    ) -> Value {
        let size = self.file_size(file_id);
        self.file_message(
            chat_id,
            user_id,
            json!({"document": {"file_id": file_id, "file_unique_id": format!("u-{file_id}"),
                "file_name": name, "file_size": size, "mime_type": "application/pdf"}}),
            caption,
            reply_to,
        )
    }

    fn file_size(&self, file_id: &str) -> usize {
        self.inner
            .lock()
            .unwrap()
            .files
            .get(file_id)
            .map_or(0, |(_, bytes)| bytes.len())
    }

    fn file_message(
        &self,
        chat_id: i64,
        user_id: i64,
        file: Value,
        caption: &str,
        reply_to: Option<i64>,
    ) -> Value {
        let mut inner = self.inner.lock().unwrap();
        inner.next_message_id += 1;
        let mut msg = json!({
            "message_id": inner.next_message_id,
            "date": 1_700_000_100,
            "chat": chat(chat_id),
            "from": {"id": user_id, "is_bot": false, "first_name": format!("联络员{user_id}")},
        });
        for (k, v) in file.as_object().unwrap() {
            msg[k] = v.clone();
        }
        if !caption.is_empty() {
            msg["caption"] = json!(caption);
        }
        if let Some(id) = reply_to {
            msg["reply_to_message"] = message(chat_id, id, "(reminder)");
        }
        drop(inner);
        let update = json!({"message": msg});
        let id = self.push(update.clone());
        let mut update = update;
        update["update_id"] = json!(id);
        update
    }

    /// Lets a chat take messages again (undoes [`FakeTelegram::forbid`]).
    pub fn allow(&self, chat_id: i64) {
        self.inner.lock().unwrap().forbidden.remove(&chat_id);
    }

    /// Makes a group a supergroup with a new id: messages to the old id are refused with
    /// `migrate_to_chat_id`.
    pub fn migrate(&self, from: i64, to: i64) {
        self.inner.lock().unwrap().migrated.insert(from, to);
    }

    /// Revokes the token (every call answers 401) or restores it.
    pub fn revoke(&self, revoked: bool) {
        self.inner.lock().unwrap().revoked = revoked;
    }

    /// Enforces a rate: more `sendMessage` calls a second than this get 429.
    pub fn limit(&self, per_second: usize) {
        self.inner.lock().unwrap().limit_per_second = per_second;
    }

    /// Makes every send's answer come `delay` after the server took the message.
    pub fn delay_answers(&self, delay: Duration) {
        self.inner.lock().unwrap().answer_delay = delay;
    }

    /// How many 429s the rate limit gave.
    pub fn too_many(&self) -> usize {
        self.inner.lock().unwrap().too_many
    }

    /// Puts an update in the queue as it is; returns its id.
    pub fn push(&self, mut update: Value) -> i64 {
        let mut inner = self.inner.lock().unwrap();
        inner.next_update_id += 1;
        let id = update["update_id"].as_i64().unwrap_or(inner.next_update_id);
        update["update_id"] = json!(id);
        inner.updates.push_back(update);
        id
    }

    /// Puts an update back with an id used before (a replay).
    pub fn replay(&self, update_id: i64, update: Value) {
        let mut update = update;
        update["update_id"] = json!(update_id);
        self.inner.lock().unwrap().updates.push_back(update);
    }

    /// A text message from a user; returns the update.
    pub fn text(&self, chat_id: i64, user_id: i64, text: &str, reply_to: Option<i64>) -> Value {
        let mut inner = self.inner.lock().unwrap();
        inner.next_message_id += 1;
        let mut msg = json!({
            "message_id": inner.next_message_id,
            "date": 1_700_000_100,
            "chat": chat(chat_id),
            "from": {"id": user_id, "is_bot": false, "first_name": format!("联络员{user_id}")},
            "text": text,
        });
        if let Some(id) = reply_to {
            msg["reply_to_message"] = message(chat_id, id, "(reminder)");
        }
        drop(inner);
        let update = json!({"message": msg});
        let id = self.push(update.clone());
        let mut update = update;
        update["update_id"] = json!(id);
        update
    }

    /// A button press on a message.
    pub fn press(&self, chat_id: i64, user_id: i64, message_id: i64, data: &str) -> Value {
        let update = json!({"callback_query": {
            "id": format!("cb-{user_id}-{message_id}-{data}"),
            "from": {"id": user_id, "is_bot": false, "first_name": format!("联络员{user_id}")},
            "chat_instance": "ci",
            "data": data,
            "message": message(chat_id, message_id, "(reminder)"),
        }});
        let id = self.push(update.clone());
        let mut update = update;
        update["update_id"] = json!(id);
        update
    }

    /// Sends a text as a user and waits for the bot's next message in that chat; returns
    /// its text.
    pub async fn ask(
        &self,
        chat_id: i64,
        user_id: i64,
        text: &str,
        reply_to: Option<i64>,
    ) -> String {
        let before = self.sent_to(chat_id).len();
        self.text(chat_id, user_id, text, reply_to);
        self.wait_for(15, &format!("the answer to {text:?}"), |f| {
            f.sent_to(chat_id).len() > before
        })
        .await;
        self.sent_to(chat_id)[before].text.clone()
    }

    /// Presses a button as a user and waits for the bot's answer to it; returns the toast.
    pub async fn tap(&self, chat_id: i64, user_id: i64, message_id: i64, data: &str) -> String {
        let before = self.calls("answerCallbackQuery").len();
        self.press(chat_id, user_id, message_id, data);
        self.wait_for(15, &format!("the answer to the press {data}"), |f| {
            f.calls("answerCallbackQuery").len() > before
        })
        .await;
        self.calls("answerCallbackQuery")[before].body["text"]
            .as_str()
            .unwrap_or("")
            .to_string()
    }

    /// Waits until `check` holds, for up to `seconds`.
    pub async fn wait_for(&self, seconds: u64, what: &str, check: impl Fn(&FakeTelegram) -> bool) {
        let deadline = Instant::now() + Duration::from_secs(seconds);
        while !check(self) {
            assert!(
                Instant::now() < deadline,
                "timed out waiting for {what} ({} polls so far); sent: {:#?}",
                self.calls("getUpdates").len(),
                self.sent()
            );
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
    }
}
