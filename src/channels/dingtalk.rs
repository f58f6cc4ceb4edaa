//! DingTalk (钉钉, and the government deployments 浙政钉 / 政务钉钉 built on it) as a channel:
//! an 企业内部应用's robot. Messages go out through the OpenAPI (`oToMessages/batchSend` to a
//! person, `groupMessages/send` to a group) as Markdown, with choices as one-tap links that
//! send a reply as the person's own message; images and files are uploaded first. Messages
//! come in through Stream mode: a WebSocket the robot opens itself, so no public address is
//! needed ([`DingTalk::run_stream`]).
//!
//! The client secret and the access token are secrets: neither reaches a log line, and
//! errors name endpoints by path only.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::Message as Frame;

use crate::channels::{Channel, Pending, SendError};
use crate::config::Secret;
use crate::core::chat::{
    Button, Capabilities, ChannelKind, ChatKind, Event, FileKind, FileSource, Incoming,
    IncomingFile, Message, Sender,
};
use crate::core::text::Language;

/// The Stream topic of messages to the robot.
pub const ROBOT_TOPIC: &str = "/v1.0/im/bot/messages/get";

/// How long before its expiry an access token is renewed.
const TOKEN_MARGIN: Duration = Duration::from_secs(300);

/// How long a quiet Stream connection waits before it pings the gateway.
const KEEPALIVE: Duration = Duration::from_secs(60);

/// Errors setting the robot up.
#[derive(Debug, thiserror::Error)]
pub enum DingTalkError {
    /// An API URL is not a URL.
    #[error("dingtalk.{0} {1:?} is not a URL")]
    Url(&'static str, String),
    /// The HTTP client cannot be built.
    #[error("the HTTP client: {0}")]
    Client(String),
}

/// The robot's credentials and servers.
#[derive(Clone)]
pub struct DingTalkSettings {
    /// The app's AppKey.
    pub client_id: String,
    /// The app's AppSecret.
    pub client_secret: Secret,
    /// The robot's code.
    pub robot_code: String,
    /// The OpenAPI server.
    pub api_url: String,
    /// The server of media uploads.
    pub oapi_url: String,
    /// The language of the few words the channel adds itself.
    pub language: Language,
}

/// The robot.
#[derive(Clone)]
pub struct DingTalk {
    http: reqwest::Client,
    settings: DingTalkSettings,
    data_dir: PathBuf,
    capabilities: Capabilities,
    /// The access token and when it is to be renewed.
    token: Arc<tokio::sync::Mutex<Option<(Secret, Instant)>>>,
}

impl std::fmt::Debug for DingTalk {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "DingTalk({}, [redacted])", self.settings.client_id)
    }
}

/// A frame of the Stream protocol, as the gateway sends it.
#[derive(Debug, Clone, serde::Deserialize)]
struct StreamFrame {
    #[serde(rename = "type", default)]
    kind: String,
    #[serde(default)]
    headers: std::collections::HashMap<String, String>,
    #[serde(default)]
    data: String,
}

