//! The chat side of the store: invitations and bindings, the outbox, incoming updates seen,
//! scheduled runs, and the changes a chat reply makes, inside one transaction with the
//! messages it causes.

use chrono::{DateTime, NaiveDate, Utc};
use sqlx::{AnyConnection, Row};

use super::deferred::{Deferred, Owned, Shape, bind_owned};
use super::write::{HistoryKind, StatusChange, set_status_in};
use super::{
    Change, Store, StoreError, date_text, instant_text, nearest, parse_instant, parse_status,
};
use crate::core::chat::{Address, ChannelKind, Message, Sender};
use crate::core::ledger::{Role, Status};
use crate::core::remind::{Planned, Recipient, RecipientKind};

/// A person bound to a chat.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Binding {
    /// The person.
    pub person_id: i64,
    /// Their name.
    pub name: String,
    /// Their role.
    pub role: Role,
    /// The unit a liaison answers for.
    pub unit: Option<String>,
    /// Where a leader or office member sits.
    pub place: Option<String>,
    /// Their one-to-one chat on the channel they were found by.
    pub chat: Option<Address>,
}

/// A new invitation.
#[derive(Debug, Clone)]
pub struct NewInvite<'a> {
    /// The code's SHA-256, hex; the code itself is never stored.
    pub code_hash: &'a str,
    /// The role it grants.
    pub role: Role,
    /// For a liaison: the unit of the ledger.
    pub unit: Option<&'a str>,
    /// For a leader or office member: where they sit.
    pub place: Option<&'a str>,
    /// For a leader: the 责任领导 of the ledger it links to.
    pub person_name: Option<&'a str>,
    /// Who made it.
    pub created_by: &'a str,
    /// When.
    pub at: DateTime<Utc>,
    /// Until when it can be used.
    pub expires_at: DateTime<Utc>,
}

/// What redeeming a code did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Redeemed {
    /// A person is bound in a one-to-one chat.
    Person(Binding),
    /// A group chat is bound to a unit.
    Group {
        /// The unit.
        unit: String,
    },
    /// No such code.
    Unknown,
    /// The code was used already.
    Used,
    /// The code's seven days are over.
    Expired,
    /// A leader's or office member's code was used in a group; it binds a person only.
    NotForGroups,
}

/// A row of the outbox waiting to be sent.
#[derive(Debug, Clone, PartialEq)]
pub struct OutboxRow {
    /// Its id.
    pub id: i64,
    /// Where: a chat on a channel.
    pub chat: Address,
    /// To whom, for one-to-one chats.
    pub person_id: Option<i64>,
    /// What kind of message.
    pub kind: String,
    /// What it says.
    pub message: Message,
    /// Sends tried so far.
    pub attempts: i64,
    /// When it was queued.
    pub created_at: DateTime<Utc>,
}

/// Who a chat that cannot be reached any more cuts off.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Cut {
    /// People bound to the chat.
    pub people: Vec<String>,
    /// Units whose group the chat was.
    pub groups: Vec<String>,
}

impl Cut {
    /// Whether nobody was cut off (the chat was marked before).
    pub fn is_empty(&self) -> bool {
        self.people.is_empty() && self.groups.is_empty()
    }
}

/// A reminder as sent: which measures its positions refer to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SentReminder {
    /// The outbox row.
    pub outbox_id: i64,
    /// When it was queued.
    pub created_at: DateTime<Utc>,
    /// The measures' ids and codes, by position.
    pub items: Vec<(i64, String)>,
}

/// Counts of the outbox by state.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct OutboxCounts {
    /// Waiting to be sent.
    pub pending: i64,
    /// Sent.
    pub sent: i64,
    /// Given up (the person blocked the bot, or Telegram refused the message).
    pub dead: i64,
}

fn role_of(text: &str) -> Result<Role, StoreError> {
    Role::from_code(text).ok_or_else(|| StoreError::Corrupt {
        column: "people.role",
        value: text.to_string(),
    })
}

impl Store {
    /// The names of the ledger's units.
    pub async fn unit_names(&self) -> Result<Vec<String>, StoreError> {
        Ok(sqlx::query_scalar("SELECT name FROM units ORDER BY id")
            .fetch_all(&self.pool)
            .await?)
    }

