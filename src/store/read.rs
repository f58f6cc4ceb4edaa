//! Reading the ledger back as domain types.

use serde::Deserialize;
use sqlx::{AnyConnection, Row};

use super::sql::{Val, fetch};
use super::{Backend, Store, StoreError, nearest, parse_date, parse_instant, parse_status};
use crate::core::ledger::{
    Deadline, DeadlineKind, HistoryEntry, Measure, ProgressNote, ReportCycle, Source,
};

/// How a measure came into the ledger.
struct Creation {
    at: chrono::DateTime<chrono::Utc>,
    by: String,
    status: crate::core::ledger::Status,
    progress: Option<String>,
    file: Option<String>,
    row: i64,
}

impl Creation {
    /// Measures come from imports; one without an import came from the command line.
    fn source(&self) -> Source {
        if self.file.is_some() {
            Source::Import
        } else {
            Source::Cli
        }
    }
}

/// A unit and how many people answer for it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnitRecord {
    /// The unit's name.
    pub name: String,
    /// Its bound liaisons.
    pub liaisons: i64,
}

/// One measure as the listing query returns it, element by element.
#[derive(Deserialize)]
struct MeasureRecord(
    i64,
    String,
    Option<String>,
    Option<String>,
    String,
    Option<String>,
    String,
    String,
    Option<String>,
    Option<String>,
    String,
    String,
    String,
    Option<String>,
    Option<String>,
    Option<String>,
    Option<Vec<String>>,
    Option<Vec<String>>,
);

/// The listing query: the matching measures, in ledger order, as ONE JSON array of arrays.
/// sqlx hands rows over from its worker one message at a time; one row of JSON instead of
/// 400,000 rows of measures and links makes listing 100,000 measures several times faster.
/// A measure's latest report is its latest note, or else the progress it was created with.
fn listing_sql(backend: Backend, filter: &str) -> String {
    let (agg, array, wrap, as_text) = match backend {
        Backend::Sqlite => ("json_group_array", "json_array", "json", ""),
        Backend::Postgres => ("json_agg", "json_build_array", "", "::text"),
    };
    // SQLite runs the per-measure lists as correlated subqueries along the primary keys, and
    // so does PostgreSQL for a few measures. For the whole ledger PostgreSQL gets them
    // pre-aggregated and joined, which keeps it from running a subplan per measure (with a
    // hash of every person in each) when its statistics are off.
    let whole = filter.trim().is_empty();
    let (units, leaders, joins) = match backend {
        Backend::Postgres if !whole => (
            "(SELECT json_agg(x.name ORDER BY l.position) FROM measure_units l JOIN units x ON x.id = l.unit_id \
             WHERE l.measure_id = m.id)"
                .to_string(),
            "(SELECT json_agg(x.name ORDER BY l.position) FROM measure_leaders l JOIN people x ON x.id = l.person_id \
             WHERE l.measure_id = m.id)"
                .to_string(),
            String::new(),
        ),
        Backend::Sqlite => (
            format!(
                "{wrap}((SELECT {agg}(x.name ORDER BY l.position) FROM measure_units l JOIN units x ON x.id = l.unit_id \
                 WHERE l.measure_id = m.id))"
            ),
            format!(
                "{wrap}((SELECT {agg}(x.name ORDER BY l.position) FROM measure_leaders l JOIN people x ON x.id = l.person_id \
                 WHERE l.measure_id = m.id))"
            ),
            String::new(),
        ),
        Backend::Postgres => (
            "mu.names".to_string(),
            "ml.names".to_string(),
            "LEFT JOIN (SELECT l.measure_id, json_agg(x.name ORDER BY l.position) AS names \
               FROM measure_units l JOIN units x ON x.id = l.unit_id GROUP BY l.measure_id) mu ON mu.measure_id = m.id \
             LEFT JOIN (SELECT l.measure_id, json_agg(x.name ORDER BY l.position) AS names \
               FROM measure_leaders l JOIN people x ON x.id = l.person_id GROUP BY l.measure_id) ml ON ml.measure_id = m.id"
                .to_string(),
        ),
    };
    format!(
        "SELECT {agg}({array}(m.id, m.code, a.name, p.title, m.content, m.target, u.name, \
         m.deadline_kind, m.deadline, m.report_cycle, m.deadline_text, m.status, m.created_at, \
         COALESCE(m.last_report_at, CASE WHEN m.initial_progress IS NULL THEN NULL ELSE m.created_at END), \
         m.claimed_at, COALESCE(m.latest_progress, m.initial_progress), {units}, {leaders}) \
         ORDER BY m.position, m.id){as_text} \
         FROM measures m JOIN units u ON u.id = m.lead_unit_id \
         LEFT JOIN problems p ON p.id = m.problem_id LEFT JOIN aspects a ON a.id = m.aspect_id {joins} {filter}"
    )
}

