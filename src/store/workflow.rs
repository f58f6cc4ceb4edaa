//! The workflow's rows: claims (销号申请) and their evidence, extension decisions, requests
//! under the response rule (诉求), coordination flags raised into requests, and the daily
//! digest's counts. The `*_in` functions work inside a caller's transaction.

use chrono::{DateTime, NaiveDate, Utc};
use sqlx::{AnyConnection, Row};

use super::chat::parse_address;
use super::write::{HistoryKind, StatusChange, set_status_in};
use super::{
    Change, Store, StoreError, date_text, instant_text, nearest, parse_date, parse_instant,
    parse_status,
};
use crate::core::chat::Address;
use crate::core::ledger::{Deadline, DeadlineKind, ReportCycle, Status};
use crate::core::rules::RequestCategory;
use crate::core::workflow::{
    Claim, ClaimFollow, ClaimState, ExtensionRequest, Request, claim_decision, claim_follows,
    parse_category,
};

/// Evidence as it comes in from a chat.
#[derive(Debug, Clone)]
pub struct NewEvidence<'a> {
    /// The measure.
    pub measure_id: i64,
    /// The channel's id of the file.
    pub file_id: &'a str,
    /// Its name.
    pub file_name: &'a str,
    /// `photo` or `document`.
    pub kind: &'a str,
    /// Its size in bytes.
    pub size: i64,
    /// Its SHA-256, hex.
    pub sha256: &'a str,
    /// The copy's path, relative to the data directory.
    pub path: &'a str,
}

/// A digest's counts, kept for the next digest's "since last time".
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DigestCounts {
    /// The day of the digest.
    pub day: Option<NaiveDate>,
    /// Measures in all.
    pub total: i64,
    /// Closed (已销号).
    pub closed: i64,
    /// Red lights.
    pub red: i64,
    /// Yellow lights.
    pub yellow: i64,
    /// Green lights.
    pub green: i64,
}

/// A unit that has let a reminder go unanswered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SilentUnit {
    /// The unit.
    pub unit: String,
    /// When the first reminder it has not answered went out.
    pub since: DateTime<Utc>,
}

/// Someone, or some group, the bot cannot reach.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unreachable {
    /// The person's name, or the unit whose group it is.
    pub name: String,
    /// Whether it is a unit's group.
    pub group: bool,
    /// Their unit or place.
    pub place: Option<String>,
}

/// A coordination flag (需协调), as the office sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Flag {
    /// Its id.
    pub id: i64,
    /// The measure's code.
    pub code: String,
    /// The unit that asked, when known.
    pub unit: Option<String>,
    /// The measure's lead unit.
    pub lead_unit: String,
    /// Why.
    pub reason: String,
    /// The request it was raised into, if it was.
    pub request_id: Option<i64>,
    /// When the liaison asked.
    pub asked_at: DateTime<Utc>,
}

/// Opens, decides or withdraws the claim a status change implies (see `set_status_in`).
pub(crate) async fn follow_claim_in(
    conn: &mut AnyConnection,
    measure_id: i64,
    from: Status,
    to: Status,
    change: &Change,
) -> Result<Option<i64>, StoreError> {
    let at = instant_text(change.at);
    let chat = change.chat.as_ref();
    match claim_follows(from, to) {
        ClaimFollow::None => Ok(None),
        ClaimFollow::Open => open_claim_in(conn, measure_id, change).await.map(Some),
        ClaimFollow::ApprovedAtOnce => {
            let id: i64 = sqlx::query_scalar(
                "INSERT INTO claims (measure_id, claimed_by, claimed_at, state, decided_by, decided_at, reason) \
                 VALUES ($1, $2, $3, $4, $2, $3, $5) RETURNING id",
            )
            .bind(measure_id)
            .bind(&change.actor)
            .bind(&at)
            .bind(ClaimState::Approved.code())
            .bind(change.note.as_deref())
            .fetch_one(&mut *conn)
            .await?;
            Ok(Some(id))
        }
        // A claim still pending here was not decided through `decide_claim_in`.
        ClaimFollow::End(state) => Ok(sqlx::query_scalar(
            "UPDATE claims SET state = $1, decided_by = $2, decided_by_user = $3, decided_at = $4, reason = $5 \
             WHERE measure_id = $6 AND state = 'pending' RETURNING id",
        )
        .bind(state.code())
        .bind(&change.actor)
        .bind(chat.map(|c| c.user.to_string()))
        .bind(&at)
        .bind(change.note.as_deref())
        .bind(measure_id)
        .fetch_optional(&mut *conn)
        .await?),
    }
}

/// Decides a pending claim: approval closes the measure (已销号), rejection sends it back
/// to work with the reason. `None` when the claim is not pending any more.
pub(crate) async fn decide_claim_in(
    conn: &mut AnyConnection,
    claim_id: i64,
    approve: bool,
    reason: Option<&str>,
    change: &Change,
) -> Result<Option<StatusChange>, StoreError> {
    let (state, to) = claim_decision(approve);
    let measure_id: Option<i64> = sqlx::query_scalar(
        "UPDATE claims SET state = $1, decided_by = $2, decided_by_user = $3, decided_at = $4, reason = $5, rejecting_user = NULL \
         WHERE id = $6 AND state = 'pending' RETURNING measure_id",
    )
    .bind(state.code())
    .bind(&change.actor)
    .bind(change.chat.as_ref().map(|c| c.user.to_string()))
    .bind(instant_text(change.at))
    .bind(reason)
    .bind(claim_id)
    .fetch_optional(&mut *conn)
    .await?;
    let Some(measure_id) = measure_id else {
        return Ok(None);
    };
    let mut done = set_status_in(conn, measure_id, to, change).await?;
    done.claim = Some(claim_id);
    Ok(Some(done))
}