    /// Stores an invitation. A liaison's unit must be a unit of the ledger.
    pub async fn create_invite(&self, invite: &NewInvite<'_>) -> Result<(), StoreError> {
        let mut unit_id: Option<i64> = None;
        if let Some(unit) = invite.unit {
            unit_id = sqlx::query_scalar("SELECT id FROM units WHERE name = $1")
                .bind(unit)
                .fetch_optional(&self.pool)
                .await?;
            if unit_id.is_none() {
                let names = self.unit_names().await?;
                return Err(StoreError::NoSuchUnit {
                    unit: unit.to_string(),
                    nearest: nearest(unit, names.iter().map(String::as_str)),
                });
            }
        }
        sqlx::query(
            "INSERT INTO invites (code_hash, role, unit_id, place, person_name, created_by, created_at, expires_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        )
        .bind(invite.code_hash)
        .bind(invite.role.code())
        .bind(unit_id)
        .bind(invite.place)
        .bind(invite.person_name)
        .bind(invite.created_by)
        .bind(instant_text(invite.at))
        .bind(instant_text(invite.expires_at))
        .execute(&mut *self.write_conn().await?)
        .await?;
        Ok(())
    }

    /// Binds a chat user as liaison of every unit of the ledger that they are not bound to
    /// yet (the console's user, placed `console`); returns how many bindings were new.
    pub async fn bind_everywhere(
        &self,
        user: &Address,
        chat: &Address,
        name: &str,
        at: DateTime<Utc>,
    ) -> Result<u64, StoreError> {
        let at = instant_text(at);
        let mut tx = self.begin_write().await?;
        let ids: Vec<i64> = sqlx::query_scalar(
            "INSERT INTO people (name, unit_id, role, created_at, place) \
             SELECT $1, u.id, 'liaison', $2, 'console' FROM units u \
             WHERE NOT EXISTS (SELECT 1 FROM people p JOIN identities i ON i.person_id = p.id \
                 WHERE i.channel = $3 AND i.user_id = $4 AND p.unit_id = u.id AND p.role = 'liaison') \
             RETURNING id",
        )
        .bind(name)
        .bind(&at)
        .bind(user.channel.code())
        .bind(&user.id)
        .fetch_all(&mut *tx)
        .await?;
        for id in &ids {
            sqlx::query(
                "INSERT INTO identities (person_id, channel, user_id, chat_id, bound_at) VALUES ($1, $2, $3, $4, $5)",
            )
            .bind(id)
            .bind(user.channel.code())
            .bind(&user.id)
            .bind(&chat.id)
            .bind(&at)
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(ids.len() as u64)
    }

    /// Makes the configured office members of a channel (`telegram.admins`) office members
    /// in the ledger, once: a person placed nowhere, named by their address, bound on that
    /// channel with their one-to-one chat (a Telegram user's private chat has their id).
    /// From then on the office is whoever has the office role. Returns how many were new.
    pub async fn seed_office(
        &self,
        channel: ChannelKind,
        users: &[String],
        at: DateTime<Utc>,
    ) -> Result<u64, StoreError> {
        if users.is_empty() {
            return Ok(0);
        }
        let at = instant_text(at);
        let mut tx = self.begin_write().await?;
        let mut new = 0;
        for user in users {
            let known: Option<i64> = sqlx::query_scalar(
                "SELECT p.id FROM people p JOIN identities i ON i.person_id = p.id \
                 WHERE p.role = 'office' AND i.channel = $1 AND i.user_id = $2 LIMIT 1",
            )
            .bind(channel.code())
            .bind(user)
            .fetch_optional(&mut *tx)
            .await?;
            if known.is_some() {
                continue;
            }
            let address = Address::new(channel, user.clone()).to_string();
            let id: i64 = sqlx::query_scalar(
                "INSERT INTO people (name, role, created_at) VALUES ($1, 'office', $2) RETURNING id",
            )
            .bind(&address)
            .bind(&at)
            .fetch_one(&mut *tx)
            .await?;
            sqlx::query(
                "INSERT INTO identities (person_id, channel, user_id, chat_id, bound_at) VALUES ($1, $2, $3, $3, $4)",
            )
            .bind(id)
            .bind(channel.code())
            .bind(user)
            .bind(&at)
            .execute(&mut *tx)
            .await?;
            new += 1;
        }
        tx.commit().await?;
        Ok(new)
    }

    /// Every binding of a chat user, with the names of their units.
    pub async fn bindings(&self, user: &Address) -> Result<Vec<Binding>, StoreError> {
        let mut conn = self.pool.acquire().await?;
        bindings_in(&mut conn, user).await
    }

    /// Whom a sweep writes to: bound, reachable liaisons (one entry per chat, with all their
    /// units), unit groups, and bound leaders, on every channel they are bound on.
    pub async fn recipients(&self) -> Result<Vec<Recipient>, StoreError> {
        let rows = sqlx::query(
            "SELECT p.id, i.channel, i.chat_id, p.role, u.name, p.name FROM people p \
             JOIN identities i ON i.person_id = p.id LEFT JOIN units u ON u.id = p.unit_id \
             WHERE i.unreachable_at IS NULL AND p.role IN ('liaison', 'leader', 'head') \
             ORDER BY i.channel, i.chat_id, p.id",
        )
        .fetch_all(&self.pool)
        .await?;
        let mut out: Vec<Recipient> = Vec::new();
        for row in &rows {
            let person_id: i64 = row.try_get(0)?;
            let chat = address_of("identities.channel", row.try_get(1)?, row.try_get(2)?)?;
            let role = role_of(row.try_get(3)?)?;
            let unit: Option<String> = row.try_get(4)?;
            let name: String = row.try_get(5)?;
            match (role, unit) {
                (Role::Liaison, Some(unit)) => {
                    gather_unit(&mut out, Some(person_id), chat, unit, |units| {
                        RecipientKind::Liaison { units }
                    })
                }
                (Role::Head, Some(unit)) => {
                    gather_unit(&mut out, Some(person_id), chat, unit, |units| {
                        RecipientKind::Head { units }
                    })
                }
                (Role::Leader, _) => out.push(Recipient {
                    person_id: Some(person_id),
                    chat,
                    kind: RecipientKind::Leader { name },
                }),
                (Role::Liaison | Role::Head | Role::Office, _) => {}
            }
        }
        let groups = sqlx::query(
            "SELECT c.channel, c.chat_id, u.name FROM unit_chats c JOIN units u ON u.id = c.unit_id \
             WHERE c.unreachable_at IS NULL ORDER BY c.channel, c.chat_id, u.id",
        )
        .fetch_all(&self.pool)
        .await?;
        for row in &groups {
            let chat = address_of("unit_chats.channel", row.try_get(0)?, row.try_get(1)?)?;
            let unit: String = row.try_get(2)?;
            gather_unit(&mut out, None, chat, unit, |units| RecipientKind::Group {
                units,
            });
        }
        Ok(out)
    }

    /// The office's chats, for notices (a flag, an extension request, someone who cannot be
    /// reached): the reachable chats of everyone with the office role, on every channel.
    pub async fn office_chats(&self) -> Result<Vec<Address>, StoreError> {
        let mut conn = self.pool.acquire().await?;
        office_chats_in(&mut conn).await
    }

    /// Queues a sweep's messages, once each: a key already in the outbox is skipped, so
    /// planning the same sweep again queues nothing. Marks the run of `day` done in the same
    /// transaction. Returns how many messages were new.
    pub async fn enqueue_sweep(
        &self,
        kind: &str,
        day: NaiveDate,
        planned: &[Planned],
        at: DateTime<Utc>,
    ) -> Result<usize, StoreError> {
        use super::sql::{Kind, Val, fetch, insert_rows, json_batch, json_select};
        let mut tx = self.begin_write().await?;
        let mut fresh = 0;
        let at_text = instant_text(at);
        // The items name measures by code; one read of every id beats a join per batch.
        let measure_ids: std::collections::HashMap<String, i64> =
            match planned.iter().any(|p| !p.items.is_empty()) {
                true => sqlx::query("SELECT code, id FROM measures")
                    .fetch_all(&mut *tx)
                    .await?
                    .iter()
                    .map(|r| Ok((r.try_get::<String, _>(0)?, r.try_get::<i64, _>(1)?)))
                    .collect::<Result<_, StoreError>>()?,
                false => std::collections::HashMap::new(),
            };
        // Messages and their items go in as JSON batches: a sweep to 10,000 liaisons is
        // 30,000 messages and 100,000 items, too many for a statement each.
        for chunk in planned.chunks(500) {
            let bodies: Vec<String> = chunk
                .iter()
                .map(|p| serde_json::to_string(&p.message).expect("a message serializes"))
                .collect();
            let contexts: Vec<Option<String>> = chunk
                .iter()
                .map(|p| p.context.as_ref().map(|c| c.to_string()))
                .collect();
            let rows: Vec<[Val; 8]> = chunk
                .iter()
                .enumerate()
                .map(|(i, p)| {
                    [
                        Val::Text(&p.key),
                        Val::Text(p.chat.channel.code()),
                        Val::Text(&p.chat.id),
                        Val::OptInt(p.person_id),
                        Val::Text(p.kind),
                        Val::Text(&bodies[i]),
                        Val::Text(&at_text),
                        Val::OptText(contexts[i].as_deref()),
                    ]
                })
                .collect();
            let select = json_select(
                self.backend,
                &[
                    ("key", Kind::Text),
                    ("channel", Kind::Text),
                    ("chat_id", Kind::Text),
                    ("person_id", Kind::Int),
                    ("kind", Kind::Text),
                    ("body", Kind::Text),
                    ("at", Kind::Text),
                    ("context", Kind::Text),
                ],
            );
            let sql = format!(
                "INSERT INTO outbox (key, channel, chat_id, person_id, kind, body, state, not_before, created_at, context) \
                 SELECT b.key, b.channel, b.chat_id, b.person_id, b.kind, b.body, 'pending', b.at, b.at, b.context \
                 FROM ({select}) AS b WHERE true ON CONFLICT (key) DO NOTHING RETURNING id, key"
            );
            let batch = json_batch(&rows);
            let inserted = fetch(&mut tx, sql, &[Val::Text(&batch)]).await?;
            fresh += inserted.len();
            let mut ids = std::collections::HashMap::new();
            for row in &inserted {
                ids.insert(row.try_get::<String, _>(1)?, row.try_get::<i64, _>(0)?);
            }
            let items: Vec<[i64; 3]> = chunk
                .iter()
                .filter_map(|p| ids.get(&p.key).map(|id| (*id, p)))
                .flat_map(|(id, p)| {
                    let measure_ids = &measure_ids;
                    p.items
                        .iter()
                        .enumerate()
                        .filter_map(move |(position, code)| {
                            measure_ids
                                .get(code)
                                .map(|measure| [id, position as i64, *measure])
                        })
                })
                .collect();
            let columns = [
                ("outbox_id", Kind::Int),
                ("position", Kind::Int),
                ("measure_id", Kind::Int),
            ];
            insert_rows(&mut tx, self.backend, "outbox_items", &columns, &items, "").await?;
        }
        sqlx::query(
            "INSERT INTO runs (kind, day, started_at, finished_at) VALUES ($1, $2, $3, $3) \
             ON CONFLICT (kind, day) DO UPDATE SET finished_at = excluded.finished_at",
        )
        .bind(kind)
        .bind(date_text(day))
        .bind(instant_text(at))
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(fresh)
    }

    /// Whether the run of `kind` for `day` has finished.
    pub async fn run_done(&self, kind: &str, day: NaiveDate) -> Result<bool, StoreError> {
        let found: Option<String> =
            sqlx::query_scalar("SELECT finished_at FROM runs WHERE kind = $1 AND day = $2")
                .bind(kind)
                .bind(date_text(day))
                .fetch_optional(&self.pool)
                .await?
                .flatten();
        Ok(found.is_some())
    }

    /// Queues one message; `None` when its key is in the outbox already.
    pub async fn enqueue(
        &self,
        key: &str,
        chat: &Address,
        person_id: Option<i64>,
        kind: &str,
        message: &Message,
        at: DateTime<Utc>,
    ) -> Result<Option<i64>, StoreError> {
        let mut conn = self.write_conn().await?;
        enqueue_in(&mut conn, key, chat, person_id, kind, message, at).await
    }

    /// The oldest pending message of each chat of a channel, among those whose time has
    /// come and that no sender is working on: oldest first, answers to senders who are not
    /// bound (kind `stranger`) after all others. Their ids and chats, so that the sender can
    /// pick one its limits allow without reading every body. One row a chat: a chat's later
    /// messages wait for its oldest anyway (its limit), and a burst of confirmations to a
    /// few chats is a few rows to read instead of a thousand.
    pub async fn due_outbox(
        &self,
        channel: ChannelKind,
        now: DateTime<Utc>,
        limit: i64,
    ) -> Result<Vec<(i64, String)>, StoreError> {
        let rows = sqlx::query(
            "SELECT o.id, o.chat_id FROM outbox o JOIN ( \
                 SELECT MIN(id) AS id FROM outbox WHERE state = 'pending' AND channel = $3 \
                 AND not_before <= $1 AND (claimed_until IS NULL OR claimed_until < $1) \
                 GROUP BY chat_id) AS first ON first.id = o.id \
             ORDER BY CASE WHEN o.kind = 'stranger' THEN 1 ELSE 0 END, o.id LIMIT $2",
        )
        .bind(instant_text(now))
        .bind(limit)
        .bind(channel.code())
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| Ok((r.try_get(0)?, r.try_get(1)?)))
            .collect()
    }

    /// One outbox row.
    pub async fn outbox_row(&self, id: i64) -> Result<OutboxRow, StoreError> {
        let row = sqlx::query(
            "SELECT id, channel, chat_id, person_id, kind, body, attempts, created_at FROM outbox WHERE id = $1",
        )
        .bind(id)
        .fetch_one(&self.pool)
        .await?;
        let body: String = row.try_get(5)?;
        Ok(OutboxRow {
            id: row.try_get(0)?,
            chat: address_of("outbox.channel", row.try_get(1)?, row.try_get(2)?)?,
            person_id: row.try_get(3)?,
            kind: row.try_get(4)?,
            message: serde_json::from_str(&body).map_err(|e| StoreError::Corrupt {
                column: "outbox.body",
                value: e.to_string(),
            })?,
            attempts: row.try_get(6)?,
            created_at: parse_instant("outbox.created_at", row.try_get(7)?)?,
        })
    }

    /// When the next pending message of a channel is due, if any is.
    pub async fn next_outbox_time(
        &self,
        channel: ChannelKind,
    ) -> Result<Option<DateTime<Utc>>, StoreError> {
        let next: Option<String> = sqlx::query_scalar(
            "SELECT MIN(not_before) FROM outbox WHERE state = 'pending' AND channel = $1",
        )
        .bind(channel.code())
        .fetch_one(&self.pool)
        .await?;
        next.map(|t| parse_instant("outbox.not_before", &t))
            .transpose()
    }

    /// Records a message as sent, with the channel's id for it.
    pub async fn outbox_sent(
        &self,
        id: i64,
        message_id: &str,
        at: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        sqlx::query("UPDATE outbox SET state = 'sent', sent_at = $1, message_id = $2, attempts = attempts + 1, \
                     claimed_by = NULL, claimed_until = NULL WHERE id = $3")
            .bind(instant_text(at))
            .bind(message_id)
            .bind(id)
            .execute(&mut *self.write_conn().await?)
            .await?;
        Ok(())
    }

    /// Puts a message back for a later try.
    pub async fn outbox_retry(
        &self,
        id: i64,
        not_before: DateTime<Utc>,
        error: &str,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "UPDATE outbox SET not_before = $1, last_error = $2, attempts = attempts + 1, \
                     claimed_by = NULL, claimed_until = NULL WHERE id = $3",
        )
        .bind(instant_text(not_before))
        .bind(error)
        .bind(id)
        .execute(&mut *self.write_conn().await?)
        .await?;
        Ok(())
    }