fn measure_from_record(r: MeasureRecord) -> Result<(i64, Measure), StoreError> {
    let kind =
        DeadlineKind::from_code(&r.7).ok_or_else(|| corrupt("measures.deadline_kind", &r.7))?;
    let date =
        r.8.as_deref()
            .map(|d| parse_date("measures.deadline", d))
            .transpose()?;
    let cycle = match r.9.as_deref() {
        Some(text) => Some(
            ReportCycle::from_code(text).ok_or_else(|| corrupt("measures.report_cycle", text))?,
        ),
        None => None,
    };
    let deadline =
        Deadline::from_parts(kind, date, cycle).ok_or_else(|| corrupt("measures.deadline", ""))?;
    let measure = Measure {
        code: r.1,
        aspect: r.2,
        problem: r.3,
        content: r.4,
        target: r.5,
        lead_unit: r.6,
        units: r.16.unwrap_or_default(),
        leaders: r.17.unwrap_or_default(),
        deadline,
        deadline_text: r.10,
        status: parse_status("measures.status", &r.11)?,
        created_at: parse_instant("measures.created_at", &r.12)?,
        last_report_at: r
            .13
            .as_deref()
            .map(|t| parse_instant("measures.last_report_at", t))
            .transpose()?,
        claimed_at: r
            .14
            .as_deref()
            .map(|t| parse_instant("measures.claimed_at", t))
            .transpose()?,
        latest_progress: r.15,
    };
    Ok((r.0, measure))
}

fn corrupt(column: &'static str, value: &str) -> StoreError {
    StoreError::Corrupt {
        column,
        value: value.to_string(),
    }
}