/// Opens a pending claim on a measure for `change`'s actor (and chat); returns its id.
pub(crate) async fn open_claim_in(
    conn: &mut AnyConnection,
    measure_id: i64,
    change: &Change,
) -> Result<i64, StoreError> {
    let chat = change.chat.as_ref();
    Ok(sqlx::query_scalar(
        "INSERT INTO claims (measure_id, claimed_by, claimed_by_user, chat_id, claimed_at) \
         VALUES ($1, $2, $3, $4, $5) RETURNING id",
    )
    .bind(measure_id)
    .bind(&change.actor)
    .bind(chat.map(|c| c.user.to_string()))
    .bind(chat.map(|c| c.chat.to_string()))
    .bind(instant_text(change.at))
    .fetch_one(&mut *conn)
    .await?)
}

/// The pending claim on a measure that is 申请销号; one is opened when the ledger brought
/// the status in (an import makes no claim), in the name of `claimant`.
pub(crate) async fn claim_of_claimed_in(
    conn: &mut AnyConnection,
    measure_id: i64,
    claimant: &Change,
) -> Result<Option<i64>, StoreError> {
    if let Some(id) = pending_claim_in(conn, measure_id).await? {
        return Ok(Some(id));
    }
    let status: String = sqlx::query_scalar("SELECT status FROM measures WHERE id = $1")
        .bind(measure_id)
        .fetch_one(&mut *conn)
        .await?;
    if parse_status("measures.status", &status)? != Status::Claimed {
        return Ok(None);
    }
    open_claim_in(conn, measure_id, claimant).await.map(Some)
}

/// A claim by id.
pub(crate) async fn claim_in(
    conn: &mut AnyConnection,
    claim_id: i64,
) -> Result<Option<Claim>, StoreError> {
    let row = sqlx::query(
        "SELECT c.id, m.code, c.claimed_by, c.claimed_by_user, c.chat_id, c.claimed_at, c.state, \
         c.rejecting_user, c.decided_by, c.decided_at, c.reason \
         FROM claims c JOIN measures m ON m.id = c.measure_id WHERE c.id = $1",
    )
    .bind(claim_id)
    .fetch_optional(&mut *conn)
    .await?;
    row.map(|row| claim_row(&row)).transpose()
}

fn claim_row(row: &sqlx::any::AnyRow) -> Result<Claim, StoreError> {
    let state: String = row.try_get(6)?;
    let decided_at: Option<String> = row.try_get(9)?;
    Ok(Claim {
        id: row.try_get(0)?,
        code: row.try_get(1)?,
        claimed_by: row.try_get(2)?,
        claimed_by_user: parse_address("claims.claimed_by_user", row.try_get(3)?)?,
        chat_id: parse_address("claims.chat_id", row.try_get(4)?)?,
        claimed_at: parse_instant("claims.claimed_at", row.try_get(5)?)?,
        state: ClaimState::from_code(&state).ok_or_else(|| StoreError::Corrupt {
            column: "claims.state",
            value: state.clone(),
        })?,
        rejecting_user: parse_address("claims.rejecting_user", row.try_get(7)?)?,
        decided_by: row.try_get(8)?,
        decided_at: decided_at
            .map(|t| parse_instant("claims.decided_at", &t))
            .transpose()?,
        reason: row.try_get(10)?,
    })
}

/// The pending claim on a measure, if any.
pub(crate) async fn pending_claim_in(
    conn: &mut AnyConnection,
    measure_id: i64,
) -> Result<Option<i64>, StoreError> {
    Ok(sqlx::query_scalar(
        "SELECT id FROM claims WHERE measure_id = $1 AND state = 'pending' ORDER BY id DESC LIMIT 1",
    )
    .bind(measure_id)
    .fetch_optional(&mut *conn)
    .await?)
}

/// Notes that an office member pressed 退回 on a claim or an extension request and owes the
/// reason; `table` is `claims` or `extension_requests`.
pub(crate) async fn awaiting_reason_in(
    conn: &mut AnyConnection,
    table: &str,
    id: i64,
    user: &Address,
) -> Result<bool, StoreError> {
    let sql = match table {
        "claims" => "UPDATE claims SET rejecting_user = $1 WHERE id = $2 AND state = 'pending'",
        _ => {
            "UPDATE extension_requests SET rejecting_user = $1 WHERE id = $2 AND state = 'pending'"
        }
    };
    let done = sqlx::query(sql)
        .bind(user.to_string())
        .bind(id)
        .execute(&mut *conn)
        .await?;
    Ok(done.rows_affected() > 0)
}

/// Stores evidence and writes its history row; returns its id.
pub(crate) async fn add_evidence_in(
    conn: &mut AnyConnection,
    evidence: &NewEvidence<'_>,
    change: &Change,
) -> Result<i64, StoreError> {
    let claim = pending_claim_in(conn, evidence.measure_id).await?;
    let chat = change.chat.as_ref();
    let id: i64 = sqlx::query_scalar(
        "INSERT INTO evidence (measure_id, claim_id, file_id, file_name, kind, size, sha256, path, sent_by, sent_by_user, chat_id, created_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12) RETURNING id",
    )
    .bind(evidence.measure_id)
    .bind(claim)
    .bind(evidence.file_id)
    .bind(evidence.file_name)
    .bind(evidence.kind)
    .bind(evidence.size)
    .bind(evidence.sha256)
    .bind(evidence.path)
    .bind(&change.actor)
    .bind(chat.map(|c| c.user.to_string()))
    .bind(chat.map(|c| c.chat.to_string()))
    .bind(instant_text(change.at))
    .fetch_one(&mut *conn)
    .await?;
    let status = status_in(conn, evidence.measure_id).await?;
    let note = format!(
        "{} ({} bytes, sha256 {})",
        evidence.file_name, evidence.size, evidence.sha256
    );
    let change = Change {
        note: Some(note),
        ..change.clone()
    };
    super::write::history_in(
        conn,
        evidence.measure_id,
        HistoryKind::Evidence,
        status,
        status,
        &change,
    )
    .await?;
    Ok(id)
}