    /// Gives a message up.
    pub async fn outbox_dead(&self, id: i64, error: &str) -> Result<(), StoreError> {
        sqlx::query(
            "UPDATE outbox SET state = 'dead', last_error = $1, attempts = attempts + 1, \
                     claimed_by = NULL, claimed_until = NULL WHERE id = $2",
        )
        .bind(error)
        .bind(id)
        .execute(&mut *self.write_conn().await?)
        .await?;
        Ok(())
    }

    /// Counts the outbox by state.
    pub async fn outbox_counts(&self) -> Result<OutboxCounts, StoreError> {
        let mut counts = OutboxCounts::default();
        for row in sqlx::query("SELECT state, COUNT(*) FROM outbox GROUP BY state")
            .fetch_all(&self.pool)
            .await?
        {
            let state: String = row.try_get(0)?;
            let n: i64 = row.try_get(1)?;
            match state.as_str() {
                "pending" => counts.pending = n,
                "sent" => counts.sent = n,
                _ => counts.dead = n,
            }
        }
        Ok(counts)
    }

    /// Marks a chat unreachable (the person blocked the bot, the bot left the group): the
    /// people bound to it and the units whose group it is. Its pending messages are given
    /// up. In the same transaction, the office's notice (what `notice` makes of who is cut
    /// off) is queued under `key(office chat)` to each office chat but this one, so that
    /// the office hears of it exactly when it happens.
    pub async fn mark_unreachable(
        &self,
        chat: &Address,
        at: DateTime<Utc>,
        notice: impl FnOnce(&Cut) -> Message,
        key: impl Fn(&Address) -> String,
    ) -> Result<Cut, StoreError> {
        let when = instant_text(at);
        let channel = chat.channel.code();
        let mut tx = self.begin_write().await?;
        let people: Vec<String> = sqlx::query_scalar(
            "SELECT p.name FROM people p JOIN identities i ON i.person_id = p.id \
             WHERE i.channel = $1 AND i.chat_id = $2 AND i.unreachable_at IS NULL ORDER BY p.id",
        )
        .bind(channel)
        .bind(&chat.id)
        .fetch_all(&mut *tx)
        .await?;
        let groups: Vec<String> = sqlx::query_scalar(
            "SELECT u.name FROM unit_chats c JOIN units u ON u.id = c.unit_id \
             WHERE c.channel = $1 AND c.chat_id = $2 AND c.unreachable_at IS NULL ORDER BY u.id",
        )
        .bind(channel)
        .bind(&chat.id)
        .fetch_all(&mut *tx)
        .await?;
        let cut = Cut { people, groups };
        for sql in [
            "UPDATE identities SET unreachable_at = $1 WHERE channel = $2 AND chat_id = $3 AND unreachable_at IS NULL",
            "UPDATE unit_chats SET unreachable_at = $1 WHERE channel = $2 AND chat_id = $3 AND unreachable_at IS NULL",
        ] {
            sqlx::query(sql)
                .bind(&when)
                .bind(channel)
                .bind(&chat.id)
                .execute(&mut *tx)
                .await?;
        }
        sqlx::query(
            "UPDATE outbox SET state = 'dead', last_error = 'the chat cannot be reached', claimed_by = NULL, \
             claimed_until = NULL WHERE channel = $1 AND chat_id = $2 AND state = 'pending'",
        )
        .bind(channel)
        .bind(&chat.id)
        .execute(&mut *tx)
        .await?;
        if !cut.is_empty() {
            let message = notice(&cut);
            for office in office_chats_in(&mut tx).await? {
                if office != *chat {
                    enqueue_in(
                        &mut tx,
                        &key(&office),
                        &office,
                        None,
                        "notice",
                        &message,
                        at,
                    )
                    .await?;
                }
            }
        }
        tx.commit().await?;
        Ok(cut)
    }

    /// A chat got a new id on its channel (a Telegram group became a supergroup): its
    /// bindings and pending messages follow. When the new id is bound already (someone
    /// bound the supergroup), that binding stands and the old id's pending messages are
    /// given up: the new id has its own.
    pub async fn move_chat(&self, from: &Address, to: &str) -> Result<(), StoreError> {
        let channel = from.channel.code();
        let mut tx = self.begin_write().await?;
        let bound: i64 = sqlx::query_scalar(
            "SELECT COUNT(*) FROM unit_chats WHERE channel = $1 AND chat_id = $2",
        )
        .bind(channel)
        .bind(to)
        .fetch_one(&mut *tx)
        .await?;
        for sql in [
            "DELETE FROM unit_chats WHERE channel = $1 AND chat_id = $3 AND unit_id IN \
             (SELECT unit_id FROM unit_chats WHERE channel = $1 AND chat_id = $2)",
            "UPDATE unit_chats SET chat_id = $2 WHERE channel = $1 AND chat_id = $3",
        ] {
            sqlx::query(sql)
                .bind(channel)
                .bind(to)
                .bind(&from.id)
                .execute(&mut *tx)
                .await?;
        }
        let pending = if bound > 0 {
            sqlx::query(
                "UPDATE outbox SET state = 'dead', last_error = 'the group moved to a chat bound already' \
                 WHERE channel = $1 AND chat_id = $2 AND state = 'pending'",
            )
            .bind(channel)
            .bind(&from.id)
        } else {
            sqlx::query(
                "UPDATE outbox SET chat_id = $3, claimed_by = NULL, claimed_until = NULL \
                 WHERE channel = $1 AND chat_id = $2 AND state = 'pending'",
            )
            .bind(channel)
            .bind(&from.id)
            .bind(to)
        };
        pending.execute(&mut *tx).await?;
        tx.commit().await?;
        Ok(())
    }

