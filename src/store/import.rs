//! Writing an import: ledger lines stream in by batches inside one transaction, which commits
//! only when the whole file was good.
//!
//! A re-import matches measures by code and updates them in place. It keeps their status and
//! history, records what it changed, adds the ledger's progress text as a note when it is new,
//! and reports measures the file no longer lists instead of deleting them.

use std::collections::HashMap;

use rustc_hash::{FxHashMap, FxHashSet};

use chrono::{DateTime, Utc};
use sqlx::Row;

use super::sql::{
    BulkRow, Kind, ROWS_PER_STATEMENT, Val, copy_rows, execute, fetch, insert_bound, insert_rows,
    json_batch, json_id_list, json_select, placeholders,
};
use super::{Backend, Store, StoreError, date_text, instant_text, parse_status};
use crate::core::ledger::{LedgerLine, Status};

/// A measure the file gives a status for that differs from the ledger's; the ledger's is kept.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StatusKept {
    /// The measure.
    pub code: String,
    /// The status in the file.
    pub file: Status,
    /// The status in the ledger, which stays.
    pub ledger: Status,
}

/// What an import did, or would do on a dry run.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ImportOutcome {
    /// Data rows written.
    pub rows: usize,
    /// Codes of new measures.
    pub created: Vec<String>,
    /// Codes of measures whose ledger entry changed.
    pub updated: Vec<String>,
    /// How many measures were already as the file says.
    pub unchanged: usize,
    /// Codes of measures in the ledger that the file no longer lists; they stay.
    pub missing: Vec<String>,
    /// Existing measures whose status in the file differs from the ledger's.
    pub status_kept: Vec<StatusKept>,
    /// Units seen for the first time.
    pub new_units: Vec<String>,
    /// Responsible leaders seen for the first time.
    pub new_leaders: Vec<String>,
    /// Progress notes added from the 整改进展 column.
    pub notes_added: usize,
}

struct Existing {
    id: i64,
    seen: bool,
    hash: String,
    status: Status,
    position: i64,
    /// The 整改进展 text the last import carried.
    ledger_progress: Option<u64>,
    /// The measure's latest progress, from any source.
    latest_progress: Option<u64>,
}

/// An import in progress: one open transaction.
pub struct ImportWriter {
    tx: super::WriteTx,
    backend: Backend,
    import_id: i64,
    /// The id the next new measure gets. The import holds the write lock on `measures`, so
    /// it numbers new measures itself and needs no ids sent back.
    next_id: i64,
    at: String,
    actor: String,
    started: DateTime<Utc>,
    existing: FxHashMap<String, Existing>,
    units: FxHashMap<String, i64>,
    leaders: FxHashMap<String, i64>,
    aspects: FxHashMap<String, i64>,
    problems: ProblemIds,
    outcome: ImportOutcome,
    /// On PostgreSQL, once the import proves large: the statements that add back the
    /// foreign keys and plain indexes of the tables it fills, dropped for the import and
    /// added back (each key checked, each index built, in one pass) before it commits.
    suspended_keys: Option<Vec<String>>,
}

/// New or changed measures in one batch from which an import on PostgreSQL checks its
/// foreign keys once at its end instead of row by row: each row's check is a query of its
/// own that locks the row it refers to (`FOR KEY SHARE`).
const BULK_LINES: usize = 1_000;

fn text_hash(text: &str) -> u64 {
    crate::core::ledger::fnv1a(text.bytes())
}

