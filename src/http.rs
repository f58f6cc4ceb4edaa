//! `duban run`'s HTTP: the operations endpoints (`/healthz`, `/metrics`) and the Telegram
//! webhook, as axum routers over a running [`Service`].
//!
//! The webhook checks Telegram's `X-Telegram-Bot-Api-Secret-Token` header on every request
//! (in constant time) before it reads the body; a wrong or missing one gets 401 and changes
//! nothing. An update is answered 200 only once it is applied (or was applied before, by
//! this or another instance), so Telegram sends it again after a failure.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use chrono::Utc;
use serde_json::json;
use sha2::{Digest, Sha256};

use crate::channel::Channel;
use crate::config::Settings;
use crate::metrics::Gauges;
use crate::service::{POISON_ATTEMPTS, SCHEDULE_LEASE, Service, handle_batch};

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
fn same_secret(given: &[u8], expected: &[u8]) -> bool {
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
pub fn ops_router<C>(service: Arc<Service<C>>) -> Router
where
    C: Channel + Clone + Send + Sync + 'static,
{
    Router::new()
        .route("/healthz", get(healthz::<C>))
        .route("/metrics", get(metrics::<C>))
        .with_state(service)
}

async fn healthz<C>(State(service): State<Arc<Service<C>>>) -> Response
where
    C: Channel + Clone + Send + Sync + 'static,
{
    let store = &service.store;
    let now = Utc::now();
    let database = store.ping().await;
    let (outbox, last_sweep, last_digest, leases) = match &database {
        Ok(()) => (
            store.outbox_health(now).await.ok(),
            store.last_run(crate::service::SWEEP).await.ok().flatten(),
            store.last_run(crate::service::DIGEST).await.ok().flatten(),
            store.leases().await.unwrap_or_default(),
        ),
        Err(_) => (None, None, None, Vec::new()),
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

async fn metrics<C>(State(service): State<Arc<Service<C>>>) -> Response
where
    C: Channel + Clone + Send + Sync + 'static,
{
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

/// How many updates the webhook applies at once. Applying one may hold two of the
/// database pool's connections (its transaction, and a read beside it; PostgreSQL's pool has
/// 16), and the service's loops need theirs: more at once would leave updates waiting on each
/// other for a connection until the pool times out. Requests beyond these wait their turn.
pub const WEBHOOK_CONCURRENCY: usize = 6;

/// The webhook's state: the service, the secret, how often each failing update failed, and
/// the turns to apply updates.
struct Webhook<C> {
    service: Arc<Service<C>>,
    secret: String,
    failing: Mutex<HashMap<i64, u32>>,
    turns: tokio::sync::Semaphore,
}

/// The webhook at `path`, checking `secret`.
pub fn webhook_router<C>(service: Arc<Service<C>>, path: &str, secret: String) -> Router
where
    C: Channel + Clone + Send + Sync + 'static,
{
    let state = Arc::new(Webhook {
        service,
        secret,
        failing: Mutex::new(HashMap::new()),
        turns: tokio::sync::Semaphore::new(WEBHOOK_CONCURRENCY),
    });
    Router::new()
        .route(path, post(webhook::<C>))
        .with_state(state)
}

async fn webhook<C>(
    State(state): State<Arc<Webhook<C>>>,
    headers: HeaderMap,
    body: Bytes,
) -> StatusCode
where
    C: Channel + Clone + Send + Sync + 'static,
{
    let service = &state.service;
    let given = headers
        .get(SECRET_HEADER)
        .map(|v| v.as_bytes())
        .unwrap_or_default();
    if !same_secret(given, state.secret.as_bytes()) {
        service.instance.metrics.webhook_rejected();
        tracing::warn!("a webhook request without the right secret: refused");
        return StatusCode::UNAUTHORIZED;
    }
    let update: teloxide::types::Update = match serde_json::from_slice(&body) {
        Ok(update) => update,
        Err(e) => {
            // Telegram would send it again and again; nothing in it can be applied.
            tracing::warn!("a webhook request that is no update ({e}): dropped");
            return StatusCode::OK;
        }
    };
    let incoming = crate::telegram::incoming(update);
    let update_id = incoming.update_id;
    let Ok(_turn) = state.turns.acquire().await else {
        return StatusCode::SERVICE_UNAVAILABLE;
    };
    let (_, error) = handle_batch(
        &service.store,
        &service.settings,
        &service.channel,
        std::slice::from_ref(&incoming),
        &service.wake,
    )
    .await;
    let Some((_, e)) = error else {
        service.instance.metrics.applied(1);
        state
            .failing
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(&update_id);
        return StatusCode::OK;
    };
    // As in polling: an update that fails for a reason that will not pass by itself is
    // skipped after a few tries, and its sender told; otherwise Telegram sends it again.
    let times = {
        let mut failing = state.failing.lock().unwrap_or_else(|e| e.into_inner());
        if failing.len() > 10_000 {
            failing.clear();
        }
        let times = failing.entry(update_id).or_insert(0);
        if !e.is_transient() {
            *times += 1;
        }
        *times
    };
    if times < POISON_ATTEMPTS {
        tracing::warn!("applying update {update_id}: {e}; Telegram will send it again");
        return StatusCode::INTERNAL_SERVER_ERROR;
    }
    match service.skip(update_id, incoming.chat_id).await {
        Ok(()) => {
            tracing::error!("update {update_id} failed {times} times ({e}); skipped it");
            state
                .failing
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .remove(&update_id);
            service.wake.notify_one();
            StatusCode::OK
        }
        Err(skip) => {
            tracing::warn!("applying update {update_id}: {e}; skipping it: {skip}");
            StatusCode::INTERNAL_SERVER_ERROR
        }
    }
}

/// Serves `router` on `listener` until `stop` turns true.
pub async fn serve(
    listener: tokio::net::TcpListener,
    router: Router,
    mut stop: tokio::sync::watch::Receiver<bool>,
) -> std::io::Result<()> {
    axum::serve(listener, router)
        .with_graceful_shutdown(async move {
            while !*stop.borrow() {
                if stop.changed().await.is_err() {
                    break;
                }
            }
        })
        .await
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
