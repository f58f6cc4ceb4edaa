//! `duban run`'s HTTP: the operations endpoints (`/healthz`, `/metrics`) and the Telegram
//! webhook, as axum routers over a running [`Service`].
//!
//! The webhook checks Telegram's `X-Telegram-Bot-Api-Secret-Token` header on every request
//! (in constant time) before it reads the body; a wrong or missing one gets 401 and changes
//! nothing. The body must arrive within its time and size. An update is answered 200 once it
//! is applied (or was applied before, by this or another instance) or held back after a
//! failure that does not pass by itself (the service tries it again); after a failure that
//! may pass (the database busy), 500, so that Telegram sends it again.
//!
//! Both servers run on hyper with a time for each request's headers and a cap on
//! connections ([`serve`]), so that slow or idle clients cannot tie them up.

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::{Request, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use chrono::Utc;
use serde_json::json;
use sha2::{Digest, Sha256};

use crate::config::Settings;
use crate::service::intake::{Intake, Taken};
use crate::service::metrics::Gauges;
use crate::service::{SCHEDULE_LEASE, Service};

/// The header Telegram sends the webhook's secret in.
pub const SECRET_HEADER: &str = "x-telegram-bot-api-secret-token";

/// Errors in the webhook's configuration.
#[derive(Debug, thiserror::Error)]
pub enum WebhookError {
    /// The secret has characters Telegram does not allow, or is too long.
    #[error("telegram.webhook_secret must be 1–256 of A-Z, a-z, 0-9, _ and -")]
    Secret,
    /// The URL is not one.
    #[error("the webhook URL {0:?} is not a URL")]
    Url(String),
}

/// The webhook's secret: the configured one, else one derived from the token, so that every
/// instance of one bot agrees on it without configuration.
pub fn webhook_secret(settings: &Settings) -> Result<String, WebhookError> {
    let configured = settings.config.telegram.webhook_secret.expose();
    if !configured.is_empty() {
        let allowed = configured.len() <= 256
            && configured
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
        return match allowed {
            true => Ok(configured.to_string()),
            false => Err(WebhookError::Secret),
        };
    }
    let digest = Sha256::new()
        .chain_update(b"duban webhook secret\0")
        .chain_update(settings.config.telegram.token.expose().as_bytes())
        .finalize();
    Ok(digest.iter().map(|b| format!("{b:02x}")).collect())
}

/// The path part of the webhook URL, where the router listens.
pub fn webhook_path(url: &str) -> Result<String, WebhookError> {
    let parsed = reqwest::Url::parse(url).map_err(|_| WebhookError::Url(url.to_string()))?;
    Ok(parsed.path().to_string())
}

/// Whether two secrets are equal, in time that does not depend on where they differ.
pub(crate) fn same_secret(given: &[u8], expected: &[u8]) -> bool {
    if given.len() != expected.len() {
        return false;
    }
    given
        .iter()
        .zip(expected)
        .fold(0u8, |acc, (a, b)| acc | (a ^ b))
        == 0
}

/// `/healthz` and `/metrics`.
pub fn ops_router(service: Arc<Service>) -> Router {
    Router::new()
        .route("/healthz", get(healthz))
        .route("/metrics", get(metrics))
        .with_state(service)
}

async fn healthz(State(service): State<Arc<Service>>) -> Response {
    let store = &service.store;
    let now = Utc::now();
    let database = store.ping().await;
    let (outbox, last_sweep, last_digest, leases, held) = match &database {
        Ok(()) => (
            store.outbox_health(now).await.ok(),
            store.last_run(crate::service::SWEEP).await.ok().flatten(),
            store.last_run(crate::service::DIGEST).await.ok().flatten(),
            store.leases().await.unwrap_or_default(),
            store.held_count().await.ok(),
        ),
        Err(_) => (None, None, None, Vec::new(), None),
    };
    let body = json!({
        "status": if database.is_ok() { "ok" } else { "unavailable" },
        "database": match &database {
            Ok(()) => "ok".to_string(),
            Err(e) => e.to_string(),
        },
        "instance": service.instance.id,
        "schedule_lease_held": service.instance.holds(SCHEDULE_LEASE),
        "last_sweep": last_sweep.map(|t| t.to_rfc3339()),
        "last_digest": last_digest.map(|t| t.to_rfc3339()),
        "outbox": outbox.map(|o| json!({
            "pending": o.pending,
            "oldest_seconds": o.oldest_seconds,
            "sent": o.sent,
            "dead": o.dead,
        })),
        "held_updates": held,
        "leases": leases
            .iter()
            .filter(|l| l.expires_at > now)
            .map(|l| json!({"lease": l.name, "holder": l.holder, "expires_at": l.expires_at.to_rfc3339()}))
            .collect::<Vec<_>>(),
    });
    let status = match database {
        Ok(()) => StatusCode::OK,
        Err(_) => StatusCode::SERVICE_UNAVAILABLE,
    };
    (status, axum::Json(body)).into_response()
}

async fn metrics(State(service): State<Arc<Service>>) -> Response {
    let now = Utc::now();
    let store = &service.store;
    let outbox = store.outbox_health(now).await.ok();
    let leases = match outbox {
        Some(_) => store
            .leases()
            .await
            .unwrap_or_default()
            .into_iter()
            .filter(|l| l.expires_at > now)
            .collect(),
        None => Vec::new(),
    };
    let text = service.instance.metrics.render(&Gauges {
        outbox,
        leases,
        instance: service.instance.id.clone(),
    });
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        text,
    )
        .into_response()
}

