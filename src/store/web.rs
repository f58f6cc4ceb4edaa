//! The web workbench's sign-in: one-time links and the sessions they open. Only hashes of
//! their secrets are stored; the caller hashes what the browser brings.

use chrono::{DateTime, Utc};
use sqlx::Row;

use super::{Store, StoreError, instant_text, parse_instant};
use crate::core::ledger::Role;

/// A sign-in link to create.
#[derive(Debug, Clone)]
pub struct NewWebLink<'a> {
    /// The SHA-256 of the link's token, in hex.
    pub token_hash: &'a str,
    /// Who signs in with it, as the history will name them.
    pub name: &'a str,
    /// Their role.
    pub role: Role,
    /// For a liaison, the unit they answer for.
    pub unit: Option<&'a str>,
    /// Who made the link.
    pub created_by: &'a str,
    /// When.
    pub created_at: DateTime<Utc>,
    /// Until when it signs in.
    pub expires_at: DateTime<Utc>,
}

/// A signed-in browser, as the workbench sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebSession {
    /// Who it is.
    pub name: String,
    /// Their role.
    pub role: Role,
    /// For a liaison, their unit.
    pub unit: Option<String>,
    /// The token every form of the session carries.
    pub csrf: String,
    /// Until when it lasts.
    pub expires_at: DateTime<Utc>,
}

/// Stores a sign-in link on a connection. A unit the ledger does not name is refused.
async fn create_web_link_in(
    conn: &mut sqlx::AnyConnection,
    link: &NewWebLink<'_>,
) -> Result<(), StoreError> {
    let unit_id = match link.unit {
        Some(unit) => Some(super::workflow::unit_id_in(conn, unit).await?),
        None => None,
    };
    sqlx::query(
        "INSERT INTO web_links (token_hash, name, role, unit_id, created_by, created_at, expires_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7)",
    )
    .bind(link.token_hash)
    .bind(link.name)
    .bind(link.role.code())
    .bind(unit_id)
    .bind(link.created_by)
    .bind(instant_text(link.created_at))
    .bind(instant_text(link.expires_at))
    .execute(&mut *conn)
    .await?;
    Ok(())
}

impl super::UpdateTx<'_> {
    /// Stores a sign-in link within the transaction (the bot's `/web`).
    pub async fn create_web_link(&mut self, link: &NewWebLink<'_>) -> Result<(), StoreError> {
        create_web_link_in(self.conn().await?, link).await
    }
}

impl Store {
    /// Stores a sign-in link. A unit the ledger does not name is refused.
    pub async fn create_web_link(&self, link: &NewWebLink<'_>) -> Result<(), StoreError> {
        let mut conn = self.write_conn().await?;
        create_web_link_in(&mut conn, link).await
    }

    /// Uses a sign-in link, once, and opens a session for it (`session_hash` its cookie's
    /// hash, `csrf` its forms' token, lasting until `until`). `None` when the link is not
    /// one, was used, or has expired.
    pub async fn redeem_web_link(
        &self,
        token_hash: &str,
        session_hash: &str,
        csrf: &str,
        now: DateTime<Utc>,
        until: DateTime<Utc>,
    ) -> Result<Option<WebSession>, StoreError> {
        let mut tx = self.begin_write().await?;
        let used = sqlx::query(
            "UPDATE web_links SET used_at = $1 \
             WHERE token_hash = $2 AND used_at IS NULL AND expires_at > $1 \
             RETURNING name, role, unit_id",
        )
        .bind(instant_text(now))
        .bind(token_hash)
        .fetch_optional(&mut *tx)
        .await?;
        let Some(row) = used else {
            return Ok(None);
        };
        let name: String = row.try_get("name")?;
        let role: String = row.try_get("role")?;
        let unit_id: Option<i64> = row.try_get("unit_id")?;
        sqlx::query(
            "INSERT INTO web_sessions (token_hash, name, role, unit_id, csrf, created_at, expires_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7)",
        )
        .bind(session_hash)
        .bind(&name)
        .bind(&role)
        .bind(unit_id)
        .bind(csrf)
        .bind(instant_text(now))
        .bind(instant_text(until))
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        self.web_session(session_hash, now).await
    }