async fn status_in(conn: &mut AnyConnection, measure_id: i64) -> Result<Status, StoreError> {
    let text: String = sqlx::query_scalar("SELECT status FROM measures WHERE id = $1")
        .bind(measure_id)
        .fetch_one(&mut *conn)
        .await?;
    parse_status("measures.status", &text)
}

/// How many pieces of evidence the measure's pending claim has, or, with no claim pending,
/// how many wait for the next claim (files that went with decided claims do not count).
pub(crate) async fn evidence_count_in(
    conn: &mut AnyConnection,
    measure_id: i64,
) -> Result<i64, StoreError> {
    let claim = pending_claim_in(conn, measure_id).await?;
    let count = match claim {
        Some(claim) => {
            sqlx::query_scalar(
                "SELECT COUNT(*) FROM evidence WHERE measure_id = $1 AND claim_id = $2",
            )
            .bind(measure_id)
            .bind(claim)
            .fetch_one(&mut *conn)
            .await?
        }
        None => {
            sqlx::query_scalar(
                "SELECT COUNT(*) FROM evidence WHERE measure_id = $1 AND claim_id IS NULL",
            )
            .bind(measure_id)
            .fetch_one(&mut *conn)
            .await?
        }
    };
    Ok(count)
}

/// A piece of evidence sent before a claim, now going with it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AdoptedEvidence {
    /// Its id.
    pub id: i64,
    /// The channel's id of the file.
    pub file_id: String,
    /// Its name.
    pub file_name: String,
    /// `photo` or `document`.
    pub kind: String,
    /// Its SHA-256, hex.
    pub sha256: String,
    /// Who sent it.
    pub sent_by: String,
}

/// Attaches the evidence sent for a measure before any claim to `claim`; returns it.
pub(crate) async fn adopt_evidence_in(
    conn: &mut AnyConnection,
    measure_id: i64,
    claim: i64,
) -> Result<Vec<AdoptedEvidence>, StoreError> {
    let rows = sqlx::query(
        "UPDATE evidence SET claim_id = $1 WHERE measure_id = $2 AND claim_id IS NULL \
         RETURNING id, file_id, file_name, kind, sha256, sent_by",
    )
    .bind(claim)
    .bind(measure_id)
    .fetch_all(&mut *conn)
    .await?;
    let mut adopted = rows
        .iter()
        .map(|r| {
            Ok(AdoptedEvidence {
                id: r.try_get(0)?,
                file_id: r.try_get(1)?,
                file_name: r.try_get(2)?,
                kind: r.try_get(3)?,
                sha256: r.try_get(4)?,
                sent_by: r.try_get(5)?,
            })
        })
        .collect::<Result<Vec<_>, StoreError>>()?;
    adopted.sort_by_key(|e| e.id);
    Ok(adopted)
}

/// Moves a measure's deadline to `until`: the history row keeps the old deadline as the
/// ledger wrote it and the new one. Returns the old deadline's text.
pub(crate) async fn move_deadline_in(
    conn: &mut AnyConnection,
    measure_id: i64,
    until: NaiveDate,
    change: &Change,
) -> Result<String, StoreError> {
    let row = sqlx::query(
        "SELECT deadline_kind, deadline, report_cycle, status FROM measures WHERE id = $1",
    )
    .bind(measure_id)
    .fetch_one(&mut *conn)
    .await?;
    let corrupt = |column: &'static str, value: &str| StoreError::Corrupt {
        column,
        value: value.to_string(),
    };
    let kind: String = row.try_get(0)?;
    let kind =
        DeadlineKind::from_code(&kind).ok_or_else(|| corrupt("measures.deadline_kind", &kind))?;
    let date: Option<String> = row.try_get(1)?;
    let date = date
        .as_deref()
        .map(|d| parse_date("measures.deadline", d))
        .transpose()?;
    let cycle: Option<String> = row.try_get(2)?;
    let cycle = match cycle.as_deref() {
        Some(text) => Some(
            ReportCycle::from_code(text).ok_or_else(|| corrupt("measures.report_cycle", text))?,
        ),
        None => None,
    };
    // The old deadline as it was understood (`2023.12` in the ledger was 2023-12-31).
    let old = Deadline::from_parts(kind, date, cycle)
        .ok_or_else(|| corrupt("measures.deadline", ""))?
        .to_cell_text();
    let status = parse_status("measures.status", row.try_get(3)?)?;
    let new = date_text(until);
    sqlx::query(
        "UPDATE measures SET deadline_kind = 'date', deadline = $1, deadline_text = $1, \
         extensions = extensions + 1, updated_at = $2 WHERE id = $3",
    )
    .bind(&new)
    .bind(instant_text(change.at))
    .bind(measure_id)
    .execute(&mut *conn)
    .await?;
    let chat = change.chat.as_ref();
    sqlx::query(
        "INSERT INTO history (measure_id, at, actor, source, kind, from_status, to_status, note, unit, chat_id, raw_text, old_value, new_value) \
         VALUES ($1, $2, $3, $4, 'deadline', $5, $5, $6, $7, $8, $9, $10, $11)",
    )
    .bind(measure_id)
    .bind(instant_text(change.at))
    .bind(&change.actor)
    .bind(change.source.code())
    .bind(status.code())
    .bind(change.note.as_deref())
    .bind(chat.and_then(|c| c.unit.as_deref()))
    .bind(chat.map(|c| c.chat.to_string()))
    .bind(chat.map(|c| c.raw_text.as_str()))
    .bind(&old)
    .bind(&new)
    .execute(&mut *conn)
    .await?;
    Ok(old)
}