impl Store {
    /// Starts an import of `file` by `actor` at `at`: opens the transaction and loads what the
    /// ledger already holds.
    pub async fn begin_import(
        &self,
        file: &str,
        actor: &str,
        at: DateTime<Utc>,
    ) -> Result<ImportWriter, StoreError> {
        let mut tx = self.begin_write().await?;
        if self.backend == Backend::Sqlite {
            // A small page cache while the import writes: pages go to the WAL as the rows
            // come, on this thread while the reader parses the file, instead of all at the
            // commit, which everything waits for (a 100,000-measure import's commit: 0.21 s
            // with 32 MiB, 0.18 s with 2 MiB). The usual size is back before it ends.
            sqlx::query(super::SQLITE_IMPORT_CACHE)
                .execute(&mut *tx)
                .await?;
        }
        if self.backend == Backend::Postgres {
            // Readers go on; other writers of measures wait until the import ends.
            sqlx::query("LOCK TABLE measures IN SHARE ROW EXCLUSIVE MODE")
                .execute(&mut *tx)
                .await?;
        }
        let next_id: i64 = sqlx::query_scalar("SELECT COALESCE(MAX(id), 0) + 1 FROM measures")
            .fetch_one(&mut *tx)
            .await?;
        let mut existing = FxHashMap::default();
        let rows = sqlx::query(
            "SELECT id, code, source_hash, status, position, COALESCE(ledger_progress, initial_progress), \
             COALESCE(latest_progress, initial_progress) FROM measures",
        )
        .fetch_all(&mut *tx)
        .await?;
        for row in rows {
            let ledger_progress: Option<String> = row.try_get(5)?;
            let latest_progress: Option<String> = row.try_get(6)?;
            existing.insert(
                row.try_get::<String, _>(1)?,
                Existing {
                    id: row.try_get(0)?,
                    seen: false,
                    hash: row.try_get(2)?,
                    status: parse_status("measures.status", row.try_get(3)?)?,
                    position: row.try_get(4)?,
                    ledger_progress: ledger_progress.as_deref().map(text_hash),
                    latest_progress: latest_progress.as_deref().map(text_hash),
                },
            );
        }
        let units = name_map(&mut tx, "SELECT name, id FROM units").await?;
        let leaders =
            name_map(&mut tx, "SELECT name, id FROM people WHERE role = 'leader'").await?;
        let aspects = name_map(&mut tx, "SELECT name, id FROM aspects").await?;
        let mut problems = ProblemIds::default();
        for row in sqlx::query("SELECT aspect_id, title, id FROM problems")
            .fetch_all(&mut *tx)
            .await?
        {
            problems.insert(row.try_get(0)?, row.try_get(1)?, row.try_get(2)?);
        }
        let sql = format!(
            "INSERT INTO imports (file, actor, started_at) VALUES ({}) RETURNING id",
            placeholders(self.backend, 3)
        );
        let at_text = instant_text(at);
        let rows = fetch(
            &mut tx,
            sql,
            &[Val::Text(file), Val::Text(actor), Val::Text(&at_text)],
        )
        .await?;
        let import_id: i64 = rows
            .first()
            .map(|r| r.try_get(0))
            .transpose()?
            .unwrap_or_default();
        Ok(ImportWriter {
            tx,
            backend: self.backend,
            import_id,
            next_id,
            at: instant_text(at),
            actor: actor.to_string(),
            started: at,
            existing,
            units,
            leaders,
            aspects,
            problems,
            outcome: ImportOutcome::default(),
            suspended_keys: None,
        })
    }
}

/// The ids of problems by aspect and title, looked up by a borrowed title.
#[derive(Default)]
struct ProblemIds {
    by_aspect: FxHashMap<Option<i64>, FxHashMap<String, i64>>,
}

impl ProblemIds {
    fn get(&self, aspect: Option<i64>, title: &str) -> Option<i64> {
        self.by_aspect.get(&aspect)?.get(title).copied()
    }

    fn insert(&mut self, aspect: Option<i64>, title: String, id: i64) {
        self.by_aspect.entry(aspect).or_default().insert(title, id);
    }

    fn len(&self) -> usize {
        self.by_aspect.values().map(|titles| titles.len()).sum()
    }
}

async fn name_map(
    tx: &mut super::WriteTx,
    sql: &'static str,
) -> Result<FxHashMap<String, i64>, StoreError> {
    let mut map = FxHashMap::default();
    for row in sqlx::query(sql).fetch_all(&mut **tx).await? {
        map.insert(row.try_get(0)?, row.try_get(1)?);
    }
    Ok(map)
}

/// The columns of `measures` an import writes, in order, with their types. A new measure's
/// status and progress text go in as its initial ones; the latest progress and the last
/// report stay empty until a later note.
const MEASURE_COLUMNS: [(&str, Kind); 20] = [
    ("id", Kind::Int),
    ("code", Kind::Text),
    ("aspect_id", Kind::Int),
    ("problem_id", Kind::Int),
    ("content", Kind::Text),
    ("target", Kind::Text),
    ("lead_unit_id", Kind::Int),
    ("deadline_kind", Kind::Text),
    ("deadline", Kind::Text),
    ("report_cycle", Kind::Text),
    ("deadline_text", Kind::Text),
    ("status", Kind::Text),
    ("initial_status", Kind::Text),
    ("initial_progress", Kind::Text),
    ("created_by", Kind::Text),
    ("import_id", Kind::Int),
    ("position", Kind::Int),
    ("source_hash", Kind::Text),
    ("created_at", Kind::Text),
    ("updated_at", Kind::Text),
];