/// How many groups of updates the webhook applies at once on PostgreSQL (on SQLite, one:
/// the writes go one at a time anyway). A group holds one of the pool's connections (16),
/// and the service's loops need theirs. Each group is every update that was waiting when
/// its worker came free ([`crate::service::intake`]), applied in one transaction.
pub const WEBHOOK_CONCURRENCY: usize = 4;

/// The webhook's state: the service, the secret, the limits on a request's body, and the
/// intake that applies updates in groups.
struct Webhook {
    service: Arc<Service>,
    secret: String,
    max_body: usize,
    body_timeout: Duration,
    intake: Intake,
}

/// The webhook at `path`, checking `secret`.
pub fn webhook_router(service: Arc<Service>, path: &str, secret: String) -> Router {
    let http = &service.settings.config.http;
    let state = Arc::new(Webhook {
        max_body: http.max_body_kilobytes.saturating_mul(1024),
        body_timeout: Duration::from_secs(http.body_timeout_seconds.max(1)),
        intake: Intake::start(
            Arc::clone(&service),
            match service.store.backend() {
                crate::store::Backend::Sqlite => 1,
                crate::store::Backend::Postgres => WEBHOOK_CONCURRENCY,
            },
        ),
        service,
        secret,
    });
    Router::new().route(path, post(webhook)).with_state(state)
}

/// One webhook request: the secret is checked on the headers alone, before a byte of the
/// body is read; the body is then read within the configured time and size.
async fn webhook(State(state): State<Arc<Webhook>>, request: Request) -> StatusCode {
    let service = &state.service;
    let given = request
        .headers()
        .get(SECRET_HEADER)
        .map(|v| v.as_bytes())
        .unwrap_or_default();
    if !same_secret(given, state.secret.as_bytes()) {
        service.instance.metrics.webhook_rejected();
        tracing::warn!("a webhook request without the right secret: refused");
        return StatusCode::UNAUTHORIZED;
    }
    let declared = request
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|length| length > state.max_body as u64) {
        tracing::warn!("a webhook request of {declared:?} bytes: refused");
        return StatusCode::PAYLOAD_TOO_LARGE;
    }
    let reading = axum::body::to_bytes(request.into_body(), state.max_body);
    let body = match tokio::time::timeout(state.body_timeout, reading).await {
        Ok(Ok(body)) => body,
        Ok(Err(e)) => {
            tracing::warn!("reading a webhook request: {e}");
            return StatusCode::PAYLOAD_TOO_LARGE;
        }
        Err(_) => {
            tracing::warn!("a webhook request whose body did not arrive in time: dropped");
            return StatusCode::REQUEST_TIMEOUT;
        }
    };
    let read = serde_json::from_slice(&body).and_then(crate::channels::telegram::incoming_json);
    let incoming = match read {
        Ok(incoming) => incoming,
        Err(e) => {
            // Telegram would send it again and again; nothing in it can be applied.
            tracing::warn!("a webhook request that is no update ({e}): dropped");
            return StatusCode::OK;
        }
    };
    if service.channels.get(incoming.channel).is_none() {
        return StatusCode::SERVICE_UNAVAILABLE;
    }
    // 200 only once the update is on disk (applied, held back or skipped): Telegram then
    // forgets it. Otherwise it sends it again, and it is applied once.
    match state.intake.take(incoming).await {
        Taken::Kept => StatusCode::OK,
        Taken::Again => StatusCode::INTERNAL_SERVER_ERROR,
    }
}