/// An extension request by id.
pub(crate) async fn extension_in(
    conn: &mut AnyConnection,
    id: i64,
) -> Result<Option<ExtensionRequest>, StoreError> {
    let row = sqlx::query(
        "SELECT e.id, m.code, e.requested_by, e.requested_by_user, e.chat_id, e.requested_until, e.reason, e.state, e.rejecting_user \
         FROM extension_requests e JOIN measures m ON m.id = e.measure_id WHERE e.id = $1",
    )
    .bind(id)
    .fetch_optional(&mut *conn)
    .await?;
    let Some(row) = row else {
        return Ok(None);
    };
    Ok(Some(ExtensionRequest {
        id: row.try_get(0)?,
        code: row.try_get(1)?,
        requested_by: row.try_get(2)?,
        requested_by_user: parse_address("extension_requests.requested_by_user", row.try_get(3)?)?,
        chat_id: parse_address("extension_requests.chat_id", row.try_get(4)?)?,
        until: parse_date("extension_requests.requested_until", row.try_get(5)?)?,
        reason: row.try_get(6)?,
        state: row.try_get(7)?,
        rejecting_user: parse_address("extension_requests.rejecting_user", row.try_get(8)?)?,
    }))
}

/// Decides a pending extension request: approval moves the deadline. Returns the old
/// deadline's text on approval, `Some("")` on rejection, `None` when it was not pending.
pub(crate) async fn decide_extension_in(
    conn: &mut AnyConnection,
    id: i64,
    approve: bool,
    reason: Option<&str>,
    change: &Change,
) -> Result<Option<String>, StoreError> {
    let row = sqlx::query(
        "UPDATE extension_requests SET state = $1, decided_by = $2, decided_at = $3, decision_reason = $4, rejecting_user = NULL \
         WHERE id = $5 AND state = 'pending' RETURNING measure_id, requested_until",
    )
    .bind(if approve { "approved" } else { "rejected" })
    .bind(&change.actor)
    .bind(instant_text(change.at))
    .bind(reason)
    .bind(id)
    .fetch_optional(&mut *conn)
    .await?;
    let Some(row) = row else {
        return Ok(None);
    };
    if !approve {
        return Ok(Some(String::new()));
    }
    let measure_id: i64 = row.try_get(0)?;
    let until = parse_date("extension_requests.requested_until", row.try_get(1)?)?;
    let old = move_deadline_in(conn, measure_id, until, change).await?;
    sqlx::query("UPDATE extension_requests SET previous_deadline = $1 WHERE id = $2")
        .bind(&old)
        .bind(id)
        .execute(&mut *conn)
        .await?;
    Ok(Some(old))
}

/// A coordination flag by id.
pub(crate) async fn flag_in(conn: &mut AnyConnection, id: i64) -> Result<Option<Flag>, StoreError> {
    let row = sqlx::query(
        "SELECT f.id, m.code, f.unit, u.name, f.reason, f.request_id, f.created_at FROM coordination_flags f \
         JOIN measures m ON m.id = f.measure_id JOIN units u ON u.id = m.lead_unit_id WHERE f.id = $1",
    )
    .bind(id)
    .fetch_optional(&mut *conn)
    .await?;
    let Some(row) = row else {
        return Ok(None);
    };
    Ok(Some(Flag {
        id: row.try_get(0)?,
        code: row.try_get(1)?,
        unit: row.try_get(2)?,
        lead_unit: row.try_get(3)?,
        reason: row.try_get(4)?,
        request_id: row.try_get(5)?,
        asked_at: parse_instant("coordination_flags.created_at", row.try_get(6)?)?,
    }))
}

/// A request (诉求) as it is raised.
#[derive(Debug, Clone, Copy)]
pub struct NewRequest<'a> {
    /// The unit that must answer.
    pub unit: &'a str,
    /// 咨询 / 一般 / 重大.
    pub category: RequestCategory,
    /// What is asked.
    pub body: &'a str,
    /// The day it was raised.
    pub raised_on: NaiveDate,
    /// The day it must be answered by.
    pub due: NaiveDate,
    /// Who raised it.
    pub by: &'a str,
    /// When.
    pub at: DateTime<Utc>,
}

/// Stores a new request, raised from a coordination flag when `flag_id` says; returns its id.
pub(crate) async fn add_request_in(
    conn: &mut AnyConnection,
    request: &NewRequest<'_>,
    flag_id: Option<i64>,
) -> Result<i64, StoreError> {
    let unit_id = unit_id_in(conn, request.unit).await?;
    let id: i64 = sqlx::query_scalar(
        "INSERT INTO requests (unit_id, category, body, raised_on, due, created_by, created_at, flag_id) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING id",
    )
    .bind(unit_id)
    .bind(crate::core::workflow::category_code(request.category))
    .bind(request.body)
    .bind(date_text(request.raised_on))
    .bind(date_text(request.due))
    .bind(request.by)
    .bind(instant_text(request.at))
    .bind(flag_id)
    .fetch_one(&mut *conn)
    .await?;
    if let Some(flag_id) = flag_id {
        sqlx::query(
            "UPDATE coordination_flags SET state = 'raised', request_id = $1 WHERE id = $2",
        )
        .bind(id)
        .bind(flag_id)
        .execute(&mut *conn)
        .await?;
    }
    Ok(id)
}

/// The id of a unit by its name; a name the ledger does not have is refused with the
/// nearest ones.
pub(crate) async fn unit_id_in(conn: &mut AnyConnection, unit: &str) -> Result<i64, StoreError> {
    let found: Option<i64> = sqlx::query_scalar("SELECT id FROM units WHERE name = $1")
        .bind(unit)
        .fetch_optional(&mut *conn)
        .await?;
    if let Some(id) = found {
        return Ok(id);
    }
    let names: Vec<String> = sqlx::query_scalar("SELECT name FROM units")
        .fetch_all(&mut *conn)
        .await?;
    Err(StoreError::NoSuchUnit {
        unit: unit.to_string(),
        nearest: nearest(unit, names.iter().map(String::as_str)),
    })
}