    /// Records an update as applied without applying it: one that fails the same way every
    /// time must not hold back the ones after it.
    pub async fn skip_update(
        &self,
        channel: ChannelKind,
        update_id: &str,
        at: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO updates (channel, update_id, received_at) VALUES ($1, $2, $3) \
             ON CONFLICT (channel, update_id) DO NOTHING",
        )
        .bind(channel.code())
        .bind(update_id)
        .bind(instant_text(at))
        .execute(&mut *self.write_conn().await?)
        .await?;
        Ok(())
    }

    /// Whether chats of channels other than the console are bound (people or groups): such
    /// a database is served by a chat platform, and the console must not take its messages.
    pub async fn has_chat_bindings(&self) -> Result<bool, StoreError> {
        let people: i64 =
            sqlx::query_scalar("SELECT COUNT(*) FROM identities WHERE channel <> 'console'")
                .fetch_one(&self.pool)
                .await?;
        let groups: i64 =
            sqlx::query_scalar("SELECT COUNT(*) FROM unit_chats WHERE channel <> 'console'")
                .fetch_one(&self.pool)
                .await?;
        Ok(people + groups > 0)
    }

    /// The id of the latest message sent to a chat, to go on numbering after it (the
    /// console numbers its own messages).
    pub async fn last_message_id(&self, chat: &Address) -> Result<Option<String>, StoreError> {
        Ok(sqlx::query_scalar(
            "SELECT message_id FROM outbox WHERE channel = $1 AND chat_id = $2 AND message_id IS NOT NULL \
             ORDER BY sent_at DESC, id DESC LIMIT 1",
        )
        .bind(chat.channel.code())
        .bind(&chat.id)
        .fetch_optional(&self.pool)
        .await?)
    }

    /// Where a channel's updates were read up to: the poller asks for those after it.
    pub async fn cursor(&self, channel: ChannelKind) -> Result<Option<String>, StoreError> {
        Ok(
            sqlx::query_scalar("SELECT last_update FROM cursors WHERE channel = $1")
                .bind(channel.code())
                .fetch_optional(&self.pool)
                .await?,
        )
    }

    /// Records where a channel's updates were read up to (each applied, held back or
    /// skipped).
    pub async fn set_cursor(
        &self,
        channel: ChannelKind,
        update_id: &str,
        at: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let mut conn = self.write_conn().await?;
        set_cursor_in(&mut conn, channel, update_id, at).await
    }

    /// The reminder sent as message `message_id` in `chat`, if any.
    pub async fn sent_reminder(
        &self,
        chat: &Address,
        message_id: &str,
    ) -> Result<Option<SentReminder>, StoreError> {
        let mut conn = self.pool.acquire().await?;
        sent_reminder_in(&mut conn, chat, message_id).await
    }

    /// The latest reminder sent to `chat`: what a reply answers on a channel where replies
    /// do not name the message they answer.
    pub async fn latest_reminder(&self, chat: &Address) -> Result<Option<String>, StoreError> {
        let mut conn = self.pool.acquire().await?;
        latest_reminder_in(&mut conn, chat).await
    }

    /// The id and status of the measure with `code`, if it exists.
    pub async fn find_measure(&self, code: &str) -> Result<Option<(i64, Status)>, StoreError> {
        let mut conn = self.pool.acquire().await?;
        find_measure_in(&mut conn, code).await
    }

    /// Whether an update was applied already.
    pub async fn update_applied(
        &self,
        channel: ChannelKind,
        update_id: &str,
    ) -> Result<bool, StoreError> {
        let found: Option<String> = sqlx::query_scalar(
            "SELECT update_id FROM updates WHERE channel = $1 AND update_id = $2",
        )
        .bind(channel.code())
        .bind(update_id)
        .fetch_optional(&self.pool)
        .await?;
        Ok(found.is_some())
    }

    /// Starts a transaction of changes made at `at` that come from no chat update (the
    /// command line): the same operations as an update's.
    pub async fn begin_change(&self, at: DateTime<Utc>) -> Result<UpdateTx<'static>, StoreError> {
        Ok(UpdateTx {
            tx: TxConn::Own(self.begin_write().await?),
            at,
            backend: self.backend,
            deferred: Vec::new(),
        })
    }

    /// Starts the transaction in which one incoming update is applied alone; `None` when it
    /// was applied before.
    pub async fn begin_update(
        &self,
        channel: ChannelKind,
        update_id: &str,
        at: DateTime<Utc>,
    ) -> Result<Option<UpdateTx<'static>>, StoreError> {
        let mut tx = self.begin_write().await?;
        if !mark_update_in(&mut tx, channel, update_id, at).await? {
            tx.rollback().await?;
            return Ok(None);
        }
        Ok(Some(UpdateTx {
            tx: TxConn::Own(tx),
            at,
            backend: self.backend,
            deferred: Vec::new(),
        }))
    }

    /// Starts a batch of updates applied in one transaction (group commit): the batch costs
    /// one commit, one sync to disk, however many updates it holds. When `careful`, each
    /// update is inside a savepoint of its own, so that one that fails is rolled back alone;
    /// otherwise an update that fails spoils the batch, which is then
    /// [rolled back](UpdateBatch::rollback) and applied again carefully.
    pub async fn begin_batch(&self, careful: bool) -> Result<UpdateBatch, StoreError> {
        Ok(UpdateBatch {
            tx: self.begin_write().await?,
            backend: self.backend,
            careful,
            open: false,
            held: None,
            unreachable: None,
            bindings: Default::default(),
            carried: Vec::new(),
            expected: Vec::new(),
            measures: Default::default(),
            served: Default::default(),
            window: MEASURES_READ_TOGETHER,
        })
    }
}

/// Records an update as seen; `false` when it was seen before.
async fn mark_update_in(
    conn: &mut AnyConnection,
    channel: ChannelKind,
    update_id: &str,
    at: DateTime<Utc>,
) -> Result<bool, StoreError> {
    let inserted = sqlx::query(
        "INSERT INTO updates (channel, update_id, received_at) VALUES ($1, $2, $3) \
         ON CONFLICT (channel, update_id) DO NOTHING",
    )
    .bind(channel.code())
    .bind(update_id)
    .bind(instant_text(at))
    .execute(conn)
    .await?
    .rows_affected();
    Ok(inserted > 0)
}

/// Updates applied together in one transaction (group commit): each update inside a
/// savepoint of its own ([`UpdateBatch::begin_update`]), so that one that fails is rolled
/// back ([`UpdateBatch::roll_back_update`]) while the others commit with the batch. What
/// holds an update back, and where the channel was read up to, are written in the same
/// transaction, so that the batch is one commit.
pub struct UpdateBatch {
    tx: super::WriteTx,
    backend: super::Backend,
    /// Whether each update is inside a savepoint of its own.
    careful: bool,
    /// Whether an update's savepoint is open.
    open: bool,
    /// The chats with an update held back (channel code, chat id), read once a batch: the
    /// batch holds the write lock, and only adds chats already held.
    held: Option<std::collections::HashSet<(String, String)>>,
    /// Whether any chat is marked unreachable, read once a batch: if none is, a message
    /// coming in has nothing to clear.
    unreachable: Option<bool>,
    /// The bindings of the chat users this batch has read, until an update binds or
    /// unbinds someone or is rolled back: a burst of replies comes from a few liaisons.
    bindings: std::collections::HashMap<Address, Vec<Binding>>,
    /// Deferred writes of updates already done (a batch without savepoints): they go with
    /// the next statement an update sends, or before the batch's own next one.
    carried: Vec<Deferred>,
    /// The codes of the measures the batch's updates name ([`UpdateBatch::expect_measures`]):
    /// read together when the first is wanted.
    expected: Vec<String>,
    /// The measures read for this batch by code (`None`: no such measure), kept while no
    /// write of the batch can have changed them: a write to a measure's row forgets that
    /// measure, any other write that could change what a measure reads as forgets them all.
    measures: std::collections::HashMap<String, Option<(i64, crate::core::ledger::Measure)>>,
    /// The codes of the measures already handed to an update: a later read together leaves
    /// them out.
    served: std::collections::HashSet<String>,
    /// How many measures a read together takes at most: halved each time measures read
    /// but not yet handed out are forgotten, so that a batch whose updates keep forgetting
    /// reads in vain little.
    window: usize,
}

/// How many expected measures one read takes at first ([`UpdateBatch::expect_measures`]).
const MEASURES_READ_TOGETHER: usize = 128;

/// The tables a measure is read from ([`UpdateTx::measure_named`]): a deferred write to any
/// of them, but to one measure's row by its id, forgets every measure a batch has read.
const MEASURE_TABLES: [&str; 7] = [
    "measures",
    "units",
    "problems",
    "aspects",
    "measure_units",
    "measure_leaders",
    "people",
];

impl UpdateBatch {
    /// Records the updates `(channel, update id)` as seen, all in one statement; returns
    /// those not seen before, which are the ones to apply. An update marked here that the
    /// batch does not apply must be [unmarked](UpdateBatch::unmark).
    pub async fn mark_updates(
        &mut self,
        updates: &[(ChannelKind, &str)],
        at: DateTime<Utc>,
    ) -> Result<std::collections::HashSet<(ChannelKind, String)>, StoreError> {
        use super::sql::{Kind, Val, insert_rows};
        self.settle().await?;
        if updates.is_empty() {
            return Ok(Default::default());
        }
        let at = instant_text(at);
        let rows: Vec<[Val<'_>; 3]> = updates
            .iter()
            .map(|(channel, id)| [Val::Text(channel.code()), Val::Text(id), Val::Text(&at)])
            .collect();
        let columns = [
            ("channel", Kind::Text),
            ("update_id", Kind::Text),
            ("received_at", Kind::Text),
        ];
        let inserted = insert_rows(
            &mut self.tx,
            self.backend,
            "updates",
            &columns,
            &rows,
            "ON CONFLICT (channel, update_id) DO NOTHING RETURNING channel, update_id",
        )
        .await?;
        let mut fresh = std::collections::HashSet::with_capacity(inserted.len());
        for row in &inserted {
            let channel: String = row.try_get(0)?;
            let channel = ChannelKind::from_code(&channel).ok_or(StoreError::Corrupt {
                column: "updates.channel",
                value: channel,
            })?;
            fresh.insert((channel, row.try_get::<String, _>(1)?));
        }
        Ok(fresh)
    }

    /// Takes back the mark of an update the batch did not apply after all, so that it is
    /// applied when it is tried alone.
    pub async fn unmark(
        &mut self,
        channel: ChannelKind,
        update_id: &str,
    ) -> Result<(), StoreError> {
        self.settle().await?;
        sqlx::query("DELETE FROM updates WHERE channel = $1 AND update_id = $2")
            .bind(channel.code())
            .bind(update_id)
            .execute(&mut *self.tx)
            .await?;
        Ok(())
    }

    /// Starts one update of the batch, [marked](UpdateBatch::mark_updates) as seen, inside
    /// a savepoint when the batch is careful. An update still open (its handling failed) is
    /// rolled back first.
    pub async fn begin_update(&mut self, at: DateTime<Utc>) -> Result<UpdateTx<'_>, StoreError> {
        self.roll_back_update().await?;
        if self.careful {
            sqlx::query("SAVEPOINT duban_update")
                .execute(&mut *self.tx)
                .await?;
            self.open = true;
        }
        let backend = self.backend;
        Ok(UpdateTx {
            tx: TxConn::Savepoint(self),
            at,
            backend,
            deferred: Vec::new(),
        })
    }