/// How an HTTP server treats its clients: time for a request's headers (and for an idle
/// connection), and how many connections at once.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Time for a request's headers; an idle connection is closed after it too.
    pub header_timeout: Duration,
    /// Connections at once; more wait in the kernel's queue.
    pub max_connections: usize,
}

impl Limits {
    /// The limits the configuration sets.
    pub fn from_config(http: &crate::config::HttpConfig) -> Limits {
        Limits {
            header_timeout: Duration::from_secs(http.header_timeout_seconds.max(1)),
            max_connections: http.max_connections.max(1),
        }
    }
}

/// How long a stopping server waits for the requests in flight.
const STOP_PATIENCE: Duration = Duration::from_secs(10);

/// Serves `router` on `listener` until `stop` turns true. A client must send a request's
/// headers within `limits.header_timeout` (an idle connection is closed then); at most
/// `limits.max_connections` are open at once, the rest wait in the kernel's queue, so that
/// half-open connections can neither exhaust file descriptors nor keep out a real request
/// for longer than the timeout.
pub async fn serve(
    listener: tokio::net::TcpListener,
    router: Router,
    limits: Limits,
    mut stop: tokio::sync::watch::Receiver<bool>,
) -> std::io::Result<()> {
    use hyper_util::rt::{TokioIo, TokioTimer};
    use hyper_util::service::TowerToHyperService;
    let connections = Arc::new(tokio::sync::Semaphore::new(limits.max_connections));
    let graceful = hyper_util::server::graceful::GracefulShutdown::new();
    let mut builder = hyper::server::conn::http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(limits.header_timeout);
    let mut failures = 0u32;
    while !*stop.borrow() {
        let permit = tokio::select! {
            permit = Arc::clone(&connections).acquire_owned() => match permit {
                Ok(permit) => permit,
                Err(_) => break,
            },
            _ = stop.changed() => continue,
        };
        let stream = tokio::select! {
            accepted = listener.accept() => accepted,
            _ = stop.changed() => continue,
        };
        let stream = match stream {
            Ok((stream, _)) => {
                failures = 0;
                stream
            }
            Err(e) => {
                // Out of file descriptors, or a connection reset before it was taken: wait a
                // little rather than spin.
                failures += 1;
                if failures == 1 || failures.is_power_of_two() {
                    tracing::warn!("accepting a connection: {e}");
                }
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        let service = TowerToHyperService::new(router.clone());
        let connection = builder.serve_connection(TokioIo::new(stream), service);
        let connection = graceful.watch(connection);
        tokio::spawn(async move {
            if let Err(e) = connection.await {
                tracing::debug!("a connection ended: {e}");
            }
            drop(permit);
        });
    }
    drop(listener);
    if tokio::time::timeout(STOP_PATIENCE, graceful.shutdown())
        .await
        .is_err()
    {
        tracing::warn!("stopping: requests still in flight were cut");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_compare_whole() {
        assert!(same_secret(b"abc", b"abc"));
        assert!(!same_secret(b"abd", b"abc"));
        assert!(!same_secret(b"ab", b"abc"));
        assert!(!same_secret(b"", b"abc"));
    }

    #[test]
    fn the_secret_is_configured_or_derived_from_the_token() {
        let mut settings = Settings::defaults();
        settings.config.telegram.token = crate::config::Secret::new("123:ABC");
        let derived = webhook_secret(&settings).unwrap();
        assert_eq!(derived.len(), 64);
        assert!(!derived.contains("ABC"));
        settings.config.telegram.token = crate::config::Secret::new("123:ABD");
        assert_ne!(webhook_secret(&settings).unwrap(), derived);
        settings.config.telegram.webhook_secret = crate::config::Secret::new("s3cret_-X");
        assert_eq!(webhook_secret(&settings).unwrap(), "s3cret_-X");
        settings.config.telegram.webhook_secret = crate::config::Secret::new("no spaces");
        assert!(webhook_secret(&settings).is_err());
        assert_eq!(
            webhook_path("https://bot.example.org/duban/hook?x=1").unwrap(),
            "/duban/hook"
        );
        assert!(webhook_path("not a url").is_err());
    }
}
