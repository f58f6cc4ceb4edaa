//! Writes held back and sent together. An update's writes whose outcome it does not need (a
//! history row, a note, the measure's latest report, the answer in the outbox) are
//! [deferred](Deferred) and sent with its next statement, or, in a batch of updates, with a
//! later update's or at the batch's end. Sending them together keeps their meaning: writes
//! that could see one another's rows keep their order; the others go as one statement (on
//! PostgreSQL, a `WITH` statement) or as one call (on SQLite), and writes of one `INSERT`
//! text go as one multi-row `INSERT`.
//!
//! Within a group a write may go before one that came earlier (its rows join an earlier
//! write of the same text). That holds because no deferred write refers to a row another
//! deferred write makes: a write that needs such a row (an outbox item of a message, say)
//! is sent at once, not deferred.

use sqlx::AnyConnection;

use super::{Backend, StoreError};

/// A write whose outcome the update does not need. Every read of the update sends what is
/// deferred first, so the update always reads its own writes; a batch may serve a read it
/// knows the deferred writes cannot change without sending them (see
/// `UpdateBatch::expect_measures`).
pub(super) struct Deferred {
    sql: &'static str,
    values: Vec<Owned>,
    /// What it touches, read off `sql` once.
    shape: Shape<'static>,
}

/// A value bound to a deferred write.
#[derive(Debug, Clone)]
pub(super) enum Owned {
    Int(Option<i64>),
    Text(Option<String>),
}

/// What a deferred write touches, as far as sending it with others goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Shape<'a> {
    /// `INSERT INTO table (…) VALUES (…)`, alone or followed by `ON CONFLICT … DO NOTHING`,
    /// with every parameter inside the row: writes of the same text go as one multi-row
    /// `INSERT`. The row is `sql[row]`.
    Rows { table: &'a str, row: (usize, usize) },
    /// `UPDATE table … WHERE id = $key`: the one row `id` of `table`. The filter starts at
    /// `sql[filter..]`.
    Row {
        table: &'a str,
        id: i64,
        filter: usize,
        key: usize,
    },
    /// Another write to `table` that reads no other rows.
    Table(&'a str),
    /// A write that reads rows (a `SELECT` in it), or that is not a plain write: it keeps its
    /// place between the others.
    Alone,
}

impl Deferred {
    /// A write `sql` with parameters `$1`… bound to `values`.
    pub(super) fn new(sql: &'static str, values: Vec<Owned>) -> Deferred {
        let shape = shape_of(sql, &values);
        Deferred { sql, values, shape }
    }

    /// Runs the write now, on its own.
    pub(super) async fn execute(self, conn: &mut AnyConnection) -> Result<(), StoreError> {
        bind_owned(sqlx::query(self.sql), &self.values)
            .execute(conn)
            .await?;
        Ok(())
    }

    /// What the write touches.
    pub(super) fn shape(&self) -> Shape<'static> {
        self.shape
    }
}