    /// The live session whose cookie hashes to `session_hash`.
    pub async fn web_session(
        &self,
        session_hash: &str,
        now: DateTime<Utc>,
    ) -> Result<Option<WebSession>, StoreError> {
        let row = sqlx::query(
            "SELECT s.name, s.role, u.name AS unit, s.csrf, s.expires_at FROM web_sessions s \
             LEFT JOIN units u ON u.id = s.unit_id \
             WHERE s.token_hash = $1 AND s.revoked_at IS NULL AND s.expires_at > $2",
        )
        .bind(session_hash)
        .bind(instant_text(now))
        .fetch_optional(&self.pool)
        .await?;
        let Some(row) = row else {
            return Ok(None);
        };
        let role: String = row.try_get("role")?;
        let expires: String = row.try_get("expires_at")?;
        Ok(Some(WebSession {
            name: row.try_get("name")?,
            role: Role::from_code(&role).ok_or(StoreError::Corrupt {
                column: "web_sessions.role",
                value: role.clone(),
            })?,
            unit: row.try_get("unit")?,
            csrf: row.try_get("csrf")?,
            expires_at: parse_instant("web_sessions.expires_at", &expires)?,
        }))
    }

    /// Ends one session (signing out).
    pub async fn end_web_session(
        &self,
        session_hash: &str,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "UPDATE web_sessions SET revoked_at = $1 WHERE token_hash = $2 AND revoked_at IS NULL",
        )
        .bind(instant_text(now))
        .bind(session_hash)
        .execute(&mut *self.write_conn().await?)
        .await?;
        Ok(())
    }

    /// Ends every session of `name`, and voids their unused links; returns how many sessions
    /// ended.
    pub async fn end_web_sessions_of(
        &self,
        name: &str,
        now: DateTime<Utc>,
    ) -> Result<u64, StoreError> {
        let mut tx = self.begin_write().await?;
        let ended = sqlx::query(
            "UPDATE web_sessions SET revoked_at = $1 \
             WHERE name = $2 AND revoked_at IS NULL AND expires_at > $1",
        )
        .bind(instant_text(now))
        .bind(name)
        .execute(&mut *tx)
        .await?
        .rows_affected();
        sqlx::query("UPDATE web_links SET used_at = $1 WHERE name = $2 AND used_at IS NULL")
            .bind(instant_text(now))
            .bind(name)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(ended)
    }

    /// A mark that changes whenever the ledger as the workbench shows it may have changed
    /// (measures, statuses, notes, claims, imports), cheap enough to ask on every page.
    pub async fn ledger_version(&self) -> Result<String, StoreError> {
        let row = sqlx::query(
            "SELECT (SELECT COUNT(*) FROM measures) AS measures, \
             (SELECT COALESCE(MAX(id), 0) FROM history) AS history, \
             (SELECT COALESCE(MAX(id), 0) FROM progress_notes) AS notes, \
             (SELECT COALESCE(MAX(id), 0) FROM imports) AS imports, \
             (SELECT COALESCE(MAX(id), 0) FROM claims) AS claims",
        )
        .fetch_one(&self.pool)
        .await?;
        let mut parts = Vec::new();
        for column in ["measures", "history", "notes", "imports", "claims"] {
            let n: i64 = row.try_get(column)?;
            parts.push(n.to_string());
        }
        Ok(parts.join(":"))
    }
}

/// What waits for the office: pending claims (oldest first), pending extension requests,
/// and coordination flags not yet raised into a request.
#[derive(Debug, Clone, Default)]
pub struct OfficeQueue {
    /// Claims waiting for verification, oldest first.
    pub claims: Vec<crate::core::workflow::Claim>,
    /// Extension requests waiting for a decision, oldest first.
    pub extensions: Vec<crate::core::workflow::ExtensionRequest>,
    /// Coordination flags not yet listed as requests, oldest first.
    pub flags: Vec<super::Flag>,
}