impl ImportWriter {
    /// Writes one batch of lines. Lines must have codes unique across the whole import.
    pub async fn write(&mut self, lines: &[LedgerLine]) -> Result<(), StoreError> {
        if self.backend == Backend::Postgres
            && self.suspended_keys.is_none()
            && lines.len() >= BULK_LINES
            && self.rows_to_write(lines) >= BULK_LINES
        {
            self.suspend_foreign_keys().await?;
        }
        self.ensure_aspects(lines).await?;
        self.ensure_problems(lines).await?;
        self.ensure_units(lines).await?;
        self.ensure_leaders(lines).await?;
        let mut fresh = Vec::new();
        let mut changed = Vec::new();
        let mut moved: Vec<[Val; 2]> = Vec::new();
        let mut progress: Vec<(i64, &str)> = Vec::new();
        let mut ledger_text: Vec<(i64, &str)> = Vec::new();
        for line in lines {
            self.outcome.rows += 1;
            let Some(old) = self.existing.get_mut(&line.code) else {
                fresh.push(line);
                continue;
            };
            old.seen = true;
            let old = &*old;
            if let Some(status) = line.status
                && status != old.status
            {
                self.outcome.status_kept.push(StatusKept {
                    code: line.code.clone(),
                    file: status,
                    ledger: old.status,
                });
            }
            // New 整改进展 text in the file is a report, unless it only repeats the measure's
            // latest progress (an export of the ledger carries that). Text the last import
            // already carried is stale and changes nothing.
            if let Some(text) = line.progress.as_deref()
                && old.ledger_progress != Some(text_hash(text))
            {
                ledger_text.push((old.id, text));
                if old.latest_progress != Some(text_hash(text)) {
                    progress.push((old.id, text));
                }
            }
            if !line.has_fingerprint(&old.hash) {
                changed.push((old.id, line));
            } else {
                self.outcome.unchanged += 1;
                if old.position != i64::from(line.row) {
                    moved.push([Val::Int(old.id), Val::Int(i64::from(line.row))]);
                }
            }
        }
        self.insert_new(&fresh).await?;
        self.update_changed(&changed).await?;
        for chunk in moved.chunks(ROWS_PER_STATEMENT) {
            let sql = format!(
                "UPDATE measures SET position = j.p FROM ({}) AS j WHERE measures.id = j.id",
                json_select(self.backend, &[("id", Kind::Int), ("p", Kind::Int)])
            );
            execute(&mut self.tx, sql, &[Val::Text(&json_batch(chunk))]).await?;
        }
        self.add_progress(&progress, &ledger_text).await?;
        Ok(())
    }

    /// How many of `lines` are new or changed measures: the rows the batch writes.
    fn rows_to_write(&self, lines: &[LedgerLine]) -> usize {
        lines
            .iter()
            .filter(|line| match self.existing.get(&line.code) {
                None => true,
                Some(old) => !line.has_fingerprint(&old.hash),
            })
            .count()
    }

    /// Drops the foreign keys and the plain indexes (no constraint's, none unique) of the tables an import
    /// fills (PostgreSQL), keeping the statements that add them back: building an index once
    /// over a table costs less than keeping it up to date row by row (`measures_lead_unit`
    /// was a tenth of the `COPY` of measures). The unique keys no foreign key leans on go
    /// too and are built again at the end, where a duplicate fails the import as it would
    /// have row by row (keeping them up to date was half of what the server did for the
    /// `COPY`): measures' code, which nothing in the import looks up (the writer knows the
    /// existing codes and updates by id), and, when the ledger was empty, the primary keys of
    /// the link tables (a re-import deletes links by measure, which needs them). The drop is
    /// part of the import's transaction: readers of the ledger wait until the import ends, and
    /// a rollback restores all.
    async fn suspend_foreign_keys(&mut self) -> Result<(), StoreError> {
        let first_load = self.existing.is_empty();
        let keys: Vec<(String, String)> = sqlx::query_as(
            "SELECT format('ALTER TABLE %I DROP CONSTRAINT %I', c.relname, k.conname), \
                    format('ALTER TABLE %I ADD CONSTRAINT %I %s', c.relname, k.conname, pg_get_constraintdef(k.oid)) \
             FROM pg_constraint k JOIN pg_class c ON c.oid = k.conrelid \
             WHERE k.contype = 'f' \
               AND k.conrelid = ANY (ARRAY['measures', 'measure_units', 'measure_leaders', 'problems']::regclass[]) \
             UNION ALL \
             SELECT format('DROP INDEX %s', x.indexrelid::regclass), pg_get_indexdef(x.indexrelid) \
             FROM pg_index x \
             WHERE NOT x.indisunique AND NOT x.indisprimary \
               AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conindid = x.indexrelid) \
               AND x.indrelid = ANY (ARRAY['measures', 'measure_units', 'measure_leaders', 'problems']::regclass[]) \
             UNION ALL \
             SELECT format('ALTER TABLE %I DROP CONSTRAINT %I', c.relname, k.conname), \
                    format('ALTER TABLE %I ADD CONSTRAINT %I %s', c.relname, k.conname, pg_get_constraintdef(k.oid)) \
             FROM pg_constraint k JOIN pg_class c ON c.oid = k.conrelid \
             WHERE k.contype IN ('p', 'u') \
               AND k.conrelid = ANY (CASE WHEN $1 THEN ARRAY['measures', 'measure_units', 'measure_leaders'] \
                                          ELSE ARRAY['measures'] END::regclass[]) \
               AND NOT EXISTS (SELECT 1 FROM pg_constraint f WHERE f.contype = 'f' AND f.conindid = k.conindid)",
        )
        .bind(first_load)
        .fetch_all(&mut *self.tx)
        .await?;
        let mut restore = Vec::with_capacity(keys.len());
        for (drop, add) in keys {
            sqlx::query(sqlx::AssertSqlSafe(drop))
                .execute(&mut *self.tx)
                .await?;
            restore.push(add);
        }
        self.suspended_keys = Some(restore);
        Ok(())
    }

    /// Adds back the foreign keys and indexes [`ImportWriter::suspend_foreign_keys`] dropped:
    /// each key is checked over its whole table in one statement, and a row that breaks one
    /// fails the import.
    async fn restore_foreign_keys(&mut self) -> Result<(), StoreError> {
        for add in self.suspended_keys.take().unwrap_or_default() {
            sqlx::query(sqlx::AssertSqlSafe(add))
                .execute(&mut *self.tx)
                .await?;
        }
        Ok(())
    }