/// `SELECT` of a request's columns, followed by the rest of the statement.
macro_rules! select_requests {
    ($rest:literal) => {
        concat!(
            "SELECT r.id, u.name, r.category, r.body, r.raised_on, r.due, r.created_by, ",
            "r.answer, r.answered_by, r.answered_on FROM requests r JOIN units u ON u.id = r.unit_id ",
            $rest
        )
    };
}

fn request_row(row: &sqlx::any::AnyRow) -> Result<Request, StoreError> {
    let category: String = row.try_get(2)?;
    let answered_on: Option<String> = row.try_get(9)?;
    Ok(Request {
        id: row.try_get(0)?,
        unit: row.try_get(1)?,
        category: parse_category(&category).ok_or_else(|| StoreError::Corrupt {
            column: "requests.category",
            value: category.clone(),
        })?,
        body: row.try_get(3)?,
        raised_on: parse_date("requests.raised_on", row.try_get(4)?)?,
        due: parse_date("requests.due", row.try_get(5)?)?,
        created_by: row.try_get(6)?,
        answer: row.try_get(7)?,
        answered_by: row.try_get(8)?,
        answered_on: answered_on
            .map(|d| parse_date("requests.answered_on", &d))
            .transpose()?,
    })
}

/// A request by id.
pub(crate) async fn request_in(
    conn: &mut AnyConnection,
    id: i64,
) -> Result<Option<Request>, StoreError> {
    let row = sqlx::query(select_requests!("WHERE r.id = $1"))
        .bind(id)
        .fetch_optional(&mut *conn)
        .await?;
    row.map(|row| request_row(&row)).transpose()
}

/// Answers a request, which closes it. `false` when it was answered already.
pub(crate) async fn answer_request_in(
    conn: &mut AnyConnection,
    id: i64,
    answer: &str,
    by: &str,
    at: DateTime<Utc>,
    on: NaiveDate,
) -> Result<bool, StoreError> {
    let done = sqlx::query(
        "UPDATE requests SET answer = $1, answered_by = $2, answered_at = $3, answered_on = $4 \
         WHERE id = $5 AND answered_at IS NULL",
    )
    .bind(answer)
    .bind(by)
    .bind(instant_text(at))
    .bind(date_text(on))
    .bind(id)
    .execute(&mut *conn)
    .await?;
    Ok(done.rows_affected() > 0)
}

impl Store {
    /// Decides a pending claim (see `decide_claim_in`) by its measure's code, from the CLI.
    /// Returns `None` when the measure has no pending claim.
    pub async fn decide_claim(
        &self,
        code: &str,
        approve: bool,
        reason: Option<&str>,
        change: &Change,
    ) -> Result<Option<StatusChange>, StoreError> {
        let id = self.measure_id(code).await?;
        let mut tx = self.begin_write().await?;
        // A measure imported as 申请销号 has no claim yet: it is the ledger's.
        let imported = Change {
            actor: "台账导入".into(),
            source: crate::core::ledger::Source::Import,
            note: None,
            chat: None,
            ..change.clone()
        };
        let Some(claim) = claim_of_claimed_in(&mut tx, id, &imported).await? else {
            return Ok(None);
        };
        let done = decide_claim_in(&mut tx, claim, approve, reason, change).await?;
        tx.commit().await?;
        Ok(done)
    }

    /// The claims made on a measure, oldest first.
    pub async fn claims(&self, code: &str) -> Result<Vec<Claim>, StoreError> {
        let id = self.measure_id(code).await?;
        let rows = sqlx::query(
            "SELECT c.id, m.code, c.claimed_by, c.claimed_by_user, c.chat_id, c.claimed_at, c.state, \
             c.rejecting_user, c.decided_by, c.decided_at, c.reason \
             FROM claims c JOIN measures m ON m.id = c.measure_id WHERE c.measure_id = $1 ORDER BY c.id",
        )
        .bind(id)
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(claim_row).collect()
    }