    /// Rolls back the update whose handling failed (its savepoint), keeping the updates
    /// before it; nothing when no update is open.
    pub async fn roll_back_update(&mut self) -> Result<(), StoreError> {
        if !self.open {
            return Ok(());
        }
        sqlx::query("ROLLBACK TO SAVEPOINT duban_update")
            .execute(&mut *self.tx)
            .await?;
        sqlx::query("RELEASE SAVEPOINT duban_update")
            .execute(&mut *self.tx)
            .await?;
        self.open = false;
        self.bindings.clear();
        self.forget_measures();
        Ok(())
    }

    /// Whether each update is inside a savepoint of its own.
    pub fn careful(&self) -> bool {
        self.careful
    }

    /// Rolls back an update still open, or sends the writes carried over from the updates
    /// before, so that the batch's own next statement sees them. After the last update, an
    /// error here is that update's (in a batch without savepoints: the batch is to be
    /// applied again with them).
    pub async fn settle(&mut self) -> Result<(), StoreError> {
        self.roll_back_update().await?;
        self.send_carried().await
    }

    /// Sends the writes carried over from the updates before, leaving an open update as it
    /// is: for a read the batch makes for the update in progress.
    async fn send_carried(&mut self) -> Result<(), StoreError> {
        if self.carried.is_empty() {
            return Ok(());
        }
        let carried = std::mem::take(&mut self.carried);
        super::deferred::send(&mut self.tx, self.backend, &carried, None).await?;
        Ok(())
    }

    /// Whether an update's deferred writes are carried over to the next update instead of
    /// sent when it ends: in a batch without savepoints, where a failure rolls the whole
    /// batch back anyway. The writes of many updates then go together: on PostgreSQL, rows of
    /// one table as one multi-row statement.
    fn carries(&self) -> bool {
        !self.careful
    }

    /// Expects the batch's updates to name the measures `codes` (a hint read from their
    /// texts): the first of them an update wants is read with the others, in one statement,
    /// and the others are then served without a statement of their own while no write of
    /// the batch can have changed them. A wrong hint costs a row read in vain. On SQLite
    /// the hint is not taken: there an update's read goes in one call with the writes
    /// carried to it, whose text repeats and stays prepared: 5,800 replies a second in a
    /// burst of 1,000, against 4,600 when read together.
    pub fn expect_measures(&mut self, codes: impl IntoIterator<Item = String>) {
        if self.backend == super::Backend::Sqlite {
            return;
        }
        for code in codes {
            if !self.expected.contains(&code) {
                self.expected.push(code);
            }
        }
    }

    /// Forgets the measure `id`: a write changes it.
    fn forget_measure(&mut self, id: i64) {
        self.measures
            .retain(|_, read| !matches!(read, Some((read_id, _)) if *read_id == id));
    }

    /// Forgets every measure read: a write may have changed any.
    fn forget_measures(&mut self) {
        if self.measures.keys().any(|code| !self.served.contains(code)) {
            self.window = (self.window / 2).max(1);
        }
        self.measures.clear();
    }

    /// Rolls the whole batch back: nothing of it was written.
    pub async fn rollback(self) -> Result<(), StoreError> {
        self.tx.rollback().await?;
        Ok(())
    }

    /// Whether a chat has an update held back, as this batch sees it.
    pub async fn chat_held(
        &mut self,
        channel: ChannelKind,
        chat_id: &str,
    ) -> Result<bool, StoreError> {
        self.settle().await?;
        if chat_id.is_empty() {
            return Ok(false);
        }
        if self.held.is_none() {
            let rows: Vec<(String, String)> =
                sqlx::query_as("SELECT DISTINCT channel, chat_id FROM held_updates")
                    .fetch_all(&mut *self.tx)
                    .await?;
            self.held = Some(rows.into_iter().collect());
        }
        Ok(self
            .held
            .as_ref()
            .is_some_and(|held| held.contains(&(channel.code().to_string(), chat_id.to_string()))))
    }

    /// Whether any person or group is marked unreachable, read once a batch.
    async fn any_unreachable(&mut self) -> Result<bool, StoreError> {
        if let Some(any) = self.unreachable {
            return Ok(any);
        }
        self.send_carried().await?;
        let count: i64 = sqlx::query_scalar(
            "SELECT (SELECT COUNT(*) FROM (SELECT 1 FROM identities WHERE unreachable_at IS NOT NULL LIMIT 1) a) \
             + (SELECT COUNT(*) FROM (SELECT 1 FROM unit_chats WHERE unreachable_at IS NOT NULL LIMIT 1) b)",
        )
        .fetch_one(&mut *self.tx)
        .await?;
        self.unreachable = Some(count > 0);
        Ok(count > 0)
    }

    /// Holds an update back, in this batch.
    pub async fn hold_update(&mut self, held: &super::NewHeldUpdate<'_>) -> Result<(), StoreError> {
        self.settle().await?;
        super::held::hold_update_in(&mut self.tx, held).await?;
        if let Some(chats) = &mut self.held {
            chats.insert((held.channel.code().to_string(), held.chat_id.to_string()));
        }
        Ok(())
    }

    /// Records where a channel's updates were read up to, in this batch.
    pub async fn set_cursor(
        &mut self,
        channel: ChannelKind,
        update_id: &str,
        at: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        self.settle().await?;
        set_cursor_in(&mut self.tx, channel, update_id, at).await
    }

    /// Commits every update of the batch that was not rolled back.
    pub async fn commit(mut self) -> Result<(), StoreError> {
        self.settle().await?;
        self.tx.commit().await?;
        Ok(())
    }
}

/// Records where a channel's updates were read up to.
async fn set_cursor_in(
    conn: &mut AnyConnection,
    channel: ChannelKind,
    update_id: &str,
    at: DateTime<Utc>,
) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO cursors (channel, last_update, updated_at) VALUES ($1, $2, $3) \
         ON CONFLICT (channel) DO UPDATE SET last_update = excluded.last_update, updated_at = excluded.updated_at",
    )
    .bind(channel.code())
    .bind(update_id)
    .bind(instant_text(at))
    .execute(conn)
    .await?;
    Ok(())
}

/// The connection an [`UpdateTx`] works on: a transaction of its own, or a savepoint in a
/// batch.
pub(crate) enum TxConn<'b> {
    Own(super::WriteTx),
    Savepoint(&'b mut UpdateBatch),
}

impl std::ops::Deref for TxConn<'_> {
    type Target = AnyConnection;

    fn deref(&self) -> &AnyConnection {
        match self {
            TxConn::Own(tx) => tx,
            TxConn::Savepoint(batch) => &batch.tx,
        }
    }
}

impl std::ops::DerefMut for TxConn<'_> {
    fn deref_mut(&mut self) -> &mut AnyConnection {
        match self {
            TxConn::Own(tx) => tx,
            TxConn::Savepoint(batch) => &mut batch.tx,
        }
    }
}

/// A chat or person's address from a channel column and an id column.
pub(super) fn address_of(
    column: &'static str,
    channel: String,
    id: String,
) -> Result<Address, StoreError> {
    let channel = ChannelKind::from_code(&channel).ok_or(StoreError::Corrupt {
        column,
        value: channel,
    })?;
    Ok(Address::new(channel, id))
}

/// An address as a workflow or history column keeps it (`telegram:7001`).
pub(super) fn parse_address(
    column: &'static str,
    text: Option<String>,
) -> Result<Option<Address>, StoreError> {
    text.map(|t| {
        Address::parse(&t).ok_or(StoreError::Corrupt {
            column,
            value: t.clone(),
        })
    })
    .transpose()
}

async fn sent_reminder_in(
    conn: &mut AnyConnection,
    chat: &Address,
    message_id: &str,
) -> Result<Option<SentReminder>, StoreError> {
    let row = sqlx::query(
        "SELECT id, created_at FROM outbox WHERE channel = $1 AND chat_id = $2 AND message_id = $3 \
         AND kind = 'reminder' ORDER BY id DESC LIMIT 1",
    )
    .bind(chat.channel.code())
    .bind(&chat.id)
    .bind(message_id)
    .fetch_optional(&mut *conn)
    .await?;
    let Some(row) = row else { return Ok(None) };
    let outbox_id: i64 = row.try_get(0)?;
    let created_at = parse_instant("outbox.created_at", row.try_get(1)?)?;
    let items = sqlx::query(
        "SELECT m.id, m.code FROM outbox_items i JOIN measures m ON m.id = i.measure_id WHERE i.outbox_id = $1 ORDER BY i.position",
    )
    .bind(outbox_id)
    .fetch_all(&mut *conn)
    .await?
    .iter()
    .map(|r| Ok((r.try_get(0)?, r.try_get(1)?)))
    .collect::<Result<Vec<_>, StoreError>>()?;
    Ok(Some(SentReminder {
        outbox_id,
        created_at,
        items,
    }))
}