    async fn ensure_aspects(&mut self, lines: &[LedgerLine]) -> Result<(), StoreError> {
        let names = unknown(
            lines.iter().filter_map(|l| l.aspect.as_ref()),
            &self.aspects,
        );
        let base = self.aspects.len() as i64;
        let rows: Vec<[Val; 2]> = names
            .iter()
            .enumerate()
            .map(|(i, n)| [Val::Text(n), Val::Int(base + i as i64 + 1)])
            .collect();
        let columns = [("name", Kind::Text), ("position", Kind::Int)];
        let ids = insert_named(
            &mut self.tx,
            self.backend,
            "aspects",
            &columns,
            &names,
            &rows,
        )
        .await?;
        self.aspects.extend(ids);
        Ok(())
    }

    async fn ensure_problems(&mut self, lines: &[LedgerLine]) -> Result<(), StoreError> {
        // New problems in the order the file gives them; a set, not the list, says which
        // are already there (a batch brings hundreds).
        let mut fresh: Vec<(Option<i64>, &str)> = Vec::new();
        let mut seen: FxHashSet<(Option<i64>, &str)> = FxHashSet::default();
        for line in lines {
            let Some(title) = line.problem.as_deref() else {
                continue;
            };
            let aspect = self.aspect_id(line);
            if !seen.insert((aspect, title)) {
                continue;
            }
            if self.problems.get(aspect, title).is_none() {
                fresh.push((aspect, title));
            }
        }
        let base = self.problems.len() as i64;
        let rows: Vec<[Val; 3]> = fresh
            .iter()
            .enumerate()
            .map(|(i, (a, t))| [Val::OptInt(*a), Val::Text(t), Val::Int(base + i as i64 + 1)])
            .collect();
        let columns = [
            ("aspect_id", Kind::Int),
            ("title", Kind::Text),
            ("position", Kind::Int),
        ];
        if self.backend == Backend::Sqlite {
            let ids = insert_bound(&mut self.tx, "problems", &columns, &rows, true).await?;
            for ((aspect, title), id) in fresh.iter().zip(ids) {
                self.problems.insert(*aspect, title.to_string(), id);
            }
            return Ok(());
        }
        let returning = "RETURNING aspect_id, title, id";
        for row in insert_rows(
            &mut self.tx,
            self.backend,
            "problems",
            &columns,
            &rows,
            returning,
        )
        .await?
        {
            self.problems
                .insert(row.try_get(0)?, row.try_get(1)?, row.try_get(2)?);
        }
        Ok(())
    }

    fn aspect_id(&self, line: &LedgerLine) -> Option<i64> {
        line.aspect
            .as_deref()
            .and_then(|a| self.aspects.get(a))
            .copied()
    }

    async fn ensure_units(&mut self, lines: &[LedgerLine]) -> Result<(), StoreError> {
        let all = lines
            .iter()
            .flat_map(|l| std::iter::once(&l.lead_unit).chain(&l.units));
        let names = unknown(all, &self.units);
        let rows: Vec<[Val; 2]> = names
            .iter()
            .map(|n| [Val::Text(n), Val::Text(&self.at)])
            .collect();
        let columns = [("name", Kind::Text), ("created_at", Kind::Text)];
        let ids =
            insert_named(&mut self.tx, self.backend, "units", &columns, &names, &rows).await?;
        self.units.extend(ids);
        self.outcome.new_units.extend(names);
        Ok(())
    }

    async fn ensure_leaders(&mut self, lines: &[LedgerLine]) -> Result<(), StoreError> {
        let names = unknown(lines.iter().flat_map(|l| &l.leaders), &self.leaders);
        let rows: Vec<[Val; 3]> = names
            .iter()
            .map(|n| [Val::Text(n), Val::Text("leader"), Val::Text(&self.at)])
            .collect();
        let columns = [
            ("name", Kind::Text),
            ("role", Kind::Text),
            ("created_at", Kind::Text),
        ];
        let ids = insert_named(
            &mut self.tx,
            self.backend,
            "people",
            &columns,
            &names,
            &rows,
        )
        .await?;
        self.leaders.extend(ids);
        self.outcome.new_leaders.extend(names);
        Ok(())
    }

    /// Inserts new measures with the ids this import numbers them with, and their links.
    /// Their creation (who, when, which import, initial status and progress) is recorded on
    /// the rows themselves.
    async fn insert_new(&mut self, lines: &[&LedgerLine]) -> Result<(), StoreError> {
        if lines.is_empty() {
            return Ok(());
        }
        let first = self.next_id;
        self.next_id += lines.len() as i64;
        let pairs: Vec<(i64, &LedgerLine)> = lines
            .iter()
            .enumerate()
            .map(|(i, l)| (first + i as i64, *l))
            .collect();
        let extra: Vec<[String; 2]> = lines.iter().map(|l| line_extra(l)).collect();
        let ctx = RowContext {
            aspects: &self.aspects,
            problems: &self.problems,
            units: &self.units,
            at: &self.at,
            actor: &self.actor,
            import_id: self.import_id,
        };
        let rows: Vec<[Val; 20]> = pairs
            .iter()
            .zip(&extra)
            .map(|((id, l), e)| measure_values(&ctx, *id, l, e))
            .collect();
        insert_plain(
            &mut self.tx,
            self.backend,
            "measures",
            &MEASURE_COLUMNS,
            &rows,
        )
        .await?;
        drop(rows);
        self.insert_links(&pairs).await?;
        self.outcome.notes_added += lines.iter().filter(|l| l.progress.is_some()).count();
        self.outcome
            .created
            .extend(lines.iter().map(|l| l.code.clone()));
        Ok(())
    }