/// What the write `sql` with `values` touches.
fn shape_of(sql: &'static str, values: &[Owned]) -> Shape<'static> {
    let Some(table) = written_table(sql) else {
        return Shape::Alone;
    };
    if sql.starts_with("INSERT INTO ") {
        return match row_of_insert(sql) {
            Some(row) => Shape::Rows { table, row },
            None => Shape::Table(table),
        };
    }
    const FILTER: &str = " WHERE id = $";
    if sql.starts_with("UPDATE ")
        && let Some(filter) = sql.rfind(FILTER)
        && let Ok(key) = sql[filter + FILTER.len()..].parse::<usize>()
        && let Some(Owned::Int(Some(id))) = values.get(key.wrapping_sub(1))
    {
        return Shape::Row {
            table,
            id: *id,
            filter,
            key,
        };
    }
    Shape::Table(table)
}

/// Where the one row of `INSERT INTO t (…) VALUES (…)` is, when the statement may take more
/// rows: nothing but the row holds parameters, and what follows it changes no row already
/// there.
fn row_of_insert(sql: &str) -> Option<(usize, usize)> {
    let start = sql.find(" VALUES (")? + " VALUES ".len();
    let end = start + sql[start..].find(')')? + 1;
    let (head, row, tail) = (&sql[..start], &sql[start + 1..end - 1], &sql[end..]);
    let tail_plain = tail.is_empty()
        || (tail.trim_start().starts_with("ON CONFLICT")
            && tail.trim_end().ends_with("DO NOTHING"));
    let fits = !row.contains('(') && !head.contains('$') && !tail.contains('$') && tail_plain;
    fits.then_some((start, end))
}

/// `sql` with each parameter `$n` numbered `$(n + offset)`: statements sent in one call
/// share one list of values. The statements are the store's own constants, which hold no
/// `$` but in parameters.
fn renumber(sql: &str, offset: usize) -> String {
    if offset == 0 {
        return sql.to_string();
    }
    with_parameters(sql, |n| format!("${}", n + offset))
}

/// `sql` with each parameter `$n` written as `parameter(n)`.
fn with_parameters(sql: &str, parameter: impl Fn(usize) -> String) -> String {
    let mut out = String::with_capacity(sql.len() + 16);
    let mut rest = sql;
    while let Some(at) = rest.find('$') {
        out.push_str(&rest[..at]);
        rest = &rest[at + 1..];
        let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
        match rest[..digits].parse::<usize>() {
            Ok(n) => out.push_str(&parameter(n)),
            Err(_) => out.push('$'),
        }
        rest = &rest[digits..];
    }
    out.push_str(rest);
    out
}

/// The table a deferred write writes to, when it is a plain `INSERT INTO`, `UPDATE` or
/// `DELETE FROM` that reads no other rows (no `SELECT` in it): only such a write may be sent
/// out of its place.
fn written_table(sql: &str) -> Option<&str> {
    if sql.to_ascii_uppercase().contains("SELECT") {
        return None;
    }
    let rest = sql
        .strip_prefix("INSERT INTO ")
        .or_else(|| sql.strip_prefix("UPDATE "))
        .or_else(|| sql.strip_prefix("DELETE FROM "))?;
    rest.split(|c: char| c.is_whitespace() || c == '(')
        .next()
        .filter(|t| !t.is_empty())
}

/// The most values one call binds: below PostgreSQL's 65,535 and SQLite's 32,766.
const MAX_VALUES: usize = 30_000;

/// One part of a set of writes sent together: a write, with later writes of the same text
/// that go with it as more rows (of an `INSERT`, or of an `UPDATE` by id).
struct Part<'a> {
    first: &'a Deferred,
    more: Vec<&'a Deferred>,
}

impl Part<'_> {
    /// The part as one statement, numbered from `$1`.
    fn statement(&self) -> (String, Vec<Owned>) {
        let sql = self.first.sql;
        if self.more.is_empty() {
            return (sql.to_string(), self.first.values.clone());
        }
        let mut values = self.first.values.clone();
        for write in &self.more {
            values.extend_from_slice(&write.values);
        }
        match self.first.shape() {
            Shape::Rows {
                row: (start, end), ..
            } => {
                let mut text = sql[..end].to_string();
                for i in 1..=self.more.len() {
                    text.push_str(", ");
                    text.push_str(&renumber(&sql[start..end], i * self.first.values.len()));
                }
                text.push_str(&sql[end..]);
                (text, values)
            }
            // `UPDATE t SET a = $1 WHERE id = $2` for rows (x, 7), (y, 8): `UPDATE t SET a =
            // r.column1 FROM (VALUES ($1, $2), ($3, $4)) AS r WHERE id = r.column2`.
            Shape::Row { filter, key, .. } => {
                let width = self.first.values.len();
                let row: Vec<String> = (1..=width).map(|n| format!("${n}")).collect();
                let row = format!("({})", row.join(", "));
                let rows: Vec<String> = (0..=self.more.len())
                    .map(|i| renumber(&row, i * width))
                    .collect();
                let text = format!(
                    "{} FROM (VALUES {}) AS {ROWS} WHERE id = {ROWS}.column{key}",
                    columns_of_values(&sql[..filter]),
                    rows.join(", ")
                );
                (text, values)
            }
            // Only rows of an `INSERT` or by id are ever joined.
            Shape::Table(_) | Shape::Alone => (sql.to_string(), self.first.values.clone()),
        }
    }

    fn values(&self) -> usize {
        self.first.values.len() * (1 + self.more.len())
    }
}

