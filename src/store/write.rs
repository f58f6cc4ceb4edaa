//! Changing measures one at a time: status changes and progress notes, each with its history.
//! The `*_in` functions work inside a caller's transaction, so that a chat reply's changes and
//! the messages they cause commit together.

use sqlx::{AnyConnection, Row};

use super::deferred::{Deferred, Owned};
use super::{Change, Store, StoreError, instant_text, parse_status};
use crate::core::ledger::Status;

/// A status change that happened.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StatusChange {
    /// The status before.
    pub from: Status,
    /// The status after.
    pub to: Status,
    /// The claim (销号申请) the change made or decided, if any.
    pub claim: Option<i64>,
}

/// The kinds of history rows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HistoryKind {
    /// A status change.
    Status,
    /// A progress note with no status change.
    Note,
    /// A request for coordination (需协调).
    Flag,
    /// A request for a later deadline (申请延期).
    Extension,
    /// The deadline moved (an approved extension): the old and the new value are kept.
    Deadline,
    /// Evidence (佐证材料) came in.
    Evidence,
    /// 回头看: the office re-checked a measure closed long ago and confirmed it.
    Recheck,
}

impl HistoryKind {
    fn code(self) -> &'static str {
        match self {
            HistoryKind::Status => "status",
            HistoryKind::Note => "note",
            HistoryKind::Flag => "flag",
            HistoryKind::Extension => "extension",
            HistoryKind::Deadline => "deadline",
            HistoryKind::Evidence => "evidence",
            HistoryKind::Recheck => "recheck",
        }
    }
}

/// Sets a measure's status inside a transaction and writes the history row. Setting the
/// status it already has changes nothing and writes nothing.
///
/// Claims (销号申请) follow the status: moving to `claimed` opens one; moving from
/// `claimed` to `closed` approves it, and back to work rejects it, with the change's note as
/// the reason; closing a measure that was not claimed records a claim decided at once.
pub(crate) async fn set_status_in(
    conn: &mut AnyConnection,
    id: i64,
    to: Status,
    change: &Change,
) -> Result<StatusChange, StoreError> {
    let row = sqlx::query("SELECT status, claimed_at FROM measures WHERE id = $1")
        .bind(id)
        .fetch_one(&mut *conn)
        .await?;
    let from = parse_status("measures.status", row.try_get(0)?)?;
    if from == to {
        return Ok(StatusChange {
            from,
            to,
            claim: None,
        });
    }
    let at = instant_text(change.at);
    let old_claim: Option<String> = row.try_get(1)?;
    // The claim's day matters for the colour: it is set when a claim is made, kept when the
    // office closes it, and cleared when the measure goes back to work.
    let claimed_at = match to {
        Status::Claimed => Some(at.clone()),
        Status::Closed => old_claim.or_else(|| Some(at.clone())),
        Status::NotStarted | Status::InProgress => None,
    };
    sqlx::query("UPDATE measures SET status = $1, claimed_at = $2, updated_at = $3 WHERE id = $4")
        .bind(to.code())
        .bind(claimed_at)
        .bind(&at)
        .bind(id)
        .execute(&mut *conn)
        .await?;
    history_in(conn, id, HistoryKind::Status, from, to, change).await?;
    let claim = super::workflow::follow_claim_in(conn, id, from, to, change).await?;
    Ok(StatusChange { from, to, claim })
}

/// Writes one history row.
pub(crate) async fn history_in(
    conn: &mut AnyConnection,
    id: i64,
    kind: HistoryKind,
    from: Status,
    to: Status,
    change: &Change,
) -> Result<(), StoreError> {
    history_write(id, kind, from, to, change)
        .execute(conn)
        .await
}

/// The write of one history row.
pub(super) fn history_write(
    id: i64,
    kind: HistoryKind,
    from: Status,
    to: Status,
    change: &Change,
) -> Deferred {
    let chat = change.chat.as_ref();
    let text = |t: Option<&str>| Owned::Text(t.map(str::to_string));
    Deferred::new(
        "INSERT INTO history (measure_id, at, actor, source, kind, from_status, to_status, note, unit, chat_id, raw_text) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
        vec![
            Owned::Int(Some(id)),
            Owned::Text(Some(instant_text(change.at))),
            text(Some(&change.actor)),
            text(Some(change.source.code())),
            text(Some(kind.code())),
            text(Some(from.code())),
            text(Some(to.code())),
            text(change.note.as_deref()),
            text(chat.and_then(|c| c.unit.as_deref())),
            Owned::Text(chat.map(|c| c.chat.to_string())),
            text(chat.map(|c| c.raw_text.as_str())),
        ],
    )
}

/// Adds a progress note inside a transaction; it becomes the measure's latest report.
pub(crate) async fn add_note_in(
    conn: &mut AnyConnection,
    id: i64,
    body: &str,
    change: &Change,
) -> Result<(), StoreError> {
    for write in note_writes(id, body, change) {
        write.execute(&mut *conn).await?;
    }
    Ok(())
}