    /// Inserts the responsible units and leaders of measures.
    async fn insert_links(&mut self, pairs: &[(i64, &LedgerLine)]) -> Result<(), StoreError> {
        let mut unit_rows: Vec<[i64; 3]> = Vec::new();
        let mut leader_rows: Vec<[i64; 3]> = Vec::new();
        for (id, line) in pairs {
            for (i, unit) in line.units.iter().enumerate() {
                unit_rows.push([*id, self.units[unit], i as i64]);
            }
            for (i, leader) in line.leaders.iter().enumerate() {
                leader_rows.push([*id, self.leaders[leader], i as i64]);
            }
        }
        let columns = |other: &'static str| {
            [
                ("measure_id", Kind::Int),
                (other, Kind::Int),
                ("position", Kind::Int),
            ]
        };
        let (tx, backend) = (&mut self.tx, self.backend);
        insert_plain(
            tx,
            backend,
            "measure_units",
            &columns("unit_id"),
            &unit_rows,
        )
        .await?;
        insert_plain(
            tx,
            backend,
            "measure_leaders",
            &columns("person_id"),
            &leader_rows,
        )
        .await?;
        Ok(())
    }

    /// Writes history rows `(measure id, from, to, note)` for this import.
    async fn insert_history(
        &mut self,
        kind: &str,
        rows: &[(i64, Option<&str>, &str, &str)],
    ) -> Result<(), StoreError> {
        let values: Vec<[Val; 9]> = rows
            .iter()
            .map(|(id, from, to, note)| {
                [
                    Val::Int(*id),
                    Val::Text(&self.at),
                    Val::Text(&self.actor),
                    Val::Text("import"),
                    Val::Text(kind),
                    Val::OptText(*from),
                    Val::Text(to),
                    Val::Text(note),
                    Val::Int(self.import_id),
                ]
            })
            .collect();
        use Kind::{Int, Text};
        let columns = [
            ("measure_id", Int),
            ("at", Text),
            ("actor", Text),
            ("source", Text),
            ("kind", Text),
            ("from_status", Text),
            ("to_status", Text),
            ("note", Text),
            ("import_id", Int),
        ];
        insert_rows(&mut self.tx, self.backend, "history", &columns, &values, "").await?;
        Ok(())
    }

    /// Writes progress notes `(measure id, body)` from the ledger's 整改进展 column.
    async fn insert_notes(&mut self, notes: &[(i64, &str)]) -> Result<(), StoreError> {
        let values: Vec<[Val; 5]> = notes
            .iter()
            .map(|(id, body)| {
                [
                    Val::Int(*id),
                    Val::Text(body),
                    Val::Text(&self.actor),
                    Val::Text("import"),
                    Val::Text(&self.at),
                ]
            })
            .collect();
        use Kind::{Int, Text};
        let columns = [
            ("measure_id", Int),
            ("body", Text),
            ("author", Text),
            ("source", Text),
            ("created_at", Text),
        ];
        insert_rows(
            &mut self.tx,
            self.backend,
            "progress_notes",
            &columns,
            &values,
            "",
        )
        .await?;
        self.outcome.notes_added += notes.len();
        Ok(())
    }

    async fn update_changed(&mut self, changed: &[(i64, &LedgerLine)]) -> Result<(), StoreError> {
        if changed.is_empty() {
            return Ok(());
        }
        let ids: Vec<i64> = changed.iter().map(|(id, _)| *id).collect();
        let before = self.describe(&ids).await?;
        let extra: Vec<[String; 2]> = changed.iter().map(|(_, l)| line_extra(l)).collect();
        let ctx = RowContext {
            aspects: &self.aspects,
            problems: &self.problems,
            units: &self.units,
            at: &self.at,
            actor: &self.actor,
            import_id: self.import_id,
        };
        let rows: Vec<[Val; 20]> = changed
            .iter()
            .zip(&extra)
            .map(|((id, l), e)| measure_values(&ctx, *id, l, e))
            .collect();
        // An approved extension outlives re-imports of the office's older file: the moved
        // deadline stays unless the file now gives a later date.
        let kept = "measures.extensions > 0 AND NOT (excluded.deadline_kind = 'date' \
             AND excluded.deadline IS NOT NULL AND measures.deadline IS NOT NULL \
             AND excluded.deadline > measures.deadline)";
        // Each row carries its measure's id, so the id is what conflicts: during a large
        // import on PostgreSQL measures' code has no unique index to conflict on.
        let upsert = format!(
            "ON CONFLICT (id) DO UPDATE SET \
             aspect_id = excluded.aspect_id, problem_id = excluded.problem_id, content = excluded.content, target = excluded.target, \
             lead_unit_id = excluded.lead_unit_id, \
             deadline_kind = CASE WHEN {kept} THEN measures.deadline_kind ELSE excluded.deadline_kind END, \
             deadline = CASE WHEN {kept} THEN measures.deadline ELSE excluded.deadline END, \
             report_cycle = CASE WHEN {kept} THEN measures.report_cycle ELSE excluded.report_cycle END, \
             deadline_text = CASE WHEN {kept} THEN measures.deadline_text ELSE excluded.deadline_text END, \
             position = excluded.position, \
             source_hash = excluded.source_hash, updated_at = excluded.updated_at"
        );
        insert_rows(
            &mut self.tx,
            self.backend,
            "measures",
            &MEASURE_COLUMNS,
            &rows,
            &upsert,
        )
        .await?;
        drop(rows);
        let id_list = json_batch(&ids);
        for table in ["measure_units", "measure_leaders"] {
            let sql = format!(
                "DELETE FROM {table} WHERE measure_id IN {}",
                json_id_list(self.backend)
            );
            execute(&mut self.tx, sql, &[Val::Text(&id_list)]).await?;
        }
        self.insert_links(changed).await?;
        let notes: Vec<String> = changed
            .iter()
            .map(|(id, line)| diff_note(&before[id], line))
            .collect();
        let history: Vec<(i64, Option<&str>, &str, &str)> = changed
            .iter()
            .zip(&notes)
            .map(|((id, line), note)| {
                let status = self.existing[&line.code].status.code();
                (*id, Some(status), status, note.as_str())
            })
            .collect();
        self.insert_history("edit", &history).await?;
        self.outcome
            .updated
            .extend(changed.iter().map(|(_, l)| l.code.clone()));
        Ok(())
    }

    /// What the ledger said about measures before an update, for the history note.
    async fn describe(&mut self, ids: &[i64]) -> Result<HashMap<i64, Described>, StoreError> {
        let list = json_batch(ids);
        let within = json_id_list(self.backend);
        let sql = format!(
            "SELECT m.id, m.content, m.target, u.name, m.deadline_text, p.title, \
             (SELECT a.name FROM aspects a WHERE a.id = m.aspect_id), m.extensions, m.deadline \
             FROM measures m JOIN units u ON u.id = m.lead_unit_id \
             LEFT JOIN problems p ON p.id = m.problem_id WHERE m.id IN {within}"
        );
        let mut out = HashMap::new();
        for row in fetch(&mut self.tx, sql, &[Val::Text(&list)]).await? {
            out.insert(
                row.try_get::<i64, _>(0)?,
                Described {
                    content: row.try_get(1)?,
                    target: row.try_get(2)?,
                    lead_unit: row.try_get(3)?,
                    deadline_text: row.try_get(4)?,
                    problem: row.try_get(5)?,
                    aspect: row.try_get(6)?,
                    extended: row.try_get::<i64, _>(7)? > 0,
                    deadline: row.try_get(8)?,
                    units: Vec::new(),
                    leaders: Vec::new(),
                },
            );
        }
        let links = [
            (
                "SELECT l.measure_id, u.name FROM measure_units l JOIN units u ON u.id = l.unit_id",
                true,
            ),
            (
                "SELECT l.measure_id, p.name FROM measure_leaders l JOIN people p ON p.id = l.person_id",
                false,
            ),
        ];
        for (select, is_unit) in links {
            let sql = format!(
                "{select} WHERE l.measure_id IN {within} ORDER BY l.measure_id, l.position"
            );
            for row in fetch(&mut self.tx, sql, &[Val::Text(&list)]).await? {
                let id: i64 = row.try_get(0)?;
                let name: String = row.try_get(1)?;
                if let Some(d) = out.get_mut(&id) {
                    if is_unit {
                        d.units.push(name);
                    } else {
                        d.leaders.push(name);
                    }
                }
            }
        }
        Ok(out)
    }

    /// Adds new 整改进展 text of existing measures as notes that become their latest report,
    /// and remembers the text each measure's ledger row now carries.
    async fn add_progress(
        &mut self,
        notes: &[(i64, &str)],
        ledger_text: &[(i64, &str)],
    ) -> Result<(), StoreError> {
        let updates = [
            (notes, "latest_progress = j.body, last_report_at = j.at"),
            (ledger_text, "ledger_progress = j.body"),
        ];
        if !notes.is_empty() {
            self.insert_notes(notes).await?;
        }
        for (rows, set) in updates {
            let rows: Vec<[Val; 3]> = rows
                .iter()
                .map(|(id, body)| [Val::Int(*id), Val::Text(body), Val::Text(&self.at)])
                .collect();
            let columns = [("id", Kind::Int), ("body", Kind::Text), ("at", Kind::Text)];
            let sql = format!(
                "UPDATE measures SET {set} FROM ({}) AS j WHERE measures.id = j.id",
                json_select(self.backend, &columns)
            );
            for chunk in rows.chunks(ROWS_PER_STATEMENT) {
                execute(&mut self.tx, sql.clone(), &[Val::Text(&json_batch(chunk))]).await?;
            }
        }
        Ok(())
    }

    /// Abandons the import after an error: rolls everything back and writes nothing more
    /// (on PostgreSQL a failed statement leaves the transaction unusable).
    pub async fn abort(mut self) -> Result<(), StoreError> {
        self.restore_cache().await?;
        self.tx.rollback().await?;
        Ok(())
    }

    /// Gives an SQLite connection its usual page cache back ([`super::SQLITE_CACHE`]).
    async fn restore_cache(&mut self) -> Result<(), StoreError> {
        if self.backend == Backend::Sqlite {
            sqlx::query(super::SQLITE_CACHE)
                .execute(&mut *self.tx)
                .await?;
        }
        Ok(())
    }

    /// Ends the import: commits when `commit`, rolls everything back otherwise (a dry run,
    /// or a file with errors). Either way returns what the import did or would have done.
    pub async fn finish(mut self, commit: bool) -> Result<ImportOutcome, StoreError> {
        let mut missing: Vec<(i64, String)> = self
            .existing
            .iter()
            .filter(|(_, e)| !e.seen)
            .map(|(code, e)| (e.position, code.clone()))
            .collect();
        missing.sort();
        self.outcome.missing = missing.into_iter().map(|(_, c)| c).collect();
        let finished = instant_text(Utc::now().max(self.started));
        let counts = [
            self.outcome.rows as i64,
            self.outcome.created.len() as i64,
            self.outcome.updated.len() as i64,
            self.outcome.unchanged as i64,
            self.outcome.missing.len() as i64,
        ];
        let sql = format!(
            "UPDATE imports SET finished_at = {}, rows_read = {}, created = {}, updated = {}, unchanged = {}, missing = {} \
             WHERE id = {}",
            mark(self.backend, 1),
            mark(self.backend, 2),
            mark(self.backend, 3),
            mark(self.backend, 4),
            mark(self.backend, 5),
            mark(self.backend, 6),
            mark(self.backend, 7)
        );
        let mut values = vec![Val::Text(&finished)];
        values.extend(counts.iter().map(|n| Val::Int(*n)));
        values.push(Val::Int(self.import_id));
        execute(&mut self.tx, sql, &values).await?;
        if self.backend == Backend::Postgres && !self.outcome.created.is_empty() {
            sqlx::query("SELECT setval(pg_get_serial_sequence('measures', 'id'), (SELECT MAX(id) FROM measures))")
                .execute(&mut *self.tx)
                .await?;
        }
        // After a large import PostgreSQL's statistics are stale until autovacuum comes by,
        // and its plans for the listings go wrong: refresh them with the import.
        let changed = self.outcome.created.len() + self.outcome.updated.len();
        if commit && self.backend == Backend::Postgres && changed >= 1_000 {
            // Of measures, the columns the listings join and filter on: sampling the long
            // texts (content, target, progress) took most of the time, and no plan looks at
            // them; id and code are unique, which the planner reads from their indexes, and
            // position is only sorted on (the three took another third). A sample of 9,000
            // rows (statistics target 30, the usual 100 sampled 30,000) gives the row counts,
            // distinct values and a coarser histogram in a third of the time (100,000
            // measures: 0.18 → 0.06 s); naming columns leaves the table's count of changed
            // rows as it was, so autovacuum's next round analyzes measures in full.
            sqlx::query("SET LOCAL default_statistics_target = 30")
                .execute(&mut *self.tx)
                .await?;
            sqlx::query(
                "ANALYZE measures (aspect_id, problem_id, lead_unit_id, deadline_kind, deadline, status), \
                 measure_units, measure_leaders, people, units",
            )
            .execute(&mut *self.tx)
            .await?;
        }
        self.restore_cache().await?;
        if commit {
            self.restore_foreign_keys().await?;
            self.tx.commit().await?;
        } else {
            self.tx.rollback().await?;
        }
        Ok(self.outcome)
    }
}