/// Every measure the filter lets through, in ledger order, with its units and leaders.
pub(super) async fn listing_in(
    conn: &mut AnyConnection,
    backend: Backend,
    filter: &str,
    values: &[Val<'_>],
) -> Result<Vec<Measure>, StoreError> {
    Ok(listing_with_ids_in(conn, backend, filter, values)
        .await?
        .into_iter()
        .map(|(_, m)| m)
        .collect())
}

/// [`listing_in`] with each measure's id.
async fn listing_with_ids_in(
    conn: &mut AnyConnection,
    backend: Backend,
    filter: &str,
    values: &[Val<'_>],
) -> Result<Vec<(i64, Measure)>, StoreError> {
    let rows = fetch(conn, listing_sql(backend, filter), values).await?;
    listing_from_rows(rows)
}

/// The measures of a listing statement's answer (one row holding a JSON array, or none).
pub(super) fn listing_from_rows(
    rows: Vec<sqlx::any::AnyRow>,
) -> Result<Vec<(i64, Measure)>, StoreError> {
    let Some(text) = rows
        .first()
        .map(|r| r.try_get::<Option<String>, _>(0))
        .transpose()?
        .flatten()
    else {
        return Ok(Vec::new());
    };
    drop(rows);
    let records: Vec<MeasureRecord> =
        serde_json::from_str(&text).map_err(|e| StoreError::Corrupt {
            column: "measures listing",
            value: e.to_string(),
        })?;
    drop(text);
    records.into_iter().map(measure_from_record).collect()
}

/// The statement reading the measure whose code is parameter `$1`, with its id, as
/// [`listing_from_rows`] reads it.
pub(super) fn measure_named_sql(backend: Backend) -> String {
    listing_sql(backend, "WHERE m.code = $1")
}

/// The statement reading the measures whose codes are parameters `$1` to `$count`, with
/// their ids, as [`listing_from_rows`] reads them.
pub(super) fn measures_named_sql(backend: Backend, count: usize) -> String {
    let codes: Vec<String> = (1..=count).map(|n| format!("${n}")).collect();
    listing_sql(backend, &format!("WHERE m.code IN ({})", codes.join(", ")))
}

/// The id of the measure with `code`, or an error naming the closest codes.
pub(super) async fn measure_id_in(conn: &mut AnyConnection, code: &str) -> Result<i64, StoreError> {
    let row = sqlx::query("SELECT id FROM measures WHERE code = $1")
        .bind(code)
        .fetch_optional(&mut *conn)
        .await?;
    if let Some(row) = row {
        return Ok(row.try_get(0)?);
    }
    let codes: Vec<String> = sqlx::query_scalar("SELECT code FROM measures")
        .fetch_all(&mut *conn)
        .await?;
    Err(StoreError::NoSuchMeasure {
        code: code.to_string(),
        nearest: nearest(code, codes.iter().map(String::as_str)),
    })
}

/// One measure by code, with its units and leaders.
pub(super) async fn measure_in(
    conn: &mut AnyConnection,
    backend: Backend,
    code: &str,
) -> Result<Measure, StoreError> {
    let id = measure_id_in(conn, code).await?;
    measure_by_id_in(conn, backend, id, code).await
}

/// The measure `id`, whose code is `code`.
pub(super) async fn measure_by_id_in(
    conn: &mut AnyConnection,
    backend: Backend,
    id: i64,
    code: &str,
) -> Result<Measure, StoreError> {
    let filter = match backend {
        Backend::Sqlite => "WHERE m.id = ?",
        Backend::Postgres => "WHERE m.id = $1",
    };
    let mut found = listing_in(conn, backend, filter, &[Val::Int(id)]).await?;
    found.pop().ok_or_else(|| StoreError::NoSuchMeasure {
        code: code.to_string(),
        nearest: Vec::new(),
    })
}

impl Store {
    /// Every measure, in ledger order, with its units and leaders.
    pub async fn measures(&self) -> Result<Vec<Measure>, StoreError> {
        self.listing("", &[]).await
    }

    async fn listing(&self, filter: &str, values: &[Val<'_>]) -> Result<Vec<Measure>, StoreError> {
        let mut conn = self.pool.acquire().await?;
        listing_in(&mut conn, self.backend, filter, values).await
    }

    /// The id of the measure with `code`, or an error naming the closest codes.
    pub(crate) async fn measure_id(&self, code: &str) -> Result<i64, StoreError> {
        let mut conn = self.pool.acquire().await?;
        measure_id_in(&mut conn, code).await
    }

    /// One measure by code, with its units and leaders.
    pub async fn measure(&self, code: &str) -> Result<Measure, StoreError> {
        let mut conn = self.pool.acquire().await?;
        measure_in(&mut conn, self.backend, code).await
    }

    /// How and when a measure was created: `(created_at, created_by, initial status,
    /// initial progress, import file, row)`.
    async fn creation(&self, id: i64) -> Result<Creation, StoreError> {
        let row = sqlx::query(
            "SELECT m.created_at, m.created_by, m.initial_status, m.initial_progress, i.file, m.position \
             FROM measures m LEFT JOIN imports i ON i.id = m.import_id WHERE m.id = $1",
        )
        .bind(id)
        .fetch_one(&self.pool)
        .await?;
        Ok(Creation {
            at: parse_instant("measures.created_at", row.try_get(0)?)?,
            by: row.try_get(1)?,
            status: parse_status("measures.initial_status", row.try_get(2)?)?,
            progress: row.try_get(3)?,
            file: row.try_get(4)?,
            row: row.try_get(5)?,
        })
    }

    /// A measure's history, oldest first: its creation, then every change.
    pub async fn history(&self, code: &str) -> Result<Vec<HistoryEntry>, StoreError> {
        let id = self.measure_id(code).await?;
        let creation = self.creation(id).await?;
        let mut history = vec![HistoryEntry {
            at: creation.at,
            kind: "created".into(),
            actor: creation.by.clone(),
            source: creation.source(),
            from: None,
            to: creation.status,
            unit: None,
            chat_id: None,
            note: creation
                .file
                .as_ref()
                .map(|file| format!("导入自{file}第{}行", creation.row)),
            old: None,
            new: None,
        }];
        let rows = sqlx::query(
            "SELECT at, actor, source, from_status, to_status, note, unit, chat_id, kind, old_value, new_value FROM history \
             WHERE measure_id = $1 ORDER BY id",
        )
        .bind(id)
        .fetch_all(&self.pool)
        .await?;
        for row in &rows {
            let source: String = row.try_get(2)?;
            let from: Option<String> = row.try_get(3)?;
            history.push(HistoryEntry {
                at: parse_instant("history.at", row.try_get(0)?)?,
                actor: row.try_get(1)?,
                source: Source::from_code(&source)
                    .ok_or_else(|| corrupt("history.source", &source))?,
                from: from
                    .as_deref()
                    .map(|f| parse_status("history.from_status", f))
                    .transpose()?,
                to: parse_status("history.to_status", row.try_get(4)?)?,
                note: row.try_get(5)?,
                unit: row.try_get(6)?,
                chat_id: super::chat::parse_address("history.chat_id", row.try_get(7)?)?,
                kind: row.try_get(8)?,
                old: row.try_get(9)?,
                new: row.try_get(10)?,
            });
        }
        Ok(history)
    }

    /// A measure's progress notes, oldest first: the progress it was created with, if any,
    /// then every later note.
    pub async fn notes(&self, code: &str) -> Result<Vec<ProgressNote>, StoreError> {
        let id = self.measure_id(code).await?;
        let creation = self.creation(id).await?;
        let source = creation.source();
        let mut notes: Vec<ProgressNote> = creation
            .progress
            .map(|body| ProgressNote {
                at: creation.at,
                author: creation.by,
                source,
                body,
            })
            .into_iter()
            .collect();
        let rows = sqlx::query(
            "SELECT created_at, author, source, body FROM progress_notes WHERE measure_id = $1 ORDER BY id",
        )
        .bind(id)
        .fetch_all(&self.pool)
        .await?;
        for row in &rows {
            let source: String = row.try_get(2)?;
            notes.push(ProgressNote {
                at: parse_instant("progress_notes.created_at", row.try_get(0)?)?,
                author: row.try_get(1)?,
                source: Source::from_code(&source)
                    .ok_or_else(|| corrupt("progress_notes.source", &source))?,
                body: row.try_get(3)?,
            });
        }
        Ok(notes)
    }

    /// Every unit, by name, with its liaison count.
    pub async fn units(&self) -> Result<Vec<UnitRecord>, StoreError> {
        let rows = sqlx::query(
            "SELECT u.name, (SELECT COUNT(*) FROM people p WHERE p.unit_id = u.id AND p.role = 'liaison') \
             FROM units u ORDER BY u.id",
        )
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|row| {
                Ok(UnitRecord {
                    name: row.try_get(0)?,
                    liaisons: row.try_get(1)?,
                })
            })
            .collect()
    }
}
