//! The periodic 通报: its numbering per year, what it names, and whom it reaches.

use chrono::{DateTime, NaiveDate, Utc};
use sqlx::Row;

use super::{Store, StoreError, date_text, instant_text};
use crate::core::chat::Address;

/// A notice's place in the year.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NoticeNumber {
    /// Its number in the year, from 1.
    pub number: i64,
    /// Whether it was issued now (false: the period's notice was issued before).
    pub new: bool,
}

impl Store {
    /// The number of the notice of a period: the one it got when first issued, else the
    /// next of `year`. With `dry_run`, nothing is stored.
    pub async fn notice_number(
        &self,
        period: &str,
        from: NaiveDate,
        to: NaiveDate,
        year: i32,
        at: DateTime<Utc>,
        dry_run: bool,
    ) -> Result<NoticeNumber, StoreError> {
        let mut tx = self.begin_write().await?;
        let issued: Option<i64> =
            sqlx::query_scalar("SELECT number FROM notices WHERE period = $1 AND period_from = $2")
                .bind(period)
                .bind(date_text(from))
                .fetch_optional(&mut *tx)
                .await?;
        if let Some(number) = issued {
            tx.rollback().await?;
            return Ok(NoticeNumber { number, new: false });
        }
        let last: Option<i64> =
            sqlx::query_scalar("SELECT MAX(number) FROM notices WHERE year = $1")
                .bind(i64::from(year))
                .fetch_one(&mut *tx)
                .await?;
        let number = last.unwrap_or(0) + 1;
        if dry_run {
            tx.rollback().await?;
            return Ok(NoticeNumber { number, new: true });
        }
        sqlx::query(
            "INSERT INTO notices (period, period_from, period_to, year, number, issued_at) \
             VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(period)
        .bind(date_text(from))
        .bind(date_text(to))
        .bind(i64::from(year))
        .bind(number)
        .bind(instant_text(at))
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(NoticeNumber { number, new: true })
    }

    /// Where the notice's document was kept.
    pub async fn set_notice_path(
        &self,
        year: i32,
        number: i64,
        path: &str,
    ) -> Result<(), StoreError> {
        sqlx::query("UPDATE notices SET path = $1 WHERE year = $2 AND number = $3")
            .bind(path)
            .bind(i64::from(year))
            .bind(number)
            .execute(&mut *self.write_conn().await?)
            .await?;
        Ok(())
    }

    /// Codes of the measures that reached one of the steps `keys` between `from` and `to`.
    pub async fn steps_reached_between(
        &self,
        keys: &[&str],
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> Result<Vec<String>, StoreError> {
        let rows = sqlx::query(
            "SELECT m.code, h.new_value FROM history h JOIN measures m ON m.id = h.measure_id \
             WHERE h.kind = 'step' AND h.at >= $1 AND h.at < $2 ORDER BY h.id",
        )
        .bind(instant_text(from))
        .bind(instant_text(to))
        .fetch_all(&self.pool)
        .await?;
        let mut codes = Vec::new();
        for row in &rows {
            let code: String = row.try_get(0)?;
            let key: Option<String> = row.try_get(1)?;
            if key.is_some_and(|k| keys.contains(&k.as_str())) && !codes.contains(&code) {
                codes.push(code);
            }
        }
        Ok(codes)
    }

    /// The one-to-one chats of everyone bound in one of `roles`, reachable, on every channel.
    pub async fn chats_of_roles(&self, roles: &[&str]) -> Result<Vec<(i64, Address)>, StoreError> {
        let rows = sqlx::query(
            "SELECT DISTINCT p.id, p.role, i.channel, i.chat_id FROM people p \
             JOIN identities i ON i.person_id = p.id WHERE i.unreachable_at IS NULL \
             ORDER BY p.id, i.channel",
        )
        .fetch_all(&self.pool)
        .await?;
        let mut out = Vec::new();
        for row in &rows {
            let role: String = row.try_get(1)?;
            if !roles.contains(&role.as_str()) {
                continue;
            }
            let channel: String = row.try_get(2)?;
            let chat: String = row.try_get(3)?;
            let Some(kind) = crate::core::chat::ChannelKind::from_code(&channel) else {
                continue;
            };
            out.push((row.try_get(0)?, Address::new(kind, chat)));
        }
        Ok(out)
    }
}

impl Store {
    /// The number of the document a measure's step issues (五书制): the one it got when
    /// first issued, else the next of `prefix` in `year`. Returns it and whether it is new.
    pub async fn step_document_number(
        &self,
        code: &str,
        step_key: &str,
        prefix: &str,
        year: i32,
        at: DateTime<Utc>,
    ) -> Result<NoticeNumber, StoreError> {
        let mut tx = self.begin_write().await?;
        let issued: Option<i64> = sqlx::query_scalar(
            "SELECT d.number FROM step_documents d JOIN measures m ON m.id = d.measure_id \
             WHERE m.code = $1 AND d.step_key = $2",
        )
        .bind(code)
        .bind(step_key)
        .fetch_optional(&mut *tx)
        .await?;
        if let Some(number) = issued {
            tx.rollback().await?;
            return Ok(NoticeNumber { number, new: false });
        }
        let last: Option<i64> = sqlx::query_scalar(
            "SELECT MAX(number) FROM step_documents WHERE prefix = $1 AND year = $2",
        )
        .bind(prefix)
        .bind(i64::from(year))
        .fetch_one(&mut *tx)
        .await?;
        let number = last.unwrap_or(0) + 1;
        sqlx::query(
            "INSERT INTO step_documents (measure_id, step_key, prefix, year, number, issued_at) \
             SELECT id, $1, $2, $3, $4, $5 FROM measures WHERE code = $6",
        )
        .bind(step_key)
        .bind(prefix)
        .bind(i64::from(year))
        .bind(number)
        .bind(instant_text(at))
        .bind(code)
        .execute(&mut *tx)
        .await?;
        // The step's history row names the document.
        sqlx::query(
            "UPDATE history SET note = note || $1 WHERE kind = 'step' AND new_value = $2 \
             AND measure_id = (SELECT id FROM measures WHERE code = $3)",
        )
        .bind(format!("（{prefix}〔{year}〕{number}号）"))
        .bind(step_key)
        .bind(code)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(NoticeNumber { number, new: true })
    }
}