/// The placeholder of parameter `n`: `$n` on PostgreSQL, `?n` on SQLite.
fn mark(backend: Backend, n: usize) -> String {
    match backend {
        Backend::Sqlite => format!("?{n}"),
        Backend::Postgres => format!("${n}"),
    }
}

/// What an import writes of a measure, with the parts that stay fixed over the import.
struct RowContext<'a> {
    aspects: &'a FxHashMap<String, i64>,
    problems: &'a ProblemIds,
    units: &'a FxHashMap<String, i64>,
    at: &'a str,
    actor: &'a str,
    import_id: i64,
}

/// The names among `names` that `known` lacks, each once, in order.
fn unknown<'a>(
    names: impl Iterator<Item = &'a String>,
    known: &FxHashMap<String, i64>,
) -> Vec<String> {
    let mut seen = FxHashSet::default();
    names
        .filter(|n| !known.contains_key(*n) && seen.insert(n.as_str()))
        .cloned()
        .collect()
}

/// Inserts rows that need nothing back: with `COPY` on PostgreSQL, bound to one prepared
/// statement on SQLite.
async fn insert_plain<R: BulkRow>(
    conn: &mut sqlx::AnyConnection,
    backend: Backend,
    table: &str,
    columns: &[(&str, Kind)],
    rows: &[R],
) -> Result<(), StoreError> {
    match backend {
        Backend::Postgres => copy_rows(conn, table, columns, rows).await?,
        Backend::Sqlite => {
            insert_bound(conn, table, columns, rows, false).await?;
        }
    }
    Ok(())
}