    /// The evidence sent for a measure: file name, size, SHA-256, stored path, who, when.
    pub async fn evidence(&self, code: &str) -> Result<Vec<serde_json::Value>, StoreError> {
        let id = self.measure_id(code).await?;
        let rows = sqlx::query(
            "SELECT file_name, kind, size, sha256, path, sent_by, created_at, claim_id FROM evidence \
             WHERE measure_id = $1 ORDER BY id",
        )
        .bind(id)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|row| {
                Ok(serde_json::json!({
                    "file_name": row.try_get::<String, _>(0)?,
                    "kind": row.try_get::<String, _>(1)?,
                    "size": row.try_get::<i64, _>(2)?,
                    "sha256": row.try_get::<String, _>(3)?,
                    "path": row.try_get::<String, _>(4)?,
                    "sent_by": row.try_get::<String, _>(5)?,
                    "at": row.try_get::<String, _>(6)?,
                    "claim": row.try_get::<Option<i64>, _>(7)?,
                }))
            })
            .collect()
    }

    /// Moves a measure's deadline by the office's decision (`duban extend`); pending
    /// requests for that date are approved with it. Returns the old deadline's text.
    pub async fn extend(
        &self,
        code: &str,
        until: NaiveDate,
        change: &Change,
    ) -> Result<String, StoreError> {
        let id = self.measure_id(code).await?;
        let mut tx = self.begin_write().await?;
        let old = move_deadline_in(&mut tx, id, until, change).await?;
        sqlx::query(
            "UPDATE extension_requests SET state = 'approved', decided_by = $1, decided_at = $2, previous_deadline = $3 \
             WHERE measure_id = $4 AND state = 'pending' AND requested_until = $5",
        )
        .bind(&change.actor)
        .bind(instant_text(change.at))
        .bind(&old)
        .bind(id)
        .bind(date_text(until))
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(old)
    }

    /// How many measures have had their deadline extended.
    pub async fn extended_count(&self) -> Result<i64, StoreError> {
        Ok(
            sqlx::query_scalar("SELECT COUNT(*) FROM measures WHERE extensions > 0")
                .fetch_one(&self.pool)
                .await?,
        )
    }

    /// Adds a request (诉求) for a unit; returns its id.
    pub async fn add_request(&self, request: &NewRequest<'_>) -> Result<i64, StoreError> {
        let mut tx = self.begin_write().await?;
        let id = add_request_in(&mut tx, request, None).await?;
        tx.commit().await?;
        Ok(id)
    }

    /// Every request, oldest first.
    pub async fn requests(&self) -> Result<Vec<Request>, StoreError> {
        let rows = sqlx::query(select_requests!("ORDER BY r.id"))
            .fetch_all(&self.pool)
            .await?;
        rows.iter().map(request_row).collect()
    }

    /// A request by id.
    pub async fn request(&self, id: i64) -> Result<Option<Request>, StoreError> {
        let mut conn = self.pool.acquire().await?;
        request_in(&mut conn, id).await
    }

    /// Answers a request; `false` when it was answered already.
    pub async fn answer_request(
        &self,
        id: i64,
        answer: &str,
        by: &str,
        at: DateTime<Utc>,
        on: NaiveDate,
    ) -> Result<bool, StoreError> {
        let mut tx = self.begin_write().await?;
        let done = answer_request_in(&mut tx, id, answer, by, at, on).await?;
        tx.commit().await?;
        Ok(done)
    }

    /// The counts of the latest digest before `day`, if any.
    pub async fn last_digest(&self, day: NaiveDate) -> Result<Option<DigestCounts>, StoreError> {
        let row = sqlx::query(
            "SELECT day, total, closed, red, yellow, green FROM digests WHERE day < $1 ORDER BY day DESC LIMIT 1",
        )
        .bind(date_text(day))
        .fetch_optional(&self.pool)
        .await?;
        let Some(row) = row else {
            return Ok(None);
        };
        Ok(Some(DigestCounts {
            day: Some(parse_date("digests.day", row.try_get(0)?)?),
            total: row.try_get(1)?,
            closed: row.try_get(2)?,
            red: row.try_get(3)?,
            yellow: row.try_get(4)?,
            green: row.try_get(5)?,
        }))
    }

    /// Keeps a digest's counts (the first of a day stands).
    pub async fn save_digest(
        &self,
        day: NaiveDate,
        counts: &DigestCounts,
        at: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO digests (day, total, closed, red, yellow, green, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7) \
             ON CONFLICT (day) DO NOTHING",
        )
        .bind(date_text(day))
        .bind(counts.total)
        .bind(counts.closed)
        .bind(counts.red)
        .bind(counts.yellow)
        .bind(counts.green)
        .bind(instant_text(at))
        .execute(&mut *self.write_conn().await?)
        .await?;
        Ok(())
    }

    /// The codes of measures closed in `[from, to)`.
    pub async fn closed_between(
        &self,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> Result<Vec<String>, StoreError> {
        Ok(sqlx::query_scalar(
            "SELECT DISTINCT m.code FROM history h JOIN measures m ON m.id = h.measure_id \
             WHERE h.kind = 'status' AND h.to_status = 'closed' AND h.at >= $1 AND h.at < $2 AND m.status = 'closed' \
             ORDER BY m.code",
        )
        .bind(instant_text(from))
        .bind(instant_text(to))
        .fetch_all(&self.pool)
        .await?)
    }

    /// Units whose reminders went unanswered: for each, when the first reminder after its
    /// last answer from a chat went out. A liaison's reminder counts for the liaison's unit,
    /// a group's for the group's units.
    pub async fn silent_units(&self) -> Result<Vec<SilentUnit>, StoreError> {
        let rows = sqlx::query(
            "WITH reminded AS ( \
                 SELECT u.name AS unit, o.sent_at FROM outbox o \
                 JOIN people p ON p.id = o.person_id JOIN units u ON u.id = p.unit_id \
                 WHERE o.kind = 'reminder' AND o.state = 'sent' \
                 UNION ALL \
                 SELECT u.name AS unit, o.sent_at FROM outbox o \
                 JOIN unit_chats c ON c.channel = o.channel AND c.chat_id = o.chat_id JOIN units u ON u.id = c.unit_id \
                 WHERE o.kind = 'reminder' AND o.state = 'sent' AND o.person_id IS NULL \
             ), answered AS ( \
                 SELECT unit, MAX(at) AS at FROM history WHERE source = 'chat' AND unit IS NOT NULL GROUP BY unit \
             ) \
             SELECT r.unit, MIN(r.sent_at) FROM reminded r LEFT JOIN answered a ON a.unit = r.unit \
             WHERE a.at IS NULL OR r.sent_at > a.at GROUP BY r.unit ORDER BY r.unit",
        )
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|row| {
                Ok(SilentUnit {
                    unit: row.try_get(0)?,
                    since: parse_instant("outbox.sent_at", row.try_get(1)?)?,
                })
            })
            .collect()
    }

    /// People and groups the bot cannot reach.
    pub async fn unreachable(&self) -> Result<Vec<Unreachable>, StoreError> {
        let mut out = Vec::new();
        for row in sqlx::query(
            "SELECT p.name, COALESCE(u.name, p.place) FROM people p LEFT JOIN units u ON u.id = p.unit_id \
             WHERE EXISTS (SELECT 1 FROM identities i WHERE i.person_id = p.id AND i.unreachable_at IS NOT NULL) \
             AND NOT EXISTS (SELECT 1 FROM identities i WHERE i.person_id = p.id AND i.unreachable_at IS NULL) \
             ORDER BY p.id",
        )
        .fetch_all(&self.pool)
        .await?
        {
            out.push(Unreachable {
                name: row.try_get(0)?,
                group: false,
                place: row.try_get(1)?,
            });
        }
        for name in sqlx::query_scalar::<_, String>(
            "SELECT u.name FROM unit_chats c JOIN units u ON u.id = c.unit_id \
             WHERE c.unreachable_at IS NOT NULL ORDER BY u.id",
        )
        .fetch_all(&self.pool)
        .await?
        {
            out.push(Unreachable {
                name,
                group: true,
                place: None,
            });
        }
        Ok(out)
    }
}