/// The name of the rows joined to an `UPDATE` of several rows by id.
const ROWS: &str = "duban_rows";

/// `sql` with each parameter `$n` read from column `n` of the rows joined as [`ROWS`].
fn columns_of_values(sql: &str) -> String {
    with_parameters(sql, |n| format!("{ROWS}.column{n}"))
}

/// How a group of writes sent together uses one table.
enum Use {
    /// Rows of one `INSERT` text, in the part at this index.
    Rows(&'static str, usize),
    /// Rows changed by id, each once: the ids, and the part of each `UPDATE` text.
    Ids {
        ids: Vec<i64>,
        parts: Vec<(&'static str, usize)>,
    },
    /// Written some other way.
    Written,
}

/// The writes in groups whose parts may go in any order: within a group no two parts write
/// one table, but for rows changed by id (each row once), so that none sees another's rows.
/// A write that reads rows is a group of its own. Writes of one `INSERT` text in a group are
/// one part, and so are writes of one `UPDATE … WHERE id = $k` text. Order between groups is
/// kept.
fn groups(deferred: &[Deferred]) -> Vec<Vec<Part<'_>>> {
    let mut groups = Vec::new();
    let mut current: Vec<Part<'_>> = Vec::new();
    let mut uses: Vec<(&str, Use)> = Vec::new();
    let mut bound = 0;
    fn finish<'a>(
        current: &mut Vec<Part<'a>>,
        uses: &mut Vec<(&str, Use)>,
        groups: &mut Vec<Vec<Part<'a>>>,
    ) {
        if !current.is_empty() {
            groups.push(std::mem::take(current));
        }
        uses.clear();
    }
    for write in deferred {
        if bound + write.values.len() > MAX_VALUES {
            finish(&mut current, &mut uses, &mut groups);
            bound = 0;
        }
        let shape = write.shape();
        let table = match shape {
            Shape::Alone => {
                finish(&mut current, &mut uses, &mut groups);
                groups.push(vec![Part {
                    first: write,
                    more: Vec::new(),
                }]);
                bound = 0;
                continue;
            }
            Shape::Rows { table, .. } | Shape::Row { table, .. } | Shape::Table(table) => table,
        };
        bound += write.values.len();
        let used = uses.iter_mut().find(|(t, _)| *t == table).map(|(_, u)| u);
        match (shape, used) {
            (Shape::Rows { .. }, Some(Use::Rows(sql, at))) if *sql == write.sql => {
                current[*at].more.push(write);
                continue;
            }
            (Shape::Row { id, .. }, Some(Use::Ids { ids, parts })) if !ids.contains(&id) => {
                ids.push(id);
                if let Some((_, at)) = parts.iter().find(|(sql, _)| *sql == write.sql) {
                    current[*at].more.push(write);
                    continue;
                }
                parts.push((write.sql, current.len()));
            }
            (_, Some(_)) => {
                finish(&mut current, &mut uses, &mut groups);
                bound = write.values.len();
                uses.push((table, use_of(shape, write, 0)));
            }
            (_, None) => uses.push((table, use_of(shape, write, current.len()))),
        }
        current.push(Part {
            first: write,
            more: Vec::new(),
        });
    }
    finish(&mut current, &mut uses, &mut groups);
    groups
}