impl DingTalk {
    /// A robot with these credentials and servers.
    pub fn new(settings: DingTalkSettings) -> Result<DingTalk, DingTalkError> {
        for (key, url) in [
            ("api_url", &settings.api_url),
            ("oapi_url", &settings.oapi_url),
        ] {
            reqwest::Url::parse(url).map_err(|_| DingTalkError::Url(key, url.clone()))?;
        }
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(30))
            .build()
            .map_err(|e| DingTalkError::Client(e.to_string()))?;
        let settings = DingTalkSettings {
            api_url: settings.api_url.trim_end_matches('/').to_string(),
            oapi_url: settings.oapi_url.trim_end_matches('/').to_string(),
            ..settings
        };
        Ok(DingTalk {
            http,
            settings,
            data_dir: PathBuf::from("."),
            capabilities: ChannelKind::DingTalk.capabilities(),
            token: Arc::default(),
        })
    }

    /// The same robot, sending stored files from under `data_dir`.
    pub fn with_data_dir(mut self, data_dir: &Path) -> DingTalk {
        self.data_dir = data_dir.to_path_buf();
        self
    }

    /// The same robot, keeping to these rates.
    pub fn with_rates(mut self, per_second: f64, per_group_per_minute: u32) -> DingTalk {
        self.capabilities.per_second = per_second;
        self.capabilities.per_group_per_minute = per_group_per_minute;
        self
    }

    /// An access token: the one held while it is good, else a new one.
    async fn access_token(&self) -> Result<Secret, SendError> {
        let mut held = self.token.lock().await;
        if let Some((token, renew_at)) = held.as_ref()
            && Instant::now() < *renew_at
        {
            return Ok(token.clone());
        }
        let url = format!("{}/v1.0/oauth2/accessToken", self.settings.api_url);
        let body = json!({
            "appKey": self.settings.client_id,
            "appSecret": self.settings.client_secret.expose(),
        });
        let response = self
            .http
            .post(&url)
            .json(&body)
            .send()
            .await
            .map_err(|e| network("oauth2/accessToken", &e))?;
        let status = response.status();
        let value: Value = response.json().await.unwrap_or(Value::Null);
        if !status.is_success() {
            let code = value["code"].as_str().unwrap_or_default();
            return Err(match status.as_u16() {
                400 | 401 | 403 if !code.is_empty() && !is_throttled(code) => {
                    SendError::Unauthorized(format!(
                        "DingTalk refused the client id or secret ({code})"
                    ))
                }
                _ => classify(
                    status.as_u16(),
                    code,
                    value["message"].as_str().unwrap_or(""),
                ),
            });
        }
        let Some(token) = value["accessToken"].as_str() else {
            return Err(SendError::Transient("no accessToken in the answer".into()));
        };
        let lifetime = Duration::from_secs(value["expireIn"].as_u64().unwrap_or(7200));
        let renew_at = Instant::now() + lifetime.saturating_sub(TOKEN_MARGIN);
        let token = Secret::new(token);
        *held = Some((token.clone(), renew_at));
        Ok(token)
    }

    /// Forgets the access token: the next call gets a new one.
    async fn forget_token(&self) {
        *self.token.lock().await = None;
    }

    /// `POST {api_url}{path}` with the access token; a refused token is renewed once.
    async fn call(&self, path: &str, body: &Value) -> Result<Value, SendError> {
        for attempt in 0..2 {
            let token = self.access_token().await?;
            let response = self
                .http
                .post(format!("{}{path}", self.settings.api_url))
                .header("x-acs-dingtalk-access-token", token.expose())
                .json(body)
                .send()
                .await
                .map_err(|e| network(path, &e))?;
            let status = response.status().as_u16();
            let text = response.text().await.map_err(|e| network(path, &e))?;
            let value: Value = serde_json::from_str(&text).unwrap_or(Value::Null);
            if (200..300).contains(&status) {
                return Ok(value);
            }
            let code = value["code"].as_str().unwrap_or_default();
            let message = value["message"].as_str().unwrap_or_default();
            let token_refused = status == 401 || code == "InvalidAuthentication";
            if token_refused && attempt == 0 {
                self.forget_token().await;
                continue;
            }
            if token_refused {
                return Err(SendError::Unauthorized(format!(
                    "DingTalk refuses the access token ({code})"
                )));
            }
            return Err(classify(status, code, message));
        }
        unreachable!("the loop returns")
    }

    /// Uploads a stored file as media (an image or a file); returns its media id.
    async fn upload(&self, path: &str, name: &str, image: bool) -> Result<String, SendError> {
        let full = self.data_dir.join(path);
        let bytes = std::fs::read(&full).map_err(|e| {
            SendError::Refused(format!("the file {} cannot be read: {e}", full.display()))
        })?;
        let kind = if image { "image" } else { "file" };
        for attempt in 0..2 {
            let token = self.access_token().await?;
            let part = reqwest::multipart::Part::bytes(bytes.clone()).file_name(name.to_string());
            let form = reqwest::multipart::Form::new()
                .text("type", kind)
                .part("media", part);
            let response = self
                .http
                .post(format!("{}/media/upload", self.settings.oapi_url))
                .query(&[("access_token", token.expose()), ("type", kind)])
                .multipart(form)
                .send()
                .await
                .map_err(|e| network("media/upload", &e))?;
            let status = response.status().as_u16();
            let value: Value = response.json().await.unwrap_or(Value::Null);
            let errcode = value["errcode"].as_i64().unwrap_or(-1);
            if (200..300).contains(&status) && errcode == 0 {
                return value["media_id"]
                    .as_str()
                    .map(str::to_string)
                    .ok_or_else(|| SendError::Transient("no media_id in the answer".into()));
            }
            // 40014, 42001: the token is not (or no longer) good.
            if matches!(errcode, 40014 | 42001) && attempt == 0 {
                self.forget_token().await;
                continue;
            }
            let message = value["errmsg"].as_str().unwrap_or_default().to_string();
            return Err(match status {
                500..=599 => SendError::Transient(format!("media/upload: HTTP {status}")),
                _ if errcode == 90018 || errcode == 90002 => {
                    SendError::RetryAfter(Duration::from_secs(1))
                }
                _ => SendError::Refused(format!("media/upload: {errcode} {message}")),
            });
        }
        unreachable!("the loop returns")
    }

    /// The message as the robot sends it: its `msgKey` and `msgParam`.
    ///
    /// In a group the robot hears only messages that @-mention it, and a one-tap link sends
    /// its text without the mention: there the choices become one line saying how to answer.
    async fn render(
        &self,
        message: &Message,
        group: bool,
    ) -> Result<(&'static str, Value), SendError> {
        let in_group = group.then_some(self.settings.language);
        let Some(file) = &message.file else {
            return Ok((
                "sampleMarkdown",
                json!({ "title": title(&message.text), "text": markdown(message, in_group) }),
            ));
        };
        let FileSource::Stored(path) = &file.source else {
            // A file only the channel it came from has: its words alone.
            return Ok((
                "sampleMarkdown",
                json!({ "title": title(&message.text), "text": markdown(message, in_group) }),
            ));
        };
        match file.kind {
            FileKind::Photo => {
                let media = self.upload(path, &file.name, true).await?;
                let mut text = markdown(message, in_group);
                text.push_str(&format!("\n\n![{}]({media})", file.name));
                Ok((
                    "sampleMarkdown",
                    json!({ "title": title(&message.text), "text": text }),
                ))
            }
            FileKind::Document => {
                let media = self.upload(path, &file.name, false).await?;
                let kind = Path::new(&file.name)
                    .extension()
                    .and_then(|e| e.to_str())
                    .unwrap_or("xlsx")
                    .to_ascii_lowercase();
                Ok((
                    "sampleFile",
                    json!({ "mediaId": media, "fileName": file.name, "fileType": kind }),
                ))
            }
        }
    }

    async fn send_to(&self, chat_id: &str, message: &Message) -> Result<String, SendError> {
        let (key, param) = self.render(message, is_group(chat_id)).await?;
        let param = param.to_string();
        let robot = &self.settings.robot_code;
        if is_group(chat_id) {
            let answer = self
                .call(
                    "/v1.0/robot/groupMessages/send",
                    &json!({ "robotCode": robot, "openConversationId": chat_id,
                             "msgKey": key, "msgParam": param }),
                )
                .await?;
            return Ok(answer["processQueryKey"]
                .as_str()
                .unwrap_or_default()
                .to_string());
        }
        let answer = self
            .call(
                "/v1.0/robot/oToMessages/batchSend",
                &json!({ "robotCode": robot, "userIds": [chat_id],
                         "msgKey": key, "msgParam": param }),
            )
            .await?;
        let listed = |field: &str| {
            answer[field]
                .as_array()
                .is_some_and(|ids| ids.iter().any(|id| id.as_str() == Some(chat_id)))
        };
        if listed("invalidStaffIdList") {
            return Err(SendError::Blocked);
        }
        if listed("flowControlledStaffIdList") {
            // Sent to nobody: the same outbox row goes again later.
            return Err(SendError::RetryAfter(Duration::from_secs(2)));
        }
        Ok(answer["processQueryKey"]
            .as_str()
            .unwrap_or_default()
            .to_string())
    }

    async fn fetch(&self, download_code: &str, limit: u64) -> Result<Vec<u8>, SendError> {
        let answer = self
            .call(
                "/v1.0/robot/messageFiles/download",
                &json!({ "downloadCode": download_code, "robotCode": self.settings.robot_code }),
            )
            .await?;
        let Some(url) = answer["downloadUrl"].as_str() else {
            return Err(SendError::Transient("no downloadUrl in the answer".into()));
        };
        let mut response = self
            .http
            .get(url)
            .send()
            .await
            .map_err(|e| network("the file's download", &e))?;
        if !response.status().is_success() {
            return Err(SendError::Transient(format!(
                "downloading the file: HTTP {}",
                response.status()
            )));
        }
        if response
            .content_length()
            .is_some_and(|length| length > limit)
        {
            return Err(SendError::Refused("the file is too large".into()));
        }
        let mut bytes = Vec::new();
        while let Some(chunk) = response
            .chunk()
            .await
            .map_err(|e| network("the file's download", &e))?
        {
            bytes.extend_from_slice(&chunk);
            if bytes.len() as u64 > limit {
                return Err(SendError::Refused("the file is too large".into()));
            }
        }
        Ok(bytes)
    }

    /// Asks the gateway for a Stream connection: its endpoint and one-time ticket.
    async fn open_connection(&self) -> Result<(String, String), SendError> {
        let body = json!({
            "clientId": self.settings.client_id,
            "clientSecret": self.settings.client_secret.expose(),
            "subscriptions": [{ "type": "CALLBACK", "topic": ROBOT_TOPIC }],
            "ua": concat!("duban/", env!("CARGO_PKG_VERSION")),
        });
        let response = self
            .http
            .post(format!(
                "{}/v1.0/gateway/connections/open",
                self.settings.api_url
            ))
            .header("Accept", "application/json")
            .json(&body)
            .send()
            .await
            .map_err(|e| network("gateway/connections/open", &e))?;
        let status = response.status().as_u16();
        let value: Value = response.json().await.unwrap_or(Value::Null);
        if !(200..300).contains(&status) {
            let code = value["code"].as_str().unwrap_or_default();
            return Err(match status {
                400 | 401 | 403 if !is_throttled(code) => SendError::Unauthorized(format!(
                    "the Stream gateway refused the client id or secret ({code})"
                )),
                _ => classify(status, code, value["message"].as_str().unwrap_or("")),
            });
        }
        match (value["endpoint"].as_str(), value["ticket"].as_str()) {
            (Some(endpoint), Some(ticket)) if !endpoint.is_empty() && !ticket.is_empty() => {
                Ok((endpoint.to_string(), ticket.to_string()))
            }
            _ => Err(SendError::Transient("the gateway gave no endpoint".into())),
        }
    }

    /// Takes messages to the robot through Stream mode until `stop` turns true: opens a
    /// connection (a fresh ticket each time), hands the robot messages to `apply` (every
    /// one the socket already holds, up to [`STREAM_GROUP_MAX`], together: they are kept
    /// with one commit), and acks them only when `apply` says they are all kept (applied,
    /// or held back), so that one lost in a crash can come again; answers the gateway's
    /// pings; opens a new connection when the gateway says `disconnect` or the socket
    /// drops, backing off while it fails.
    pub async fn run_stream<F, Fut>(
        &self,
        mut apply: F,
        mut stop: tokio::sync::watch::Receiver<bool>,
    ) where
        F: FnMut(Vec<Incoming>) -> Fut,
        Fut: std::future::Future<Output = bool>,
    {
        let mut failures: u32 = 0;
        while !*stop.borrow() {
            // The connection watches `stop` itself, to close in order.
            let connected = self.stream_once(&mut apply, &mut stop).await;
            match connected {
                Ok(()) => failures = 0,
                Err(e) => {
                    failures += 1;
                    tracing::warn!("DingTalk Stream: {e}; connecting again");
                }
            }
            if *stop.borrow() {
                return;
            }
            let wait =
                Duration::from_millis(500 * (1u64 << failures.min(7))).min(Duration::from_secs(60));
            tokio::select! {
                _ = tokio::time::sleep(wait) => {}
                _ = stop.changed() => return,
            }
        }
    }

    /// One Stream connection, until it ends. `Ok` when the gateway ended it in order.
    async fn stream_once<F, Fut>(
        &self,
        apply: &mut F,
        stop: &mut tokio::sync::watch::Receiver<bool>,
    ) -> Result<(), SendError>
    where
        F: FnMut(Vec<Incoming>) -> Fut,
        Fut: std::future::Future<Output = bool>,
    {
        use futures_util::FutureExt;
        let socket_error = |e: tokio_tungstenite::tungstenite::Error| {
            SendError::Transient(format!("the Stream socket: {e}"))
        };
        let (endpoint, ticket) = self.open_connection().await?;
        let ticket: String =
            percent_encoding::utf8_percent_encode(&ticket, percent_encoding::NON_ALPHANUMERIC)
                .collect();
        let url = format!("{endpoint}?ticket={ticket}");
        let (mut socket, _) = tokio_tungstenite::connect_async(url)
            .await
            .map_err(socket_error)?;
        tracing::info!("DingTalk Stream connected");
        loop {
            let next = tokio::select! {
                next = tokio::time::timeout(KEEPALIVE, socket.next()) => next,
                _ = stop.changed() => {
                    let _ = socket.close(None).await;
                    return Ok(());
                }
            };
            let frame = match next {
                Err(_) => {
                    socket
                        .send(Frame::Ping(Vec::new().into()))
                        .await
                        .map_err(socket_error)?;
                    continue;
                }
                Ok(None) => return Err(SendError::Transient("the Stream socket closed".into())),
                Ok(Some(Err(e))) => return Err(socket_error(e)),
                Ok(Some(Ok(frame))) => frame,
            };
            // This frame, then every frame the socket holds already: their robot messages
            // are kept together, then acked.
            let mut robots: Vec<(Incoming, String)> = Vec::new();
            let mut ending: Option<Result<(), SendError>> = None;
            let mut step = read_frame(frame);
            loop {
                match step {
                    Err(e) => {
                        ending = Some(Err(e));
                        break;
                    }
                    Ok(FrameStep::Robot(incoming, message_id)) => {
                        robots.push((*incoming, message_id))
                    }
                    Ok(FrameStep::Answer(answer)) => {
                        socket.send(answer).await.map_err(socket_error)?
                    }
                    Ok(FrameStep::Disconnect) => {
                        tracing::info!("DingTalk Stream: the gateway asks to reconnect");
                        ending = Some(Ok(()));
                        break;
                    }
                    Ok(FrameStep::Pass) => {}
                }
                if robots.len() >= STREAM_GROUP_MAX {
                    break;
                }
                step = match socket.next().now_or_never() {
                    Some(Some(Ok(frame))) => read_frame(frame),
                    Some(Some(Err(e))) => Err(socket_error(e)),
                    Some(None) => Err(SendError::Transient("the Stream socket closed".into())),
                    None => break,
                };
            }
            if !robots.is_empty() {
                let (incoming, message_ids): (Vec<Incoming>, Vec<String>) =
                    robots.into_iter().unzip();
                if !apply(incoming).await {
                    // Not acked: the connection is given up, so that the messages come
                    // again on the next one once the database takes them (those kept
                    // already are recognised by their ids and applied once).
                    let _ = socket.close(None).await;
                    return Err(SendError::Transient(
                        "a message could not be kept yet".into(),
                    ));
                }
                for message_id in &message_ids {
                    socket
                        .send(Frame::Text(ack(message_id, r#"{"response":null}"#).into()))
                        .await
                        .map_err(socket_error)?;
                }
            }
            if let Some(ending) = ending {
                if ending.is_ok() {
                    let _ = socket.close(None).await;
                }
                return ending;
            }
        }
    }
}

/// How many robot messages the Stream socket holds at once are kept together, at most.
pub const STREAM_GROUP_MAX: usize = 64;

/// What a frame from the Stream gateway asks of duban.
enum FrameStep {
    /// A robot message to keep, then ack with its `messageId`.
    Robot(Box<Incoming>, String),
    /// A frame to send back at once: a pong, or the ack of a ping or an event.
    Answer(Frame),
    /// The gateway asks to connect again.
    Disconnect,
    /// Nothing to do.
    Pass,
}

/// The acknowledgement of the frame `message_id`, with `data`.
fn ack(message_id: &str, data: &str) -> String {
    json!({
        "code": 200,
        "headers": { "contentType": "application/json", "messageId": message_id },
        "message": "OK",
        "data": data,
    })
    .to_string()
}

/// Reads one frame from the Stream gateway; an error when the gateway closed the socket.
fn read_frame(frame: Frame) -> Result<FrameStep, SendError> {
    let text = match frame {
        Frame::Text(text) => text,
        Frame::Ping(payload) => return Ok(FrameStep::Answer(Frame::Pong(payload))),
        Frame::Close(_) => {
            return Err(SendError::Transient("the gateway closed the socket".into()));
        }
        _ => return Ok(FrameStep::Pass),
    };
    let Ok(frame) = serde_json::from_str::<StreamFrame>(&text) else {
        tracing::warn!("DingTalk Stream: a frame that is no JSON, passed over");
        return Ok(FrameStep::Pass);
    };
    let topic = frame.headers.get("topic").map_or("", String::as_str);
    let message_id = frame.headers.get("messageId").cloned().unwrap_or_default();
    let answer = |data: &str| {
        Ok(FrameStep::Answer(Frame::Text(
            ack(&message_id, data).into(),
        )))
    };
    match (frame.kind.as_str(), topic) {
        ("SYSTEM", "ping") => answer(&frame.data),
        ("SYSTEM", "disconnect") => Ok(FrameStep::Disconnect),
        ("CALLBACK", ROBOT_TOPIC) => match serde_json::from_str::<Value>(&frame.data)
            .ok()
            .and_then(|data| incoming(&data))
        {
            Some(incoming) => Ok(FrameStep::Robot(Box::new(incoming), message_id)),
            None => {
                tracing::warn!("DingTalk Stream: a robot message without an id");
                answer(r#"{"response":null}"#)
            }
        },
        ("EVENT", _) => answer(r#"{"status":"SUCCESS"}"#),
        _ => Ok(FrameStep::Pass),
    }
}

/// A robot message from Stream mode as duban reads it; `None` when it has no id.
pub fn incoming(data: &Value) -> Option<Incoming> {
    let text = |v: &Value| v.as_str().map(str::to_string);
    let update_id = text(&data["msgId"]).filter(|id| !id.is_empty())?;
    let user = text(&data["senderStaffId"])
        .filter(|id| !id.is_empty())
        .or_else(|| text(&data["senderId"]))
        .unwrap_or_default();
    let group = data["conversationType"].as_str() == Some("2");
    let chat_id = match group {
        true => text(&data["conversationId"]).unwrap_or_default(),
        false => user.clone(),
    };
    let from = (!user.is_empty()).then(|| Sender {
        user_id: user,
        name: text(&data["senderNick"]).unwrap_or_default(),
    });
    let content = &data["content"];
    let file = |kind: FileKind, name: String, code: &Value| IncomingFile {
        file_id: text(code).unwrap_or_default(),
        name,
        kind,
        size: None,
        size_invalid: false,
    };
    let event = match data["msgtype"].as_str().unwrap_or_default() {
        "text" => Event::Text {
            message_id: update_id.clone(),
            text: without_mentions(&text(&data["text"]["content"]).unwrap_or_default()),
            reply_to: None,
        },
        "picture" => Event::File {
            message_id: update_id.clone(),
            file: file(
                FileKind::Photo,
                format!("photo-{}.jpg", short(&update_id)),
                &content["downloadCode"],
            ),
            caption: String::new(),
            reply_to: None,
        },
        "file" => Event::File {
            message_id: update_id.clone(),
            file: file(
                FileKind::Document,
                text(&content["fileName"]).unwrap_or_else(|| format!("file-{}", short(&update_id))),
                &content["downloadCode"],
            ),
            caption: String::new(),
            reply_to: None,
        },
        "richText" => {
            let parts = content["richText"].as_array().cloned().unwrap_or_default();
            let words: Vec<String> = parts.iter().filter_map(|p| text(&p["text"])).collect();
            let words = without_mentions(&words.join(" "));
            match parts.iter().find(|p| p["downloadCode"].is_string()) {
                Some(picture) => Event::File {
                    message_id: update_id.clone(),
                    file: file(
                        FileKind::Photo,
                        format!("photo-{}.jpg", short(&update_id)),
                        &picture["downloadCode"],
                    ),
                    caption: words,
                    reply_to: None,
                },
                None => Event::Text {
                    message_id: update_id.clone(),
                    text: words,
                    reply_to: None,
                },
            }
        }
        _ if from.is_some() => Event::Unreadable,
        _ => Event::Other,
    };
    Some(Incoming {
        channel: ChannelKind::DingTalk,
        update_id,
        chat_id,
        chat_kind: if group {
            ChatKind::Group
        } else {
            ChatKind::Private
        },
        from,
        event,
    })
}

/// A message's text without the @-mentions it begins with: DingTalk usually takes the
/// robot's own mention out of a group message, but leaves a space, and a client may leave
/// the whole `@督办助手` in; nothing duban reads begins with `@`.
fn without_mentions(text: &str) -> String {
    let mut rest = text.trim();
    while rest.starts_with(['@', '＠']) {
        rest = match rest.split_once(char::is_whitespace) {
            Some((_, after)) => after.trim_start(),
            None => "",
        };
    }
    rest.to_string()
}

/// A message id cut to a few characters, for made-up file names.
fn short(id: &str) -> String {
    id.chars()
        .filter(char::is_ascii_alphanumeric)
        .take(12)
        .collect()
}

/// Whether a chat id is a group's: DingTalk's open conversation ids begin `cid`.
fn is_group(chat_id: &str) -> bool {
    chat_id.starts_with("cid")
}

/// A message's title, as notifications show it: its first line, short.
fn title(text: &str) -> String {
    let first = text
        .lines()
        .find(|l| !l.trim().is_empty())
        .unwrap_or("督办");
    first.chars().take(30).collect()
}

/// The link a one-tap choice is: it sends `text` as the person's own message.
pub fn send_link(text: &str) -> String {
    let encoded: String =
        percent_encoding::utf8_percent_encode(text, percent_encoding::NON_ALPHANUMERIC).collect();
    format!("dtmd://dingtalkclient/sendMessage?content={encoded}")
}

/// A message as DingTalk Markdown: its lines kept as lines, and each row of buttons a line
/// of one-tap links. In a group (`in_group` names the language) the buttons give way to one
/// line telling how to answer with an @-mention, with the first choice as the example.
pub fn markdown(message: &Message, in_group: Option<Language>) -> String {
    let mut out: Vec<String> = message
        .text
        .lines()
        .map(|line| line.trim_end().to_string())
        .collect();
    if !message.buttons.is_empty() {
        out.push(String::new());
    }
    if let Some(language) = in_group {
        let example = message
            .buttons
            .iter()
            .flatten()
            .next()
            .map(Button::link_text);
        if let Some(example) = example {
            out.push(language.pick(
                format!("在群里回复请先@本机器人，例如：@机器人 {example}"),
                format!("In a group, @-mention the robot to answer, e.g. @robot {example}"),
            ));
        }
        return out.join("  \n");
    }
    for row in &message.buttons {
        let links: Vec<String> = row
            .iter()
            .map(|b| {
                let label: String = b.label.chars().filter(|c| !"[]()".contains(*c)).collect();
                format!("[{label}]({})", send_link(&b.link_text()))
            })
            .collect();
        out.push(links.join("　"));
    }
    // Markdown joins lines that end without two spaces.
    out.join("  \n")
}

/// Whether an error code names throttling (a QPS limit, a robot sending too fast).
fn is_throttled(code: &str) -> bool {
    [
        "QpsLimit",
        "QpmLimit",
        "Throttling",
        "too.fast",
        "tooFast",
        "FlowControl",
    ]
    .iter()
    .any(|w| code.contains(w))
}

/// An error answer of the OpenAPI as a channel's error.
fn classify(status: u16, code: &str, message: &str) -> SendError {
    if status == 429 || is_throttled(code) {
        return SendError::RetryAfter(Duration::from_secs(1));
    }
    if status >= 500 {
        return SendError::Transient(format!("HTTP {status} {code}"));
    }
    // The robot is not (or no longer) in the group, or the conversation is gone.
    if code.contains("openConversationId") || code == "robot.not.in.group" {
        return SendError::Blocked;
    }
    if code == "bot.stopped" {
        return SendError::Unauthorized(format!("the robot is stopped ({code})"));
    }
    let detail: String = message.chars().take(200).collect();
    SendError::Refused(format!("HTTP {status} {code}: {detail}"))
}

/// A network error, named by the endpoint's path alone (a URL may carry the token).
fn network(what: &str, error: &reqwest::Error) -> SendError {
    let kind = if error.is_timeout() {
        "timed out"
    } else if error.is_connect() {
        "cannot connect"
    } else {
        "network error"
    };
    SendError::Transient(format!("{what}: {kind}"))
}

impl Channel for DingTalk {
    fn kind(&self) -> ChannelKind {
        ChannelKind::DingTalk
    }

    fn capabilities(&self) -> Capabilities {
        self.capabilities
    }

    fn is_group(&self, chat_id: &str) -> bool {
        is_group(chat_id)
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
        _chat_id: &'a str,
        _message_id: &'a str,
        _message: &'a Message,
    ) -> Pending<'a, Result<(), SendError>> {
        Box::pin(async {
            Err(SendError::Refused(
                "a robot message cannot be edited".into(),
            ))
        })
    }

    fn answer<'a>(
        &'a self,
        _callback_id: &'a str,
        _text: &'a str,
    ) -> Pending<'a, Result<(), SendError>> {
        // One-tap links send messages; there is no press to answer.
        Box::pin(async { Ok(()) })
    }

    fn download<'a>(
        &'a self,
        file_id: &'a str,
        limit: u64,
    ) -> Pending<'a, Result<Vec<u8>, SendError>> {
        Box::pin(self.fetch(file_id, limit))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn robot_messages_read_as_updates() {
        let one = json!({"conversationId": "cidA1==", "conversationType": "1", "msgId": "msg1",
            "senderStaffId": "staff7", "senderNick": "李联络", "msgtype": "text",
            "text": {"content": " 2-1 已完成 "}});
        let read = incoming(&one).unwrap();
        assert_eq!(read.channel, ChannelKind::DingTalk);
        assert_eq!(
            (read.update_id.as_str(), read.chat_id.as_str()),
            ("msg1", "staff7")
        );
        assert_eq!(read.chat_kind, ChatKind::Private);
        assert!(matches!(read.event, Event::Text { ref text, .. } if text == "2-1 已完成"));
        let group = json!({"conversationId": "cidG==", "conversationType": "2", "msgId": "msg2",
            "senderStaffId": "staff7", "senderNick": "李联络", "msgtype": "text",
            "isInAtList": true, "text": {"content": " 绑定 ABCD"}});
        let read = incoming(&group).unwrap();
        assert_eq!(
            (read.chat_id.as_str(), read.chat_kind),
            ("cidG==", ChatKind::Group)
        );
        let picture = json!({"conversationType": "1", "msgId": "msg3", "senderStaffId": "s",
            "msgtype": "picture", "content": {"downloadCode": "DL1", "pictureDownloadCode": "P"}});
        let read = incoming(&picture).unwrap();
        assert!(matches!(read.event, Event::File { ref file, .. }
            if file.file_id == "DL1" && file.kind == FileKind::Photo));
        let document = json!({"conversationType": "1", "msgId": "msg4", "senderStaffId": "s",
            "msgtype": "file", "content": {"downloadCode": "DL2", "fileName": "验收报告.pdf"}});
        let read = incoming(&document).unwrap();
        assert!(matches!(read.event, Event::File { ref file, .. }
            if file.name == "验收报告.pdf" && file.kind == FileKind::Document));
        let rich = json!({"conversationType": "1", "msgId": "msg5", "senderStaffId": "s",
            "msgtype": "richText", "content": {"richText": [{"text": "2-1 现场照片"},
            {"type": "picture", "downloadCode": "DL3"}]}});
        let read = incoming(&rich).unwrap();
        assert!(
            matches!(read.event, Event::File { ref caption, ref file, .. }
            if caption == "2-1 现场照片" && file.file_id == "DL3")
        );
        let audio = json!({"conversationType": "1", "msgId": "msg6", "senderStaffId": "s",
            "msgtype": "audio", "content": {"downloadCode": "A"}});
        assert_eq!(incoming(&audio).unwrap().event, Event::Unreadable);
        assert!(incoming(&json!({"msgtype": "text"})).is_none());
    }

    #[test]
    fn mentions_are_dropped_before_the_words() {
        let cases = [
            (" 绑定 ABC123", "绑定 ABC123"),
            ("@督办助手 E-2 推进中", "E-2 推进中"),
            ("＠督办助手\u{2005}@张三  E-2 推进中 ", "E-2 推进中"),
            ("@督办助手", ""),
            ("E-2 问@张三", "E-2 问@张三"),
        ];
        for (sent, read) in cases {
            assert_eq!(without_mentions(sent), read, "{sent:?}");
        }
    }

    #[test]
    fn choices_are_links_that_send_a_reply() {
        let message = Message {
            text: "【督办提醒】\n🔴 2-1 完成招标".into(),
            buttons: vec![vec![
                Button::new("✅ 2-1 完成", "m:0:done").with_reply("2-1 已完成"),
                Button::new("✅ 通过", "c:12:ok"),
            ]],
            ..Message::text("")
        };
        let text = markdown(&message, None);
        assert!(
            text.starts_with("【督办提醒】  \n🔴 2-1 完成招标"),
            "{text}"
        );
        assert!(
            text.contains(
                "[✅ 2-1 完成](dtmd://dingtalkclient/sendMessage?content=2%2D1%20%E5%B7%B2%E5%AE%8C%E6%88%90)"
            ),
            "{text}"
        );
        assert!(text.contains("%23c%3A12%3Aok"), "{text}");
        let in_group = markdown(&message, Some(Language::Zh));
        assert!(!in_group.contains("dtmd://"), "{in_group}");
        assert!(
            in_group.ends_with("在群里回复请先@本机器人，例如：@机器人 2-1 已完成"),
            "{in_group}"
        );
        let plain = Message {
            buttons: Vec::new(),
            ..message
        };
        assert_eq!(markdown(&plain, Some(Language::En)), markdown(&plain, None));
        assert_eq!(
            title("\n【督办提醒】2024年3月15日\n…"),
            "【督办提醒】2024年3月15日"
        );
    }

    #[test]
    fn errors_read_as_the_channel_reads_them() {
        let cases = [
            (429, "", SendError::RetryAfter(Duration::from_secs(1))),
            (
                403,
                "Forbidden.AccessDenied.QpsLimitForAppkeyAndApi",
                SendError::RetryAfter(Duration::from_secs(1)),
            ),
            (
                400,
                "send.too.fast",
                SendError::RetryAfter(Duration::from_secs(1)),
            ),
            (
                503,
                "ServiceUnavailable",
                SendError::Transient("HTTP 503 ServiceUnavailable".into()),
            ),
            (400, "invalid.openConversationId", SendError::Blocked),
        ];
        for (status, code, expected) in cases {
            assert_eq!(classify(status, code, ""), expected, "{status} {code}");
        }
        assert!(matches!(
            classify(400, "invalidParameter.msgKey.invalid", "x"),
            SendError::Refused(_)
        ));
        assert!(is_group("cid6KeBB=="));
        assert!(!is_group("manager7"));
    }
}