/// Inserts `rows`, the first column of each being its name from `names`, and returns each
/// name with its new id.
async fn insert_named<R: BulkRow + serde::Serialize>(
    conn: &mut sqlx::AnyConnection,
    backend: Backend,
    table: &str,
    columns: &[(&str, Kind)],
    names: &[String],
    rows: &[R],
) -> Result<Vec<(String, i64)>, StoreError> {
    if backend == Backend::Sqlite {
        let ids = insert_bound(conn, table, columns, rows, true).await?;
        return Ok(names.iter().cloned().zip(ids).collect());
    }
    insert_rows(conn, backend, table, columns, rows, "RETURNING name, id")
        .await?
        .iter()
        .map(|row| Ok((row.try_get(0)?, row.try_get(1)?)))
        .collect()
}

/// The values of one line for [`MEASURE_COLUMNS`]. The status and progress columns only count
/// when the row is new; an update leaves them alone. `extra` holds the deadline date and the
/// fingerprint as text.
fn measure_values<'a>(
    ctx: &RowContext<'a>,
    id: i64,
    line: &'a LedgerLine,
    extra: &'a [String; 2],
) -> [Val<'a>; 20] {
    let status = line.status.unwrap_or(Status::NotStarted).code();
    let aspect = line
        .aspect
        .as_deref()
        .and_then(|a| ctx.aspects.get(a))
        .copied();
    [
        Val::Int(id),
        Val::Text(&line.code),
        Val::OptInt(aspect),
        Val::OptInt(
            line.problem
                .as_ref()
                .and_then(|p| ctx.problems.get(aspect, p)),
        ),
        Val::Text(&line.content),
        Val::OptText(line.target.as_deref()),
        Val::Int(ctx.units[&line.lead_unit]),
        Val::Text(line.deadline.kind().code()),
        Val::OptText(line.deadline.date().map(|_| extra[0].as_str())),
        Val::OptText(line.deadline.cycle().map(|c| c.code())),
        Val::Text(&line.deadline_text),
        Val::Text(status),
        Val::Text(status),
        Val::OptText(line.progress.as_deref()),
        Val::Text(ctx.actor),
        Val::Int(ctx.import_id),
        Val::Int(i64::from(line.row)),
        Val::Text(&extra[1]),
        Val::Text(ctx.at),
        Val::Text(ctx.at),
    ]
}