fn use_of(shape: Shape<'_>, write: &Deferred, at: usize) -> Use {
    match shape {
        Shape::Rows { .. } => Use::Rows(write.sql, at),
        Shape::Row { id, .. } => Use::Ids {
            ids: vec![id],
            parts: vec![(write.sql, at)],
        },
        _ => Use::Written,
    }
}

/// One call to the database: a statement text, its values, and whether the statement is
/// worth keeping prepared (a text with many rows joined is seldom seen twice).
pub(super) struct Call {
    pub(super) sql: String,
    pub(super) values: Vec<Owned>,
    pub(super) persistent: bool,
}

/// The deferred writes, then `last` if any, as calls to the database, in as few as keep
/// their meaning. On PostgreSQL, which takes one statement with parameters a call, each
/// group of writes ([`groups`]) is one statement: every part but the last in a `WITH` clause
/// of its own (the parts of one statement all see the rows as they were before it, and run
/// in no set order, which the grouping allows). `last` is a call of its own. On SQLite
/// (a call is a round trip to its worker thread, which costs more than the writes) the
/// parts are statements of one call, `last` included.
pub(super) fn calls(
    backend: Backend,
    deferred: &[Deferred],
    last: Option<(&str, &[Owned])>,
) -> Vec<Call> {
    let mut calls = Vec::new();
    // The call being built (SQLite).
    let mut sql = String::new();
    let mut values: Vec<Owned> = Vec::new();
    let mut persistent = true;
    for group in groups(deferred) {
        let flat = group.iter().all(|part| part.more.is_empty());
        if backend == Backend::Postgres {
            let (sql, values) = with_clauses(&group);
            calls.push(Call {
                sql,
                values,
                persistent: flat,
            });
            continue;
        }
        let size: usize = group.iter().map(Part::values).sum();
        if values.len() + size > MAX_VALUES && !sql.is_empty() {
            calls.push(Call {
                sql: std::mem::take(&mut sql),
                values: std::mem::take(&mut values),
                persistent,
            });
            persistent = true;
        }
        persistent &= flat;
        for part in &group {
            let (text, bound) = part.statement();
            if !sql.is_empty() {
                sql.push_str(";\n");
            }
            sql.push_str(&renumber(&text, values.len()));
            values.extend(bound);
        }
    }
    if let Some((text, bound)) = last {
        if values.len() + bound.len() > MAX_VALUES && !sql.is_empty() {
            calls.push(Call {
                sql: std::mem::take(&mut sql),
                values: std::mem::take(&mut values),
                persistent,
            });
            persistent = true;
        }
        if !sql.is_empty() {
            sql.push_str(";\n");
        }
        sql.push_str(&renumber(text, values.len()));
        values.extend_from_slice(bound);
    }
    if !sql.is_empty() {
        calls.push(Call {
            sql,
            values,
            persistent,
        });
    }
    calls
}

