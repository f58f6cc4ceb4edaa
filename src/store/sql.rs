//! Helpers for portable statements.
//!
//! Batches travel as one JSON parameter: `INSERT … SELECT … FROM json_each(?)` on SQLite and
//! `… FROM jsonb_array_elements($1::jsonb)` on PostgreSQL. One text parameter per statement
//! instead of one per value keeps a 100,000-measure import inside its time budget: binding
//! 1.7 million separate values costs more than the inserts themselves, and SQLite looks up a
//! numbered parameter's name by walking a list, which makes `$N` placeholders quadratic.

use serde::ser::{Serialize, Serializer};
use sqlx::any::{AnyArguments, AnyRow};
use sqlx::query::Query;
use sqlx::{Any, AnyConnection, AssertSqlSafe};

use super::Backend;

/// A value to bind or to put in a JSON batch.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Val<'a> {
    /// An integer.
    Int(i64),
    /// A nullable integer.
    OptInt(Option<i64>),
    /// Text.
    Text(&'a str),
    /// Nullable text.
    OptText(Option<&'a str>),
}

impl Serialize for Val<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match *self {
            Val::Int(v) | Val::OptInt(Some(v)) => serializer.serialize_i64(v),
            Val::Text(v) | Val::OptText(Some(v)) => serializer.serialize_str(v),
            Val::OptInt(None) | Val::OptText(None) => serializer.serialize_none(),
        }
    }
}

/// The SQL type of a column read out of a JSON batch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    /// TEXT.
    Text,
    /// INTEGER / BIGINT.
    Int,
}

/// `SELECT <one expression per column> FROM <the rows of JSON parameter 1>`: each row of the
/// batch is a JSON array, one element per column.
pub(crate) fn json_select(backend: Backend, columns: &[(&str, Kind)]) -> String {
    let columns: Vec<String> = columns
        .iter()
        .enumerate()
        .map(|(i, (name, kind))| format!("{} AS {name}", json_column(backend, i, *kind)))
        .collect();
    // `WHERE true` keeps SQLite's parser from reading a following ON CONFLICT as a join.
    format!(
        "SELECT {} FROM {} WHERE true",
        columns.join(", "),
        json_rows(backend)
    )
}

fn json_column(backend: Backend, i: usize, kind: Kind) -> String {
    match (backend, kind) {
        (Backend::Sqlite, _) | (Backend::Postgres, Kind::Text) => format!("value->>{i}"),
        (Backend::Postgres, Kind::Int) => format!("(value->>{i})::bigint"),
    }
}

/// The table of rows of JSON parameter 1. SQLite's `jsonb_each` hands each row over in its
/// binary form, so reading the row's elements does not parse text again.
fn json_rows(backend: Backend) -> &'static str {
    match backend {
        Backend::Sqlite => "jsonb_each(?)",
        Backend::Postgres => "jsonb_array_elements($1::jsonb)",
    }
}

/// `(SELECT <integer> FROM <the elements of JSON parameter 1>)`, for `IN (…)` with a JSON
/// array of ids.
pub(crate) fn json_id_list(backend: Backend) -> &'static str {
    match backend {
        Backend::Sqlite => "(SELECT value FROM jsonb_each(?))",
        Backend::Postgres => "(SELECT value::bigint FROM jsonb_array_elements_text($1::jsonb))",
    }
}

/// A batch of rows as one JSON text.
pub(crate) fn json_batch<R: Serialize>(rows: &[R]) -> String {
    serde_json::to_string(rows).expect("values serialize")
}

/// `$1,$2,…,$n` on PostgreSQL, `?,?,…` on SQLite.
pub(crate) fn placeholders(backend: Backend, n: usize) -> String {
    (1..=n)
        .map(|i| match backend {
            Backend::Sqlite => "?".to_string(),
            Backend::Postgres => format!("${i}"),
        })
        .collect::<Vec<_>>()
        .join(",")
}

fn bind_all<'q>(
    mut query: Query<'q, Any, AnyArguments>,
    values: &[Val<'q>],
) -> Query<'q, Any, AnyArguments> {
    for value in values {
        query = match *value {
            Val::Int(v) => query.bind(v),
            Val::OptInt(v) => query.bind(v),
            Val::Text(v) => query.bind(v),
            Val::OptText(v) => query.bind(v),
        };
    }
    query
}

/// Runs a statement with bound values and no result rows.
pub(crate) async fn execute(
    conn: &mut AnyConnection,
    sql: String,
    values: &[Val<'_>],
) -> Result<u64, sqlx::Error> {
    let query = bind_all(sqlx::query(AssertSqlSafe(sql)), values);
    Ok(query.execute(conn).await?.rows_affected())
}

/// Runs a statement with bound values and returns its rows.
pub(crate) async fn fetch(
    conn: &mut AnyConnection,
    sql: String,
    values: &[Val<'_>],
) -> Result<Vec<AnyRow>, sqlx::Error> {
    let query = bind_all(sqlx::query(AssertSqlSafe(sql)), values);
    query.fetch_all(conn).await
}

/// Rows per statement: one JSON parameter each.
pub(crate) const ROWS_PER_STATEMENT: usize = 5000;

/// Inserts `rows` (each a JSON array, one element per column) into `table`, one JSON
/// statement per chunk, and returns the rows `tail` (`RETURNING …`, or an `ON CONFLICT`
/// clause) yields.
pub(crate) async fn insert_rows<R: Serialize>(
    conn: &mut AnyConnection,
    backend: Backend,
    table: &str,
    columns: &[(&str, Kind)],
    rows: &[R],
    tail: &str,
) -> Result<Vec<AnyRow>, sqlx::Error> {
    let names: Vec<&str> = columns.iter().map(|(n, _)| *n).collect();
    let sql = format!(
        "INSERT INTO {table} ({}) {} {tail}",
        names.join(", "),
        json_select(backend, columns)
    );
    let mut out = Vec::new();
    for chunk in rows.chunks(ROWS_PER_STATEMENT) {
        let batch = json_batch(chunk);
        out.extend(fetch(conn, sql.clone(), &[Val::Text(&batch)]).await?);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statements() {
        let columns = [("a", Kind::Text), ("b", Kind::Int)];
        assert_eq!(
            json_select(Backend::Sqlite, &columns),
            "SELECT value->>0 AS a, value->>1 AS b FROM jsonb_each(?) WHERE true"
        );
        assert_eq!(
            json_select(Backend::Postgres, &columns),
            "SELECT value->>0 AS a, (value->>1)::bigint AS b FROM jsonb_array_elements($1::jsonb) WHERE true"
        );
        assert_eq!(placeholders(Backend::Postgres, 3), "$1,$2,$3");
        assert_eq!(placeholders(Backend::Sqlite, 2), "?,?");
        let rows = [
            [Val::Int(1), Val::OptText(None)],
            [Val::OptInt(Some(2)), Val::Text("a\"b")],
        ];
        assert_eq!(json_batch(&rows), r#"[[1,null],[2,"a\"b"]]"#);
    }
}