impl Store {
    /// What waits for the office now.
    pub async fn office_queue(&self) -> Result<OfficeQueue, StoreError> {
        let mut conn = self.pool.acquire().await?;
        let ids = |sql: &'static str| sqlx::query_scalar::<_, i64>(sql);
        let claims = ids("SELECT id FROM claims WHERE state = 'pending' ORDER BY claimed_at, id")
            .fetch_all(&mut *conn)
            .await?;
        let extensions =
            ids("SELECT id FROM extension_requests WHERE state = 'pending' ORDER BY id")
                .fetch_all(&mut *conn)
                .await?;
        let flags = ids("SELECT id FROM coordination_flags WHERE request_id IS NULL ORDER BY id")
            .fetch_all(&mut *conn)
            .await?;
        let mut queue = OfficeQueue::default();
        for id in claims {
            queue
                .claims
                .extend(super::workflow::claim_in(&mut conn, id).await?);
        }
        for id in extensions {
            queue
                .extensions
                .extend(super::workflow::extension_in(&mut conn, id).await?);
        }
        for id in flags {
            queue
                .flags
                .extend(super::workflow::flag_in(&mut conn, id).await?);
        }
        Ok(queue)
    }

    /// A piece of evidence of a measure by its place in the measure's list (from 1): its
    /// file name, kind and stored path.
    pub async fn evidence_file(
        &self,
        code: &str,
        number: usize,
    ) -> Result<Option<(String, String, String)>, StoreError> {
        let list = self.evidence(code).await?;
        let Some(item) = number.checked_sub(1).and_then(|i| list.get(i)) else {
            return Ok(None);
        };
        let text = |key: &str| item[key].as_str().unwrap_or_default().to_string();
        Ok(Some((text("file_name"), text("kind"), text("path"))))
    }
}

/// One line of the workbench's 人员 page: a person's identity on a channel, or a unit's
/// group.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DirectoryEntry {
    /// The unit (a liaison's, or a group's), or where a leader or office member sits.
    pub place: String,
    /// The person's name; empty for a group.
    pub name: String,
    /// The person's role; `None` for a group.
    pub role: Option<Role>,
    /// The channel.
    pub channel: String,
    /// The chat on it.
    pub chat: String,
    /// When it was bound.
    pub bound_at: String,
    /// When duban found it could not reach it, if it could not.
    pub unreachable_at: Option<String>,
}

impl Store {
    /// Everyone bound, on every channel, and every unit's groups, by place.
    pub async fn directory(&self) -> Result<Vec<DirectoryEntry>, StoreError> {
        let people = sqlx::query(
            "SELECT COALESCE(u.name, p.place, ''), p.name, p.role, i.channel, i.chat_id, i.bound_at, i.unreachable_at \
             FROM people p JOIN identities i ON i.person_id = p.id LEFT JOIN units u ON u.id = p.unit_id \
             ORDER BY 1, p.role, p.name, i.channel",
        )
        .fetch_all(&self.pool)
        .await?;
        let mut out = Vec::with_capacity(people.len());
        for row in &people {
            let role: String = row.try_get(2)?;
            out.push(DirectoryEntry {
                place: row.try_get(0)?,
                name: row.try_get(1)?,
                role: Role::from_code(&role),
                channel: row.try_get(3)?,
                chat: row.try_get(4)?,
                bound_at: row.try_get(5)?,
                unreachable_at: row.try_get(6)?,
            });
        }
        let groups = sqlx::query(
            "SELECT u.name, c.channel, c.chat_id, c.bound_at, c.unreachable_at FROM unit_chats c \
             JOIN units u ON u.id = c.unit_id ORDER BY u.name, c.channel",
        )
        .fetch_all(&self.pool)
        .await?;
        for row in &groups {
            out.push(DirectoryEntry {
                place: row.try_get(0)?,
                name: String::new(),
                role: None,
                channel: row.try_get(1)?,
                chat: row.try_get(2)?,
                bound_at: row.try_get(3)?,
                unreachable_at: row.try_get(4)?,
            });
        }
        out.sort_by(|a, b| {
            a.place
                .cmp(&b.place)
                .then(a.role.is_none().cmp(&b.role.is_none()))
        });
        Ok(out)
    }
}
