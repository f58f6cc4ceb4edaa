//! Getting in: invitation codes that bind a person or a group in a chat (`duban invite`,
//! the workbench's 人员 page), and one-time sign-in links to the web workbench (`duban
//! web-link`, the console, `/web` in a chat). Codes and tokens are random; only their
//! SHA-256 is stored.

use chrono::{DateTime, Duration, Utc};
use sha2::{Digest, Sha256};

use crate::config::Settings;
use crate::core::ledger::Role;
use crate::store::{NewInvite, NewWebLink, Store, StoreError, UpdateTx};

/// Errors in making a sign-in link.
#[derive(Debug, thiserror::Error)]
pub enum SignInError {
    /// A liaison's link needs the unit they answer for.
    #[error("a liaison's sign-in link needs --unit")]
    UnitNeeded,
    /// The store failed, or the unit does not exist.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// The address people open the workbench at: `web.base_url`, else the listen address over
/// http (127.0.0.1:8080 when none is set).
pub fn base_url(settings: &Settings) -> String {
    let configured = settings.config.web.base_url.trim().trim_end_matches('/');
    if !configured.is_empty() {
        return configured.to_string();
    }
    let listen = match settings.config.web.listen.trim() {
        "" => "127.0.0.1:8080",
        listen => listen,
    };
    let listen = listen.replace("0.0.0.0", "127.0.0.1");
    format!("http://{listen}")
}

/// A random secret of 32 bytes, in hex.
pub fn secret() -> String {
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes).expect("the system's random source");
    hex(&bytes)
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The SHA-256 of bytes, in hex (a file's fingerprint, a secret's stored form).
pub fn sha256_hex(bytes: &[u8]) -> String {
    hex(&Sha256::digest(bytes))
}

/// The SHA-256 of a secret, in hex: what the database keeps.
pub fn hash(secret: &str) -> String {
    sha256_hex(secret.as_bytes())
}

/// Makes a one-time sign-in link for `name` in `role` (a liaison with their `unit`), valid
/// for `web.link_minutes`; returns its URL.
pub async fn sign_in_link(
    store: &Store,
    settings: &Settings,
    name: &str,
    role: Role,
    unit: Option<&str>,
    by: &str,
    now: DateTime<Utc>,
) -> Result<String, SignInError> {
    let (token, url) = new_link(settings, role, unit)?;
    store
        .create_web_link(&NewWebLink {
            token_hash: &hash(&token),
            name,
            role,
            unit: unit.filter(|_| role.has_unit()),
            created_by: by,
            created_at: now,
            expires_at: now + Duration::minutes(i64::from(settings.config.web.link_minutes)),
        })
        .await?;
    Ok(url)
}

/// A new link's token and URL; a liaison's link needs their unit.
fn new_link(
    settings: &Settings,
    role: Role,
    unit: Option<&str>,
) -> Result<(String, String), SignInError> {
    if role.has_unit() && unit.is_none() {
        return Err(SignInError::UnitNeeded);
    }
    let token = secret();
    let url = format!("{}/signin/{token}", base_url(settings));
    Ok((token, url))
}

/// Makes a sign-in link within a chat update's transaction (the bot's `/web`); returns its
/// URL.
pub async fn sign_in_link_in(
    tx: &mut UpdateTx<'_>,
    settings: &Settings,
    name: &str,
    role: Role,
    unit: Option<&str>,
    by: &str,
    now: DateTime<Utc>,
) -> Result<String, SignInError> {
    let (token, url) = new_link(settings, role, unit)?;
    tx.create_web_link(&NewWebLink {
        token_hash: &hash(&token),
        name,
        role,
        unit: unit.filter(|_| role.has_unit()),
        created_by: by,
        created_at: now,
        expires_at: now + Duration::minutes(i64::from(settings.config.web.link_minutes)),
    })
    .await?;
    Ok(url)
}

/// A random invitation code: 12 characters of an alphabet without 0/O, 1/I/L.
pub fn invitation_code() -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHJKMNPQRSTUVWXYZ23456789";
    let mut bytes = [0u8; 12];
    getrandom::fill(&mut bytes).expect("the system's random source");
    bytes
        .iter()
        .map(|b| ALPHABET[*b as usize % ALPHABET.len()] as char)
        .collect()
}

/// An invitation made: its code (shown once) and until when it can be used.
#[derive(Debug, Clone)]
pub struct Invitation {
    /// The code to send the bot.
    pub code: String,
    /// Until when it binds.
    pub expires_at: DateTime<Utc>,
}

/// Makes a one-time invitation code valid 7 days: for a liaison of `place` (a unit of the
/// ledger), or a leader or office member sitting at `place` (a leader linked to the
/// ledger's 责任领导 `name`).
pub async fn invite(
    store: &Store,
    role: Role,
    place: &str,
    name: Option<&str>,
    by: &str,
    now: DateTime<Utc>,
) -> Result<Invitation, StoreError> {
    let liaison = role.has_unit();
    let code = invitation_code();
    let expires_at = now + Duration::days(7);
    let hash = crate::app::bot::code_hash(&code);
    store
        .create_invite(&NewInvite {
            code_hash: &hash,
            role,
            unit: liaison.then_some(place),
            place: (!liaison).then_some(place),
            person_name: name,
            created_by: by,
            at: now,
            expires_at,
        })
        .await?;
    Ok(Invitation { code, expires_at })
}