/// The writes of a progress note: the note, and the measure's latest report.
pub(super) fn note_writes(id: i64, body: &str, change: &Change) -> [Deferred; 2] {
    let at = instant_text(change.at);
    [
        Deferred::new(
            "INSERT INTO progress_notes (measure_id, body, author, source, created_at) VALUES ($1, $2, $3, $4, $5)",
            vec![
                Owned::Int(Some(id)),
                Owned::Text(Some(body.to_string())),
                Owned::Text(Some(change.actor.clone())),
                Owned::Text(Some(change.source.code().to_string())),
                Owned::Text(Some(at.clone())),
            ],
        ),
        Deferred::new(
            "UPDATE measures SET latest_progress = $1, last_report_at = $2 WHERE id = $3",
            vec![
                Owned::Text(Some(body.to_string())),
                Owned::Text(Some(at)),
                Owned::Int(Some(id)),
            ],
        ),
    ]
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
        let done = set_status_in(&mut tx, id, to, change).await?;
        tx.commit().await?;
        Ok(done)
    }

    /// Adds a progress note (整改进展) to a measure; it becomes the measure's latest report.
    pub async fn add_note(
        &self,
        code: &str,
        body: &str,
        change: &Change,
    ) -> Result<(), StoreError> {
        let id = self.measure_id(code).await?;
        let mut tx = self.begin_write().await?;
        add_note_in(&mut tx, id, body, change).await?;
        tx.commit().await?;
        Ok(())
    }
}

impl Store {
    /// Records in the history each measure's step of the ladder the first time it is
    /// reached (kind `step`, source `system`, the step's key and label); with `dry_run`,
    /// records nothing. Returns the steps that were new.
    pub async fn record_steps(
        &self,
        steps: &[crate::core::remind::StepReached],
        at: chrono::DateTime<chrono::Utc>,
        dry_run: bool,
    ) -> Result<Vec<crate::core::remind::StepReached>, StoreError> {
        let mut new = Vec::new();
        if steps.is_empty() {
            return Ok(new);
        }
        let mut tx = self.begin_write().await?;
        let at = super::instant_text(at);
        for step in steps {
            let recorded: Option<i64> = sqlx::query_scalar(
                "SELECT h.id FROM history h JOIN measures m ON m.id = h.measure_id \
                 WHERE m.code = $1 AND h.kind = 'step' AND h.new_value = $2 LIMIT 1",
            )
            .bind(&step.code)
            .bind(&step.key)
            .fetch_optional(&mut *tx)
            .await?;
            if recorded.is_some() {
                continue;
            }
            if !dry_run {
                sqlx::query(
                    "INSERT INTO history (measure_id, at, actor, source, kind, from_status, to_status, note, new_value) \
                     SELECT m.id, $1, $2, 'system', 'step', m.status, m.status, $3, $4 FROM measures m \
                     WHERE m.code = $5",
                )
                .bind(&at)
                .bind("督办阶梯")
                .bind(&step.label)
                .bind(&step.key)
                .bind(&step.code)
                .execute(&mut *tx)
                .await?;
            }
            new.push(step.clone());
        }
        match dry_run {
            true => tx.rollback().await?,
            false => tx.commit().await?,
        }
        Ok(new)
    }
}

impl Store {
    /// 回头看: closed measures whose last close was at or before `cutoff` and that no
    /// re-check confirmed since; with the day they were closed, oldest first.
    pub async fn due_for_recheck(
        &self,
        cutoff: chrono::DateTime<chrono::Utc>,
    ) -> Result<Vec<(String, chrono::DateTime<chrono::Utc>)>, StoreError> {
        use sqlx::Row;
        let rows = sqlx::query(
            "WITH closes AS (SELECT m.id, m.code, MAX(h.at) AS closed_at FROM measures m \
             JOIN history h ON h.measure_id = m.id AND h.kind = 'status' AND h.to_status = 'closed' \
             WHERE m.status = 'closed' GROUP BY m.id, m.code) \
             SELECT c.code, c.closed_at FROM closes c WHERE c.closed_at <= $1 \
             AND NOT EXISTS (SELECT 1 FROM history r WHERE r.measure_id = c.id \
             AND r.kind = 'recheck' AND r.at >= c.closed_at) ORDER BY c.closed_at, c.code",
        )
        .bind(super::instant_text(cutoff))
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|row| {
                let at: String = row.try_get(1)?;
                Ok((row.try_get(0)?, super::parse_instant("history.at", &at)?))
            })
            .collect()
    }

    /// Records that the office re-checked a closed measure and confirmed it (回头看).
    pub async fn confirm_recheck(&self, code: &str, change: &Change) -> Result<(), StoreError> {
        let id = self.measure_id(code).await?;
        let mut tx = self.begin_write().await?;
        history_in(
            &mut tx,
            id,
            HistoryKind::Recheck,
            Status::Closed,
            Status::Closed,
            change,
        )
        .await?;
        tx.commit().await?;
        Ok(())
    }
}