/// Parts as one statement: `WITH w0 AS (first), w1 AS (second) last`.
fn with_clauses(parts: &[Part<'_>]) -> (String, Vec<Owned>) {
    let Some((last, before)) = parts.split_last() else {
        return (String::new(), Vec::new());
    };
    let mut sql = String::new();
    let mut values = Vec::new();
    for (i, part) in before.iter().enumerate() {
        let (text, bound) = part.statement();
        sql.push_str(if i == 0 { "WITH " } else { ", " });
        sql.push_str(&format!("w{i} AS ("));
        sql.push_str(&renumber(&text, values.len()));
        sql.push(')');
        values.extend(bound);
    }
    if !before.is_empty() {
        sql.push('\n');
    }
    let (text, bound) = last.statement();
    sql.push_str(&renumber(&text, values.len()));
    values.extend(bound);
    (sql, values)
}

/// Sends the deferred writes, then runs `last` if any; returns the rows of the last call.
pub(super) async fn send(
    conn: &mut AnyConnection,
    backend: Backend,
    deferred: &[Deferred],
    last: Option<(&str, &[Owned])>,
) -> Result<Vec<sqlx::any::AnyRow>, StoreError> {
    let mut rows = Vec::new();
    for call in calls(backend, deferred, last) {
        let query = sqlx::query(sqlx::AssertSqlSafe(call.sql)).persistent(call.persistent);
        rows = bind_owned(query, &call.values)
            .fetch_all(&mut *conn)
            .await?;
    }
    Ok(rows)
}

pub(super) fn bind_owned<'q>(
    mut query: sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments>,
    values: &'q [Owned],
) -> sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments> {
    for value in values {
        query = match value {
            Owned::Int(v) => query.bind(*v),
            Owned::Text(v) => query.bind(v.as_deref()),
        };
    }
    query
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renumbered_parameters_follow_the_values_before_them() {
        let cases = [
            (
                "UPDATE m SET a = $1 WHERE id = $2",
                0,
                "UPDATE m SET a = $1 WHERE id = $2",
            ),
            (
                "UPDATE m SET a = $1 WHERE id = $2",
                11,
                "UPDATE m SET a = $12 WHERE id = $13",
            ),
            ("VALUES ($7, $7, $10)", 3, "VALUES ($10, $10, $13)"),
            ("SELECT 1", 5, "SELECT 1"),
        ];
        for (sql, offset, want) in cases {
            assert_eq!(renumber(sql, offset), want, "{sql} + {offset}");
        }
    }

    #[test]
    fn a_write_has_the_shape_its_text_gives() {
        let write = |sql: &'static str, values: Vec<Owned>| Deferred::new(sql, values);
        let int = |n| Owned::Int(Some(n));
        let cases = [
            (
                write(
                    "INSERT INTO notes (m, b) VALUES ($1, $2)",
                    vec![int(1), int(2)],
                ),
                "Rows notes",
            ),
            (
                write(
                    "INSERT INTO outbox (key, s) VALUES ($1, 'pending') ON CONFLICT (key) DO NOTHING",
                    vec![int(1)],
                ),
                "Rows outbox",
            ),
            (
                write(
                    "INSERT INTO cursors (c) VALUES ($1) ON CONFLICT (c) DO UPDATE SET c = excluded.c",
                    vec![int(1)],
                ),
                "Table cursors",
            ),
            (
                write("INSERT INTO x (m) VALUES ($1) RETURNING id", vec![int(1)]),
                "Table x",
            ),
            (
                write("INSERT INTO x (m) VALUES (lower($1))", vec![int(1)]),
                "Table x",
            ),
            (
                write(
                    "UPDATE measures SET v = $1 WHERE id = $2",
                    vec![int(9), int(42)],
                ),
                "Row measures 42",
            ),
            (
                write("UPDATE measures SET v = $1 WHERE id = 1", vec![int(9)]),
                "Table measures",
            ),
            (
                write(
                    "UPDATE measures SET v = $2 WHERE id = $1",
                    vec![Owned::Int(None), int(9)],
                ),
                "Table measures",
            ),
            (
                write(
                    "INSERT INTO x (m) SELECT id FROM measures WHERE id = $1",
                    vec![int(1)],
                ),
                "Alone",
            ),
            (write("VACUUM", vec![]), "Alone"),
        ];
        for (write, want) in cases {
            let got = match write.shape() {
                Shape::Rows { table, row } => {
                    assert!(write.sql[row.0..row.1].starts_with('('), "{}", write.sql);
                    assert!(write.sql[row.0..row.1].ends_with(')'), "{}", write.sql);
                    format!("Rows {table}")
                }
                Shape::Row { table, id, .. } => format!("Row {table} {id}"),
                Shape::Table(table) => format!("Table {table}"),
                Shape::Alone => "Alone".to_string(),
            };
            assert_eq!(got, want, "{}", write.sql);
        }
    }

    /// The values of calls, as numbers.
    fn numbers(values: &[Owned]) -> Vec<i64> {
        values
            .iter()
            .map(|v| match v {
                Owned::Int(Some(n)) => *n,
                other => panic!("{other:?}"),
            })
            .collect()
    }

    #[test]
    fn sqlite_takes_the_deferred_writes_and_the_read_in_one_call() {
        let deferred = [
            Deferred::new(
                "INSERT INTO a (x, y) VALUES ($1, $2)",
                vec![Owned::Int(Some(1)), Owned::Text(Some("一".into()))],
            ),
            Deferred::new("UPDATE b SET z = $1", vec![Owned::Text(None)]),
            Deferred::new(
                "INSERT INTO a (x, y) VALUES ($1, $2)",
                vec![Owned::Int(Some(3)), Owned::Text(Some("三".into()))],
            ),
        ];
        let last = [Owned::Int(Some(9))];
        let calls = calls(Backend::Sqlite, &deferred, Some(("SELECT $1", &last)));
        assert_eq!(calls.len(), 1);
        assert_eq!(
            calls[0].sql,
            "INSERT INTO a (x, y) VALUES ($1, $2), ($3, $4);\nUPDATE b SET z = $5;\nSELECT $6"
        );
        assert_eq!(calls[0].values.len(), 6);
        assert!(matches!(calls[0].values[2], Owned::Int(Some(3))));
        assert!(matches!(calls[0].values[5], Owned::Int(Some(9))));
        // Two rows joined: a text seldom seen again, not kept prepared.
        assert!(!calls[0].persistent);
        let alone = super::calls(Backend::Sqlite, &deferred[1..2], None);
        assert_eq!(alone.len(), 1);
        assert_eq!(alone[0].sql, "UPDATE b SET z = $1");
        assert!(alone[0].persistent);
    }

    #[test]
    fn postgres_takes_writes_that_cannot_see_one_another_as_one_statement() {
        let write = |sql: &'static str, n: i64| Deferred::new(sql, vec![Owned::Int(Some(n))]);
        let note = |n| write("INSERT INTO notes (m) VALUES ($1)", n);
        let latest = |n| write("UPDATE measures SET v = $1 WHERE id = 1", n);
        let history = |n| write("INSERT INTO history (m) VALUES ($1)", n);
        let reading = |n| write("INSERT INTO x (m) SELECT id FROM measures WHERE id = $1", n);
        let report = |v: i64, id: i64| {
            Deferred::new(
                "UPDATE measures SET v = $1 WHERE id = $2",
                vec![Owned::Int(Some(v)), Owned::Int(Some(id))],
            )
        };
        let answer = |n| {
            write(
                "INSERT INTO outbox (key) VALUES ($1) ON CONFLICT (key) DO NOTHING",
                n,
            )
        };
        let upsert = |n| {
            write(
                "INSERT INTO cursors (c) VALUES ($1) ON CONFLICT (c) DO UPDATE SET c = excluded.c",
                n,
            )
        };
        type Case = (&'static str, Vec<Deferred>, Vec<&'static str>, Vec<i64>);
        let cases: Vec<Case> = vec![
            ("nothing", vec![], vec![], vec![]),
            (
                "one write goes as it is",
                vec![note(1)],
                vec!["INSERT INTO notes (m) VALUES ($1)"],
                vec![1],
            ),
            (
                "three tables, one statement",
                vec![note(1), latest(2), history(3)],
                vec![
                    "WITH w0 AS (INSERT INTO notes (m) VALUES ($1)), w1 AS (UPDATE measures SET v = $2 WHERE id = 1)\nINSERT INTO history (m) VALUES ($3)",
                ],
                vec![1, 2, 3],
            ),
            (
                "a table written again starts a statement",
                vec![note(1), latest(2), latest(3), history(4)],
                vec![
                    "WITH w0 AS (INSERT INTO notes (m) VALUES ($1))\nUPDATE measures SET v = $2 WHERE id = 1",
                    "WITH w0 AS (UPDATE measures SET v = $1 WHERE id = 1)\nINSERT INTO history (m) VALUES ($2)",
                ],
                vec![1, 2, 3, 4],
            ),
            (
                "a write that reads goes alone, in its place",
                vec![note(1), reading(2), history(3)],
                vec![
                    "INSERT INTO notes (m) VALUES ($1)",
                    "INSERT INTO x (m) SELECT id FROM measures WHERE id = $1",
                    "INSERT INTO history (m) VALUES ($1)",
                ],
                vec![1, 2, 3],
            ),
            (
                "two updates' writes: rows of one text as one statement",
                vec![
                    history(1),
                    note(2),
                    report(3, 70),
                    answer(4),
                    history(5),
                    note(6),
                    report(7, 71),
                    answer(8),
                ],
                vec![
                    "WITH w0 AS (INSERT INTO history (m) VALUES ($1), ($2)), \
                     w1 AS (INSERT INTO notes (m) VALUES ($3), ($4)), \
                     w2 AS (UPDATE measures SET v = duban_rows.column1 \
                     FROM (VALUES ($5, $6), ($7, $8)) AS duban_rows WHERE id = duban_rows.column2)\n\
                     INSERT INTO outbox (key) VALUES ($9), ($10) ON CONFLICT (key) DO NOTHING",
                ],
                vec![1, 5, 2, 6, 3, 70, 7, 71, 4, 8],
            ),
            (
                "one row changed twice: the second change follows the first",
                vec![report(1, 70), history(2), report(3, 70), history(4)],
                vec![
                    "WITH w0 AS (UPDATE measures SET v = $1 WHERE id = $2)\nINSERT INTO history (m) VALUES ($3)",
                    "WITH w0 AS (UPDATE measures SET v = $1 WHERE id = $2)\nINSERT INTO history (m) VALUES ($3)",
                ],
                vec![1, 70, 2, 3, 70, 4],
            ),
            (
                "an upsert changes rows already there: never two in one statement",
                vec![upsert(1), upsert(2)],
                vec![
                    "INSERT INTO cursors (c) VALUES ($1) ON CONFLICT (c) DO UPDATE SET c = excluded.c",
                    "INSERT INTO cursors (c) VALUES ($1) ON CONFLICT (c) DO UPDATE SET c = excluded.c",
                ],
                vec![1, 2],
            ),
            (
                "a write that reads keeps rows before and after it apart",
                vec![note(1), reading(2), note(3)],
                vec![
                    "INSERT INTO notes (m) VALUES ($1)",
                    "INSERT INTO x (m) SELECT id FROM measures WHERE id = $1",
                    "INSERT INTO notes (m) VALUES ($1)",
                ],
                vec![1, 2, 3],
            ),
        ];
        for (what, deferred, want, values) in cases {
            let calls = calls(Backend::Postgres, &deferred, None);
            let texts: Vec<&str> = calls.iter().map(|c| c.sql.as_str()).collect();
            assert_eq!(texts, want, "{what}");
            let sent: Vec<i64> = calls.iter().flat_map(|c| numbers(&c.values)).collect();
            assert_eq!(sent, values, "{what}");
        }
    }

    #[test]
    fn many_rows_are_sent_in_calls_of_bounded_size() {
        let rows: Vec<Deferred> = (0..40_000)
            .map(|n| {
                Deferred::new(
                    "INSERT INTO notes (m) VALUES ($1)",
                    vec![Owned::Int(Some(n))],
                )
            })
            .collect();
        for backend in [Backend::Sqlite, Backend::Postgres] {
            let calls = calls(backend, &rows, None);
            assert_eq!(calls.len(), 2, "{backend:?}");
            assert!(calls.iter().all(|c| c.values.len() <= MAX_VALUES));
            let sent: Vec<i64> = calls.iter().flat_map(|c| numbers(&c.values)).collect();
            assert_eq!(sent, (0..40_000).collect::<Vec<_>>(), "{backend:?}");
        }
    }
}