fn line_extra(line: &LedgerLine) -> [String; 2] {
    [
        line.deadline.date().map(date_text).unwrap_or_default(),
        line.fingerprint(),
    ]
}

struct Described {
    /// Whether an extension was approved (the deadline was moved after the ledger's).
    extended: bool,
    /// The stored due date, `YYYY-MM-DD`, if the deadline is one.
    deadline: Option<String>,
    content: String,
    target: Option<String>,
    lead_unit: String,
    deadline_text: String,
    problem: Option<String>,
    aspect: Option<String>,
    units: Vec<String>,
    leaders: Vec<String>,
}

/// A history note naming each field a re-import changed, with short values shown old → new.
fn diff_note(old: &Described, new: &LedgerLine) -> String {
    let mut parts: Vec<String> = Vec::new();
    // An approved extension is kept unless the file gives a later date (see update_changed).
    let file_later = match (new.deadline, old.deadline.as_deref()) {
        (crate::core::ledger::Deadline::Date(file), Some(stored)) => {
            file.to_string().as_str() > stored
        }
        _ => false,
    };
    let kept = old.extended && !file_later;
    if kept && old.deadline_text != new.deadline_text {
        parts.push(format!(
            "完成时限：保留已批准延期的{}（文件为{}）",
            old.deadline_text, new.deadline_text
        ));
    }
    let mut short = |name: &str, a: &str, b: &str| {
        if a != b {
            parts.push(format!("{name}：{a} → {b}"));
        }
    };
    if !kept {
        short("完成时限", &old.deadline_text, &new.deadline_text);
    }
    short("牵头单位", &old.lead_unit, &new.lead_unit);
    short("责任单位", &old.units.join("、"), &new.units.join("、"));
    short("责任领导", &old.leaders.join("、"), &new.leaders.join("、"));
    short(
        "方面",
        old.aspect.as_deref().unwrap_or(""),
        new.aspect.as_deref().unwrap_or(""),
    );
    short(
        "问题",
        old.problem.as_deref().unwrap_or(""),
        new.problem.as_deref().unwrap_or(""),
    );
    if old.content != new.content {
        parts.push("整改措施有修改".into());
    }
    if old.target.as_deref() != new.target.as_deref() {
        parts.push("整改目标有修改".into());
    }
    if parts.is_empty() {
        parts.push("完成时限重新读取".into());
    }
    format!("第{}行：{}", new.row, parts.join("；"))
}