/// Who asks for something from a chat: for flags and extension requests.
#[derive(Debug, Clone, Copy)]
pub struct Asker<'a> {
    /// The person, when bound.
    pub person_id: Option<i64>,
    /// Their name.
    pub name: &'a str,
    /// Who they are on their channel.
    pub user: &'a Address,
    /// The chat they wrote from.
    pub chat: &'a Address,
    /// The unit they answer for, when they do.
    pub unit: Option<&'a str>,
}

/// A message as sent, with what it is about.
#[derive(Debug, Clone, PartialEq)]
pub struct SentMessage {
    /// Its outbox row.
    pub outbox_id: i64,
    /// Its kind (`reminder`, `claim`, `extension`, …).
    pub kind: String,
    /// What it said.
    pub message: crate::core::chat::Message,
    /// What it is about (JSON), if anything.
    pub context: Option<serde_json::Value>,
    /// When it was queued.
    pub created_at: DateTime<Utc>,
}

impl Store {
    /// The message sent as `message_id` in `chat`, if duban sent it.
    pub async fn sent_message(
        &self,
        chat: &Address,
        message_id: &str,
    ) -> Result<Option<SentMessage>, StoreError> {
        let mut conn = self.write_conn().await?;
        sent_message_in(&mut conn, chat, message_id).await
    }
}

async fn sent_message_in(
    conn: &mut AnyConnection,
    chat: &Address,
    message_id: &str,
) -> Result<Option<SentMessage>, StoreError> {
    let row = sqlx::query(
        "SELECT id, kind, body, context, created_at FROM outbox WHERE channel = $1 AND chat_id = $2 \
         AND message_id = $3 ORDER BY id DESC LIMIT 1",
    )
    .bind(chat.channel.code())
    .bind(&chat.id)
    .bind(message_id)
    .fetch_optional(&mut *conn)
    .await?;
    row.map(|row| sent_message_row(&row)).transpose()
}

/// A message as sent, from its outbox row (id, kind, body, context, created_at).
fn sent_message_row(row: &sqlx::any::AnyRow) -> Result<SentMessage, StoreError> {
    let body: String = row.try_get(2)?;
    let context: Option<String> = row.try_get(3)?;
    let corrupt = |column: &'static str, e: serde_json::Error| StoreError::Corrupt {
        column,
        value: e.to_string(),
    };
    Ok(SentMessage {
        outbox_id: row.try_get(0)?,
        kind: row.try_get(1)?,
        message: serde_json::from_str(&body).map_err(|e| corrupt("outbox.body", e))?,
        context: context
            .map(|c| serde_json::from_str(&c).map_err(|e| corrupt("outbox.context", e)))
            .transpose()?,
        created_at: parse_instant("outbox.created_at", row.try_get(4)?)?,
    })
}

