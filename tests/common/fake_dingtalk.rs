//! A fake DingTalk on 127.0.0.1 for the tests: the OpenAPI (access tokens, 1:1 and group
//! robot messages, file downloads), the older media upload, and the Stream gateway with its
//! WebSocket, speaking the real protocol. The test puts messages to the robot in (as the
//! DingTalk client would send them, a tap on a one-tap link included), scripts failures and
//! limits, and reads what the robot sent.

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::extract::ws::{Message as WsMessage, WebSocket, WebSocketUpgrade};
use axum::extract::{Multipart, Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde_json::{Value, json};

/// The credentials the tests configure.
pub const CLIENT_ID: &str = "dingtestclientid";
/// The secret the tests configure; it must never reach a log.
pub const CLIENT_SECRET: &str = "dingtalk-secret-never-to-be-logged";

/// A message the robot sent.
#[derive(Debug, Clone)]
pub struct Sent {
    /// A person's user id, or a group's open conversation id.
    pub chat: String,
    /// `sampleMarkdown`, `sampleFile` …
    pub key: String,
    /// The Markdown text (or the file's name).
    pub text: String,
    /// The one-tap links: label and the text a tap sends.
    pub links: Vec<(String, String)>,
    /// When the server took it.
    pub at: Instant,
}

#[derive(Default)]
struct Inner {
    tokens: HashSet<String>,
    token_calls: usize,
    next: usize,
    tickets: HashSet<String>,
    gateway_calls: usize,
    /// The open socket's outbox: frames to push.
    socket: Option<tokio::sync::mpsc::UnboundedSender<WsMessage>>,
    /// Robot messages pushed and not acked yet, by frame message id: pushed again on the
    /// next connection.
    unacked: Vec<(String, Value)>,
    acked: Vec<String>,
    /// Every robot message pushed, by frame id.
    pushed: HashMap<String, Value>,
    /// Frames waiting for a connection.
    waiting: VecDeque<(String, Value)>,
    sent: Vec<Sent>,
    /// Sends refused because of a limit.
    throttled: usize,
    /// Scripted: the next sends answered 500.
    server_errors: usize,
    /// Scripted: the next sends to a user flow-controlled.
    flow_controlled: HashMap<String, usize>,
    invalid_users: HashSet<String>,
    /// Enforced limits: messages a second to people in all, a minute to one group.
    per_second: usize,
    per_group_minute: usize,
    recent: VecDeque<Instant>,
    group_recent: HashMap<String, VecDeque<Instant>>,
    files: HashMap<String, Vec<u8>>,
    uploads: Vec<(String, String, usize)>,
    /// Requests whose body named the secret (only the token and gateway calls may).
    secret_leaks: usize,
}

/// The fake server.
#[derive(Clone)]
pub struct FakeDingTalk {
    /// `http://127.0.0.1:PORT`.
    pub url: String,
    inner: Arc<Mutex<Inner>>,
}

fn error(status: StatusCode, code: &str, message: &str) -> Response {
    (
        status,
        Json(json!({"code": code, "message": message, "requestid": "req-1"})),
    )
        .into_response()
}

/// The one-tap links of a Markdown text: `[label](dtmd://dingtalkclient/sendMessage?content=…)`.
pub fn links(markdown: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let prefix = "](dtmd://dingtalkclient/sendMessage?content=";
    let mut rest = markdown;
    while let Some(at) = rest.find(prefix) {
        let label_start = rest[..at].rfind('[').map_or(0, |i| i + 1);
        let label = rest[label_start..at].to_string();
        let after = &rest[at + prefix.len()..];
        let end = after.find(')').unwrap_or(after.len());
        let content = percent_encoding::percent_decode_str(&after[..end])
            .decode_utf8_lossy()
            .to_string();
        out.push((label, content));
        rest = &after[end..];
    }
    out
}

impl FakeDingTalk {
    /// Starts a server on a free port of 127.0.0.1.
    pub async fn start() -> FakeDingTalk {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind 127.0.0.1");
        let url = format!("http://{}", listener.local_addr().unwrap());
        let fake = FakeDingTalk {
            url,
            inner: Arc::new(Mutex::new(Inner {
                per_second: 20,
                per_group_minute: 20,
                ..Inner::default()
            })),
        };
        let app = Router::new()
            .route("/v1.0/oauth2/accessToken", post(access_token))
            .route("/v1.0/gateway/connections/open", post(open_connection))
            .route("/connect", get(connect))
            .route("/v1.0/robot/oToMessages/batchSend", post(batch_send))
            .route("/v1.0/robot/groupMessages/send", post(group_send))
            .route("/v1.0/robot/messageFiles/download", post(file_download))
            .route("/files/{code}", get(file_bytes))
            .route("/media/upload", post(media_upload))
            .with_state(fake.clone());
        tokio::spawn(async move {
            axum::serve(listener, app).await.expect("serve");
        });
        fake
    }

    /// The environment that points `duban` at this server.
    pub fn env(&self) -> Vec<(&'static str, String)> {
        vec![
            ("DUBAN_DINGTALK_CLIENT_ID", CLIENT_ID.to_string()),
            ("DUBAN_DINGTALK_CLIENT_SECRET", CLIENT_SECRET.to_string()),
            ("DUBAN_DINGTALK_API_URL", self.url.clone()),
            ("DUBAN_DINGTALK_OAPI_URL", self.url.clone()),
        ]
    }

    /// Enforces these limits: messages a second to people, and a minute to one group.
    pub fn limit(&self, per_second: usize, per_group_minute: usize) {
        let mut inner = self.inner.lock().unwrap();
        inner.per_second = per_second;
        inner.per_group_minute = per_group_minute;
    }

    /// Everything the robot sent.
    pub fn sent(&self) -> Vec<Sent> {
        self.inner.lock().unwrap().sent.clone()
    }

    /// What the robot sent to one person or group.
    pub fn sent_to(&self, chat: &str) -> Vec<Sent> {
        self.sent().into_iter().filter(|s| s.chat == chat).collect()
    }

    /// How many sends a limit refused.
    pub fn throttled(&self) -> usize {
        self.inner.lock().unwrap().throttled
    }

    /// How many access tokens were handed out, and gateway connections opened.
    pub fn counts(&self) -> (usize, usize) {
        let inner = self.inner.lock().unwrap();
        (inner.token_calls, inner.gateway_calls)
    }

    /// How many requests named the secret where they should not.
    pub fn secret_leaks(&self) -> usize {
        self.inner.lock().unwrap().secret_leaks
    }

    /// Whether the robot is connected now.
    pub fn connected(&self) -> bool {
        self.inner.lock().unwrap().socket.is_some()
    }

    /// Whether the robot acknowledged a message.
    pub fn acked(&self, message_id: &str) -> bool {
        self.inner
            .lock()
            .unwrap()
            .acked
            .iter()
            .any(|m| m == message_id)
    }

    /// How often the robot acknowledged a message.
    pub fn acks(&self, message_id: &str) -> usize {
        self.inner
            .lock()
            .unwrap()
            .acked
            .iter()
            .filter(|m| *m == message_id)
            .count()
    }

    /// The next `n` sends answer 500.
    pub fn fail_next(&self, n: usize) {
        self.inner.lock().unwrap().server_errors += n;
    }

    /// The next `n` sends to `user` are flow-controlled (sent to nobody).
    pub fn flow_control(&self, user: &str, n: usize) {
        self.inner
            .lock()
            .unwrap()
            .flow_controlled
            .insert(user.to_string(), n);
    }

    /// Messages to `user` come back as an invalid user.
    pub fn invalidate(&self, user: &str) {
        self.inner
            .lock()
            .unwrap()
            .invalid_users
            .insert(user.to_string());
    }

    /// Keeps a file as if someone had sent it, under its download code.
    pub fn add_file(&self, code: &str, bytes: &[u8]) {
        self.inner
            .lock()
            .unwrap()
            .files
            .insert(code.to_string(), bytes.to_vec());
    }

    /// The media uploaded: type, file name, size.
    pub fn uploads(&self) -> Vec<(String, String, usize)> {
        self.inner.lock().unwrap().uploads.clone()
    }

    /// Pushes a robot message (the JSON of `data`); returns its frame's message id.
    pub fn push(&self, data: Value) -> String {
        let mut inner = self.inner.lock().unwrap();
        inner.next += 1;
        let message_id = format!("frame_{}", inner.next);
        if inner.socket.is_none() {
            inner.waiting.push_back((message_id.clone(), data));
            return message_id;
        }
        push_frame(&mut inner, &message_id, &data);
        message_id
    }

    fn message(&self, conversation: (&str, &str), user: &str, body: Value) -> (String, String) {
        let msg_id = {
            let mut inner = self.inner.lock().unwrap();
            inner.next += 1;
            format!("msg{}", inner.next)
        };
        let mut data = json!({
            "conversationId": conversation.0,
            "conversationType": conversation.1,
            "msgId": msg_id,
            "senderStaffId": user,
            "senderId": format!("$:LWCP_v1:${user}"),
            "senderNick": format!("联络员{user}"),
            "robotCode": CLIENT_ID,
            "chatbotUserId": "$:LWCP_v1:$robot",
            "createAt": 1_700_000_000_000i64,
        });
        for (k, v) in body.as_object().unwrap() {
            data[k] = v.clone();
        }
        if conversation.1 == "2" {
            data["isInAtList"] = json!(true);
            data["conversationTitle"] = json!("工作群");
        }
        let frame = self.push(data);
        (msg_id, frame)
    }

    /// A text from `user` in their 1:1 chat with the robot; returns the frame's id.
    pub fn text(&self, user: &str, text: &str) -> String {
        self.message(
            (&format!("cidPRIVATE{user}"), "1"),
            user,
            json!({"msgtype": "text", "text": {"content": text}}),
        )
        .1
    }

    /// A text in group `group` from `user`, @-mentioning the robot (DingTalk takes the
    /// mention out, leaving a space).
    pub fn group_text(&self, group: &str, user: &str, text: &str) -> String {
        self.message(
            (group, "2"),
            user,
            json!({"msgtype": "text", "text": {"content": format!(" {text}")}}),
        )
        .1
    }

    /// A file from `user` in their 1:1 chat (kept with [`FakeDingTalk::add_file`]).
    pub fn file(&self, user: &str, code: &str, name: &str) -> String {
        self.message(
            (&format!("cidPRIVATE{user}"), "1"),
            user,
            json!({"msgtype": "file", "content": {"downloadCode": code, "fileName": name,
                "spaceId": "1", "fileId": "2"}}),
        )
        .1
    }

    /// Pushes the robot message of frame `frame` again (DingTalk delivering it twice).
    pub fn again(&self, frame: &str) {
        let mut inner = self.inner.lock().unwrap();
        let data = inner
            .pushed
            .get(frame)
            .or_else(|| {
                inner
                    .waiting
                    .iter()
                    .find(|(id, _)| id == frame)
                    .map(|(_, d)| d)
            })
            .cloned()
            .expect("a message pushed before");
        inner.next += 1;
        let id = format!("frame_{}", inner.next);
        push_frame(&mut inner, &id, &data);
    }

    /// Tells the robot to reconnect (SYSTEM disconnect), as the gateway does now and then.
    pub fn disconnect(&self) {
        let mut inner = self.inner.lock().unwrap();
        if let Some(socket) = &inner.socket {
            let frame = json!({"specVersion": "1.0", "type": "SYSTEM",
                "headers": {"topic": "disconnect", "contentType": "application/json", "messageId": "sys-1"},
                "data": "{\"reason\":\"connection is expired\"}"});
            let _ = socket.send(WsMessage::Text(frame.to_string().into()));
        }
        inner.socket = None;
    }

    /// Drops the socket without a word, as a network failure would.
    pub fn drop_socket(&self) {
        let mut inner = self.inner.lock().unwrap();
        if let Some(socket) = inner.socket.take() {
            let _ = socket.send(WsMessage::Close(None));
        }
    }

    /// Sends a SYSTEM ping and returns its opaque.
    pub fn ping(&self) -> String {
        let inner = self.inner.lock().unwrap();
        let opaque = format!("opaque-{}", inner.next);
        if let Some(socket) = &inner.socket {
            let frame = json!({"specVersion": "1.0", "type": "SYSTEM",
                "headers": {"topic": "ping", "contentType": "application/json", "messageId": opaque},
                "data": json!({"opaque": opaque}).to_string()});
            let _ = socket.send(WsMessage::Text(frame.to_string().into()));
        }
        opaque
    }

    /// Taps link `n` of a message sent to `user`: the DingTalk client sends its text as
    /// the user's own message in the same chat. Returns the frame's id.
    pub fn tap(&self, user: &str, sent: &Sent, n: usize) -> String {
        let text = sent.links[n].1.clone();
        if sent.chat.starts_with("cid") {
            return self.group_text(&sent.chat, user, &text);
        }
        self.text(user, &text)
    }

    /// Waits until `check` holds, for up to `seconds`.
    pub async fn wait_for(&self, seconds: u64, what: &str, check: impl Fn(&FakeDingTalk) -> bool) {
        let deadline = Instant::now() + Duration::from_secs(seconds);
        while !check(self) {
            assert!(
                Instant::now() < deadline,
                "timed out waiting for {what}; sent: {:#?}",
                self.sent()
            );
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
    }

    /// Sends `text` as `user` and waits for the robot's next message to them; returns it.
    pub async fn ask(&self, user: &str, text: &str) -> Sent {
        let before = self.sent_to(user).len();
        self.text(user, text);
        self.wait_for(20, &format!("the answer to {text:?}"), |f| {
            f.sent_to(user).len() > before
        })
        .await;
        self.sent_to(user)[before].clone()
    }
}

fn push_frame(inner: &mut Inner, message_id: &str, data: &Value) {
    let frame = json!({
        "specVersion": "1.0",
        "type": "CALLBACK",
        "headers": {"appId": "app-1", "contentType": "application/json", "messageId": message_id,
            "time": "1690362102194", "topic": "/v1.0/im/bot/messages/get"},
        "data": data.to_string(),
    });
    if let Some(socket) = &inner.socket {
        let _ = socket.send(WsMessage::Text(frame.to_string().into()));
    }
    inner.unacked.retain(|(id, _)| id != message_id);
    inner.unacked.push((message_id.to_string(), data.clone()));
    inner.pushed.insert(message_id.to_string(), data.clone());
}

async fn access_token(State(fake): State<FakeDingTalk>, Json(body): Json<Value>) -> Response {
    let mut inner = fake.inner.lock().unwrap();
    if body["appKey"] != CLIENT_ID || body["appSecret"] != CLIENT_SECRET {
        return error(
            StatusCode::BAD_REQUEST,
            "invalidClientIdOrSecret",
            "无效的clientId或者clientSecret",
        );
    }
    inner.token_calls += 1;
    let token = format!("token-{}", inner.token_calls);
    inner.tokens.insert(token.clone());
    Json(json!({"accessToken": token, "expireIn": 7200})).into_response()
}

async fn open_connection(State(fake): State<FakeDingTalk>, Json(body): Json<Value>) -> Response {
    let mut inner = fake.inner.lock().unwrap();
    if body["clientId"] != CLIENT_ID || body["clientSecret"] != CLIENT_SECRET {
        return error(StatusCode::BAD_REQUEST, "invalidClientIdOrSecret", "无效");
    }
    let subscribed = body["subscriptions"].as_array().is_some_and(|subs| {
        subs.iter()
            .any(|s| s["type"] == "CALLBACK" && s["topic"] == "/v1.0/im/bot/messages/get")
    });
    if !subscribed {
        return error(
            StatusCode::BAD_REQUEST,
            "invalidParameter",
            "no robot topic",
        );
    }
    inner.gateway_calls += 1;
    let ticket = format!("ticket-{}-{}", inner.gateway_calls, inner.next);
    inner.tickets.insert(ticket.clone());
    let endpoint = format!("{}/connect", fake.url.replace("http://", "ws://"));
    Json(json!({"endpoint": endpoint, "ticket": ticket})).into_response()
}

async fn connect(
    State(fake): State<FakeDingTalk>,
    Query(query): Query<HashMap<String, String>>,
    upgrade: WebSocketUpgrade,
) -> Response {
    let ticket = query.get("ticket").cloned().unwrap_or_default();
    // A ticket opens one connection only.
    if !fake.inner.lock().unwrap().tickets.remove(&ticket) {
        return StatusCode::UNAUTHORIZED.into_response();
    }
    upgrade.on_upgrade(move |socket| session(fake, socket))
}

async fn session(fake: FakeDingTalk, socket: WebSocket) {
    use futures_util::{SinkExt, StreamExt};
    let (mut sink, mut stream) = socket.split();
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<WsMessage>();
    {
        let mut inner = fake.inner.lock().unwrap();
        inner.socket = Some(tx);
        // What was not acked on the last connection comes again, then what waited.
        let again: Vec<(String, Value)> = inner.unacked.drain(..).collect();
        let waiting: Vec<(String, Value)> = inner.waiting.drain(..).collect();
        for (id, data) in again.into_iter().chain(waiting) {
            push_frame(&mut inner, &id, &data);
        }
    }
    let writer = tokio::spawn(async move {
        while let Some(frame) = rx.recv().await {
            let close = matches!(frame, WsMessage::Close(_));
            if sink.send(frame).await.is_err() || close {
                break;
            }
        }
    });
    while let Some(Ok(frame)) = stream.next().await {
        let WsMessage::Text(text) = frame else {
            continue;
        };
        let Ok(ack) = serde_json::from_str::<Value>(&text) else {
            continue;
        };
        let id = ack["headers"]["messageId"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        if ack["code"] == 200 {
            let mut inner = fake.inner.lock().unwrap();
            inner.unacked.retain(|(m, _)| *m != id);
            inner.acked.push(id);
        }
    }
    writer.abort();
}

/// Checks the access token header; counts a secret sent where it should not be.
fn authorized(inner: &mut Inner, headers: &HeaderMap, body: &Value) -> Option<Response> {
    if body.to_string().contains(CLIENT_SECRET) {
        inner.secret_leaks += 1;
    }
    let token = headers
        .get("x-acs-dingtalk-access-token")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    if !inner.tokens.contains(token) {
        return Some(error(
            StatusCode::BAD_REQUEST,
            "InvalidAuthentication",
            "不合法的access_token",
        ));
    }
    None
}

fn record(inner: &mut Inner, chat: &str, body: &Value) {
    let key = body["msgKey"].as_str().unwrap_or_default().to_string();
    let param: Value =
        serde_json::from_str(body["msgParam"].as_str().unwrap_or("{}")).unwrap_or(Value::Null);
    let text = param["text"]
        .as_str()
        .or(param["fileName"].as_str())
        .or(param["content"].as_str())
        .unwrap_or_default()
        .to_string();
    inner.sent.push(Sent {
        chat: chat.to_string(),
        key,
        links: links(&text),
        text,
        at: Instant::now(),
    });
}

/// A 5xx answer while the test asked for server errors.
fn server_error(inner: &mut Inner) -> Option<Response> {
    if inner.server_errors == 0 {
        return None;
    }
    inner.server_errors -= 1;
    Some(error(
        StatusCode::INTERNAL_SERVER_ERROR,
        "ServiceUnavailable",
        "稍后再试",
    ))
}

async fn batch_send(
    State(fake): State<FakeDingTalk>,
    headers: HeaderMap,
    Json(body): Json<Value>,
) -> Response {
    let mut inner = fake.inner.lock().unwrap();
    if let Some(refused) = authorized(&mut inner, &headers, &body) {
        return refused;
    }
    if let Some(failed) = server_error(&mut inner) {
        return failed;
    }
    let now = Instant::now();
    while inner
        .recent
        .front()
        .is_some_and(|t| now.duration_since(*t) >= Duration::from_secs(1))
    {
        inner.recent.pop_front();
    }
    if inner.per_second > 0 && inner.recent.len() >= inner.per_second {
        inner.throttled += 1;
        return error(
            StatusCode::FORBIDDEN,
            "Forbidden.AccessDenied.QpsLimitForAppkeyAndApi",
            "请求过于频繁",
        );
    }
    inner.recent.push_back(now);
    let user = body["userIds"][0].as_str().unwrap_or_default().to_string();
    if inner.invalid_users.contains(&user) {
        return Json(
            json!({"processQueryKey": "q-invalid", "invalidStaffIdList": [user],
            "flowControlledStaffIdList": []}),
        )
        .into_response();
    }
    if let Some(n) = inner.flow_controlled.get_mut(&user)
        && *n > 0
    {
        *n -= 1;
        return Json(
            json!({"processQueryKey": "q-flow", "invalidStaffIdList": [],
            "flowControlledStaffIdList": [user]}),
        )
        .into_response();
    }
    record(&mut inner, &user, &body);
    let key = format!("q-{}", inner.sent.len());
    Json(json!({"processQueryKey": key, "invalidStaffIdList": [], "flowControlledStaffIdList": []}))
        .into_response()
}

async fn group_send(
    State(fake): State<FakeDingTalk>,
    headers: HeaderMap,
    Json(body): Json<Value>,
) -> Response {
    let mut inner = fake.inner.lock().unwrap();
    if let Some(refused) = authorized(&mut inner, &headers, &body) {
        return refused;
    }
    if let Some(failed) = server_error(&mut inner) {
        return failed;
    }
    let group = body["openConversationId"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    let now = Instant::now();
    let limit = inner.per_group_minute;
    let recent = inner.group_recent.entry(group.clone()).or_default();
    while recent
        .front()
        .is_some_and(|t| now.duration_since(*t) >= Duration::from_secs(60))
    {
        recent.pop_front();
    }
    if limit > 0 && recent.len() >= limit {
        inner.throttled += 1;
        return error(StatusCode::BAD_REQUEST, "send.too.fast", "发送过快");
    }
    recent.push_back(now);
    record(&mut inner, &group, &body);
    let key = format!("q-{}", inner.sent.len());
    Json(json!({"processQueryKey": key})).into_response()
}

async fn file_download(
    State(fake): State<FakeDingTalk>,
    headers: HeaderMap,
    Json(body): Json<Value>,
) -> Response {
    let mut inner = fake.inner.lock().unwrap();
    if let Some(refused) = authorized(&mut inner, &headers, &body) {
        return refused;
    }
    let code = body["downloadCode"].as_str().unwrap_or_default();
    if !inner.files.contains_key(code) {
        return error(
            StatusCode::BAD_REQUEST,
            "invalidParameter.downloadCode",
            "无效",
        );
    }
    Json(json!({"downloadUrl": format!("{}/files/{code}", fake.url)})).into_response()
}

async fn file_bytes(State(fake): State<FakeDingTalk>, Path(code): Path<String>) -> Response {
    match fake.inner.lock().unwrap().files.get(&code) {
        Some(bytes) => bytes.clone().into_response(),
        None => StatusCode::NOT_FOUND.into_response(),
    }
}

async fn media_upload(
    State(fake): State<FakeDingTalk>,
    Query(query): Query<HashMap<String, String>>,
    mut multipart: Multipart,
) -> Response {
    let token = query.get("access_token").cloned().unwrap_or_default();
    let kind = query.get("type").cloned().unwrap_or_default();
    let mut file = None;
    while let Ok(Some(field)) = multipart.next_field().await {
        if field.name() == Some("media") {
            let name = field.file_name().unwrap_or_default().to_string();
            let bytes = field.bytes().await.unwrap_or_default();
            file = Some((name, bytes.len()));
        }
    }
    let mut inner = fake.inner.lock().unwrap();
    if !inner.tokens.contains(&token) {
        return Json(json!({"errcode": 40014, "errmsg": "不合法的access_token"})).into_response();
    }
    let Some((name, size)) = file else {
        return Json(json!({"errcode": 40004, "errmsg": "no media"})).into_response();
    };
    inner.uploads.push((kind.clone(), name, size));
    let id = format!("@media-{}", inner.uploads.len());
    Json(json!({"errcode": 0, "errmsg": "ok", "media_id": id, "type": kind})).into_response()
}