async fn latest_reminder_in(
    conn: &mut AnyConnection,
    chat: &Address,
) -> Result<Option<String>, StoreError> {
    Ok(sqlx::query_scalar(
        "SELECT message_id FROM outbox WHERE channel = $1 AND chat_id = $2 AND kind = 'reminder' \
         AND state = 'sent' AND message_id IS NOT NULL ORDER BY sent_at DESC, id DESC LIMIT 1",
    )
    .bind(chat.channel.code())
    .bind(&chat.id)
    .fetch_optional(&mut *conn)
    .await?)
}

async fn find_measure_in(
    conn: &mut AnyConnection,
    code: &str,
) -> Result<Option<(i64, Status)>, StoreError> {
    let row = sqlx::query("SELECT id, status FROM measures WHERE code = $1")
        .bind(code)
        .fetch_optional(&mut *conn)
        .await?;
    row.map(|r| {
        Ok((
            r.try_get(0)?,
            parse_status("measures.status", r.try_get(1)?)?,
        ))
    })
    .transpose()
}

/// Adds `unit` to the recipient of the same kind (`kind`) on `chat`, or a new recipient: a
/// liaison of twenty units, or a group bound to several, reads one list.
fn gather_unit(
    out: &mut Vec<Recipient>,
    person_id: Option<i64>,
    chat: Address,
    unit: String,
    kind: fn(Vec<String>) -> RecipientKind,
) {
    let wanted = std::mem::discriminant(&kind(Vec::new()));
    let existing = out
        .iter_mut()
        .find(|r| r.chat == chat && std::mem::discriminant(&r.kind) == wanted);
    match existing.map(|r| &mut r.kind) {
        Some(
            RecipientKind::Liaison { units }
            | RecipientKind::Group { units }
            | RecipientKind::Head { units },
        ) => units.push(unit),
        _ => out.push(Recipient {
            person_id,
            chat,
            kind: kind(vec![unit]),
        }),
    }
}

async fn office_chats_in(conn: &mut AnyConnection) -> Result<Vec<Address>, StoreError> {
    let rows = sqlx::query(
        "SELECT DISTINCT i.channel, i.chat_id FROM people p JOIN identities i ON i.person_id = p.id \
         WHERE p.role = 'office' AND i.unreachable_at IS NULL ORDER BY i.channel, i.chat_id",
    )
    .fetch_all(&mut *conn)
    .await?;
    rows.iter()
        .map(|r| address_of("identities.channel", r.try_get(0)?, r.try_get(1)?))
        .collect()
}

async fn bindings_in(conn: &mut AnyConnection, user: &Address) -> Result<Vec<Binding>, StoreError> {
    let rows = sqlx::query(
        "SELECT p.id, p.name, p.role, u.name, p.place, i.chat_id FROM people p \
         JOIN identities i ON i.person_id = p.id LEFT JOIN units u ON u.id = p.unit_id \
         WHERE i.channel = $1 AND i.user_id = $2 ORDER BY p.id",
    )
    .bind(user.channel.code())
    .bind(&user.id)
    .fetch_all(&mut *conn)
    .await?;
    rows.iter()
        .map(|r| {
            Ok(Binding {
                person_id: r.try_get(0)?,
                name: r.try_get(1)?,
                role: role_of(r.try_get(2)?)?,
                unit: r.try_get(3)?,
                place: r.try_get(4)?,
                chat: Some(Address::new(user.channel, r.try_get::<String, _>(5)?)),
            })
        })
        .collect()
}

/// Queues one message; `None` when its key is in the outbox already.
async fn enqueue_in(
    conn: &mut AnyConnection,
    key: &str,
    chat: &Address,
    person_id: Option<i64>,
    kind: &str,
    message: &Message,
    at: DateTime<Utc>,
) -> Result<Option<i64>, StoreError> {
    let values = outbox_values(key, chat, person_id, kind, message, None, at);
    let row = bind_owned(sqlx::query(OUTBOX_INSERT_RETURNING), &values)
        .fetch_optional(&mut *conn)
        .await?;
    row.map(|r| r.try_get::<i64, _>(0))
        .transpose()
        .map_err(StoreError::from)
}

/// The statement queuing one message ([`outbox_values`]), followed by `$tail`; nothing is
/// queued when its key is in the outbox already.
macro_rules! outbox_insert {
    ($tail:literal) => {
        concat!(
            "INSERT INTO outbox (key, channel, chat_id, person_id, kind, body, state, not_before, created_at, context) \
             VALUES ($1, $2, $3, $4, $5, $6, 'pending', $7, $7, $8) ON CONFLICT (key) DO NOTHING",
            $tail
        )
    };
}

/// Queues one message.
const OUTBOX_INSERT: &str = outbox_insert!("");

/// Queues one message and returns its id (no row when its key is in the outbox already).
const OUTBOX_INSERT_RETURNING: &str = outbox_insert!(" RETURNING id");

/// The values of [`OUTBOX_INSERT`] for one message.
fn outbox_values(
    key: &str,
    chat: &Address,
    person_id: Option<i64>,
    kind: &str,
    message: &Message,
    context: Option<&serde_json::Value>,
    at: DateTime<Utc>,
) -> Vec<Owned> {
    let body = serde_json::to_string(message).expect("a message serializes");
    let text = |t: &str| Owned::Text(Some(t.to_string()));
    vec![
        text(key),
        text(chat.channel.code()),
        text(&chat.id),
        Owned::Int(person_id),
        text(kind),
        Owned::Text(Some(body)),
        Owned::Text(Some(instant_text(at))),
        Owned::Text(context.map(|c| c.to_string())),
    ]
}

/// The transaction applying one incoming update: the changes it makes and the messages it
/// causes commit together, with the update's id, so that it is applied once. In a batch
/// ([`UpdateBatch`]) it is a savepoint, committed with the batch.
pub struct UpdateTx<'b> {
    tx: TxConn<'b>,
    pub(super) at: DateTime<Utc>,
    pub(super) backend: super::Backend,
    /// Writes made and not yet sent: they go with the next statement (see [`Deferred`]).
    deferred: Vec<Deferred>,
}

