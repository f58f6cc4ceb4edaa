//! Changing measures one at a time: status changes and progress notes, each with its history.

use sqlx::Row;

use super::{Change, Store, StoreError, instant_text, parse_status};
use crate::ledger::Status;

/// A status change that happened.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StatusChange {
    /// The status before.
    pub from: Status,
    /// The status after.
    pub to: Status,
}

impl Store {
    /// Sets a measure's status and records it in the history, in one transaction.
    /// Setting the status a measure already has changes nothing and returns `from == to`.
    pub async fn set_status(
        &self,
        code: &str,
        to: Status,
        change: &Change,
    ) -> Result<StatusChange, StoreError> {
        let id = self.measure_id(code).await?;
        let mut tx = self.begin_write().await?;
        let row = sqlx::query("SELECT status, claimed_at FROM measures WHERE id = $1")
            .bind(id)
            .fetch_one(&mut *tx)
            .await?;
        let from = parse_status("measures.status", row.try_get(0)?)?;
        if from == to {
            tx.rollback().await?;
            return Ok(StatusChange { from, to });
        }
        let at = instant_text(change.at);
        let old_claim: Option<String> = row.try_get(1)?;
        // The claim's day matters for the colour: it is set when a claim is made, kept when
        // the office closes it, and cleared when the measure goes back to work.
        let claimed_at = match to {
            Status::Claimed => Some(at.clone()),
            Status::Closed => old_claim.or_else(|| Some(at.clone())),
            Status::NotStarted | Status::InProgress => None,
        };
        sqlx::query(
            "UPDATE measures SET status = $1, claimed_at = $2, updated_at = $3 WHERE id = $4",
        )
        .bind(to.code())
        .bind(claimed_at)
        .bind(&at)
        .bind(id)
        .execute(&mut *tx)
        .await?;
        sqlx::query(
            "INSERT INTO history (measure_id, at, actor, source, kind, from_status, to_status, note) \
             VALUES ($1, $2, $3, $4, 'status', $5, $6, $7)",
        )
        .bind(id)
        .bind(&at)
        .bind(&change.actor)
        .bind(change.source.code())
        .bind(from.code())
        .bind(to.code())
        .bind(change.note.as_deref())
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(StatusChange { from, to })
    }

    /// Adds a progress note (整改进展) to a measure; it becomes the measure's latest report.
    pub async fn add_note(
        &self,
        code: &str,
        body: &str,
        change: &Change,
    ) -> Result<(), StoreError> {
        let id = self.measure_id(code).await?;
        let at = instant_text(change.at);
        let mut tx = self.begin_write().await?;
        sqlx::query(
            "INSERT INTO progress_notes (measure_id, body, author, source, created_at) VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(id)
        .bind(body)
        .bind(&change.actor)
        .bind(change.source.code())
        .bind(&at)
        .execute(&mut *tx)
        .await?;
        sqlx::query("UPDATE measures SET latest_progress = $1, last_report_at = $2 WHERE id = $3")
            .bind(body)
            .bind(&at)
            .bind(id)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(())
    }
}