impl super::UpdateTx<'_> {
    /// The latest message to `chat` about a measure (a confirmation), if any: what a file
    /// sent without a reply is evidence for on a channel without threading.
    pub async fn latest_about_measure(
        &mut self,
        chat: &Address,
    ) -> Result<Option<SentMessage>, StoreError> {
        // Sent or still queued: a file may follow its confirmation closely.
        let row = sqlx::query(
            "SELECT id, kind, body, context, created_at FROM outbox WHERE channel = $1 AND chat_id = $2 \
             AND context LIKE '%\"measure\"%' ORDER BY id DESC LIMIT 1",
        )
        .bind(chat.channel.code())
        .bind(&chat.id)
        .fetch_optional(self.read_conn().await?)
        .await?;
        row.map(|row| sent_message_row(&row)).transpose()
    }

    /// The code of the measure with this id, if it exists.
    pub async fn measure_code(&mut self, id: i64) -> Result<Option<String>, StoreError> {
        Ok(
            sqlx::query_scalar("SELECT code FROM measures WHERE id = $1")
                .bind(id)
                .fetch_optional(self.read_conn().await?)
                .await?,
        )
    }

    /// The message sent as `message_id` in `chat`, if duban sent it.
    pub async fn sent_message(
        &mut self,
        chat: &Address,
        message_id: &str,
    ) -> Result<Option<SentMessage>, StoreError> {
        sent_message_in(self.read_conn().await?, chat, message_id).await
    }

    /// Records a request for coordination (需协调); returns its id.
    pub async fn flag(
        &mut self,
        measure_id: i64,
        asker: &Asker<'_>,
        reason: &str,
    ) -> Result<i64, StoreError> {
        Ok(sqlx::query_scalar(
            "INSERT INTO coordination_flags (measure_id, person_id, requested_by, reason, created_at, unit, chat_id) \
             VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING id",
        )
        .bind(measure_id)
        .bind(asker.person_id)
        .bind(asker.name)
        .bind(reason)
        .bind(instant_text(self.at))
        .bind(asker.unit)
        .bind(asker.chat.to_string())
        .fetch_one(self.conn().await?)
        .await?)
    }

    /// Records a request for a later deadline (申请延期); returns its id.
    pub async fn request_extension(
        &mut self,
        measure_id: i64,
        asker: &Asker<'_>,
        until: NaiveDate,
        reason: Option<&str>,
    ) -> Result<i64, StoreError> {
        Ok(sqlx::query_scalar(
            "INSERT INTO extension_requests (measure_id, person_id, requested_by, requested_until, reason, created_at, chat_id, requested_by_user) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING id",
        )
        .bind(measure_id)
        .bind(asker.person_id)
        .bind(asker.name)
        .bind(date_text(until))
        .bind(reason)
        .bind(instant_text(self.at))
        .bind(asker.chat.to_string())
        .bind(asker.user.to_string())
        .fetch_one(self.conn().await?)
        .await?)
    }

    /// A claim by id.
    pub async fn claim(&mut self, id: i64) -> Result<Option<Claim>, StoreError> {
        claim_in(self.conn().await?, id).await
    }

    /// Decides a pending claim (see `decide_claim_in`).
    pub async fn decide_claim(
        &mut self,
        id: i64,
        approve: bool,
        reason: Option<&str>,
        change: &Change,
    ) -> Result<Option<StatusChange>, StoreError> {
        decide_claim_in(self.conn().await?, id, approve, reason, change).await
    }

    /// Notes that `user` pressed 退回 on a claim (`claims`) or an extension request
    /// (`extension_requests`) and owes the reason; `false` when it is decided already.
    pub async fn awaiting_reason(
        &mut self,
        table: &str,
        id: i64,
        user: &Address,
    ) -> Result<bool, StoreError> {
        awaiting_reason_in(self.conn().await?, table, id, user).await
    }

    /// Stores evidence; returns its id.
    pub async fn add_evidence(
        &mut self,
        evidence: &NewEvidence<'_>,
        change: &Change,
    ) -> Result<i64, StoreError> {
        add_evidence_in(self.conn().await?, evidence, change).await
    }

    /// How much evidence a measure has.
    pub async fn evidence_count(&mut self, measure_id: i64) -> Result<i64, StoreError> {
        evidence_count_in(self.read_conn().await?, measure_id).await
    }

    /// Attaches the evidence sent before any claim to `claim`; returns it.
    pub async fn adopt_evidence(
        &mut self,
        measure_id: i64,
        claim: i64,
    ) -> Result<Vec<AdoptedEvidence>, StoreError> {
        adopt_evidence_in(self.conn().await?, measure_id, claim).await
    }

    /// The pending claim on a measure, if any.
    pub async fn pending_claim(&mut self, measure_id: i64) -> Result<Option<i64>, StoreError> {
        pending_claim_in(self.read_conn().await?, measure_id).await
    }

    /// The pending claim on a measure that is 申请销号, opened in `change`'s name when there
    /// is none (the ledger brought the status in).
    pub async fn claim_of_claimed(
        &mut self,
        measure_id: i64,
        change: &Change,
    ) -> Result<Option<i64>, StoreError> {
        claim_of_claimed_in(self.conn().await?, measure_id, change).await
    }

    /// An extension request by id.
    pub async fn extension(&mut self, id: i64) -> Result<Option<ExtensionRequest>, StoreError> {
        extension_in(self.conn().await?, id).await
    }

    /// Decides a pending extension request (see `decide_extension_in`).
    pub async fn decide_extension(
        &mut self,
        id: i64,
        approve: bool,
        reason: Option<&str>,
        change: &Change,
    ) -> Result<Option<String>, StoreError> {
        decide_extension_in(self.conn().await?, id, approve, reason, change).await
    }

    /// A coordination flag by id.
    pub async fn flag_by_id(&mut self, id: i64) -> Result<Option<Flag>, StoreError> {
        flag_in(self.conn().await?, id).await
    }

    /// Whether the ledger names a unit.
    pub async fn unit_exists(&mut self, unit: &str) -> Result<bool, StoreError> {
        let found: Option<i64> = sqlx::query_scalar("SELECT id FROM units WHERE name = $1")
            .bind(unit)
            .fetch_optional(self.read_conn().await?)
            .await?;
        Ok(found.is_some())
    }

    /// Adds a unit unless it exists (the office itself, when it answers a request).
    pub async fn ensure_unit(&mut self, unit: &str) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO units (name, created_at) VALUES ($1, $2) ON CONFLICT (name) DO NOTHING",
        )
        .bind(unit)
        .bind(instant_text(self.at))
        .execute(self.conn().await?)
        .await?;
        Ok(())
    }

    /// Raises a coordination flag into a request (诉求); returns its id.
    pub async fn raise_flag(
        &mut self,
        flag_id: i64,
        request: &NewRequest<'_>,
    ) -> Result<i64, StoreError> {
        add_request_in(self.conn().await?, request, Some(flag_id)).await
    }

    /// A request by id.
    pub async fn request(&mut self, id: i64) -> Result<Option<Request>, StoreError> {
        request_in(self.conn().await?, id).await
    }

    /// Answers a request; `false` when it was answered already.
    pub async fn answer_request(
        &mut self,
        id: i64,
        answer: &str,
        by: &str,
        on: NaiveDate,
    ) -> Result<bool, StoreError> {
        let at = self.at;
        answer_request_in(self.conn().await?, id, answer, by, at, on).await
    }

    /// Queues a notice about something (`kind`, `context`) to every office chat, once each:
    /// `key` is completed with the chat. Returns whether anything was new to the outbox.
    pub async fn notify_office(
        &mut self,
        key: &str,
        kind: &str,
        message: &crate::core::chat::Message,
        context: &serde_json::Value,
    ) -> Result<bool, StoreError> {
        let mut queued = false;
        for chat in self.office_chats().await? {
            let key = format!("{key}:{}", chat.key());
            queued |= self
                .enqueue_about(&key, &chat, kind, message, context)
                .await?
                .is_some();
        }
        Ok(queued)
    }

    /// Queues a message with what it is about, to go out once this update commits.
    pub async fn enqueue_about(
        &mut self,
        key: &str,
        chat: &Address,
        kind: &str,
        message: &crate::core::chat::Message,
        context: &serde_json::Value,
    ) -> Result<Option<i64>, StoreError> {
        self.enqueue_with(key, chat, None, kind, message, Some(context))
            .await
    }
}

impl Store {
    /// The code of the measure with this id, if it exists.
    pub async fn measure_code(&self, id: i64) -> Result<Option<String>, StoreError> {
        Ok(
            sqlx::query_scalar("SELECT code FROM measures WHERE id = $1")
                .bind(id)
                .fetch_optional(&self.pool)
                .await?,
        )
    }
}