impl UpdateTx<'_> {
    /// The connection, once the deferred writes are sent. What is done on it is not known,
    /// so a batch forgets the measures it has read.
    pub(super) async fn conn(&mut self) -> Result<&mut AnyConnection, StoreError> {
        if let TxConn::Savepoint(batch) = &mut self.tx {
            batch.forget_measures();
        }
        self.flush().await?;
        Ok(&mut self.tx)
    }

    /// The connection, once the deferred writes are sent, for a read: a batch keeps the
    /// measures it has read.
    pub(super) async fn read_conn(&mut self) -> Result<&mut AnyConnection, StoreError> {
        self.flush().await?;
        Ok(&mut self.tx)
    }

    /// The connection for a read of `tables` only: the deferred writes are sent first when
    /// one of them may write one of those tables, and kept back otherwise (a burst of
    /// replies reads who the sender is between writes to history, notes and the outbox).
    pub(super) async fn read_conn_of(
        &mut self,
        tables: &[&str],
    ) -> Result<&mut AnyConnection, StoreError> {
        let carried = match &self.tx {
            TxConn::Savepoint(batch) => batch.carried.as_slice(),
            TxConn::Own(_) => &[],
        };
        let apart = carried
            .iter()
            .chain(&self.deferred)
            .all(|write| match write.shape() {
                Shape::Rows { table, .. } | Shape::Row { table, .. } | Shape::Table(table) => {
                    !tables.contains(&table)
                }
                Shape::Alone => false,
            });
        if !apart {
            self.flush().await?;
        }
        Ok(&mut self.tx)
    }

    /// Defers a write: it is sent with the next statement of this update (in a batch
    /// without savepoints, perhaps with a later update's). A measure the batch has read and
    /// the write may change is forgotten.
    pub(super) fn defer(&mut self, write: Deferred) {
        if let TxConn::Savepoint(batch) = &mut self.tx {
            match write.shape() {
                Shape::Row {
                    table: "measures",
                    id,
                    ..
                } => batch.forget_measure(id),
                Shape::Rows { table, .. } | Shape::Row { table, .. } | Shape::Table(table)
                    if !MEASURE_TABLES.contains(&table) => {}
                _ => batch.forget_measures(),
            }
        }
        self.deferred.push(write);
    }

    /// The writes to send before this update's next statement: those carried over from the
    /// batch's updates before it, then its own.
    fn take_deferred(&mut self) -> Vec<Deferred> {
        let mut deferred = match &mut self.tx {
            TxConn::Savepoint(batch) => std::mem::take(&mut batch.carried),
            TxConn::Own(_) => Vec::new(),
        };
        deferred.append(&mut self.deferred);
        deferred
    }

    /// Sends the deferred writes, in as few calls as keep their meaning
    /// ([`super::deferred::calls`]).
    async fn flush(&mut self) -> Result<(), StoreError> {
        let deferred = self.take_deferred();
        if deferred.is_empty() {
            return Ok(());
        }
        super::deferred::send(&mut self.tx, self.backend, &deferred, None).await?;
        Ok(())
    }

    /// Sends the deferred writes and then runs the read `sql` with `values`, returning its
    /// rows: on SQLite all in one call. The read changes nothing, so a batch keeps the
    /// measures it has read.
    pub(super) async fn flush_fetch(
        &mut self,
        sql: &str,
        values: &[Owned],
    ) -> Result<Vec<sqlx::any::AnyRow>, StoreError> {
        let deferred = self.take_deferred();
        super::deferred::send(&mut self.tx, self.backend, &deferred, Some((sql, values))).await
    }

    /// The measure named `code` as the batch reads it for the updates it expects to name
    /// it ([`UpdateBatch::expect_measures`]): `None` when this update is not in a batch, or
    /// the batch does not expect `code`. Else `Some` of the measure, or of `None` when there
    /// is no such measure. A measure not read yet is read with the other expected ones not
    /// read yet, in one statement.
    async fn expected_measure(
        &mut self,
        code: &str,
    ) -> Result<Option<Option<(i64, crate::core::ledger::Measure)>>, StoreError> {
        let backend = self.backend;
        let TxConn::Savepoint(batch) = &mut self.tx else {
            return Ok(None);
        };
        if let Some(read) = batch.measures.get(code) {
            let read = read.clone();
            batch.served.insert(code.to_string());
            return Ok(Some(read));
        }
        if !batch.expected.iter().any(|c| c == code) {
            return Ok(None);
        }
        let mut codes = vec![code.to_string()];
        codes.extend(
            batch
                .expected
                .iter()
                .filter(|c| {
                    c.as_str() != code
                        && !batch.served.contains(c.as_str())
                        && !batch.measures.contains_key(c.as_str())
                })
                .take(batch.window - 1)
                .cloned(),
        );
        // As many codes as a power of two (the last one again): few statement texts.
        let mut values: Vec<Owned> = codes.iter().map(|c| Owned::Text(Some(c.clone()))).collect();
        values.resize(
            codes.len().next_power_of_two(),
            Owned::Text(Some(code.to_string())),
        );
        let sql = super::read::measures_named_sql(backend, values.len());
        let rows = self.flush_fetch(&sql, &values).await?;
        let mut read: std::collections::HashMap<String, (i64, crate::core::ledger::Measure)> =
            super::read::listing_from_rows(rows)?
                .into_iter()
                .map(|(id, measure)| (measure.code.clone(), (id, measure)))
                .collect();
        let TxConn::Savepoint(batch) = &mut self.tx else {
            return Ok(None);
        };
        for c in codes {
            let found = read.remove(&c);
            batch.measures.insert(c, found);
        }
        batch.served.insert(code.to_string());
        Ok(batch.measures.get(code).cloned())
    }

    /// When the changes of this transaction happen.
    pub fn at(&self) -> DateTime<Utc> {
        self.at
    }

    /// Every measure, in ledger order, as this transaction sees it.
    pub async fn measures(&mut self) -> Result<Vec<crate::core::ledger::Measure>, StoreError> {
        let backend = self.backend;
        super::read::listing_in(self.read_conn().await?, backend, "", &[]).await
    }

    /// One measure by code, as this transaction sees it.
    pub async fn measure(
        &mut self,
        code: &str,
    ) -> Result<crate::core::ledger::Measure, StoreError> {
        let backend = self.backend;
        super::read::measure_in(self.read_conn().await?, backend, code).await
    }

    /// One measure by its id (its code names it in errors), as this transaction sees it.
    pub async fn measure_by_id(
        &mut self,
        id: i64,
        code: &str,
    ) -> Result<crate::core::ledger::Measure, StoreError> {
        if let Some(Some((read_id, measure))) = self.expected_measure(code).await?
            && read_id == id
        {
            return Ok(measure);
        }
        let backend = self.backend;
        super::read::measure_by_id_in(self.read_conn().await?, backend, id, code).await
    }

    /// The id and the whole of the measure with `code`, if it exists, in one read.
    pub async fn measure_named(
        &mut self,
        code: &str,
    ) -> Result<Option<(i64, crate::core::ledger::Measure)>, StoreError> {
        if let Some(read) = self.expected_measure(code).await? {
            return Ok(read);
        }
        // Sent with the writes before it (on SQLite, one call).
        let sql = super::read::measure_named_sql(self.backend);
        let rows = self
            .flush_fetch(&sql, &[Owned::Text(Some(code.to_string()))])
            .await?;
        Ok(super::read::listing_from_rows(rows)?.pop())
    }

    /// The id and status of the measure with `code`, if it exists.
    pub async fn find_measure(&mut self, code: &str) -> Result<Option<(i64, Status)>, StoreError> {
        if let Some(read) = self.expected_measure(code).await? {
            return Ok(read.map(|(id, measure)| (id, measure.status)));
        }
        find_measure_in(self.read_conn().await?, code).await
    }

    /// The reminder sent as message `message_id` in `chat`, if any.
    pub async fn sent_reminder(
        &mut self,
        chat: &Address,
        message_id: &str,
    ) -> Result<Option<SentReminder>, StoreError> {
        sent_reminder_in(self.read_conn().await?, chat, message_id).await
    }

    /// The latest reminder sent to `chat`.
    pub async fn latest_reminder(&mut self, chat: &Address) -> Result<Option<String>, StoreError> {
        latest_reminder_in(self.read_conn().await?, chat).await
    }

    /// The bindings of a chat user.
    pub async fn bindings(&mut self, user: &Address) -> Result<Vec<Binding>, StoreError> {
        if let TxConn::Savepoint(batch) = &self.tx
            && let Some(found) = batch.bindings.get(user)
        {
            return Ok(found.clone());
        }
        let conn = self
            .read_conn_of(&["people", "identities", "units"])
            .await?;
        let found = bindings_in(conn, user).await?;
        if let TxConn::Savepoint(batch) = &mut self.tx {
            batch.bindings.insert(user.clone(), found.clone());
        }
        Ok(found)
    }

    /// Forgets the bindings a batch has read, before a change to them.
    fn forget_bindings(&mut self) {
        if let TxConn::Savepoint(batch) = &mut self.tx {
            batch.bindings.clear();
        }
    }

    /// Redeems an invitation code (by its hash) for `sender` (on `chat`'s channel) in
    /// `chat`.
    pub async fn redeem(
        &mut self,
        code_hash: &str,
        sender: &Sender,
        chat: &Address,
        group: bool,
    ) -> Result<Redeemed, StoreError> {
        self.forget_bindings();
        let row = sqlx::query(
            "SELECT i.id, i.role, i.unit_id, u.name, i.place, i.person_name, i.expires_at, i.used_at \
             FROM invites i LEFT JOIN units u ON u.id = i.unit_id WHERE i.code_hash = $1",
        )
        .bind(code_hash)
        .fetch_optional(self.conn().await?)
        .await?;
        let Some(row) = row else {
            return Ok(Redeemed::Unknown);
        };
        let invite_id: i64 = row.try_get(0)?;
        let role = role_of(row.try_get(1)?)?;
        let unit_id: Option<i64> = row.try_get(2)?;
        let unit: Option<String> = row.try_get(3)?;
        let place: Option<String> = row.try_get(4)?;
        let person_name: Option<String> = row.try_get(5)?;
        let expires_at = parse_instant("invites.expires_at", row.try_get(6)?)?;
        let used_at: Option<String> = row.try_get(7)?;
        if used_at.is_some() {
            return Ok(Redeemed::Used);
        }
        if expires_at < self.at {
            return Ok(Redeemed::Expired);
        }
        if group && role != Role::Liaison {
            return Ok(Redeemed::NotForGroups);
        }
        let user = Address::new(chat.channel, sender.user_id.clone());
        let at = instant_text(self.at);
        sqlx::query(
            "UPDATE invites SET used_at = $1, used_by = $2, used_in_chat = $3 WHERE id = $4",
        )
        .bind(&at)
        .bind(user.to_string())
        .bind(chat.to_string())
        .bind(invite_id)
        .execute(self.conn().await?)
        .await?;
        if group {
            let unit_id = unit_id.expect("a liaison's invite names a unit");
            // Binding again is how a group the bot had left comes back: it is reachable again.
            sqlx::query(
                "INSERT INTO unit_chats (unit_id, channel, chat_id, bound_at, bound_by) VALUES ($1, $2, $3, $4, $5) \
                 ON CONFLICT (unit_id, channel, chat_id) DO UPDATE SET unreachable_at = NULL, \
                 bound_at = excluded.bound_at, bound_by = excluded.bound_by",
            )
            .bind(unit_id)
            .bind(chat.channel.code())
            .bind(&chat.id)
            .bind(&at)
            .bind(user.to_string())
            .execute(self.conn().await?)
            .await?;
            return Ok(Redeemed::Group {
                unit: unit.unwrap_or_default(),
            });
        }
        // A leader's code may name a 责任领导 of the ledger: that person gets the chat.
        let existing: Option<i64> = match (&person_name, role) {
            (Some(name), Role::Leader) => sqlx::query_scalar("SELECT id FROM people WHERE role = 'leader' AND name = $1")
                .bind(name)
                .fetch_optional(self.conn().await?)
                .await?,
            _ => sqlx::query_scalar(
                "SELECT p.id FROM people p JOIN identities i ON i.person_id = p.id \
                 WHERE i.channel = $1 AND i.user_id = $2 AND p.role = $3 AND COALESCE(p.unit_id, -1) = COALESCE($4, -1)",
            )
            .bind(chat.channel.code())
            .bind(&user.id)
            .bind(role.code())
            .bind(unit_id)
            .fetch_optional(self.conn().await?)
            .await?,
        };
        let mut name = person_name.clone().unwrap_or_else(|| sender.name.clone());
        if existing.is_none() && person_name.is_none() && role == Role::Leader {
            // An unnamed leader's code never takes over a 责任领导 of the ledger: chat names
            // are chosen by their owners. A namesake is told apart by the user id.
            let namesake: Option<i64> =
                sqlx::query_scalar("SELECT id FROM people WHERE role = 'leader' AND name = $1")
                    .bind(&name)
                    .fetch_optional(self.conn().await?)
                    .await?;
            if namesake.is_some() {
                name = format!("{name}({})", sender.user_id);
            }
        }
        let person_id = match existing {
            Some(id) => {
                sqlx::query("UPDATE people SET place = COALESCE($1, place) WHERE id = $2")
                    .bind(place.as_deref())
                    .bind(id)
                    .execute(self.conn().await?)
                    .await?;
                id
            }
            None => {
                let row = sqlx::query(
                    "INSERT INTO people (name, unit_id, role, created_at, place) \
                     VALUES ($1, $2, $3, $4, $5) RETURNING id",
                )
                .bind(&name)
                .bind(unit_id)
                .bind(role.code())
                .bind(&at)
                .bind(place.as_deref())
                .fetch_one(self.conn().await?)
                .await?;
                row.try_get(0)?
            }
        };
        // One identity per channel: binding again on the same channel replaces it.
        sqlx::query(
            "INSERT INTO identities (person_id, channel, user_id, chat_id, bound_at) VALUES ($1, $2, $3, $4, $5) \
             ON CONFLICT (person_id, channel) DO UPDATE SET user_id = excluded.user_id, \
             chat_id = excluded.chat_id, bound_at = excluded.bound_at, unreachable_at = NULL",
        )
        .bind(person_id)
        .bind(chat.channel.code())
        .bind(&user.id)
        .bind(&chat.id)
        .bind(&at)
        .execute(self.conn().await?)
        .await?;
        Ok(Redeemed::Person(Binding {
            person_id,
            name,
            role,
            unit,
            place,
            chat: Some(chat.clone()),
        }))
    }

    /// Unbinds a chat user on their channel: their identities there end; their people rows
    /// (and leaders from the ledger) stay. Returns how many bindings ended.
    pub async fn unbind(&mut self, user: &Address) -> Result<u64, StoreError> {
        self.forget_bindings();
        let done = sqlx::query("DELETE FROM identities WHERE channel = $1 AND user_id = $2")
            .bind(user.channel.code())
            .bind(&user.id)
            .execute(self.conn().await?)
            .await?
            .rows_affected();
        Ok(done)
    }

    /// A message came from this chat, so the bot can write to it again (a person who had
    /// blocked the bot and unblocked it, a group that took the bot back).
    pub async fn reachable(&mut self, chat: &Address) -> Result<(), StoreError> {
        if let TxConn::Savepoint(batch) = &mut self.tx
            && !batch.any_unreachable().await?
        {
            return Ok(());
        }
        for sql in [
            "UPDATE identities SET unreachable_at = NULL WHERE channel = $1 AND chat_id = $2 AND unreachable_at IS NOT NULL",
            "UPDATE unit_chats SET unreachable_at = NULL WHERE channel = $1 AND chat_id = $2 AND unreachable_at IS NOT NULL",
        ] {
            sqlx::query(sql)
                .bind(chat.channel.code())
                .bind(&chat.id)
                .execute(self.conn().await?)
                .await?;
        }
        Ok(())
    }

    /// The units whose group this chat is.
    pub async fn group_units(&mut self, chat: &Address) -> Result<Vec<String>, StoreError> {
        Ok(sqlx::query_scalar(
            "SELECT u.name FROM unit_chats c JOIN units u ON u.id = c.unit_id \
             WHERE c.channel = $1 AND c.chat_id = $2 ORDER BY u.id",
        )
        .bind(chat.channel.code())
        .bind(&chat.id)
        .fetch_all(self.read_conn().await?)
        .await?)
    }

    /// Ends a group's binding to its units; returns how many ended.
    pub async fn unbind_group(&mut self, chat: &Address) -> Result<u64, StoreError> {
        Ok(
            sqlx::query("DELETE FROM unit_chats WHERE channel = $1 AND chat_id = $2")
                .bind(chat.channel.code())
                .bind(&chat.id)
                .execute(self.conn().await?)
                .await?
                .rows_affected(),
        )
    }

    /// Sets a measure's status, with the history row.
    pub async fn set_status(
        &mut self,
        measure_id: i64,
        to: Status,
        change: &Change,
    ) -> Result<StatusChange, StoreError> {
        // The status is read again right before it is changed (another transaction may have
        // changed it since the batch read the measure), and only this measure is forgotten.
        if let TxConn::Savepoint(batch) = &mut self.tx {
            batch.forget_measure(measure_id);
        }
        set_status_in(self.read_conn().await?, measure_id, to, change).await
    }

    /// Adds a progress note.
    pub async fn add_note(
        &mut self,
        measure_id: i64,
        body: &str,
        change: &Change,
    ) -> Result<(), StoreError> {
        for write in super::write::note_writes(measure_id, body, change) {
            self.defer(write);
        }
        Ok(())
    }

    /// Writes a history row that changes no status.
    pub async fn record(
        &mut self,
        measure_id: i64,
        kind: HistoryKind,
        status: Status,
        change: &Change,
    ) -> Result<(), StoreError> {
        self.defer(super::write::history_write(
            measure_id, kind, status, status, change,
        ));
        Ok(())
    }

    /// A measure's current status.
    pub async fn status(&mut self, measure_id: i64) -> Result<Status, StoreError> {
        let text: String = sqlx::query_scalar("SELECT status FROM measures WHERE id = $1")
            .bind(measure_id)
            .fetch_one(self.read_conn().await?)
            .await?;
        parse_status("measures.status", &text)
    }

    /// Queues a message (with what it is about, if anything), to go out once this update
    /// commits, as a deferred write: nothing is queued when its key was used before, and the
    /// caller does not learn which.
    pub fn enqueue_later(
        &mut self,
        key: &str,
        chat: &Address,
        person_id: Option<i64>,
        kind: &str,
        message: &Message,
        context: Option<&serde_json::Value>,
    ) {
        let values = outbox_values(key, chat, person_id, kind, message, context, self.at);
        self.defer(Deferred::new(OUTBOX_INSERT, values));
    }

    /// Queues a message, to go out once this update commits.
    pub async fn enqueue(
        &mut self,
        key: &str,
        chat: &Address,
        person_id: Option<i64>,
        kind: &str,
        message: &Message,
    ) -> Result<Option<i64>, StoreError> {
        self.enqueue_with(key, chat, person_id, kind, message, None)
            .await
    }

    /// Queues a message with what it is about (JSON), if any, sent with the deferred
    /// writes; `None` when its key is in the outbox already.
    pub(super) async fn enqueue_with(
        &mut self,
        key: &str,
        chat: &Address,
        person_id: Option<i64>,
        kind: &str,
        message: &Message,
        context: Option<&serde_json::Value>,
    ) -> Result<Option<i64>, StoreError> {
        let values = outbox_values(key, chat, person_id, kind, message, context, self.at);
        let rows = self.flush_fetch(OUTBOX_INSERT_RETURNING, &values).await?;
        rows.first()
            .map(|r| r.try_get::<i64, _>(0))
            .transpose()
            .map_err(StoreError::from)
    }

    /// The office's chats: everyone with the office role, on every channel.
    pub async fn office_chats(&mut self) -> Result<Vec<Address>, StoreError> {
        office_chats_in(self.read_conn().await?).await
    }

    /// Commits the update; in a batch, keeps its changes for the batch's commit.
    pub async fn commit(mut self) -> Result<(), StoreError> {
        if let TxConn::Savepoint(batch) = &mut self.tx
            && batch.carries()
        {
            batch.carried.append(&mut self.deferred);
            return Ok(());
        }
        self.flush().await?;
        match self.tx {
            TxConn::Own(tx) => tx.commit().await?,
            TxConn::Savepoint(batch) if batch.open => {
                sqlx::query("RELEASE SAVEPOINT duban_update")
                    .execute(&mut *batch.tx)
                    .await?;
                batch.open = false;
            }
            TxConn::Savepoint(_) => {}
        }
        Ok(())
    }
}
